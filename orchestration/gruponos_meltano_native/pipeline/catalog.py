"""The full job's catalog: every stream the tap discovers, read as FULL_TABLE.

A stream read FULL_TABLE stamps its records with a version and ends with ACTIVATE_VERSION,
which is how deletions reach the target; an incremental read (the tap's default, by
`mod_ts`) does neither. meltano.yml's `tap-oracle-wms--full` forces the same through
Meltano's metadata rules.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from gruponos_meltano_native.errors import ExtractError
from gruponos_meltano_native.masking import Redactor
from gruponos_meltano_native.runners.exit_messages import exit_message

DISCOVERY_TIMEOUT_SECONDS = 900


def full_table_catalog(tap: str, config: Path, out: Path, redact: Redactor) -> Path:
    """Run the tap's discovery with `config` and write its catalog, forced FULL_TABLE, to `out`."""
    try:
        found = subprocess.run(
            [tap, "--config", str(config), "--discover"],
            capture_output=True,
            timeout=DISCOVERY_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ExtractError(f"{tap} --discover failed: {redact(str(exc))}") from None
    if found.returncode != 0:
        tail = redact(found.stderr.decode("utf-8", "replace")).splitlines()[-40:]
        raise ExtractError(exit_message(f"{Path(tap).name} --discover", found.returncode, tail))
    try:
        catalog = json.loads(found.stdout)
        streams = catalog["streams"]
    except (ValueError, KeyError, TypeError):
        raise ExtractError(f"{tap} --discover did not print a Singer catalog") from None
    for stream in streams:
        # The SDK reads a stream's top-level replication_method as the forced method.
        stream["replication_method"] = "FULL_TABLE"
    out.write_text(json.dumps(catalog), encoding="utf-8")
    return out
