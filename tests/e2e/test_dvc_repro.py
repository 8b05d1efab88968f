"""The whole pipeline as a user runs it: `dvc repro` in a fresh git repository, on the default data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest

from forecasting.serving.bento import serve_bento
from pipelines.params import load_params
from tests.conftest import copy_pipeline_files

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
BIN = Path(sys.executable).parent


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (
        f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    )
    return done


def test_dvc_repro_trains_gates_registers_and_serves(tmp_path, bentoml_home):
    repo = tmp_path / "repo"
    repo.mkdir()
    copy_pipeline_files(repo)
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "BENTOML_HOME": str(bentoml_home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    _run(["git", "init", "-q"], repo, env)
    _run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "add", "-A"], repo, env)
    _run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init"], repo, env)

    first = _run([str(BIN / "dvc"), "repro"], repo, env)
    for stage in ("ingest", "validate", "train", "evaluate", "package"):
        assert f"Running stage '{stage}'" in first.stdout
    second = _run([str(BIN / "dvc"), "repro"], repo, env)
    assert "Running stage" not in second.stdout
    assert "Data and pipelines are up to date" in second.stdout

    # Editing the network re-runs what uses it, never ingest or validate (their deps name
    # only data/ and core/ code, and the registry lookups).
    network = repo / "src/forecasting/model/network.py"
    original = network.read_text()
    network.write_text(original + "\n# an edit\n")
    stale = json.loads(_run([str(BIN / "dvc"), "status", "--json"], repo, env).stdout)
    assert {"train", "evaluate", "package"} <= set(stale) and not {"ingest", "validate"} & set(
        stale
    ), stale
    network.write_text(original)

    shown = json.loads(_run([str(BIN / "dvc"), "metrics", "show", "--json"], repo, env).stdout)
    metrics = next(iter(shown.values()))["data"]["reports/evaluate/metrics.json"]["data"]
    names = {"naive", "seasonal_naive_day", "seasonal_naive_week", "mstl_ets", "mstl_arima"}
    assert set(metrics["baselines"]) == names  # AutoETS: no season <= 24 steps, MSTL covers it
    assert set(metrics["daily"]["baselines"]) == names
    assert (metrics["origin_step"], metrics["origins"]) == (6, 93)
    assert (metrics["daily"]["origin_step"], metrics["daily"]["origins"]) == (48, 12)
    # the one-a-day subset is the earlier protocol: seasonal naive week scores what it did
    assert metrics["daily"]["baselines"]["seasonal_naive_week"]["mae"] == pytest.approx(
        456.0, abs=1
    )
    for table in (metrics, metrics["daily"]):
        assert table["model"]["mae"] < table["baselines"]["seasonal_naive_week"]["mae"]
    # every origin's forecasts are kept: re-scoring them gives the reported MAE
    saved = pd.read_parquet(repo / "reports/evaluate/origin_forecasts.parquet")
    errors = (saved["forecast"] - saved["actual"]).abs().groupby(saved["method"]).mean()
    assert errors["mstl_arima"] == pytest.approx(metrics["baselines"]["mstl_arima"]["mae"])
    # ... and their interval bounds give the reported coverage, the model's and MSTL's
    for method, figures in (
        ("model", metrics["intervals"]),
        *metrics["baseline_intervals"].items(),
    ):
        rows = saved[saved["method"] == method]
        for level, scores in figures.items():
            inside = rows[f"lower_{level}"].le(rows["actual"]) & rows["actual"].le(
                rows[f"upper_{level}"]
            )
            assert inside.mean() == pytest.approx(scores["coverage"]), (method, level)
            assert scores["coverage_low"] <= scores["coverage"] <= scores["coverage_high"]

    check = (
        "import mlflow; c = mlflow.MlflowClient(); "
        "v = c.get_model_version_by_alias('demand-forecaster', 'champion'); "
        "r = c.get_run(v.run_id); "
        "print(v.version, len(c.get_metric_history(v.run_id, 'val/loss')), "
        "r.data.tags['git.commit'], v.tags['weights.sha256'])"
    )
    registry = _run(
        [str(BIN / "python"), "-c", check],
        repo,
        {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{repo / 'mlflow.db'}"},
    )
    version, epochs, commit, weights_sha = registry.stdout.split()
    assert version == "1" and int(epochs) >= 2 and len(commit) == 40
    assert (repo / "dvc.lock").is_file()

    manifest = json.loads((repo / "reports/package/manifest.json").read_text())
    assert manifest["model_version"] == "1"

    test = pd.read_parquet(repo / "data/validated/test.parquet")
    length = load_params(repo / "params.yaml").train.input_length  # `auto`, resolved
    payload = {
        "values": test["value"].tolist()[-length:],
        "end": test["timestamp"].iloc[-1].isoformat(),
    }
    with serve_bento(manifest["bento_tag"]) as server:
        answer = httpx.post(f"{server.url}/forecast", json=payload, timeout=10)
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["forecast"]) == 48
        assert answer.json()["timestamps"][0] == "2000-08-28T00:00:00"
        bad = httpx.post(
            f"{server.url}/forecast", json={"values": [1.0], "end": "2000-08-28"}, timeout=10
        )
        assert bad.status_code == 400

    # A DVC remote: push the outputs, clone fresh, pull, and nothing needs to run again.
    dvc, git = str(BIN / "dvc"), ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    _run([dvc, "remote", "add", "-d", "shared", str(tmp_path / "remote")], repo, env)
    _run([*git, "add", "-A"], repo, env)
    _run([*git, "commit", "-qm", "trained"], repo, env)
    _run([dvc, "push"], repo, env)
    _run(["git", "clone", "-q", str(repo), str(tmp_path / "clone")], tmp_path, env)
    clone = tmp_path / "clone"
    _run([dvc, "pull"], clone, env)
    assert (clone / "models/train/weights.safetensors").read_bytes() == (
        repo / "models/train/weights.safetensors"
    ).read_bytes()
    again = _run([dvc, "repro"], clone, env)
    assert "Running stage" not in again.stdout and "up to date" in again.stdout

    # Lineage: the whole chain agrees after a clean run ...
    lineage = [str(BIN / "python"), "-m", "pipelines.ops.lineage"]
    chain = _run(lineage, repo, env)
    assert "chain complete" in chain.stdout, chain.stdout
    assert manifest["bento_tag"] in chain.stdout and commit in chain.stdout
    # ... and tampering with the shipped bento or the data shows up as a broken link.
    archive = repo / manifest["bento_archive"]
    archive.write_bytes(archive.read_bytes() + b"tampered")
    split = repo / "data/validated/test.parquet"
    split.write_bytes(split.read_bytes() + b"tampered")
    broken = subprocess.run(lineage, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "2 broken link(s)" in broken.stdout, broken.stdout
    assert "archive sha256" in broken.stdout and "validated data sha256" in broken.stdout

    # Reproduce v1 as the README says: check out the commit its run recorded and retrain.
    _run(["git", "checkout", "-q", commit], clone, env)
    assert not (clone / "dvc.lock").exists()  # that commit predates the lock: all stages run
    rebuilt = _run([dvc, "repro", "train"], clone, env)
    assert "Running stage 'train'" in rebuilt.stdout
    assert json.loads((clone / "models/train/weights.sha256").read_text()) == weights_sha
