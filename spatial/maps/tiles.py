"""Basemap vector tiles (Mapbox Vector Tile, EPSG:3857 web-mercator z/x/y) from PostGIS ``ST_AsMVT``.

One tile holds one MVT layer per theme, each only from the zoom where it is useful:

========  ======  ============================================================================
layer     zoom    properties
========  ======  ============================================================================
water     all     kind, name
landuse   >= 12   kind, name
roads     by class  class (OSM highway), group (major >= 0, street >= 13, service >= 14, path >= 15;
                  :data:`ROAD_GROUPS`),
                  name, oneway
buildings >= 14   height (m, NULL when unknown), name
pois      >= 15   kind, name
admin     by level  level (1 district >= 0, 2 street >= 11, 3 community >= 12, 4 grid >= 13), name
                  (outlines: ``ST_Boundary`` of the admin units)
labels    by kind   kind (``admin`` level 1-3 at a point on the unit's surface, z <= 15; ``road``: one point
                  per road name and tile, the middle of its longest piece inside the tile, major >= 12,
                  street >= 14, service >= 16; ``poi``: named hospitals, schools, shelters and public
                  services >= 16), name, level (admin only)
========  ======  ============================================================================

The query is the martin/tipg pattern: the index filter on the stored EPSG:4326 geometry against
the tile envelope with a margin (``ST_TileEnvelope(z, x, y, margin => buffer / extent)``
transformed to 4326), then ``ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(z, x, y),
4096, 64, true)``. Below :data:`SIMPLIFY_BELOW_ZOOM` lines and areas are first simplified with
``ST_Simplify`` (tolerance: a quarter pixel of a 512-px tile, in metres; collapsed features are
dropped). The per-layer tiles are concatenated (a valid MVT is a sequence of layers).

:class:`TileCache` keeps rendered tiles in process, keyed by the database and the basemap
generation (``basemap_state``, changed by triggers in the same transaction as any write to a
drawn table), so a re-import is visible at its commit without any call to the server.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from spatial.errors import NotFound

#: Path of the tiles on the one server (``spatial.api.tiles``).
URL_TEMPLATE = "/tiles/basemap/{z}/{x}/{y}.mvt"
#: Path of the label tiles (the ``labels`` layer alone, drawn over the data layers).
LABELS_URL_TEMPLATE = "/tiles/labels/{z}/{x}/{y}.mvt"
#: Path of loaders.gl's MVT parser worker on the one server (the browser decodes the tiles with it).
WORKER_URL = "/tiles/mvt-worker.js"
#: Deepest zoom served.
MAX_ZOOM = 22
#: MVT extent (units per tile side) and buffer (units beyond the edge kept for strokes).
EXTENT, BUFFER = 4096, 64
#: Lines and areas are simplified below this zoom.
SIMPLIFY_BELOW_ZOOM = 16
#: Web-mercator world width in metres (EPSG:3857).
WORLD_M = 40_075_016.685578488

#: Road classes (OSM ``highway``; also the Chinese urban classes expressway/arterial/secondary/branch of
#: CJJ 37 used by the demo) per drawing group, and the zoom from which each group is in the tiles.
#: Unknown classes are drawn as streets.
ROAD_GROUPS: dict[str, tuple[tuple[str, ...], int]] = {
    "major": (("motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link", "secondary",
               "secondary_link", "expressway", "arterial"), 0),
    "street": (("tertiary", "tertiary_link", "unclassified", "residential", "living_street", "road", "busway",
                "branch"), 13),
    "service": (("service", "pedestrian", "track"), 14),
    "path": (("footway", "cycleway", "path", "steps", "bridleway"), 15),
}
#: Zoom from which each admin level's outline is in the tiles.
ADMIN_MIN_ZOOM = {1: 0, 2: 11, 3: 12, 4: 13}
LANDUSE_MIN_ZOOM, BUILDINGS_MIN_ZOOM, POIS_MIN_ZOOM = 12, 14, 15
#: Zoom from which road names are labelled, per drawing group (paths are not labelled).
ROAD_LABEL_MIN_ZOOM = {"major": 12, "street": 14, "service": 16}
#: Zoom range of the admin unit names per level (district, street, community).
ADMIN_LABEL_ZOOM = {1: (0, 13), 2: (12, 14), 3: (14, 15)}
#: POI kinds labelled with their name (from z16).
POI_LABEL_KINDS = ("hospital", "clinic", "school", "kindergarten", "university", "college", "shelter",
                   "assembly_point", "police", "fire_station", "townhall", "government", "library")
POI_LABEL_MIN_ZOOM = 16

#: MVT layer names, in drawing order.
LAYERS = ("water", "landuse", "roads", "buildings", "pois", "admin")
#: Tile sets: the basemap drawn under the data, and its labels drawn over it.
TILESETS: dict[str, tuple[str, ...]] = {"basemap": LAYERS, "labels": ("labels",)}


def _group_case() -> str:
    whens = " ".join(f"WHEN road_class IN ({', '.join(repr(c) for c in classes)}) THEN '{g}'"
                     for g, (classes, _) in ROAD_GROUPS.items())
    return f"CASE {whens} ELSE 'street' END"


def _group_min_zoom() -> str:
    whens = " ".join(f"WHEN '{g}' THEN {z}" for g, (_, z) in ROAD_GROUPS.items())
    return f"CASE x.grp {whens} END"


def _layer(name: str, select: str) -> str:
    return (f"(SELECT coalesce(ST_AsMVT(t, '{name}', {EXTENT}, 'geom'), ''::bytea) "
            f"FROM ({select}) t WHERE t.geom IS NOT NULL)")


def _tile_sql(names: tuple[str, ...] = LAYERS) -> str:
    # the zoom is a parameter: one statement text serves every zoom
    simple = f"CASE WHEN p.z < {SIMPLIFY_BELOW_ZOOM} THEN ST_Simplify(ST_Transform(%s, 3857), p.tol, false) " \
             "ELSE ST_Transform(%s, 3857) END"

    def geom(expr: str) -> str:
        return f"ST_AsMVTGeom({simple % (expr, expr)}, p.env, {EXTENT}, {BUFFER}, true)"

    admin_zoom = " ".join(f"WHEN {lv} THEN {z}" for lv, z in ADMIN_MIN_ZOOM.items())
    label_zoom = " ".join(f"WHEN '{g}' THEN {z}" for g, z in ROAD_LABEL_MIN_ZOOM.items())
    admin_lo = " ".join(f"WHEN {lv} THEN {lo}" for lv, (lo, _) in ADMIN_LABEL_ZOOM.items())
    admin_hi = " ".join(f"WHEN {lv} THEN {hi}" for lv, (_, hi) in ADMIN_LABEL_ZOOM.items())
    point = f"ST_AsMVTGeom(ST_Transform(%s, 3857), p.env, {EXTENT}, 0, true)"
    poi_kinds = ", ".join(f"'{k}'" for k in POI_LABEL_KINDS)
    # road labels: per name, the middle of the longest piece of that road inside the tile
    road_labels = (
        f"SELECT DISTINCT ON (y.name) {point % 'ST_LineInterpolatePoint(y.piece, 0.5)'} AS geom, "
        "'road'::text AS kind, y.name, NULL::int AS level "
        "FROM (SELECT x.name, (ST_Dump(ST_Intersection(x.geom, ST_Transform(p.env, 4326)))).geom AS piece "
        f"FROM (SELECT r.name, r.geom, {_group_case()} AS grp FROM road r, p "
        "WHERE r.name IS NOT NULL AND r.name <> '' AND r.geom && p.box) x, p "
        f"WHERE p.z >= coalesce(CASE x.grp {label_zoom} END, 99)) y, p "
        "WHERE ST_GeometryType(y.piece) = 'ST_LineString' "
        "ORDER BY y.name, ST_Length(y.piece) DESC")
    admin_labels = (
        f"SELECT {point % 'ST_PointOnSurface(a.geom)'} AS geom, 'admin'::text AS kind, a.name, a.level "
        f"FROM admin_unit a, p WHERE a.level <= 3 AND p.z >= CASE a.level {admin_lo} END "
        f"AND p.z <= CASE a.level {admin_hi} END AND a.geom && p.box")
    poi_labels = (
        f"SELECT {point % 'o.geom'} AS geom, 'poi'::text AS kind, o.name, NULL::int AS level "
        f"FROM poi o, p WHERE p.z >= {POI_LABEL_MIN_ZOOM} AND o.kind IN ({poi_kinds}) "
        "AND o.name IS NOT NULL AND o.name <> '' AND o.geom && p.box")
    layers = {
        "water": _layer("water", f"SELECT {geom('w.geom')} AS geom, w.kind, w.name FROM water w, p "
                                 "WHERE w.geom && p.box"),
        "landuse": _layer("landuse", f"SELECT {geom('l.geom')} AS geom, l.kind, l.name FROM landuse l, p "
                          f"WHERE p.z >= {LANDUSE_MIN_ZOOM} AND l.geom && p.box"),
        "roads": _layer("roads", f"SELECT {geom('x.geom')} AS geom, x.road_class AS class, x.grp AS \"group\", x.name, "
                        f"x.oneway FROM (SELECT r.*, {_group_case()} AS grp FROM road r, p WHERE r.geom && p.box) x, "
                        f"p WHERE p.z >= {_group_min_zoom()}"),
        "buildings": _layer("buildings", f"SELECT {geom('b.geom')} AS geom, b.height_m AS height, "
                                         "b.attrs->>'name' AS name "
                            f"FROM building b, p WHERE p.z >= {BUILDINGS_MIN_ZOOM} AND b.geom && p.box"),
        "pois": _layer("pois", f"SELECT ST_AsMVTGeom(ST_Transform(o.geom, 3857), p.env, {EXTENT}, {BUFFER}, true) "
                               "AS geom, "
                       f"o.kind, o.name FROM poi o, p WHERE p.z >= {POIS_MIN_ZOOM} AND o.geom && p.box"),
        "admin": _layer("admin", f"SELECT {geom('ST_Boundary(a.geom)')} AS geom, a.level, a.name FROM admin_unit a, p "
                        f"WHERE p.z >= CASE a.level {admin_zoom} END AND a.geom && p.box"),
        "labels": _layer("labels", f"{admin_labels} UNION ALL ({road_labels}) UNION ALL {poi_labels}"),
    }
    return ("WITH p AS (SELECT CAST(:z AS int) AS z, ST_TileEnvelope(:z, :x, :y) AS env, "
            f"ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => {BUFFER / EXTENT}), 4326) AS box, "
            f"{WORLD_M} / 2 ^ CAST(:z AS int) / 2048.0 AS tol) "
            "SELECT " + " || ".join(layers[n] for n in names))


#: The tile query of each tile set (bind parameters z, x, y).
TILE_SQL = {name: sa.text(_tile_sql(names)) for name, names in TILESETS.items()}

GENERATION_SQL = sa.text("SELECT coalesce((SELECT generation FROM basemap_state WHERE id = 1), 0)")


def check_tile(z: int, x: int, y: int) -> None:
    """Refuse a tile outside the web-mercator pyramid (0 <= z <= :data:`MAX_ZOOM`, 0 <= x, y < 2^z)."""
    if not 0 <= z <= MAX_ZOOM:
        raise NotFound(f"no tile at zoom {z}: zoom must be 0 to {MAX_ZOOM}")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise NotFound(f"no tile {z}/{x}/{y}: x and y must be 0 to {n - 1} at zoom {z}")


#: A session or a connection (the server uses an autocommit connection: no BEGIN/COMMIT round trips).
Db = Session | Connection


def generation(db: Db) -> int:
    """The current basemap generation (changes with every committed write to a drawn table)."""
    return int(db.execute(GENERATION_SQL).scalar_one())


def render_tile(db: Db, z: int, x: int, y: int, tileset: str = "basemap") -> bytes:
    """The MVT bytes of tile z/x/y (EPSG:3857) of ``tileset``, empty when nothing is there; uncached."""
    check_tile(z, x, y)
    if tileset not in TILE_SQL:
        raise NotFound(f"no tile set {tileset!r}; tile sets: {', '.join(TILE_SQL)}")
    return bytes(db.execute(TILE_SQL[tileset], {"z": z, "x": x, "y": y}).scalar_one() or b"")


@dataclass(frozen=True)
class Tile:
    """A rendered tile with its ETag (quoted, strong: database generation and z/x/y)."""

    data: bytes
    etag: str


def etag_for(gen: int, z: int, x: int, y: int, tileset: str = "basemap") -> str:
    return f'"{tileset[0]}{gen}-{z}-{x}-{y}"'


class TileCache:
    """Rendered tiles in process (LRU, at most ``max_bytes``), keyed by database, generation and z/x/y.

    Entries of an older generation are never hit again and age out of the LRU.
    """

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._tiles: OrderedDict[tuple, Tile] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, db: Db, z: int, x: int, y: int, *, gen: int | None = None, tileset: str = "basemap") -> Tile:
        """The tile of ``tileset`` from the cache, or rendered and stored."""
        check_tile(z, x, y)
        gen = generation(db) if gen is None else gen
        bind = db.get_bind() if isinstance(db, Session) else db.engine
        key = (str(bind.url), tileset, gen, z, x, y)
        with self._lock:
            tile = self._tiles.get(key)
            if tile is not None:
                self._tiles.move_to_end(key)
                self.hits += 1
                return tile
        tile = Tile(render_tile(db, z, x, y, tileset), etag_for(gen, z, x, y, tileset))
        with self._lock:
            self.misses += 1
            if key not in self._tiles:
                self._tiles[key] = tile
                self._bytes += len(tile.data)
            while self._bytes > self.max_bytes and self._tiles:
                _, old = self._tiles.popitem(last=False)
                self._bytes -= len(old.data)
        return tile

    def clear(self) -> None:
        with self._lock:
            self._tiles.clear()
            self._bytes = 0
