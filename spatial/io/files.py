"""Import and export of the core tables: GeoPackage, GeoJSON, Shapefile and CSV.

:func:`import_file` reads a file (pyogrio, or pandas for CSV with
``lon``/``lat`` or WKT columns), checks it client side (CRS, geometry type,
validity, coordinate ranges, column types; see :mod:`spatial.io.read`) and
loads it in **one transaction**: rows are COPYed into a temporary staging
table, checked there (codes of referenced rows, points inside the district,
duplicate or already existing keys) and moved with one ``INSERT ... SELECT``
that also finds each point's grid by point-in-polygon. Every problem raises
:class:`~spatial.errors.ImportDataError` (or
:class:`~spatial.errors.OutsideDistrict`) naming the first offending rows
(1-based, in file order), and nothing is written. Geometry is stored in
EPSG:4326; a file without a CRS is refused unless ``src_crs`` is given (CSV
``lon``/``lat`` columns are WGS 84 degrees by definition).

Modes: ``append`` (refuses keys that exist), ``upsert`` (updates rows with
the same key with the columns the file has) and ``replace`` (deletes the
table's rows first; refused when other rows reference them with ``ON DELETE
RESTRICT``, e.g. departments used by categories; ``SET NULL`` references such
as tickets' grid ids are cleared; tickets: only imported history, through the
owner's ``onemap_purge_imported_tickets``, migration 0012). Imported tickets
keep the given status and the lifecycle times the ticket table has
(``accepted_at``, ``dispatched_at``, ``resolved_at``, ``closed_at``; they may
not go back in time) with one ``import`` event; history with an event per
transition is ``spatial.tickets.bulk.bulk_intake(history=True)``.

:func:`export_table` writes a table by file extension (``.gpkg``,
``.geojson``, ``.shp``, ``.csv``): references as codes, lists and JSON as
JSON text, times as ISO 8601 with offset, CSV points as ``lon``/``lat`` and
other CSV geometry as EWKT, so an export imports back unchanged.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from spatial.db.copy import copy_frame, hex_ewkb, json_text, pg_array
from spatial.db.engine import session_scope
from spatial.errors import DatabaseUnavailable, ImportDataError, OutsideDistrict
from spatial.io.clip import outside_rows
from spatial.io.read import prepare_frame, read_source, row_list, select_rows
from spatial.io.spec import PG_TYPES, SPECS, ImportOptions, TableSpec, shp_name, spec_for
from spatial.locate import district_geometry, inside_sql, locate_points
from spatial.privacy import PRIVATE_SENSOR_TYPES, SENSITIVE_CATEGORY_CODES
from spatial.profile import district_profile
from spatial.tickets.deadlines import due_at_many
from spatial.tickets.history import TICKET_TIME_COLUMNS, order_reasons

log = logging.getLogger(__name__)
MODES = ("append", "replace", "upsert")
DRIVERS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".shp": "ESRI Shapefile", ".csv": "CSV"}
_LISTED = 10


@contextmanager
def _session(session: Session | None, url: str | None) -> Iterator[Session]:
    if session is not None:
        yield session
        return
    with session_scope(url) as s:
        yield s


# ---------------------------------------------------------------------------- import

@dataclass
class ImportResult:
    """What an import did: rows written, rows left out (1-based row, reason) and where they were
    written, and admin units sticking out of their parent (code, parent, outside_m2, area_m2)."""

    table: str
    rows: int
    rejected: list[tuple[int, str]] = field(default_factory=list)
    rejects_path: Path | None = None
    containment: list[dict] = field(default_factory=list)


def import_file(path: str | Path, table: str, *, layer: str | None = None, lon: str | None = None,
                lat: str | None = None, src_crs: str | int | None = None, mode: str = "append",
                fix_invalid: bool = False, options: ImportOptions | None = None,
                session: Session | None = None, url: str | None = None) -> int:
    """Import a GeoPackage/GeoJSON/Shapefile/CSV into ``table``; returns the number of rows written.

    Parameters
    ----------
    path : str or Path
        The file. CSV: ``lon``/``lat`` columns (or ``lon``/``lat`` naming
        other columns), or a WKT/EWKT column named wkt/geometry/geom.
    table : str
        One of :data:`spatial.io.spec.SPECS` (admin_unit, department,
        category, asset, camera, sensor, worker, ticket, road, building).
    layer : str, optional
        Layer of a multi-layer file (GeoPackage).
    src_crs : str or int, optional
        CRS of a file that does not declare one (e.g. ``"EPSG:32649"``).
    mode : {"append", "replace", "upsert"}
    fix_invalid : bool
        Repair invalid geometry with ``make_valid`` (= ``options.invalid="fix"``).
    options : ImportOptions, optional
        Column mapping, constants, rows outside / invalid, generated codes,
        containment (see :class:`spatial.io.spec.ImportOptions`).
    session : Session, optional
        Run inside this session's transaction (only flushes); by default a
        new transaction is committed on success.

    Raises
    ------
    ImportDataError, OutsideDistrict
        With a user-facing message naming the offending rows; nothing is written.
    """
    return run_import(path, table, layer=layer, lon=lon, lat=lat, src_crs=src_crs, mode=mode,
                      fix_invalid=fix_invalid, options=options, session=session, url=url).rows


def run_import(path: str | Path, table: str, *, layer: str | None = None, lon: str | None = None,
               lat: str | None = None, src_crs: str | int | None = None, mode: str = "append",
               fix_invalid: bool = False, options: ImportOptions | None = None,
               session: Session | None = None, url: str | None = None) -> ImportResult:
    """:func:`import_file` returning an :class:`ImportResult` (rows left out, containment report).

    The good rows load in one transaction; the rejects GeoPackage is written
    before it commits (a failure to write it loads nothing). With
    ``options.containment="error"`` units sticking out of their parent refuse
    the whole file.
    """
    if mode not in MODES:
        raise ImportDataError(f"Unknown mode {mode!r}; use one of {', '.join(MODES)}.")
    if options is None:
        options = ImportOptions(invalid="fix" if fix_invalid else "error")
    elif fix_invalid and options.invalid == "error":
        options = replace(options, invalid="fix")
    spec = spec_for(table)
    path = Path(path)
    gdf = select_rows(read_source(path, table=table, layer=layer, lon=lon, lat=lat, src_crs=src_crs),
                      options.where)
    frame = prepare_frame(gdf, table, options=options)
    with _session(session, url) as s:
        if options.outside != "error" and spec.geom is not None:
            frame = _outside(s, frame, spec, clip=options.outside == "clip")
        rejected: list[tuple[int, str]] = []
        rejects_path = None
        if "_reason" in frame:
            bad = frame["_reason"].notna().to_numpy()
            rejected = [(int(r), str(why)) for r, why in zip(frame["_row"][bad], frame["_reason"][bad], strict=True)]
            frame = frame[~bad].drop(columns=["_reason"]).reset_index(drop=True)
        n = load_frame(s, frame, table, mode=mode, source=path.name, check_inside=options.outside == "error")
        result = ImportResult(table, n, rejected)
        if table == "admin_unit" and n:
            result.containment = containment_report(s, list(frame["code"]), share=options.containment_share,
                                                    min_m2=options.containment_m2)
            if result.containment and options.containment == "error":
                raise ImportDataError(f"{len(result.containment)} admin unit(s) stick out of their parent: "
                                      + "; ".join(containment_line(c) for c in result.containment[:_LISTED]))
        if rejected:
            rejects_path = Path(options.rejects) if options.rejects else path.with_name(f"{path.stem}.rejects.gpkg")
            write_rejects(gdf, rejected, rejects_path)
            result.rejects_path = rejects_path
        return result


def _outside(session: Session, frame: pd.DataFrame, spec: TableSpec, *, clip: bool) -> pd.DataFrame:
    """Give rows outside the district a ``_reason`` (and clip the others when ``clip``); see :mod:`spatial.io.clip`."""
    district = district_geometry(session)
    check = np.ones(len(frame), dtype=bool)
    if spec.table == "admin_unit":
        top = (frame["level"] == 1).to_numpy()
        check = ~top
        if district is None and top.any():
            district = shapely.union_all([g for g in frame["geom"][top] if g is not None])
    if district is None:
        raise ImportDataError("No district boundary is loaded (admin_unit level 1): import the admin units first.")
    frame = frame.copy()
    if "_reason" not in frame:
        frame["_reason"] = None
    todo = check & frame["_reason"].isna().to_numpy()
    geoms = frame["geom"].to_numpy()[todo]
    reasons, clipped = outside_rows(geoms, district, spec.geom, clip=clip)
    idx = np.flatnonzero(todo)
    frame.loc[idx, "geom"] = pd.Series(list(clipped), index=idx, dtype=object)
    frame.loc[idx, "_reason"] = pd.Series(list(reasons), index=idx, dtype=object)
    return frame


def write_rejects(gdf: gpd.GeoDataFrame, rejected: list[tuple[int, str]], path: Path) -> None:
    """Write the rejected rows of the source ``gdf`` (its CRS and columns) to a GeoPackage layer ``rejects``,
    with the 1-based ``_row`` and the ``reason``."""
    rows = [r for r, _ in rejected]
    out = pd.DataFrame(gdf.drop(columns=["geometry"], errors="ignore")).iloc[[r - 1 for r in rows]].copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = [v if v is None or isinstance(v, str | int | float | bool) else str(v) for v in out[c]]
    out.insert(0, "reason", [why for _, why in rejected])
    out.insert(0, "_row", rows)
    geom = (gdf.geometry.to_numpy()[[r - 1 for r in rows]] if "geometry" in gdf.columns
            else np.full(len(rows), None, dtype=object))
    frame = gpd.GeoDataFrame(out.reset_index(drop=True), geometry=list(geom),
                             crs=gdf.crs if "geometry" in gdf.columns else None)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        pyogrio.write_dataframe(frame, path, driver="GPKG", layer="rejects", geometry_type="Unknown")
    except Exception as exc:
        raise ImportDataError(f"Cannot write the rejects file {path}: {str(exc).splitlines()[0]}; "
                              "choose another with --rejects PATH.") from None


def containment_report(session: Session, codes: list[str], *, share: float = 0.01,
                       min_m2: float = 1000.0) -> list[dict]:
    """Admin units among ``codes`` whose area outside their parent exceeds ``max(share * area, min_m2)`` (m², geodesic).

    Each: ``code``, ``level``, ``parent``, ``outside_m2``, ``area_m2``; largest outside first.
    """
    rows = session.execute(sa.text(
        "SELECT code, level, parent, outside_m2, area_m2 FROM ("
        " SELECT a.code, a.level, p.code AS parent, ST_Area(ST_Difference(a.geom, p.geom)::geography) AS outside_m2,"
        " ST_Area(a.geom::geography) AS area_m2 FROM admin_unit a JOIN admin_unit p ON p.id = a.parent_id"
        " WHERE a.code = ANY(:codes) AND NOT ST_CoveredBy(a.geom, p.geom)) x"
        " WHERE outside_m2 > greatest(:share * area_m2, :min_m2) ORDER BY outside_m2 DESC"),
        {"codes": codes, "share": share, "min_m2": min_m2}).mappings().all()
    return [dict(r) for r in rows]


def containment_line(c: dict) -> str:
    """One containment finding as text: ``C12 sticks out of D by 2,400 m² (1.3 % of 180,000 m²)``."""
    return (f"{c['code']} sticks out of {c['parent']} by {c['outside_m2']:,.0f} m² "
            f"({c['outside_m2'] / c['area_m2']:.1%} of {c['area_m2']:,.0f} m²)")


def _stage_value_frame(frame: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    out = pd.DataFrame({"_row": frame["_row"]})
    for c in spec.cols:
        if c.name not in frame:
            continue
        v = frame[c.name]
        if c.kind == "json":
            out[c.name] = [json_text(x) if isinstance(x, dict) else None for x in v]
        elif c.kind == "list":
            out[c.name] = [pg_array(x) if isinstance(x, list) else None for x in v]
        elif c.kind == "datetime":  # vectorised text, much faster to COPY than datetime objects
            ts = pd.to_datetime(pd.Series(v.array, dtype=object), utc=True)
            out[c.name] = ts.dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00").where(ts.notna(), None).to_numpy()
        else:
            out[c.name] = v.array
    for extra in ("department_id", "accept_due_at", "resolve_due_at"):
        if extra in frame:
            out[extra] = frame[extra].array
    if "geom" in frame:
        out["geom"] = hex_ewkb(frame["geom"].to_numpy())
    for extra in LOCATED:
        if extra in frame:
            out[extra] = frame[extra].array
    return out


#: Columns :func:`_located` adds to a frame of points (the one point-in-grid rule, batch form).
LOCATED = ("_inside", "_grid_id", "_community_id", "_street_id")


def _located(session: Session, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with :data:`LOCATED` columns from :func:`spatial.locate.locate_points` (rows without a point: NULL)."""
    geoms = frame["geom"].to_numpy()
    has = ~shapely.is_missing(geoms)
    found = locate_points(session, np.where(has, shapely.get_x(geoms), 0.0), np.where(has, shapely.get_y(geoms), 0.0))
    frame = frame.copy()
    frame["_inside"] = pd.Series(found["inside"].to_numpy(), index=frame.index, dtype="boolean").where(has).array
    for col in ("grid_id", "community_id", "street_id"):
        frame["_" + col] = found[col].where(has).set_axis(frame.index).array
    return frame


