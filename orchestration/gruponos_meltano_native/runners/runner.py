"""Runs `tap | target` as two streaming processes and watches what flows between them.

The runner sits in the pipe: it reads the tap's stdout line by line, counts RECORD messages per
stream, and forwards every line unchanged to the target's stdin. Nothing is buffered beyond a
pipe's worth, so memory stays flat. The target's stdout carries the STATE it emits after each
commit; every one is handed to `on_state` (which persists it) as soon as it arrives. The target's
stderr is read for the SDK's `record_count` metrics, which give the loaded count per stream.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import msgspec

from gruponos_meltano_native.errors import ExtractError, InterruptedRun, LoadError, PlatformError
from gruponos_meltano_native.masking import Redactor
from gruponos_meltano_native.runners.child_guard import ChildGuard
from gruponos_meltano_native.runners.deletions import VersionGate
from gruponos_meltano_native.runners.exit_messages import exit_message
from gruponos_meltano_native.runners.metric_lines import add_to, record_count
from gruponos_meltano_native.runners.nul_values import count_nul_values

log = logging.getLogger(__name__)

STDERR_TAIL_LINES = 40
PROGRESS_EVERY_SECONDS = 0.5
SHUTDOWN_TIMEOUT_SECONDS = 120.0


class _Head(msgspec.Struct):
    """The two fields of a Singer message the runner needs; msgspec skips the rest unparsed."""

    type: str = ""
    stream: str = ""


@dataclass
class StreamInfo:
    """What the tap declared about a stream in its SCHEMA message."""

    key_properties: list[str] = field(default_factory=list)
    properties: set[str] = field(default_factory=set)


@dataclass
class PipeResult:
    """What one run of the pipe did."""

    extracted: dict[str, int]
    loaded: dict[str, int]
    streams: dict[str, StreamInfo]
    states_committed: int
    last_state: dict[str, Any] | None
    duration_seconds: float
    tap_exit: int
    target_exit: int
    # The tap's effective config when it differs from the orchestrator's (Meltano merges its own).
    tap_config: dict[str, Any] | None = None
    # Per stream: "activated" when its ACTIVATE_VERSION reached the target, else why not.
    deletions: dict[str, str] = field(default_factory=dict)
    # Per stream and field: RECORD values holding NUL characters (nul_values.py); None when
    # not measured (the Meltano runner does not see the records).
    nul_values: dict[str, dict[str, int]] | None = None


ProgressCallback = Callable[[dict[str, int], float], None]
StateCallback = Callable[[dict[str, Any]], None]


class _StderrWatcher(threading.Thread):
    """Copies a plugin's stderr to its log file (redacted), keeps a tail, sums its metrics."""

    def __init__(self, name: str, pipe: IO[bytes], log_path: Path, redact: Redactor) -> None:
        super().__init__(name=f"{name}-stderr", daemon=True)
        self.plugin = name
        self.pipe = pipe
        self.log_path = log_path
        self.redact = redact
        self.tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.record_counts: dict[str, int] = {}

    def run(self) -> None:
        with self.log_path.open("w", encoding="utf-8") as out:
            for raw in self.pipe:
                line = self.redact(raw.decode("utf-8", "replace").rstrip())
                out.write(line + "\n")
                if line:
                    self.tail.append(line)
                increment = record_count(line)
                if increment is not None:
                    add_to(self.record_counts, increment)

    def exit_message(self, command: Sequence[str], code: int) -> str:
        """Return the error for the plugin's exit `code`: its cause, then its last lines."""
        return exit_message(Path(command[0]).name, code, list(self.tail))


class _StateWatcher(threading.Thread):
    """Reads the STATE lines the target emits after each commit and hands them on at once."""

    def __init__(
        self,
        pipe: IO[bytes],
        on_state: StateCallback,
        redact: Redactor,
        on_error: Callable[[], None],
    ) -> None:
        super().__init__(name="target-stdout", daemon=True)
        self.pipe = pipe
        self.on_state = on_state
        self.redact = redact
        self.on_error = on_error
        self.count = 0
        self.last: dict[str, Any] | None = None
        self.error: Exception | None = None

    def run(self) -> None:
        for raw in self.pipe:
            text = raw.strip()
            if not text:
                continue
            try:
                message = json.loads(text)
            except ValueError:
                log.warning("target wrote a non-JSON line: %s", self.redact(raw.decode()[:200]))
                continue
            # SDK targets write the bare state value; a wrapped STATE message is accepted too.
            if isinstance(message, dict) and message.get("type") == "STATE":
                message = message.get("value")
            if not isinstance(message, dict) or self.error is not None:
                continue  # keep draining, so the target never blocks on a full pipe
            try:
                self.on_state(message)
            except Exception as exc:
                # A state that cannot be kept (a lost lock, a full disk) ends the run: the
                # tap is stopped, so no more is read and no deletion is mirrored.
                self.error = exc
                self.on_error()
                continue
            self.count += 1
            self.last = message


