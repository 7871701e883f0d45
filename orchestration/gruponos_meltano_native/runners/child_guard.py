"""Plugins die with the orchestrator, however it dies (kill -9 included).

The plugins run in sessions of their own (a Ctrl-C must reach only the orchestrator), so
nothing stops them when the orchestrator is killed: a tap would go on reading the WMS, a
target loading, until a write to the dead orchestrator's pipe failed (up to a page time).

A small watcher process, started with this file as its program, holds the read end of a pipe
whose write end only the orchestrator holds. The orchestrator names each plugin's process
group on the pipe as it starts it. When the orchestrator ends without saying "done" (the
kernel closes its end, whatever killed it), the watcher reads end-of-file and kills those
process groups, which takes their children too (e.g. `meltano run`'s plugins).

Run by path (`python -I child_guard.py FD`), so it imports nothing but the standard library.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

DONE = b"done\n"


class ChildGuard:
    """Kills the process groups it is told about if this process dies before `close`."""

    def __init__(self) -> None:
        """Start the watcher process."""
        read_end, self._write_end = os.pipe()  # both not inheritable: the plugins get neither
        try:
            self._watcher = subprocess.Popen(
                [sys.executable, "-I", __file__, str(read_end)],
                pass_fds=(read_end,),
                stdin=subprocess.DEVNULL,
                # Its own session: a Ctrl-C on the terminal must not end the watcher first.
                start_new_session=True,
            )
        except BaseException:
            os.close(self._write_end)
            raise
        finally:
            os.close(read_end)

    def watch(self, pid: int) -> None:
        """Kill process group `pid` (a plugin started in its own session) if this process dies."""
        os.write(self._write_end, f"{pid}\n".encode())

    def close(self) -> None:
        """Tell the watcher the plugins are done, so that it ends without killing anything."""
        if self._write_end < 0:
            return
        with contextlib.suppress(OSError):
            os.write(self._write_end, DONE)
        os.close(self._write_end)
        self._write_end = -1
        self._watcher.wait()

    def __enter__(self) -> ChildGuard:
        """Use as `with ChildGuard() as guard:`."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the guard."""
        self.close()


def _watch(read_end: int) -> None:
    groups: list[int] = []
    pending = b""
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        while chunk := pipe.read(4096):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line + b"\n" == DONE:
                    return
                groups.append(int(line))
    # End of file without "done": the orchestrator is gone.
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _watch(int(sys.argv[1]))