def _ticket_derived(session: Session, frame: pd.DataFrame) -> pd.DataFrame:
    """Department and deadlines of imported tickets from their category (catalog rules)."""
    rows = session.execute(sa.text(
        "SELECT code, department_id, accept_limit, accept_unit, resolve_limit, resolve_unit FROM category")).all()
    cats = {r[0]: r[1:] for r in rows}
    unknown = ~frame["category"].isin(list(cats)).to_numpy()
    if unknown.any():
        codes = sorted(set(frame.loc[unknown, "category"]))[:_LISTED]
        raise ImportDataError(f"{row_list(unknown)}: unknown category code(s) {', '.join(map(repr, codes))}.")
    profile = district_profile(session)
    tz, cal = profile.timezone, profile.calendar
    info = pd.DataFrame([cats[c] for c in frame["category"]],
                        columns=["department_id", "al", "au", "rl", "ru"])
    start = pd.Series(pd.to_datetime(frame["created_at"], utc=True) if "created_at" in frame
                      else pd.NaT, index=info.index, dtype="datetime64[us, UTC]")
    start = start.fillna(pd.Timestamp.now(tz="UTC"))
    times = pd.DataFrame({c: pd.Series(pd.to_datetime(frame[c], utc=True).array, index=info.index)
                          for c in TICKET_TIME_COLUMNS if c in frame})
    bad = (order_reasons(times, start)[0] != "").to_numpy() if len(times.columns) else np.zeros(len(frame), bool)
    if bad.any():
        first = order_reasons(times, start)[0][bad].iloc[0]
        raise ImportDataError(f"{row_list(bad)}: lifecycle times go back ({first}; created_at is reported_at).")
    acc = due_at_many(start, info["al"].astype(float), info["au"], tz, calendar=cal)
    res = due_at_many(start, info["rl"].astype(float), info["ru"], tz, calendar=cal)
    dept = info["department_id"]
    frame = frame.copy()
    frame["department_id"] = pd.array(dept, dtype="Int64")
    frame["accept_due_at"] = acc.dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00").to_numpy()
    frame["resolve_due_at"] = res.dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00").to_numpy()
    return frame


