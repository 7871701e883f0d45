"""The order records arrive in, decided from evidence (issue 7 point 3).

A bookmark may only advance mid-run when every record still to come is known to be at or
after it, which holds only if the WMS really sorts by the replication key.
"""

from __future__ import annotations

import typing as t


class ReceivedOrder:
    """What the records received so far prove about the order the WMS sends them in.

    A prefix that merely looks sorted by the replication key proves nothing: a cursor
    that ignores `ordering` returns records in id order, and those can look sorted until
    one modified late jumps ahead. The order counts as confirmed only on evidence an
    id-ordered cursor cannot produce: records in replication-key order whose ids went
    both up and down, over whole pages (a page fully processed, in order, with that
    evidence). Any record older than one before it ends it for the rest of the stream.

    The stream calls `saw(id)` for each record that came in order while `watching`,
    `disorder()` for one that did not, and `page_done()` at each page boundary.
    """

    __slots__ = ("_down", "_last_id", "_up", "confirmed", "disordered", "watching")

    def __init__(self) -> None:
        """Nothing received, nothing proved."""
        self._last_id: int | None = None
        self._up = self._down = False
        self.confirmed = False  # the data proved the WMS sorts by the replication key
        self.disordered = False  # a record came before one it should follow
        self.watching = True  # ids still need comparing (unconfirmed and not disordered)

    def saw(self, record_id: t.Any) -> None:
        """Note the id of a record that came at or after every one before it."""
        last = self._last_id
        if last is not None and record_id is not None:
            if record_id > last:
                self._up = True
            elif record_id < last:
                self._down = True
        self._last_id = record_id

    def disorder(self) -> None:
        """Note a record older than one before it: never confirmed for this stream."""
        self.disordered, self.confirmed, self.watching = True, False, False

    def page_done(self) -> None:
        """Close a page (its records all processed): confirm if they proved the order."""
        if self.watching and self._up and self._down:
            self.confirmed, self.watching = True, False
