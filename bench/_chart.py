"""The growth chart of target 5: plan + apply seconds against segment size, log-log, PNG.

Drawn with Pillow (the ``dev`` extra): two lines, measured at the benchmark's latency and
projected to a slower one, with each point labelled.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

__all__ = ["growth_chart"]

_W, _H = 900, 560
_LEFT, _RIGHT, _TOP, _BOTTOM = 90, 40, 60, 80
_MEASURED = (31, 119, 180)
_PROJECTED = (214, 39, 40)
_GRID = (225, 225, 225)
_INK = (40, 40, 40)


def _size_label(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return f"{n:,}"


def _seconds_label(s: float) -> str:
    if s >= 60:
        return f"{s / 60:.1f} min"
    if s >= 10:
        return f"{s:.0f} s"
    return f"{s:.1f} s"


def growth_chart(
    path: Path,
    *,
    members: list[int],
    measured: list[float],
    projected: list[float],
    latency: float,
    projected_latency: float,
) -> Path:
    """Write the chart to ``path`` (a PNG) and return it."""
    image = Image.new("RGB", (_W, _H), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=14)
    small = ImageFont.load_default(size=12)
    x0, x1 = _LEFT, _W - _RIGHT
    y0, y1 = _H - _BOTTOM, _TOP
    values = [v for v in measured + projected if v > 0] or [1.0]
    lo_y = 10 ** math.floor(math.log10(min(values)))
    hi_y = 10 ** math.ceil(math.log10(max(values)))
    if hi_y <= lo_y:
        hi_y = lo_y * 10
    lo_x, hi_x = math.log10(min(members)), math.log10(max(members))
    span_x = hi_x - lo_x or 1.0
    pad = 0.08 * span_x

    def px(n: int) -> float:
        return x0 + (math.log10(n) - lo_x + pad) / (span_x + 2 * pad) * (x1 - x0)

    def py(s: float) -> float:
        s = max(s, lo_y)
        return y0 - (math.log10(s) - math.log10(lo_y)) / math.log10(hi_y / lo_y) * (y0 - y1)

    decade = lo_y
    while decade <= hi_y * 1.0001:
        y = py(decade)
        draw.line([(x0, y), (x1, y)], fill=_GRID)
        draw.text((x0 - 8, y), f"{decade:g} s", fill=_INK, font=small, anchor="rm")
        decade *= 10
    for n in members:
        x = px(n)
        draw.line([(x, y0), (x, y1)], fill=_GRID)
        draw.text((x, y0 + 8), _size_label(n), fill=_INK, font=font, anchor="mt")
    draw.rectangle([(x0, y1), (x1, y0)], outline=_INK)
    draw.text(
        ((x0 + x1) / 2, y0 + 34),
        "segment size (members); each sync adds 1 % and removes 1 %",
        fill=_INK,
        font=font,
        anchor="mt",
    )
    draw.text(
        ((x0 + x1) / 2, 18),
        "plan + apply (read, stale check, push, verification), pages of 100, concurrency 8",
        fill=_INK,
        font=font,
        anchor="mt",
    )
    for series, colour, name in (
        (measured, _MEASURED, f"measured at {latency * 1000:.0f} ms latency"),
        (projected, _PROJECTED, f"projected to {projected_latency * 1000:.0f} ms latency"),
    ):
        points = [(px(n), py(s)) for n, s in zip(members, series, strict=True)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=3)
        for (x, y), s in zip(points, series, strict=True):
            draw.ellipse([(x - 5, y - 5), (x + 5, y + 5)], fill=colour)
            draw.text((x + 8, y - 8), _seconds_label(s), fill=colour, font=small, anchor="ls")
        legend_y = 56 if colour == _MEASURED else 74
        draw.line(
            [(x0 + 12, y1 + legend_y - 40), (x0 + 40, y1 + legend_y - 40)], fill=colour, width=3
        )
        draw.text((x0 + 48, y1 + legend_y - 40), name, fill=_INK, font=small, anchor="lm")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG", optimize=True)
    return path