def _fail_if(session: Session, sql: str, message: str, *, exc: type = ImportDataError, **params) -> None:
    """Run a check query returning (_row, value) pairs; raise ``exc`` listing them if any."""
    rows = session.execute(sa.text(sql + f" LIMIT {_LISTED + 1}"), params).all()
    if rows:
        shown = rows[:_LISTED]
        nums = ", ".join(str(r[0]) for r in shown) + (" ..." if len(rows) > _LISTED else "")
        vals = sorted({str(r[1]) for r in shown if len(r) > 1 and r[1] is not None})
        detail = f" ({', '.join(vals)})" if vals else ""
        raise exc(message.format(rows=f"row{'s' if len(rows) > 1 else ''} {nums}", values=detail))


def load_frame(session: Session, frame: pd.DataFrame, table: str, *, mode: str = "append",
               source: str = "import", check_inside: bool = True) -> int:
    """Load a checked frame (from :func:`spatial.io.read.prepare_frame`) into ``table``; flushes only.

    Runs in a savepoint: on any error the savepoint is rolled back, the
    staging table is gone and ``ImportDataError``/``OutsideDistrict`` is raised.
    ``check_inside=False`` when the rows were already held to the district
    (:mod:`spatial.io.clip`).
    """
    spec = spec_for(table)
    if mode not in MODES:
        raise ImportDataError(f"Unknown mode {mode!r}; use one of {', '.join(MODES)}.")
    if frame.empty:
        return 0
    session.flush()
    if table == "ticket":
        frame = _ticket_derived(session, frame)
    if spec.locate and "geom" in frame:
        frame = _located(session, frame)
    stage = f"_import_{uuid.uuid4().hex[:12]}"
    values = _stage_value_frame(frame, spec)
    try:
        with session.begin_nested():
            n = _load(session, spec, values, stage, mode=mode, source=source, check_inside=check_inside)
    except OperationalError as exc:
        raise DatabaseUnavailable(f"The database is unavailable: {str(exc.orig).splitlines()[0]}") from None
    except DBAPIError as exc:
        msg = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
        detail = str(exc.orig).splitlines()[1] if exc.orig and len(str(exc.orig).splitlines()) > 1 else ""
        raise ImportDataError(f"The database refused the import into {table}: {msg} {detail}".strip()) from None
    return n


