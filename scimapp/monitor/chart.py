"""Geometry of the dashboard's requests-and-errors chart, drawn by the template as inline SVG (no script, no CDN).
Pure: hourly buckets in, coordinates out."""
from __future__ import annotations

from datetime import datetime, timedelta

EPOCH = datetime(1970, 1, 1)
BAR = 5  # width of one hour in SVG units
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 10, 26
PLOT_HEIGHT = 160


def hour_start(hour: int) -> datetime:
    """The UTC time an hour bucket (hours since 1970) starts."""
    return EPOCH + timedelta(hours=hour)


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 × 10ⁿ at or above ``value`` (at least 1): the top of the y axis."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return max(1, m * step)
        step *= 10


def geometry(buckets: list[dict]) -> dict:
    """Bars (requests, errors), axis ticks, day labels and the view box for ``buckets`` (oldest hour first)."""
    top = nice_ceiling(max((b["requests"] for b in buckets), default=0))
    width = LEFT + BAR * len(buckets) + RIGHT
    height = TOP + PLOT_HEIGHT + BOTTOM
    base = TOP + PLOT_HEIGHT

    def y(v: int) -> float:
        return round(base - PLOT_HEIGHT * v / top, 2)

    bars = []
    for i, b in enumerate(buckets):
        x = LEFT + i * BAR
        start = hour_start(b["hour"])
        bars.append({"x": x, "width": BAR - 1, "requests": b["requests"], "errors": b["errors"],
                     "req_y": y(b["requests"]), "req_h": round(base - y(b["requests"]), 2),
                     "err_y": y(b["errors"]), "err_h": round(base - y(b["errors"]), 2),
                     "label": f"{start:%Y-%m-%d %H}:00 UTC: {b['requests']} requests, {b['errors']} errors"})
    ticks = [{"y": y(v), "value": v} for v in (0, top // 2, top)] if top > 1 else [{"y": y(v), "value": v}
                                                                                   for v in (0, 1)]
    days = [{"x": LEFT + i * BAR, "label": f"{hour_start(b['hour']):%a %d}"}
            for i, b in enumerate(buckets) if b["hour"] % 24 == 0]
    return {"width": width, "height": height, "base": base, "left": LEFT, "right": width - RIGHT, "top": TOP,
            "bars": bars, "ticks": ticks, "days": days, "max": top}


def daily(buckets: list[dict]) -> list[dict]:
    """The buckets summed per UTC day, oldest first: the chart's table equivalent."""
    days: dict[str, dict] = {}
    for b in buckets:
        key = f"{hour_start(b['hour']):%Y-%m-%d}"
        day = days.setdefault(key, {"day": key, "requests": 0, "errors": 0})
        day["requests"] += b["requests"]
        day["errors"] += b["errors"]
    return list(days.values())
