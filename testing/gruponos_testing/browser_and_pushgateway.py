"""Real servers and a real browser for tests of the history, metrics and report.

- `pushgateway()`: Debian's `prometheus-pushgateway` on a free loopback port, in memory only;
  yields its base URL; `pushgateway_groups(url)` reads it back through its HTTP API.
- `chromium_screenshot(html, png)` / `chromium_dom(html)`: Debian's `chromium`, headless, with a
  new empty profile and no network use of its own.
- `read_png(path)`: width, height and RGB pixels of a PNG (8-bit RGB/RGBA, as Chromium writes).

A missing executable raises `ToolUnavailableError`; tests skip on it, except in CI, where it
fails them (`pushgateway_for_tests()`, `chromium_for_tests()`).
"""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import requests

from gruponos_testing.postgres import required_in_ci, skip_or_fail

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


class ToolUnavailableError(RuntimeError):
    """A program the test needs is not installed (or does not start)."""


def _executable(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise ToolUnavailableError(
        f"{' or '.join(names)} not found on PATH (Debian: apt-get install {names[0]})"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def pushgateway(timeout: float = 30) -> Iterator[str]:
    """Run a Pushgateway on loopback (metrics in memory only); yield its base URL."""
    binary = _executable("prometheus-pushgateway", "pushgateway")
    port = _free_port()
    process = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise ToolUnavailableError(
                    f"pushgateway exited with code {process.returncode}: "
                    f"{(process.stderr.read() if process.stderr else '')[-500:]}"
                )
            try:
                if requests.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise ToolUnavailableError(f"pushgateway not ready on {url} after {timeout}s")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def pushgateway_for_tests() -> AbstractContextManager[str]:
    """`pushgateway()` for a fixture: a skip without the executable, a failure in CI."""
    return required_in_ci(pushgateway(), ToolUnavailableError, "prometheus-pushgateway")


def chromium_for_tests() -> str:
    """Return the Chromium executable for a fixture: a skip without it, a failure in CI."""
    try:
        return _executable(*CHROMIUM_NAMES)
    except ToolUnavailableError as exc:
        skip_or_fail("chromium", exc)


def pushgateway_groups(url: str) -> list[dict[str, Any]]:
    """Return the Pushgateway's groups, from its `GET /api/v1/metrics` API."""
    response = requests.get(f"{url}/api/v1/metrics", timeout=10)
    response.raise_for_status()
    body = response.json()
    if body.get("status") != "success":
        raise RuntimeError(f"pushgateway API answered {body!r}")
    return list(body["data"])


def _chromium(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    binary = _executable(*CHROMIUM_NAMES)
    with tempfile.TemporaryDirectory(prefix="gruponos-chromium-") as profile:
        return subprocess.run(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def chromium_screenshot(
    html: Path, png: Path, width: int = 1200, height: int = 1600, timeout: float = 120
) -> Path:
    """Render `html` in headless Chromium and save a screenshot of the window as `png`."""
    png.unlink(missing_ok=True)
    result = _chromium(
        [
            f"--screenshot={png.resolve()}",
            f"--window-size={width},{height}",
            html.resolve().as_uri(),
        ],
        timeout,
    )
    if not png.exists():
        raise RuntimeError(
            f"chromium wrote no screenshot (exit {result.returncode}): {result.stderr[-800:]}"
        )
    return png


def chromium_dom(html: Path, timeout: float = 120) -> str:
    """Return the page's DOM after Chromium loaded it (`--dump-dom`)."""
    result = _chromium(["--dump-dom", html.resolve().as_uri()], timeout)
    if result.returncode != 0 or not result.stdout:
        raise RuntimeError(
            f"chromium --dump-dom failed ({result.returncode}): {result.stderr[-800:]}"
        )
    return result.stdout


def read_png(path: Path) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB or RGBA PNG: width, height and one bytes row of RGB per line."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    offset, chunks, header = 8, [], b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        offset += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or color not in (2, 6) or interlace:
        raise ValueError(f"{path}: unsupported PNG (depth {depth}, color type {color})")
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    position = 0
    for _ in range(height):
        filter_type = raw[position]
        line = bytearray(raw[position + 1 : position + 1 + stride])
        position += 1 + stride
        _unfilter(filter_type, line, previous, channels)
        rgb = bytes(b for i, b in enumerate(line) if i % channels < 3)
        rows.append(rgb)
        previous = line
    return width, height, rows


def _unfilter(kind: int, line: bytearray, previous: bytearray, bpp: int) -> None:
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up = previous[i]
        up_left = previous[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            p = left + up - up_left
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
            predictor = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
            line[i] = (line[i] + predictor) & 0xFF
        elif kind != 0:
            raise ValueError(f"unknown PNG filter {kind}")


def count_color(rows: list[bytes], rgb: tuple[int, int, int], tolerance: int = 8) -> int:
    """How many pixels are within `tolerance` of `rgb` on each channel."""
    count = 0
    r0, g0, b0 = rgb
    for row in rows:
        for i in range(0, len(row), 3):
            if (
                abs(row[i] - r0) <= tolerance
                and abs(row[i + 1] - g0) <= tolerance
                and abs(row[i + 2] - b0) <= tolerance
            ):
                count += 1
    return count
