"""Read OpenStreetMap data into the basemap themes (GeoDataFrames in EPSG:4326).

Two kinds of source:

* ``.osm.pbf`` (raw OSM, read with GDAL's OSM driver through pyogrio; tags
  GDAL does not give a column of its own are parsed from ``other_tags``);
* GeoJSON layers already extracted in the Tilezen/Nextzen vector-tile schema
  (``kind``/``kind_detail``, ``height`` in metres), one theme per file, the
  theme named by the end of the file name (``..._roads.geojson``) or given.

:func:`read_osm` returns ``{theme: GeoDataFrame}`` with these columns (all
EPSG:4326; the loader is ``spatial.io.basemap``):

=========  ===========================================================  ==========
theme      columns                                                      geometry
=========  ===========================================================  ==========
roads      osm_id, name, road_class (OSM ``highway``), oneway (bool/NA)  lines
buildings  osm_id, name, kind, height_m (``height`` or levels × 3 m)     polygons
water      osm_id, kind, name                                           polygons, lines
landuse    osm_id, kind, name                                           polygons
pois       osm_id, kind, name, tag (the OSM key of ``kind``)            points
addresses  osm_id, street, housenumber, name                            points
=========  ===========================================================  ==========
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from spatial.errors import ImportDataError

WGS84 = "EPSG:4326"

#: Basemap themes, in load order.
THEMES = ("roads", "buildings", "water", "landuse", "pois", "addresses")

#: Metres per storey when a building has ``building:levels`` but no ``height``.
METRES_PER_LEVEL = 3.0

#: OSM ``highway`` values kept as roads (others: platforms, proposed, construction...).
ROAD_CLASSES = frozenset({
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link", "secondary", "secondary_link",
    "tertiary", "tertiary_link", "unclassified", "residential", "living_street", "service", "pedestrian", "track",
    "road", "busway", "footway", "cycleway", "path", "steps", "bridleway",
})

#: Line ``waterway`` values drawn as water lines.
WATERWAY_LINES = frozenset({"river", "canal", "stream", "drain", "ditch"})

#: Polygon tags that make an area water: (key, values or None for any value).
WATER_AREAS = (("natural", {"water", "bay", "wetland"}), ("waterway", {"riverbank", "dock", "canal"}),
               ("landuse", {"reservoir", "basin"}), ("leisure", {"swimming_pool"}), ("water", None))

#: Polygon tags that make a land use area, in precedence order.
LANDUSE_KEYS = (("landuse", None), ("leisure", {"park", "garden", "pitch", "playground", "sports_centre",
                                                "recreation_ground", "stadium", "golf_course", "nature_reserve"}),
                ("natural", {"wood", "grassland", "scrub", "heath", "beach", "sand", "bare_rock"}),
                ("amenity", {"school", "university", "college", "kindergarten", "hospital", "parking",
                             "grave_yard"}))

#: Point tags that make a POI, in precedence order (``kind`` is the value).
POI_KEYS = ("amenity", "emergency", "healthcare", "shop", "tourism", "leisure", "office", "historic",
            "public_transport")

#: Area ``amenity``/``emergency`` values that also give a POI (at a point on the surface).
POI_AREA_KINDS = frozenset({"school", "kindergarten", "university", "college", "hospital", "clinic", "police",
                            "fire_station", "shelter", "townhall", "community_centre", "assembly_point",
                            "place_of_worship", "library"})

#: Tilezen road ``kind`` values that are not roads.
TILEZEN_NOT_ROADS = frozenset({"rail", "ferry", "aerialway", "aeroway", "piste"})

_TAG = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')
_NUMBER = re.compile(r"^\s*([0-9]+(?:[.,][0-9]+)?)")


def parse_other_tags(text: object) -> dict[str, str]:
    """The ``key=>value`` pairs of GDAL's ``other_tags`` (hstore text) as a dict; {} for none."""
    if not isinstance(text, str) or not text:
        return {}
    return {k.replace('\\"', '"'): v.replace('\\"', '"') for k, v in _TAG.findall(text)}


