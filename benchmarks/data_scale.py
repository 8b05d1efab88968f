"""Data scale: ingest + validate on generated series of 10^4 .. 10^7 rows, against bare pandas.

Each size is a CSV of ``rows / rows_per_series`` half-hourly series (timestamp, site, value),
plus one long single series. The real stages run as ``dvc repro`` runs them, each in its own
process (``python -m pipelines.ingest`` then ``pipelines.validate``, default params apart from
the source), with the peak resident memory of each process. Each process times its start-up
(the interpreter and the imports: pandas, Great Expectations, matplotlib; ~4-5 s whatever
the size) apart from its work; ``rows_per_s`` is rows over the work, ``rows_per_s_with_startup``
over the whole wall time. The reference is the least any ingest can do with the same file:
``pandas.read_csv``, ISO timestamps and ``to_parquet`` in one process, timed the same way;
``ingest_vs_bare_pandas`` is its work time over ingest's (above 1: ingest is faster). ``rows_per_s`` at 10^6
and 10^7 should be within 2x of each other: cost grows linearly. Writes
reports/bench/data_scale.json.

    make bench, or: PYTHONPATH=. python benchmarks/data_scale.py [--sizes 10000 100000 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
OUTPUT = Path("reports/bench/data_scale.json")
SIZES = (10_000, 100_000, 1_000_000, 10_000_000)
ROWS_PER_SERIES = 10_000  # 208 days of half-hours: every series passes the default contract

BARE_PANDAS = """
import json, sys, time
started = time.perf_counter()
import pandas as pd, pyarrow.parquet
imported = time.perf_counter()
frame = pd.read_csv(sys.argv[1], usecols=["timestamp", "site", "value"], dtype={"site": "str"})
frame["timestamp"] = pd.to_datetime(frame["timestamp"], format="ISO8601")
frame.to_parquet(sys.argv[2], index=False)
finished = time.perf_counter()
with open(sys.argv[3], "w") as out:
    json.dump({"startup_s": imported - started, "work_s": finished - imported}, out)
"""


def write_series(path: Path, rows: int, rows_per_series: int, seed: int = 0) -> int:
    """A CSV of ``rows`` rows: demand-like half-hourly series, one after another. Returns bytes."""
    series = max(1, rows // rows_per_series)
    per_series = rows // series
    rng = np.random.default_rng(seed)
    stamps = pd.date_range("2000-01-01", periods=per_series, freq="30min")
    day = np.sin(2 * np.pi * (stamps.hour + stamps.minute / 60 - 6) / 24).to_numpy()
    text = stamps.strftime("%Y-%m-%dT%H:%M:%S").to_numpy()
    with path.open("w") as handle:
        handle.write("timestamp,site,value\n")
        for index in range(series):
            level = rng.uniform(5_000, 50_000)
            values = level * (1 + 0.25 * day) + rng.normal(0, level * 0.01, per_series)
            chunk = pd.DataFrame({"timestamp": text, "site": f"site-{index:05d}", "value": values})
            chunk.to_csv(handle, header=False, index=False, float_format="%.1f")
    return path.stat().st_size


STAGE_RUNNER = """
import json, sys, time
started = time.perf_counter()
import pyarrow.parquet  # imported lazily by the stages: start-up, not work
if sys.argv[1] == "validate":
    import great_expectations
    import matplotlib.pyplot
from pipelines import ingest, validate
stage = {"ingest": ingest, "validate": validate}[sys.argv[1]]
imported = time.perf_counter()
code = stage.main([])
finished = time.perf_counter()
with open(sys.argv[2], "w") as out:
    json.dump({"startup_s": imported - started, "work_s": finished - imported}, out)