def _load(session: Session, spec: TableSpec, values: pd.DataFrame, stage: str, *, mode: str, source: str,
          check_inside: bool = True) -> int:
    table = spec.table
    present = [c for c in spec.cols if c.name in values.columns]
    types = {c.name: PG_TYPES[c.kind] for c in present}
    for extra, typ in (("department_id", "bigint"), ("accept_due_at", "timestamptz"),
                       ("resolve_due_at", "timestamptz"), ("_inside", "boolean"), ("_grid_id", "bigint"),
                       ("_community_id", "bigint"), ("_street_id", "bigint")):
        if extra in values:
            types[extra] = typ
    cols_sql = ", ".join([f'"{k}" {v}' for k, v in types.items()])
    geom_sql = ", geom geometry(Geometry, 4326)" if "geom" in values else ""
    t0 = time.perf_counter()
    session.execute(sa.text(f"CREATE TEMP TABLE {stage} (_row integer, {cols_sql}{geom_sql}) ON COMMIT DROP"))
    copy_frame(session, stage, values)
    session.execute(sa.text(f"ANALYZE {stage}"))
    log.debug("import %s: COPY to staging %.2f s", table, time.perf_counter() - t0)

    # references by code
    for c in present:
        if c.kind != "code" or c.name == "category":  # tickets' categories were checked client side
            continue
        level = " AND r.level = 4" if c.name == "home_grid" else ""
        self_ref = f" AND NOT EXISTS (SELECT 1 FROM {stage} s2 WHERE s2.code = s.{c.name})" \
            if c.ref == table else ""
        _fail_if(session, f"SELECT s._row, s.{c.name} FROM {stage} s WHERE s.{c.name} IS NOT NULL AND NOT EXISTS "
                 f"(SELECT 1 FROM {c.ref} r WHERE r.code = s.{c.name}{level}){self_ref} ORDER BY s._row",
                 f"{{rows}}: unknown {c.ref}{' grid' if level else ''} code in column '{c.name}'{{values}}.")
    # duplicate keys inside the file
    key = [k for k in spec.key if k in values.columns]
    if len(key) == len(spec.key):
        knn = " AND ".join(f"{k} IS NOT NULL" for k in key)
        kcat = " || '/' || ".join(f"{k}::text" for k in key)
        _fail_if(session, f"SELECT min(_row), {kcat} FROM {stage} WHERE {knn} GROUP BY {', '.join(key)} "
                 f"HAVING count(*) > 1 ORDER BY 1", f"{{rows}}: {'/'.join(key)} repeated in the file{{values}}.")
    log.debug("import %s: refs + duplicates %.2f s", table, time.perf_counter() - t0)
    # inside the district (located rows know it already: only the others are tested)
    if spec.geom is not None and table != "admin_unit":
        if not session.scalar(sa.text("SELECT EXISTS (SELECT 1 FROM admin_unit WHERE level = 1)")):
            raise ImportDataError("No district boundary is loaded (admin_unit level 1): import the admin units "
                                  "first.")
        located = " AND s._inside IS NOT TRUE" if "_inside" in values else ""
        located += "" if check_inside else " AND false"
        _fail_if(session, f"SELECT s._row, round(ST_X(ST_PointOnSurface(s.geom))::numeric, 5) || ' ' || "
                 f"round(ST_Y(ST_PointOnSurface(s.geom))::numeric, 5) FROM {stage} s WHERE s.geom IS NOT NULL"
                 f"{located} AND NOT {inside_sql('s.geom')} ORDER BY s._row",
                 "{rows}: outside the district boundary (lon lat{values}); check the coordinates and CRS.",
                 exc=OutsideDistrict)
    log.debug("import %s: checks done %.2f s", table, time.perf_counter() - t0)
    # existing keys
    if mode == "append" and len(key) == len(spec.key):
        on = " AND ".join(f"t.{k} = s.{k}" for k in key)
        kcat = " || '/' || ".join(f"s.{k}::text" for k in key)
        _fail_if(session, f"SELECT s._row, {kcat} FROM {stage} s JOIN {table} t ON {on} ORDER BY s._row",
                 f"{{rows}}: {'/'.join(key)} already in {table}{{values}}; use mode upsert or replace.")
    if mode == "replace":
        if table == "ticket":  # their events are append-only: the owner's purge of imported history
            session.execute(sa.text("SELECT onemap_purge_imported_tickets(ARRAY(SELECT id FROM ticket))"))
        session.execute(sa.text(f"DELETE FROM {table}"))

    # INSERT ... SELECT
    cols: list[str] = []
    exprs: list[str] = []
    joins = ""
    for i, c in enumerate(present):
        cols.append(c.column)
        if c.kind == "code" and c.ref != table:  # hash joins, not a sub-select per row
            joins += f" LEFT JOIN {c.ref} r{i} ON r{i}.code = s.{c.name}"
            exprs.append(f"r{i}.id")
        else:
            exprs.append("NULL" if c.kind == "code" else f"s.{c.name}")
    if table == "ticket" and "description" in cols:  # NOT NULL: an empty CSV cell is an empty description
        i = cols.index("description")
        exprs[i] = f"COALESCE({exprs[i]}, '')"
    if "geom" in values:
        cols.append("geom")
        exprs.append("ST_Multi(s.geom)" if spec.geom in ("line", "polygon") else "s.geom")
    if spec.locate:
        cols.append("grid_id")
        exprs.append("s._grid_id" if "_grid_id" in values else "NULL")
        if spec.locate_hierarchy:
            cols += ["community_id", "street_id"]
            exprs += (["s._community_id", "s._street_id"] if "_grid_id" in values else ["NULL", "NULL"])
    if table == "admin_unit" and "area_m2" not in values:
        cols.append("area_m2")
        exprs.append("ST_Area(s.geom::geography)")
    if table == "ticket":
        cols += ["department_id", "accept_due_at", "resolve_due_at"]
        exprs += ["s.department_id", "s.accept_due_at", "s.resolve_due_at"]
        if "created_at" in values:
            cols.append("updated_at")
            exprs.append("COALESCE(s.created_at, now())")
    conflict = ""
    if mode == "upsert" and len(key) == len(spec.key):
        upd = [c for c in cols if c not in spec.key and not (table == "admin_unit" and c == "parent_id")]
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in upd) or f"{key[0]} = EXCLUDED.{key[0]}"
        conflict = f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}"
    insert = f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(exprs)} FROM {stage} s{joins}{conflict}"
    log.debug("import %s: before insert %.2f s", table, time.perf_counter() - t0)
    if table == "ticket":  # new tickets also get their reporter row and an 'import' event, in one statement
        n = session.execute(sa.text(
            f"WITH ins AS ({insert} RETURNING id, channel, external_id, reporter_name, reporter_phone, "
            "reporter_account, created_at, description, status, geom, (xmax = 0) AS inserted), "
            "rep AS (INSERT INTO ticket_reporter (ticket_id, channel, external_id, name, phone, account, "
            "reported_at, description, geom) SELECT id, channel, external_id, reporter_name, reporter_phone, "
            "reporter_account, created_at, description, geom FROM ins WHERE inserted), "
            "ev AS (INSERT INTO ticket_event (ticket_id, at, kind, from_status, to_status, actor, actor_role, "
            "data) SELECT id, created_at, 'import', NULL, status, :actor, 'system', CAST(:data AS jsonb) "
            "FROM ins WHERE inserted) SELECT count(*) FROM ins"),
            {"actor": f"import:{source}"[:128], "data": json.dumps({"source": source})}).scalar_one()
    else:
        n = session.execute(sa.text(insert)).rowcount
    log.debug("import %s: insert %.2f s", table, time.perf_counter() - t0)
    privacy_default = {"category": ("sensitive", "code = ANY(:v)", list(SENSITIVE_CATEGORY_CODES)),
                       "sensor": ("private", "sensor_type = ANY(:v)", list(PRIVATE_SENSOR_TYPES))}.get(table)
    if privacy_default and privacy_default[0] not in values:  # files without the flag: spatial.privacy defaults
        flag, cond, v = privacy_default
        session.execute(sa.text(f"UPDATE {table} t SET {flag} = true FROM {stage} s "
                                f"WHERE t.code = s.code AND t.{cond}"), {"v": v})

    if table == "admin_unit" and "parent" in values:
        session.execute(sa.text(f"UPDATE admin_unit a SET parent_id = p.id FROM {stage} s JOIN admin_unit p "
                                f"ON p.code = s.parent WHERE a.code = s.code"))
        _fail_if(session, f"SELECT s._row, a.code || ' (level ' || a.level || ') in ' || p.code || ' (level ' || "
                 f"p.level || ')' FROM {stage} s JOIN admin_unit a ON a.code = s.code JOIN admin_unit p "
                 f"ON p.id = a.parent_id WHERE p.level >= a.level ORDER BY s._row",
                 "{rows}: the parent must be a higher level (a level may be skipped){values}.")
    session.flush()  # the staging tables go at commit (ON COMMIT DROP)
    return n


