"""Map endpoints: raster overlays by URL and the headline numbers as JSON.

``GET /api/map/flood/{run_id}.png``
    A flood depth overlay PNG written by the planner view
    (:func:`store_overlay`); served by URL so the browser caches it and
    Panel never re-sends it inside the layer list.
``GET /api/map/flood/{run_id}.json``
    Its placement: four ``[lon, lat]`` corners (EPSG:4326) and metadata.
``GET /api/map/kpis?days=30&category=pothole``
    :func:`spatial.mapdata.kpis` for the last ``days`` days.
``GET /api/map/grids?days=30``
    Per-grid counts as GeoJSON (EPSG:4326) for other clients.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.orm import Session

from spatial import mapdata
from spatial.errors import NotFound, ValidationError
from spatial.settings import get_settings
from spatial.web import db_session

router = APIRouter(prefix="/api/map", tags=["map"])

_RUN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


def overlay_dir() -> Path:
    """Folder holding overlay PNGs (``<ONEMAP_HOME>/overlays``)."""
    return get_settings().home / "overlays"


def _check_id(run_id: str) -> str:
    if not _RUN_ID.match(run_id) or run_id.startswith("."):
        raise ValidationError("run id may contain only letters, digits, '_', '-', '.' (max 80)")
    return run_id


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
    _check_id(run_id)
    d = overlay_dir()
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / f".{run_id}.png.tmp"
    tmp.write_bytes(png)
    tmp.replace(d / f"{run_id}.png")
    (d / f"{run_id}.json").write_text(json.dumps({"corners": corners, **(meta or {})}, default=str))
    return f"/api/map/flood/{run_id}.png"


@router.get("/flood/{run_id}.png", response_class=FileResponse)
def flood_png(run_id: str) -> FileResponse:
    """The depth overlay of a forecast run (PNG, transparent where dry)."""
    path = overlay_dir() / f"{_check_id(run_id)}.png"
    if not path.is_file():
        raise NotFound(f"no overlay for run {run_id!r}")
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "max-age=3600"})


@router.get("/flood/{run_id}.json")
def flood_meta(run_id: str) -> JSONResponse:
    """Corners (EPSG:4326) and metadata of an overlay."""
    path = overlay_dir() / f"{_check_id(run_id)}.json"
    if not path.is_file():
        raise NotFound(f"no overlay for run {run_id!r}")
    return JSONResponse(json.loads(path.read_text()))


@router.get("/kpis")
def kpis(session: Annotated[Session, Depends(db_session)],
         days: Annotated[float, Query(gt=0, le=3660)] = 30,
         category: Annotated[list[str] | None, Query()] = None,
         street_id: int | None = None, grid_id: int | None = None) -> dict:
    """Received, closed, on-time rate, open, overdue and satisfaction for the last ``days`` days."""
    return mapdata.kpis(session, mapdata.Window.last(days), categories=category, street_id=street_id,
                        grid_id=grid_id)


@router.get("/grids")
def grids(session: Annotated[Session, Depends(db_session)],
          days: Annotated[float, Query(gt=0, le=3660)] = 30,
          category: Annotated[list[str] | None, Query()] = None) -> JSONResponse:
    """Per-grid received/closed/open/overdue/on_time_pct/satisfaction as a GeoJSON FeatureCollection."""
    gdf = mapdata.grid_stats(session, mapdata.Window.last(days), categories=category)
    return JSONResponse(json.loads(gdf.to_json(drop_id=True, na="null")))
