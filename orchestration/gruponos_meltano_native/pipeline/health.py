"""What `health` reads of the shared things: the last states, the locks held now (no lock taken)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from target_gruponos_oracle import database_rules

from gruponos_meltano_native.config import GruponosMeltanoSettings
from gruponos_meltano_native.database import shares_database
from gruponos_meltano_native.errors import StateError
from gruponos_meltano_native.masking import mask_url
from gruponos_meltano_native.pipeline.db_state import state_store
from gruponos_meltano_native.pipeline.lock import file_holders, holder_text


def last_states(settings: GruponosMeltanoSettings) -> tuple[list[str], bool]:
    """One line per stored state (file or state table), and whether the store could be read."""
    try:
        entries = state_store(settings.state_dir, settings.target_config()).entries()
    except StateError as exc:
        return [f"states: NOT READABLE ({exc})"], False
    return [
        f"last state: {entry['job']}/{entry['company']}/{entry['facility']} at "
        f"{entry['updated_at']}"
        for entry in entries
    ], True


def held_locks(settings: GruponosMeltanoSettings) -> list[str]:
    """One line per lock held now: file locks under the state folder, database locks.

    Database locks are read from their holders table: a holder whose heartbeat stopped is
    shown as gone (the database released its lock with its session).
    """
    lines = []
    for holder in file_holders(settings.state_dir):
        path = Path(holder["path"])
        scope = f"{path.parent.name}/{path.stem}"
        lines.append(f"lock held: {scope} by {holder_text(holder)} (lock file {path})")
    target_config = settings.target_config()
    if shares_database(target_config):
        from gruponos_meltano_native.pipeline.db_lock import database_holders

        where = mask_url(database_rules(target_config).url)
        try:
            holders = database_holders(target_config)
        except sa.exc.SQLAlchemyError as exc:  # health reports; it never stops on this
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            return [*lines, f"database locks: cannot read them in {where} ({detail})"]
        for holder in holders:
            scope = f"{holder['company']}/{holder['facility']}"
            if holder["live"]:
                lines.append(
                    f"lock held: {scope} by {holder_text(holder)} (database lock in {where})"
                )
            else:
                lines.append(
                    f"lock gone: {scope} was held by {holder_text(holder)}; no heartbeat since "
                    f"{holder['heartbeat_at']} (the database released it with its session)"
                )
    return lines or ["locks held: none"]
