"""Small value converters: one JSON value in, one value in the shape a driver binds out.

Each converter takes a decoded JSON value (or None) and returns what goes into the row, or
raises `Mismatch` saying what it expected. Which converter a column gets is a database rule,
chosen by the dialect modules (`target_gruponos_oracle.dialects`).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec

from target_gruponos_oracle.kinds import Kind

UTC = dt.UTC
_json_encoder = msgspec.json.Encoder(decimal_format="number")

Converter = Callable[[Any], Any]


class Mismatch(Exception):
    """A value does not fit its column; the message says what was expected."""


def to_int(value: Any) -> Any:
    """Return an integer (integral decimals such as ``3.0`` too)."""
    if type(value) is int or value is None:
        return value
    if type(value) is Decimal and value == value.to_integral_value():
        return int(value)
    raise Mismatch("an integer")


def to_number(value: Any) -> Any:
    """Return an exact decimal (ints, decimals, floats by their repr, numeric text)."""
    kind = type(value)
    if kind is Decimal or kind is int or value is None:
        return value
    if kind is float:
        return Decimal(repr(value))
    if kind is str:  # numeric text is accepted, as msgspec's Decimal decoding does
        try:
            number = Decimal(value)
        except ArithmeticError:
            raise Mismatch("a number") from None
        if number.is_finite():
            return number
    raise Mismatch("a number")


@dataclass(frozen=True)
class NumberLimits:
    """What a database's numeric columns hold, checked before a value is bound.

    `integers`: the lowest and highest value an integer column holds (None: no limit).
    `exponents`: the lowest and highest decimal exponent of a number's leading digit
    (`Decimal.adjusted`) a number column holds (None: any). `digits`: the most significant
    digits it keeps exactly (None: any). `described`: what the error message says was
    expected.
    """

    integers: tuple[int, int] | None
    exponents: tuple[int, int] | None
    digits: int | None
    described: str

    def integer_check(self) -> str | None:
        """Python condition on a non-null int ``{v}``, true when it does not fit (or None)."""
        if self.integers is None:
            return None
        low, high = self.integers
        return f"not {low} <= {{v}} <= {high}"

    def number_check(self) -> tuple[str, dict[str, Any]] | None:
        """(Python condition on a non-null Decimal ``{v}``, names it uses), or None.

        True when the value does not fit, or raises `ArithmeticError`: with a digit limit
        one `Context.plus` call checks all (its traps: `Inexact` past the precision,
        `Overflow` / `Subnormal` past the exponents), else one `adjusted()` comparison.
        """
        if self.exponents is None:
            return None
        low, high = self.exponents
        if self.digits is None:
            return f"not {low} <= {{v}}.adjusted() <= {high}", {}
        return "number_plus({v}) is None", {"number_plus": self._context().plus}

    def _context(self) -> decimal.Context:
        assert self.exponents is not None and self.digits is not None
        low, high = self.exponents
        traps = [decimal.Inexact, decimal.Overflow, decimal.Subnormal]
        return decimal.Context(prec=self.digits, Emin=low, Emax=high, traps=traps)

    def number_fits(self, value: int | Decimal) -> bool:
        """Tell whether a number column can hold `value` exactly."""
        if self.exponents is None or not value:
            return True  # every number column holds zero
        low, high = self.exponents
        if not low <= Decimal(value).adjusted() <= high:
            return False
        if self.digits is not None:
            try:
                self._context().plus(value)
            except ArithmeticError:
                return False
        return True


def checked_integer(limits: NumberLimits) -> Converter:
    """Return `to_int` refusing integers outside `limits` (named as bad input)."""
    if limits.integers is None:
        return to_int
    low, high = limits.integers

    def convert(value: Any) -> Any:
        value = to_int(value)
        if value is not None and not low <= value <= high:
            raise Mismatch(f"an integer {limits.described}")
        return value

    return convert


def checked_number(limits: NumberLimits) -> Converter:
    """Return `to_number` refusing numbers outside `limits` (named as bad input)."""
    if limits.exponents is None:
        return to_number

    def convert(value: Any) -> Any:
        value = to_number(value)
        if value is not None and not limits.number_fits(value):
            raise Mismatch(f"a number {limits.described}")
        return value

    return convert


def to_number_text(value: Any) -> Any:
    """Return a number kept as its exact decimal text, as sent."""
    value = to_number(value)
    return None if value is None else str(value)


def to_canonical_number_text(value: Any) -> Any:
    """Return a number as one canonical text per value: ``1``, ``1.0`` and ``1E+0`` all give ``1``.

    Used where numbers are stored as text but must compare by value (SQLite key columns).
    """
    value = to_number(value)
    if value is None:
        return None
    text = format(Decimal(value).normalize(), "f")
    return "0" if text == "-0" else text


def to_string(value: Any) -> Any:
    """Return a string (numbers of a mixed-type property are kept as their text)."""
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is int or kind is Decimal:
        return str(value)
    raise Mismatch("a string")


def without_nul(value: Any) -> Any:
    """`value` (a string or JSON container) with NUL characters dropped everywhere."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    return value


