"""``onemap district init|show|check|extent`` and ``onemap dem set``.

See :mod:`spatial.profile`, :mod:`spatial.dem` and :mod:`spatial.io.extent`.
"""

from __future__ import annotations

import argparse
import json

from spatial import dem, profile
from spatial.db.engine import session_scope
from spatial.errors import ValidationError


def _init(args: argparse.Namespace) -> int:
    spec = profile.read_profile_file(args.path)
    with session_scope() as s:
        stored = profile.store_profile(s, spec)
        report = profile.database_report(s, stored)
    print(json.dumps({"stored": spec.name, **report}, indent=2, ensure_ascii=False, default=str))
    return 0


def _show(args: argparse.Namespace) -> int:
    with session_scope() as s:
        prof = profile.district_profile(s)
    if not prof.stored:
        print("no district profile stored (fallback: ONEMAP_METRIC_SRID / ONEMAP_TIMEZONE, Monday-Friday); "
              "run onemap district init PROFILE.yaml")
        return 1
    doc = prof.spec.model_dump(mode="json", exclude_none=True)
    doc["metric_srid"] = prof.metric_srid
    print(json.dumps(doc, indent=2, ensure_ascii=False))
    return 0


def _check(args: argparse.Namespace) -> int:
    """Validate a file (when given), then report what the database holds for it (or for the stored profile)."""
    out: dict = {}
    spec = None
    if args.path:
        spec = profile.read_profile_file(args.path)  # raises with every problem listed
        out["file"] = f"{args.path}: valid"
    with session_scope() as s:
        if spec is not None:
            try:
                srid = profile.resolve_metric_srid(s, spec)
            except ValidationError as exc:
                out["metric_crs"] = exc.message
                srid = profile.fallback_profile().metric_srid
            prof = profile.Profile(spec, metric_srid=srid, stored=False)
        else:
            prof = profile.district_profile(s)
        out["database"] = profile.database_report(s, prof)
    print(json.dumps(out, indent=2, ensure_ascii=False, default=str))
    return 0


def _extent(args: argparse.Namespace) -> int:
    from spatial.io.extent import district_from_extent

    with session_scope() as s:
        out = district_from_extent(s, args.paths, code=args.code, name=args.name, margin_m=args.margin,
                                   shape=args.shape, lon=args.lon, lat=args.lat, src_crs=args.crs)
    print(json.dumps(out, ensure_ascii=False))
    return 0


def _dem_set(args: argparse.Namespace) -> int:
    with session_scope() as s:
        prof = profile.district_profile(s)
        if not prof.stored:
            raise ValidationError("no district profile stored: run onemap district init PROFILE.yaml first")
        info = dem.install_dem(s, args.path, srid=prof.metric_srid, crs=args.crs, margin_m=args.margin,
                               cell_m=args.cell)
        profile.set_dem(s, info["path"])
    print(json.dumps(info, indent=2))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``district`` and ``dem`` command groups."""
    d = sub.add_parser("district", help="the district profile (CRS, time zone, calendar, storms, DEM, texts)")
    ds = d.add_subparsers(dest="district_command", required=True)
    it = ds.add_parser("init", help="validate a profile file and store it as the district's profile")
    it.add_argument("path", help="profile YAML (see data/profiles/ and docs/districts.md)")
    it.set_defaults(func=_init)
    ds.add_parser("show", help="the stored profile as JSON").set_defaults(func=_show)
    ck = ds.add_parser("check", help="validate a profile file and report what the database holds")
    ck.add_argument("path", nargs="?", help="profile YAML (default: check the stored profile)")
    ck.set_defaults(func=_check)
    ex = ds.add_parser("extent", help="make the district (level 1) from the extent of data files, when no "
                                      "boundary file is at hand")
    ex.add_argument("paths", nargs="+", help="GeoJSON/GeoPackage/Shapefile, or CSV with lon/lat columns")
    ex.add_argument("--code", required=True, help="the district's code")
    ex.add_argument("--name", required=True, help="the district's name")
    ex.add_argument("--margin", type=float, default=200.0, help="metres added around the data (default 200)")
    ex.add_argument("--shape", choices=("bbox", "hull"), default="bbox",
                    help="bounding box (default) or convex hull of the data")
    ex.add_argument("--lon", help="CSV longitude column (default: lon/lng/longitude/x)")
    ex.add_argument("--lat", help="CSV latitude column (default: lat/latitude/y)")
    ex.add_argument("--crs", help="CRS of files that declare none, e.g. EPSG:4326")
    ex.set_defaults(func=_extent)

    m = sub.add_parser("dem", help="the district's DEM").add_subparsers(dest="dem_command", required=True)
    st = m.add_parser("set", help="reproject a DEM to the profile's metric CRS, clip it to the district, use it")
    st.add_argument("path", help="GeoTIFF of elevations in metres (any CRS)")
    st.add_argument("--crs", help="CRS of a DEM that does not declare one, e.g. EPSG:4326")
    st.add_argument("--margin", type=float, default=dem.MARGIN_M, help="metres kept around the boundary")
    st.add_argument("--cell", type=float, help="output cell size in metres (default: the source's)")
    st.set_defaults(func=_dem_set)
