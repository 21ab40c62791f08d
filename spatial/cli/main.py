"""The ``onemap`` command line of the core.

Core commands live here (db, migrate, import, export); the domain command
groups (``spatial.cli.tickets``, ``.dispatch``, ``.sensors``, ``.backup``, ``.grids``, ``.district``, ``.osm``,
``.users``, ``.drainage``, ``.notify``, ``.incidents`` and ``.flood``, the model's ``flood_model.cli`` plus the
operational loop) are listed in :data:`COMMAND_GROUPS`. The composition
root (``app.main``, the ``onemap`` entry point) adds ``load-demo`` and
``serve`` through ``extra``. Errors a user can cause print their message and
exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence

from spatial.cli import backup as backup_cli
from spatial.cli import dispatch as dispatch_cli
from spatial.cli import district as district_cli
from spatial.cli import drainage as drainage_cli
from spatial.cli import flood as flood_cli
from spatial.cli import grids as grids_cli
from spatial.cli import incidents as incidents_cli
from spatial.cli import notify as notify_cli
from spatial.cli import osm as osm_cli
from spatial.cli import sensors as sensors_cli
from spatial.cli import tickets as tickets_cli
from spatial.cli import users as users_cli
from spatial.db import migrate, roles
from spatial.db.cluster import LocalCluster
from spatial.db.engine import database_exists
from spatial.db.schema_doc import schema_markdown
from spatial.errors import OneMapError
from spatial.io import files as spio
from spatial.io.spec import CODE_FROM, CONTAINMENT, INVALID, OUTSIDE, import_options, parse_pairs
from spatial.settings import get_settings

#: A function adding sub-commands to the ``onemap`` parser.
AddCommands = Callable[[argparse._SubParsersAction], None]

#: The domain command groups, each an ``add_parser(subparsers)``.
COMMAND_GROUPS: tuple[AddCommands, ...] = (tickets_cli.add_parser, dispatch_cli.add_parser,
                                           sensors_cli.add_parser, backup_cli.add_parser, flood_cli.add_parser,
                                           grids_cli.add_parser, district_cli.add_parser, osm_cli.add_parser,
                                           drainage_cli.add_parser,  # after flood_cli: adds flood skill/calibrate
                                           notify_cli.add_parser, incidents_cli.add_parser, users_cli.add_parser)


def _db_up(args: argparse.Namespace) -> int:

    settings = get_settings()
    if settings.managed:
        cluster = LocalCluster(settings)
        created = cluster.init()
        cluster.start()
        print(f"local PostGIS cluster {'created and ' if created else ''}running on 127.0.0.1:{settings.pg_port}"
              f" (data: {cluster.datadir})")
    if not args.no_migrate:
        migrate.upgrade()  # grants the app and read-only roles too
        print(f"schema at revision {migrate.current()}")
    elif database_exists(migrate.owner_url()):
        roles.grant()
    return 0


def _db_down(args: argparse.Namespace) -> int:

    settings = get_settings()
    if not settings.managed:
        print("DATABASE_URL is set: the database is not managed by OneMap; nothing to stop.")
        return 0
    LocalCluster(settings).stop()
    print("local PostGIS cluster stopped")
    return 0


def _db_status(args: argparse.Namespace) -> int:

    settings = get_settings()
    info: dict = {"managed": settings.managed, "url": settings.sqlalchemy_url()}
    if settings.managed:
        info.update(LocalCluster(settings).status())
    try:
        info["revision"] = migrate.current()
        info["head"] = migrate.head()
    except Exception as exc:  # report, do not crash
        info["error"] = str(exc).splitlines()[0]
    print(json.dumps(info, indent=2))
    return 0


def _db_schema(args: argparse.Namespace) -> int:

    print(schema_markdown())
    return 0


def _migrate(args: argparse.Namespace) -> int:

    if args.down:
        migrate.downgrade(revision=args.revision or "base")
    else:
        migrate.upgrade(revision=args.revision or "head")
    print(f"schema at revision {migrate.current()}")
    return 0


def _import(args: argparse.Namespace) -> int:

    t0 = time.perf_counter()
    options = import_options(args.profile, map=parse_pairs(args.map, "--map") or None,
                             set=parse_pairs(args.set, "--set") or None,
                             where=parse_pairs(args.where, "--where", lower=False) or None, outside=args.outside,
                             invalid="fix" if args.fix_invalid and not args.invalid else args.invalid,
                             rejects=args.rejects, code_prefix=args.code_prefix, code_from=args.code_from,
                             containment=args.containment)
    res = spio.run_import(args.path, args.table, layer=args.layer, lon=args.lon, lat=args.lat,
                          src_crs=args.crs, mode=args.mode, options=options)
    print(f"imported {res.rows} rows into {args.table} in {time.perf_counter() - t0:.2f} s")
    if res.rejected:
        kinds = Counter(why.split(" (")[0].split(":")[0] for _, why in res.rejected)
        print(f"left out {len(res.rejected)} rows ({', '.join(f'{n} {k}' for k, n in kinds.most_common())}); "
              f"each with its reason in {res.rejects_path}:")
        for row, why in res.rejected[:10]:
            print(f"  row {row}: {why}")
        if len(res.rejected) > 10:
            print(f"  ... and {len(res.rejected) - 10} more")
    if res.containment:
        print(f"containment: {len(res.containment)} unit(s) stick out of their parent beyond the tolerance:")
        for c in res.containment:
            print(f"  {spio.containment_line(c)}")
    return 0


def _export(args: argparse.Namespace) -> int:

    n = spio.export_table(args.table, args.path)
    print(f"exported {n} rows of {args.table} to {args.path}")
    return 0


def build_parser(extra: Sequence[AddCommands] = ()) -> argparse.ArgumentParser:
    """The ``onemap`` parser: core commands, the domain groups, then ``extra`` ones."""
    p = argparse.ArgumentParser(prog="onemap", description="OneMap: one map for running a city district.")
    sub = p.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="manage the database").add_subparsers(dest="db_command", required=True)
    up = db.add_parser("up", help="start the local PostGIS cluster (if managed) and migrate")
    up.add_argument("--no-migrate", action="store_true")
    up.set_defaults(func=_db_up)
    db.add_parser("down", help="stop the local PostGIS cluster").set_defaults(func=_db_down)
    db.add_parser("status", help="cluster and schema status as JSON").set_defaults(func=_db_status)
    db.add_parser("schema", help="tables, columns and indexes as Markdown").set_defaults(func=_db_schema)

    mg = sub.add_parser("migrate", help="upgrade (or --down) the schema")
    mg.add_argument("--revision")
    mg.add_argument("--down", action="store_true", help="downgrade (default to base)")
    mg.set_defaults(func=_migrate)

    im = sub.add_parser("import", help="import a GeoPackage/GeoJSON/Shapefile/CSV into a table")
    im.add_argument("table", help="admin_unit, department, category, asset, camera, sensor, worker, ticket, "
                                  "road, building")
    im.add_argument("path")
    im.add_argument("--layer")
    im.add_argument("--lon", help="CSV longitude column (default: lon/lng/longitude/x)")
    im.add_argument("--lat", help="CSV latitude column (default: lat/latitude/y)")
    im.add_argument("--crs", help="CRS of the input when the file does not say (e.g. EPSG:4326)")
    im.add_argument("--mode", choices=["append", "replace", "upsert"], default="append")
    im.add_argument("--fix-invalid", action="store_true", help="same as --invalid fix")
    im.add_argument("--profile", help="import profile (YAML) with map, set, outside, invalid, ... options")
    im.add_argument("--map", action="append", metavar="COLUMN=FILE_COLUMN",
                    help="take a table column from a file column (repeatable), e.g. code=osm_id")
    im.add_argument("--set", action="append", metavar="COLUMN=VALUE", help="a constant column, e.g. level=3")
    im.add_argument("--where", action="append", metavar="FILE_COLUMN=VALUE",
                    help="import only the rows with this value (repeatable), e.g. ENAME='YAU TSIM MONG'")
    im.add_argument("--outside", choices=OUTSIDE, help="rows outside the district: refuse the file (error, "
                    "default), leave them out (skip) or cut to the boundary (clip)")
    im.add_argument("--invalid", choices=INVALID, help="rows without/with invalid or wrong-type geometry: "
                    "refuse the file (error, default), leave them out (skip) or make_valid (fix)")
    im.add_argument("--rejects", help="GeoPackage of the rows left out (default: INPUT.rejects.gpkg next to it)")
    im.add_argument("--code-prefix", help="generate missing codes: PREFIX + row number (or geometry hash)")
    im.add_argument("--code-from", choices=CODE_FROM, help="generated codes from the row order or the geometry")
    im.add_argument("--containment", choices=CONTAINMENT,
                    help="admin units sticking out of their parent: warn (default) or error")
    im.set_defaults(func=_import)

    ex = sub.add_parser("export", help="export a table to GeoPackage/GeoJSON/Shapefile/CSV (by extension)")
    ex.add_argument("table")
    ex.add_argument("path")
    ex.set_defaults(func=_export)

    for add in (*COMMAND_GROUPS, *extra):
        add(sub)
    return p


def main(argv: Sequence[str] | None = None, *, extra: Sequence[AddCommands] = ()) -> int:
    """Run one ``onemap`` command; 2 for an error the user can fix (message on stderr)."""
    parser = build_parser(extra)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except OneMapError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
