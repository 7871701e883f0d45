"""The one rule for WMS company and facility codes, checked wherever a code comes in.

A code names folders (state, locks), history rows (`varchar(64)`), metric labels and the
WMS scope of a run. So it is letters, digits, `_` and `-`, 1 to 64 characters: no path
separator, no `.` or `..`, nothing a terminal or a file system would read otherwise. The
CLI, the Python API and the settings all call `check_code`, before anything is created.
"""

from __future__ import annotations

import re

from gruponos_meltano_native.errors import SettingsError

MAX_CODE_LENGTH = 64  # also the width of the platform tables' company and facility columns
_CODE = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_CODE_LENGTH}}}")


class InvalidCode(SettingsError, ValueError):
    """A company or facility code breaks the rule (a settings error, and a ValueError)."""


def is_valid_code(value: str) -> bool:
    """Tell whether `value` follows the rule."""
    return _CODE.fullmatch(value) is not None


def check_code(value: str, where: str = "") -> str:
    """Return `value` if it follows the rule, else raise `InvalidCode` naming `where`.

    `where` says where the code came from (`--facility`, `facility code`); settings leave
    it out, since their error already names the setting.
    """
    if is_valid_code(value):
        return value
    shown = repr(value[:40] + "…" if len(value) > 40 else value)
    place = f"{where}: " if where else ""
    raise InvalidCode(
        f"{place}{shown} ({len(value)} characters) is not a valid code; a company or facility "
        f"code is 1 to {MAX_CODE_LENGTH} letters, digits, '_' or '-'"
    )
