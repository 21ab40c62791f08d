"""Offline basemap vector tiles: ``GET /tiles/basemap/{z}/{x}/{y}.mvt``.

Mapbox Vector Tiles (``application/vnd.mapbox-vector-tile``) rendered by PostGIS
(``spatial.maps.tiles``) and kept in an in-process cache keyed by the basemap generation. Every
answer carries a strong ``ETag`` (generation and z/x/y) and ``Cache-Control: public, max-age=60``;
a request whose ``If-None-Match`` matches the current generation gets ``304 Not Modified``
without rendering. Tiles only read; z/x/y outside the pyramid -> 404, non-integers -> 422.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Response
from sqlalchemy.orm import Session

from spatial.api.deps import db_session
from spatial.maps import tiles

router = APIRouter(prefix="/tiles", tags=["tiles"])

#: Media type of Mapbox Vector Tiles.
MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
#: Browsers may reuse a tile this long without asking; after that they revalidate by ETag.
CACHE_CONTROL = "public, max-age=60"

#: The server's tile cache (one per process).
CACHE = tiles.TileCache()

TileInt = Annotated[int, Path(ge=0, le=2**31 - 1)]


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag in tags


@router.get("/basemap/{z}/{x}/{y}.mvt", response_class=Response,
            responses={200: {"content": {MVT_MEDIA_TYPE: {}}, "description": "the tile (may be empty)"},
                       304: {"description": "not modified (If-None-Match)"}, 404: {"description": "no such tile"}})
def basemap_tile(z: TileInt, x: TileInt, y: TileInt, session: Annotated[Session, Depends(db_session)],
                 if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """One basemap tile (EPSG:3857 z/x/y): layers water, landuse, roads, buildings, pois, admin."""
    tiles.check_tile(z, x, y)
    gen = tiles.generation(session)
    etag = tiles.etag_for(gen, z, x, y)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    tile = CACHE.get(session, z, x, y, gen=gen)
    return Response(content=tile.data, media_type=MVT_MEDIA_TYPE, headers=headers)
