"""CLI of the basemap data: ``onemap osm import FILE...`` (``spatial.io.basemap.import_osm``)."""

from __future__ import annotations

import argparse
import json

from spatial.api.deps import parse_bbox
from spatial.io import basemap, osm


def _import(args: argparse.Namespace) -> int:
    res = basemap.import_osm(args.paths, source=args.source, theme=args.theme, clip_to_data=args.clip_to_data,
                             bbox=parse_bbox(args.bbox))
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    for theme, c in res["themes"].items():
        print(f"{theme:>10}: {c['stored']:>6} stored of {c['read']:>6} read ({c['deleted']} old rows replaced)")
    print(f"imported source {res['source']!r} clipped to the {res['clip']} in {res['total_s']:.2f} s")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``onemap osm import``."""
    grp = sub.add_parser("osm", help="OpenStreetMap data for the basemap").add_subparsers(dest="osm_command",
                                                                                         required=True)
    imp = grp.add_parser("import", help="roads, buildings, water, landuse, POIs, addresses from .osm.pbf or "
                                        "Tilezen GeoJSON layers, clipped to the district; replaces the source")
    imp.add_argument("paths", nargs="+", metavar="FILE")
    imp.add_argument("--source", help="source name (default: the first file's name without theme suffix)")
    imp.add_argument("--theme", choices=osm.THEMES, help="theme of GeoJSON files whose names do not say")
    clip = imp.add_mutually_exclusive_group()
    clip.add_argument("--clip-to-data", action="store_true", help="no clipping (no district needed)")
    clip.add_argument("--bbox", help="clip to W,S,E,N degrees instead of the district boundary")
    imp.add_argument("--json", action="store_true", help="print the summary as JSON")
    imp.set_defaults(func=_import)
