"""Offline basemap vector tiles: ``GET /tiles/basemap/{z}/{x}/{y}.mvt`` and its labels ``/tiles/labels/...``.

Mapbox Vector Tiles (``application/vnd.mapbox-vector-tile``) rendered by PostGIS
(``spatial.maps.tiles``) and kept in an in-process cache keyed by the basemap generation. Every
answer carries a strong ``ETag`` (generation and z/x/y) and ``Cache-Control: public, max-age=60``;
a request whose ``If-None-Match`` matches the current generation gets ``304 Not Modified``
without rendering. Tiles only read; z/x/y outside the pyramid -> 404, non-integers -> 422.

``GET /tiles/mvt-worker.js`` serves loaders.gl's MVT parser worker (vendored; deck.gl would
otherwise fetch it from a CDN), at the path in ``spatial.maps.tiles.WORKER_URL``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Response
from fastapi.responses import FileResponse
from sqlalchemy.engine import Connection

from spatial.db.engine import get_engine
from spatial.maps import tiles

router = APIRouter(tags=["tiles"])

#: Media type of Mapbox Vector Tiles.
MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
#: Browsers may reuse a tile this long without asking; after that they revalidate by ETag.
CACHE_CONTROL = "public, max-age=60"

#: The MVT parser worker of loaders.gl for the browser (see spatial/maps/vendor/README.md).
MVT_WORKER = FilePath(tiles.__file__).parent / "vendor" / "loaders.gl-mvt-worker-4.2.1.js"

#: The server's tile cache (one per process).
CACHE = tiles.TileCache()

TileInt = Annotated[int, Path(ge=0, le=2**31 - 1)]


def tile_connection() -> Iterator[Connection]:
    """FastAPI dependency: a pooled connection in autocommit mode.

    Tiles only read, one statement at a time (the generation, then the tile), so they need no
    transaction: no BEGIN/COMMIT round trips on the cached path.
    """
    with get_engine().connect() as conn:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag in tags


_RESPONSES = {200: {"content": {MVT_MEDIA_TYPE: {}}, "description": "the tile (may be empty)"},
              304: {"description": "not modified (If-None-Match)"}, 404: {"description": "no such tile"}}


def _tile(tileset: str, z: int, x: int, y: int, conn: Connection, if_none_match: str | None) -> Response:
    tiles.check_tile(z, x, y)
    gen = tiles.generation(conn)
    etag = tiles.etag_for(gen, z, x, y, tileset)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    tile = CACHE.get(conn, z, x, y, gen=gen, tileset=tileset)
    return Response(content=tile.data, media_type=MVT_MEDIA_TYPE, headers=headers)


@router.get(tiles.URL_TEMPLATE, response_class=Response, responses=_RESPONSES)
def basemap_tile(z: TileInt, x: TileInt, y: TileInt, conn: Annotated[Connection, Depends(tile_connection)],
                 if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """One basemap tile (EPSG:3857 z/x/y): layers water, landuse, roads, buildings, pois, admin."""
    return _tile("basemap", z, x, y, conn, if_none_match)


@router.get(tiles.LABELS_URL_TEMPLATE, response_class=Response, responses=_RESPONSES)
def label_tile(z: TileInt, x: TileInt, y: TileInt, conn: Annotated[Connection, Depends(tile_connection)],
               if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """The basemap's label points of tile z/x/y (layer ``labels``: kind admin/road/poi, name, level)."""
    return _tile("labels", z, x, y, conn, if_none_match)


@router.get(tiles.WORKER_URL, response_class=FileResponse, include_in_schema=False)
def mvt_worker() -> FileResponse:
    """loaders.gl's MVT parser worker (JavaScript), so the browser never fetches it from a CDN."""
    return FileResponse(MVT_WORKER, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})
