"""The monitoring loop with real parts: a packaged Bento serves day by day, actuals arrive through
ingest (``ingest.until`` moves on), and ``make monitor`` judges the served champion.

One tiny pipeline run (28 days of a synthetic series) packages a champion; then the same ten
days are replayed twice from the served Bento: as they were (no trigger may fire), and with a
sustained +15 % level shift from 2024-02-02 (the trigger must fire within ``FLAG_WITHIN_DAYS``
days of actuals after the shift, once). The test split is the last whole week of the 28 days:
the champion's test MAE, which the monitor holds each live day against, then covers every
weekday, the weekend and its two transitions, as a live fortnight does (a shorter test split
leaves out the hard days, and the tiny model's Friday-into-Saturday forecasts read as decay).
The trigger runs in report-only mode (``MONITOR_TRIGGER=none``): the retrain-and-recover part
of the loop is not replayed here.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from forecasting.serving.bento import serve_bento
from forecasting.serving.inference_log import read_records
from pipelines import evaluate, ingest, package, train, validate
from pipelines.ops import monitor
from tests.conftest import (
    copy_pipeline_files,
    reset_tracking_state,
    synthetic_series,
    tiny_params,
    write_params,
)

pytestmark = pytest.mark.slow

TRAINED_UNTIL = pd.Timestamp("2024-01-28T23:30")  # 4 weeks: Monday 01-01 .. Sunday 01-28
SHIFT_FROM = pd.Timestamp("2024-02-02")
FIRST_DAY, DAYS = pd.Timestamp("2024-01-29"), 10  # replayed: 01-29 .. 02-07
ENDS = ("05:30", "11:30", "17:30", "23:30")  # four forecasts a day, like a six-hourly client
FLAG_WITHIN_DAYS = 4  # actuals of at most this many shifted days before the trigger fires
LOG = Path("logs/inference.jsonl")  # package.inference_log, resolved in the workspace


def _ingest_until(params: dict, until: pd.Timestamp) -> None:
    params["ingest"]["until"] = until.isoformat()
    write_params(Path.cwd(), params)
    assert ingest.main([]) == 0


def _wait_for_records(count: int) -> None:
    deadline = time.monotonic() + 15
    while len(read_records(LOG)[0]) < count:  # the log's thread writes every 0.5 s
        assert time.monotonic() < deadline, f"{LOG} holds fewer than {count} records"
        time.sleep(0.2)


def _replay(url: str, frame: pd.DataFrame, params: dict) -> list[dict]:
    """Serve four forecasts a day from the values known then, let that day's actuals arrive,
    run monitor; the decision after each day."""
    frame.to_csv("demand.csv", index=False)
    values = frame.set_index("timestamp")["value"]
    length = params["train"]["input_length"]
    decisions = []
    for offset in range(DAYS):
        day = FIRST_DAY + pd.Timedelta(days=offset)
        for time_of_day in ENDS:
            end = pd.Timestamp(f"{day.date()}T{time_of_day}")
            window = values.loc[:end].iloc[-length:]
            answer = httpx.post(
                f"{url}/forecast",
                json={"values": window.tolist(), "end": end.isoformat(timespec="minutes")},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
        _wait_for_records(4 * (offset + 1))
        _ingest_until(params, day + pd.Timedelta(days=1, hours=23, minutes=30))
        assert monitor.main([]) == 0
        report = json.loads(Path("reports/monitor/monitor.json").read_text())
        decisions.append(report["decision"] | {"after": str(day.date())})
    return decisions


def _set_aside(label: str) -> None:
    """Start the next replay with an empty log and no trigger state."""
    shutil.move("logs", f"logs-{label}")
    shutil.move("reports/monitor", f"reports/monitor-{label}")


def test_a_sustained_level_shift_is_flagged_once_and_the_same_days_unshifted_are_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    copy_pipeline_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MONITOR_TRIGGER", "none")  # report only: no retrain in this test
    reset_tracking_state()
    steady = synthetic_series(days=40)  # 4 weeks trained, 10 days replayed, their actuals
    shifted = steady.assign(
        value=steady["value"].where(steady["timestamp"] < SHIFT_FROM, steady["value"] * 1.15)
    )
    steady.to_csv("demand.csv", index=False)
    params = tiny_params("demand.csv")
    params["ingest"]["until"] = TRAINED_UNTIL.isoformat()
    params["validate"].update(val_fraction=0.15, test_fraction=0.25)  # test: the 4th week, whole
    write_params(tmp_path, params)
    for stage in (ingest, validate, train, evaluate, package):
        assert stage.main([]) == 0, stage.__name__
    manifest = json.loads(Path("reports/package/manifest.json").read_text())

    with serve_bento(manifest["bento_tag"]) as server:
        calm = _replay(server.url, steady, params)
        records, torn = read_records(LOG)
        assert torn == 0 and len(records) == 4 * DAYS
        assert {r["model_version"] for r in records} == {manifest["model_version"]}
        _set_aside("steady")
        alarmed = _replay(server.url, shifted, params)

    # no false alarm over the same span
    assert not any(d["trigger"] for d in calm), [d["reason"] for d in calm]
    final = json.loads(Path("reports/monitor-steady/monitor.json").read_text())
    assert all(d["complete"] for d in final["days"]) and len(final["days"]) == DAYS
    assert not any(d["alarm"] for d in final["days"]), [d["why"] for d in final["days"]]

    # flagged within FLAG_WITHIN_DAYS days of shifted actuals, and only once
    fired = [d for d in alarmed if d["trigger"]]
    assert len(fired) == 1, [d["reason"] for d in alarmed]
    shifted_days = (pd.Timestamp(fired[0]["after"]) + pd.Timedelta(days=1) - SHIFT_FROM).days + 1
    assert shifted_days <= FLAG_WITHIN_DAYS, fired[0]
    assert pd.Timestamp(fired[0]["decay_start"]) >= SHIFT_FROM - pd.Timedelta(days=1)
    after = alarmed[alarmed.index(fired[0]) + 1 :]
    assert after and all("already triggered" in d["reason"] for d in after)
    assert Path("reports/monitor/live_vs_expected.png").is_file()
