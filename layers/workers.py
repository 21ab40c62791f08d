"""Worker positions with freshness, and links from a ticket to candidate workers (EPSG:4326)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import geopandas as gpd
import numpy as np
import pandas as pd

from layers._common import add_rgb, check_size, point_frame, point_layer, require_columns, to_wgs84

FRESH_COLOR = (46, 204, 113)
AGING_COLOR = (243, 156, 18)
STALE_COLOR = (149, 165, 166)
CANDIDATE_COLOR = (0, 119, 255)


def freshness_colors(age_s: np.ndarray, *, fresh_s: float, stale_s: float) -> np.ndarray:
    """RGB per fix age: fresh (<= fresh_s) green, aging orange, stale (> stale_s or unknown) grey."""
    age = np.asarray(age_s, dtype="float64")
    out = np.empty((age.size, 3), dtype="uint8")
    out[:] = STALE_COLOR
    out[np.isfinite(age) & (age <= stale_s)] = AGING_COLOR
    out[np.isfinite(age) & (age <= fresh_s)] = FRESH_COLOR
    return out


def worker_points(
    gdf: gpd.GeoDataFrame,
    *,
    now: datetime,
    fresh_s: float = 120.0,
    stale_s: float = 600.0,
    max_features: int = 100_000,
    layer_id: str = "workers",
    radius_px: float = 5.0,
    highlight_ids: Sequence[int] = (),
) -> dict:
    """Workers coloured by position freshness.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Points with a CRS and columns ``id``, ``code``, ``position_at``
        (tz-aware fix time); optional ``workload``, ``max_workload``.
    now : datetime
        Reference time (tz-aware).
    fresh_s, stale_s : float
        Fix-age thresholds, seconds.
    highlight_ids : sequence of int
        Workers drawn larger with a blue ring (dispatch candidates).

    Returns
    -------
    dict
        deck.gl ``ScatterplotLayer``; data columns ``lon, lat, id, code, age, load, r, g, b, hl``.
    """
    what = f"worker layer {layer_id!r}"
    check_size(len(gdf), max_features, what=what)
    require_columns(gdf, ["id", "code", "position_at"], what=what)
    gdf = to_wgs84(gdf, what=what)
    df = point_frame(gdf, layer_id=layer_id)
    df["id"] = gdf["id"].to_numpy(dtype="int64")
    df["code"] = gdf["code"].astype(str).to_numpy()
    ts = pd.to_datetime(gdf["position_at"], utc=True)
    age = (pd.Timestamp(now).tz_convert("UTC") - ts).dt.total_seconds().to_numpy(dtype="float64")
    df["age"] = np.round(age, 0)
    wl = gdf["workload"].to_numpy(dtype="int64") if "workload" in gdf.columns else np.zeros(len(gdf), "int64")
    mx = gdf["max_workload"].to_numpy(dtype="int64") if "max_workload" in gdf.columns else wl
    df["load"] = [f"{a}/{b}" for a, b in zip(wl, mx, strict=True)]
    add_rgb(df, freshness_colors(age, fresh_s=fresh_s, stale_s=stale_s))
    hl = np.isin(df["id"].to_numpy(), np.asarray(list(highlight_ids), dtype="int64"))
    df["hl"] = hl.astype("uint8")
    return point_layer(
        layer_id, df, radius=f"@@=hl ? {radius_px * 2.2} : {radius_px}",
        line_color=f"@@=hl ? [{CANDIDATE_COLOR[0]}, {CANDIDATE_COLOR[1]}, {CANDIDATE_COLOR[2]}] : [40, 40, 40]",
        getLineWidth="@@=hl ? 3 : 1", lineWidthUnits="pixels", lineWidthMinPixels=None,
    )


def candidate_links(
    origin: tuple[float, float],
    candidates: gpd.GeoDataFrame,
    *,
    layer_id: str = "candidate_links",
    max_features: int = 1_000,
) -> dict:
    """Straight lines from a ticket (lon, lat in EPSG:4326) to each candidate worker.

    ``candidates`` needs a CRS and optional ``rank`` (1 = best) and
    ``distance_m`` columns; the best candidate is drawn thickest.
    """
    what = f"candidate layer {layer_id!r}"
    check_size(len(candidates), max_features, what=what)
    candidates = to_wgs84(candidates, what=what)
    df = point_frame(candidates, layer_id=layer_id).rename(columns={"lon": "lon1", "lat": "lat1"})
    df["lon0"] = float(origin[0])
    df["lat0"] = float(origin[1])
    rank = candidates["rank"].to_numpy(dtype="float32") if "rank" in candidates.columns \
        else np.arange(1, len(df) + 1, dtype="float32")
    df["w"] = np.clip(6.0 - rank, 1.5, 5.0).astype("float32")
    df["dist"] = (candidates["distance_m"].to_numpy(dtype="float64").round(0)
                  if "distance_m" in candidates.columns else np.zeros(len(df)))
    return {
        "@@type": "LineLayer",
        "id": layer_id,
        "data": df,
        "getSourcePosition": "@@=[lon0, lat0]",
        "getTargetPosition": "@@=[lon1, lat1]",
        "getColor": list(CANDIDATE_COLOR),
        "getWidth": "@@=w",
        "widthUnits": "pixels",
        "pickable": False,
    }


def tooltip() -> dict:
    return {"html": "<b>{code}</b><br/>fix {age} s old, load {load}"}
