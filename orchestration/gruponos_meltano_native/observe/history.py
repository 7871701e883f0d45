"""Run history: one row per entity of every run, in a table of the target database.

The table (`GRUPONOS_MELTANO_HISTORY__TABLE`, default `gruponos_run_history`) is created on
first use through the target's connection rules, on Oracle, PostgreSQL or SQLite; its name
follows the target's naming rules (upper case on Oracle). A table of that name with other
columns is refused with an error naming it and the missing columns: nothing is written into
a table that is not ours.

When the database cannot take the rows (it is down, or it is what failed the run), they wait
as JSON files in `<state_dir>/history/pending/` and the next run that reaches the database
writes them first. Writing is idempotent per run id, so a crash between the commit and the
removal of a pending file never duplicates a run. A waiting file the database refuses while
it takes others, or one that cannot be read, is moved to `pending/quarantine/` with a
warning naming it: it never holds back the rows of later runs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from target_gruponos_oracle import database_rules

from gruponos_meltano_native.codes import MAX_CODE_LENGTH
from gruponos_meltano_native.database import create_db_engine, dialect_of
from gruponos_meltano_native.errors import SettingsError, StateError
from gruponos_meltano_native.files import atomic_write_json, read_json
from gruponos_meltano_native.observe.quarantine import move_aside
from gruponos_meltano_native.printable import printable
from gruponos_meltano_native.text_table import align

log = logging.getLogger(__name__)

STATUSES = ("succeeded", "failed", "interrupted", "skipped")
WHOLE_RUN = "*"  # the entity of a run's only row when it never reached any entity
ERROR_MESSAGE_BYTES = 4000  # Oracle's VARCHAR2 limit in bytes

# name, SQLAlchemy type, meaning (the README's table of columns says the same).
COLUMNS: tuple[tuple[str, sa.types.TypeEngine[Any], str], ...] = (
    ("run_id", sa.String(64), "run id (`20261126T040501Z-1a2b3c`), also in plugin log folders"),
    ("job", sa.String(64), "`full-sync-job` or `incremental-sync-job`"),
    ("company", sa.String(MAX_CODE_LENGTH), "WMS company code"),
    ("facility", sa.String(MAX_CODE_LENGTH), "WMS facility code"),
    ("entity", sa.String(128), f"WMS entity; `{WHOLE_RUN}` when the run reached no entity"),
    ("started_at", sa.TIMESTAMP(timezone=True), "run start (UTC)"),
    ("ended_at", sa.TIMESTAMP(timezone=True), "run end (UTC)"),
    ("duration_seconds", sa.Float(), "ended_at - started_at"),
    ("status", sa.String(16), "`succeeded`, `failed`, `interrupted` or `skipped`"),
    ("failure_kind", sa.String(32), "`extract`, `load`, `reconciliation`, `state`, … or NULL"),
    ("extracted", sa.BigInteger(), "records the tap sent (NULL: not measured)"),
    ("loaded", sa.BigInteger(), "records the target committed (NULL: not reported)"),
    ("marked_deleted", sa.BigInteger(), "rows marked deleted by this run (0 when none)"),
    ("wms_count", sa.BigInteger(), "the WMS's own count for the scope (full syncs)"),
    ("db_rows", sa.BigInteger(), "rows in the table for the scope after the run"),
    ("quality_score", sa.Float(), "the run's reconciliation score, percent (NULL: not run)"),
    ("failed_checks", sa.String(1000), "names of this entity's failed checks, comma-separated"),
    ("newest_mod_ts", sa.TIMESTAMP(timezone=True), "newest `mod_ts` in the table after the run"),
    ("error_message", sa.String(ERROR_MESSAGE_BYTES), "the run's error, secrets masked"),
)
COLUMN_NAMES = tuple(name for name, _, _ in COLUMNS)


class HistoryTableError(SettingsError):
    """The configured run-history table exists but is not shaped like one."""


@dataclass
class HistoryRow:
    """One entity of one run, as stored in the run-history table."""

    run_id: str
    job: str
    company: str
    facility: str
    entity: str
    started_at: datetime
    ended_at: datetime
    duration_seconds: float
    status: str
    failure_kind: str | None = None
    extracted: int | None = None
    loaded: int | None = None
    marked_deleted: int = 0
    wms_count: int | None = None
    db_rows: int | None = None
    quality_score: float | None = None
    failed_checks: str | None = None
    newest_mod_ts: datetime | None = None
    error_message: str | None = None

    def __post_init__(self) -> None:
        """Reject an unknown status early; keep the error within the column's size."""
        if self.status not in STATUSES:
            raise ValueError(f"unknown run status {self.status!r}; expected one of {STATUSES}")
        if self.error_message is not None:
            self.error_message = _truncate_bytes(self.error_message, ERROR_MESSAGE_BYTES)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data (datetimes as ISO 8601), for the pending folder."""
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()}

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> HistoryRow:
        """Build a row from JSON data or a database row (naive datetimes are UTC)."""
        values: dict[str, Any] = {f.name: data.get(f.name) for f in fields(cls)}
        for name in ("started_at", "ended_at", "newest_mod_ts"):
            values[name] = as_utc(values[name])
        values["marked_deleted"] = values["marked_deleted"] or 0
        return cls(**values)


def as_utc(value: Any) -> datetime | None:
    """Return an aware UTC datetime from a datetime or ISO string (naive means UTC)."""
    if value is None or value == "":
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _truncate_bytes(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore") + "..."


def history_table(name: str, dialect: str, target_config: dict[str, Any]) -> sa.Table:
    """Return the run-history table `name` as the target would name it on `dialect`."""
    rules = database_rules(target_config, dialect)
    stored, schema = rules.identifier(name), rules.schema
    # SQLAlchemy's lower-case names are the database's case-insensitive form (upper on Oracle).
    columns = [
        sa.Column(column, kind, nullable=column not in ("run_id", "entity"))
        for column, kind, _ in COLUMNS
    ]
    return sa.Table(
        stored.lower(),
        sa.MetaData(),
        *columns,
        sa.PrimaryKeyConstraint("run_id", "entity"),
        schema=schema,
    )


class RunHistory:
    """The run-history table of the target database."""

    def __init__(self, target_config: dict[str, Any], table: str) -> None:
        """Reach the database of `target_config` and the table named `table`."""
        self.target_config = target_config
        self.table_setting = table

    @contextmanager
    def _connect(self, create: bool) -> Iterator[tuple[Connection, sa.Table]]:
        engine = create_db_engine(self.target_config, pool_size=1)
        try:
            table = history_table(self.table_setting, dialect_of(engine), self.target_config)
            with engine.begin() as connection:
                if connection.dialect.name == "oracle":
                    # The driver drops tzinfo on bind (naive values take the session zone), and
                    # thin mode cannot fetch region-named zones: an offset zone, naive UTC values.
                    connection.exec_driver_sql("ALTER SESSION SET TIME_ZONE = '+00:00'")
                exists = self._check(connection, table)
                if not exists and create:
                    table.create(connection)
                    log.info("created run-history table %s", _shown(table))
                elif not exists:
                    raise _NoTable(table)
                yield connection, table
        finally:
            engine.dispose()

    @staticmethod
    def _check(connection: Connection, table: sa.Table) -> bool:
        inspector = sa.inspect(connection)
        if not inspector.has_table(table.name, schema=table.schema):
            return False
        have = {c["name"].lower() for c in inspector.get_columns(table.name, schema=table.schema)}
        missing = [name for name in COLUMN_NAMES if name not in have]
        if missing:
            raise HistoryTableError(
                f"run-history table {_shown(table)} exists with other columns; missing: "
                f"{', '.join(missing)} (rename that table, or set "
                "GRUPONOS_MELTANO_HISTORY__TABLE to another name)"
            )
        return True

    def reachable(self) -> None:
        """Connect (creating the table if needed); raise what the database says if it cannot."""
        with self._connect(create=True):
            pass

    def append(self, rows: Iterable[HistoryRow]) -> int:
        """Insert rows in one transaction, skipping runs already stored; return rows written."""
        rows = list(rows)
        if not rows:
            return 0
        with self._connect(create=True) as (connection, table):
            run_ids = sorted({row.run_id for row in rows})
            stored: set[str] = set()
            for start in range(0, len(run_ids), 500):  # Oracle: at most 1,000 values in IN
                chunk = run_ids[start : start + 500]
                query = sa.select(table.c.run_id).where(table.c.run_id.in_(chunk)).distinct()
                stored.update(connection.execute(query).scalars())
            naive = connection.dialect.name == "oracle"
            fresh = [_row_values(row, naive) for row in rows if row.run_id not in stored]
            if fresh:
                connection.execute(table.insert(), fresh)
            return len(fresh)

    def runs(
        self,
        *,
        company: str | None = None,
        facility: str | None = None,
        job: str | None = None,
        last: int | None = None,
        since: datetime | None = None,
    ) -> list[HistoryRow]:
        """Rows of the matching runs, newest run first (the last `last` runs, or since)."""
        try:
            with self._connect(create=False) as (connection, table):
                where = [
                    column == value
                    for column, value in (
                        (table.c.company, company),
                        (table.c.facility, facility),
                        (table.c.job, job),
                    )
                    if value
                ]
                if since is not None:
                    where.append(table.c.started_at >= since)
                newest = (
                    sa.select(table.c.run_id, sa.func.max(table.c.started_at).label("started"))
                    .where(*where)
                    .group_by(table.c.run_id)
                    .order_by(sa.desc("started"), sa.desc(table.c.run_id))
                )
                if last is not None:
                    newest = newest.limit(last)
                run_ids = list(connection.execute(newest).scalars())
                order = {run_id: index for index, run_id in enumerate(run_ids)}
                found: list[HistoryRow] = []
                for start in range(0, len(run_ids), 500):
                    query = sa.select(table).where(table.c.run_id.in_(run_ids[start : start + 500]))
                    found += [
                        HistoryRow.from_mapping(dict(r._mapping)) for r in connection.execute(query)
                    ]
        except _NoTable:
            return []
        found.sort(key=lambda row: (order[row.run_id], row.entity))
        return found


class _NoTable(Exception):
    def __init__(self, table: sa.Table) -> None:
        super().__init__(f"run-history table {_shown(table)} does not exist yet")


def _shown(table: sa.Table) -> str:
    return f"{table.schema}.{table.name}" if table.schema else table.name


def _row_values(row: HistoryRow, naive_utc: bool = False) -> dict[str, Any]:
    values = asdict(row)
    for name in ("started_at", "ended_at", "newest_mod_ts"):
        moment = as_utc(values[name])
        values[name] = moment.replace(tzinfo=None) if moment and naive_utc else moment
    return values


class PendingRows:
    """History rows that could not reach the database, one JSON file per run."""

    def __init__(self, state_dir: Path) -> None:
        """Keep them under `<state_dir>/history/pending/`."""
        self.folder = Path(state_dir) / "history" / "pending"

    def save(self, run_id: str, rows: list[HistoryRow]) -> Path:
        """Keep a run's rows until the database takes them; return the file."""
        path = self.folder / f"{run_id}.json"
        atomic_write_json(path, [row.to_json() for row in rows])
        return path

    def batches(self) -> tuple[list[tuple[Path, list[HistoryRow]]], list[str]]:
        """Every waiting run's rows, oldest run first (run ids start with their time).

        Also returns warnings: a file that is not a list of rows is moved to quarantine.
        """
        found = []
        warnings = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                data = read_json(path)
                if not isinstance(data, list):
                    raise ValueError("not a list of rows")
                found.append((path, [HistoryRow.from_mapping(item) for item in data]))
            except (StateError, ValueError, TypeError, AttributeError) as exc:
                kept = move_aside(path)
                warnings.append(f"unreadable pending run-history file moved to {kept}: {exc}")
        return found, warnings

    def count(self) -> int:
        """How many runs are waiting."""
        return len(list(self.folder.glob("*.json")))


