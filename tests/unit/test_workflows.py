"""The GitHub Actions workflows, checked offline: what CI would reject or what would drift."""

from __future__ import annotations

import re
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
    assert {"params.yaml", "dvc.yaml", "pipelines/**", "src/**"} <= set(triggers["push"]["paths"])
