"""Planner forecast runs: the DEM, a run in the background, its depth overlay and summary.

The planner view only collects a scenario and shows what this module returns;
the orchestration (load the DEM at the chosen cell size, run
:func:`flood_model.forecast.run_forecast` with the district's roads and grids,
store the depth overlay PNG, summarise) lives here so the API, the CLI and the
app can share it.

Overlays are stored under ``<ONEMAP_HOME>/overlays`` as ``<run_id>.png`` plus
``<run_id>.json`` (four ``[lon, lat]`` corners, EPSG:4326, and metadata) and
served by ``GET /api/map/flood/<run_id>.png``.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from flood_model.calibration import apply_parameters
from flood_model.forecast import ForecastResult, run_forecast
from flood_model.grid import load_dem
from flood_model.network import PipeNetwork
from flood_model.rainfall import Hyetograph
from layers.raster import corner_bounds, depth_rgba, to_png
from spatial.errors import ConfigError, NotFound, ValidationError
from spatial.profile import Profile, district_profile
from spatial.settings import get_settings

#: Shallower water is not drawn (a film of rain everywhere would hide the map), metres.
MIN_SHOWN_M = 0.05
#: Depth above which a cell counts as "wet" in the summary, metres.
WET_M = 0.15

_RUN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")
#: Overlay ids of an operational run's depth snapshots: ``<run_id>.t<seconds, 6 digits>``.
_SNAPSHOT = re.compile(r"\.t\d{6}$")


def default_dem_path() -> Path:
    """Where the demo loader writes the district DEM (``<ONEMAP_HOME>/demo/dem.tif``)."""
    return get_settings().home / "demo" / "dem.tif"


#: What the planner says when the district has no DEM.
NO_DEM = "no DEM for this district: run onemap dem set PATH"


def dem_path(source: Profile | Session) -> Path:
    """The DEM planner forecasts run on: the district profile's ``dem`` (never another district's).

    ``source`` is the profile, or a session to read it with.

    Raises
    ------
    ConfigError
        No profile DEM (:data:`NO_DEM`), or its file is missing.
    """
    prof = source if isinstance(source, Profile) else district_profile(source)
    path = prof.dem_path
    if path is None:
        raise ConfigError(NO_DEM)
    if not path.is_file():
        raise ConfigError(f"the district's DEM {path} is missing: run onemap dem set PATH")
    return path


def overlay_dir() -> Path:
    """Folder holding overlay PNGs (``<ONEMAP_HOME>/overlays``)."""
    return get_settings().home / "overlays"


def check_run_id(run_id: str) -> str:
    """``run_id`` if it is a safe file stem (letters, digits, ``_-.``, at most 80, no leading dot)."""
    if not _RUN_ID.match(run_id) or run_id.startswith("."):
        raise ValidationError("run id may contain only letters, digits, '_', '-', '.' (max 80)")
    return run_id


def new_run_id() -> str:
    """A fresh, sortable run id such as ``fc-20261202-041500-1a2b3c``."""
    return f"fc-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def store_overlay(run_id: str, png: bytes, *, corners: list, meta: dict | None = None) -> str:
    """Save an overlay PNG and its corners; returns its URL path (``/api/map/flood/<id>.png``).

    Parameters
    ----------
    run_id : str
        Letters, digits, ``_-.``; reusing an id replaces the overlay.
    png : bytes
        The encoded image.
    corners : list
        Four ``[lon, lat]`` corners (EPSG:4326): bottom-left, top-left,
        top-right, bottom-right.
    """
    check_run_id(run_id)
    d = overlay_dir()
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / f".{run_id}.png.tmp"
    tmp.write_bytes(png)
    tmp.replace(d / f"{run_id}.png")
    (d / f"{run_id}.json").write_text(json.dumps({"corners": corners, **(meta or {})}, default=str))
    return f"/api/map/flood/{run_id}.png"


def overlay_file(run_id: str, suffix: str) -> Path:
    """The stored ``.png`` or ``.json`` of a run; NotFound when absent."""
    path = overlay_dir() / f"{check_run_id(run_id)}{suffix}"
    if not path.is_file():
        raise NotFound(f"no overlay for run {run_id!r}")
    return path


@dataclass(frozen=True)
class Scenario:
    """A planner forecast scenario.

    ``cell_m`` is the model cell size (metres, in the DEM's projected CRS);
    ``duration_s`` the simulated time (rain plus recession, seconds);
    ``drainage_mm_h`` the uniform sewer capacity (mm/h), used when ``network`` is None;
    ``network`` the district's pipe network (coupled through SWMM, ``flood_model.drainage``);
    ``parameters`` calibrated values (``rain_factor``, ``manning``, ``roughness_factor``,
    ``drainage_mm_h``; ``spatial.flood_events.calibrated_parameters``).
    """

    rain: Hyetograph
    cell_m: float
    duration_s: float
    drainage_mm_h: float
    network: PipeNetwork | None = None
    parameters: dict[str, float] = field(default_factory=dict)


@dataclass
class ForecastOutcome:
    """A finished run: the model result, its overlay URL and corners, warnings in EPSG:4326, a summary."""

    run_id: str
    result: ForecastResult
    overlay_url: str
    corners: list
    warnings: gpd.GeoDataFrame | None
    summary: dict


def run_scenario(scenario: Scenario, *, grids: gpd.GeoDataFrame, roads: gpd.GeoDataFrame | None,
                 progress: Callable[[float, str], None] | None = None, run_id: str | None = None,
                 dem: Path) -> ForecastOutcome:
    """Run one scenario on ``dem`` (the district's: :func:`dem_path`) and store its overlay.

    ``grids`` and ``roads`` are EPSG:4326 frames with ``id``, ``name`` and
    ``geometry`` (the warnings are computed for them).
    """
    t0 = time.perf_counter()
    if progress:
        progress(0.0, "loading DEM")
    grid = load_dem(dem, resolution=scenario.cell_m)
    road_cols = roads[["id", "name", "geometry"]] if roads is not None and len(roads) else None
    kw: dict = {"network": scenario.network} if scenario.network is not None else {
        "drainage_mm_h": scenario.drainage_mm_h}
    params = {k: v for k, v in scenario.parameters.items()
              if k != ("drainage_mm_h" if scenario.network is not None else "roughness_factor")}
    rain, kw = apply_parameters(kw, scenario.rain, params)
    res = run_forecast(grid, rain, duration_s=scenario.duration_s, roads=road_cols,
                       grids=grids[["id", "name", "geometry"]], progress=progress, **kw)
    run_id = check_run_id(run_id or new_run_id())
    depth = np.asarray(res.max_depth, dtype="float64")
    max_depth = float(np.nanmax(depth)) if np.isfinite(depth).any() else 0.0
    corners = corner_bounds(res.transform, depth.shape, res.crs)
    w = res.warnings
    warnings = w.to_crs("EPSG:4326") if w is not None and len(w) else None
    wet = np.isfinite(depth) & (depth >= WET_M)
    cell_area = abs(res.transform.a * res.transform.e)
    summary = {
        "run_id": run_id, "cols": int(grid.shape[1]), "rows": int(grid.shape[0]), "max_depth_m": max_depth,
        "wet_ha": float(wet.sum() * cell_area / 1e4), "balance_error": float(res.relative_balance_error),
        "roads_at_risk": int((warnings["kind"] == "road").sum()) if warnings is not None else 0,
        "grids_at_risk": int((warnings["kind"] == "grid").sum()) if warnings is not None else 0,
        "wall_s": time.perf_counter() - t0,
        "drainage": ({k: res.info["drainage"][k] for k in ("manholes", "surcharged_manholes", "to_network_m3",
                                                          "from_network_m3", "outfall_m3")}
                     if "drainage" in res.info else None),
    }
    record = {**summary, "scenario": scenario.rain.label, "cell_m": scenario.cell_m, "dem": str(dem),
              "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "warnings": warning_table(warnings).to_dict("records")}
    url = store_overlay(run_id, to_png(depth_rgba(depth, min_depth_m=MIN_SHOWN_M)), corners=corners, meta=record)
    return ForecastOutcome(run_id=run_id, result=res, overlay_url=url, corners=corners, warnings=warnings,
                           summary=summary)


def past_runs(limit: int = 50) -> list[dict]:
    """Stored planner runs, newest first: their ``<run_id>.json`` records plus ``run_id`` and ``overlay_url``.

    A record holds the corners and the run's summary, scenario label, cell
    size (m), DEM path and warnings table (runs stored before these were
    recorded have only ``max_depth_m``). ``onemap flood run`` writes its
    products to its ``--out`` folder and is not listed.
    """
    d = overlay_dir()
    if not d.is_dir():
        return []
    files = sorted((p for p in d.glob("*.json") if not p.name.startswith(".") and not _SNAPSHOT.search(p.stem)),
                   key=lambda p: p.stat().st_mtime, reverse=True)[:limit]
    out = []
    for p in files:
        try:
            rec = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if rec.get("kind") == "snapshot":  # an operational run's depth at one time (spatial.flood.ops)
            continue
        out.append({**rec, "run_id": p.stem, "overlay_url": f"/api/map/flood/{p.stem}.png"})
    return out


def warning_table(warnings: gpd.GeoDataFrame | None) -> pd.DataFrame:
    """The warnings as a table: level, kind, name, max depth (m), first exceedance (minutes)."""
    if warnings is None or not len(warnings):
        return pd.DataFrame({"level": []})
    tbl = pd.DataFrame(warnings.drop(columns="geometry"))
    tbl["first_exceed_min"] = (tbl["first_exceed_s"] / 60).round(0)
    return tbl[["level", "kind", "name", "max_depth_m", "first_exceed_min"]]


@dataclass
class BackgroundRun:
    """One scenario running in a worker thread; poll :attr:`fraction`, :attr:`message`, :attr:`done`.

    Everything the thread needs is given before it starts (no attribute is
    set on the caller after the thread is running).
    """

    scenario: Scenario
    grids: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame | None
    dem: Path
    fraction: float = 0.0
    message: str = "starting"
    outcome: ForecastOutcome | None = None
    error: BaseException | None = None
    started: float = field(default_factory=time.perf_counter)
    _done: threading.Event = field(default_factory=threading.Event)

    def start(self) -> BackgroundRun:
        threading.Thread(target=self._work, daemon=True, name="onemap-forecast").start()
        return self

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def _progress(self, fraction: float, message: str) -> None:
        self.fraction, self.message = float(fraction), str(message)

    def _work(self) -> None:
        try:
            self.outcome = run_scenario(self.scenario, grids=self.grids, roads=self.roads, progress=self._progress,
                                        dem=self.dem)
        except Exception as exc:  # reported to whoever polls
            self.error = exc
        finally:
            self._done.set()
