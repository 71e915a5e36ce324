"""What the report's charts draw, worked out on the server: bar geometry for an inline SVG and
heat levels for the week-by-hour tables. No charting library, nothing from a CDN."""

from django.utils.formats import date_format
from django.utils.translation import gettext as _

from ..models import WEEKDAY_NAMES

CHART_WIDTH, CHART_HEIGHT, GAP = 720, 180, 2
LEVELS = 5


def _nice_top(value: float) -> int:
    """A round axis maximum at or above `value` (1, 2, 5, 10, 20, 50 …)."""
    scale = 1
    while True:
        for step in (1, 2, 5):
            if step * scale >= value:
                return step * scale
        scale *= 10


def day_bars(days: list[dict]) -> dict:
    """Arrivals per day as bars, the served part drawn inside them."""
    top = _nice_top(max((d["arrivals"] for d in days), default=0))
    width = CHART_WIDTH / max(1, len(days))
    bars = []
    for i, day in enumerate(days):
        height = day["arrivals"] / top * CHART_HEIGHT
        served = day["served"] / top * CHART_HEIGHT
        bars.append(
            {
                "x": round(i * width + GAP / 2, 1),
                "width": round(max(1.0, width - GAP), 1),
                "y": round(CHART_HEIGHT - height, 1),
                "height": round(height, 1),
                "served_y": round(CHART_HEIGHT - served, 1),
                "served_height": round(served, 1),
                "label": date_format(day["date"], "D j M"),
                "arrivals": day["arrivals"],
                "served": day["served"],
            }
        )
    step = max(1, len(days) // 7)
    ticks = [{"x": round(b["x"] + b["width"] / 2, 1), "label": b["label"]} for b in bars[::step]]
    return {"bars": bars, "top": top, "width": CHART_WIDTH, "height": CHART_HEIGHT, "ticks": ticks}


def _level(value, top) -> int:
    if not value or not top:
        return 0
    return min(LEVELS, 1 + int(value / top * (LEVELS - 1) + 0.5))


def week_heatmap(hours: dict, key: str, *, scale: float = 1.0) -> dict:
    """Rows per weekday, a cell per hour with anyone (hours nobody came in are left out)."""
    used = sorted({hour for (_day, hour), cell in hours.items() if cell["arrivals"]})
    if used:
        used = list(range(used[0], used[-1] + 1))
    top = max((cell[key] or 0 for cell in hours.values()), default=0)
    rows = []
    for weekday, name in enumerate(WEEKDAY_NAMES):
        cells = []
        for hour in used:
            value = hours.get((weekday, hour), {}).get(key)
            cells.append(
                {"hour": hour, "value": None if value is None else round(value / scale), "level": _level(value, top)}
            )
        rows.append({"name": name, "cells": cells})
    return {"hours": used, "rows": rows, "caption": _("by weekday and hour of arrival")}
