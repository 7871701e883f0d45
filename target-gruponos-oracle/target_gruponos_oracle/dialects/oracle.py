"""Oracle (18c and later, python-oracledb thin mode): every Oracle rule the target follows.

Each rule cites where it comes from; ``shared/docs/oracle-facts.md`` collects the sources
(Oracle SQL Language Reference and Error Messages 19c/23ai, python-oracledb docs).

Upserts stage each batch in a *private temporary table* created inside the load
transaction with ``ON COMMIT DROP DEFINITION`` (Oracle 18c+): it lives only in this
session and this transaction, so two loads of one table (two runs, or a schema change
mid-run) never see each other's staging, and the target never drops or alters any table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import sqlalchemy as sa

from target_gruponos_oracle import naming
from target_gruponos_oracle.dialects.base import DialectStrategy, driver_cursor
from target_gruponos_oracle.dialects.tables import (
    PRIMARY_KEY,
    UNBOUNDED,
    ExistingColumn,
    ExistingKey,
    KeyPlan,
    TableSpec,
)
from target_gruponos_oracle.errors import DatabaseSettingsError, SettingsError
from target_gruponos_oracle.kinds import Column, Kind
from target_gruponos_oracle.values import (
    Converter,
    NumberLimits,
    to_bool_int,
    to_canonical_number_text,
    to_date,
    to_int,
    to_json,
    to_number,
    to_string,
    to_utc_naive_datetime,
)

VARCHAR2_MAX = 4000  # bytes, with the default MAX_STRING_SIZE = STANDARD
# "EXTENDED means that the 32767 byte limit introduced in Oracle Database 12c applies"
# (Oracle Database Reference, MAX_STRING_SIZE); Autonomous Database's default.
VARCHAR2_EXTENDED_MAX = 32767
# Fails with ORA-00910 ("specified length too long for its datatype") only where VARCHAR2
# is limited to 4000 bytes (MAX_STRING_SIZE = STANDARD); the parameter itself is in
# V$PARAMETER, which an ordinary login cannot read. Nothing is created.
MAX_STRING_SIZE_PROBE = "SELECT CAST(NULL AS VARCHAR2(32767)) FROM DUAL"
ROWS_PER_EXECUTE = 10_000  # bounded array binds keep the driver's buffers small
# Private temporary table names must start with PRIVATE_TEMP_TABLE_PREFIX (default), and
# no other object can take it (ORA-32463; Oracle Database Reference: "regular table, view,
# and object names cannot use the same prefix").
PRIVATE_TEMP_TABLE_PREFIX = "ORA$PTT_"
# Seconds a schema change waits for another session's uncommitted changes to the table
# (DDL_LOCK_TIMEOUT; Oracle's default 0 is NOWAIT). One minute outlasts a batch's MERGE.
DDL_LOCK_TIMEOUT_DEFAULT = 60
DDL_LOCK_TIMEOUT_MAX = 1_000_000  # Oracle Database Reference: range 0 to 1,000,000
MIN_SERVER_MAJOR = 18  # private temporary tables exist from 18c
# Largest index key on 8 KB blocks (ORA-01450 beyond it), in bytes.
INDEX_KEY_MAX_BYTES = 6398
# AL32UTF8 takes up to 4 bytes per character; VARCHAR2 stays within 4000 bytes.
_MAX_BYTES_PER_CHAR = 4
# Bytes an index key spends per column of each kind (Oracle's internal formats).
_KEY_BYTES = {
    Kind.INTEGER: 22,
    Kind.NUMBER: 22,
    Kind.BOOLEAN: 22,
    Kind.DATE: 7,
    Kind.DATETIME: 13,
}
# Numbers as the decimal text new rows carry (0.5, -0.25, 12): bare TO_CHAR gives .5 and
# uses the session's decimal character. Fixed format: FM drops the padding and trailing
# zeros, the 0 keeps the leading zero, D is the decimal character, which the nlsparam
# fixes to '.' (SQL Language Reference: TO_CHAR (number), Format Models); RTRIM drops the
# '.' left after whole numbers. NUMBER holds up to 38 significant digits: values the fixed
# format cannot show exactly (1E38 and beyond, more than 38 decimals) take the TM (text
# minimum) format.
_NUMERIC_CHARACTERS = "'NLS_NUMERIC_CHARACTERS=''.,'''"
_NUMBER_FORMAT = "'FM" + "9" * 37 + "0D" + "9" * 38 + "'"
_NUMBER_AS_TEXT = (
    "CASE WHEN ABS({0}) < 1E38 AND {0} = ROUND({0}, 38) "
    f"THEN RTRIM(TO_CHAR({{0}}, {_NUMBER_FORMAT}, {_NUMERIC_CHARACTERS}), '.') "
    # TM may leave out the leading zero too: REGEXP_REPLACE puts it back (\\1: the sign).
    f"ELSE REGEXP_REPLACE(TO_CHAR({{0}}, 'TM9', {_NUMERIC_CHARACTERS}), '^(-?)[.]', '\\10.') END"
)
# Text of old values when a column becomes text: ISO 8601, as the target writes text.
# Oracle DATE has no fractional seconds: FF in its format fails (ORA-01821).
_AS_TEXT = {
    Kind.DATETIME: "TO_CHAR({}, 'YYYY-MM-DD\"T\"HH24:MI:SS.FF6TZH:TZM')",
    Kind.DATE: "TO_CHAR({}, 'YYYY-MM-DD')",
    Kind.BOOLEAN: "CASE {} WHEN 1 THEN 'true' WHEN 0 THEN 'false' END",
    Kind.STRING: "{}",
    Kind.INTEGER: _NUMBER_AS_TEXT,
    Kind.NUMBER: _NUMBER_AS_TEXT,
}


# NUMBER: "Precision can range from 1 to 38", "Positive numbers in the range 1 x 10^-130
# to 9.99...9 x 10^125 with up to 38 significant digits" (SQL Language Reference, Data
# Types, NUMBER). python-oracledb raises DPY-4003 for what it cannot encode and Oracle
# ORA-01438 past a column's precision: neither names the record, so values are checked
# first. Integers go into NUMBER(38): at most 38 digits.
NUMBER_LIMITS = NumberLimits(
    (-(10**38) + 1, 10**38 - 1),
    (-130, 125),
    38,
    "that Oracle's NUMBER holds (at most 38 significant digits, magnitude from 1E-130 "
    "and below 1E126)",
)


# Settings passed to python-oracledb's connect() under their own names.
TLS_SETTINGS = (
    "config_dir",
    "wallet_password",
    "ssl_server_dn_match",
    "ssl_server_cert_dn",
    "retry_count",
    "retry_delay",
)


def wallet_directory(setting: Any) -> str:
    """Return the `wallet_location` folder, refusing one thin mode cannot read.

    Thin mode reads only the PEM wallet ``ewallet.pem`` ("In python-oracledb Thin mode,
    a directory must contain the PEM-encoded wallet file ewallet.pem", python-oracledb
    docs, ``wallet_location``); ``cwallet.sso`` is for Oracle Client libraries.
    """
    folder = Path(str(setting)).expanduser()
    if (folder / "ewallet.pem").is_file():
        return str(folder)
    if not folder.is_dir():
        msg = f"wallet_location {str(folder)!r} is not a folder"
    elif (folder / "cwallet.sso").is_file():
        msg = (
            f"wallet_location {str(folder)!r} holds cwallet.sso but no ewallet.pem; "
            "python-oracledb thin mode reads only ewallet.pem: use a wallet downloaded "
            "from Oracle Cloud (its zip holds both), unzipped into this folder"
        )
    else:
        msg = f"wallet_location {str(folder)!r} holds no ewallet.pem"
    raise SettingsError(msg)


# DBMS_LOCK (PL/SQL Packages and Types Reference, DBMS_LOCK): lock modes S_MODE 4 and
# X_MODE 6; ALLOCATE_UNIQUE gives the handle of a lock name (lock handles up to 128 bytes)
# and "performs a commit"; the lock's connection runs nothing else, so that commits nothing.
S_MODE, X_MODE = 4, 6
_WITH_HANDLE = (
    "DECLARE handle VARCHAR2(128); BEGIN DBMS_LOCK.ALLOCATE_UNIQUE(:name, handle); "
    ":status := {}; END;"
)
LOCK_REQUEST = _WITH_HANDLE.format("DBMS_LOCK.REQUEST(handle, :mode, 0, FALSE)")
LOCK_CONVERT = _WITH_HANDLE.format("DBMS_LOCK.CONVERT(handle, :mode, 0)")
LOCK_RELEASE = _WITH_HANDLE.format("DBMS_LOCK.RELEASE(handle)")
_DBMS_LOCK_STATUS = {2: "deadlock", 3: "parameter error", 5: "illegal lock handle"}
EXPIRE_TIME_MINUTES = 1


def _dbms_lock(dbapi_connection: Any, block: str, name: str, shared: bool) -> int:
    """Run one DBMS_LOCK block for lock `name`; return its status."""
    cursor = dbapi_connection.cursor()
    try:
        status = cursor.var(int)
        binds: dict[str, Any] = {"name": name, "status": status}
        if ":mode" in block:
            binds["mode"] = S_MODE if shared else X_MODE
        cursor.execute(block, binds)
        return int(status.getvalue())
    finally:
        cursor.close()


def _dbms_lock_error(call: str, status: int, name: str) -> RuntimeError:
    meaning = _DBMS_LOCK_STATUS.get(status, "unknown status")
    return RuntimeError(f"DBMS_LOCK.{call} returned {status} ({meaning}) for lock {name!r}")


def ddl_lock_timeout(config: Mapping[str, Any]) -> int:
    """Return the `ddl_lock_timeout` setting in seconds, checked against Oracle's range."""
    value = config.get("ddl_lock_timeout")
    seconds = DDL_LOCK_TIMEOUT_DEFAULT if value is None else value
    if type(seconds) is not int or not 0 <= seconds <= DDL_LOCK_TIMEOUT_MAX:
        msg = f"ddl_lock_timeout must be whole seconds from 0 to {DDL_LOCK_TIMEOUT_MAX}: {value!r}"
        raise ValueError(msg)
    return seconds