def write_with_pending(
    history: RunHistory, pending: PendingRows, run_id: str, rows: list[HistoryRow]
) -> list[str]:
    """Write waiting runs and then `rows`; on failure keep `rows` waiting.

    Returns warnings for the run's report (none when everything reached the table).
    """
    waiting, warnings = pending.batches()
    try:
        history.append([row for _, batch in waiting for row in batch] + rows)
    except HistoryTableError as exc:
        kept = pending.save(run_id, rows)
        return [*warnings, f"run history not written: {exc}; this run's rows are kept in {kept}"]
    except Exception as exc:
        try:
            history.reachable()
        except Exception:
            kept = pending.save(run_id, rows)
            return [
                *warnings,
                f"run history not written ({_cause(exc)}); "
                f"{len(waiting) + 1} run(s) wait in {kept.parent} for the next run",
            ]
        # The database answers but refused the rows: find whose, one run at a time.
        return warnings + _write_one_by_one(history, pending, run_id, waiting, rows)
    for path, _ in waiting:
        path.unlink(missing_ok=True)
    if waiting:
        log.info("wrote %d waiting run(s) to the run history", len(waiting))
    return warnings


def _write_one_by_one(
    history: RunHistory,
    pending: PendingRows,
    run_id: str,
    waiting: list[tuple[Path, list[HistoryRow]]],
    rows: list[HistoryRow],
) -> list[str]:
    """Write each run alone; a run the table refuses goes to quarantine, named in a warning."""
    warnings = []
    for path, batch in [*waiting, (None, rows)]:
        try:
            history.append(batch)
        except Exception as exc:
            kept = move_aside(path if path is not None else pending.save(run_id, batch))
            warnings.append(
                f"run history refused the rows of run {batch[0].run_id} ({_cause(exc)}); "
                f"they were moved to {kept}"
            )
            continue
        if path is not None:
            path.unlink(missing_ok=True)
    return warnings


