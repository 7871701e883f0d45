"""The lgfapi query grammar: filters with lookups, negation and relation traversal; ordering."""

from __future__ import annotations

import bisect
import datetime as dt
import operator
import typing as t
from decimal import Decimal, InvalidOperation

from wms_simulator.entities import Field
from wms_simulator.store import WMS_TZ, Store

# Query parameters that are not filters.
CONTROL_PARAMS = frozenset(
    {
        "page",
        "page_size",
        "page_mode",
        "cursor",
        "ordering",
        "fields",
        "values_list",
        "format",
        "empty_response_http_code",
    }
)
_DATE_PARTS: dict[str, t.Callable[[t.Any], int]] = {
    "year": lambda v: v.year,
    "month": lambda v: v.month,
    "day": lambda v: v.day,
    "week_day": lambda v: v.isoweekday() % 7 + 1,  # Django: 1 = Sunday … 7 = Saturday
    "hour": lambda v: v.hour,
    "minute": lambda v: v.minute,
}
_COMPARE = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
_TEXT: dict[str, t.Callable[[str, str], bool]] = {
    "iexact": lambda a, b: a.lower() == b.lower(),
    "contains": lambda a, b: b in a,
    "icontains": lambda a, b: b.lower() in a.lower(),
    "startswith": lambda a, b: a.startswith(b),
    "istartswith": lambda a, b: a.lower().startswith(b.lower()),
    "endswith": lambda a, b: a.endswith(b),
    "iendswith": lambda a, b: a.lower().endswith(b.lower()),
}
LOOKUPS = frozenset({"exact", "in", "range", "isnull", *_COMPARE, *_TEXT, *_DATE_PARTS})

Predicate = t.Callable[[dict], bool]


class QueryError(ValueError):
    """A query the WMS answers with 400 VALIDATION_ERROR."""


def parse_value(f: Field, raw: str) -> t.Any:
    """Convert a filter value to the field's Python type."""
    try:
        if f.kind in ("id", "int", "status", "rel", "ref"):
            return int(raw)
        if f.kind == "decimal":
            return Decimal(raw)
        if f.kind == "bool":
            if raw.lower() in ("true", "1", "y"):
                return True
            if raw.lower() in ("false", "0", "n"):
                return False
            raise ValueError(raw)
        if f.kind == "ts":
            value = dt.datetime.fromisoformat(raw.replace(" ", "+").replace("Z", "+00:00"))
            # Without an offset the WMS reads the user's facility time zone.
            return value if value.tzinfo else value.replace(tzinfo=WMS_TZ)
        if f.kind == "date":
            return dt.date.fromisoformat(raw)
    except (ValueError, InvalidOperation) as exc:
        raise QueryError(f"Invalid value '{raw}' for field '{f.name}'") from exc
    return raw


