"""A corpus of bad inputs through the real ingest and validate stages.

Each case writes a broken source (or setting), runs ``ingest`` then ``validate`` as ``dvc repro``
would, and expects exit 1 with a message naming the problem, never a traceback or a snapshot
that validate lets through.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines import ingest, validate
from tests.conftest import synthetic_series, tiny_params, write_params

pytestmark = pytest.mark.slow

Case = Callable[[Path, dict], None]  # writes the source into the folder, edits the params


def _csv(frame: pd.DataFrame, name: str = "demand.csv") -> Case:
    def write(folder: Path, params: dict) -> None:
        frame.to_csv(folder / name, index=False)
        params["ingest"]["source"] = name

    return write


def _good() -> pd.DataFrame:
    return synthetic_series(days=21)


def _with(column: str, row: int, value: object) -> pd.DataFrame:
    frame = _good().astype({column: object})
    frame.loc[row, column] = value
    return frame


def _raw_file(name: str, content: bytes) -> Case:
    def write(folder: Path, params: dict) -> None:
        (folder / name).write_bytes(content)
        params["ingest"]["source"] = name

    return write


def _setting(section: str, **changes: object) -> Case:
    def write(folder: Path, params: dict) -> None:
        _good().to_csv(folder / "demand.csv", index=False)
        params[section].update(changes)

    return write


def _shifted_minutes(row: int, minutes: int) -> pd.DataFrame:
    frame = _good()
    frame.loc[row, "timestamp"] += pd.Timedelta(minutes=minutes)
    return frame


def _two_sites_one_short() -> pd.DataFrame:
    long = _good().assign(site="north")
    short = synthetic_series(days=2).assign(site="south")
    return pd.concat([long, short], ignore_index=True)


def _gap_beyond_the_fill_bound(folder: Path, params: dict) -> None:
    _good().drop(index=range(300, 303)).to_csv(folder / "demand.csv", index=False)
    params["validate"].update(on_gap="fill", max_fill_steps=1)


def _text(lines: list[str], encoding: str = "utf-8", **ingest_settings: object) -> Case:
    """A CSV written by hand: header plus rows, in ``encoding``."""

    def write(folder: Path, params: dict) -> None:
        (folder / "demand.csv").write_bytes("\n".join(lines).encode(encoding))
        params["ingest"]["source"] = "demand.csv"
        params["ingest"].update(ingest_settings)

    return write


def _good_lines(separator: str = ",", stamp: Callable[[pd.Timestamp], str] = str) -> list[str]:
    frame = _good()
    rows = [
        f"{stamp(t)}{separator}{v:.1f}"
        for t, v in zip(frame["timestamp"], frame["value"], strict=True)
    ]
    return [f"timestamp{separator}value", *rows]


def _london(when: pd.Timestamp) -> str:
    return when.tz_localize("UTC").tz_convert("Europe/London").isoformat()


def _half_with_offsets() -> list[str]:
    lines = _good_lines()
    return lines[:200] + [line.replace(",", "+00:00,", 1) for line in lines[200:]]


def _sites_latin1(folder: Path, params: dict) -> None:
    _good().assign(site="Besançon").to_csv(folder / "demand.csv", index=False, encoding="latin-1")
    params["ingest"]["columns"] = {"series_id": "site"}


def _web_source(name: str) -> Case:
    def write(folder: Path, params: dict) -> None:
        params["ingest"]["source"] = f"{WEB['url']}/{name}"

    return write


def _blank_site(folder: Path, params: dict) -> None:
    frame = _good().assign(site="north")
    frame.loc[9, "site"] = None
    _csv(frame)(folder, params)
    params["ingest"]["columns"] = {"series_id": "site"}


def _silent_source(folder: Path, params: dict) -> None:
    params["ingest"].update(source=f"{WEB['silent']}/demand.csv", timeout_s=1)


WEB: dict[str, str] = {}  # the loopback servers' addresses, set by the ``web_server`` fixture


def _wrong_pin(folder: Path, params: dict) -> None:
    _good().to_csv(folder / "demand.csv", index=False)
    params["ingest"]["sha256"] = hashlib.sha256(b"another file").hexdigest()


CASES: dict[str, tuple[Case, str]] = {
    # ingest: the source cannot be read as a series
    "missing file": (_setting("ingest", source="nowhere.csv"), "does not exist"),
    "unsupported type": (_raw_file("demand.json", b"{}"), "unsupported file type"),
    "no value column": (_csv(_good().rename(columns={"value": "load"})), "lacks column"),
    "no timestamp column": (_csv(_good().rename(columns={"timestamp": "t"})), "lacks column"),
    "words as timestamps": (_csv(_with("timestamp", 5, "yesterday")), "not timestamps"),
    "header only": (_csv(_good().iloc[:0]), "holds no rows"),
    "empty file": (_raw_file("demand.csv", b""), "could not be read as a table"),
    "garbage parquet": (_raw_file("demand.parquet", b"PAR1 not really"), "could not be read"),
    "binary as csv": (_raw_file("demand.csv", bytes(range(256)) * 4), "could not be read"),
    "server unreachable": (
        _setting("ingest", source="http://127.0.0.1:9/demand.csv"),
        "could not be reached",
    ),
    "unknown protocol": (_setting("ingest", source="nosuch://bucket/x.csv"), "nosuch"),
    "unknown built-in": (_setting("ingest", source="builtin:nope"), "unknown built-in"),
    "pin on a built-in": (
        _setting("ingest", source="builtin:taylor", sha256="0" * 64),
        "built-in data set",
    ),
    "changed pinned file": (_wrong_pin, "the file changed"),
    "cutoff before the data": (_setting("ingest", until="1999-01-01"), "before the first"),
    "cutoff not a date": (_setting("ingest", until="last tuesday"), "ISO timestamp"),
    "URL that 404s": (_web_source("no-such-export.csv"), "was not found"),
    "server that never answers": (_silent_source, "did not answer within 1 s"),
    "wrong delimiter": (_text(_good_lines(";")), 'set ingest.csv.delimiter: ";"'),
    "wrong encoding": (_sites_latin1, "set ingest.csv.encoding"),
    "unknown encoding": (_setting("ingest", csv={"encoding": "klingon"}), "unknown encoding"),
    "naive and offset timestamps mixed": (
        _text(_half_with_offsets()),
        "mixes timestamps with a UTC offset and without one",
    ),
    "clock change without a zone": (
        _text(_good_lines(stamp=lambda t: _london(t + pd.Timedelta(days=80)))),
        "set ingest.timezone",
    ),
    "unknown time zone": (_setting("ingest", timezone="Mars/Olympus"), "unknown time zone"),
    "day-first dates after a month-first guess": (
        _text(_good_lines(stamp=lambda t: t.strftime("%d/%m/%Y %H:%M"))),
        "not timestamps in the format '%m/%d/%Y %H:%M'",
    ),
    "dates not in the declared format": (
        _text(_good_lines(), timestamp_format="%d/%m/%Y %H:%M"),
        "not timestamps in ingest.timestamp_format",
    ),
    "epoch seconds undeclared": (
        _text(_good_lines(stamp=lambda t: str(int(t.timestamp())))),
        "timestamp_format: unix",
    ),
    # validate: the snapshot breaks the contract
    "NaN value": (_csv(_with("value", 50, float("nan"))), "NaN"),
    "text value": (_csv(_with("value", 50, "ERR")), "'ERR' (line 52)"),
    "infinite value": (_csv(_with("value", 50, np.inf)), "finite and plausible"),
    "negative value": (_csv(_with("value", 50, -5.0)), "finite and plausible"),
    "implausibly large": (_csv(_with("value", 50, 1e12)), "finite and plausible"),
    "duplicated timestamp": (
        _csv(pd.concat([_good(), _good().iloc[[70]]], ignore_index=True)),
        "duplicated timestamps",
    ),
    "missing rows": (_csv(_good().drop(index=range(300, 305))), "Gaps: 1 gap(s), 5 missing"),
    "irregular step": (_csv(_shifted_minutes(400, 7)), "regular at 30min"),
    "hourly data declared half-hourly": (_csv(_good().iloc[::2]), "Gaps:"),
    "too short": (_csv(synthetic_series(days=2)), "at least"),
    "one short series of two": (
        _setting("ingest", source="sites.csv", columns={"series_id": "site"}),
        "at least",
    ),
    "gap too long to fill": (_gap_beyond_the_fill_bound, "longer than validate.max_fill_steps"),
    "empty timestamp cell": (_csv(_with("timestamp", 60, None)), "every row needs a timestamp"),
    "empty series name": (_blank_site, "every row needs a series"),
}


@pytest.fixture(scope="module", autouse=True)
def web_server(tmp_path_factory):
    """A real HTTP server on loopback over an empty folder (there is no internet here)."""
    import functools
    import http.server
    import socket
    import threading

    root = tmp_path_factory.mktemp("web")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    WEB["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    # A server that accepts connections and never sends a byte: ingest must not hang on it.
    silent = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(silent.accept()[0]), daemon=True).start()
    WEB["silent"] = f"http://127.0.0.1:{silent.getsockname()[1]}"
    yield
    server.shutdown()
    for connection in [*held, silent]:
        connection.close()


@pytest.fixture
def corpus_workspace(workspace: Path) -> Path:
    _two_sites_one_short().to_csv(workspace / "sites.csv", index=False)
    return workspace


def _set_up(folder: Path, write: Case) -> None:
    """Write the case's source into ``folder`` and its params.yaml (tiny params, edited)."""
    params = tiny_params("demand.csv")
    write(folder, params)
    write_params(folder, params)


