"""Reconciliation after a run: proof that the database holds what the WMS has.

Checks per entity:
- `extracted_equals_loaded`: RECORD messages the tap sent = records the target reported loading.
- `wms_count_equals_db_rows` (full sync): the WMS's own count for the company/facility = rows in
  the table for that company/facility that are not marked deleted (`_sdc_deleted_at`). After a
  full sync that resumed a killed one, more rows than the WMS counts pass, with the difference
  named: rows deleted in the WMS after the first attempt had read their id range stay live
  until the next full sync.
- `keys_unique_non_null`: no key appears twice, no key is null.
- `freshness` (warning only): the newest `mod_ts` in the table is recent enough; values beyond
  the WMS's clock (data-entry errors such as 2099) are ignored, counted and named.

Tables and columns are named by the target's own naming rules; WMS counts come from the tap's
client, so neither rule is restated here.

Several facilities share tables, so every check looks at the run's own rows only: those whose
`scope_company_code`/`scope_facility_code` (which the tap adds to every record when scoping)
hold the run's codes. A tap without those columns leaves the older rule: `company_id_key` /
`facility_id_key` for entities that have them, the whole table for the others. Entities the tap
extracts unscoped on purpose (`unscoped_entities`) are compared whole, like the WMS count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from tap_oracle_wms.horizon import ALLOWED_SKEW, Horizon
from target_gruponos_oracle import database_rules

from gruponos_meltano_native.config import ValidationSettings
from gruponos_meltano_native.jobs import RunScope
from gruponos_meltano_native.runners.nul_values import DROPS_NUL, describe
from gruponos_meltano_native.runners.runner import StreamInfo
from gruponos_meltano_native.text_table import align

if TYPE_CHECKING:
    from target_gruponos_oracle.rules import DatabaseRules

log = logging.getLogger(__name__)

DELETED_AT = "_sdc_deleted_at"  # the target's soft-delete column
ERROR = "error"
WARNING = "warning"


@dataclass
class Check:
    """One check's outcome."""

    entity: str
    name: str
    passed: bool
    severity: str
    detail: str


@dataclass
class EntityFigures:
    """The numbers behind an entity's checks (None = not measured)."""

    extracted: int = 0
    loaded: int | None = None
    wms_count: int | None = None
    db_rows: int | None = None
    duplicate_keys: int | None = None
    null_keys: int | None = None
    newest_mod_ts: str | None = None
    future_mod_ts: int | None = None  # rows whose mod_ts lies beyond the WMS's clock
    staleness_minutes: float | None = None
    marked_deleted: int | None = None  # rows of the scope this run marked deleted


