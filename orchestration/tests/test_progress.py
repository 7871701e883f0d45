from __future__ import annotations

import io
import logging

from gruponos_meltano_native.runners.progress import Progress


def test_terminal_gets_one_redrawn_line_per_update():
    screen = io.StringIO()
    progress = Progress(screen, tty=True)
    progress({"order_dtl": 5000, "order_hdr": 1000}, 2.0)
    progress({"order_dtl": 9000, "order_hdr": 1000}, 3.0)
    progress.finish()
    text = screen.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n")
    assert "order_dtl 9,000 (3,000/s) | order_hdr 1,000 (333/s)" in text


def test_without_terminal_progress_is_logged_now_and_then(caplog):
    screen = io.StringIO()
    progress = Progress(screen, tty=False, log_every=0)
    with caplog.at_level(logging.INFO, logger="gruponos_meltano_native.runners.progress"):
        progress({"order_hdr": 10}, 1.0)
    progress.finish()
    assert screen.getvalue() == ""
    assert "progress 1s: order_hdr 10 (10/s)" in caplog.text


def test_an_entity_that_starts_later_gets_its_own_rate():
    progress = Progress(io.StringIO(), tty=True)
    progress.describe({"allocation": 1000, "order_dtl": 0}, 1.0)
    text = progress.describe({"allocation": 1000, "order_dtl": 500}, 2.0)
    assert text == "allocation 1,000 (500/s) | order_dtl 500 (500/s)"
