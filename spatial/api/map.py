"""Map endpoints: raster overlays by URL and the headline numbers as JSON.

``GET /api/map/flood/{run_id}.png``
    A flood depth overlay PNG written by the planner view
    (:func:`spatial.forecasts.store_overlay`); served by URL so the browser caches it and
    Panel never re-sends it inside the layer list.
``GET /api/map/flood/{run_id}.json``
    Its placement: four ``[lon, lat]`` corners (EPSG:4326) and metadata.
``GET /api/map/kpis?days=30&category=pothole``
    :func:`spatial.maps.mapdata.kpis` for the last ``days`` days, or for the
    local days ``since=2017-12-01&until=2017-12-31`` (both included; they win over ``days``).
``GET /api/map/grids?days=30`` (or ``since``/``until``)
    Per-grid counts as GeoJSON (EPSG:4326) for other clients.

The statistics read the replica when ``ONEMAP_DATABASE_REPLICA_URL`` is set
(:func:`spatial.api.deps.read_session`).
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.orm import Session

from spatial import forecasts
from spatial.api.deps import read_session
from spatial.bounds import Day
from spatial.errors import ValidationError
from spatial.maps import mapdata

router = APIRouter(prefix="/api/map", tags=["map"])


def window(days: Annotated[float, Query(gt=0, le=3660)] = 30,
           since: Annotated[Day | None, Query(description="first local day (YYYY-MM-DD), with until")] = None,
           until: Annotated[Day | None, Query(description="last local day, included")] = None,
           ) -> mapdata.Window:
    """The time window of a map request: ``since``..``until`` when given, else the last ``days`` days."""
    if since is not None or until is not None:
        if since is None or until is None:
            raise ValidationError("give both since and until (YYYY-MM-DD)")
        return mapdata.Window.between(since, until)
    return mapdata.Window.last(days)

@router.get("/flood/{run_id}.png", response_class=FileResponse)
def flood_png(run_id: str) -> FileResponse:
    """The depth overlay of a forecast run (PNG, transparent where dry)."""
    return FileResponse(forecasts.overlay_file(run_id, ".png"), media_type="image/png",
                        headers={"Cache-Control": "max-age=3600"})


@router.get("/flood/{run_id}.json")
def flood_meta(run_id: str) -> JSONResponse:
    """Corners (EPSG:4326) and metadata of an overlay."""
    return JSONResponse(json.loads(forecasts.overlay_file(run_id, ".json").read_text()))


@router.get("/kpis")
def kpis(session: Annotated[Session, Depends(read_session)],
         win: Annotated[mapdata.Window, Depends(window)],
         category: Annotated[list[str] | None, Query()] = None,
         street_id: int | None = None, grid_id: int | None = None) -> dict:
    """Received, closed, on-time rate, open, overdue and satisfaction for the window."""
    return mapdata.kpis(session, win, categories=category, street_id=street_id, grid_id=grid_id)


@router.get("/grids")
def grids(session: Annotated[Session, Depends(read_session)],
          win: Annotated[mapdata.Window, Depends(window)],
          category: Annotated[list[str] | None, Query()] = None) -> JSONResponse:
    """Per-grid received/closed/open/overdue/on_time_pct/satisfaction as a GeoJSON FeatureCollection."""
    gdf = mapdata.grid_stats(session, win, categories=category)
    return JSONResponse(json.loads(gdf.to_json(drop_id=True, na="null")))
