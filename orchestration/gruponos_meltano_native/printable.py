"""Text from outside (the WMS, a plugin's output) made safe to print on a terminal.

A WMS error text can hold escape sequences that move the cursor, recolour or retitle the
terminal, or hide what came before (a carriage return). Every such text passes through
`printable` before `run`, `history` or an alert shows it: sequences are dropped whole,
other control characters removed; line breaks and tabs stay.
"""

from __future__ import annotations

import re

# ESC [ … final byte (CSI), ESC ] … BEL or ESC \\ (OSC), ESC and one more character, then any
# C0/C1 control character other than tab and newline.
_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[@-_]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def printable(text: str) -> str:
    """Return `text` without terminal control sequences or control characters but newline, tab."""
    return _CONTROL.sub("", text)
