"""Small charts drawn as inline SVG: the match funnel and a segment's size over time.

No script and no CDN: the SVG is part of the panel's HTML, so it shows in JupyterLab, in a
saved notebook on GitHub and offline alike. Colours come from JupyterLab's CSS variables
(with fallbacks), like the rest of the panels.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl

from ._html import Level, esc

__all__ = ["funnel_svg", "local_time", "size_chart_svg"]

_FILL: dict[Level, str] = {
    "info": "var(--jp-info-color1, #0369a1)",
    "success": "var(--jp-success-color1, #15803d)",
    "warning": "var(--jp-warn-color1, #b45309)",
    "error": "var(--jp-error-color1, #b91c1c)",
    "muted": "var(--jp-border-color1, #9ca3af)",
}
_INK = "var(--jp-ui-font-color1, #1f2937)"
_FAINT = "var(--jp-border-color2, #e5e7eb)"
_FONT = "font-family:var(--jp-ui-font-family, sans-serif);font-size:12px"


def local_time(iso: str | None, *, seconds: bool = False) -> str:
    """An ISO time (as the journal keeps it, UTC) in this computer's time zone, without
    the offset: ``2026-12-06 13:19``."""
    if not iso:
        return ""
    try:
        when = datetime.fromisoformat(str(iso))
    except ValueError:
        return str(iso)
    if when.tzinfo is not None:
        when = when.astimezone()
    return when.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def funnel_svg(rows: Sequence[tuple[str, int, Level]], *, width: int = 560, title: str = "") -> str:
    """Horizontal bars, one per stage (label, count, colour), scaled to the largest count."""
    if not rows:
        return ""
    bar_h, gap, label_w, count_w = 16, 6, 150, 70
    top = 20 if title else 4
    height = top + len(rows) * (bar_h + gap) + 4
    scale = max(*(count for _, count, _ in rows), 1)
    room = width - label_w - count_w - 8
    parts = [
        (
            f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
            f"viewBox='0 0 {width} {height}' role='img' aria-label='{esc(title or 'funnel')}' "
            f"style='{_FONT};max-width:100%'>"
        )
    ]
    if title:
        parts.append(
            f"<text x='0' y='13' fill='{_INK}' style='font-weight:600'>{esc(title)}</text>"
        )
    for i, (label, count, level) in enumerate(rows):
        y = top + i * (bar_h + gap)
        w = room * count / scale
        parts.append(
            f"<text x='{label_w - 8}' y='{y + bar_h - 4}' text-anchor='end' fill='{_INK}'>"
            f"{esc(label)}</text>"
            f"<rect x='{label_w}' y='{y}' width='{room}' height='{bar_h}' rx='2' "
            f"fill='{_FAINT}'/>"
            f"<rect x='{label_w}' y='{y}' width='{w:.1f}' height='{bar_h}' rx='2' "
            f"fill='{_FILL[level]}'><title>{esc(label)}: {count:,}</title></rect>"
            f"<text x='{width - 4}' y='{y + bar_h - 4}' text-anchor='end' fill='{_INK}' "
            f"style='font-variant-numeric:tabular-nums'>{count:,}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def size_chart_svg(sizes: pl.DataFrame, *, width: int = 560, height: int = 170) -> str:
    """A segment's member count over its runs: ``sizes`` as ``Journal.sizes`` returns it
    (``recorded_at``, ``n_before``, ``n_after``, oldest first). Each run is a step from its
    size before to its size after; the latest size is labelled."""
    if sizes.height == 0:
        return ""
    points: list[tuple[str, int]] = []
    for row in sizes.iter_rows(named=True):
        when = local_time(row["recorded_at"])
        points.append((when, int(row["n_before"])))
        points.append((when, int(row["n_after"])))
    values = [v for _, v in points]
    high, low = max(*values, 1), min(values)
    # A segment of 50,000 that changes by 200 should show the change: the axis starts near
    # the smallest size unless that leaves most of the chart empty anyway.
    floor = 0 if low < high * 0.5 or low == high else max(0, low - (high - low) // 4)
    left, right, top, bottom = 56, 12, 22, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    n_runs = sizes.height

    def x_of(i: int) -> float:
        # before and after a run sit on either side of its slot
        run, after = divmod(i, 2)
        slot = plot_w / n_runs
        return left + slot * run + slot * (0.25 + 0.5 * after)

    def y_of(v: int) -> float:
        return top + plot_h - plot_h * (v - floor) / max(high - floor, 1)

    path = " ".join(
        f"{'M' if i == 0 else 'L'}{x_of(i):.1f},{y_of(v):.1f}" for i, (_, v) in enumerate(points)
    )
    parts = [
        (
            f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
            f"viewBox='0 0 {width} {height}' role='img' aria-label='segment size over time' "
            f"style='{_FONT};max-width:100%'>"
        ),
        f"<text x='0' y='13' fill='{_INK}' style='font-weight:600'>Members over time</text>",
    ]
    for v in sorted({floor, high}):
        y = y_of(v)
        parts.append(
            f"<line x1='{left}' x2='{width - right}' y1='{y:.1f}' y2='{y:.1f}' "
            f"stroke='{_FAINT}'/>"
            f"<text x='{left - 6}' y='{y + 4:.1f}' text-anchor='end' fill='{_INK}'>{v:,}</text>"
        )
    parts.append(f"<path d='{path}' fill='none' stroke='{_FILL['info']}' stroke-width='2'/>")
    for i, (when, v) in enumerate(points):
        kind = "after" if i % 2 else "before"
        parts.append(
            f"<circle cx='{x_of(i):.1f}' cy='{y_of(v):.1f}' r='3' fill='{_FILL['info']}'>"
            f"<title>{esc(when)} · {kind}: {v:,} members</title></circle>"
        )
    # The first and last run's times, each under its own points (one run: centred under it).
    first, last = points[0][0], points[-1][0]
    if n_runs == 1:
        middle = (x_of(0) + x_of(1)) / 2
        parts.append(
            f"<text x='{middle:.1f}' y='{height - 8}' text-anchor='middle' fill='{_INK}' "
            f"opacity='.75'>{esc(first)}</text>"
        )
    else:
        parts.append(
            f"<text x='{x_of(0):.1f}' y='{height - 8}' fill='{_INK}' opacity='.75'>"
            f"{esc(first)}</text>"
        )
        parts.append(
            f"<text x='{x_of(len(points) - 1):.1f}' y='{height - 8}' text-anchor='end' "
            f"fill='{_INK}' opacity='.75'>{esc(last)}</text>"
        )
    parts.append(
        f"<text x='{x_of(len(points) - 1):.1f}' y='{y_of(values[-1]) - 8:.1f}' "
        f"text-anchor='end' fill='{_INK}' style='font-weight:600'>{values[-1]:,}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)
