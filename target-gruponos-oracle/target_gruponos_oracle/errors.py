"""Errors for bad Singer input: each names the line, the stream and the field."""

from __future__ import annotations

from singer_sdk.exceptions import MissingKeyPropertiesError, RecordsWithoutSchemaException


class BadInputError(Exception):
    """A Singer message the target cannot load; nothing after it is loaded.

    The line number is filled in by the message reader, which knows it.
    """

    def __init__(self, reason: str, *, stream: str | None = None, field: str | None = None) -> None:
        """Describe the problem; `stream` and `field` when known."""
        self.reason = reason
        self.stream = stream
        self.field = field
        self.line: int | None = None
        super().__init__(reason)

    def __str__(self) -> str:
        """Render 'line N, stream S, field F: reason' with the parts that are known."""
        place = [f"line {self.line}"] if self.line is not None else []
        if self.stream is not None:
            place.append(f"stream {self.stream!r}")
        if self.field is not None:
            place.append(f"field {self.field!r}")
        return f"{', '.join(place)}: {self.reason}" if place else self.reason


class NotJsonError(BadInputError):
    """A line that is not a JSON object."""


class InvalidMessageError(BadInputError):
    """A JSON line that is not a valid Singer message (unknown type, missing keys)."""


class RecordBeforeSchemaError(BadInputError, RecordsWithoutSchemaException):
    """A RECORD for a stream whose SCHEMA has not been seen."""


class MissingKeyError(BadInputError, MissingKeyPropertiesError):
    """A RECORD without a value for one of its stream's key properties."""


class ValueTypeError(BadInputError):
    """A value that does not fit the type its schema declares."""


class SettingsError(Exception):
    """Settings that cannot work with the streams received (e.g. an unknown scope property).

    Reported as one line, like bad input; what was committed before stays committed.
    """


class DatabaseSettingsError(SettingsError):
    """The database's own settings do not allow what the target needs (found at connect)."""


class IncompatibleSDKError(RuntimeError):
    """The installed singer-sdk lacks a private name the target relies on (see `sdk`)."""
