"""The simulator's one error type: an answer with the WMS error body."""

from __future__ import annotations


class WMSHTTPError(Exception):
    """An error answered with the WMS error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        """Remember status, WMS code and message."""
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
