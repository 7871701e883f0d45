"""A throwaway PostgreSQL server for tests and benchmarks.

``with ephemeral_postgres() as url:`` runs ``initdb`` and ``pg_ctl`` from the machine's
PostgreSQL binaries into a temporary directory, listens on a free loopback port (and a unix
socket inside that directory) and yields a SQLAlchemy URL ``postgresql+psycopg://...``.
PostgreSQL refuses to run as root, so when the caller is root the server runs as the
``postgres`` OS user through ``runuser`` (or ``su``).

``wait_for(condition, timeout)`` polls a condition in a test (no timed assertion beyond a
generous bound).

For pytest fixtures: ``with postgres_for_tests() as url:`` skips the test when no server can
start, except with ``CI=true``, where that fails it (``required_in_ci`` applies the same rule
to any server or tool a test needs).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import NoReturn, TypeVar

_T = TypeVar("_T")

_SERVER_USER = "postgres"
_DATABASE = "postgres"


class PostgresUnavailableError(RuntimeError):
    """The machine has no PostgreSQL server binaries (or cannot run them)."""


def find_postgres_bin() -> Path:
    """Directory holding ``initdb`` and ``pg_ctl``; newest version under /usr/lib first."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    for directory in candidates:
        if (Path(directory) / "initdb").exists() and (Path(directory) / "pg_ctl").exists():
            return Path(directory)
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    msg = (
        "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin "
        "or on PATH; install PostgreSQL (e.g. `apt-get install postgresql`)."
    )
    raise PostgresUnavailableError(msg)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    """Prefix `command` so it runs as the ``postgres`` user when we are root."""
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser"):
        return ["runuser", "-u", _SERVER_USER, "--", *command]
    if shutil.which("su"):
        return ["su", _SERVER_USER, "-s", "/bin/sh", "-c", shlex.join(command)]
    msg = "Running as root but neither `runuser` nor `su` is available to start PostgreSQL."
    raise PostgresUnavailableError(msg)


def _run(command: list[str]) -> None:
    result = subprocess.run(_as_server_user(command), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        msg = f"{Path(command[0]).name} failed ({result.returncode}): {result.stderr.strip()}"
        raise PostgresUnavailableError(msg)


def _hand_to_server_user(directory: Path) -> None:
    if os.geteuid() != 0:
        return
    try:
        shutil.chown(directory, user=_SERVER_USER, group=_SERVER_USER)
    except LookupError as exc:
        msg = f"Running as root but the OS user {_SERVER_USER!r} does not exist."
        raise PostgresUnavailableError(msg) from exc


@contextlib.contextmanager
def ephemeral_postgres() -> Iterator[str]:
    """Start a throwaway PostgreSQL server and yield its SQLAlchemy URL; remove it on exit.

    Raises:
        PostgresUnavailableError: the binaries are missing or the server does not start.

    """
    bin_dir = find_postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="ephemeral-pg-"))
    root.chmod(0o755)
    _hand_to_server_user(root)
    data_dir, socket_dir = root / "data", root / "socket"
    port = _free_port()
    started = False
    try:
        _run([str(bin_dir / "initdb"), "-D", str(data_dir), "-U", _SERVER_USER, "-A", "trust"])
        _run(["mkdir", "-p", str(socket_dir)])
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -k {socket_dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        _run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data_dir),
                "-l",
                str(root / "server.log"),
                "-o",
                options,
                "-w",
                "start",
            ]
        )
        started = True
        yield f"postgresql+psycopg://{_SERVER_USER}@127.0.0.1:{port}/{_DATABASE}"
    finally:
        if started:
            with contextlib.suppress(PostgresUnavailableError):
                _run([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "immediate", "stop"])
        shutil.rmtree(root, ignore_errors=True)


def skip_or_fail(what: str, reason: object) -> NoReturn:
    """Skip the calling test because `what` is missing; with ``CI=true`` fail it instead."""
    import pytest

    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} is required in CI: {reason}")
    pytest.skip(f"{what} unavailable: {reason}")


@contextlib.contextmanager
def required_in_ci(
    server: AbstractContextManager[_T], unavailable: type[Exception], what: str
) -> Iterator[_T]:
    """Enter `server` for a test; if it raises `unavailable`, `skip_or_fail` names `what`."""
    try:
        with server as value:
            yield value
    except unavailable as exc:
        skip_or_fail(what, exc)


def postgres_for_tests() -> AbstractContextManager[str]:
    """`ephemeral_postgres()` for a fixture: a skip without PostgreSQL, a failure in CI."""
    return required_in_ci(ephemeral_postgres(), PostgresUnavailableError, "PostgreSQL")


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    """Poll `condition` until it holds (fails the test after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)
