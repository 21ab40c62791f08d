"""The monthly assessment as a PDF: department and street rankings, charts and a map.

:func:`monthly_report_pdf` renders, with matplotlib's PDF backend (no display
needed), for one calendar month in the district's time zone
(:func:`spatial.tickets.scoring.monthly_scores`, optionally ``as_of`` a
cut-off):

1. the district's figures for the month and the **department ranking**
   (table + bar chart of scores, 0-100);
2. the **street ranking** (table + bar chart) and a **map**: streets coloured by
   score, grids shaded by the month's ticket count (EPSG:4326 drawn with the
   local metre ratio so shapes are not stretched).

Figures are plain :class:`matplotlib.figure.Figure` objects (no pyplot state,
no GUI backend), so server threads may render at the same time.

Used by ``onemap report monthly`` and the leadership view's download button.
"""

from __future__ import annotations

import io
import math
from datetime import UTC, date, datetime

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import sqlalchemy as sa
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from sqlalchemy.orm import Session

from spatial.profile import district_profile
from spatial.tickets import scoring

#: A4 portrait, inches.
PAGE = (8.27, 11.69)
#: Fonts, in fallback order: Latin, then CJK names (Debian fonts-wqy-zenhei, as for the browser tests).
FONTS = ["DejaVu Sans", "WenQuanYi Zen Hei"]
#: Rows of a ranking table on its page (the rest are counted in a note).
MAX_ROWS = 25

_GRID_COUNTS = sa.text("""
SELECT g.code, ST_AsBinary(g.geom) AS geom, count(t.id) AS tickets
FROM admin_unit g LEFT JOIN ticket t ON t.grid_id = g.id AND t.created_at >= :start AND t.created_at < :end
     AND t.status <> 'merged'
WHERE g.level = 4 GROUP BY g.id, g.code, g.geom
""")
_STREETS = sa.text("SELECT id, code, name, ST_AsBinary(geom) AS geom FROM admin_unit WHERE level = 2")


