"""The problem signature a registered version carries, and which versions share a problem."""

from __future__ import annotations

from forecasting.registry.problem import Problem, recorded_signature, series_digest

HALF_HOURLY = Problem.of("30min", 48, 384, "MW", ["taylor"])


def test_the_signature_is_tags_and_reads_back_the_same():
    tags = HALF_HOURLY.as_tags()
    assert tags["problem.freq"] == "30min" and tags["problem.series_count"] == "1"
    assert HALF_HOURLY.differences(recorded_signature(tags, None)) == []


def test_the_series_set_counts_not_its_order_or_repeats():
    assert series_digest(["b", "a", "a"]) == series_digest(["a", "b"]) != series_digest(["a"])


def test_another_frequency_or_series_set_is_another_problem():
    weekly = Problem.of("W-SAT", 13, 52, "ppm", ["series"])
    differences = weekly.differences(recorded_signature(HALF_HOURLY.as_tags(), None))
    assert differences[:3] == ["freq 30min -> W-SAT", "horizon 48 -> 13", "input_length 384 -> 52"]
    more = Problem.of("30min", 48, 384, "MW", ["taylor", "north"])
    assert more.differences(recorded_signature(HALF_HOURLY.as_tags(), None)) == [
        f"series {HALF_HOURLY.series} -> {more.series}",
        "series_count 1 -> 2",
    ]


def test_a_version_from_before_signatures_is_judged_on_its_run_settings():
    legacy = {"freq": "30min", "horizon": "48", "input_length": "384", "cell": "lstm"}
    assert recorded_signature({"run_id": "x"}, legacy) == {
        "freq": "30min",
        "horizon": "48",
        "input_length": "384",
    }
    assert HALF_HOURLY.differences(recorded_signature({}, legacy)) == []  # the default problem
    daily = Problem.of("B", 20, 60, "USD", ["msft"])
    assert daily.differences(recorded_signature({}, legacy))[0] == "freq 30min -> B"
    assert recorded_signature({}, None) == {}  # nothing known: not comparable
