"""params.yaml is the one source of defaults, checked both ways.

* Every key the code reads (each field of each params section model, nested ones included) is
  in params.yaml with a comment on its line or the line above, and every params.yaml key is
  read by a model.
* No default disagrees with params.yaml: not in the param models, nor in the library's config
  classes (every dataclass or pydantic model named ``*Config``, ``*Settings`` or ``*Policy`` in
  the model, training, evaluation and serving packages, whatever they are called after a
  refactor: a field whose name is a params.yaml key must default to that key's value, or have
  no default), nor in the service's fallback for an unset ``FORECASTER_*`` variable.

Each check returns its problems, so the tests below also show it failing on a broken copy.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

import forecasting
from forecasting.core.auto_settings import resolve_auto
from pipelines.params import Package, Params, Section

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS_TEXT = (REPO_ROOT / "params.yaml").read_text()
LIBRARY_PACKAGES = ("model", "training", "evaluation", "serving")
CONFIG_NAME = re.compile(r".+(Config|Settings|Policy)$")
_KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?P<rest>.*)$")


# --- the checks ----------------------------------------------------------------------------


def model_keys(model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    """Dotted key -> the field's default (``PydanticUndefined`` if required), recursively."""
    keys: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        annotation = field.annotation
        if inspect.isclass(annotation) and issubclass(annotation, Section):
            keys[key] = field.default
            keys.update(model_keys(annotation, key + "."))
        else:
            keys[key] = field.default
    return keys


def read_as_mapping(model: type[BaseModel], key: str) -> bool:
    """Whether dotted ``key`` is a ``dict[...]`` field of ``model`` (not a nested section)."""
    import typing

    *parents, name = key.split(".")
    for part in parents:
        fields = {f.alias or n: f for n, f in model.model_fields.items()}
        model = fields[part].annotation  # type: ignore[assignment]
    fields = {f.alias or n: f for n, f in model.model_fields.items()}
    return name in fields and typing.get_origin(fields[name].annotation) is dict