# ---------------------------------------------------------------------------- export

def _select_sql(spec: TableSpec) -> str:
    parts = ["t.id"]
    for c in spec.cols:
        if c.kind == "code":
            parts.append(f"(SELECT r.code FROM {c.ref} r WHERE r.id = t.{c.column}) AS {c.name}")
        else:
            parts.append(f"t.{c.column} AS {c.name}")
    if spec.locate:
        parts.append("(SELECT g.code FROM admin_unit g WHERE g.id = t.grid_id) AS grid")
    if spec.table == "ticket":
        parts += ["t.accept_due_at", "t.resolve_due_at"]  # closed_at and the other times: spec columns
    if spec.geom is not None:
        parts.append("ST_AsBinary(t.geom) AS _wkb")
    return f"SELECT {', '.join(parts)} FROM {spec.table} t ORDER BY t.id"


def read_table(session: Session, table: str) -> gpd.GeoDataFrame:
    """A table as a GeoDataFrame (EPSG:4326) with references as codes, ordered by id."""
    spec = spec_for(table)
    res = session.execute(sa.text(_select_sql(spec)))
    df = pd.DataFrame(res.all(), columns=list(res.keys()))
    if spec.geom is None:
        return gpd.GeoDataFrame(df)
    wkb = df.pop("_wkb")
    geom = shapely.from_wkb([bytes(b) if b is not None else None for b in wkb])
    return gpd.GeoDataFrame(df, geometry=geom, crs="EPSG:4326")


