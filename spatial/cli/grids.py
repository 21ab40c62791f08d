"""CLI of the grid generator: ``onemap grids generate`` (one transaction; see :mod:`spatial.grids`)."""

from __future__ import annotations

import argparse
import json
import time

from spatial import grids
from spatial.db.engine import session_scope


def _generate(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    size = grids.parse_size(args.size)
    with session_scope() as session:
        summary = grids.generate_grids(session, shape=args.shape, size=size, replace=args.replace,
                                       min_part=args.min_part)
    print(json.dumps(summary))
    print(f"generated {summary['grids']} {args.shape} grids of {size:g} m in {summary['parents']} units "
          f"(EPSG:{summary['srid']}) in {time.perf_counter() - t0:.2f} s")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """``onemap grids generate``."""
    g = sub.add_parser("grids", help="generate the grid level").add_subparsers(dest="grids_command", required=True)
    gen = g.add_parser("generate", help="square or hexagonal grids cut by the communities (or the district)")
    gen.add_argument("--shape", choices=grids.SHAPES, default="square")
    gen.add_argument("--size", default="250m", help="cell size: square side or hexagon width across flats "
                                                    "(e.g. 250m, 0.5km)")
    gen.add_argument("--replace", action="store_true", help="replace existing grids (located rows re-located)")
    gen.add_argument("--min-part", type=float, default=0.1,
                     help="pieces of a cell smaller than this share of a cell merge into a neighbour (0-1)")
    gen.set_defaults(func=_generate)
