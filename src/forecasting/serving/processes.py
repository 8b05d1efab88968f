"""Servers that end with their owner, start only on a free port, and fail fast when they cannot.

``start_owned`` runs a server in its own session (so Ctrl-C in a terminal reaches only its
owner) with a parent-death signal (``PR_SET_PDEATHSIG``: the kernel sends it SIGTERM when the
owner dies, ``kill -9`` included), plus a small watchdog process outside both groups that kills
the server's whole group, workers included, once the owner is gone. ``startup_failure`` reads a
BentoML log for a worker that could not start: BentoML restarts such a worker forever while
``/readyz`` hangs, so the owner stops the server instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from forecasting.core.errors import ForecastingError

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
# Lines BentoML logs when a worker cannot start (its service failed to initialise).
STARTUP_FAILED = ("Application startup failed", "Initializing service error")

# The watchdog: polls its parent (the owner); once it is gone, TERM then KILL the server group.
_WATCHDOG = """
import os, signal, sys, time
owner, group = int(sys.argv[1]), int(sys.argv[2])
def alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
while os.getppid() == owner and alive(group):
    time.sleep(0.2)
if alive(group):
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while alive(group) and time.monotonic() < deadline:
            time.sleep(0.1)
"""


class PortBusy(ForecastingError):
    """The port a server should listen on is taken; the message names who holds it."""


class ServerFailed(ForecastingError):
    """A server exited, or could not start, or did not become ready in time."""


def _die_with_parent() -> None:
    """In the child, before exec: its own session, and SIGTERM when the parent dies."""
    os.setsid()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                # local address "ADDR:PORT" in hex; state 0A is LISTEN
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                    inodes.add(fields[9])
    return inodes


def port_holder(port: int) -> str:
    """Who listens on ``port`` on this host: "pid N (command line)", or a plain description."""
    inodes = _listening_inodes(port)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                    return f"pid {proc.name} ({command.strip()[:120]})"
    return "another process (not visible to this user)"


def require_free_port(host: str, port: int) -> None:
    """Raise ``PortBusy`` naming the holder when ``host:port`` cannot be bound."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            if err.errno != errno.EADDRINUSE:
                raise
            holder = port_holder(port)
            stop = f"`kill {holder.split()[1]}`" if holder.startswith("pid ") else "stop it"
            raise PortBusy(
                f"port {port} on {host} is already in use by {holder}: {stop}, or serve on "
                "another port (SERVE_PORT=...)"
            ) from None


@dataclass
class OwnedServer:
    """A server process (leading its own process group) and its watchdog."""

    process: subprocess.Popen[bytes]
    watchdog: subprocess.Popen[bytes]

    def stop(self, grace_s: float = 15.0) -> None:
        """TERM the server's group, KILL it after ``grace_s``; then end the watchdog."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # workers that outlived their arbiter
        self.watchdog.kill()
        self.watchdog.wait()


def start_owned(argv: list[str], env: dict[str, str], stdout: IO[bytes] | int) -> OwnedServer:
    """Start ``argv`` as a server that dies with this process, ``kill -9`` included."""
    process = subprocess.Popen(
        argv, env=env, stdout=stdout, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
    )
    watchdog = subprocess.Popen(
        [sys.executable, "-I", "-c", _WATCHDOG, str(os.getpid()), str(process.pid)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,  # outside our group: a kill of our group leaves it to clean up
    )
    return OwnedServer(process, watchdog)


def startup_failure(log_text: str) -> str | None:
    """The error a BentoML worker failed to start with, if the log shows one; else None."""
    lines = log_text.splitlines()
    if not any(marker in line for line in lines for marker in STARTUP_FAILED):
        return None
    errors = [
        line.strip()
        for line in lines
        if ("Error" in line or "Exception" in line)
        and not line.startswith(" ")
        and "Traceback" not in line
        and not any(marker in line for marker in STARTUP_FAILED)
    ]
    return errors[-1][:400] if errors else "see the server log"


def describe(process: Any) -> str:
    """How a finished process ended, for messages."""
    code = process.returncode
    return (
        f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with {code}"
    )


def _ready(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except (OSError, ValueError):
        return False


def supervise(argv: list[str], env: dict[str, str], ready_url: str, timeout_s: float) -> None:
    """Run a server in the foreground until it ends or this process is told to stop.

    Its output is passed through; a worker that cannot start stops the whole server (BentoML
    would restart it forever while ``/readyz`` hangs). SIGTERM/SIGINT stop it cleanly.

    Raises:
        ServerFailed: if the server exits on its own, a worker fails to start, or it is not
            ready within ``timeout_s``.

    """
    import threading
    import time

    owned = start_owned(argv, env, subprocess.PIPE)
    lines: list[str] = []
    failed = threading.Event()

    def pump() -> None:
        assert owned.process.stdout is not None
        for raw in owned.process.stdout:
            sys.stdout.buffer.write(raw)
            sys.stdout.flush()
            lines.append(raw.decode(errors="replace"))
            del lines[:-300]  # keep the tail only
            if any(marker in lines[-1] for marker in STARTUP_FAILED):
                failed.set()

    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=pump, daemon=True).start()
    deadline, ready = time.monotonic() + timeout_s, False
    try:
        while not stop.is_set():
            if owned.process.poll() is not None:
                raise ServerFailed(f"the server {describe(owned.process)}")
            if failed.is_set():
                time.sleep(0.5)  # let the error lines arrive
                reason = startup_failure("".join(lines)) or "see the log above"
                raise ServerFailed(
                    f"a worker could not start ({reason}); the server was stopped instead of "
                    "restarting it forever"
                )
            if not ready:
                ready = _ready(ready_url)
                if ready:
                    logger.info("ready: %s", ready_url)
                elif time.monotonic() > deadline:
                    raise ServerFailed(f"the server was not ready within {timeout_s:.0f}s")
            time.sleep(0.25)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        owned.stop()
