"""What a record's values become when bound for Oracle, and for columns kept as text.

No Oracle server runs here (the live suite needs TARGET_ORACLE_TEST_URL), so these check the
values the Oracle strategy hands to python-oracledb; SQLite and PostgreSQL bind theirs in the
loading suite. A value that does not fit its column names what was expected.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from target_gruponos_oracle.columns import Kind
from target_gruponos_oracle.dialects.oracle import OracleStrategy
from target_gruponos_oracle.values import AS_TEXT, Mismatch

ORACLE = OracleStrategy.converters


@pytest.mark.parametrize(
    ("kind", "sent", "bound"),
    [
        # TIMESTAMP WITH TIME ZONE gets the instant as naive UTC (the session is +00:00).
        (Kind.DATETIME, "2026-03-01T10:00:00-03:00", dt.datetime(2026, 3, 1, 13, 0)),
        (Kind.DATETIME, "2026-03-01T10:00:00Z", dt.datetime(2026, 3, 1, 10, 0)),
        (Kind.DATETIME, "2026-03-01T10:00:00", dt.datetime(2026, 3, 1, 10, 0)),  # no offset: UTC
        (Kind.DATE, "2026-03-01", dt.date(2026, 3, 1)),
        (Kind.DATE, "2026-03-01T23:59:59Z", dt.date(2026, 3, 1)),
        (Kind.BOOLEAN, True, 1),
        (Kind.BOOLEAN, False, 0),
        (Kind.INTEGER, Decimal("3.0"), 3),
        (Kind.NUMBER, 0.1, Decimal("0.1")),  # a float by its repr, never 0.1000000000000000055…
        (Kind.NUMBER, "12.50", Decimal("12.50")),  # numeric text, exact
        (Kind.STRING, 42, "42"),  # numbers of a mixed-type property keep their text
        (Kind.STRING, Decimal("4.20"), "4.20"),
        (Kind.JSON, {"a": [1, Decimal("2.5")]}, '{"a":[1,2.5]}'),
    ],
)
def test_values_are_bound_for_oracle_as_its_columns_take_them(kind, sent, bound):
    assert ORACLE[kind](sent) == bound


@pytest.mark.parametrize("kind", list(ORACLE))
def test_null_stays_null_for_oracle(kind):
    assert ORACLE[kind](None) is None


@pytest.mark.parametrize(
    ("kind", "sent", "expected"),
    [
        (Kind.DATETIME, "yesterday", "an ISO 8601 date-time string"),
        (Kind.DATETIME, 1_700_000_000, "an ISO 8601 date-time string"),
        (Kind.DATE, "01/03/2026", "an ISO 8601 date string"),
        (Kind.DATE, 20260301, "an ISO 8601 date string"),
        (Kind.BOOLEAN, "yes", "a boolean (true/false)"),
        (Kind.BOOLEAN, 1, "a boolean (true/false)"),
        (Kind.INTEGER, Decimal("3.5"), "an integer"),
        (Kind.NUMBER, "twelve", "a number"),
        (Kind.NUMBER, "NaN", "a number"),  # Oracle NUMBER has no NaN
        (Kind.NUMBER, [1], "a number"),
        (Kind.STRING, {"a": 1}, "a string"),
    ],
)
def test_a_value_that_does_not_fit_names_what_was_expected(kind, sent, expected):
    with pytest.raises(Mismatch, match=f"^{re.escape(expected)}$"):
        ORACLE[kind](sent)


@pytest.mark.parametrize(
    ("kind", "sent", "text"),
    [
        (Kind.INTEGER, 7, "7"),
        (Kind.INTEGER, Decimal("7.0"), "7"),
        (Kind.NUMBER, Decimal("1.10"), "1.10"),  # as sent: text columns keep every digit
        (Kind.BOOLEAN, True, "true"),
        (Kind.BOOLEAN, False, "false"),
        (Kind.DATE, "2026-03-01T08:00:00Z", "2026-03-01"),
        (Kind.DATETIME, "2026-03-01T10:00:00-03:00", "2026-03-01T10:00:00-03:00"),
        (Kind.DATETIME, "2026-03-01T10:00:00", "2026-03-01T10:00:00+00:00"),
    ],
)
def test_a_column_that_already_exists_as_text_gets_checked_iso_or_decimal_text(kind, sent, text):
    """Never a typed value the database would render with its session formats."""
    assert AS_TEXT[kind](sent) == text
    assert AS_TEXT[kind](None) is None


def test_text_of_a_typed_value_is_still_checked_for_its_declared_kind():
    with pytest.raises(Mismatch, match="an integer"):
        AS_TEXT[Kind.INTEGER]("7")
    with pytest.raises(Mismatch, match="a boolean"):
        AS_TEXT[Kind.BOOLEAN]("true")