@pytest.mark.parametrize("name", list(CASES))
def test_each_bad_input_stops_with_a_message_that_names_it(corpus_workspace, caplog, name):
    write, message = CASES[name]
    _set_up(corpus_workspace, write)

    with caplog.at_level(logging.WARNING):
        codes = [ingest.main([])]
        if codes[0] == 0:
            codes.append(validate.main([]))
    assert codes[-1] == 1, f"{name}: every stage passed"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors, name
    assert message in caplog.text, caplog.text
    assert "Traceback" not in caplog.text
    assert not (corpus_workspace / "data/validated").exists()  # nothing reaches training


def test_the_corpus_has_at_least_25_cases():
    assert len(CASES) >= 25


# Untidy but well-formed files that a new user's settings (or none) should read, and the line
# in the log that says what was done with them.
ACCEPTED: dict[str, tuple[Case, str]] = {
    "newest first": (_csv(_good().iloc[::-1]), "were not in time order: sorted"),
    "extra columns": (_csv(_good().assign(temperature=3.5, note="ok")), "new snapshot"),
    "semicolons with the delimiter set": (
        _text(_good_lines(";"), csv={"delimiter": ";"}),
        "new snapshot",
    ),
    "latin-1 with the encoding set": (
        lambda folder, params: (
            _sites_latin1(folder, params),
            params["ingest"].update(csv={"encoding": "latin-1"}),
        ),
        "1 series",
    ),
    "a clock change kept in UTC": (
        _text(_good_lines(stamp=lambda t: _london(t + pd.Timedelta(days=80))), timezone="UTC"),
        "new snapshot",
    ),
    "day-first dates with their format": (
        _text(
            _good_lines(stamp=lambda t: t.strftime("%d/%m/%Y %H:%M")),
            timestamp_format="%d/%m/%Y %H:%M",
        ),
        "new snapshot",
    ),
    "epoch seconds declared": (
        _text(_good_lines(stamp=lambda t: str(int(t.timestamp()))), timestamp_format="unix"),
        "new snapshot",
    ),
    "a byte-order mark and CRLF line ends": (
        lambda folder, params: (
            (folder / "demand.csv").write_bytes(
                b"\xef\xbb\xbf" + "\r\n".join(_good_lines()).encode()
            ),
            params["ingest"].update(source="demand.csv"),
        ),
        "new snapshot",
    ),
}


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_untidy_but_declared_inputs_pass_and_say_what_was_done(workspace, caplog, name):
    write, message = ACCEPTED[name]
    _set_up(workspace, write)
    with caplog.at_level(logging.INFO):
        assert ingest.main([]) == 0, caplog.text
        assert validate.main([]) == 0, caplog.text
    assert message in caplog.text
    train = pd.read_parquet(workspace / "data/validated/train.parquet")
    assert train["timestamp"].is_monotonic_increasing
    assert train["timestamp"].diff().dropna().eq(pd.Timedelta(minutes=30)).all()
