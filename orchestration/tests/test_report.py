"""The HTML report, opened in a real headless Chromium: the charts must actually be drawn."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from gruponos_meltano_native.observe.charts import COLORS, nice_ceiling
from gruponos_meltano_native.observe.history import HistoryRow
from gruponos_meltano_native.observe.report import render_report
from gruponos_testing import screenshot
from gruponos_testing.browser_and_pushgateway import (
    chromium_dom,
    chromium_for_tests,
    count_color,
    read_png,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CAUSE = "target-gruponos-oracle exited with code 1: ORA-01653: unable to extend table\ntrace"


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _run(run_id, job, hours_ago, status="succeeded", records=800, seconds=600.0, **extra):
    started = NOW - timedelta(hours=hours_ago)
    rows = []
    for entity, share in (("order_hdr", 1), ("allocation", 3)):
        rows.append(
            HistoryRow(
                run_id=run_id,
                job=job,
                company="GNOS",
                facility=extra.get("facility", "DC01"),
                entity=entity,
                started_at=started,
                ended_at=started + timedelta(seconds=seconds),
                duration_seconds=seconds,
                status=status,
                failure_kind=extra.get("failure_kind"),
                extracted=records * share,
                loaded=None if status == "failed" else records * share,
                marked_deleted=extra.get("deleted", 0),
                wms_count=records * share if job == "full-sync-job" else None,
                db_rows=records * share,
                quality_score=extra.get("score", 100.0),
                failed_checks=extra.get("failed_checks") if entity == "order_hdr" else None,
                newest_mod_ts=started - timedelta(minutes=extra.get("mod_age", 10)),
                error_message=extra.get("error"),
            )
        )
    return rows


def _history() -> list[HistoryRow]:
    rows = []
    for week in range(4):  # a weekly full sync, slower each week
        rows += _run(
            f"full{week}", "full-sync-job", 24 * 7 * (3 - week) + 30, seconds=3600 + 600 * week
        )
    for n in range(24):  # incrementals every 2 hours
        status = "failed" if n == 20 else "skipped" if n == 22 else "succeeded"
        rows += _run(
            f"inc{n:02}",
            "incremental-sync-job",
            48 - 2 * n,
            status=status,
            records=20 + n,
            seconds=60 + n,
            failure_kind="load" if status == "failed" else None,
            error=CAUSE if status == "failed" else None,
            failed_checks="wms_count_equals_db_rows" if n == 23 else None,
            score=75.0 if n == 23 else 100.0,
            mod_age=3000 if n == 23 else 10,
            deleted=2 if n == 23 else 0,
        )
    rows += _run("dc02", "full-sync-job", 5, facility="DC02")
    return rows


@pytest.fixture(scope="module")
def chromium() -> str:
    return chromium_for_tests()


def test_report_is_self_contained_and_says_what_happened(tmp_path):
    html = render_report(_history(), now=NOW, days=28, max_staleness_minutes=1440)
    # Nothing is fetched at view time: no script, stylesheet, image or font from elsewhere.
    assert not re.search(r"<(script|link|img|iframe)\b", html)
    assert not re.search(r"(src|href)=|url\(", html)
    assert "GNOS / DC01" in html and "GNOS / DC02" in html
    assert "failed (load)" in html  # the last incremental failure, in the overview
    assert "ORA-01653: unable to extend table" in html  # why it failed, in its bar's tooltip
    assert "failed: wms_count_equals_db_rows" in html
    assert "stale (limit 24h)" in html
    assert "quality score <span class='bad'>75.0%</span>" in html


def test_charts_render_in_headless_chromium(chromium, tmp_path, capsys):
    page = tmp_path / "report.html"
    page.write_text(render_report(_history(), now=NOW, days=28, max_staleness_minutes=1440))

    dom = chromium_dom(page)
    charts = re.findall(r'<svg class="chart" data-chart="([^"]+)"', dom)
    assert charts == [
        "records-GNOS-DC01-full-sync-job",
        "duration-GNOS-DC01-full-sync-job",
        "records-GNOS-DC01-incremental-sync-job",
        "duration-GNOS-DC01-incremental-sync-job",
        "records-GNOS-DC02-full-sync-job",
        "duration-GNOS-DC02-full-sync-job",
    ]
    assert len(re.findall(r'<rect class="bar failed"', dom)) == 2  # records and duration charts
    assert len(re.findall(r'class="failure-mark"', dom)) == 2
    assert len(re.findall(r'<circle class="skipped"', dom)) == 2

    # Drawn by `make screenshot`'s command, as the README's picture is.
    png = tmp_path / "report.png"
    args = [str(page), str(png), "--width", "1200", "--height", "1100"]
    assert screenshot.main(args) == 0
    assert capsys.readouterr().out == f"{png} ({png.stat().st_size:,} bytes)\n"
    width, height, pixels = read_png(png)
    assert (width, height) == (1200, 1100)
    # The legend's swatches are 100 pixels each: bars must paint far more than that.
    full = count_color(pixels, _rgb(COLORS["full-sync-job"]))
    incremental = count_color(pixels, _rgb(COLORS["incremental-sync-job"]))
    failed = count_color(pixels, _rgb(COLORS["failed"]))
    assert full > 5000, full
    assert incremental > 5000, incremental
    assert failed > 300, failed
    # The page is not one flat color: most of it is white background, with text and charts.
    white = count_color(pixels, (255, 255, 255), tolerance=2)
    assert 0.5 * width * height < white < 0.97 * width * height


def test_an_empty_history_renders_a_page_that_says_so():
    html = render_report([], now=NOW, days=7)
    assert "no runs recorded in this period" in html


def test_nice_ceiling():
    assert [nice_ceiling(v) for v in (0, 7, 11, 240, 2441, 30000)] == [1, 10, 20, 250, 2500, 50000]
