"""Real series of five frequencies through ingest → evaluate on the `auto` settings, default training.

The same series as ``tests/pipelines/test_real_series.py`` (shipped inside statsmodels and
pmdarima), but with the default epochs and every baseline on: for each, the settings derived from
its frequency, the model's test MAE, the best baseline's, and the gate's verdict. Writes
``reports/bench/real_series.json`` and prints the table ``docs/model.md`` quotes.

    python benchmarks/real_series.py            # about 10 minutes on 2 cores
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

from benchmarks._meta import run_metadata  # noqa: E402
from benchmarks.report import coverage_cell  # noqa: E402
from tests.conftest import copy_pipeline_files, reset_tracking_state  # noqa: E402
from tests.pipelines.test_real_series import SERIES as TESTED  # noqa: E402

# The test's series (the sources it writes), with their units, and the default one beside.
UNITS = {"weekly co2": "ppm", "monthly wine": "litres", "quarterly wool": "tonnes"}
SERIES = {
    **{
        name: (freq, UNITS.get(name, "USD"), source, gaps)
        for name, (freq, source, gaps) in TESTED.items()
    },
    "half-hourly demand (default)": ("30min", "MW", lambda: {"source": "builtin:taylor"}, {}),
}


@contextlib.contextmanager
def _workspace() -> Iterator[Path]:
    previous = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="real-series-") as scratch:
        root = Path(scratch)
        copy_pipeline_files(root)
        os.chdir(root)
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        try:
            yield root
        finally:
            os.chdir(previous)


def run_one(name: str) -> dict:
    """One series through ingest → evaluate; its derived settings, MAEs and verdict."""
    from pipelines import evaluate, ingest, train, validate

    freq, unit, source, validation = SERIES[name]
    with _workspace() as root:
        reset_tracking_state()
        params = yaml.safe_load((root / "params.yaml").read_text())
        params["base"].update(freq=freq, unit=unit)
        params["ingest"].update(source())
        params["validate"].update(validation)
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        for stage in (ingest, validate, train, evaluate):
            if stage.main([]) != 0:
                return {"series": name, "failed": stage.__name__}
        settings = json.loads(Path("reports/train/settings.json").read_text())["auto"]
        metrics = json.loads(Path("reports/evaluate/metrics.json").read_text())
        decision = json.loads(Path("reports/evaluate/promotion.json").read_text())
    baselines = {n: float(m["mae"]) for n, m in metrics["baselines"].items()}
    best = min(baselines, key=baselines.__getitem__)
    return {
        "series": name,
        "settings": {k.split(".")[-1]: v for k, v in settings.items()},
        "origins": metrics.get("origins"),
        "model_mae": float(metrics["model"]["mae"]),
        "best_baseline": best,
        "best_baseline_mae": baselines[best],
        "baselines": baselines,
        "promoted": bool(decision["promoted"]),
        "reason": decision["reason"],
        # the model's intervals on the same test origins (issue 21: coverage within 5 points)
        "intervals": metrics.get("intervals", {}),
        "baseline_intervals": metrics.get("baseline_intervals", {}),
    }


def main() -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    results = [run_one(name) for name in SERIES]
    out = REPO / "reports" / "bench" / "real_series.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": run_metadata(), "results": results}, indent=2) + "\n")
    print(
        "| series | input / horizon / patch / seasonal lag / origin step | model MAE | best baseline | verdict | coverage 80 / 95 % [90 % bounds over the origins] |"
    )
    print("|---|---|---|---|---|---|")
    for r in results:
        if "failed" in r:
            print(f"| {r['series']} | failed in {r['failed']} | | | |")
            continue
        s = r["settings"]
        shape = " / ".join(
            str(s.get(k, ""))
            for k in ("input_length", "horizon", "patch_length", "seasonal_lag", "origin_step")
        )
        verdict = "promoted" if r["promoted"] else "not promoted"
        cover = " / ".join(coverage_cell(v) for v in r["intervals"].values())
        print(
            f"| {r['series']} | {shape} | {r['model_mae']:.4g} | {r['best_baseline']} "
            f"{r['best_baseline_mae']:.4g} | {verdict} | {cover} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
