"""Injected faults: overload answers with Retry-After, dropped connections.

`FaultSettings` is the one list of fault parameters and their defaults: the Python API
(`WMSSimulator.set_faults`) and the admin endpoint (`POST /__simulator__/faults`) both build
one. Latency is not a fault: the capacity model (capacity.py) times list pages.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import typing as t


@dataclasses.dataclass(frozen=True)
class FaultSettings:
    """Which faults entity API requests get (0 = off)."""

    fail_every: int = 0  # every N-th request answers `fail_status` with Retry-After
    fail_status: int = 503  # 503 or 429
    retry_after: float = 1.0  # seconds, sent in the Retry-After header
    drop_every: int = 0  # every N-th connection is dropped (alternately reset and truncated)

    @classmethod
    def from_params(cls, params: t.Mapping[str, str]) -> FaultSettings:
        """Build settings from text values (a query string), each typed as its default.

        An unknown name is a `ValueError` naming it and the known ones.
        """
        hints = t.get_type_hints(cls)
        fields = {f.name: hints[f.name] for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - set(fields))
        if unknown:
            msg = f"unknown fault {', '.join(unknown)}; known: {', '.join(fields)}"
            raise ValueError(msg)
        return cls(**{name: fields[name](value) for name, value in params.items()})


class Faults:
    """Injected faults, counted over entity API requests only."""

    def __init__(self) -> None:
        """Start with every fault off."""
        self.lock = threading.Lock()
        self.set(FaultSettings())

    def set(self, settings: FaultSettings) -> None:
        """Replace the fault settings and restart the request count."""
        with self.lock:
            self.settings = settings
            self.counter = itertools.count(1)
            self.drops = 0

    def next(self) -> str | None:
        """Return the fault for the next request: None, "fail", "reset" or "truncate"."""
        with self.lock:
            n = next(self.counter)
            settings = self.settings
            if settings.fail_every and n % settings.fail_every == 0:
                return "fail"
            if settings.drop_every and n % settings.drop_every == 0:
                self.drops += 1
                return "reset" if self.drops % 2 else "truncate"
            return None

    @property
    def fail_status(self) -> int:
        """The HTTP status of a "fail" answer."""
        return self.settings.fail_status

    @property
    def retry_after(self) -> float:
        """The Retry-After seconds of a "fail" answer."""
        return self.settings.retry_after

    @property
    def fail_code(self) -> str:
        """The WMS error code that goes with `fail_status`."""
        return "TOO_MANY_REQUESTS" if self.fail_status == 429 else "SERVICE_UNAVAILABLE"
