"""Tickets as points coloured by status (EPSG:4326 ScatterplotLayer)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np

from layers._common import (
    MAX_POINTS,
    add_rgb,
    categorical_colors,
    check_size,
    point_frame,
    point_layer,
    require_columns,
    to_wgs84,
)

#: Colour per ticket status (RGB).
STATUS_COLORS: dict[str, tuple[int, int, int]] = {
    "reported": (230, 57, 70),      # red: needs acceptance
    "accepted": (244, 162, 97),     # orange: needs dispatch
    "reopened": (255, 99, 146),
    "dispatched": (69, 123, 157),   # blue: with a worker
    "in_progress": (29, 53, 87),
    "resolved": (42, 157, 143),     # teal: waiting for verification
    "verified": (106, 153, 78),
    "closed": (150, 150, 150),
    "rejected": (200, 200, 200),
    "merged": (200, 200, 200),
}
#: Small integer code per status (sent instead of strings).
STATUS_CODES: dict[str, int] = {s: i for i, s in enumerate(STATUS_COLORS)}
OVERDUE_COLOR = (128, 0, 38)


def ticket_points(
    gdf: gpd.GeoDataFrame,
    *,
    max_features: int = MAX_POINTS,
    layer_id: str = "tickets",
    radius_px: float = 4.0,
    highlight_id: int | None = None,
    mark_overdue: bool = True,
) -> dict:
    """Ticket points coloured by status.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Points with a CRS and columns ``id`` (int) and ``status`` (str);
        optional ``overdue`` (bool) draws an outline ring in dark red, and
        ``category`` (str) is kept for tooltips.
    max_features : int
        Refuse larger inputs; load only the visible area or aggregate.
    highlight_id : int, optional
        Ticket drawn larger (the selected one).

    Returns
    -------
    dict
        deck.gl ``ScatterplotLayer`` spec whose ``data`` is a DataFrame with
        ``lon, lat`` (degrees), ``id``, ``st`` (status code), ``r, g, b``; row
        ``i`` is row ``i`` of ``gdf`` (``click_state['index']``).
    """
    what = f"ticket layer {layer_id!r}"
    check_size(len(gdf), max_features, what=what)
    require_columns(gdf, ["id", "status"], what=what)
    gdf = to_wgs84(gdf, what=what)
    df = point_frame(gdf, layer_id=layer_id)
    df["id"] = gdf["id"].to_numpy(dtype="int64")
    df["st"] = np.array([STATUS_CODES.get(s, 255) for s in gdf["status"]], dtype="uint8")
    df["status"] = gdf["status"].astype(str).to_numpy()
    if "category" in gdf.columns:
        df["category"] = gdf["category"].astype(str).to_numpy()
    add_rgb(df, categorical_colors(list(gdf["status"]), STATUS_COLORS))
    size = np.full(len(df), radius_px, dtype="float32")
    if highlight_id is not None:
        size[df["id"].to_numpy() == highlight_id] = radius_px * 2.5
    df["size"] = size
    overdue = (gdf["overdue"].fillna(False).to_numpy(dtype=bool) if "overdue" in gdf.columns and mark_overdue
               else np.zeros(len(df), dtype=bool))
    df["od"] = overdue.astype("uint8")
    return point_layer(
        layer_id, df, radius="@@=size",
        line_color=f"@@=od ? [{OVERDUE_COLOR[0]}, {OVERDUE_COLOR[1]}, {OVERDUE_COLOR[2]}] : [255, 255, 255]",
        autoHighlight=True,
    )


def tooltip() -> dict:
    return {"html": "<b>Ticket #{id}</b><br/>{status}"}
