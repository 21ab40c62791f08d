"""``onemap backup DEST`` and ``onemap restore SRC`` (see :mod:`spatial.db.backup`)."""

from __future__ import annotations

import argparse
import json

from spatial.db import backup


def _backup(args: argparse.Namespace) -> int:
    path, manifest = backup.backup(args.dest)
    size = path.stat().st_size / 1e6
    print(json.dumps({"archive": str(path), "megabytes": round(size, 2), "database": manifest["database"],
                      "alembic_revision": manifest["alembic_revision"], "rows": sum(manifest["row_counts"].values()),
                      "files": len(manifest["files"]) - 1}, indent=2))
    return 0


def _restore(args: argparse.Namespace) -> int:
    out = backup.restore(args.src, force=args.force)
    print(json.dumps({**out, "rows": sum(out["row_counts"].values())}, indent=2))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``backup`` and ``restore`` commands."""
    bk = sub.add_parser("backup", help="dump the database and the files under ONEMAP_HOME into one archive")
    bk.add_argument("dest", help="archive to create (.tar), or an existing folder to create it in")
    bk.set_defaults(func=_backup)

    rs = sub.add_parser("restore", help="restore a backup archive (checksums and row counts verified)")
    rs.add_argument("src", help="archive written by `onemap backup`")
    rs.add_argument("--force", action="store_true", help="replace a database that already holds tables")
    rs.set_defaults(func=_restore)
