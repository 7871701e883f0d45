"""Start-up cost: a SQLite or PostgreSQL load does not import SQLAlchemy's Oracle dialect."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_target_leaves_the_oracle_dialect_unloaded() -> None:
    # A fresh interpreter: this test session may have imported the dialect already.
    # The dialect costs every process ~15-30 ms; only an Oracle load needs it (its
    # existing_kind on Oracle DATE stays covered in test_oracle_sql.py).
    code = (
        "import sys\n"
        "import target_gruponos_oracle.cli, target_gruponos_oracle.target\n"
        "print('sqlalchemy.dialects.oracle' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
