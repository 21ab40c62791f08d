"""Reading and checking files to import (see :mod:`spatial.io.files`).

Everything here is client side and touches no database: read a file
(pyogrio, or pandas for CSV), check the CRS, geometry type, validity and
coordinate ranges, reproject to EPSG:4326 and coerce each column to its
kind, raising :class:`~spatial.errors.ImportDataError` that names the rows.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from spatial.db.profile import app_profile
from spatial.errors import ImportDataError, OneMapError
from spatial.geometry import FAMILY, keep_family, multi_of
from spatial.io.spec import (
    EXPORT_ONLY,
    LAT_NAMES,
    LEVEL_NAMES,
    LON_NAMES,
    WKT_NAMES,
    ImportOptions,
    TableSpec,
    short_names,
    spec_for,
)
from spatial.models import CHANNELS, TICKET_STATES

_MAX_LISTED = 10


def row_list(mask_or_idx, *, total: int | None = None) -> str:
    """'rows 2, 5, 9 (and 12 more)' from a boolean mask or 0-based indices (printed 1-based)."""
    idx = np.flatnonzero(mask_or_idx) if np.asarray(mask_or_idx).dtype == bool else np.asarray(mask_or_idx)
    n = total if total is not None else len(idx)
    shown = ", ".join(str(int(i) + 1) for i in idx[:_MAX_LISTED])
    more = f" (and {n - min(n, _MAX_LISTED)} more)" if n > _MAX_LISTED else ""
    return f"row{'s' if n != 1 else ''} {shown}{more}"


# ---------------------------------------------------------------------------- reading

def _crs_of(src_crs: str | int | None) -> CRS | None:
    if src_crs in (None, ""):
        return None
    try:
        return CRS.from_user_input(src_crs)
    except Exception as exc:
        raise ImportDataError(f"Unknown CRS {src_crs!r}: {exc}") from None


def _find(columns: list[str], wanted: str | None, candidates: tuple[str, ...], what: str) -> str | None:
    lower = {c.lower(): c for c in columns}
    if wanted:
        if wanted in columns:
            return wanted
        if wanted.lower() in lower:
            return lower[wanted.lower()]
        raise ImportDataError(f"{what} column {wanted!r} not found; the file has: {', '.join(columns)}.")
    return next((lower[c] for c in candidates if c in lower), None)


def _read_csv(path: Path, *, lon: str | None, lat: str | None, src_crs: CRS | None,
              spec: TableSpec) -> gpd.GeoDataFrame:
    df = None
    for encoding in ("utf-8-sig", "gb18030"):  # Chinese exports are often GBK
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding=encoding)
            break
        except UnicodeDecodeError:
            continue
        except Exception as exc:
            raise ImportDataError(f"Cannot read CSV {path.name}: {exc}") from None
    if df is None:
        raise ImportDataError(f"Cannot read CSV {path.name}: it is neither UTF-8 nor GB18030/GBK text.")
    cols = list(df.columns)
    xcol = _find(cols, lon, LON_NAMES, "Longitude")
    ycol = _find(cols, lat, LAT_NAMES, "Latitude")
    wcol = None if (xcol and ycol) else _find(cols, None, WKT_NAMES, "WKT")
    crs = src_crs
    if spec.geom is None:
        return gpd.GeoDataFrame(df)
    if xcol and ycol:
        x = pd.to_numeric(df[xcol], errors="coerce")
        y = pd.to_numeric(df[ycol], errors="coerce")
        bad = (x.isna() != df[xcol].isna()) | (y.isna() != df[ycol].isna())
        if bad.any():
            raise ImportDataError(f"{row_list(bad.to_numpy())}: {xcol}/{ycol} are not numbers.")
        has = x.notna() & y.notna()
        geom = np.full(len(df), None, dtype=object)
        geom[has.to_numpy()] = shapely.points(x[has].to_numpy(), y[has].to_numpy())
        implied = xcol.lower() in ("lon", "lng", "long", "longitude") and ycol.lower() in ("lat", "latitude")
        if crs is None and implied:
            crs = CRS.from_epsg(4326)  # lon/lat columns are WGS 84 degrees unless --crs says otherwise
        out = gpd.GeoDataFrame(df.drop(columns=[xcol, ycol]), geometry=geom, crs=crs)
    elif wcol:
        text = df[wcol].fillna("").str.strip()
        srids = text.str.extract(r"^SRID=(\d+);", expand=False)
        body = text.str.replace(r"^SRID=\d+;", "", regex=True)
        wkt = np.array([b if b else None for b in body], dtype=object)  # an empty cell: no geometry
        try:
            geom = shapely.from_wkt(wkt, on_invalid="raise")
        except Exception:
            parsed = shapely.from_wkt(wkt, on_invalid="ignore")
            bad = pd.isna(parsed) & (body != "").to_numpy()
            raise ImportDataError(f"{row_list(bad)}: column {wcol!r} is not valid WKT.") from None
        found = srids.dropna().unique()
        if len(found) > 1:
            raise ImportDataError(f"Column {wcol!r} mixes SRIDs {', '.join(found)}.")
        if len(found) == 1:
            file_crs = CRS.from_epsg(int(found[0]))
            if crs is not None and crs != file_crs:
                raise ImportDataError(f"The file says EPSG:{found[0]} but --crs says {crs.to_string()}.")
            crs = file_crs
        out = gpd.GeoDataFrame(df.drop(columns=[wcol]), geometry=geom, crs=crs)
    elif not spec.geom_required:
        out = gpd.GeoDataFrame(df)
    else:
        raise ImportDataError(
            f"{path.name} has no coordinates: a CSV for {spec.table} needs lon/lat columns (or --lon/--lat) "
            f"or a WKT column named one of {', '.join(WKT_NAMES)}.")
    return out


def read_source(path: str | Path, *, table: str, layer: str | None = None, lon: str | None = None,
                lat: str | None = None, src_crs: str | int | None = None) -> gpd.GeoDataFrame:
    """Read ``path`` into a GeoDataFrame in its own CRS (set from ``src_crs`` when the file has none).

    Raises ImportDataError for unreadable files, ambiguous layers, a CRS that
    conflicts with ``src_crs`` and CSVs without coordinates.
    """
    path = Path(path)
    spec = spec_for(table)
    if not path.exists():
        raise ImportDataError(f"File not found: {path}")
    crs = _crs_of(src_crs)
    if path.suffix.lower() in (".csv", ".txt"):
        return _read_csv(path, lon=lon, lat=lat, src_crs=crs, spec=spec)
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
        if layer is None and len(layers) > 1:
            raise ImportDataError(f"{path.name} has {len(layers)} layers ({', '.join(layers)}); choose one "
                                  "with --layer.")
        if layer is not None and layer not in layers:
            raise ImportDataError(f"Layer {layer!r} not in {path.name}; layers: {', '.join(layers)}.")
        gdf = pyogrio.read_dataframe(path, layer=layer)
    except OneMapError:
        raise
    except Exception as exc:
        raise ImportDataError(f"Cannot read {path.name}: {str(exc).splitlines()[0]}") from None
    if not isinstance(gdf, gpd.GeoDataFrame):
        gdf = gpd.GeoDataFrame(gdf)
    if path.suffix.lower() == ".shp":
        gdf = gdf.rename(columns=short_names(spec))
    if "geometry" in gdf.columns:
        if gdf.crs is None and crs is not None:
            gdf = gdf.set_crs(crs)
        elif gdf.crs is not None and crs is not None and CRS.from_user_input(gdf.crs) != crs:
            raise ImportDataError(f"{path.name} declares {gdf.crs.to_string()} but --crs says {crs.to_string()}; "
                                  "fix the file's CRS or omit --crs.")
    return gdf


# ---------------------------------------------------------------------------- checking

def _type_name(g: shapely.Geometry) -> str:
    return g.geom_type


def _check_geometry(gdf: gpd.GeoDataFrame, spec: TableSpec, *, invalid: str = "error") -> tuple[np.ndarray,
                                                                                                 np.ndarray]:
    """Validate and reproject the geometry column.

    Returns EPSG:4326 shapely geometries (None allowed) and per row the reason
    it is rejected (None for good rows). With ``invalid="error"`` any bad row
    raises ImportDataError naming the rows; with ``skip`` bad rows get a reason;
    ``fix`` also repairs invalid geometry and GeometryCollections with
    ``make_valid`` (keeping the table's geometry family).
    """
    n = len(gdf)
    reasons = np.full(n, None, dtype=object)
    if spec.geom is None:
        return np.full(n, None, dtype=object), reasons
    if "geometry" not in gdf.columns:
        if spec.geom_required:
            raise ImportDataError(f"The file has no geometry; {spec.table} needs {spec.geom} geometry.")
        return np.full(n, None, dtype=object), reasons
    geom = np.asarray(gdf.geometry.to_numpy(), dtype=object).copy()
    missing = np.array([g is None or shapely.is_empty(g) for g in geom], dtype=bool)
    ok = ~missing

    def reject(mask: np.ndarray, message: str, reason) -> None:
        """Refuse the file (invalid == 'error') or give the ``mask`` rows a reason (str or row -> str)."""
        if not mask.any():
            return
        if invalid == "error":
            raise ImportDataError(message)
        for i in np.flatnonzero(mask):
            reasons[i] = reason(i) if callable(reason) else reason
        ok[mask] = False

    if spec.geom_required:
        reject(missing, f"{row_list(missing)}: geometry is missing or empty.", "no geometry (no coordinates)")
    if invalid == "fix":  # a GeometryCollection (e.g. from make_valid) keeps its part of the table's family
        coll = ok & np.array([g is not None and g.geom_type == "GeometryCollection" for g in geom])
        for i in np.flatnonzero(coll):
            geom[i] = keep_family(geom[i], spec.geom)
        empty = coll & np.array([g is None for g in geom])
        reject(empty, "", f"GeometryCollection without {spec.geom}s")
    types = np.full(n, -1)
    types[ok] = shapely.get_type_id(geom[ok])
    allowed = [shapely.GeometryType[f.upper()].value for f in FAMILY[spec.geom]]
    wrong = ok & ~np.isin(types, allowed)
    if wrong.any():
        names = ", ".join(sorted({_type_name(g) for g in geom[wrong]}))
        reject(wrong, f"{row_list(wrong)}: geometry type {names} where {spec.table} needs {spec.geom}s.",
               lambda i: f"{_type_name(geom[i])} in a {spec.geom} table")
    if spec.geom == "point":
        multi = ok & (types == shapely.GeometryType.MULTIPOINT.value)
        several = multi & np.array([g is not None and shapely.get_num_geometries(g) != 1 for g in geom])
        reject(several, f"{row_list(several)}: a MultiPoint with several points; one point per row.",
               "a MultiPoint with several points")
        multi &= ok
        if multi.any():
            geom[multi] = shapely.get_geometry(geom[multi], 0)
    if not ok.any():  # no usable geometry at all
        if spec.geom_required and invalid != "error" and n:
            return geom, reasons
        return np.full(n, None, dtype=object), reasons
    crs = gdf.crs
    bounds = np.full((n, 4), np.nan)
    bounds[ok] = shapely.bounds(geom[ok])
    finite = np.isfinite(bounds).all(axis=1)
    reject(ok & ~finite, f"{row_list(ok & ~finite)}: coordinates are not finite numbers.",
           "coordinates are not finite numbers")
    lonlat_like = ok & (np.abs(bounds[:, [0, 2]]) <= 180).all(axis=1) & (np.abs(bounds[:, [1, 3]]) <= 90).all(axis=1)
    if crs is None:
        hint = ("they look like lon/lat degrees: add --crs EPSG:4326" if lonlat_like[ok].all()
                else "they look projected (metres): add the right --crs, e.g. EPSG:32649 (UTM 49N) "
                     "or EPSG:4547 (CGCS2000 / 3-degree GK CM 114E)")
        raise ImportDataError(f"The file has no coordinate reference system (CRS); {hint}.")
    crs = CRS.from_user_input(crs)
    if crs.is_geographic and not lonlat_like[ok].all():
        bad = ok & ~lonlat_like
        ex = bounds[np.flatnonzero(bad)[0]]
        message = (f"{row_list(bad)}: coordinates ({ex[0]:.6g}, {ex[1]:.6g}) are out of range for {crs.to_string()} "
                   "(longitude/latitude degrees); the data look projected, so the CRS is wrong: fix the file's CRS "
                   "or, if it has none, give the right one with --crs.")
        if not lonlat_like[ok].any():  # every row: the CRS is wrong, not a row
            raise ImportDataError(message)
        reject(bad, message, f"coordinates out of range for {crs.to_string()}")
    valid = np.ones(n, dtype=bool)
    valid[ok] = shapely.is_valid(geom[ok])
    if not valid.all():
        first = np.flatnonzero(~valid)[0]
        if invalid != "fix":
            reject(~valid, f"{row_list(~valid)}: invalid geometry (row {first + 1}: "
                   f"{shapely.is_valid_reason(geom[first])}); fix the geometry in the source, or repair it "
                   "with --fix-invalid (--invalid fix), or leave such rows out with --invalid skip.",
                   lambda i: f"invalid geometry: {shapely.is_valid_reason(geom[i])}")
        else:
            fixed = shapely.make_valid(geom[~valid])
            geom[~valid] = [keep_family(g, spec.geom) for g in fixed]
            lost = ~valid & np.array([g is None for g in geom])
            reject(lost, "", "invalid geometry that cannot be repaired")
    if not crs.equals(CRS.from_epsg(4326)) and ok.any():
        try:
            geom[ok] = np.asarray(gpd.GeoSeries(geom[ok], crs=crs).to_crs(4326).to_numpy(), dtype=object)
        except Exception as exc:
            raise ImportDataError(f"Cannot reproject from {crs.to_string()} to EPSG:4326: {exc}") from None
        b = shapely.bounds(geom[ok])
        if not (np.isfinite(b).all() and (np.abs(b[:, [0, 2]]) <= 180).all() and (np.abs(b[:, [1, 3]]) <= 90).all()):
            raise ImportDataError(f"Coordinates fall outside the world after reprojecting from {crs.to_string()}; "
                                  "the CRS is wrong.")
    if spec.geom in ("line", "polygon") and ok.any():
        geom[ok] = [multi_of(g, spec.geom) for g in geom[ok]]
    geom[~ok & ~missing] = None
    return geom, reasons


_TRUE = {"true", "t", "yes", "y", "1", "on", "是"}
_FALSE = {"false", "f", "no", "n", "0", "off", "否"}


def _coerce(s: pd.Series, kind: str, name: str) -> pd.Series:
    """Convert a column to ``kind``; raises ImportDataError naming the rows that do not convert."""
    present = s.notna().to_numpy() & (s.astype(str).str.strip() != "").to_numpy()
    if kind in ("str", "code"):
        out = s.map(lambda v: v if isinstance(v, str) else (str(int(v)) if isinstance(v, float) and v.is_integer()
                                                            else str(v)), na_action="ignore")
        return out.where(present, None)
    if kind in ("int", "float"):
        if name == "level":
            s = s.map(lambda v: LEVEL_NAMES.get(v.strip().lower(), v) if isinstance(v, str) else v)
        num = pd.to_numeric(s.where(present, None), errors="coerce")
        bad = present & num.isna().to_numpy()
        if kind == "int":
            bad |= present & ~num.isna().to_numpy() & (num.fillna(0) % 1 != 0).to_numpy()
        if bad.any():
            what = "an integer" if kind == "int" else "a number"
            raise ImportDataError(f"{row_list(bad)}: column {name!r} must be {what}.")
        return num.round().astype("Int64") if kind == "int" else num.astype(float)
    if kind == "bool":
        def conv(v):
            if isinstance(v, bool | np.bool_):
                return bool(v)
            t = str(v).strip().lower()
            return True if t in _TRUE else False if t in _FALSE else "?"
        out = s.where(present, None).map(conv, na_action="ignore")
        bad = (out == "?").to_numpy()
        if bad.any():
            raise ImportDataError(f"{row_list(bad)}: column {name!r} must be true/false (or yes/no, 1/0).")
        return out.astype(object).where(present, None)
    if kind == "datetime":
        vals = s.where(present, None)
        tz = app_profile().timezone
        try:  # fast path: one format, one offset
            parsed = pd.DatetimeIndex(pd.to_datetime(vals, errors="raise", format="ISO8601")
                                      if vals.dtype == object else pd.to_datetime(vals))
            parsed = parsed.tz_localize(tz) if parsed.tz is None else parsed
            parsed = parsed.tz_convert(UTC)
            return pd.Series([None if pd.isna(v) else v.to_pydatetime() for v in parsed], index=s.index,
                             dtype=object)
        except (ValueError, TypeError):
            pass
        out = []
        bad = np.zeros(len(s), dtype=bool)
        for i, v in enumerate(vals):
            if v is None or (not isinstance(v, str) and pd.isna(v)):
                out.append(None)
                continue
            try:
                ts = pd.Timestamp(v)
            except (ValueError, TypeError):
                ts = pd.NaT
            if pd.isna(ts):
                bad[i] = True
                out.append(None)
                continue
            ts = ts.tz_localize(tz) if ts.tzinfo is None else ts  # naive times are local district time
            out.append(ts.tz_convert(UTC).to_pydatetime())
        if bad.any():
            raise ImportDataError(f"{row_list(bad)}: column {name!r} is not a date/time (use ISO 8601).")
        return pd.Series(out, index=s.index, dtype=object)
    if kind == "json":
        def conv_json(v):
            if isinstance(v, dict):
                return v
            try:
                d = json.loads(v)
            except (TypeError, ValueError):
                return "?"
            return d if isinstance(d, dict) else "?"
        out = s.where(present, None).map(conv_json, na_action="ignore")
        bad = np.array([isinstance(v, str) for v in out], dtype=bool)
        if bad.any():
            raise ImportDataError(f"{row_list(bad)}: column {name!r} must be a JSON object.")
        return out
    if kind == "list":
        def conv_list(v):
            if isinstance(v, list | tuple | np.ndarray):
                return [str(x) for x in v]
            t = str(v).strip()
            if t.startswith("["):
                try:
                    return [str(x) for x in json.loads(t)]
                except ValueError:
                    return "?"
            return [p.strip() for p in t.split(";") if p.strip()]
        out = s.where(present, None).map(conv_list, na_action="ignore")
        bad = np.array([isinstance(v, str) for v in out], dtype=bool)
        if bad.any():
            raise ImportDataError(f"{row_list(bad)}: column {name!r} must be a list (a;b;c or a JSON array).")
        return out
    raise AssertionError(kind)


def select_rows(gdf: gpd.GeoDataFrame, where: dict[str, str] | None) -> gpd.GeoDataFrame:
    """The rows of ``gdf`` whose columns have the ``where`` values (compared as text), renumbered from 0."""
    if not where:
        return gdf
    cols = [c for c in gdf.columns if c != "geometry"]
    lower = {str(c).lower(): c for c in cols}
    keep = np.ones(len(gdf), dtype=bool)
    for col, value in where.items():
        found = col if col in cols else lower.get(col.lower())
        if found is None:
            raise ImportDataError(f"--where {col}={value}: the file has no column {col!r}; "
                                  f"it has: {', '.join(map(str, cols))}.")
        keep &= (gdf[found].astype(str) == value).to_numpy()
    if not keep.any():
        raise ImportDataError(f"No row matches --where {', '.join(f'{k}={v}' for k, v in where.items())}.")
    return gdf[keep].reset_index(drop=True)


def apply_options(gdf: gpd.GeoDataFrame, table: str, options: ImportOptions) -> gpd.GeoDataFrame:
    """The file's columns as the table needs them: ``map`` renames, ``set`` constants, generated codes.

    A file column already named like a mapped target is kept as ``<name>_source`` (it ends up in attrs).
    """
    spec = spec_for(table)
    gdf = gdf.copy()
    cols = [c for c in gdf.columns if c != "geometry"]
    lower = {str(c).lower(): c for c in cols}
    renames: dict = {}
    for target, source in (options.map or {}).items():
        if spec.col(target) is None:
            raise ImportDataError(f"--map {target}={source}: {table} has no column {target!r}; "
                                  f"its columns: {', '.join(spec.names)}.")
        found = source if source in cols else lower.get(source.lower())
        if found is None:
            raise ImportDataError(f"--map {target}={source}: the file has no column {source!r}; "
                                  f"it has: {', '.join(map(str, cols))}.")
        renames[found] = target
    clash = {lower[t]: f"{t}_source" for t in renames.values() if t in lower and lower[t] not in renames}
    gdf = gdf.rename(columns={**clash, **renames})
    for target, value in (options.set or {}).items():
        if spec.col(target) is None:
            raise ImportDataError(f"--set {target}={value}: {table} has no column {target!r}; "
                                  f"its columns: {', '.join(spec.names)}.")
        gdf = gdf.drop(columns=[c for c in gdf.columns if str(c).lower() == target])
        gdf[target] = value
    if options.code_prefix is not None and spec.col("code") is not None:
        has = [c for c in gdf.columns if str(c).lower() == "code"]
        if not has:
            gdf["code"] = generated_codes(gdf, options.code_prefix, options.code_from)
    return gdf


def generated_codes(gdf: gpd.GeoDataFrame, prefix: str, code_from: str = "row") -> list[str]:
    """Stable codes: ``prefix`` + the 1-based row number (zero-padded), or + 12 hex digits of the
    SHA-1 of the normalized geometry's WKB (``code_from="geometry"``; the same shape gets the same code,
    and its repeats in the file ``-2``, ``-3``... in file order, as points at one spot often are)."""
    n = len(gdf)
    if code_from == "row":
        width = len(str(n))
        return [f"{prefix}{i:0{width}d}" for i in range(1, n + 1)]
    if "geometry" not in gdf.columns:
        raise ImportDataError("Codes from the geometry need a file with geometry; use code_from row.")
    out: list[str] = []
    seen: dict[str, int] = {}
    for g in gdf.geometry.to_numpy():
        wkb = b"" if g is None else shapely.to_wkb(shapely.normalize(g), hex=False)
        code = prefix + hashlib.sha1(wkb).hexdigest()[:12]
        seen[code] = seen.get(code, 0) + 1
        out.append(code if seen[code] == 1 else f"{code}-{seen[code]}")
    return out


def prepare_frame(gdf: gpd.GeoDataFrame, table: str, *, fix_invalid: bool = False,
                  options: ImportOptions | None = None) -> pd.DataFrame:
    """Check and convert a source frame to the table's staging columns (+ ``_row``, ``geom`` in EPSG:4326).

    With lenient ``options`` (``invalid`` skip/fix) the frame also has ``_reason``:
    why a row is left out (None for the rows to load).
    """
    spec = spec_for(table)
    options = options or ImportOptions(invalid="fix" if fix_invalid else "error")
    if options.map or options.set or options.code_prefix is not None:
        gdf = apply_options(gdf, table, options)
    df = pd.DataFrame(gdf.drop(columns=["geometry"], errors="ignore"))
    lower = {c.lower(): c for c in df.columns}
    missing = [c.name for c in spec.cols if c.required and c.name not in lower]
    if missing:
        raise ImportDataError(f"Missing required column{'s' if len(missing) > 1 else ''} "
                              f"{', '.join(missing)} for {table}; the file has: {', '.join(map(str, df.columns))}"
                              "; name them with --map COLUMN=FILE_COLUMN or --set COLUMN=VALUE.")
    out = pd.DataFrame({"_row": np.arange(1, len(df) + 1)})
    for c in spec.cols:
        if c.name in lower:
            out[c.name] = _coerce(df[lower[c.name]], c.kind, c.name).array
            if c.required:
                empty = pd.isna(out[c.name]).to_numpy()
                if empty.any():
                    raise ImportDataError(f"{row_list(empty)}: required column {c.name!r} is empty.")
    known = {c.name for c in spec.cols} | EXPORT_ONLY
    extra = [c for c in df.columns if c.lower() not in known]
    if extra and spec.has_attrs:
        ext = df[extra].astype(object).where(df[extra].notna(), None)
        base = out["attrs"] if "attrs" in out else pd.Series([None] * len(out))
        out["attrs"] = [{**(b or {}), **{k: _plain(v) for k, v in zip(extra, vals, strict=True) if v is not None}}
                        for b, vals in zip(base, ext.itertuples(index=False, name=None), strict=True)]
    if spec.geom is not None:
        out["geom"], reasons = _check_geometry(gdf, spec, invalid=options.invalid)
        if options.lenient:
            out["_reason"] = reasons
    elif options.lenient:
        out["_reason"] = None
    if table == "admin_unit":
        bad = ~out["level"].isin([1, 2, 3, 4]).to_numpy()
        if bad.any():
            raise ImportDataError(f"{row_list(bad)}: level must be 1-4 or district/street/community/grid.")
        orphan = (out["level"] > 1).to_numpy() & (pd.isna(out["parent"]).to_numpy() if "parent" in out
                                                  else np.ones(len(out), dtype=bool))
        if orphan.any():
            raise ImportDataError(f"{row_list(orphan)}: a street, community or grid needs a parent code.")
    if table == "ticket":
        bad = ~out["channel"].isin(CHANNELS).to_numpy()
        if bad.any():
            raise ImportDataError(f"{row_list(bad)}: channel must be one of {', '.join(CHANNELS)}.")
        if "status" in out:
            bad = out["status"].notna().to_numpy() & ~out["status"].isin(TICKET_STATES).to_numpy()
            if bad.any():
                raise ImportDataError(f"{row_list(bad)}: status must be one of {', '.join(TICKET_STATES)}.")
    return out


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v