@dataclass
class ReconciliationReport:
    """All checks of one run, the figures per entity, and a quality score (0-100)."""

    entities: dict[str, EntityFigures] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)

    @property
    def quality_score(self) -> float:
        """Share of checks passed, in percent (100 when nothing was checked)."""
        if not self.checks:
            return 100.0
        return round(100.0 * sum(c.passed for c in self.checks) / len(self.checks), 1)

    @property
    def failed(self) -> list[Check]:
        """Failed checks of any severity."""
        return [c for c in self.checks if not c.passed]

    @property
    def failed_errors(self) -> list[Check]:
        """Failed checks that can fail a run."""
        return [c for c in self.failed if c.severity == ERROR]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the API result and JSON output."""
        return {
            "quality_score": self.quality_score,
            "passed": not self.failed_errors,
            "entities": {name: asdict(fig) for name, fig in self.entities.items()},
            "checks": [asdict(c) for c in self.checks],
        }

    def render(self) -> str:
        """Render the reconciliation table printed at the end of a run."""
        header = (
            "entity",
            "extracted",
            "loaded",
            "wms",
            "db rows",
            "dup keys",
            "null keys",
            "marked deleted",
            "newest mod_ts",
        )
        rows: list[tuple[str, ...]] = [header]
        for name, fig in sorted(self.entities.items()):
            rows.append(
                (
                    name,
                    *(
                        _cell(v)
                        for v in (
                            fig.extracted,
                            fig.loaded,
                            fig.wms_count,
                            fig.db_rows,
                            fig.duplicate_keys,
                            fig.null_keys,
                            fig.marked_deleted,
                        )
                    ),
                    fig.newest_mod_ts or "-",
                )
            )
        lines = align(rows)
        for check in self.failed:
            lines.append(f"FAILED {check.severity}: {check.entity} {check.name}: {check.detail}")
        verdict = "PASSED" if not self.failed_errors else "FAILED"
        lines.append(f"reconciliation {verdict}; quality score {self.quality_score:.1f}%")
        return "\n".join(lines)


def _cell(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


WmsCounter = Callable[[str], int]


class Reconciler:
    """Runs the checks for one run against the target database and the WMS."""

    def __init__(
        self,
        settings: ValidationSettings,
        connection: Connection,
        dialect: str,
        target_config: dict[str, Any],
        wms_count: WmsCounter | None,
        now: datetime | None = None,
        unscoped: Collection[str] = (),
        marked_since: datetime | None = None,
        resumed: bool = False,
        horizon: datetime | None = None,
    ) -> None:
        """`wms_count` is None when the WMS's counts are not compared (incremental runs).

        `unscoped`: entities extracted without company/facility scope. `marked_since`: when
        the run started, if it marks deletions (rows stamped since then are counted).
        `resumed`: the run finished a full sync an earlier, killed run began; rows deleted
        in the WMS after that attempt read them stay live until the next full sync, so
        more rows than the WMS counts pass (and are reported), fewer still fail.
        `horizon`: the latest `mod_ts` the WMS's clock allows (the tap's, from the STATE);
        newer values are data-entry errors the freshness check ignores, and says so.
        """
        self.resumed = resumed
        self.unscoped = set(unscoped)
        self.marked_since = marked_since
        self.settings = settings
        self.connection = connection
        self.dialect = dialect
        self.config = target_config
        self.wms_count = wms_count
        self.now = now or datetime.now(UTC)
        self.nul_values: dict[str, dict[str, int]] | None = None
        self.horizon = horizon or self.now + ALLOWED_SKEW

    @cached_property
    def rules(self) -> DatabaseRules:
        """The target's naming rules for this database (asked on first use)."""
        return database_rules(self.config, self.dialect)

    def subject(self, entity: str, info: StreamInfo, scope: RunScope) -> _Subject:
        """Return an entity's table and the conditions selecting the run's rows."""
        figures = EntityFigures()
        table, deleted = self._table(entity, info)
        where = self._scope(table, info, scope) if entity not in self.unscoped else []
        live = [*where, deleted.is_(None)] if deleted is not None else where
        return _Subject(entity, info, figures, table, where, live, deleted)

    def newest_change(self, subject: _Subject) -> NewestChange:
        """Return the newest `mod_ts` of the scope's rows up to the horizon, and those beyond.

        Values beyond the WMS's clock (a record stamped 2099 by mistake) say nothing about
        how fresh the data is.
        """
        column = self._col(subject.table, "mod_ts")

        def newest(*where: sa.ColumnElement[bool]) -> Any:
            query = sa.select(sa.func.max(column)).select_from(subject.table)
            return self.connection.execute(query.where(*subject.live, *where)).scalar_one()

        top = newest()
        if top is None or not _beyond(top, self.horizon):
            return NewestChange(None if top is None else _as_datetime(top), 0, None)
        limit = _stored_like(self.horizon, top)
        beyond = self._count_rows(subject, column > sa.literal(limit), live=True)
        below = newest(column <= sa.literal(limit))
        return NewestChange(None if below is None else _as_datetime(below), beyond, str(top))

    def reconcile(
        self,
        extracted: dict[str, int],
        loaded: dict[str, int],
        streams: dict[str, StreamInfo],
        scope: RunScope,
        nul_values: dict[str, dict[str, int]] | None = None,
    ) -> ReconciliationReport:
        """Check every stream the run touched.

        `nul_values` (per stream and field, values holding NUL characters; None when not
        measured) adds a check on a database that drops them (PostgreSQL): those values were
        not stored as sent.
        """
        report = ReconciliationReport()
        self.nul_values = nul_values
        for entity in sorted(set(extracted) | set(streams)):
            info = streams.get(entity, StreamInfo())
            subject = self.subject(entity, info, scope)
            figures = subject.figures
            figures.extracted, figures.loaded = extracted.get(entity, 0), loaded.get(entity)
            report.entities[entity] = figures
            try:
                figures.marked_deleted = self._marked_deleted(subject)
            except Exception as exc:
                log.warning("%s: cannot count rows marked deleted: %s", entity, _first_line(exc))
            checks = (
                ("extracted_equals_loaded", ERROR, self._check_loaded),
                ("wms_count_equals_db_rows", ERROR, self._check_wms_count),
                ("keys_unique_non_null", ERROR, self._check_keys),
                ("freshness", WARNING, self._check_freshness),
                ("values_stored_as_sent", WARNING, self._check_nul_values),
            )
            for name, severity, check in checks:
                try:
                    outcome = check(subject)
                except Exception as exc:  # a check that cannot run is a failed check
                    outcome = (False, _first_line(exc))
                if outcome is not None:
                    report.checks.append(Check(entity, name, outcome[0], severity, outcome[1]))
        return report

    def _table(
        self, entity: str, info: StreamInfo
    ) -> tuple[sa.TableClause, sa.ColumnClause[Any] | None]:
        """Return the entity's table, and its `_sdc_deleted_at` column if it has one."""
        columns = set(info.properties) | set(info.key_properties)
        rules = self.rules
        name = rules.table_name(entity)
        deleted = rules.column_name(DELETED_AT)
        has_deleted = deleted.lower() in self._columns_of(name, rules.schema)
        if has_deleted:
            columns.add(DELETED_AT)
        table = sa.table(
            name,
            *(sa.column(rules.column_name(c)) for c in sorted(columns)),
            schema=rules.schema,
        )
        return table, table.c[deleted] if has_deleted else None

    def _columns_of(self, name: str, schema: str | None) -> set[str]:
        # Rows are marked deleted only in tables a versioned (full) sync has touched: ask the
        # database, since the tap's schema does not declare the target's own columns.
        inspector = sa.inspect(self.connection)
        if not inspector.has_table(name, schema=schema):
            return set()
        return {c["name"].lower() for c in inspector.get_columns(name, schema=schema)}

    def _col(self, table: sa.TableClause, name: str) -> sa.ColumnClause[Any]:
        return table.c[self.rules.column_name(name)]

    def _scope(
        self,
        table: sa.TableClause,
        info: StreamInfo,
        scope: RunScope,
    ) -> list[sa.ColumnElement[bool]]:
        conditions = []
        record_scope = scope.record_scope()
        if set(record_scope) <= info.properties:
            for prop, code in record_scope.items():
                conditions.append(self._col(table, prop) == code)
            return conditions
        for field_name, code in (("company_id", scope.company), ("facility_id", scope.facility)):
            if code and {field_name, f"{field_name}_key"} <= info.properties:
                conditions.append(self._col(table, f"{field_name}_key") == code)
        return conditions

    def _count_rows(
        self, subject: _Subject, *where: sa.ColumnElement[bool], live: bool = False
    ) -> int:
        scope = subject.live if live else subject.scope
        query = sa.select(sa.func.count()).select_from(subject.table).where(*scope, *where)
        return int(self.connection.execute(query).scalar_one())

    def _marked_deleted(self, subject: _Subject) -> int | None:
        if self.marked_since is None or subject.deleted is None:
            return None
        since = _as_stored(self.marked_since, self.dialect)
        return self._count_rows(subject, subject.deleted >= sa.literal(since))

    def _check_nul_values(self, subject: _Subject) -> _Outcome:
        if self.dialect not in DROPS_NUL or self.nul_values is None:
            return None
        fields = self.nul_values.get(subject.entity)
        if not fields:
            return True, "no value held a NUL character"
        return False, f"NUL characters dropped by {self.dialect}: {describe(fields)}"

    @staticmethod
    def _check_loaded(subject: _Subject) -> _Outcome:
        figures = subject.figures
        if figures.loaded is None and figures.extracted == 0:
            figures.loaded = 0
        if figures.loaded is None:
            return False, "the target reported no load count"
        detail = f"extracted {figures.extracted:,}, loaded {figures.loaded:,}"
        return figures.extracted == figures.loaded, detail

    def _check_wms_count(self, subject: _Subject) -> _Outcome:
        if self.wms_count is None:
            return None
        figures = subject.figures
        figures.wms_count = self.wms_count(subject.entity)
        figures.db_rows = self._count_rows(subject, live=True)
        detail = f"WMS {figures.wms_count:,}, database {figures.db_rows:,}"
        if subject.deleted is not None:
            detail += " (rows not marked deleted)"
        extra = figures.db_rows - figures.wms_count
        if self.resumed and extra > 0:
            detail += (
                f"; a resumed full sync: {extra:,} rows deleted in the WMS after its first "
                "attempt read them stay until the next full sync"
            )
            return True, detail
        return figures.wms_count == figures.db_rows, detail

    def _check_keys(self, subject: _Subject) -> _Outcome:
        if not subject.info.key_properties:
            return None
        figures = subject.figures
        keys = [self._col(subject.table, k) for k in subject.info.key_properties]
        duplicated = (
            sa.select(*keys)
            .select_from(subject.table)
            .where(*subject.scope)
            .group_by(*keys)
            .having(sa.func.count() > 1)
        ).subquery()
        figures.duplicate_keys = int(
            self.connection.execute(sa.select(sa.func.count()).select_from(duplicated)).scalar_one()
        )
        figures.null_keys = self._count_rows(subject, sa.or_(*(k.is_(None) for k in keys)))
        if figures.db_rows is None:
            figures.db_rows = self._count_rows(subject, live=True)
        detail = f"{figures.duplicate_keys} duplicated key(s), {figures.null_keys} null key(s)"
        return figures.duplicate_keys == 0 and figures.null_keys == 0, detail

    def _check_freshness(self, subject: _Subject) -> _Outcome:
        limit = self.settings.max_staleness_minutes
        if limit is None or "mod_ts" not in subject.info.properties:
            return None
        change = self.newest_change(subject)
        figures = subject.figures
        ignored = ""
        if change.beyond:
            figures.future_mod_ts = change.beyond
            ignored = (
                f"; {change.beyond} row(s) with mod_ts beyond the WMS's clock "
                f"({self.horizon.isoformat()}), newest {change.newest_beyond}, ignored: "
                "fix them in the WMS"
            )
            log.warning(
                "%s: %d row(s) have mod_ts beyond the WMS's clock (newest %s); the freshness "
                "check ignores them",
                subject.entity,
                change.beyond,
                change.newest_beyond,
            )
        if change.newest is None:
            if not change.beyond:
                return None  # an empty table has nothing to be stale about
            return False, f"no mod_ts up to the WMS's clock{ignored}"
        figures.newest_mod_ts = change.newest.isoformat()
        figures.staleness_minutes = round((self.now - change.newest).total_seconds() / 60, 1)
        detail = f"newest mod_ts is {figures.staleness_minutes:,.1f} min old (limit {limit:g})"
        return figures.staleness_minutes <= limit, detail + ignored