def parse_metres(value: object) -> float | None:
    """A length in metres from an OSM value (``"12"``, ``"12.5 m"``, ``"7,5"``); None if absent or not a number."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None
    if isinstance(value, int | float):
        return float(value) if value > 0 else None
    m = _NUMBER.match(str(value))
    if not m:
        return None
    v = float(m.group(1).replace(",", "."))
    return v if v > 0 else None


def building_height(height: object, levels: object) -> float | None:
    """Building height in metres: ``height`` if given, else ``building:levels`` × :data:`METRES_PER_LEVEL`."""
    h = parse_metres(height)
    if h is not None:
        return h
    n = parse_metres(levels)
    return None if n is None else round(n * METRES_PER_LEVEL, 1)


def parse_oneway(value: object) -> bool | None:
    """OSM ``oneway``: yes/true/1/-1 -> True, no/false/0 -> False, else None."""
    if not isinstance(value, str):
        return None
    v = value.strip().lower()
    if v in {"yes", "true", "1", "-1", "reversible"}:
        return True
    if v in {"no", "false", "0"}:
        return False
    return None


def theme_of(path: Path) -> str | None:
    """The theme a GeoJSON layer's file name ends with (``..._roads.geojson`` -> ``roads``), else None."""
    stem = path.stem.lower()
    for theme in (*THEMES, "poi", "address", "building", "road"):
        if stem == theme or stem.endswith("_" + theme) or stem.endswith("-" + theme):
            return {"poi": "pois", "address": "addresses", "building": "buildings", "road": "roads"}.get(theme, theme)
    return None


def source_name(path: Path) -> str:
    """Default source name of a file: its name without extensions and without a theme suffix."""
    name = path.name
    for ext in (".osm.pbf", ".pbf", ".geojson", ".json"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    theme = theme_of(Path(name + ".geojson"))
    if theme:
        for suffix in (theme, theme.rstrip("s"), "pois", "addresses"):
            for sep in ("_", "-"):
                if name.lower().endswith(sep + suffix):
                    return name[: -len(sep + suffix)] or name
    return name


def _frame(rows: dict[str, list], geoms: list) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry=gpd.GeoSeries(geoms, crs=WGS84), crs=WGS84)


def _read_layer(path: Path, layer: str) -> gpd.GeoDataFrame:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # GDAL: duplicate OSM ids made unique
            gdf = pyogrio.read_dataframe(path, layer=layer, on_invalid="ignore")  # broken rings -> None
    except Exception as exc:  # pyogrio raises several DataSourceError types
        raise ImportDataError(f"Cannot read layer {layer!r} of {path.name}: {exc}") from exc
    if gdf.crs is None:
        gdf = gdf.set_crs(WGS84)
    return gdf.to_crs(WGS84) if gdf.crs.to_epsg() != 4326 else gdf


def _tags(gdf: gpd.GeoDataFrame) -> list[dict[str, str]]:
    """Every tag of each row: GDAL's own columns plus ``other_tags``."""
    own = [c for c in gdf.columns if c not in {"geometry", "other_tags", "osm_id", "osm_way_id", "z_order"}]
    values = gdf[own].astype(object).where(gdf[own].notna(), None).to_dict("records")
    others = gdf["other_tags"] if "other_tags" in gdf.columns else [None] * len(gdf)
    return [{**parse_other_tags(o), **{k: v for k, v in row.items() if v is not None}}
            for row, o in zip(values, others, strict=True)]


def _first(tags: dict[str, str], keys: tuple) -> tuple[str, str] | None:
    for item in keys:
        key, allowed = item if isinstance(item, tuple) else (item, None)
        v = tags.get(key)
        if v and v != "no" and (allowed is None or v in allowed):
            return key, v
    return None


