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
    INTERRUPTED = 130


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


class InterruptedRun(PlatformError):
    """The run was stopped by a signal; committed state was kept."""

    exit_code = ExitCode.INTERRUPTED
    kind = "interrupted"