@dataclass(frozen=True)
class NewestChange:
    """The newest `mod_ts` up to the horizon, and the rows beyond it (data-entry errors)."""

    newest: datetime | None
    beyond: int
    newest_beyond: str | None


@dataclass
class _Subject:
    """One entity under check: its declared shape, its figures, its table and scope."""

    entity: str
    info: StreamInfo
    figures: EntityFigures
    table: sa.TableClause
    scope: list[sa.ColumnElement[bool]]  # the run's company/facility
    live: list[sa.ColumnElement[bool]]  # ... and not marked deleted
    deleted: sa.ColumnClause[Any] | None  # `_sdc_deleted_at`, if the table has it


_Outcome = tuple[bool, str] | None


def _as_stored(moment: datetime, dialect: str) -> Any:
    """Return a UTC instant as the target stores `_sdc_deleted_at` on each database."""
    moment = moment.astimezone(UTC)
    if dialect == "sqlite":
        return moment.isoformat(timespec="microseconds")  # ISO text compares in order
    if dialect == "oracle":
        return moment.replace(tzinfo=None)  # the target's sessions run in UTC
    return moment


def _beyond(stored: Any, horizon: datetime) -> bool:
    """Whether a stored `mod_ts` lies beyond the horizon (year 9999 included)."""
    try:
        return _as_datetime(stored) > horizon
    except OverflowError:
        return True


def _stored_like(horizon: datetime, stored: Any) -> Any:
    """Return the horizon as the database holds `mod_ts`, to compare in SQL.

    Text (SQLite) with the offset and precision the WMS writes, so text order is time
    order; a naive UTC datetime (Oracle); an aware one otherwise.
    """
    if isinstance(stored, str):
        return Horizon(horizon).like(stored)
    if isinstance(stored, datetime) and stored.tzinfo is None:
        return horizon.astimezone(UTC).replace(tzinfo=None)
    return horizon


def _as_datetime(value: Any) -> datetime:
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    # A database that drops the offset returns UTC (the target stores instants).
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return (text.splitlines() or [type(exc).__name__])[0][:300]
