"""The monitoring loop with real parts: a packaged Bento serves day by day, actuals arrive through
ingest (``ingest.until`` moves on), ``make monitor`` judges the served champion, and its trigger
retrains.

One tiny pipeline run (28 days of a synthetic series) packages a champion; then the same days
are replayed twice from the served Bento: as they were (no trigger may fire over ten days), and
with a sustained +15 % level shift from 2024-02-02. There the trigger must fire within
``FLAG_WITHIN_DAYS`` days of actuals after the shift, once, and run the retrain (``make
retrain``'s two ``dvc repro`` calls, the local trigger); the gate promotes the retrained model,
package re-packages it, the new Bento is deployed in the old one's place, and over the next
``RECOVERY_DAYS`` its live error stays within the limit and no trigger fires (its inputs are
held against its own test split, which holds the shifted days). The test split is the last
whole week of the 28 days: the champion's test MAE, which the monitor holds each live day
against, then covers every weekday, the weekend and its two transitions, as a live fortnight
does (a shorter test split leaves out the hard days, and the tiny model's Friday-into-Saturday
forecasts read as decay).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from forecasting.registry.tracking import connect, existing_store
from forecasting.registry.versions import CHAMPION, version_by_alias
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
RECOVERY_DAYS = 5  # served by the retrained champion, from the day after its data ends
LOG = Path("logs/inference.jsonl")  # package.inference_log, resolved in the workspace
BIN = Path(sys.executable).parent
# `make retrain` without make (the workspace has no venv of its own): ingest re-reads the
# source, then the rest of the pipeline follows
RETRAIN = f"sh -c '{BIN}/dvc repro --force --single-item ingest && {BIN}/dvc repro'"


def _ingest_until(params: dict, until: pd.Timestamp) -> None:
    params["ingest"]["until"] = until.isoformat()
    write_params(Path.cwd(), params)
    assert ingest.main([]) == 0


def _wait_for_records(count: int) -> None:
    deadline = time.monotonic() + 15
    while len(read_records(LOG)[0]) < count:  # the log's thread writes every 0.5 s
        assert time.monotonic() < deadline, f"{LOG} holds fewer than {count} records"
        time.sleep(0.2)


def _replay(url: str, frame: pd.DataFrame, params: dict, days: list[pd.Timestamp]) -> list[dict]:
    """Serve four forecasts a day from the values known then, let that day's actuals arrive,
    run monitor; the decision after each day, up to the first that triggers."""
    frame.to_csv("demand.csv", index=False)
    values = frame.set_index("timestamp")["value"]
    length = params["train"]["input_length"]
    decisions: list[dict] = []
    logged = len(read_records(LOG)[0])
    for day in days:
        for time_of_day in ENDS:
            end = pd.Timestamp(f"{day.date()}T{time_of_day}")
            window = values.loc[:end].iloc[-length:]
            answer = httpx.post(
                f"{url}/forecast",
                json={"values": window.tolist(), "end": end.isoformat(timespec="minutes")},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
        logged += len(ENDS)
        _wait_for_records(logged)
        _ingest_until(params, day + pd.Timedelta(days=1, hours=23, minutes=30))
        assert monitor.main([]) == 0
        report = json.loads(Path("reports/monitor/monitor.json").read_text())
        decisions.append(report["decision"] | {"after": str(day.date())})
        if report["decision"]["trigger"]:
            break
    return decisions


def _days(first: pd.Timestamp, count: int) -> list[pd.Timestamp]:
    return [first + pd.Timedelta(days=offset) for offset in range(count)]


def _set_aside(label: str) -> None:
    """Start the next replay with an empty log and no trigger state."""
    shutil.move("logs", f"logs-{label}")
    shutil.move("reports/monitor", f"reports/monitor-{label}")


def _init_repository(env: dict[str, str]) -> None:
    """A git repository for DVC, as a clone would be (the retrain runs ``dvc repro``)."""
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    for args in (["git", "init", "-q"], [*git, "add", "-A"], [*git, "commit", "-qm", "init"]):
        subprocess.run(args, env=env, check=True, capture_output=True)


def test_a_level_shift_is_flagged_once_retrained_and_recovers_and_the_days_unshifted_are_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    copy_pipeline_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("PATH", f"{BIN}:{os.environ['PATH']}")  # dvc's stages run `python`
    reset_tracking_state()
    steady = synthetic_series(days=42)  # 4 weeks trained, then replayed days and their actuals
    shifted = steady.assign(
        value=steady["value"].where(steady["timestamp"] < SHIFT_FROM, steady["value"] * 1.15)
    )
    steady.to_csv("demand.csv", index=False)
    params = tiny_params("demand.csv")
    params["ingest"]["until"] = TRAINED_UNTIL.isoformat()
    params["validate"].update(val_fraction=0.15, test_fraction=0.25)  # test: the 4th week, whole
    # The loop needs a retrain that can win its gate. On these four weeks the tiny model at the
    # default peak lr (0.01, chosen on the real data) is not better than v1 on the shifted test
    # week (730 against 704 MW: the gate rightly keeps v1); at 0.003 it adapts to the shift.
    params["train"]["learning_rate"] = 0.003
    params["monitor"]["retrain_command"] = RETRAIN
    write_params(tmp_path, params)
    _init_repository(dict(os.environ))
    for stage in (ingest, validate, train, evaluate, package):
        assert stage.main([]) == 0, stage.__name__
    first = json.loads(Path("reports/package/manifest.json").read_text())

    with serve_bento(first["bento_tag"]) as server:
        monkeypatch.setenv("MONITOR_TRIGGER", "none")  # a false alarm only reports
        calm = _replay(server.url, steady, params, _days(FIRST_DAY, DAYS))
        records, torn = read_records(LOG)
        assert torn == 0 and len(records) == 4 * DAYS
        assert {r["model_version"] for r in records} == {first["model_version"]}
        _set_aside("steady")
        monkeypatch.setenv("MONITOR_TRIGGER", "local")  # the trigger retrains here
        alarmed = _replay(server.url, shifted, params, _days(FIRST_DAY, DAYS))

    # no false alarm over the same span
    assert not any(d["trigger"] for d in calm), [d["reason"] for d in calm]
    final = json.loads(Path("reports/monitor-steady/monitor.json").read_text())
    assert all(d["complete"] for d in final["days"]) and len(final["days"]) == DAYS
    assert not any(d["alarm"] for d in final["days"]), [d["why"] for d in final["days"]]

    # flagged within FLAG_WITHIN_DAYS days of shifted actuals, once, and the retrain ran
    fired = alarmed[-1]
    assert fired["trigger"] and not any(d["trigger"] for d in alarmed[:-1]), alarmed
    shifted_days = (pd.Timestamp(fired["after"]) + pd.Timedelta(days=1) - SHIFT_FROM).days + 1
    assert shifted_days <= FLAG_WITHIN_DAYS, fired
    assert pd.Timestamp(fired["decay_start"]) >= SHIFT_FROM - pd.Timedelta(days=1)
    outcome = json.loads(Path("reports/monitor/monitor.json").read_text())["trigger"]
    assert outcome["mode"] == "local" and outcome["returncode"] == 0, outcome

    # the gate promoted the retrained model, and package re-packaged it
    second = json.loads(Path("reports/package/manifest.json").read_text())
    assert second["model_version"] != first["model_version"], second
    assert second["bento_tag"] != first["bento_tag"]
    connect(existing_store(Path.cwd()) or "")
    champion = version_by_alias(params["base"]["registered_model"], CHAMPION)
    assert champion is not None and str(champion.version) == str(second["model_version"])

    # deployed in the old one's place: its error and inputs stay within the limits
    recovery = _days(pd.Timestamp(fired["after"]) + pd.Timedelta(days=2), RECOVERY_DAYS)
    with serve_bento(second["bento_tag"]) as server:
        after = _replay(server.url, shifted, params, recovery)
    assert len(after) == RECOVERY_DAYS and not any(d["trigger"] for d in after), after
    report = json.loads(Path("reports/monitor/monitor.json").read_text())
    assert report["model_version"] == str(second["model_version"])
    assert report["expected"]["profile"] == "test split"
    served = [d for d in report["days"] if d["model_version"] == str(second["model_version"])]
    assert len(served) == RECOVERY_DAYS and all(d["complete"] for d in served)
    assert not any(d["alarm"] for d in served), [d["why"] for d in served]
    assert "within its limits" in after[-1]["reason"], after[-1]
    assert Path("reports/monitor/live_vs_expected.png").is_file()
