"""One message for a plugin that exited with an error: its cause on the first line.

A failed tap or target writes many lines (INFO logs, a traceback) before it dies; the line
that says why is the last one the plugin logged at ERROR/CRITICAL level (the SDK's
`time | ERROR | name | message` format), or the plugin's own closing summary
(`target-gruponos-oracle: failed: …`), or, failing both, its last line. The run's error
starts with `<program> exited with code N: <cause>`, so whoever shows one line of it (the
history table, the report, a chat alert) shows the cause; the plugin's last lines follow.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Sequence

# `2026-11-26 15:21:25,434 | ERROR    | tap-oracle-wms | Giving up …`, also inside a line
# Meltano relays with its own words around it.
_LOGGED_ERROR = re.compile(r"\|\s*(?:ERROR|CRITICAL)\s*\|[^|]*\|\s*(?P<message>\S.*)$")
# A plugin's closing summary: `target-gruponos-oracle: failed: OperationalError: …`.
_SUMMARY = re.compile(r"^[\w.-]+: failed: (?P<message>\S.*)$")


def error_cause(lines: Sequence[str]) -> str:
    """Return the line of a failed plugin's output that says why it failed ("" if none)."""
    told = [line.strip() for line in lines if line.strip()]
    for pattern in (_SUMMARY, _LOGGED_ERROR):
        for line in reversed(told):
            found = pattern.search(line)
            if found:
                return found.group("message")
    return told[-1] if told else ""


def signal_name(number: int) -> str:
    """`SIGKILL` for 9; `signal 77` for a number Python does not name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def exit_message(program: str, code: int, lines: Sequence[str], detail: int = 6) -> str:
    """`<program> exited with code <code>: <cause>`, then the plugin's last `detail` lines.

    A negative code is Popen's way of saying a signal ended the plugin: that signal is the
    cause (the plugin's own last lines were written before it came, and do not say why).
    """
    shown = [line for line in lines if line.strip()][-detail:]
    if code < 0:
        first = (
            f"{program} killed by signal {signal_name(-code)} (sent by another process or "
            "the kernel, e.g. its out-of-memory killer)"
        )
    else:
        cause = error_cause(lines) or "(no output on stderr)"
        first = f"{program} exited with code {code}: {cause}"
    return "\n".join([first, *shown])
