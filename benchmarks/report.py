"""Write docs/benchmarks.md from the benchmarks' JSON under reports/bench/.

Every ``reports/bench/<benchmark>[.<label>].json`` is one run of ``benchmarks/<benchmark>.py``
(the script writes ``<benchmark>.json``; keep an older run beside it by renaming it to
``<benchmark>.<label>.json``). Runs of one benchmark are shown side by side, oldest first, each
with the date, commit and processor its ``"meta"`` records (``benchmarks/_meta.py``). ``make
bench`` runs the benchmarks and then this script; ``tests/unit/test_readme.py`` checks that the
page is what this script writes from the JSON in the repository.

    PYTHONPATH=. python benchmarks/report.py [--bench reports/bench] [--output docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "reports" / "bench"
OUTPUT = REPO / "docs" / "benchmarks.md"

Run = dict[str, Any]

HEADER = """\
# Benchmarks

<!-- Written by benchmarks/report.py from reports/bench/*.json. Do not edit by hand: change the
JSON (a new run) or the script, then `PYTHONPATH=. python benchmarks/report.py`. -->

Performance is measured by the scripts in `benchmarks/`, never by timed assertions in tests.
Each one measures the project's code beside a reference run on the same machine in the same
run, so read the **ratios**: absolute figures move with the processor (float kernels follow the
instruction set; AVX2 and AVX-512 machines of the same size differ by up to 3x per forward pass
here) and with whatever else the machine is doing. `make bench` runs every benchmark (each
writes `reports/bench/<name>.json` with its date, commit and processor) and then
`benchmarks/report.py`, which writes this page. Commit the JSON and this page together; to keep
a run beside the next one, rename its file `<name>.<label>.json` (runs show oldest first).
"""

ABOUT = {
    "train_throughput": (
        "Training throughput",
        "`benchmarks/train_throughput.py` trains the default model (params.yaml's `train` "
        "section) on the same windows with the same batch size twice per round: with the "
        "project's loop (`forecasting.training.loop.train_model`) and with a bare PyTorch loop "
        "(windows pre-materialised as one tensor, no schedule, clipping or validation). The "
        "loops alternate, so a noisy neighbour hits both; `ratio` is the median per-round "
        "ratio of samples/s in training steps (goal: at least 0.95), `with validation` adds "
        "the per-epoch validation pass and checkpoint the stage also runs.",
    ),
    "data_scale": (
        "Data scale: ingest and validate",
        "`benchmarks/data_scale.py` runs the real ingest and validate stages, each in its own "
        "process as `dvc repro` runs them, on generated half-hourly CSVs of 10^4 to 10^7 rows "
        "(series of 10^4 rows each) plus one single series of 10^6 rows, and records each "
        "process's start-up (interpreter and imports) apart from its work, and its peak "
        "memory. The reference is bare pandas on the same file (`read_csv`, ISO timestamps, "
        "`to_parquet`), timed the same way. Goals: rows/s at 10^7 within 2x of rows/s at 10^6 "
        "(cost grows linearly), and validate's peak at most 1 GB at 10^7 rows.",
    ),
    "serve_load": (
        "Serving load",
        "`benchmarks/serve_load.py` (needs `make run`) serves the packaged Bento and drives it "
        "over loopback at concurrency 1, 8 and 32 with `wrk` (an aiohttp client where wrk is "
        "missing). In the same run it measures the in-process limit (the same JSON parsing, "
        "preprocessing and forward pass, called directly on one torch thread; taken three "
        "times, median kept) and `mlflow models serve` of the same champion. The ratio to the "
        "in-process limit is the median of five paired rounds (a short in-process run, then "
        "3 s of wrk). The load generator shares the cores with the server. `/forecast_batch` "
        "sends 256 series in one request, one at a time, beside the service's own work for it "
        "in-process (parse, preprocess, one forward pass).",
    ),
    "evaluate_cost": (
        "Evaluate: cost per origin and per series",
        "`benchmarks/evaluate_cost.py` times, in one process on the default data and params.yaml's "
        "`evaluate` section, the model's own scoring (one batched forward pass over every test "
        "origin: the reference), the reference baselines (naive, seasonal naive) and the fitted "
        "ones (AutoETS where a season allows it, MSTL with ETS and ARIMA trends, one shared "
        "decomposition) cold with `classical_jobs` processes and again from the cache, as a "
        "re-run where only the model changed pays. The serial rows time each part of one "
        "origin's fits in one process (CPU seconds).",
    ),
    "real_series": (
        "Real series on the auto settings",
        "`benchmarks/real_series.py` runs five real series shipped by statsmodels and pmdarima "
        "through ingest → evaluate with only the source, columns, frequency and gap handling "
        "set (the rest `auto` or default): the derived window / horizon / patch / seasonal lag "
        "/ origin step, the model's test MAE, the best baseline's and the gate's verdict "
        "(against the gated baselines, naive and seasonal naive). The last run is shown.",
    ),
    "interval_calibration": (
        "Interval calibration on validation folds",
        "`benchmarks/interval_calibration.py` (needs `dvc repro validate`) chooses "
        "`train.interval_time_of_day` on validation only, as the pipeline uses a calibration: "
        "per seed, for the two fortnights before the validation split, a model trained on "
        "what precedes the fortnight is calibrated on it at each power and its intervals are "
        "scored on the fortnight after it (origins every `evaluate.origin_step`). Means over "
        "seeds and the two folds; lower Winkler is better. The last run is shown.",
    ),
    "scale": (
        "Scale: from one series to a thousand",
        "`benchmarks/scale.py` makes N series from the default one (series 0 is it; each other "
        "has its own level, daily and weekend shape and noise), writes them as one Parquet "
        "source with a `series_id` column, and runs ingest → validate → train → evaluate, each "
        "stage in its own process in a fresh copy of the repository, on params.yaml with "
        "`benchmarks/profiles/scale.yaml` applied (fixed `train.windows_per_epoch` and "
        "`train.val_windows`, fewer "
        "epochs, fitted baselines off). Per stage: its work (wall time less the interpreter "
        "and imports), throughput, and the peak resident memory of its process. The ratio is "
        "each stage's work at the largest count over the count a tenth of it (goal: at most "
        "10). The fitted baselines, off in the profile, are timed apart on a few origins with "
        "params.yaml's own evaluate settings, locally and on a local dask cluster (its "
        "start-up included), to size a cluster for them.",
    ),
}


def load_runs(bench: Path) -> dict[str, list[Run]]:
    """Every JSON run under ``bench``, grouped by benchmark name and sorted by date."""
    runs: dict[str, list[Run]] = {}
    for path in sorted(bench.glob("*.json")):
        run = json.loads(path.read_text())
        run["_file"] = path.name
        runs.setdefault(path.name.split(".", 1)[0], []).append(run)
    for group in runs.values():
        group.sort(key=lambda run: str(run.get("meta", {}).get("date", "")))
    return runs


def provenance(run: Run) -> str:
    """``date · commit · processor`` of a run, as its ``meta`` records them."""
    meta = run.get("meta")
    if not meta:
        return f"`{run['_file']}`: date, commit and processor not recorded"
    commit = f"`{str(meta.get('commit', 'unknown'))[:10]}`" + (
        " (with uncommitted changes)" if meta.get("dirty") else ""
    )
    machine = ", ".join(
        str(part)
        for part in (
            meta.get("processor"),
            meta.get("instruction_set"),
            f"{meta['cpus']} cores" if meta.get("cpus") else None,
        )
        if part
    )
    line = f"`{run['_file']}`: {str(meta.get('date', 'date not recorded'))[:10]}, commit {commit}, {machine}"
    return line + (f". {meta['source']}" if meta.get("source") else "")


def number(value: Any, digits: int = 0, suffix: str = "") -> str:
    """A figure with thousands separators, or a dash where the run did not record it."""
    if value is None:
        return "—"
    return f"{value:,.{digits}f}{suffix}"


def table(runs: list[Run], rows: list[tuple[str, Callable[[Run], str]]]) -> list[str]:
    """One row per figure, one column per run."""
    header = "| | " + " | ".join(f"run {i}" for i in range(1, len(runs) + 1)) + " |"
    lines = [header, "|---" * (len(runs) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(cell(run) for run in runs) + " |" for name, cell in rows]
    return lines


def train_throughput(runs: list[Run]) -> list[str]:
    """Samples/s of both loops and their ratio, one column per run."""
    return table(
        runs,
        [
            ("device, torch threads", lambda r: f"{r.get('device', '—')}, {r.get('torch_threads', '—')}"),
            ("hidden size, batch, epochs, rounds", lambda r: ", ".join(str(r.get(k, "—")) for k in ("hidden_size", "batch_size", "epochs", "rounds"))),
            ("bare loop, samples/s", lambda r: number(r.get("bare_samples_per_second"))),
            ("project loop, samples/s", lambda r: number(r.get("project_samples_per_second"))),
            ("**ratio** (median of rounds)", lambda r: f"**{number(r.get('ratio'), 2)}**"),
            ("per-round ratios", lambda r: _round_ratios(r)),
            ("ratio with validation and checkpoints", lambda r: number(r.get("ratio_with_validation"), 2)),
        ],
    )  # fmt: skip


def _round_ratios(run: Run) -> str:
    if run.get("bare_rounds") and run.get("project_rounds"):
        ratios = [p / b for p, b in zip(run["project_rounds"], run["bare_rounds"], strict=True)]
        return f"{min(ratios):.2f} to {max(ratios):.2f}"
    return str(run.get("round_ratios", "—"))


def data_scale(runs: list[Run]) -> list[str]:
    """A table per run: one row per size, and the linearity figure."""
    lines: list[str] = []
    for index, run in enumerate(runs, start=1):
        lines += [
            f"Run {index}:",
            "",
            "| rows | series | ingest s | validate s | rows/s (work) | start-up s | rows/s (wall) "
            "| peak MiB ingest / validate | bare pandas s / MiB | ingest ÷ bare pandas |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        sizes = list(run.get("sizes", [])) + (
            [run["long_series"]] if run.get("long_series") else []
        )
        for size in sizes:
            lines.append(
                f"| 10^{len(str(size['rows'])) - 1} | {number(size.get('series'))} "
                f"| {number(size.get('ingest_s'), 2)} | {number(size.get('validate_s'), 2)} "
                f"| {number(size.get('rows_per_s'))} | {number(size.get('startup_s'), 1)} "
                f"| {number(size.get('rows_per_s_with_startup'))} | {_peaks(size)} "
                f"| {number(size.get('bare_pandas_s'), 2)} / {number(size.get('bare_pandas_peak_mib'))} "
                f"| {number(size.get('ingest_vs_bare_pandas'), 2, '×')} |"
            )
        if run.get("rows_per_s_10m_over_1m") is not None:
            lines += [
                "",
                f"rows/s at 10^7 ÷ rows/s at 10^6: **{run['rows_per_s_10m_over_1m']:.2f}** "
                "(goal: between 0.5 and 2).",
            ]
        lines.append("")
    return lines[:-1]


def _peaks(size: Run) -> str:
    """Each stage's peak, or the larger of the two where a run recorded only that."""
    if size.get("validate_peak_mib") is None:
        return f"{number(size.get('peak_mib'))} (the larger)"
    return f"{number(size.get('ingest_peak_mib'))} / {number(size.get('validate_peak_mib'))}"


def _at(run: Run, concurrency: int, key: str) -> Any:
    for level in run.get("bento", []):
        if level.get("concurrency") == concurrency:
            return level.get(key)
    return None


def _paired(run: Run) -> str:
    pairs = run.get("paired_rounds") or []
    return ", ".join(f"{pair['ratio']:.2f}" for pair in pairs) or "—"


def _batch(run: Run, key: str) -> Any:
    return (run.get("forecast_batch") or {}).get(key)


def serve_load(runs: list[Run]) -> list[str]:
    """The in-process limit, the Bento at each concurrency and the peer, one column per run."""
    return table(
        runs,
        [
            ("in-process: JSON + preprocessing + forward, batch 1", lambda r: number(r.get("in_process", {}).get("request_ms_batch1"), 2, " ms")),
            ("in-process: batched by 32, forecasts/s", lambda r: number(r.get("in_process", {}).get("forecasts_per_s_batch32"))),
            ("Bento c=1: p50 (minus in-process)", lambda r: f"{number(_at(r, 1, 'p50_ms'), 2, ' ms')} (+{number(r.get('p50_c1_minus_in_process_ms'), 2)})"),
            ("Bento c=8: req/s", lambda r: number(_at(r, 8, "requests_per_s"))),
            ("Bento c=32: req/s, p50, p99", lambda r: f"{number(_at(r, 32, 'requests_per_s'))}, {number(_at(r, 32, 'p50_ms'), 0, ' ms')}, {number(_at(r, 32, 'p99_ms'), 0, ' ms')}"),
            ("series per forward pass at c=32", lambda r: number(_at(r, 32, "mean_batch_rows"), 1)),
            ("errors at c=32", lambda r: f"{number(_at(r, 32, 'errors'))} in {number(_at(r, 32, 'requests'))}"),
            ("`mlflow models serve` c=32: req/s", lambda r: number(r.get("mlflow_models_serve", {}).get("requests_per_s"))),
            ("**Bento c=32 ÷ mlflow models serve** (goal ≥ 2)", lambda r: f"**{number(r.get('rps_c32_vs_mlflow'), 1, '×')}**"),
            ("paired rounds, Bento c=32 ÷ in-process batched", _paired),
            ("**median of the paired rounds** (goal ≥ 0.5)", lambda r: f"**{number(r.get('rps_c32_vs_in_process_batched'), 2, '×')}**"),
            ("inference log on ÷ off, c=32, geometric mean of rounds (goal ≥ 0.95)", lambda r: number((r.get("inference_log") or {}).get("rps_c32_log_on_vs_off"), 3)),
            ("levels [80, 95] ÷ none, c=32, geometric mean of rounds (goal ≥ 0.9)", lambda r: number((r.get("intervals") or {}).get("rps_c32_levels_vs_none"), 3)),
            ("`/forecast_batch` of 256 series, c=1: p50, p99", lambda r: f"{number(_batch(r, 'p50_ms'), 0, ' ms')}, {number(_batch(r, 'p99_ms'), 0, ' ms')}"),
            ("`/forecast_batch` of 256: series/s (in-process)", lambda r: f"{number(_batch(r, 'series_per_s'))} ({number(_batch(r, 'in_process_series_per_s'))})"),
            ("`/forecast_batch` ÷ in-process, median of paired rounds", lambda r: number(_batch(r, "served_vs_in_process"), 2, "×")),
        ],
    )  # fmt: skip


def coverage_cell(figures: dict[str, float]) -> str:
    """``81.8 [78.4, 85.2]``: a coverage with its bounds over the overlapping origins, if any."""
    share = f"{100 * figures['coverage']:.1f}"
    if "coverage_low" not in figures:  # too few origins, or a run from before the bounds
        return share if figures.get("coverage_blocks") is None else f"{share} [too few origins]"
    return f"{share} [{100 * figures['coverage_low']:.1f}, {100 * figures['coverage_high']:.1f}]"


def real_series(runs: list[Run]) -> list[str]:
    """One row per series of the latest run: derived settings, MAEs and the verdict."""
    lines = [
        "| series | input / horizon / patch / seasonal lag / origin step | model MAE | best baseline | verdict | interval coverage 80 / 95 % [90 % bounds over the origins] |",
        "|---|---|---|---|---|---|",
    ]  # fmt: skip
    for result in runs[-1].get("results", []):
        settings = result.get("settings", {})
        shape = " / ".join(
            str(settings.get(key, "—"))
            for key in ("input_length", "horizon", "patch_length", "seasonal_lag", "origin_step")
        )
        verdict = "promoted" if result.get("promoted") else "not promoted"
        cover = " / ".join(coverage_cell(level) for level in result.get("intervals", {}).values())
        lines.append(
            f"| {result['series']} | {shape} | {number(result.get('model_mae'), 3)} | "
            f"{result.get('best_baseline')} {number(result.get('best_baseline_mae'), 3)} | "
            f"{verdict} | {cover or '—'} |"
        )
    return lines


def interval_calibration(runs: list[Run]) -> list[str]:
    """One row per time-of-day power of the latest run: Winkler and coverage per level."""
    summary = runs[-1].get("summary", {})
    levels = sorted({key.split("_", 1)[1] for row in summary.values() for key in row}, key=float)
    lines = [
        "| time_of_day | " + " | ".join(f"Winkler {n} % | coverage {n} %" for n in levels) + " |",
        "|---" * (1 + 2 * len(levels)) + "|",
    ]
    for power, row in summary.items():
        cells = [
            f"{number(row.get(f'winkler_{n}'), 1)} | {number(100 * row[f'coverage_{n}'], 1)} %"
            for n in levels
        ]
        lines.append(f"| {power} | " + " | ".join(cells) + " |")
    return lines


def evaluate_cost(runs: list[Run]) -> list[str]:
    """Per-origin costs and their ratios to the model's scoring, one column per run."""

    def serial(run: Run, key: str) -> str:
        return number(run.get("serial_s_per_origin", {}).get(key), 2, " s")

    return table(
        runs,
        [
            ("origins (step), series", lambda r: f"{r.get('origins')} ({r.get('origin_step')}), {r.get('series')}"),
            ("history weeks, processes, ARIMA approximation", lambda r: f"{r.get('classical_weeks')}, {r.get('classical_jobs')}, {r.get('arima_approximation')}"),
            ("model scoring, per origin", lambda r: number(r.get("model_ms_per_origin"), 3, " ms")),
            ("reference baselines, per origin (÷ model)", lambda r: f"{number(r.get('reference_ms_per_origin'), 3, ' ms')} ({number(r.get('reference_vs_model'), 1, '×')})"),
            ("**fitted baselines cold, per origin** (÷ model)", lambda r: f"**{number(r.get('fitted_cold_s_per_origin'), 2, ' s')}** ({number(r.get('fitted_cold_vs_model'), 0, '×')})"),
            ("fitted baselines cold, CPU s per origin (all processes)", lambda r: number(r.get("fitted_cold_cpu_s_per_origin"), 2, " s")),
            ("fitted baselines cold, all origins / per series", lambda r: f"{number(r.get('fitted_cold_s_all_origins'), 1, ' s')} / {number(r.get('fitted_cold_s_per_series'), 1, ' s')}"),
            ("fitted baselines cached, per origin (÷ model)", lambda r: f"{number(r.get('fitted_cached_ms_per_origin'), 2, ' ms')} ({number(r.get('fitted_cached_vs_model'), 1, '×')})"),
            ("serial: MSTL decomposition / ETS trend / ARIMA trend", lambda r: f"{serial(r, 'mstl_decomposition')} / {serial(r, 'ets_trend')} / {serial(r, 'arima_trend')}"),
            ("load average before / after (other work on the machine)", lambda r: " / ".join(number(x, 1) for x in r.get("load_average", [None, None]))),
        ],
    )  # fmt: skip


def scale(runs: list[Run]) -> list[str]:
    """A table per run: one row per series count, the ratios, and the fitted baselines' cost."""
    stages = ("ingest", "validate", "train", "evaluate")
    lines: list[str] = []
    for index, run in enumerate(runs, start=1):
        overrides = ", ".join(
            f"`{section}.{key}: {value}`"
            for section, values in run.get("overrides", {}).items()
            for key, value in values.items()
        )
        lines += [
            f"Run {index} (`{run.get('profile')}`: {overrides}; OMP_NUM_THREADS={run.get('omp_num_threads')}):",
            "",
            "| series | rows | ingest s (rows/s) | validate s (rows/s) | train s (windows/s) | train: epoch s, windows trained/epoch of all | evaluate s (windows/s) | peak MiB i / v / t / e | whole run s (wall) | model MAE | load before / after |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]  # fmt: skip
        for count in run.get("counts", []):
            ingest, validate, train, evaluate = (count[s] for s in stages)
            lines.append(
                f"| {number(count['series'])} | {number(count['rows'])} "
                f"| {number(ingest['work_s'], 1)} ({number(ingest.get('rows_per_s'))}) "
                f"| {number(validate['work_s'], 1)} ({number(validate.get('rows_per_s'))}) "
                f"| {number(train['work_s'], 1)} ({number(train.get('windows_per_s'))}) "
                f"| {number(train.get('epoch_s'), 2)}, {number(count.get('windows_per_epoch'))} of {number(count.get('train_windows'))} "
                f"| {number(evaluate['work_s'], 1)} ({number(evaluate.get('windows_per_s'))}) "
                f"| {' / '.join(number(count[s]['peak_mib']) for s in stages)} "
                f"| {number(count.get('total_s'), 0)} | {number(count.get('model_mae'), 1)} "
                f"| {' / '.join(number(x, 1) for x in count.get('load_average', [None, None]))} |"
            )
        ratios = run.get("ratios")
        if ratios:
            largest, tenth = ratios["counts"]
            shown = ", ".join(f"{s} **{ratios[s]:.2f}**" for s in stages)
            lines += [
                "",
                f"Work at {largest:,} ÷ at {tenth:,} series: {shown}; whole run (wall) "
                f"{ratios['total']:.2f} (goal: each at most 10).",
            ]
        fits = run.get("fit_cost")
        if fits:
            lines += [
                "",
                f"Fitted baselines ({', '.join(fits['methods'])}; {fits['history_steps']:,} steps of "
                f"history) on {fits['origins']} origins: **{fits['local_s_per_origin']:.2f} s an "
                f"origin** on {fits['processes']} processes ({fits['local_fits_per_s']:.2f} fits/s); "
                f"on a local dask cluster of as many workers, start-up included, "
                f"{fits['dask_s_per_origin']:.2f} s an origin, "
                f"{'the same numbers' if fits['dask_same_numbers'] else 'DIFFERENT numbers'}.",
            ]
        lines.append("")
    return lines[:-1]


RENDERERS: dict[str, Callable[[list[Run]], list[str]]] = {
    "train_throughput": train_throughput,
    "data_scale": data_scale,
    "serve_load": serve_load,
    "evaluate_cost": evaluate_cost,
    "real_series": real_series,
    "interval_calibration": interval_calibration,
    "scale": scale,
}


def generic(runs: list[Run]) -> list[str]:
    """A benchmark this script does not know yet: its top-level figures, one column per run."""
    keys = sorted({k for run in runs for k, v in run.items() if isinstance(v, int | float)})
    return table(runs, [(key, lambda r, key=key: number(r.get(key), 3)) for key in keys])


def render(runs: dict[str, list[Run]]) -> str:
    """The whole page: the header, then one section per benchmark (known ones first)."""
    lines = [HEADER]
    for name in [*RENDERERS, *sorted(set(runs) - set(RENDERERS))]:
        title, about = ABOUT.get(name, (name, f"`benchmarks/{name}.py`."))
        lines += [f"## {title}", "", about, ""]
        if name not in runs:
            lines += ["No results yet: run `make bench`.", ""]
            continue
        lines += ["Runs:", ""]
        lines += [f"{i}. {provenance(run)}" for i, run in enumerate(runs[name], start=1)]
        lines += ["", *RENDERERS.get(name, generic)(runs[name]), ""]
        notes = [run["meta"]["notes"] for run in runs[name] if run.get("meta", {}).get("notes")]
        lines += [*(f"{note}\n" for note in notes)]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, default=BENCH)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(load_runs(args.bench)))
    print(f"wrote {args.output} from {args.bench}/*.json")


if __name__ == "__main__":
    main()
