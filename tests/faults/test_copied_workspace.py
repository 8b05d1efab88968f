"""A workspace copied with its local store reads and writes its own artifacts, never the original's."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from forecasting.registry.tracking import existing_store, use_tracking

EXPERIMENT = "copied-workspace"


def _original(root: Path) -> tuple[str, str]:
    """A workspace whose store has one run with an artifact and a version made from it."""
    import mlflow

    root.mkdir()
    use_tracking(root, EXPERIMENT)
    with mlflow.start_run() as run:
        mlflow.log_text("v1 weights", "model/weights.txt")
    version = mlflow.MlflowClient()
    version.create_registered_model("copied")
    made = version.create_model_version("copied", f"{run.info.artifact_uri}/model", run.info.run_id)
    return run.info.run_id, made.version


@pytest.mark.parametrize("with_artifacts", [True, False], ids=["cp -a", "mlflow.db only"])
def test_a_copied_store_moves_its_artifact_paths_into_the_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    with_artifacts: bool,
) -> None:  # fmt: skip
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    original, copy = tmp_path / "original", tmp_path / "copy"
    run_id, version = _original(original)
    before = sorted(p.relative_to(original) for p in (original / "mlartifacts").rglob("*"))
    copy.mkdir()
    shutil.copy2(original / "mlflow.db", copy / "mlflow.db")
    if with_artifacts:
        shutil.copytree(original / "mlartifacts", copy / "mlartifacts")

    # mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI: each workspace as a fresh process
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert existing_store(copy) is not None  # the read-only commands repair it too
    use_tracking(copy, EXPERIMENT)
    assert "was copied from another workspace" in caplog.text
    client = mlflow.MlflowClient()
    old_run = client.get_run(run_id)
    assert old_run.info.artifact_uri.startswith((copy / "mlartifacts").resolve().as_uri())
    assert mlflow.artifacts.load_text(f"{old_run.info.artifact_uri}/model/weights.txt") == (
        "v1 weights"
    )
    source = client.get_model_version("copied", version).source
    assert str((copy / "mlartifacts").resolve()) in source, source
    with mlflow.start_run() as run:
        mlflow.log_text("v2 weights", "model/weights.txt")
    assert Path(run.info.artifact_uri.removeprefix("file://")).is_relative_to(copy.resolve())
    after = sorted(p.relative_to(original) for p in (original / "mlartifacts").rglob("*"))
    assert after == before, "the copy wrote into the original's artifacts"
    # the original is untouched and still reads its own
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    use_tracking(original, EXPERIMENT)
    original_run = mlflow.MlflowClient().get_run(run_id)
    assert original_run.info.artifact_uri.startswith(original.resolve().as_uri())
