"""The ``onemap`` command line.

Core commands live here (db, migrate, load-demo, import, export, serve);
feature modules contribute command groups through an ``add_parser(subparsers)``
function listed in :data:`EXTENSIONS`. Errors a user can cause print their
message and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Callable, Sequence

from spatial.errors import OneMapError

#: Modules that add sub-commands (each defines ``add_parser(subparsers)``).
EXTENSIONS = (
    "spatial.cli_tickets",
    "spatial.cli_dispatch",
    "spatial.cli_sensors",
    "flood_model.cli",
)


def _db_up(args: argparse.Namespace) -> int:
    from spatial import migrate
    from spatial.cluster import LocalCluster
    from spatial.settings import get_settings

    settings = get_settings()
    if settings.managed:
        cluster = LocalCluster(settings)
        created = cluster.init()
        cluster.start()
        print(f"local PostGIS cluster {'created and ' if created else ''}running on 127.0.0.1:{settings.pg_port}"
              f" (data: {cluster.datadir})")
    if not args.no_migrate:
        migrate.upgrade()
        print(f"schema at revision {migrate.current()}")
    return 0


def _db_down(args: argparse.Namespace) -> int:
    from spatial.cluster import LocalCluster
    from spatial.settings import get_settings

    settings = get_settings()
    if not settings.managed:
        print("DATABASE_URL is set: the database is not managed by OneMap; nothing to stop.")
        return 0
    LocalCluster(settings).stop()
    print("local PostGIS cluster stopped")
    return 0


def _db_status(args: argparse.Namespace) -> int:
    from spatial import migrate
    from spatial.cluster import LocalCluster
    from spatial.settings import get_settings

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
    from spatial.schema_doc import schema_markdown

    print(schema_markdown())
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from spatial import migrate

    if args.down:
        migrate.downgrade(revision=args.revision or "base")
    else:
        migrate.upgrade(revision=args.revision or "head")
    print(f"schema at revision {migrate.current()}")
    return 0


def _load_demo(args: argparse.Namespace) -> int:
    from data import demo
    from spatial import migrate

    migrate.upgrade()
    t0 = time.perf_counter()
    summary = demo.load_demo(seed=args.seed, tickets=args.tickets, replace=not args.keep)
    print(json.dumps(summary, indent=2, default=str))
    print(f"demo district loaded in {time.perf_counter() - t0:.1f} s")
    return 0


def _import(args: argparse.Namespace) -> int:
    from spatial import io as spio

    t0 = time.perf_counter()
    n = spio.import_file(args.path, args.table, layer=args.layer, lon=args.lon, lat=args.lat,
                         src_crs=args.crs, mode=args.mode, fix_invalid=args.fix_invalid)
    print(f"imported {n} rows into {args.table} in {time.perf_counter() - t0:.2f} s")
    return 0


def _export(args: argparse.Namespace) -> int:
    from spatial import io as spio

    n = spio.export_table(args.table, args.path)
    print(f"exported {n} rows of {args.table} to {args.path}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from spatial.settings import get_settings

    settings = get_settings()
    host = args.host or settings.host
    port = args.port or settings.port
    print(f"OneMap on http://{host}:{port}/  (app at /app, API docs at /docs)")
    uvicorn.run("spatial.server:create_app", factory=True, host=host, port=port, log_level="info")
    return 0


def build_parser() -> argparse.ArgumentParser:
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

    ld = sub.add_parser("load-demo", help="generate and load the demo district")
    ld.add_argument("--seed", type=int, default=42)
    ld.add_argument("--tickets", type=int, default=20_000)
    ld.add_argument("--keep", action="store_true", help="do not clear existing data first")
    ld.set_defaults(func=_load_demo)

    im = sub.add_parser("import", help="import a GeoPackage/GeoJSON/Shapefile/CSV into a table")
    im.add_argument("table", help="admin_unit, department, category, asset, camera, sensor, worker, ticket, "
                                  "road, building")
    im.add_argument("path")
    im.add_argument("--layer")
    im.add_argument("--lon", help="CSV longitude column (default: lon/lng/longitude/x)")
    im.add_argument("--lat", help="CSV latitude column (default: lat/latitude/y)")
    im.add_argument("--crs", help="CRS of the input when the file does not say (e.g. EPSG:4326)")
    im.add_argument("--mode", choices=["append", "replace", "upsert"], default="append")
    im.add_argument("--fix-invalid", action="store_true", help="repair invalid geometry instead of refusing it")
    im.set_defaults(func=_import)

    ex = sub.add_parser("export", help="export a table to GeoPackage/GeoJSON/Shapefile/CSV (by extension)")
    ex.add_argument("table")
    ex.add_argument("path")
    ex.set_defaults(func=_export)

    sv = sub.add_parser("serve", help="serve the HTTP API and the one-map app")
    sv.add_argument("--host")
    sv.add_argument("--port", type=int)
    sv.set_defaults(func=_serve)

    for name in EXTENSIONS:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        add: Callable[[argparse._SubParsersAction], None] = mod.add_parser
        add(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
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
