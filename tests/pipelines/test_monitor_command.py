"""``make monitor`` on a raw snapshot, a written inference log and the evaluate reports (no store).

The command runs the retrain command once per decay, says why when it does not, and turns a
missing input into one line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from forecasting.core.files import write_json
from forecasting.data.snapshots import write_snapshot
from forecasting.serving.inference_log import InferenceLog, LogTarget
from pipelines.ops import monitor
from tests.conftest import synthetic_series

SHIFT_FROM = "2024-01-20"


def _serve(log: Path, actual: pd.Series, days: range, miss: float) -> None:
    """Forecasts of each day's next 24 steps that miss the unshifted truth by ``miss``."""
    writer = InferenceLog(LogTarget(log, 1 << 22, 1), flush_interval_s=60)
    for day in days:
        end = pd.Timestamp("2024-01-01") + pd.Timedelta(days=day) - pd.Timedelta("30min")
        future = pd.date_range(end, periods=25, freq="30min")[1:]
        window = actual.loc[:end].iloc[-96:].to_numpy()[None, :]
        writer.record(ends=[end.isoformat()], series_ids=[None], horizon=24, freq="30min",
                      model_version="1", forecasts=[(actual[future].to_numpy() + miss).tolist()],
                      windows=window)  # fmt: skip
    writer.close()


@pytest.fixture
def setup(workspace: Path) -> tuple[Path, pd.DataFrame]:
    frame = synthetic_series(days=28).assign(series_id="demand")
    write_json(Path("reports/evaluate/promotion.json"), {"version": "1", "model_mae": 100.0})
    params = yaml.safe_load(Path("params.yaml").read_text())
    marker = workspace / "retrained"
    # the "retrain" appends a line to a file, so the test can count how often it ran
    params["monitor"]["retrain_command"] = (
        f"{sys.executable} -c \"open('{marker}', 'a').write('x')\""
    )
    Path("params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return marker, frame


def _ingest(frame: pd.DataFrame) -> None:
    write_snapshot(frame, Path("data/raw"), "test")


def test_a_sustained_shift_triggers_the_retrain_once_and_a_steady_series_does_not(setup):
    marker, frame = setup
    truth = frame.set_index("timestamp")["value"]
    shifted = frame.copy()
    shifted.loc[shifted["timestamp"] >= SHIFT_FROM, "value"] *= 1.15
    log = Path("logs/inference.jsonl")

    _ingest(frame)
    _serve(log, truth, range(15, 27), miss=30.0)
    assert monitor.main([]) == 0
    report = json.loads(Path("reports/monitor/monitor.json").read_text())
    assert not report["decision"]["trigger"] and not marker.exists()
    assert "within its limits" in report["decision"]["reason"]
    assert Path("reports/monitor/live_vs_expected.png").stat().st_size > 1000

    _ingest(shifted)  # the actuals arrive shifted; the forecasts stayed at the old level
    assert monitor.main([]) == 0
    report = json.loads(Path("reports/monitor/monitor.json").read_text())
    assert report["decision"]["trigger"] and report["decision"]["decay_start"] == "2024-01-19"
    assert report["trigger"]["returncode"] == 0 and marker.read_text() == "x"
    assert monitor.main([]) == 0  # the same decay: not again
    report = json.loads(Path("reports/monitor/monitor.json").read_text())
    assert "already triggered" in report["decision"]["reason"] and marker.read_text() == "x"


def test_report_only_mode_and_missing_inputs_are_one_line(setup, monkeypatch, caplog):
    marker, frame = setup
    assert monitor.main([]) == 1
    assert "no raw snapshot" in caplog.text
    _ingest(frame)
    assert monitor.main([]) == 0  # no log yet: nothing to judge, said so
    report = json.loads(Path("reports/monitor/monitor.json").read_text())
    assert "holds no forecast yet" in report["decision"]["reason"]
    shifted = frame.assign(
        value=np.where(frame["timestamp"] >= SHIFT_FROM, 1.15, 1.0) * frame["value"]
    )
    _serve(Path("logs/inference.jsonl"), frame.set_index("timestamp")["value"], range(15, 27), 0.0)
    _ingest(shifted)
    monkeypatch.setenv("MONITOR_TRIGGER", "none")
    assert monitor.main([]) == 0 and not marker.exists()
    report = json.loads(Path("reports/monitor/monitor.json").read_text())
    assert report["decision"]["trigger"] and report["trigger"]["mode"] == "none"
    monkeypatch.setenv("MONITOR_TRIGGER", "sometimes")
    Path("reports/monitor/state.json").unlink()
    assert monitor.main([]) == 1 and "MONITOR_TRIGGER='sometimes'" in caplog.text
