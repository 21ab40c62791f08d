"""Load basemap themes (``spatial.io.osm``) into roads, buildings, water, landuse, poi and address.

:func:`import_osm` is ``onemap osm import``: read the files, then in one transaction, per theme,
delete the rows of the same ``source`` and insert the new ones clipped to

* the district boundary (union of the level-1 admin units; the default),
* a bbox (W, S, E, N degrees, EPSG:4326), or
* nothing (``clip_to_data``: keep the data's own extent, for tests and demos without a district).

Lines and areas are cut at the boundary (``ST_Intersection``); buildings are kept whole when a
point on their surface is inside; points are kept when inside. Polygons are repaired with
``ST_MakeValid``. Each write bumps the basemap generation (triggers of migration 0010), so the
tile cache of a running server sees the new data at the commit.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.db.copy import copy_frame, hex_ewkb
from spatial.db.engine import session_scope
from spatial.errors import ImportDataError
from spatial.io import osm

#: Table of each theme.
TABLES = {"roads": "road", "buildings": "building", "water": "water", "landuse": "landuse", "pois": "poi",
          "addresses": "address"}

#: Longest source name (the ``source`` columns are varchar(64); road/building codes are ``source:osm_id``).
MAX_SOURCE = 40

_STAGE = "_osm_stage"

#: Per theme: staging columns (text), then the INSERT's target columns and SELECT expressions.
#: ``{geom}`` is the clipped geometry expression, ``g`` the staged geometry.
_INSERT = {
    "roads": ("road", "code, name, road_class, oneway, source, attrs, geom",
              "code, name, road_class, oneway::boolean, :source, jsonb_build_object('osm_id', osm_id), {geom}"),
    "buildings": ("building", "code, height_m, source, attrs, geom",
                  "code, height_m::float8, :source, "
                  "jsonb_strip_nulls(jsonb_build_object('osm_id', osm_id, 'name', name, 'kind', kind)), {geom}"),
    "water": ("water", "source, osm_id, kind, name, geom", ":source, osm_id, kind, name, {geom}"),
    "landuse": ("landuse", "source, osm_id, kind, name, geom", ":source, osm_id, kind, name, {geom}"),
    "pois": ("poi", "source, osm_id, kind, name, attrs, geom",
             ":source, osm_id, kind, name, jsonb_build_object('tag', tag), {geom}"),
    "addresses": ("address", "source, osm_id, street, housenumber, name, geom",
                  ":source, osm_id, street, housenumber, name, {geom}"),
}

#: Clipped geometry per theme family; ``clip`` is NULL when not clipping.
_GEOM = {
    "lines": ("ST_Multi(CASE WHEN c.clip IS NULL THEN g "
              "ELSE ST_CollectionExtract(ST_Intersection(g, c.clip), 2) END)",
              "c.clip IS NULL OR ST_Intersects(g, c.clip)"),
    "areas": ("ST_Multi(CASE WHEN c.clip IS NULL THEN ST_CollectionExtract(ST_MakeValid(g), 3) "
              "ELSE ST_CollectionExtract(ST_Intersection(ST_CollectionExtract(ST_MakeValid(g), 3), c.clip), 3) END)",
              "c.clip IS NULL OR ST_Intersects(g, c.clip)"),
    "whole_areas": ("ST_Multi(ST_CollectionExtract(ST_MakeValid(g), 3))",
                    "c.clip IS NULL OR ST_Intersects(ST_PointOnSurface(g), c.clip)"),
    "points": ("g", "c.clip IS NULL OR ST_Intersects(g, c.clip)"),
    # water: areas and lines, each cut and kept in its own dimension
    "mixed": ("ST_Multi(CASE WHEN c.clip IS NULL THEN ST_CollectionExtract(ST_MakeValid(g), ST_Dimension(g) + 1) "
              "ELSE ST_CollectionExtract(ST_Intersection(ST_CollectionExtract(ST_MakeValid(g), ST_Dimension(g) + 1), "
              "c.clip), ST_Dimension(g) + 1) END)",
              "c.clip IS NULL OR ST_Intersects(g, c.clip)"),
}
_FAMILY = {"roads": "lines", "buildings": "whole_areas", "water": "mixed", "landuse": "areas", "pois": "points",
           "addresses": "points"}


def _codes(source: str, ids: pd.Series) -> list[str]:
    """Unique ``source:osm_id`` codes (a repeated id gets ``#2``, ``#3``...)."""
    seen: dict[str, int] = {}
    out = []
    for i, v in enumerate(ids):
        base = f"{source}:{v if v is not None else f'row{i + 1}'}"
        n = seen[base] = seen.get(base, 0) + 1
        out.append(base if n == 1 else f"{base}#{n}")
    return out


def _stage_frame(theme: str, gdf: gpd.GeoDataFrame, source: str) -> pd.DataFrame:
    df = pd.DataFrame({c: gdf[c].astype(object).where(gdf[c].notna(), None) for c in osm.COLUMNS[theme]})
    if theme in ("roads", "buildings"):
        df["code"] = _codes(source, df["osm_id"])
    for c in ("name", "street", "kind"):
        if c in df:
            df[c] = df[c].map(lambda v: None if v is None else str(v)[:200])
    if "kind" in df:
        df["kind"] = df["kind"].map(lambda v: None if v is None else str(v)[:32])
        df = df[df["kind"].notna()]
    if "housenumber" in df:
        df["housenumber"] = df["housenumber"].map(lambda v: None if v is None else str(v)[:32])
    if "oneway" in df:
        df["oneway"] = df["oneway"].map(lambda v: None if v is None else ("true" if v else "false"))
    df["wkb"] = hex_ewkb(gdf.geometry.loc[df.index].to_numpy())
    return df[df["wkb"].notna()]


def clip_geometry(session: Session, *, clip_to_data: bool = False,
                  bbox: Sequence[float] | None = None) -> str:
    """Describe and store the clip area in the temporary table ``_osm_clip`` (NULL clip = none)."""
    session.execute(sa.text("CREATE TEMP TABLE IF NOT EXISTS _osm_clip (clip geometry(Geometry, 4326)) "
                            "ON COMMIT DROP"))
    session.execute(sa.text("DELETE FROM _osm_clip"))
    if clip_to_data:
        session.execute(sa.text("INSERT INTO _osm_clip VALUES (NULL)"))
        return "data extent (no clip)"
    if bbox is not None:
        w, s, e, n = (float(v) for v in bbox)
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            raise ImportDataError("bbox must be W,S,E,N in degrees (EPSG:4326) with W < E and S < N")
        session.execute(sa.text("INSERT INTO _osm_clip VALUES (ST_MakeEnvelope(:w, :s, :e, :n, 4326))"),
                        {"w": w, "s": s, "e": e, "n": n})
        return f"bbox {w},{s},{e},{n}"
    district = session.execute(sa.text(
        "INSERT INTO _osm_clip SELECT ST_Union(geom) FROM admin_unit WHERE level = 1 HAVING count(*) > 0"))
    if district.rowcount == 0:
        raise ImportDataError("There is no district boundary (admin_unit level 1) to clip to: import it first "
                              "(onemap import admin_unit ...), or pass --bbox W,S,E,N or --clip-to-data.")
    return "district boundary"


def load_themes(session: Session, themes: dict[str, gpd.GeoDataFrame], *, source: str) -> dict[str, dict]:
    """Replace ``source``'s rows of each theme by ``themes`` clipped to ``_osm_clip``.

    Returns per theme the rows read, deleted (the source's old rows) and stored.
    """
    out: dict[str, dict] = {}
    for theme in osm.THEMES:
        if theme not in themes:
            continue
        table, cols, select = _INSERT[theme]
        stage = _stage_frame(theme, themes[theme], source)
        session.execute(sa.text(f"DROP TABLE IF EXISTS {_STAGE}"))
        session.execute(sa.text(f"CREATE TEMP TABLE {_STAGE} ({', '.join(f'{c} text' for c in stage.columns)}) "
                                "ON COMMIT DROP"))
        copy_frame(session, _STAGE, stage)
        deleted = session.execute(sa.text(f"DELETE FROM {table} WHERE source = :source"), {"source": source}).rowcount
        geom, keep = _GEOM[_FAMILY[theme]]
        inserted = session.execute(sa.text(_insert_sql(table, cols, select, geom, keep)),
                                   {"source": source}).rowcount
        out[theme] = {"read": len(themes[theme]), "deleted": deleted, "stored": inserted}
    return out


def _insert_sql(table: str, cols: str, select: str, geom: str, keep: str) -> str:
    return (f"INSERT INTO {table} ({cols}) "
            f"SELECT {select.format(geom='x.geom')} FROM ("
            f"  SELECT s.*, {geom} AS geom FROM (SELECT st.*, st.wkb::geometry AS g FROM {_STAGE} st) s, _osm_clip c"
            f"  WHERE {keep}) x "
            f"WHERE x.geom IS NOT NULL AND NOT ST_IsEmpty(x.geom)")


def import_osm(paths: Sequence[str | Path], *, source: str | None = None, theme: str | None = None,
               clip_to_data: bool = False, bbox: Sequence[float] | None = None,
               session: Session | None = None, url: str | None = None) -> dict:
    """Import OSM files into the basemap tables, replacing the rows of ``source``; returns a summary.

    ``source`` defaults to the first file's name without extensions and theme suffix
    (``shanghai_lujiazui_roads.geojson`` -> ``shanghai_lujiazui``). With ``session`` the import runs
    in the caller's transaction (not committed); otherwise in one transaction of its own.
    """
    if not paths:
        raise ImportDataError("No files to import.")
    if clip_to_data and bbox is not None:
        raise ImportDataError("Use either --clip-to-data or --bbox, not both.")
    src = source or osm.source_name(Path(paths[0]))
    if not src or len(src) > MAX_SOURCE:
        raise ImportDataError(f"The source name must have 1 to {MAX_SOURCE} characters (--source NAME).")
    t0 = time.perf_counter()
    themes = osm.read_osm(list(paths), theme=theme)
    read_s = time.perf_counter() - t0
    with (nullcontext(session) if session is not None else session_scope(url)) as s:
        clip = clip_geometry(s, clip_to_data=clip_to_data, bbox=bbox)
        counts = load_themes(s, themes, source=src)
        s.execute(sa.text("DROP TABLE IF EXISTS _osm_clip"))
        s.execute(sa.text(f"DROP TABLE IF EXISTS {_STAGE}"))
    return {"source": src, "clip": clip, "themes": counts, "rows": sum(c["stored"] for c in counts.values()),
            "read_s": round(read_s, 2), "total_s": round(time.perf_counter() - t0, 2)}
