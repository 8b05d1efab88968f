"""A markdown model card for each registered version.

It says what the model was trained on, how, how it scored, why it was (not) promoted, and what
it is not for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forecasting.core.files import read_json, write_atomically
from forecasting.evaluation.interval_scores import coverage_text


def _table(rows: list[tuple[str, dict[str, float]]]) -> list[str]:
    lines = ["| forecaster | MAE | RMSE | MAPE % | sMAPE % | MASE |", "|---|---|---|---|---|---|"]
    for name, m in rows:
        lines.append(
            f"| {name} | {m['mae']:.1f} | {m['rmse']:.1f} | {m.get('mape', float('nan')):.2f} "
            f"| {m['smape']:.2f} | {m['mase']:.3f} |"
        )
    return lines


def _rows(evaluation: dict[str, Any]) -> list[tuple[str, dict[str, float]]]:
    """One protocol's rows: the model, the champion, then the baselines from the best."""
    rows = [("**this model**", evaluation["model"])]
    if "model_base" in evaluation:
        rows.append(("its seasonal base alone (no network)", evaluation["model_base"]))
    if "champion" in evaluation:
        rows.append((f"champion v{evaluation['champion']['version']}", evaluation["champion"]))
    return rows + sorted(evaluation["baselines"].items(), key=lambda item: item[1]["mae"])


def _daily(evaluation: dict[str, Any]) -> list[str]:
    daily = evaluation.get("daily")
    if not daily:
        return []
    return [
        "",
        f"One a day ({daily['origins']} of the same origins, every {daily['origin_step']} steps), "
        "for comparison with earlier reports:",
        "",
        *_table(_rows(daily)),
    ]


def _interval_lines(intervals: dict[str, dict[str, float]]) -> list[str]:
    """The prediction intervals' test figures, one line per level (none for older models)."""
    return [
        *(
            f"- {level} % interval: covered {coverage_text(s)} of the test actuals, "
            f"mean width {s['mean_width']:.1f}, Winkler score {s['winkler']:.1f}"
            for level, s in intervals.items()
        ),
        *([""] if intervals else []),
    ]


def render_model_card(
    name: str,
    version: str,
    data: dict[str, Any],
    validation: dict[str, Any],
    training: dict[str, Any],
    train_params: dict[str, Any],
    evaluation: dict[str, Any],
    decision: dict[str, Any],
) -> str:
    """The card as markdown, from the stages' own reports (manifest, summaries, metrics, decision).

    Long on purpose: one markdown template, read top to bottom like the card it writes.
    """
    rows = _rows(evaluation)
    evidence = decision.get("evidence", {}).get("vs_best_baseline") or {}
    lines = [
        f"# Model card: {name} v{version}",
        "",
        "## Intended use",
        "",
        f"Day-ahead forecasts ({train_params['horizon']} steps) of a regularly sampled demand "
        f"series from its last {train_params['input_length']} observations, for planning and "
        "monitoring with a person in the loop.",
        "",
        "## Data",
        "",
        f"- source: `{data.get('source')}`, {data.get('rows')} rows, "
        f"{data.get('series_count', len(data.get('series', [])))} series: "
        f"{', '.join(map(str, data.get('series', [])[:10]))}"
        f"{' ...' if len(data.get('series', [])) > 10 else ''}",
        f"- range: {data.get('first_timestamp')} to {data.get('last_timestamp')}",
        f"- snapshot `{data.get('snapshot')}`, sha256 `{data.get('sha256')}`",
        f"- validation: {'passed' if validation.get('success') else 'FAILED'} "
        f"({validation.get('evaluated', '?')} expectations)",
        "",
        "## Training",
        "",
        f"- {train_params['cell'].upper()}, hidden {train_params['hidden_size']}, "
        f"{train_params['num_layers']} layer(s), lag mixture {train_params.get('lag_mixture')}, "
        f"weekly trend {train_params.get('weekly_trend')}",
        f"- weights of epoch {training.get('kept_epoch', training.get('best_epoch'))} of "
        f"{training.get('epochs_run')} (best validation epoch {training.get('best_epoch')}), "
        f"{training.get('train/seconds', 0):.1f} s at "
        f"{training.get('train/samples_per_second', 0):,.0f} samples/s on {training.get('device', '?')}",
        "- params: " + ", ".join(f"`{k}={v}`" for k, v in train_params.items()),
        "",
        f"## Evaluation ({evaluation['origins']} test origins"
        f"{', every ' + str(evaluation['origin_step']) + ' steps' if 'origin_step' in evaluation else ''}"
        ", the same for every row; the gate judges these)",
        "",
        *_table(rows),
        *_daily(evaluation),
        "",
        *_interval_lines(evaluation.get("intervals") or {}),
        "## Promotion",
        "",
        f"- promoted: **{decision.get('promoted')}**; champion after: v{decision.get('champion_after')}",
        f"- reason: {decision.get('reason')}",
    ]
    if evidence:
        lines.append(
            f"- evidence vs {evidence['reference']}: {evidence['test']}, mean difference "
            f"{evidence['mean_difference']:+.1f}, {evidence['confidence']:.0%} CI "
            f"[{evidence['ci_low']:+.1f}, {evidence['ci_high']:+.1f}], p = {evidence['p_value']:.3f}"
        )
    lines += [
        "",
        "## Limits",
        "",
        "- Trained on one period of one data set: holidays, outages and regime changes unlike the "
        "training weeks are not represented; check drift before trusting it on new data.",
        "- Evaluated on a few weeks of test data: differences of a few percent between models can "
        "be noise; the gate's evidence says how much.",
        "- No weather or price covariates: the level of the next day is extrapolated from the past.",
        "",
    ]
    return "\n".join(lines)


def write_model_card(
    path: Path,
    name: str,
    version: str,
    stage_reports: Path,
    raw: Path,
    train_params: dict[str, Any],
    device: str,
    evaluation: dict[str, Any],
    decision: dict[str, Any],
) -> str:
    """Render the card from the stages' reports on disk and write it to ``path``; returns it.

    Args:
        path: where the card goes (``reports/evaluate/model_card.md``).
        name: the registered model.
        version: the registered version the card describes.
        stage_reports: the ``reports`` folder (train metrics, validate summary).
        raw: the ``data/raw`` folder (its ``manifest.json``).
        train_params: the ``train`` params.
        device: where the model was trained.
        evaluation: ``metrics.json``'s content.
        decision: ``promotion.json``'s content.

    """

    def optional(file: Path) -> dict[str, Any]:
        return dict(read_json(file)) if file.is_file() else {}

    training = optional(stage_reports / "train" / "metrics.json")
    training["device"] = device
    card = render_model_card(
        name,
        version,
        optional(raw / "manifest.json"),
        optional(stage_reports / "validate" / "summary.json"),
        training,
        train_params,
        evaluation,
        decision,
    )

    def write(target: Path) -> None:
        target.write_text(card)

    write_atomically(path, write)
    return card
