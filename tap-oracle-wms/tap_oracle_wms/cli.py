"""The `tap-oracle-wms` command: an incompatible singer-sdk is one clear line."""

from __future__ import annotations

import sys

from tap_oracle_wms.errors import IncompatibleSDKError


def main() -> None:
    """Run the tap's CLI; stop with exit code 1 if the installed SDK does not fit."""
    try:
        from tap_oracle_wms.tap import cli
    except IncompatibleSDKError as exc:
        print(f"tap-oracle-wms: {exc}", file=sys.stderr)
        sys.exit(1)
    cli()


if __name__ == "__main__":
    main()