def read_pbf(path: Path) -> dict[str, gpd.GeoDataFrame]:
    """Every theme from an ``.osm.pbf`` (GDAL OSM driver: layers points, lines, multipolygons)."""
    out: dict[str, dict] = {t: {"rows": [], "geoms": []} for t in THEMES}

    def add(theme: str, row: dict, geom) -> None:
        out[theme]["rows"].append(row)
        out[theme]["geoms"].append(geom)

    lines = _read_layer(path, "lines")
    for tags, osm_id, geom in zip(_tags(lines), lines["osm_id"], lines.geometry, strict=True):
        if geom is None or geom.is_empty:
            continue
        oid = f"w{osm_id}"
        highway, waterway = tags.get("highway"), tags.get("waterway")
        if highway in ROAD_CLASSES and tags.get("area") != "yes":
            add("roads", {"osm_id": oid, "name": tags.get("name"), "road_class": highway,
                          "oneway": parse_oneway(tags.get("oneway"))}, geom)
        elif waterway in WATERWAY_LINES and tags.get("tunnel") not in {"yes", "culvert"}:
            add("water", {"osm_id": oid, "kind": waterway, "name": tags.get("name")}, geom)

    polys = _read_layer(path, "multipolygons")
    for tags, oid_rel, oid_way, geom in zip(_tags(polys), polys["osm_id"], polys["osm_way_id"], polys.geometry,
                                            strict=True):
        if geom is None or geom.is_empty:
            continue
        oid = f"w{oid_way}" if isinstance(oid_way, str) and oid_way else f"r{oid_rel}"
        name = tags.get("name")
        if tags.get("building") and tags["building"] != "no":
            add("buildings", {"osm_id": oid, "name": name, "kind": tags["building"],
                              "height_m": building_height(tags.get("height"), tags.get("building:levels"))}, geom)
        elif (water := _first(tags, WATER_AREAS)) is not None:
            add("water", {"osm_id": oid, "kind": water[1] if water[0] != "water" else tags["water"],
                          "name": name}, geom)
        elif (use := _first(tags, LANDUSE_KEYS)) is not None:
            add("landuse", {"osm_id": oid, "kind": use[1], "name": name}, geom)
        poi = _first(tags, ("amenity", "emergency"))
        if poi is not None and poi[1] in POI_AREA_KINDS:
            add("pois", {"osm_id": oid, "kind": poi[1], "name": name, "tag": poi[0]}, geom.point_on_surface())
        if tags.get("addr:housenumber"):
            add("addresses", {"osm_id": oid, "street": tags.get("addr:street"),
                              "housenumber": tags["addr:housenumber"], "name": name}, geom.point_on_surface())

    points = _read_layer(path, "points")
    for tags, osm_id, geom in zip(_tags(points), points["osm_id"], points.geometry, strict=True):
        if geom is None or geom.is_empty:
            continue
        oid = f"n{osm_id}"
        if (poi := _first(tags, POI_KEYS)) is not None:
            add("pois", {"osm_id": oid, "kind": poi[1], "name": tags.get("name"), "tag": poi[0]}, geom)
        if tags.get("addr:housenumber"):
            add("addresses", {"osm_id": oid, "street": tags.get("addr:street"),
                              "housenumber": tags["addr:housenumber"], "name": tags.get("name")}, geom)
    return {t: _frame(pd.DataFrame(v["rows"], columns=COLUMNS[t]).to_dict("list"), v["geoms"])
            for t, v in out.items()}


#: Attribute columns of each theme's frame (besides ``geometry``).
COLUMNS: dict[str, list[str]] = {
    "roads": ["osm_id", "name", "road_class", "oneway"],
    "buildings": ["osm_id", "name", "kind", "height_m"],
    "water": ["osm_id", "kind", "name"],
    "landuse": ["osm_id", "kind", "name"],
    "pois": ["osm_id", "kind", "name", "tag"],
    "addresses": ["osm_id", "street", "housenumber", "name"],
}


def _col(gdf: gpd.GeoDataFrame, name: str) -> pd.Series:
    if name in gdf.columns:
        return gdf[name].astype(object).where(gdf[name].notna(), None)
    return pd.Series([None] * len(gdf), index=gdf.index, dtype=object)


def _ids(gdf: gpd.GeoDataFrame) -> pd.Series:
    ids = _col(gdf, "osm_id")
    if "id" in gdf.columns:
        ids = ids.where(ids.notna(), _col(gdf, "id"))
    return ids.map(lambda v: None if v is None else str(int(v)) if isinstance(v, float) else str(v))


def _geom_family(gdf: gpd.GeoDataFrame, family: str) -> gpd.GeoDataFrame:
    types = {"lines": ("LineString", "MultiLineString"), "polygons": ("Polygon", "MultiPolygon"),
             "points": ("Point",), "areas_or_lines": ("Polygon", "MultiPolygon", "LineString", "MultiLineString")}
    return gdf[gdf.geometry.notna() & gdf.geometry.geom_type.isin(types[family])]


