"""Small HTML legends for the map layers (pure strings, no Panel)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from layers._common import RAMPS
from layers.raster import DEPTH_CLASSES
from layers.sensors import ALARM_COLORS
from layers.tickets import STATUS_COLORS
from layers.workers import AGING_COLOR, FRESH_COLOR, STALE_COLOR


def _swatch(rgb: Sequence[int]) -> str:
    r, g, b = (int(x) for x in rgb[:3])
    return (f'<span style="display:inline-block;width:12px;height:12px;margin-right:4px;'
            f'vertical-align:middle;border:1px solid #555;background:rgb({r},{g},{b})"></span>')


def legend_html(title: str, entries: Sequence[tuple[str, Sequence[int]]]) -> str:
    """A titled list of colour swatches."""
    rows = "".join(f'<div style="white-space:nowrap">{_swatch(c)}{html.escape(lbl)}</div>' for lbl, c in entries)
    return f'<div class="onemap-legend"><b>{html.escape(title)}</b>{rows}</div>'


def ramp_legend_html(title: str, *, ramp: str, vmin: float, vmax: float, unit: str = "",
                     reverse: bool = False) -> str:
    """A continuous colour bar from ``vmin`` to ``vmax``."""
    stops = RAMPS[ramp][::-1] if reverse else RAMPS[ramp]
    grad = ", ".join(f"rgb({r},{g},{b})" for r, g, b in stops)
    u = f" {html.escape(unit)}" if unit else ""
    return (f'<div class="onemap-legend"><b>{html.escape(title)}</b>'
            f'<div style="height:10px;width:160px;background:linear-gradient(to right, {grad})"></div>'
            f'<div style="width:160px;display:flex;justify-content:space-between">'
            f'<span>{vmin:g}{u}</span><span>{vmax:g}{u}</span></div></div>')


def depth_legend_html() -> str:
    """Legend of the flood depth classes (metres)."""
    entries = []
    for i, (lower, rgb) in enumerate(DEPTH_CLASSES):
        upper = DEPTH_CLASSES[i + 1][0] if i + 1 < len(DEPTH_CLASSES) else None
        lbl = f"{lower:.2f}-{upper:.2f} m" if upper is not None else f">= {lower:.2f} m"
        entries.append((lbl, rgb))
    return legend_html("Max water depth", entries)


def status_legend_html() -> str:
    return legend_html("Ticket status", [(s.replace("_", " "), c) for s, c in STATUS_COLORS.items()
                                         if s not in ("merged", "rejected")])


def worker_legend_html(*, fresh_s: float = 120, stale_s: float = 600) -> str:
    return legend_html("Worker position", [(f"fix <= {fresh_s:g} s", FRESH_COLOR),
                                           (f"fix <= {stale_s:g} s", AGING_COLOR),
                                           ("stale / unknown", STALE_COLOR)])


def sensor_legend_html() -> str:
    return legend_html("Sensor state", list(ALARM_COLORS.items()))