def _frame(rows, crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    df = pd.DataFrame(rows)
    if df.empty:
        return gpd.GeoDataFrame({"geometry": []}, geometry="geometry", crs=crs)
    return gpd.GeoDataFrame(df.drop(columns="geom"), geometry=gpd.GeoSeries.from_wkb(df["geom"].map(bytes)), crs=crs)


def _pct(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.0f}%"


def _num(v, fmt: str = "{:.1f}") -> str:
    return "-" if v is None or pd.isna(v) else fmt.format(v)


def _table(ax, df: pd.DataFrame, title: str) -> None:
    ax.axis("off")
    ax.set_title(title, loc="left", fontsize=11, fontweight="bold")
    if df.empty or not int(df["intake"].sum()):
        ax.text(0, 0.98, "no tickets this month", fontsize=9, transform=ax.transAxes)
    if df.empty:
        return
    shown = df.head(MAX_ROWS)
    cells = [[_num(r["rank"], "{:.0f}"), str(r["name"])[:28], f"{r['intake']:d}", f"{r['closed']:d}",
              _pct(r["on_time_accept_rate"]), _pct(r["on_time_resolve_rate"]), f"{r['overdue']:d}",
              _num(r["avg_resolve_hours"]), _num(r["satisfaction"], "{:.2f}"), _num(r["score"])]
             for _, r in shown.iterrows()]
    cols = ["rank", "name", "tickets", "closed", "accepted\non time", "resolved\non time", "overdue",
            "hours to\nresolve", "satis-\nfaction", "score"]
    tab = ax.table(cellText=cells, colLabels=cols, loc="upper left", cellLoc="center",
                   colWidths=[0.06, 0.26, 0.08, 0.08, 0.1, 0.1, 0.08, 0.08, 0.08, 0.08])
    tab.auto_set_font_size(False)
    tab.set_fontsize(7)
    tab.scale(1, 1.25)
    for (row, _col), cell in tab.get_celld().items():
        if row == 0:
            cell.set_height(cell.get_height() * 1.8)
            cell.set_facecolor("#1d3557")
            cell.set_text_props(color="white", fontweight="bold")
    if len(df) > MAX_ROWS:
        ax.text(0, -0.02, f"... and {len(df) - MAX_ROWS} more", fontsize=7, transform=ax.transAxes)


def _bars(ax, df: pd.DataFrame, title: str) -> None:
    ranked = df[df["score"].notna()].head(15)
    ax.set_title(title, loc="left", fontsize=10)
    if ranked.empty:
        ax.axis("off")
        return
    names = [str(n)[:32] for n in ranked["name"]][::-1]
    scores = ranked["score"].astype(float).to_numpy()[::-1]
    colors = matplotlib.colormaps["RdYlGn"](np.clip(scores / 100.0, 0, 1))
    ax.barh(names, scores, color=colors, edgecolor="#444", linewidth=0.4)
    ax.set_xlim(0, 100)
    ax.set_xlabel("score (0-100)", fontsize=8)
    ax.tick_params(labelsize=7)
    for y, s in enumerate(scores):
        ax.text(s + 1, y, f"{s:.1f}", va="center", fontsize=7)


def _map(ax, streets: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> None:
    ax.set_title("Streets by score, grids by tickets this month", loc="left", fontsize=10)
    ax.set_axis_off()
    if not grids.empty:
        grids.plot(ax=ax, column="tickets", cmap="Blues", linewidth=0.2, edgecolor="#999", legend=True,
                   vmin=0, vmax=max(1, int(grids["tickets"].max())),
                   legend_kwds={"label": "tickets", "shrink": 0.5})
    if not streets.empty:
        scored = streets[streets["score"].notna()]
        streets.boundary.plot(ax=ax, color="#333", linewidth=1.0)
        if len(scored):
            scored.plot(ax=ax, column="score", cmap="RdYlGn", vmin=0, vmax=100, alpha=0.35, linewidth=0)
        for _, r in streets.iterrows():
            pt = r.geometry.representative_point()
            label = f"{r['name']}\n{_num(r['score'])}" if pd.notna(r.get("score")) else str(r["name"])
            ax.annotate(label, (pt.x, pt.y), ha="center", fontsize=7, fontweight="bold")
    bounds = (grids if not grids.empty else streets).total_bounds if not (grids.empty and streets.empty) else None
    if bounds is not None and np.all(np.isfinite(bounds)):
        ax.set_aspect(1 / math.cos(math.radians((bounds[1] + bounds[3]) / 2)))  # metres east = metres north


def monthly_report_pdf(session: Session, *, month: date, as_of: date | datetime | None = None) -> bytes:
    """The month's assessment as PDF bytes (two A4 pages); ``month`` is any day of the local month."""
    profile = district_profile(session)
    depts = scoring.monthly_scores(session, month=month, by="department", as_of=as_of)
    streets = scoring.monthly_scores(session, month=month, by="street", as_of=as_of)
    start, end = scoring.month_bounds(month, tz=profile.timezone)
    grids = _frame(session.execute(_GRID_COUNTS, {"start": start, "end": end}).mappings().all())
    shapes = _frame(session.execute(_STREETS).mappings().all())
    if not shapes.empty:
        shapes = shapes.merge(streets[["unit_id", "score"]], left_on="id", right_on="unit_id", how="left")
    label = start.strftime("%Y-%m")
    cut = f" as of {as_of:%Y-%m-%d}" if as_of is not None else ""
    total = int(depts["intake"].sum()) if len(depts) else 0
    closed = int(depts["closed"].sum()) if len(depts) else 0
    overdue = int(depts["overdue"].sum()) if len(depts) else 0

    buf = io.BytesIO()
    with matplotlib.rc_context({"font.family": FONTS, "pdf.fonttype": 42}):  # TrueType: searchable text
        _render(buf, profile.spec.name, label, cut, (total, closed, overdue), depts, streets, shapes, grids)
    return buf.getvalue()


def _render(buf, name: str, label: str, cut: str, totals: tuple[int, int, int], depts: pd.DataFrame,
            streets: pd.DataFrame, shapes: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> None:
    total, closed, overdue = totals
    meta = {"Title": f"Monthly assessment {label}", "Subject": f"{name}: department and street ranking",
            "Creator": "OneMap", "CreationDate": datetime.now(UTC)}
    with PdfPages(buf, metadata=meta) as pdf:
        fig = Figure(figsize=PAGE)
        fig.text(0.06, 0.965, f"Monthly assessment · {name} · {label}{cut}", fontsize=12,
                 fontweight="bold", color="#1d3557")
        fig.text(0.06, 0.945, f"{total} tickets · {closed} closed · {overdue} overdue · score = 40 × on-time "
                 "resolve + 30 × on-time accept + 30 × satisfaction (0-100)", fontsize=8, color="#444")
        _table(fig.add_axes((0.06, 0.5, 0.88, 0.42)), depts, "Department ranking")
        _bars(fig.add_axes((0.36, 0.06, 0.56, 0.36)), depts, "Department scores")
        pdf.savefig(fig)

        fig = Figure(figsize=PAGE)
        fig.text(0.06, 0.965, f"Streets · {label}{cut}", fontsize=14, fontweight="bold", color="#1d3557")
        _table(fig.add_axes((0.06, 0.62, 0.88, 0.32)), streets, "Street ranking")
        _bars(fig.add_axes((0.36, 0.45, 0.56, 0.14)), streets, "Street scores")
        _map(fig.add_axes((0.06, 0.03, 0.88, 0.36)), shapes, grids)
        pdf.savefig(fig)
