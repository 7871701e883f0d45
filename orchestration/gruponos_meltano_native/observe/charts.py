"""Bar charts as inline SVG, drawn by hand: the report needs no script and no network.

One bar per run, in time order. A failed or interrupted run is a red bar with a red cross
above it (so a failure that loaded nothing still shows); a skipped run is a grey dot on
the baseline. Each bar carries a `<title>` tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

COLORS = {
    "full-sync-job": "#2563eb",
    "incremental-sync-job": "#0d9488",
    "failed": "#dc2626",
    "skipped": "#9ca3af",
    "other": "#7c3aed",
}
GRID = "#e5e7eb"
TEXT = "#374151"


@dataclass
class Bar:
    """One run in a chart."""

    label: str  # x-axis label (start time)
    value: float
    status: str  # succeeded, failed, interrupted, skipped
    series: str  # job name: picks the color
    tooltip: str


def nice_ceiling(value: float) -> float:
    """Return the smallest 1/2/2.5/5 x 10^n at or above `value` (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def bar_chart(
    bars: list[Bar],
    title: str,
    unit_format: Callable[[float], str],
    width: int = 560,
    height: int = 220,
    chart_id: str = "",
) -> str:
    """Return an `<svg>` bar chart of `bars` with a y axis, gridlines and a few x labels."""
    left, right, top, bottom = 56, 36, 28, 42
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = nice_ceiling(max((b.value for b in bars), default=0.0))
    parts = [
        f'<svg class="chart" data-chart="{escape(chart_id)}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text x="{left}" y="16" font-size="13" font-weight="600" fill="{TEXT}">'
        f"{escape(title)}</text>",
    ]
    for i in range(5):
        value = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="{TEXT}">{escape(unit_format(value))}</text>'
        )
    if not bars:
        parts.append(
            f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" font-size="12" '
            f'text-anchor="middle" fill="{TEXT}">no runs in this period</text>'
        )
    slot = plot_w / max(len(bars), 1)
    bar_w = max(1.0, min(40.0, slot * 0.7))
    for index, bar in enumerate(bars):
        x = left + slot * index + (slot - bar_w) / 2
        failed = bar.status in ("failed", "interrupted")
        color = COLORS["failed"] if failed else COLORS.get(bar.series, COLORS["other"])
        tip = f"<title>{escape(bar.tooltip)}</title>"
        if bar.status == "skipped":
            parts.append(
                f'<circle class="skipped" cx="{x + bar_w / 2:.1f}" cy="{top + plot_h - 4}" r="4" '
                f'fill="{COLORS["skipped"]}">{tip}</circle>'
            )
            continue
        bar_h = max(plot_h * bar.value / top_value, 1.0 if bar.value > 0 else 0.0)
        y = top + plot_h - bar_h
        parts.append(
            f'<rect class="bar {escape(bar.status)}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
            f'height="{bar_h:.1f}" fill="{color}">{tip}</rect>'
        )
        if failed:
            cx, cy, r = x + bar_w / 2, y - 9, 6
            parts.append(
                f'<path class="failure-mark" d="M{cx - r:.1f} {cy - r:.1f} L{cx + r:.1f} '
                f'{cy + r:.1f} M{cx + r:.1f} {cy - r:.1f} L{cx - r:.1f} {cy + r:.1f}" '
                f'stroke="{COLORS["failed"]}" stroke-width="3">{tip}</path>'
            )
    parts.append(
        f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" '
        f'stroke="{TEXT}"/>'
    )
    for index in _label_positions(len(bars)):
        x = left + slot * index + slot / 2
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 16}" font-size="10" text-anchor="middle" '
            f'fill="{TEXT}">{escape(bars[index].label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _label_positions(count: int, most: int = 5) -> list[int]:
    if count <= most:
        return list(range(count))
    step = (count - 1) / (most - 1)
    return sorted({round(i * step) for i in range(most)})


def format_count(value: float) -> str:
    """Return a count for an axis: 1,200 / 12k / 1.5M."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 10_000:
        return f"{value / 1000:g}k"
    return f"{value:,.0f}" if value == int(value) else f"{value:g}"


def format_duration(seconds: float) -> str:
    """Return a duration for an axis or a table: 45s, 12.5min, 3.2h."""
    if seconds >= 5400:
        return f"{seconds / 3600:.3g}h"
    if seconds >= 90:
        return f"{seconds / 60:.3g}min"
    return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
