"""The `target-gruponos-oracle` command: an incompatible singer-sdk is one clear line."""

from __future__ import annotations

import sys

from target_gruponos_oracle.errors import IncompatibleSDKError


def main() -> None:
    """Run the target's CLI; stop with exit code 1 if the installed SDK does not fit."""
    try:
        from target_gruponos_oracle.target import TargetGruponosOracle
    except IncompatibleSDKError as exc:
        print(f"target-gruponos-oracle: {exc}", file=sys.stderr)
        sys.exit(1)
    TargetGruponosOracle.cli()


if __name__ == "__main__":
    main()