class PipeRunner:
    """Runs one `tap | target` pipe to completion."""

    def __init__(
        self,
        tap_command: Sequence[str],
        target_command: Sequence[str],
        log_dir: Path,
        redact: Redactor,
        env: dict[str, str] | None = None,
        gate: VersionGate | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        """Prepare the two commands; plugin stderr goes to `log_dir/{tap,target}.log`.

        `gate` decides which ACTIVATE_VERSION messages reach the target (default: none).
        `cancel`, once set, stops the run as a Ctrl-C would (for runs in other threads, which
        never see the KeyboardInterrupt).
        """
        self.gate = gate or VersionGate(required=None)
        self.nul_values: dict[str, dict[str, int]] = {}
        self.cancel = cancel
        self.tap_command = list(tap_command)
        self.target_command = list(target_command)
        self.log_dir = log_dir
        self.redact = redact
        self.env = env

    def _start(
        self, command: list[str], stdin: int, error: type[PlatformError]
    ) -> subprocess.Popen[bytes]:
        # A session of their own: a Ctrl-C on the terminal reaches only the orchestrator, which
        # then stops the tap and lets the target commit what it already has.
        try:
            process = subprocess.Popen(
                command,
                env=self.env,
                start_new_session=True,
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise error(f"cannot start {command[0]}: {exc}") from None
        self._guard.watch(process.pid)
        return process

    def run(
        self, on_state: StateCallback, on_progress: ProgressCallback | None = None
    ) -> PipeResult:
        """Run the pipe; raise `ExtractError`/`LoadError`/`InterruptedRun` when it fails.

        Should this process die (kill -9 included), the tap and the target die with it.
        """
        with ChildGuard() as self._guard:
            return self._run(on_state, on_progress)

    def _run(self, on_state: StateCallback, on_progress: ProgressCallback | None) -> PipeResult:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        target = self._start(self.target_command, subprocess.PIPE, LoadError)
        try:
            tap = self._start(self.tap_command, subprocess.DEVNULL, ExtractError)
        except ExtractError:
            _stop(target)
            raise
        assert tap.stdout and tap.stderr and target.stdin and target.stdout and target.stderr
        tap_err = _StderrWatcher("tap", tap.stderr, self.log_dir / "tap.log", self.redact)
        target_err = _StderrWatcher(
            "target", target.stderr, self.log_dir / "target.log", self.redact
        )
        states = _StateWatcher(target.stdout, on_state, self.redact, lambda: _terminate(tap))
        for thread in (tap_err, target_err, states):
            thread.start()

        extracted: dict[str, int] = {}
        streams: dict[str, StreamInfo] = {}
        interrupted = target_stopped_reading = False
        pumped = threading.Event()
        if self.cancel is not None:
            args = (self.cancel, pumped, tap)
            threading.Thread(target=_stop_on_cancel, args=args, daemon=True).start()
        try:
            target_stopped_reading = self._pump(
                tap.stdout, target.stdin, extracted, streams, started, on_progress
            )
        except KeyboardInterrupt:
            interrupted = True
        pumped.set()
        if self.cancel is not None and self.cancel.is_set():
            interrupted = True  # the tap was stopped on request: treated as a Ctrl-C
        stopping = interrupted or target_stopped_reading
        deletions: dict[str, str] = {}
        if not stopping and self.gate.held:
            try:
                if tap.wait() == 0:  # the whole extraction succeeded: deletions may follow
                    deletions = self._release_versions(streams, target.stdin)
            except KeyboardInterrupt:
                interrupted = stopping = True
        if stopping:
            _terminate(tap)
            # Nobody reads the tap any more: a tap blocked writing to a full pipe (or writing
            # a last STATE on SIGTERM) must get a broken pipe rather than hang until killed.
            tap.stdout.close()
        with contextlib.suppress(BrokenPipeError, OSError):
            target.stdin.close()  # EOF: the target commits what it has and emits that STATE
        # The target may spend long on its last batches: only a stopped run gets a deadline.
        tap_exit = _wait(tap, SHUTDOWN_TIMEOUT_SECONDS if stopping else None)
        target_exit = _wait(target, SHUTDOWN_TIMEOUT_SECONDS if interrupted else None)
        for thread in (tap_err, target_err, states):
            thread.join(timeout=SHUTDOWN_TIMEOUT_SECONDS)
        duration = time.monotonic() - started
        if on_progress:
            on_progress(extracted, duration)

        # A failed run's counts so far travel with its error (the run history keeps them).
        counts = (extracted, dict(target_err.record_counts))
        if states.error is not None:
            raise _counted(states.error, *counts)
        if interrupted:
            raise _counted(
                InterruptedRun(
                    f"interrupted; the target committed {states.count} state(s) before stopping"
                ),
                *counts,
            )
        if target_exit != 0:
            raise _counted(
                LoadError(target_err.exit_message(self.target_command, target_exit)),
                *counts,
            )
        if tap_exit != 0:
            raise _counted(
                ExtractError(tap_err.exit_message(self.tap_command, tap_exit)),
                *counts,
            )
        return PipeResult(
            extracted=extracted,
            loaded=dict(target_err.record_counts),
            streams=streams,
            states_committed=states.count,
            last_state=states.last,
            duration_seconds=duration,
            tap_exit=tap_exit,
            target_exit=target_exit,
            deletions=deletions,
            nul_values=self.nul_values,
        )

    def _release_versions(self, streams: dict[str, StreamInfo], sink: IO[bytes]) -> dict[str, str]:
        lines, outcome = self.gate.release(
            {name: info.properties for name, info in streams.items()}
        )
        try:
            for line in lines:
                sink.write(line)
            sink.flush()
        except (BrokenPipeError, OSError):
            pass  # the target is gone: its exit code tells the run what happened
        return outcome

    def _pump(
        self,
        source: IO[bytes],
        sink: IO[bytes],
        extracted: dict[str, int],
        streams: dict[str, StreamInfo],
        started: float,
        on_progress: ProgressCallback | None,
    ) -> bool:
        """Forward the tap's lines to the target, counting; True if the target stopped reading."""
        decode = msgspec.json.Decoder(_Head).decode
        next_progress = started + PROGRESS_EVERY_SECONDS
        for seen, line in enumerate(source, 1):
            try:
                head = decode(line)
            except msgspec.DecodeError:
                head = _Head()  # not ours to judge: the target names the bad line
            if head.type == "RECORD":
                extracted[head.stream] = extracted.get(head.stream, 0) + 1
                count_nul_values(line, head.stream, self.nul_values)
            elif head.type == "ACTIVATE_VERSION":
                self.gate.hold(head.stream, line)  # forwarded, if at all, once the tap succeeded
                continue
            elif head.type == "SCHEMA":
                streams[head.stream] = _stream_info(line)
                extracted.setdefault(head.stream, 0)
            try:
                sink.write(line)
            except (BrokenPipeError, OSError):
                return True
            if on_progress and not seen & 1023:
                now = time.monotonic()
                if now >= next_progress:
                    next_progress = now + PROGRESS_EVERY_SECONDS
                    on_progress(extracted, now - started)
        try:
            sink.flush()
        except (BrokenPipeError, OSError):
            return True
        return False


def _stream_info(line: bytes) -> StreamInfo:
    message = json.loads(line)
    schema = message.get("schema") or {}
    return StreamInfo(
        key_properties=list(message.get("key_properties") or []),
        properties=set((schema.get("properties") or {}).keys()),
    )


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)


_E = TypeVar("_E", bound=Exception)


def _counted(error: _E, extracted: dict[str, int], loaded: dict[str, int]) -> _E:
    """Attach the records extracted and loaded before a failure to its error.

    Any exception may carry them: the orchestrator reads them back with `getattr`.
    """
    error.extracted = dict(extracted)  # type: ignore[attr-defined]  # see the docstring
    error.loaded = dict(loaded)  # type: ignore[attr-defined]  # see the docstring
    return error


def _stop_on_cancel(
    cancel: threading.Event, pumped: threading.Event, tap: subprocess.Popen[bytes]
) -> None:
    # Stopping the tap ends the pump (its stdout closes) wherever the run is waiting.
    while not pumped.is_set():
        if cancel.wait(PROGRESS_EVERY_SECONDS):
            _terminate(tap)
            return


def _stop(process: subprocess.Popen[bytes]) -> None:
    _terminate(process)
    _wait(process, SHUTDOWN_TIMEOUT_SECONDS)


def _wait(process: subprocess.Popen[bytes], timeout: float | None) -> int:
    """Wait for the exit code; past `timeout` the process group is killed."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        return process.wait()
