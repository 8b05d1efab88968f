"""Fetching a source's bytes: a local file read in place or any fsspec URL, pinned by sha256.

Nothing is parsed here (``forecasting.data.sources`` does that); a source that cannot be read, or
whose bytes are not the pinned ones, raises ``SourceError`` before anything is written.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecasting.core.files import file_sha256

DEFAULT_TIMEOUT_S = 60.0  # seconds a URL source may stay silent (ingest.timeout_s)


class SourceError(ValueError):
    """A source cannot be read into a series; the message says what to change."""


@dataclass(frozen=True)
class Fetched:
    """A fetched source and its sha256; nothing to read for a built-in data set.

    A local file is read in place (``path``), so a 400 MB CSV is never also held as bytes;
    a URL's bytes are downloaded into ``data``.
    """

    source: str
    data: bytes | None
    sha256: str | None
    path: Path | None = None

    @property
    def is_builtin(self) -> bool:
        """Whether this is a built-in data set (nothing was read)."""
        return self.data is None and self.path is None

    @property
    def size(self) -> int:
        """Bytes in the source (0 for a built-in data set)."""
        if self.path is not None:
            return self.path.stat().st_size
        return len(self.data or b"")

    def readable(self) -> Path | io.BytesIO:
        """What pandas and pyarrow read: the file itself, or a fresh buffer over the bytes."""
        return self.path if self.path is not None else io.BytesIO(self.data or b"")

    def head(self, count: int) -> bytes:
        """The first ``count`` bytes."""
        if self.path is not None:
            with self.path.open("rb") as handle:
                return handle.read(count)
        return (self.data or b"")[:count]


def is_url(source: str) -> bool:
    """``http(s)://``, ``s3://``, ``gs://``, ``file://``... : anything fsspec opens."""
    return "://" in source


def fetch(
    source: str, expected_sha256: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
) -> Fetched:
    """Read a source's bytes (a local path or any fsspec URL), checking a pinned sha256.

    Raises:
        SourceError: if the source cannot be read, or its bytes do not match ``expected_sha256``.

    """
    if source.startswith("builtin:"):
        if expected_sha256:
            raise SourceError(
                f"ingest.sha256 pins a file's bytes; {source!r} is a built-in data set: remove it"
            )
        return Fetched(source, None, None)
    if is_url(source):
        data = _read_url(source, timeout_s)
        fetched = Fetched(source, data, hashlib.sha256(data).hexdigest())
    else:
        path = _local_file(source)
        fetched = Fetched(source, None, file_sha256(path), path)
    if expected_sha256 and fetched.sha256 != expected_sha256.lower():
        raise SourceError(
            f"source {source!r} has sha256 {fetched.sha256}, but ingest.sha256 pins "
            f"{expected_sha256}: the file changed. Check the new data, then update the pin (or "
            "remove it)."
        )
    return fetched


def _local_file(source: str) -> Path:
    path = Path(source)
    if not path.is_file():
        raise SourceError(
            f"source file {source!r} does not exist (relative paths start at the repo root)"
        )
    return path


def _open_options(source: str, timeout_s: float) -> dict[str, Any]:
    if not source.lower().startswith(("http://", "https://")):
        return {}
    import aiohttp

    # Connecting, and each read, may take timeout_s: a slow download goes on, a silent server
    # ends the stage instead of hanging it.
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout_s, sock_read=timeout_s)
    return {"client_kwargs": {"timeout": timeout}}


def _silent(source: str, timeout_s: float) -> SourceError:
    return SourceError(
        f"source {source!r} did not answer within {timeout_s:g} s (ingest.timeout_s)"
    )


def _read_url(source: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> bytes:
    import fsspec

    try:
        with fsspec.open(source, "rb", **_open_options(source, timeout_s)) as stream:
            return bytes(stream.read())
    except TimeoutError as err:  # aiohttp's timeouts are TimeoutErrors too
        raise _silent(source, timeout_s) from err
    except FileNotFoundError as err:
        cause = err.__cause__ or err.__context__
        if isinstance(cause, TimeoutError):  # fsspec reports a silent server as "not found"
            raise _silent(source, timeout_s) from err
        if isinstance(cause, OSError | ConnectionError) or "Connect" in type(cause).__name__:
            raise SourceError(f"source {source!r} could not be reached: {cause}") from err
        raise SourceError(f"source {source!r} was not found (404 or no such object)") from err
    except ImportError as err:  # s3fs, gcsfs, adlfs are extras
        raise SourceError(
            f"source {source!r} needs an fsspec driver that is not installed: {err}"
        ) from err
    except ValueError as err:  # unknown protocol
        raise SourceError(f"source {source!r}: {err}") from err
    except Exception as err:  # network errors come in many types (aiohttp, botocore, OS)
        raise SourceError(f"source {source!r} could not be downloaded: {err}") from err