sys.exit(code)
"""


def timed(command: list[str], cwd: Path) -> dict[str, float]:
    """Wall seconds and peak resident MiB of one process; raises if it fails."""
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stderr=subprocess.PIPE, text=True)
    stderr = process.stderr.read() if process.stderr else ""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{stderr[-3000:]}")
    return {"seconds": seconds, "peak_mib": usage.ru_maxrss / 1024}


def timed_script(script: str, arguments: list[str], cwd: Path) -> dict[str, float]:
    """A script in its own process: wall seconds, peak MiB, and its start-up vs its work.

    The script writes ``startup_s`` and ``work_s`` as JSON to the path in its last argument.
    """
    split = cwd / "timing.json"
    result = timed([sys.executable, "-c", script, *arguments, str(split)], cwd)
    return result | json.loads(split.read_text())


def run_size(rows: int, rows_per_series: int, scratch: Path) -> dict[str, Any]:
    """Ingest + validate one generated file, and the bare-pandas reference on the same file."""
    work = scratch / f"rows-{rows}-{rows_per_series}"
    work.mkdir()
    source = work / "series.csv"
    size = write_series(source, rows, rows_per_series)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["ingest"].update(source=str(source), columns={"series_id": "site"})
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    bare = timed_script(BARE_PANDAS, [str(source), str(work / "bare.parquet")], work)
    ingest = timed_script(STAGE_RUNNER, ["ingest"], work)
    validate = timed_script(STAGE_RUNNER, ["validate"], work)
    seconds = ingest["seconds"] + validate["seconds"]
    work_s = ingest["work_s"] + validate["work_s"]
    result = {
        "rows": rows,
        "series": max(1, rows // rows_per_series),
        "csv_mib": round(size / 2**20, 1),
        "ingest_s": round(ingest["work_s"], 2),
        "validate_s": round(validate["work_s"], 2),
        "work_s": round(work_s, 2),
        "rows_per_s": round(rows / work_s),
        "startup_s": round(ingest["startup_s"] + validate["startup_s"], 2),
        "process_s": round(seconds, 2),
        "rows_per_s_with_startup": round(rows / seconds),
        "peak_mib": round(max(ingest["peak_mib"], validate["peak_mib"])),
        "ingest_peak_mib": round(ingest["peak_mib"]),
        "validate_peak_mib": round(validate["peak_mib"]),
        "bare_pandas_s": round(bare["work_s"], 2),
        "bare_pandas_peak_mib": round(bare["peak_mib"]),
        "ingest_vs_bare_pandas": round(bare["work_s"] / ingest["work_s"], 2),
    }
    print(
        f"{rows:>11,} rows {result['series']:>5} series  ingest {result['ingest_s']:6.2f} s  "
        f"validate {result['validate_s']:6.2f} s  {result['rows_per_s']:>9,} rows/s  "
        f"(+{result['startup_s']:.1f} s start-up)  peak {result['peak_mib']:>6,} MiB  "
        f"bare pandas {result['bare_pandas_s']:6.2f} s, {result['bare_pandas_peak_mib']:,} MiB",
        flush=True,
    )
    for leftover in work.iterdir():  # the 10^7 case writes ~1 GB; keep the disk free
        if leftover.is_file():
            leftover.unlink()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--rows-per-series", type=int, default=ROWS_PER_SERIES)
    parser.add_argument(
        "--long-series",
        type=int,
        default=1_000_000,
        help="also run one single series this long (0: skip)",
    )
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="data-scale-") as folder:
        scratch = Path(folder)
        results = [run_size(rows, args.rows_per_series, scratch) for rows in args.sizes]
        long_series = (
            run_size(args.long_series, args.long_series, scratch) if args.long_series else None
        )
    by_rows = {r["rows"]: r["rows_per_s"] for r in results}
    linearity = (
        round(by_rows[10_000_000] / by_rows[1_000_000], 3)
        if {1_000_000, 10_000_000} <= by_rows.keys()
        else None
    )
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
        "rows_per_series": args.rows_per_series,
        "sizes": results,
        "long_series": long_series,
        "rows_per_s_10m_over_1m": linearity,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    if linearity is not None:
        print(f"rows/s at 10^7 / rows/s at 10^6: {linearity} (goal: between 0.5 and 2)")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
