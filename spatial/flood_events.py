"""A past flood event from the sensors: rainfall and water levels, for skill and calibration.

An event is a time window. Its rainfall is the mean of the ``rain_gauge`` sensors' readings
[mm/h] in ``step_s`` bins (a uniform hyetograph from the window's start; empty bins between readings
interpolated, before the first and after the last reading zero); its observations are the
``water_level`` sensors' readings [m of water above the ground], ``t_s`` seconds from the start,
at the sensors' positions in the district's metric CRS. Calibrated parameters are kept in
``<ONEMAP_HOME>/flood/calibration.json`` (:func:`save_calibration`, :func:`calibrated_parameters`)
for the planner's forecasts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from pyproj import Transformer
from sqlalchemy.orm import Session

from flood_model.rainfall import Hyetograph
from spatial.clock import as_utc, utc_now
from spatial.errors import NotFound, ValidationError
from spatial.models import SRID, Sensor, SensorReading
from spatial.settings import get_settings

__all__ = ["FloodEvent", "calibrated_parameters", "load_event", "parse_window", "save_calibration"]


@dataclass
class FloodEvent:
    """Rainfall, water-level observations and gauge positions [m, EPSG:``srid``] of a window."""

    start: datetime
    end: datetime
    rain: Hyetograph
    observed: pd.DataFrame  # t_s, gauge, depth_m
    gauges: dict[str, tuple[float, float]]
    srid: int

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


def parse_window(text: str) -> tuple[datetime, datetime]:
    """``START/END`` (ISO 8601, UTC unless an offset is given) -> two aware datetimes."""
    parts = (text or "").split("/")
    if len(parts) != 2:
        raise ValidationError(f"an event is START/END, e.g. 2026-11-30T20:00Z/2026-12-01T02:00Z; got {text!r}")
    start, end = (as_utc(p.strip(), what=w) for p, w in zip(parts, ("event start", "event end"), strict=True))
    if not end > start:
        raise ValidationError("the event must end after it starts")
    if (end - start).total_seconds() > 3 * 86400:
        raise ValidationError("an event window longer than 3 days is not a flood event; pick the storm's hours")
    if end > utc_now():
        raise ValidationError("the event must be in the past")
    return start, end


def load_event(session: Session, start: datetime, end: datetime, *, srid: int, step_s: float = 300.0) -> FloodEvent:
    """Read the readings of ``[start, end)``; NotFound when there is no rain or no water level."""

    def readings(kind: str) -> pd.DataFrame:
        rows = session.execute(
            sa.select(Sensor.code, SensorReading.observed_at, SensorReading.value,
                      sa.func.ST_X(Sensor.geom), sa.func.ST_Y(Sensor.geom))
            .join(SensorReading, SensorReading.sensor_id == Sensor.id)
            .where(Sensor.sensor_type == kind, SensorReading.observed_at >= start, SensorReading.observed_at < end,
                   SensorReading.quality == "ok")
            .order_by(Sensor.code, SensorReading.observed_at)).all()
        return pd.DataFrame(rows, columns=["code", "t", "value", "lon", "lat"])

    rain = readings("rain_gauge")
    level = readings("water_level")
    if rain.empty:
        raise NotFound(f"no rain_gauge readings between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC")
    if level.empty:
        raise NotFound(f"no water_level readings between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC")
    dur = (end - start).total_seconds()
    nbins = max(1, math.ceil(dur / step_s))
    rain["bin"] = ((rain.t - start).dt.total_seconds() // step_s).astype(int).clip(0, nbins - 1)
    per_bin = rain.groupby("bin").value.mean().reindex(range(nbins))
    # gaps between readings are interpolated; before the first / after the last reading it did not rain
    intensity = per_bin.interpolate(limit_area="inside").fillna(0.0).clip(lower=0).to_numpy()
    edges = np.minimum(np.arange(nbins + 1) * step_s, dur)
    hyeto = Hyetograph(edges, intensity, label=f"rain gauges {start:%Y-%m-%d %H:%M}Z, {len(rain.code.unique())} gauges")
    to_m = Transformer.from_crs(SRID, srid, always_xy=True)
    pos = level.drop_duplicates("code")
    gauges = {c: tuple(map(float, to_m.transform(lon, lat))) for c, lon, lat in zip(pos.code, pos.lon, pos.lat,
                                                                                      strict=True)}
    observed = pd.DataFrame({"t_s": (level.t - start).dt.total_seconds(), "gauge": level.code,
                             "depth_m": level.value.astype(float).clip(lower=0)})
    return FloodEvent(start, end, hyeto, observed, gauges, srid)  # type: ignore[arg-type]


def calibration_path() -> Path:
    return get_settings().home / "flood" / "calibration.json"


def save_calibration(record: dict) -> Path:
    """Store the calibrated parameters (and the event and skill they came from) for later forecasts."""
    path = calibration_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, default=str))
    tmp.replace(path)
    return path


def calibrated_parameters() -> dict[str, float]:
    """The last saved calibration's parameters (empty when none was saved)."""
    path = calibration_path()
    if not path.is_file():
        return {}
    try:
        return {k: float(v) for k, v in json.loads(path.read_text()).get("parameters", {}).items()}
    except (ValueError, TypeError, AttributeError):
        return {}
