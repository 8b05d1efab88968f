"""Real series of four more frequencies, ingest to a served forecast, on the `auto` settings alone.

Each series ships inside an installed package (nothing is downloaded): statsmodels' Mauna Loa
CO2 (weekly on Saturdays, 59 missing cells), pmdarima's Australian wine sales (monthly),
Australian wool production (quarterly) and Microsoft's close price (business days, market
holidays missing); the default half-hourly demand takes the same path in `tests/e2e`. Only the
source, its columns, the frequency and how to treat gaps are set; the window, horizon, patches,
seasonal base and origin step come from the frequency. To stay within the test budget training is one epoch, the fitted
baselines (MSTL) are off, and the gate does not require beating the
baselines (a one-epoch network should not ship; here only the path to serving is under test).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml

from forecasting.core.auto_settings import derived_settings
from forecasting.core.periods import on_grid
from forecasting.serving.bento import serve_bento
from pipelines import evaluate, ingest, package, train, validate
from tests.conftest import reset_tracking_state, write_params

pytestmark = pytest.mark.slow
SITE = Path(pd.__file__).resolve().parents[1]


def _co2() -> dict:
    shutil.copy(SITE / "statsmodels" / "datasets" / "co2" / "co2.csv", "co2.csv")
    return {
        "source": "co2.csv",
        "columns": {"timestamp": "date", "value": "co2", "series_id": None},
        "timestamp_format": "%Y%m%d",
    }


def _pmdarima(name: str, freq: str, start: str) -> Callable[[], dict]:
    def write() -> dict:
        import pmdarima.datasets as datasets

        values = getattr(datasets, f"load_{name}")(as_series=False)
        stamps = pd.date_range(start, periods=len(values), freq=freq)
        pd.DataFrame({"timestamp": stamps, "value": values}).to_csv(f"{name}.csv", index=False)
        return {"source": f"{name}.csv", "columns": {"timestamp": "timestamp", "value": "value"}}

    return write


SERIES = {
    # runs of up to 18 missing weeks in 1964: interpolated, as a user of this series would
    "weekly co2": ("W-SAT", _co2, {"on_missing": "fill", "max_fill_steps": 20}),
    "monthly wine": ("MS", _pmdarima("wineind", "MS", "1980-01-01"), {}),
    "quarterly wool": ("QS", _pmdarima("woolyrnq", "QS", "1965-01-01"), {}),
    "business-day msft": ("B", lambda: {"source": "builtin:msft"}, {"on_gap": "fill"}),
}


@pytest.mark.parametrize("name", list(SERIES))
def test_a_real_series_reaches_a_served_forecast_on_its_calendar(workspace, name):
    freq, source, validation = SERIES[name]
    reset_tracking_state()
    params = yaml.safe_load(Path("params.yaml").read_text())
    params["base"]["freq"] = freq
    params["ingest"].update(source())
    params["validate"].update(validation)
    params["train"].update(epochs=1)
    params["evaluate"].update(classical_weeks=0, require_beating_baselines=False)
    write_params(workspace, params)
    for stage in (ingest, validate, train, evaluate, package):
        assert stage.main([]) == 0, f"{name}: {stage.__name__}"

    auto = derived_settings(freq)
    settings = json.loads(Path("reports/train/settings.json").read_text())
    assert settings["auto"]["train.input_length"] == auto["input_length"]
    manifest = json.loads(Path("reports/package/manifest.json").read_text())
    # all splits: a short series' test split can be shorter than one window
    frame = pd.concat(
        [pd.read_parquet(f"data/validated/{split}.parquet") for split in ("train", "val", "test")]
    )
    request = {
        "values": frame["value"].tolist()[-auto["input_length"] :],
        "end": frame["timestamp"].iloc[-1].isoformat(),
        "levels": [80],
    }
    with serve_bento(manifest["bento_tag"]) as server:
        answer = httpx.post(f"{server.url}/forecast", json=request, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    stamps = pd.to_datetime(body["timestamps"])
    assert len(stamps) == auto["horizon"] == len(body["lower"]["80"])
    assert all(on_grid(stamp, freq) for stamp in stamps), (freq, body["timestamps"])
    assert stamps[0] > frame["timestamp"].iloc[-1]
    expected = pd.date_range(frame["timestamp"].iloc[-1], periods=auto["horizon"] + 1, freq=freq)
    assert list(stamps) == list(expected[1:])  # the series' own calendar, step after step