def read_tilezen_geojson(path: Path, theme: str) -> dict[str, gpd.GeoDataFrame]:
    """Themes from one GeoJSON layer in the Tilezen schema (``kind``, ``kind_detail``, ``height``)."""
    gdf = _read_layer(path, pyogrio.list_layers(path)[0][0])
    kind = _col(gdf, "kind")
    out: dict[str, gpd.GeoDataFrame] = {}
    if theme == "roads":
        g = _geom_family(gdf[~kind.isin(TILEZEN_NOT_ROADS)], "lines")
        out["roads"] = _frame({"osm_id": _ids(g).tolist(), "name": _col(g, "name").tolist(),
                               "road_class": _col(g, "kind_detail").where(_col(g, "kind_detail").notna(),
                                                                          _col(g, "kind")).tolist(),
                               "oneway": [parse_oneway(v) for v in _col(g, "oneway")]}, list(g.geometry))
    elif theme == "buildings":
        g = _geom_family(gdf[kind == "building"], "polygons")
        heights = [building_height(h, lv) for h, lv in zip(_col(g, "height"), _col(g, "building:levels"),
                                                           strict=True)]
        out["buildings"] = _frame({"osm_id": _ids(g).tolist(), "name": _col(g, "name").tolist(),
                                   "kind": _col(g, "kind_detail").fillna("building").tolist(),
                                   "height_m": heights}, list(g.geometry))
        a = gdf[_col(gdf, "addr_housenumber").notna()]
        a = a[a.geometry.notna()]
        out["addresses"] = _frame({"osm_id": _ids(a).tolist(), "street": _col(a, "addr_street").tolist(),
                                   "housenumber": _col(a, "addr_housenumber").tolist(),
                                   "name": _col(a, "name").tolist()},
                                  [geom.point_on_surface() for geom in a.geometry])
    elif theme in ("water", "landuse"):
        g = _geom_family(gdf, "areas_or_lines" if theme == "water" else "polygons")
        g = g[_col(g, "boundary").isna() | ~g.geometry.geom_type.str.endswith("LineString")]  # outlines of areas
        out[theme] = _frame({"osm_id": _ids(g).tolist(), "kind": _col(g, "kind").fillna(theme).tolist(),
                             "name": _col(g, "name").tolist()}, list(g.geometry))
    elif theme == "pois":
        g = _geom_family(gdf[kind.notna()], "points")
        out["pois"] = _frame({"osm_id": _ids(g).tolist(), "kind": _col(g, "kind").tolist(),
                              "name": _col(g, "name").tolist(), "tag": ["kind"] * len(g)}, list(g.geometry))
    elif theme == "addresses":
        g = _geom_family(gdf, "points")
        out["addresses"] = _frame({"osm_id": _ids(g).tolist(), "street": _col(g, "addr_street").tolist(),
                                   "housenumber": _col(g, "addr_housenumber").tolist(),
                                   "name": _col(g, "name").tolist()}, list(g.geometry))
    return out


def read_osm(paths: list[str | Path], *, theme: str | None = None) -> dict[str, gpd.GeoDataFrame]:
    """Read OSM files into ``{theme: GeoDataFrame}`` (only the themes the files hold).

    ``.pbf`` files give every theme; GeoJSON files give the theme ``theme`` or the one
    their name ends with. Several files of the same theme are concatenated.
    """
    if theme is not None and theme not in THEMES:
        raise ImportDataError(f"Unknown theme {theme!r}; choose one of {', '.join(THEMES)}.")
    parts: dict[str, list[gpd.GeoDataFrame]] = {}
    for p in map(Path, paths):
        if not p.exists():
            raise ImportDataError(f"File not found: {p}")
        if p.name.lower().endswith(".pbf"):
            got = read_pbf(p)
        elif p.suffix.lower() in {".geojson", ".json"}:
            t = theme or theme_of(p)
            if t is None:
                raise ImportDataError(f"{p.name}: which theme is it? Name it ..._{{{','.join(THEMES)}}}.geojson "
                                      "or pass --theme.")
            got = read_tilezen_geojson(p, t)
        else:
            raise ImportDataError(f"{p.name}: expected an .osm.pbf or a GeoJSON layer")
        for t, gdf in got.items():
            parts.setdefault(t, []).append(gdf)
    return {t: gpd.GeoDataFrame(pd.concat(v, ignore_index=True), crs=WGS84) for t, v in parts.items()}