def drop_nul(text: str) -> str:
    """Return a non-null string without NUL characters."""
    return text.replace("\x00", "")


def to_bool(value: Any) -> Any:
    """Return a boolean, kept as bool."""
    if type(value) is bool or value is None:
        return value
    raise Mismatch("a boolean (true/false)")


def to_bool_int(value: Any) -> Any:
    """Return a boolean as 1/0."""
    if type(value) is bool:
        return int(value)
    if value is None:
        return None
    raise Mismatch("a boolean (true/false)")


def to_bool_text(value: Any) -> Any:
    """Return a boolean as the JSON text ``true``/``false`` (a boolean stored in a text column)."""
    value = to_bool(value)
    return None if value is None else ("true" if value else "false")


def to_json(value: Any) -> Any:
    """Any JSON value as JSON text."""
    return None if value is None else _json_encoder.encode(value).decode("utf-8")


def to_json_without_nul(value: Any) -> Any:
    """JSON text without NUL characters (PostgreSQL's JSONB cannot hold them)."""
    text = to_json(value)
    # Only values that contain a NUL take the slow walk.
    return to_json(without_nul(value)) if text is not None and "\\u0000" in text else text


def parse_iso_datetime(value: Any) -> dt.datetime:
    """Parse ISO 8601 date-time text (Python ≥ 3.11 reads ``Z`` and most ISO forms)."""
    if type(value) is not str:
        raise Mismatch("an ISO 8601 date-time string")
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise Mismatch("an ISO 8601 date-time string") from None


def parse_datetime(value: Any) -> dt.datetime:
    """Return an aware date-time; one without an offset is UTC (the Singer convention)."""
    parsed = parse_iso_datetime(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def to_utc_naive_datetime(value: Any) -> Any:
    """Return the instant as a naive UTC datetime (for sessions whose time zone is UTC)."""
    if value is None:
        return None
    return parse_datetime(value).astimezone(UTC).replace(tzinfo=None)


def to_datetime_text(value: Any) -> Any:
    """Return checked ISO 8601 text: with its offset as sent; without one, UTC made explicit."""
    if value is None:
        return None
    parsed = parse_iso_datetime(value)
    return value if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC).isoformat()


def parse_date(value: Any) -> dt.date:
    """Return the date of ISO 8601 date (or date-time) text."""
    if type(value) is not str:
        raise Mismatch("an ISO 8601 date string")
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise Mismatch("an ISO 8601 date string") from None


def to_date(value: Any) -> Any:
    """Return a `datetime.date`."""
    return None if value is None else parse_date(value)


def to_date_text(value: Any) -> Any:
    """Return a date as ``YYYY-MM-DD``."""
    return None if value is None else parse_date(value).isoformat()


def to_int_text(value: Any) -> Any:
    """Return an integer as its decimal text."""
    value = to_int(value)
    return None if value is None else str(value)


# A property declared as `kind` whose column already exists as text: the value is checked
# for its declared kind and bound as ISO / decimal text, never as a typed value the
# database would convert with its own session formats (Oracle: NLS_DATE_FORMAT).
AS_TEXT: dict[Kind, Converter] = {
    Kind.INTEGER: to_int_text,
    Kind.NUMBER: to_number_text,
    Kind.STRING: to_string,
    Kind.DATETIME: to_datetime_text,
    Kind.DATE: to_date_text,
    Kind.BOOLEAN: to_bool_text,
    Kind.JSON: to_json,
}
