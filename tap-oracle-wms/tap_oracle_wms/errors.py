"""Errors the tap raises: each names the URL (never credentials), status and WMS code/message."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Return text from the WMS without control characters (no terminal escapes in a log)."""
    return _CONTROL.sub("", text)


class WMSError(Exception):
    """Any failure talking to the WMS."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        code: str | None = None,
        wms_message: str | None = None,
    ) -> None:
        """Build the message from the parts that help the user fix the problem."""
        self.url, self.status, self.code, self.wms_message = url, status, code, wms_message
        parts = [message]
        if status is not None:
            parts.append(f"HTTP {status}")
        if code or wms_message:
            parts.append(f"WMS {code or '?'}: {wms_message or ''}".rstrip(": "))
        if url:
            parts.append(f"URL {url}")
        super().__init__(" | ".join(parts))


class WMSConfigError(WMSError):
    """The settings cannot work (e.g. an entity the instance does not list)."""


class WMSStateError(WMSError):
    """The `--state` given cannot be used (not a Singer state, or a bookmark not a time)."""


class WMSAuthError(WMSError):
    """401: the credentials (or OAuth2 client) were rejected."""


class WMSPermissionError(WMSError):
    """403: the WMS user lacks a permission (lgfapi_read_access for GET)."""


class WMSRequestError(WMSError):
    """400 and other non-retryable answers: a filter or parameter the WMS refuses."""


class WMSUnavailableError(WMSError):
    """429/5xx/timeouts/dropped connections that outlasted every retry."""


class WMSResponseError(WMSError):
    """An answer the tap cannot use (unexpected shape or types, a pagination loop)."""


class IncompatibleSDKError(RuntimeError):
    """The installed singer-sdk lacks a private name the tap relies on (see `sdk`)."""