def yaml_keys(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted key -> value of every key in a loaded params.yaml, sections included."""
    keys: dict[str, Any] = {}
    for name, value in data.items():
        keys[prefix + name] = value
        if isinstance(value, dict):
            keys.update(yaml_keys(value, prefix + name + "."))
    return keys


def commented_keys(text: str) -> dict[str, bool]:
    """Dotted key -> whether its line, or the comment line just above, carries a comment."""
    result: dict[str, bool] = {}
    stack: list[tuple[int, str]] = []
    previous_is_comment = False
    for line in text.splitlines():
        if line.strip().startswith("#"):
            previous_is_comment = True
            continue
        match = _KEY_LINE.match(line)
        if match is None:
            previous_is_comment = False
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = ".".join([*(name for _, name in stack), match["key"]])
        stack.append((indent, match["key"]))
        # a "#" outside quotes starts a comment
        unquoted = re.sub(r"\"[^\"]*\"|'[^']*'", "", match["rest"])
        result[key] = "#" in unquoted or previous_is_comment
        previous_is_comment = False
    return result


def params_problems(text: str, params_model: type[BaseModel] = Params) -> list[str]:
    """What is wrong between a params.yaml ``text`` and the param models."""
    data = yaml.safe_load(text)
    in_yaml, read = yaml_keys(data), model_keys(params_model)
    # a free-form mapping (tune.grid: train keys -> values) is read whole, its entries included
    free = [
        key
        for key in read
        if isinstance(in_yaml.get(key), dict) and read_as_mapping(params_model, key)
    ]
    in_yaml = {k: v for k, v in in_yaml.items() if not any(k.startswith(f"{f}.") for f in free)}
    comments = commented_keys(text)
    problems = [
        f"{key}: read by the code but not in params.yaml" for key in read.keys() - in_yaml.keys()
    ]
    problems += [
        f"{key}: in params.yaml but read by no code" for key in in_yaml.keys() - read.keys()
    ]
    for key in sorted(read.keys() & in_yaml.keys()):
        if "." in key and not comments.get(key, False):
            problems.append(f"{key}: no comment on its line or the line above saying why")
        default = read[key]
        if (
            default is not PydanticUndefined
            and not isinstance(in_yaml[key], dict)
            and default != in_yaml[key]
        ):
            problems.append(
                f"{key}: the model defaults to {default!r}, params.yaml says {in_yaml[key]!r}"
            )
    return sorted(problems)


def config_classes() -> list[type]:
    """Every library dataclass / pydantic model named like a config, across the subpackages."""
    found: dict[str, type] = {}
    for package in LIBRARY_PACKAGES:
        module = importlib.import_module(f"forecasting.{package}")
        for info in pkgutil.walk_packages(module.__path__, module.__name__ + "."):
            for name, value in vars(importlib.import_module(info.name)).items():
                if (
                    inspect.isclass(value)
                    and value.__module__ == info.name
                    and CONFIG_NAME.match(name)
                    and (dataclasses.is_dataclass(value) or issubclass(value, BaseModel))
                ):
                    found[f"{info.name}.{name}"] = value
    return [found[key] for key in sorted(found)]


def class_defaults(cls: type) -> dict[str, Any]:
    """Field -> default of a dataclass or pydantic model (fields without one left out)."""
    if dataclasses.is_dataclass(cls):
        return {
            f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
            for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        }
    assert issubclass(cls, BaseModel)
    return {
        name: field.get_default(call_default_factory=True)
        for name, field in cls.model_fields.items()
        if not field.is_required()
    }


def default_problems(classes: list[type], data: dict[str, Any]) -> list[str]:
    """Defaults of ``classes`` that differ from the params.yaml key of the same name."""
    by_name: dict[str, list[Any]] = {}
    for key, value in yaml_keys(data).items():
        # the tuning grid lists values to try, not defaults
        if not isinstance(value, dict) and not key.startswith("tune.grid."):
            by_name.setdefault(key.rsplit(".", 1)[-1], []).append((key, value))
    problems = []
    for cls in classes:
        for name, default in class_defaults(cls).items():
            candidates = by_name.get(name, [])
            if len({repr(v) for _, v in candidates}) > 1:
                problems.append(
                    f"{cls.__qualname__}.{name}: ambiguous, params.yaml has {candidates}"
                )
            elif candidates and not _same(default, candidates[0][1]):
                problems.append(
                    f"{cls.__module__}.{cls.__qualname__}.{name} defaults to {default!r}, "
                    f"params.yaml {candidates[0][0]} is {candidates[0][1]!r}"
                )
    return problems


def _same(default: Any, value: Any) -> bool:
    if isinstance(default, Path):
        return default == Path(str(value))
    return bool(type(default) is type(value) or isinstance(default, float)) and default == value


# --- the real files ------------------------------------------------------------------------


def test_every_key_the_code_reads_is_in_params_yaml_with_a_comment_and_no_other():
    assert params_problems(PARAMS_TEXT) == []


def test_the_param_models_require_their_keys():
    """Preferred over carrying a copy; only the column mapping and the CSV dialect keep defaults
    (equal to params.yaml's, checked above), so one column can be set without the others."""
    with_defaults = [k for k, d in model_keys(Params).items() if d is not PydanticUndefined]
    assert with_defaults
    assert [k for k in with_defaults if not k.startswith(("ingest.columns.", "ingest.csv."))] == []


def test_the_library_config_classes_carry_no_default_that_disagrees_with_params_yaml():
    classes = config_classes()
    names = {cls.__name__ for cls in classes}
    # what exists today; a rename or split is still covered by the name pattern
    assert {"ModelConfig", "TrainingConfig", "BatchingConfig", "ServiceSettings"} <= names
    # `auto` keys hold what base.freq resolves them to (core/auto_settings.py)
    data = yaml.safe_load(PARAMS_TEXT)
    resolve_auto(data)
    assert default_problems(classes, data) == []


def test_a_default_model_config_is_the_network_the_pipeline_trains():
    from forecasting.model.network import ModelConfig
    from pipelines.train import model_config

    params = Params.model_validate(yaml.safe_load(PARAMS_TEXT))
    assert ModelConfig() == model_config(params)


def test_the_services_fallback_for_an_unset_variable_is_params_yaml():
    from forecasting.serving.settings import VARIABLES, ServiceSettings

    params = Params.model_validate(yaml.safe_load(PARAMS_TEXT))
    unset = ServiceSettings.from_environment({})
    for name in VARIABLES.keys() - {"model_tag"}:
        assert getattr(unset, name) == getattr(params.package, name), name
    assert unset.model_tag == f"{params.base.registered_model}:latest"
    # what the package stage writes into the bento reads back as the same settings
    assert ServiceSettings.from_environment(params.package.service_environment()) == unset
    assert set(params.package.service_environment()) == set(VARIABLES.values()) - {
        VARIABLES["model_tag"]
    }


def test_the_service_reads_no_environment_outside_its_settings():
    serving = Path(forecasting.__file__).parent / "serving"
    for module in ("service.py", "batching.py", "guard.py", "schema.py"):
        assert "os.environ" not in (serving / module).read_text(), module


# --- the checks fail when broken -----------------------------------------------------------


def _replace_line(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def test_a_key_without_a_comment_is_caught():
    line = next(line for line in PARAMS_TEXT.splitlines() if "origin_step:" in line)
    broken = _replace_line(PARAMS_TEXT, line, line.split("#")[0].rstrip())
    assert params_problems(broken) == [
        "evaluate.origin_step: no comment on its line or the line above saying why"
    ]


def test_a_key_the_code_reads_but_params_yaml_lacks_and_a_key_nobody_reads_are_caught():
    data = yaml.safe_load(PARAMS_TEXT)
    del data["evaluate"]["classical_jobs"]
    data["package"]["forgotten"] = 1
    problems = params_problems(yaml.safe_dump(data))
    assert "evaluate.classical_jobs: read by the code but not in params.yaml" in problems
    assert "package.forgotten: in params.yaml but read by no code" in problems


def test_a_param_model_default_that_differs_is_caught():
    class Loose(Package):
        workers: int = 1

    class LooseParams(Params):
        package: Loose

    assert params_problems(PARAMS_TEXT, LooseParams) == [
        "package.workers: the model defaults to 1, params.yaml says 2"
    ]


def test_a_library_default_that_differs_is_caught():
    from forecasting.model.network import ModelConfig

    @dataclasses.dataclass(frozen=True)
    class StaleConfig:  # defaults params.yaml never holds, whatever `make tune` writes there
        learning_rate: float = 0.123
        patience: int = 1234
        checkpoint_dir: Path | None = None  # infrastructure, not a params key: not compared

    data = yaml.safe_load(PARAMS_TEXT)
    resolve_auto(data)
    train = data["train"]
    assert default_problems([StaleConfig], data) == [
        f"{__name__}.{StaleConfig.__qualname__}.learning_rate defaults to 0.123, "
        f"params.yaml train.learning_rate is {train['learning_rate']}",
        f"{__name__}.{StaleConfig.__qualname__}.patience defaults to 1234, "
        f"params.yaml train.patience is {train['patience']}",
    ]
    # and a params.yaml change the library did not follow
    data["train"]["weekly_trend"] = False
    assert default_problems([ModelConfig], data) == [
        "forecasting.model.network.ModelConfig.weekly_trend defaults to True, "
        "params.yaml train.weekly_trend is False"
    ]


def test_a_service_fallback_that_differs_is_caught():
    from forecasting.serving.settings import ServiceSettings

    data = yaml.safe_load(PARAMS_TEXT)
    data["package"]["max_wait_ms"] = 0
    assert default_problems([ServiceSettings], data) == [
        "forecasting.serving.settings.ServiceSettings.max_wait_ms defaults to 1.0, "
        "params.yaml package.max_wait_ms is 0"
    ]


@pytest.mark.parametrize(
    ("text", "commented"),
    [
        ("a:\n  b: 1  # why\n", True),
        ("a:\n  # why\n  b: 1\n", True),
        ("a:\n  b: 1\n", False),
        ('a:\n  b: "#"\n', False),
    ],
)
def test_comment_detection(text, commented):
    assert commented_keys(text)["a.b"] is commented
