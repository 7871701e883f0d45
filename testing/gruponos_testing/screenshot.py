"""Screenshot an HTML report with headless Chromium (how the README's picture is made).

python -m gruponos_testing.screenshot demo-output/report.html report.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gruponos_testing.browser_and_pushgateway import chromium_screenshot


def main(argv: list[str] | None = None) -> int:
    """Write a PNG of the page as headless Chromium draws it; print its path and size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=1000)
    args = parser.parse_args(argv)
    png = chromium_screenshot(args.html, args.png, args.width, args.height)
    print(f"{png} ({png.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