class OracleStrategy(DialectStrategy):
    """Oracle: array-bound executemany with explicit input sizes, then one MERGE."""

    name = "oracle"
    types: ClassVar[dict[Kind, str]] = {
        Kind.INTEGER: "NUMBER(38)",
        Kind.NUMBER: "NUMBER",
        Kind.STRING: "VARCHAR2({} CHAR)",
        Kind.DATETIME: "TIMESTAMP(6) WITH TIME ZONE",
        Kind.DATE: "DATE",
        Kind.BOOLEAN: "NUMBER(1)",
        Kind.JSON: "CLOB",
    }
    # Unquoted names are upper-cased by Oracle; the target's names follow.
    upper_case_names = True
    # "You cannot use the uppercase word ROWID, either quoted or nonquoted, as a column
    # name" (SQL Language Reference, Database Object Naming Rules).
    forbidden_column_names = frozenset({"ROWID"})
    converters: ClassVar[dict[Kind, Converter]] = {
        Kind.INTEGER: to_int,
        Kind.NUMBER: to_number,
        Kind.STRING: to_string,
        # Naive UTC: the driver ignores tzinfo on bind (python-oracledb issue #414) and
        # the session time zone is +00:00, so the naive value is the right instant.
        Kind.DATETIME: to_utc_naive_datetime,
        Kind.DATE: to_date,
        Kind.BOOLEAN: to_bool_int,
        Kind.JSON: to_json,
    }
    skip_when_typed = frozenset({Kind.INTEGER, Kind.STRING, Kind.NUMBER})
    number_limits = NUMBER_LIMITS
    # Longest VARCHAR2 in bytes: STANDARD until `prepare` has asked the server.
    string_max_bytes = VARCHAR2_MAX

    # Session -----------------------------------------------------------------------------

    @classmethod
    def engine_options(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """SQLAlchemy must agree with the target on the identifier limit (30 before 12.2)."""
        return {"max_identifier_length": naming.max_identifier_length(config, cls)}

    @classmethod
    def connect_args(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """python-oracledb (thin mode) connect parameters for the Oracle Cloud settings.

        `dsn` (a connect descriptor, an Easy Connect string or a ``tnsnames.ora`` alias
        found in `config_dir`) wins over host/port/service; TCPS without `dsn` spells the
        address out, since the URL only carries host/port/service. The TLS and retry
        settings are python-oracledb's own connect parameters, named alike (python-oracledb
        docs: ``oracledb.connect()``; thin mode reads the wallet only as ``ewallet.pem``).
        """
        args: dict[str, Any] = {}
        if config.get("dsn"):
            args["dsn"] = str(config["dsn"])
        elif config.get("protocol") == "tcps" and config.get("host"):
            target = (
                f"(SERVICE_NAME={config['service_name']})"
                if config.get("service_name")
                else f"(SID={config.get('sid')})"
            )
            port = config.get("port") or 1521
            address = f"(ADDRESS=(PROTOCOL=TCPS)(HOST={config['host']})(PORT={port}))"
            args["dsn"] = f"(DESCRIPTION={address}(CONNECT_DATA={target}))"
        if config.get("wallet_location"):
            args["wallet_location"] = wallet_directory(config["wallet_location"])
        for name in TLS_SETTINGS:
            if config.get(name) not in (None, ""):
                args[name] = config[name]
        return args

    @classmethod
    def explain_connect_error(cls, error: BaseException, config: Mapping[str, Any]) -> str | None:
        """One line naming the setting to fix when a TLS handshake fails (None: not TLS).

        python-oracledb thin mode reports every failed connection as DPY-6005 with the
        cause on its second line: the ssl module's certificate verification failure,
        DPY-6002 / DPY-6006 for a certificate whose name does not match, or the server's
        "certificate required" alert when it wants a client certificate (mutual TLS).
        """
        text = str(error)
        detail = text.splitlines()[-1].strip() if text else type(error).__name__
        wallet = config.get("wallet_location")
        if "CERTIFICATE_VERIFY_FAILED" in text:
            trusted = f"the CA in `wallet_location` ({wallet})" if wallet else "the system's CAs"
            return (
                f"TLS: the database's certificate is not signed by {trusted}; set "
                "`wallet_location` to the folder holding the database's ewallet.pem (for an "
                f"Autonomous Database, its unzipped wallet) ({detail})"
            )
        if "DPY-6002" in text or "DPY-6006" in text:
            return (
                "TLS: the database's certificate does not carry the name expected; set "
                "`ssl_server_cert_dn` to the certificate's subject DN (an Autonomous "
                "Database's connection strings carry it), or check `host` / `dsn` "
                f"({detail})"
            )
        if "CERTIFICATE_REQUIRED" in text:
            return (
                "TLS: the database requires a client certificate (mutual TLS); set "
                "`wallet_location` to its wallet folder (ewallet.pem) and "
                "`wallet_password`, or allow TLS without a wallet on the database "
                f"({detail})"
            )
        return None

    @classmethod
    def session_statements(cls, config: Mapping[str, Any] | None = None) -> list[str]:
        """Set an *offset* session time zone, and let DDL wait for other sessions' locks.

        With ``TIME_ZONE = 'UTC'`` (a region) TIMESTAMP WITH TIME ZONE values that take
        the session zone are stored with a region id, which python-oracledb thin mode
        cannot fetch (DPY-3022). ``'+00:00'`` is an offset, which it can.

        DDL_LOCK_TIMEOUT "specifies a time limit for how long DDL statements will wait in
        a DML lock queue"; its default 0 means NOWAIT, 0 to 1,000,000 seconds (Oracle
        Database Reference, DDL_LOCK_TIMEOUT). With 0, an ALTER TABLE while another load
        of the table has an uncommitted MERGE fails at once with ORA-00054.
        """
        seconds = ddl_lock_timeout(config or {})
        return [
            "ALTER SESSION SET TIME_ZONE = '+00:00'",
            f"ALTER SESSION SET DDL_LOCK_TIMEOUT = {seconds}",
        ]

    @classmethod
    def lock_timed_out(cls, error: BaseException) -> bool:
        """ORA-00054: resource busy and acquire with NOWAIT specified or timeout expired."""
        return "ORA-00054" in str(getattr(error, "orig", error))

    # Named locks: DBMS_LOCK user locks, not a lock row. A lock row taken with SELECT …
    # FOR UPDATE NOWAIT has only one mode (no shared holders) and lives in a transaction
    # the holder must keep open; a DBMS_LOCK lock has shared and exclusive modes, and with
    # release_on_commit FALSE "the lock is held until it is explicitly released or until
    # the end of the session" (PL/SQL Packages and Types Reference, DBMS_LOCK.REQUEST). The
    # price: the user needs EXECUTE on SYS.DBMS_LOCK, which a DBA grants.
    supports_named_locks = True
    keepalive_statement = "SELECT 1 FROM DUAL"
    # ADD, UPDATE, SET UNUSED and RENAME each commit (DDL commits before and after itself).
    replacement_spans_transactions = True

    @classmethod
    def named_lock_connect_args(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """Send a keepalive probe every minute (thin mode's ``expire_time``).

        ``expire_time`` is "the number of minutes between the sending of keepalive probes"
        (python-oracledb ConnectParams): the client notices a dead server. The server drops
        a dead *client* by its own dead connection detection (SQLNET.EXPIRE_TIME in the
        server's sqlnet.ora, a DBA setting).
        """
        return {**cls.connect_args(config), "expire_time": EXPIRE_TIME_MINUTES}

    @classmethod
    def try_named_lock(cls, dbapi_connection: Any, name: str, *, shared: bool) -> bool:
        """REQUEST with timeout 0: 0 success, 1 timeout (another holds it), 4 already own."""
        status = _dbms_lock(dbapi_connection, LOCK_REQUEST, name, shared)
        if status in (0, 4):
            return True
        if status == 1:
            return False
        raise _dbms_lock_error("REQUEST", status, name)

    @classmethod
    def named_lock_held(cls, dbapi_connection: Any, name: str, *, shared: bool) -> bool:
        """CONVERT to the mode already held, timeout 0: 0 success, 4 "do not own lock".

        A conversion to the mode already held is not a case the documentation spells out;
        reading 0 there is checked only against a real Oracle (test_named_locks.py).
        """
        status = _dbms_lock(dbapi_connection, LOCK_CONVERT, name, shared)
        if status in (0, 4):
            return status == 0
        raise _dbms_lock_error("CONVERT", status, name)

    @classmethod
    def release_named_lock(cls, dbapi_connection: Any, name: str, *, shared: bool) -> None:
        """RELEASE: 0 success, 4 do not own the lock (already released: nothing to do)."""
        status = _dbms_lock(dbapi_connection, LOCK_RELEASE, name, shared)
        if status not in (0, 4):
            raise _dbms_lock_error("RELEASE", status, name)

    @classmethod
    def named_lock_refused(cls, error: BaseException) -> str | None:
        """PLS-00201 (identifier 'DBMS_LOCK' must be declared, in ORA-06550): no EXECUTE."""
        text = str(getattr(error, "orig", error))
        if "PLS-00201" in text and "DBMS_LOCK" in text.upper():
            return (
                "the database user may not run DBMS_LOCK (PLS-00201); ask the DBA for "
                "`GRANT EXECUTE ON SYS.DBMS_LOCK TO <this user>`"
            )
        return None

    @classmethod
    def check_server(cls, dbapi_connection: Any) -> None:
        """Refuse servers before 18c: staging uses private temporary tables."""
        version = str(getattr(dbapi_connection, "version", "") or "")
        major = version.split(".", 1)[0]
        if major.isdigit() and int(major) < MIN_SERVER_MAJOR:
            msg = (
                f"Oracle {version} is not supported: the target needs Oracle 18c or later "
                "(it stages upserts in private temporary tables)"
            )
            raise ValueError(msg)

    def prepare(self, conn: sa.Connection) -> None:
        """At the first connection: read MAX_STRING_SIZE, prove private temporary tables work.

        The string limit decides VARCHAR2 sizes and key sizes (`column_type`, `key_plan`).
        A private temporary table is created and dropped, so a database that refuses them
        (a non-default PRIVATE_TEMP_TABLE_PREFIX: ORA-00903; private temporary tables
        unavailable, e.g. to SYS: ORA-32464 / ORA-14451) stops the run here, before any
        table is created, instead of at the first upsert batch.
        """
        cursor = driver_cursor(conn)
        try:
            cursor.execute(MAX_STRING_SIZE_PROBE)
            self.string_max_bytes = VARCHAR2_EXTENDED_MAX
        except Exception as exc:
            if "ORA-00910" not in str(exc):
                raise
            self.string_max_bytes = VARCHAR2_MAX
        probe = self.quote(PRIVATE_TEMP_TABLE_PREFIX + "GNOS_PROBE")
        try:
            cursor.execute(
                f"CREATE PRIVATE TEMPORARY TABLE {probe} (X NUMBER) ON COMMIT DROP DEFINITION"
            )
            cursor.execute(f"DROP TABLE {probe}")
        except Exception as exc:
            reason = str(exc).splitlines()[0]
            msg = (
                f"Oracle refused a private temporary table ({reason}); the target stages "
                "upserts in them: they need Oracle 18c or later, the default "
                f"PRIVATE_TEMP_TABLE_PREFIX {PRIVATE_TEMP_TABLE_PREFIX!r}, and a login "
                "other than SYS with CREATE TABLE. Nothing was created."
            )
            raise DatabaseSettingsError(msg) from exc

    def byte_length_columns(self, conn: sa.Connection, spec: TableSpec) -> set[str]:
        """Text columns of the table whose length counts bytes (CHAR_USED = 'B').

        ALL_TAB_COLUMNS.CHAR_USED: "B indicates that the column uses BYTE length
        semantics. C indicates that the column uses CHAR length semantics" (Oracle
        Database Reference). NLS_LENGTH_SEMANTICS defaults to BYTE, so tables the target
        did not create usually count bytes; SQLAlchemy reflects the length alone.
        """
        query = sa.text(
            "SELECT column_name FROM all_tab_columns "
            "WHERE owner = NVL(:owner, SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA')) "
            "AND table_name = :name AND char_used = 'B'"
        ).bindparams(sa.bindparam("owner", type_=sa.String()))
        result = conn.execute(query, {"owner": spec.schema, "name": spec.name})
        return {str(name) for (name,) in result}

    # Values ------------------------------------------------------------------------------

    def converter(self, column: Column) -> Converter:
        """Numbers declared over a text column: one canonical text, as the old rows read.

        A number column that became text holds its old values as Oracle's NUMBER kept them
        (`_NUMBER_AS_TEXT`: no trailing zeros, no exponent: ``12.5``, ``1000``): new values
        are written the same way (``12.50`` → ``12.5``), so old and new rows read alike.
        Keys keep the text as sent, which rows written before matched on.
        """
        if column.declared == Kind.NUMBER and not column.key:
            return to_canonical_number_text
        return super().converter(column)

    def finishing(self, column: Column) -> Converter | None:
        """Booleans are bound as 1/0 into NUMBER(1)."""
        if column.kind == Kind.BOOLEAN and column.declared is None:
            return int
        return super().finishing(column)

    def invalid_key(self, column: Column) -> tuple[str, str] | None:
        """Refuse empty-string keys: Oracle stores '' as NULL (ORA-01400 on a key)."""
        if column.kind == Kind.STRING and column.declared is None:
            return "{v} == ''", "an empty string cannot be a key on Oracle, which stores '' as NULL"
        return None

    # Types -------------------------------------------------------------------------------

    def column_type(self, column: Column, width: float | None = None) -> str:
        """VARCHAR2(n CHAR) (declared maxLength or longest value seen), else CLOB.

        Up to the server's VARCHAR2 limit: 4000 bytes under MAX_STRING_SIZE = STANDARD,
        32,767 under EXTENDED (Autonomous Database), where a longer string stays a
        VARCHAR2: comparable with ``=``, indexable, widened in place by MODIFY (a CLOB is
        none of these). An unknown length gets 4000 characters on both.
        """
        if column.kind != Kind.STRING:
            return self.types[column.kind]
        needed = max(column.max_length or 0, width or 0)
        if needed > self.string_max_bytes:
            return "CLOB"
        # Unknown length: the widest VARCHAR2, so short strings never need a change.
        size = int(needed) if column.max_length else VARCHAR2_MAX
        return self.types[Kind.STRING].format(max(size, 1))

    def existing_kind(self, sa_type: sa.types.TypeEngine) -> ExistingColumn:
        """Oracle DATE first: SQLAlchemy reflects it as a DateTime subclass.

        NUMBER(1,0) is what the target creates for booleans.
        """
        # Imported here: SQLAlchemy's Oracle dialect costs a SQLite or PostgreSQL load
        # ~15 ms of start-up; reflecting an Oracle table has loaded it already.
        from sqlalchemy.dialects import oracle

        if isinstance(sa_type, oracle.DATE):
            return ExistingColumn(Kind.DATE)
        if isinstance(sa_type, sa.Numeric) and sa_type.precision == 1 and sa_type.scale == 0:
            return ExistingColumn(Kind.BOOLEAN)
        return super().existing_kind(sa_type)

    def _key_bytes(self, spec: TableSpec, name: str) -> float:
        column = _column(spec, name)
        column_type = self.column_type(column, spec.widths.get(name))
        if column_type == "CLOB":
            return UNBOUNDED
        if column.kind == Kind.STRING:
            chars = int(column_type.split("(", 1)[1].split(" ", 1)[0])
            return min(chars * _MAX_BYTES_PER_CHAR, self.string_max_bytes)
        return _KEY_BYTES[column.kind]

    # DDL ---------------------------------------------------------------------------------

    def key_plan(self, spec: TableSpec) -> KeyPlan:
        """Plan a primary key only where Oracle can build one; else a unique index, or none.

        - LOB (CLOB) columns cannot be in any key or index: none.
        - An index key longer than the block allows fails (ORA-01450: 6,398 bytes on 8 KB
          blocks; ``VARCHAR2(n CHAR)`` counts 4 bytes per character in AL32UTF8, up to
          the server's VARCHAR2 limit: 4000 bytes under STANDARD, 32,767 under
          EXTENDED): none.
        - A primary key on TIMESTAMP WITH TIME ZONE fails (ORA-02329), a unique index on
          it is allowed: unique index.
        """
        if not spec.keys:
            return KeyPlan("none")
        sizes = {key: self._key_bytes(spec, key) for key in spec.keys}
        clobs = [key for key, size in sizes.items() if size == UNBOUNDED]
        if clobs:
            return KeyPlan("none", f"CLOB key columns {clobs} cannot be indexed")
        total = sum(sizes.values()) + len(sizes)  # one length byte per column
        if total > INDEX_KEY_MAX_BYTES:
            return KeyPlan(
                "none",
                f"key columns take up to {int(total)} bytes, more than an Oracle index key "
                f"holds ({INDEX_KEY_MAX_BYTES} bytes on 8 KB blocks, ORA-01450)",
            )
        kinds = {c.name: c.kind for c in spec.columns}
        zoned = [key for key in spec.keys if kinds[key] == Kind.DATETIME]
        if zoned:
            return KeyPlan(
                "unique index",
                f"TIMESTAMP WITH TIME ZONE key columns {zoned} cannot be in a primary key "
                "(ORA-02329)",
            )
        return PRIMARY_KEY

    def key_changes(self, spec: TableSpec, existing: ExistingKey) -> list[str]:
        """Create the unique index a table created by an interrupted run may lack."""
        if not spec.keys or existing.enforces(spec.keys, self.unique_key_index_name(spec)):
            return []
        if self.key_plan(spec).kind == "unique index":
            return [self.unique_key_index(spec)]
        return []

    def create_schema(self, schema: str) -> list[str]:
        """Oracle schemas are users, created by a DBA (no CREATE SCHEMA IF NOT EXISTS)."""
        del schema
        return []

    def add_column(self, spec: TableSpec, column: Column) -> list[str]:
        """Oracle spells it ADD (column type)."""
        column_type = self.column_type(column, spec.widths.get(column.name))
        table = self.qualified(spec.schema, spec.name)
        return [f"ALTER TABLE {table} ADD ({self.quote(column.name)} {column_type})"]

    def retype(self, spec: TableSpec, column: Column, existing: ExistingColumn) -> list[str]:
        """MODIFY where Oracle allows it, else a copy through a replacement column."""
        new_type = self.column_type(column, spec.widths.get(column.name))
        table = self.qualified(spec.schema, spec.name)
        modify = [f"ALTER TABLE {table} MODIFY ({self.quote(column.name)} {new_type})"]
        if existing.kind == Kind.STRING:
            # A longer VARCHAR2 is a MODIFY; VARCHAR2 → CLOB is not allowed (ORA-22858).
            return self.replace_column(spec, column, existing) if new_type == "CLOB" else modify
        if existing.kind in (Kind.INTEGER, Kind.BOOLEAN) and column.kind in (
            Kind.INTEGER,
            Kind.NUMBER,
        ):
            return modify  # raising a NUMBER's precision is allowed (lowering: ORA-01440)
        return self.replace_column(spec, column, existing)

    def drop_column(self, table: str, column: str) -> str:
        """SET UNUSED: works on compressed tables too, and rewrites nothing.

        On a compressed table DROP COLUMN fails with ORA-39726, whose documented action is
        "DROP column is only supported in the form of SET UNUSED column (meta-data drop
        column)" (Database Error Messages). The column's name is free at once for the
        RENAME; its space is reclaimed by ``ALTER TABLE … DROP UNUSED COLUMNS``, which the
        target never runs (README: Oracle).
        """
        return f"ALTER TABLE {table} SET UNUSED ({column})"

    def copy_expression(self, old: ExistingColumn, new_type: str) -> str:
        """Old values as ISO 8601 / plain text; TO_CLOB when the new column is a CLOB.

        A DATE becoming a date-time is that moment in UTC: FROM_TZ "converts a timestamp
        value and a time zone to a TIMESTAMP WITH TIME ZONE value" (SQL Language
        Reference, FROM_TZ), so the DATE is CAST to TIMESTAMP first; '+00:00' is an offset,
        which thin mode reads back (a region name would not be: DPY-3022).
        """
        if old.kind == Kind.DATE and new_type == self.types[Kind.DATETIME]:
            return "FROM_TZ(CAST({} AS TIMESTAMP), '+00:00')"
        text = _AS_TEXT.get(old.kind or Kind.STRING, "TO_CHAR({})")
        return f"TO_CLOB({text})" if new_type == "CLOB" else text

    def unmatchable_keys(self, spec: TableSpec) -> list[str]:
        """Key columns stored as CLOB: upserts refuse them.

        A LOB cannot be compared with ``=`` (ORA-00932) nor indexed, so a MERGE could only
        match it with DBMS_LOB.COMPARE, row by row: every staged row against every row of
        the table, which no table of any size survives.
        """
        return [
            key
            for key in spec.keys
            if self.column_type(_column(spec, key), spec.widths.get(key)) == "CLOB"
        ]

    def key_bind_type(self, column: Column) -> sa.types.TypeEngine | None:
        """Bind keys by their column's type, never by the driver's guess.

        An untyped datetime is bound as DB_TYPE_DATE: no fractional seconds, so a
        TIMESTAMP WITH TIME ZONE key with fractions would never match (python-oracledb
        binds by the Python type; SQLAlchemy's TIMESTAMP sets DB_TYPE_TIMESTAMP). The value
        is naive UTC, taken in the session zone +00:00. Numbers (int, Decimal) bind as
        NUMBER exactly either way.
        """
        if column.declared is not None:
            return sa.String()  # declared over a text column: bound as ISO / decimal text
        types: dict[Kind, sa.types.TypeEngine[Any]] = {
            Kind.DATETIME: sa.TIMESTAMP(),
            Kind.DATE: sa.Date(),
            Kind.STRING: sa.String(),
        }
        return types.get(column.kind)

    def deleted_at_type(self) -> sa.types.TypeEngine:
        """TIMESTAMP: bound as DB_TYPE_TIMESTAMP, fractions kept.

        An untyped datetime is bound as DB_TYPE_DATE, which drops fractional seconds.
        """
        return sa.TIMESTAMP()

    def deleted_at_value(self) -> Any:
        """Now as naive UTC: the driver ignores tzinfo; the session zone is +00:00."""
        return dt.datetime.now(dt.UTC).replace(tzinfo=None)

    # Staging and loading -------------------------------------------------------------------

    def staging_name(self, spec: TableSpec) -> str:
        """``ORA$PTT_<table>``: the private temporary table staging `spec`'s batches."""
        room = self.max_identifier_length() - len(PRIVATE_TEMP_TABLE_PREFIX)
        return PRIVATE_TEMP_TABLE_PREFIX + naming.identifier(spec.name, self, room)

    def staging_table(self, spec: TableSpec) -> str:
        """Return the staging table as SQL refers to it (quoted)."""
        return self.quote(self.staging_name(spec))

    def create_staging(self, spec: TableSpec) -> str:
        """Return a private temporary table shaped like the target, dropped when the load ends.

        No constraints: rows are already unique per key (the sink dedupes), and private
        temporary tables cannot have indexes. Creating one does not commit the load
        transaction (it is not ON COMMIT PRESERVE DEFINITION), and ON COMMIT DROP
        DEFINITION drops it at the end of that transaction.
        """
        staging = self.table_object(None, self.staging_name(spec), spec, key=False)
        create = str(sa.schema.CreateTable(staging).compile(dialect=self.dialect)).strip()
        private = create.replace("CREATE TABLE", "CREATE PRIVATE TEMPORARY TABLE", 1)
        return private + " ON COMMIT DROP DEFINITION"

    def array_insert_sql(self, table: str, spec: TableSpec) -> str:
        """INSERT with positional binds for every column into `table` (quoted)."""
        names = ", ".join(self.quote(name) for name in spec.column_names)
        binds = ", ".join(f":{position}" for position in range(1, len(spec.columns) + 1))
        return f"INSERT INTO {table} ({names}) VALUES ({binds})"

    def input_sizes(self, spec: TableSpec) -> list[Any]:
        """Explicit bind types per column, so python-oracledb never guesses from a row.

        Strings bind as VARCHAR up to 4000 bytes, or as DB_TYPE_LONG into a CLOB (a long
        string bound as VARCHAR into VARCHAR2 fails: ORA-01461 / ORA-12899).
        """
        import oracledb

        sizes: dict[Kind, Any] = {
            Kind.INTEGER: oracledb.DB_TYPE_NUMBER,
            Kind.NUMBER: oracledb.DB_TYPE_NUMBER,
            Kind.DATETIME: oracledb.DB_TYPE_TIMESTAMP,
            Kind.DATE: oracledb.DB_TYPE_DATE,
            Kind.BOOLEAN: oracledb.DB_TYPE_NUMBER,
            Kind.JSON: oracledb.DB_TYPE_LONG,
        }
        result = []
        for column in spec.columns:
            if column.kind == Kind.STRING:
                column_type = self.column_type(column, spec.widths.get(column.name))
                result.append(
                    oracledb.DB_TYPE_LONG if column_type == "CLOB" else self.string_max_bytes
                )
            else:
                result.append(sizes[column.kind])
        return result

    def _executemany(self, cursor: Any, sql: str, spec: TableSpec, rows: Sequence) -> None:
        sizes = self.input_sizes(spec)
        for start in range(0, len(rows), ROWS_PER_EXECUTE):
            cursor.setinputsizes(*sizes)
            cursor.executemany(sql, rows[start : start + ROWS_PER_EXECUTE])

    def insert_rows(self, conn: sa.Connection, spec: TableSpec, rows: Sequence[tuple]) -> None:
        """Array-bound executemany straight into the table."""
        table = self.qualified(spec.schema, spec.name)
        self._executemany(driver_cursor(conn), self.array_insert_sql(table, spec), spec, rows)

    def upsert_rows(self, conn: sa.Connection, spec: TableSpec, rows: Sequence[tuple]) -> None:
        """Create the private staging table, array-bind the rows into it, MERGE."""
        if not rows:
            return
        cursor = driver_cursor(conn)
        staging = self.staging_table(spec)
        cursor.execute(self.create_staging(spec))
        self._executemany(cursor, self.array_insert_sql(staging, spec), spec, rows)
        cursor.execute(self.merge(spec, staging))

    def observe_widths(self, spec: TableSpec, rows: Sequence[tuple]) -> bool:
        """Longest string per string column (CLOB past the server's VARCHAR2 limit).

        In characters, or in bytes for a column whose length counts bytes (BYTE
        semantics: `spec.byte_lengths`), so accented text never overflows it (ORA-12899).
        """
        positions = [i for i, column in enumerate(spec.columns) if column.kind == Kind.STRING]
        if not positions:
            return False
        longest = dict.fromkeys(positions, 0)
        for row in rows:
            for i in positions:
                value = row[i]
                if value is not None and len(value) > longest[i]:
                    longest[i] = len(value)
        limit = self.string_max_bytes
        grew = False
        for i, chars in longest.items():
            name = spec.columns[i].name
            width: float = chars
            # n characters take at most 4n bytes: only long strings, and columns whose
            # length counts bytes, are measured in bytes.
            if name in spec.byte_lengths or chars > limit // _MAX_BYTES_PER_CHAR:
                most = max(
                    (len(row[i].encode("utf-8")) for row in rows if row[i] is not None),
                    default=0,
                )
                if most > limit:
                    width = UNBOUNDED
                elif name in spec.byte_lengths:
                    width = most
            if width > spec.widths.get(name, 0):
                spec.widths[name] = width
                grew = True
        return grew


def _column(spec: TableSpec, name: str) -> Column:
    return next(column for column in spec.columns if column.name == name)