def _to_text_columns(df: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if col == "geometry":
            continue
        c = spec.col(col)
        kind = c.kind if c else None
        if kind in ("json", "list"):
            out[col] = [json.dumps(v, ensure_ascii=False) if v is not None else None for v in out[col]]
        elif kind == "datetime" or col.endswith("_at"):
            out[col] = [v.isoformat() if isinstance(v, datetime) and not pd.isna(v) else None for v in out[col]]
        elif kind == "int":
            out[col] = pd.array(out[col], dtype="Int64")
    return out


def export_table(table: str, path: str | Path, *, session: Session | None = None, url: str | None = None) -> int:
    """Write ``table`` to ``path`` (format from the extension); returns the number of rows written.

    GeoPackage/GeoJSON/Shapefile in EPSG:4326; CSV with ``lon``/``lat`` for
    points and an EWKT ``wkt`` column for lines and polygons. Overwrites
    ``path``.
    """
    path = Path(path)
    spec = spec_for(table)
    ext = path.suffix.lower()
    if ext not in DRIVERS:
        raise ImportDataError(f"Unknown export format {ext or path.name!r}; use .gpkg, .geojson, .shp or .csv.")
    if ext == ".shp" and spec.geom is None:
        raise ImportDataError(f"{table} has no geometry; export it to .csv, .gpkg or .geojson instead.")
    with _session(session, url) as s:
        gdf = read_table(s, table)
    out = _to_text_columns(gdf, spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    if ext == ".shp":
        for side in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
            path.with_suffix(side).unlink(missing_ok=True)
    else:
        path.unlink(missing_ok=True)
    if ext == ".csv":
        if spec.geom == "point":
            g = out.geometry
            has = g.notna() & ~g.is_empty if len(g) else g.notna()
            out["lon"] = np.where(has, g.x.where(has), np.nan) if len(g) else []
            out["lat"] = np.where(has, g.y.where(has), np.nan) if len(g) else []
        elif spec.geom is not None:
            out["wkt"] = ["SRID=4326;" + shapely.to_wkt(g, rounding_precision=-1) if g is not None else None
                          for g in out.geometry]
        pd.DataFrame(out.drop(columns=["geometry"], errors="ignore")).to_csv(path, index=False,
                                                                            float_format="%.17g")
        return len(out)
    if ext == ".shp":
        out = out.rename(columns={c: shp_name(c) for c in out.columns if c != "geometry"})
    kwargs: dict = {"layer": table} if ext == ".gpkg" else {}
    if spec.geom is None:
        pyogrio.write_dataframe(pd.DataFrame(out), path, driver=DRIVERS[ext], **kwargs)
    else:
        pyogrio.write_dataframe(gpd.GeoDataFrame(out, geometry="geometry", crs="EPSG:4326"), path,
                                driver=DRIVERS[ext], **kwargs)
    return len(out)


__all__ = ["DRIVERS", "MODES", "SPECS", "ImportResult", "containment_report", "export_table", "import_file",
           "load_frame", "read_table", "run_import", "write_rejects"]