class Query:
    """Compiled filters and ordering for one entity."""

    def __init__(self, store: Store, entity: str, params: dict[str, str]) -> None:
        """Compile `params` (already de-duplicated: the last repeated parameter counts)."""
        self.store = store
        self.entity = entity
        self.predicates: list[Predicate] = []
        self._residual: list[Predicate] = []  # those the id range does not answer already
        for key, raw in params.items():
            if key in CONTROL_PARAMS:
                continue
            negate = key.endswith("!")
            predicate = self._compile(key.rstrip("!"), raw, negate)
            self.predicates.append(predicate)
            if key not in _ID_BOUND_KEYS or not raw.lstrip("-").isdigit():
                self._residual.append(predicate)
        self.ordering = self._ordering(params.get("ordering", ""))
        self.id_bounds = _id_bounds(params)

    def _path(self, parts: list[str]) -> tuple[list[tuple[str, str]], Field]:
        """Resolve `a__b__c` to (entity, field) hops and the final field."""
        entity = self.entity
        hops: list[tuple[str, str]] = []
        for i, part in enumerate(parts):
            f = self.store.entities[entity].by_name.get(part)
            if f is None or f.kind == "set":
                raise QueryError(
                    f"Invalid filter field '{'__'.join(parts)}' for entity '{self.entity}'"
                )
            if i == len(parts) - 1:
                return hops, f
            if f.kind == "ref":
                raise QueryError(
                    f"Field '{part}' of entity '{entity}': its relation is not simulated"
                )
            if f.kind != "rel" or f.target is None:
                raise QueryError(f"Field '{part}' of entity '{entity}' is not a relation")
            hops.append((part, f.target))
            entity = f.target
        raise QueryError("Empty filter")

    def _getter(self, hops: list[tuple[str, str]], name: str) -> t.Callable[[dict], t.Any]:
        rows = self.store.rows

        def get(row: dict) -> t.Any:
            current: dict | None = row
            for field_name, target in hops:
                ref = current.get(field_name) if current else None
                current = rows[target].get(ref) if ref is not None else None
            return current.get(name) if current else None

        return get

    def _compile(self, key: str, raw: str, negate: bool) -> Predicate:
        parts = key.split("__")
        lookup = parts.pop() if len(parts) > 1 and parts[-1] in LOOKUPS else "exact"
        hops, f = self._path(parts)
        get = self._getter(hops, f.name)
        test = self._test(f, lookup, raw)

        def predicate(row: dict) -> bool:
            return test(get(row)) != negate

        return predicate

    def _test(self, f: Field, lookup: str, raw: str) -> t.Callable[[t.Any], bool]:
        if lookup == "isnull":
            want_null = raw.lower() in ("true", "1", "y")
            return lambda v: (v is None) == want_null
        if lookup == "in":
            values = {parse_value(f, part) for part in raw.split(",")}
            return lambda v: v in values
        if lookup == "range":
            low_high = raw.split(",")
            if len(low_high) != 2:
                raise QueryError(f"range on '{f.name}' needs two comma-separated values")
            low, high = (parse_value(f, x) for x in low_high)
            return lambda v: v is not None and low <= v <= high
        if lookup in _DATE_PARTS:
            if f.kind not in ("ts", "date"):
                raise QueryError(f"Lookup '{lookup}' needs a date field, not '{f.name}'")
            part, wanted = _DATE_PARTS[lookup], int(raw)
            return lambda v: v is not None and part(v) == wanted
        if lookup in _TEXT:
            text_test = _TEXT[lookup]
            return lambda v: v is not None and text_test(str(v), raw)
        wanted = parse_value(f, raw)
        if lookup in _COMPARE:
            compare = _COMPARE[lookup]
            return lambda v: v is not None and compare(v, wanted)
        return lambda v: v == wanted

    def _ordering(self, spec: str) -> list[tuple[str, bool]]:
        order: list[tuple[str, bool]] = []
        for item in filter(None, spec.split(",")):
            name = item.lstrip("-")
            f = self.store.entities[self.entity].by_name.get(name)
            if f is None or f.kind == "set":
                raise QueryError(f"Invalid ordering field '{name}' for entity '{self.entity}'")
            order.append((name, item.startswith("-")))
        return order

    def run(self) -> list[int]:
        """Return the ids of matching rows, in the requested order (id order when none asked)."""
        rows = self.store.rows[self.entity]
        preds = self._residual
        low, high = self.id_bounds
        if low is None and high is None:
            candidates: t.Iterable[int] = rows
        else:  # the primary key's index: only rows inside the id range are looked at
            keys = sorted(rows)
            start = 0 if low is None else bisect.bisect_left(keys, low)
            stop = len(keys) if high is None else bisect.bisect_right(keys, high)
            candidates = keys[start:stop]
        if preds:
            ids = [i for i in candidates if all(p(rows[i]) for p in preds)]
        else:
            ids = list(candidates)
        # Stable sorts from the last key to the first give a multi-key order with mixed
        # directions; nulls sort first ascending (the pair's first item keeps None
        # from ever being compared with a value).
        for name, descending in reversed(self.ordering):
            if name == "id":  # never null: the ids themselves are the key
                ids.sort(reverse=descending)
                continue
            ids.sort(
                key=lambda i: (rows[i].get(name) is not None, rows[i].get(name)),
                reverse=descending,
            )
        return ids


_ID_BOUND_KEYS = frozenset({"id", "id__exact", "id__gte", "id__gt", "id__lte", "id__lt"})


def _id_bounds(params: dict[str, str]) -> tuple[int | None, int | None]:
    """Return the inclusive id range that filters on `id` allow (None = open).

    The filters themselves still apply: this only narrows the rows looked at.
    """
    low: int | None = None
    high: int | None = None
    for key, raw in params.items():
        try:
            value = int(raw)
        except ValueError:
            continue  # not an integer: the filter's own check answers for it
        if key in ("id", "id__exact", "id__gte", "id__gt"):
            bound = value + 1 if key == "id__gt" else value
            low = bound if low is None else max(low, bound)
        if key in ("id", "id__exact", "id__lte", "id__lt"):
            bound = value - 1 if key == "id__lt" else value
            high = bound if high is None else min(high, bound)
    return low, high
