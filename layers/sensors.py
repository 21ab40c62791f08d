"""IoT sensors with their latest reading and alarm state (EPSG:4326)."""

from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import numpy as np
import pandas as pd

from layers._common import add_rgb, categorical_colors, check_size, point_frame, point_layer, require_columns, to_wgs84

#: Colour per alarm state; ``stale`` = no reading for longer than ``stale_s``.
ALARM_COLORS = {"ok": (42, 157, 143), "yellow": (233, 196, 106), "orange": (244, 162, 97),
                "red": (230, 57, 70), "stale": (160, 160, 160), "offline": (110, 110, 110)}


def sensor_state(alarm: pd.Series, last_reading_at: pd.Series, *, now: datetime, stale_s: float) -> np.ndarray:
    """Effective state per sensor: its alarm level, or ``stale`` when the last reading is old."""
    ts = pd.to_datetime(last_reading_at, utc=True)
    age = (pd.Timestamp(now).tz_convert("UTC") - ts).dt.total_seconds().to_numpy()
    state = alarm.fillna("ok").astype(str).to_numpy(dtype=object)
    stale = ~np.isfinite(age) | (age > stale_s)
    state[stale & (state != "offline")] = "stale"
    return state


def sensor_points(
    gdf: gpd.GeoDataFrame,
    *,
    now: datetime,
    stale_s: float = 3600.0,
    max_features: int = 50_000,
    layer_id: str = "sensors",
    radius_px: float = 5.0,
) -> dict:
    """Sensors coloured by alarm state.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Points with a CRS and columns ``id``, ``name``, ``sensor_type``,
        ``unit``, ``last_value``, ``last_reading_at`` (tz-aware), ``alarm``
        (``ok``/``yellow``/``orange``/``red``/``offline`` or None).
    now : datetime
        Reference time (tz-aware) for staleness.
    stale_s : float
        A reading older than this (seconds) marks the sensor ``stale``.

    Returns
    -------
    dict
        deck.gl ``ScatterplotLayer``; data columns ``lon, lat, id, name, kind,
        value, unit, state, r, g, b``.
    """
    what = f"sensor layer {layer_id!r}"
    check_size(len(gdf), max_features, what=what)
    require_columns(gdf, ["id", "name", "last_value", "last_reading_at"], what=what)
    gdf = to_wgs84(gdf, what=what)
    df = point_frame(gdf, layer_id=layer_id)
    df["id"] = gdf["id"].to_numpy(dtype="int64")
    df["name"] = gdf["name"].astype(str).to_numpy()
    df["kind"] = (gdf["sensor_type"].astype(str).to_numpy() if "sensor_type" in gdf.columns
                  else np.full(len(gdf), "", dtype=object))
    df["value"] = pd.to_numeric(gdf["last_value"], errors="coerce").round(3).to_numpy(dtype="float64")
    df["unit"] = (gdf["unit"].astype(str).to_numpy() if "unit" in gdf.columns
                  else np.full(len(gdf), "", dtype=object))
    alarm = gdf["alarm"] if "alarm" in gdf.columns else pd.Series([None] * len(gdf), index=gdf.index)
    state = sensor_state(alarm, gdf["last_reading_at"], now=now, stale_s=stale_s)
    df["state"] = state
    add_rgb(df, categorical_colors(list(state), ALARM_COLORS))
    return point_layer(layer_id, df, radius=float(radius_px), line_color=[20, 20, 20])


def tooltip() -> dict:
    return {"html": "<b>{name}</b> ({kind})<br/>{value} {unit} &mdash; {state}"}