def _cause(exc: Exception) -> str:
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:300]
    return f"{type(exc).__name__}: {reason}"


def dump_rows(rows: list[HistoryRow]) -> str:
    """Rows as JSON text (for `history --json`)."""
    return json.dumps([row.to_json() for row in rows], indent=2)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _sum(values: Iterable[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


ERROR_WIDTH = 160


def render_runs(rows: list[HistoryRow], by_entity: bool = False) -> str:
    """Render history rows as a text table, newest run first (one line per run or entity)."""
    header = ["run id", "job", "company", "facility", "started (UTC)", "secs", "status"]
    header += ["entity"] if by_entity else ["entities"]
    header += ["extracted", "loaded", "deleted", "quality %", "error"]
    lines: list[list[str]] = [header]
    groups: dict[str, list[HistoryRow]] = {}
    for row in rows:
        groups.setdefault(row.run_id, []).append(row)
    for run_rows in groups.values():
        first = run_rows[0]
        status = first.status + (f" ({first.failure_kind})" if first.failure_kind else "")
        # The first line says what failed and why (a plugin's exit: its cause, exit_messages).
        # Rows written by older versions may hold the WMS's control codes raw.
        message = printable(first.error_message or "")
        error = message.splitlines()[0][:ERROR_WIDTH] if message else "-"
        lead = [first.run_id, first.job, first.company, first.facility]
        lead += [_cell(first.started_at), _cell(first.duration_seconds), status]
        if by_entity:
            for row in run_rows:
                figures = [row.extracted, row.loaded, row.marked_deleted, row.quality_score]
                lines.append([*lead, row.entity, *map(_cell, figures), error])
        else:
            entities = [r.entity for r in run_rows if r.entity != WHOLE_RUN]
            figures = [
                _sum(r.extracted for r in run_rows),
                _sum(r.loaded for r in run_rows),
                _sum(r.marked_deleted for r in run_rows),
                first.quality_score,
            ]
            lines.append([*lead, str(len(entities)), *map(_cell, figures), error])
    return "\n".join(t.rstrip() for t in align(lines))
