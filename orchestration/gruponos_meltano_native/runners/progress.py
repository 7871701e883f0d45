"""Live progress of a run: one redrawn line on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

log = logging.getLogger("gruponos_meltano_native.runners.progress")


class Progress:
    """A progress callback for the runner: records and records/s per entity."""

    def __init__(
        self,
        stream: TextIO | None = None,
        tty: bool | None = None,
        log_every: float = 10.0,
        label: str = "",
    ) -> None:
        """Draw on `stream` (stderr) when it is a terminal; else log every `log_every` seconds.

        `label` (e.g. the facility) starts every line, for runs side by side.
        """
        self.label = f"{label}: " if label else ""
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.log_every = log_every
        self._next_log = time.monotonic() + log_every
        self._drawn = False
        self._since: dict[str, float] = {}
        self._last_elapsed = 0.0

    def describe(self, extracted: dict[str, int], elapsed: float) -> str:
        """`entity records (records/s)` for every entity seen so far."""
        parts = []
        for name, count in sorted(extracted.items()):
            # Entities run in turn: each one's rate counts from its previous update without
            # records (or the start), not from the start of the run.
            if not count or name not in self._since:
                self._since[name] = self._last_elapsed if count else elapsed
            seconds = max(elapsed - self._since[name], 1e-3)
            parts.append(f"{name} {count:,} ({count / seconds:,.0f}/s)")
        self._last_elapsed = elapsed
        return " | ".join(parts)

    def __call__(self, extracted: dict[str, int], elapsed: float) -> None:
        """Show the counts so far."""
        text = self.describe(extracted, elapsed)
        if self.tty:
            self.stream.write(f"\r\x1b[2K{self.label}{elapsed:6.1f}s  {text}")
            self.stream.flush()
            self._drawn = True
        elif time.monotonic() >= self._next_log:
            self._next_log = time.monotonic() + self.log_every
            log.info("%sprogress %.0fs: %s", self.label, elapsed, text)

    def finish(self) -> None:
        """End the redrawn line."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
