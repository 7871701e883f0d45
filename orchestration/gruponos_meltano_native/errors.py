"""Failure kinds of a run, each with the CLI exit code that names it."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Exit codes of `gruponos-meltano` (documented in the README)."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    SETTINGS = 3
    CONNECTIVITY = 4
    EXTRACT = 5
    LOAD = 6
    RECONCILIATION = 7
    STATE = 8
    BUSY = 9
    INTERRUPTED = 130


# From best to worst: the exit code of several runs (one per facility) is their worst.
# A skipped run is no failure of its own; a run stopped by a signal outranks everything.
_SEVERITY = [
    ExitCode.OK,
    ExitCode.BUSY,
    ExitCode.RECONCILIATION,
    ExitCode.STATE,
    ExitCode.LOAD,
    ExitCode.EXTRACT,
    ExitCode.CONNECTIVITY,
    ExitCode.SETTINGS,
    ExitCode.USAGE,
    ExitCode.INTERNAL,
    ExitCode.INTERRUPTED,
]


def worst_exit_code(codes: list[int]) -> int:
    """Return the worst of several runs' exit codes (OK for none)."""
    return max(codes, key=lambda code: _SEVERITY.index(ExitCode(code)), default=ExitCode.OK)


class PlatformError(Exception):
    """Base of the platform's errors; `exit_code` tells the CLI how to end."""

    exit_code: ExitCode = ExitCode.INTERNAL
    kind = "internal"


class SettingsError(PlatformError):
    """A setting is missing or invalid; the message names it."""

    exit_code = ExitCode.SETTINGS
    kind = "settings"


class ConnectivityError(PlatformError):
    """The WMS or the database cannot be reached."""

    exit_code = ExitCode.CONNECTIVITY
    kind = "connectivity"


class ExtractError(PlatformError):
    """The tap failed (non-zero exit, or it could not be started)."""

    exit_code = ExitCode.EXTRACT
    kind = "extract"


class LoadError(PlatformError):
    """The target failed (non-zero exit, or it stopped reading)."""

    exit_code = ExitCode.LOAD
    kind = "load"


class ReconciliationError(PlatformError):
    """A reconciliation check failed and the settings make that fail the run."""

    exit_code = ExitCode.RECONCILIATION
    kind = "reconciliation"


class StateError(PlatformError):
    """The stored state cannot be read or written."""

    exit_code = ExitCode.STATE
    kind = "state"


class ScopeBusy(PlatformError):
    """Another run holds the company/facility: this run was skipped, nothing was done."""

    exit_code = ExitCode.BUSY
    kind = "skipped"


class InterruptedRun(PlatformError):
    """The run was stopped by a signal; committed state was kept."""

    exit_code = ExitCode.INTERRUPTED
    kind = "interrupted"
