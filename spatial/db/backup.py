"""Backups of one OneMap installation: the database and the files under ``ONEMAP_HOME``.

A backup is one uncompressed tar archive (the dump inside is compressed):

* ``manifest.json``: format, ``created_at`` (UTC), database name, PostgreSQL
  and PostGIS versions, Alembic revision, row counts per table and the
  sha256 and size of every other member;
* ``database.dump``: ``pg_dump -Fc`` of the database, taken in the same
  snapshot as the row counts (``pg_export_snapshot``), so they agree even
  while the server keeps writing;
* ``files/<folder>/...``: the folders of :data:`FOLDERS` under
  ``ONEMAP_HOME`` that exist (uploaded media, flood overlays, the district
  DEM).

:func:`restore` verifies every checksum before touching anything, refuses a
database that holds tables unless ``force`` (it then drops and recreates
it), restores with ``pg_restore`` as the owner role (without the dump's
owners and privileges: :func:`spatial.db.roles.grant` re-applies ours),
checks the row counts against the manifest and puts the files back. The
``pg_dump``/``pg_restore`` used are those of the server's major version
(Debian layout), else the newest installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import sqlalchemy as sa
from psycopg.conninfo import make_conninfo
from sqlalchemy import pool
from sqlalchemy.engine import make_url

from spatial.db import roles
from spatial.db.cluster import find_binaries
from spatial.db.engine import database_exists, drop_database, ensure_database
from spatial.errors import ConfigError, Conflict, DatabaseUnavailable, OneMapError, ValidationError
from spatial.settings import get_settings

#: Archive format version (``manifest.json`` ``format``).
FORMAT = 1
#: Folders under ``ONEMAP_HOME`` that are part of a backup (when they exist).
FOLDERS = ("media", "overlays", "demo")
MANIFEST = "manifest.json"
DUMP = "database.dump"
_CHUNK = 1 << 20

#: Tables of the public schema that are not part of an extension (PostGIS's ``spatial_ref_sys`` is).
_TABLES = sa.text(
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT EXISTS ("
    "SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e') "
    "ORDER BY c.relname")


class CorruptBackup(ValidationError):
    """A backup archive is unreadable or does not match its manifest."""

    code = "corrupt_backup"


def libpq_args(url: str) -> tuple[str, dict[str, str]]:
    """A SQLAlchemy URL as a libpq conninfo string plus environment (for ``pg_dump``/``pg_restore``).

    A password goes into ``PGPASSWORD``, never onto the command line (``ps`` shows it).
    """
    u = make_url(url)
    params = {"host": u.host, "port": u.port, "user": u.username, "dbname": u.database, **u.query}
    conninfo = make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})
    return conninfo, ({"PGPASSWORD": u.password} if u.password else {})


def pg_tool(name: str, server_major: int) -> str:
    """Path of the client ``name`` (``pg_dump``, ``pg_restore``) for a server of ``server_major``."""
    exact = Path(f"/usr/lib/postgresql/{server_major}/bin/{name}")
    if exact.exists():
        return str(exact)
    bins = find_binaries()
    if bins is not None and bins.version >= server_major and Path(bins[name]).exists():
        return bins[name]
    found = shutil.which(name)
    if found:
        return found
    raise ConfigError(f"{name} for PostgreSQL {server_major} is missing: apt-get install postgresql-client-"
                      f"{server_major}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _run(args: list[str], what: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True, check=False,
                          env={**os.environ, "PGCONNECT_TIMEOUT": "10", **(env or {})})
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()[-2000:]
        raise DatabaseUnavailable(f"{what} failed (exit {proc.returncode}): {detail}")
    return proc


def row_counts(conn: sa.Connection) -> dict[str, int]:
    """Rows of every OneMap table (public schema, extension tables excluded)."""
    return {t: int(conn.scalar(sa.text(f'SELECT count(*) FROM "{t}"'))) for t in conn.scalars(_TABLES).all()}


def _server_info(conn: sa.Connection) -> dict:
    revision = None
    if conn.scalar(sa.text("SELECT to_regclass('public.alembic_version') IS NOT NULL")):
        revision = conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
    return {
        "server_version": conn.scalar(sa.text("SHOW server_version")),
        "server_version_num": int(conn.scalar(sa.text("SHOW server_version_num"))),
        "postgis_version": conn.scalar(sa.text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")),
        "alembic_revision": revision,
    }


def _home_files(home: Path) -> list[tuple[str, Path]]:
    """``(archive name, path)`` of every regular file in :data:`FOLDERS` under ``home``."""
    out = []
    for folder in FOLDERS:
        root = home / folder
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                out.append(("files/" + path.relative_to(home).as_posix(), path))
    return out


def backup(dest: str | Path, *, url: str | None = None) -> tuple[Path, dict]:
    """Write a backup archive; returns its path and the manifest.

    Parameters
    ----------
    dest : str or Path
        The archive to create (``.tar``), or an existing folder to create
        ``onemap-<database>-<UTC time>.tar`` in. An existing file is never
        overwritten.
    url : str, optional
        The database (default: the configured one); dumped as its owner.
    """
    settings = get_settings()
    owner_url = settings.owner_url_for(url or settings.sqlalchemy_url(role="owner"))
    database = make_url(owner_url).database
    now = datetime.now(UTC)
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / f"onemap-{database}-{now.strftime('%Y%m%dT%H%M%SZ')}.tar"
    if dest.exists():
        raise Conflict(f"{dest} exists; choose a new name (backups are never overwritten)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".onemap-backup-", dir=dest.parent) as tmp:
        dump = Path(tmp) / DUMP
        eng = sa.create_engine(owner_url, poolclass=pool.NullPool)
        try:
            with eng.connect() as conn:
                conn.execute(sa.text("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
                snapshot = conn.scalar(sa.text("SELECT pg_export_snapshot()"))
                info = _server_info(conn)
                counts = row_counts(conn)
                tool = pg_tool("pg_dump", info["server_version_num"] // 10000)
                conninfo, env = libpq_args(owner_url)
                _run([tool, "-Fc", "--snapshot", snapshot, "-f", str(dump), "-d", conninfo], "pg_dump", env)
                conn.execute(sa.text("COMMIT"))
        except sa.exc.OperationalError as exc:
            raise DatabaseUnavailable(f"cannot reach the database {database}: {exc.orig}") from exc
        finally:
            eng.dispose()
        members = [(DUMP, dump), *_home_files(settings.home)]
        manifest = {
            "format": FORMAT, "created_at": now.isoformat(timespec="seconds"), "database": database, **info,
            "pg_dump": _run([tool, "--version"], "pg_dump --version").stdout.strip(),
            "row_counts": counts,
            "files": {name: {"sha256": _sha256(path), "bytes": path.stat().st_size} for name, path in members},
        }
        (Path(tmp) / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        part = Path(tmp) / "archive.tar"
        with tarfile.open(part, "w", format=tarfile.PAX_FORMAT) as tar:
            tar.add(Path(tmp) / MANIFEST, arcname=MANIFEST)
            for name, path in members:
                tar.add(path, arcname=name)
        os.chmod(part, 0o600)  # personal data (reporters' names and phones)
        part.replace(dest)
    return dest, manifest


def _safe_member(name: str) -> PurePosixPath:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or not (name == DUMP or (p.parts[0] == "files" and len(p.parts) >= 3
                                                                   and p.parts[1] in FOLDERS)):
        raise CorruptBackup(f"unexpected member {name!r} in the backup; refusing to restore")
    return p


def unpack(src: str | Path, into: Path) -> dict:
    """Verify ``src`` against its manifest and extract it into ``into``; returns the manifest.

    Raises
    ------
    CorruptBackup
        Unreadable archive, no manifest, a member missing, unexpected or
        whose sha256 differs from the manifest's (nothing is restored then).
    """
    src = Path(src)
    if not src.is_file():
        raise ValidationError(f"no backup archive at {src}")
    try:
        with tarfile.open(src, "r") as tar:
            try:
                fh = tar.extractfile(MANIFEST)
                manifest = json.loads(fh.read().decode("utf-8")) if fh else None
            except (KeyError, ValueError) as exc:
                raise CorruptBackup(f"{src} has no readable {MANIFEST}: not a OneMap backup") from exc
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise CorruptBackup(f"{src}: unknown backup format {manifest.get('format') if manifest else None!r}")
            expected = dict(manifest["files"])
            for member in tar:
                if member.name == MANIFEST:
                    continue
                rel = _safe_member(member.name)
                if not member.isfile() or member.name not in expected:
                    raise CorruptBackup(f"unexpected member {member.name!r} in {src}; refusing to restore")
                out = into.joinpath(*rel.parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                h = hashlib.sha256()
                with tar.extractfile(member) as data, open(out, "wb") as w:
                    while chunk := data.read(_CHUNK):
                        h.update(chunk)
                        w.write(chunk)
                want = expected.pop(member.name)["sha256"]
                if h.hexdigest() != want:
                    raise CorruptBackup(f"{src} is corrupted: sha256 of {member.name} is {h.hexdigest()}, "
                                        f"the manifest says {want}; refusing to restore")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise CorruptBackup(f"{src} is not a readable backup archive: {exc}") from exc
    if expected:
        raise CorruptBackup(f"{src} is incomplete: {', '.join(sorted(expected))} missing; refusing to restore")
    return manifest


def database_tables(owner_url: str) -> list[str] | None:
    """OneMap tables in the database at ``owner_url``; None when the database does not exist."""
    if not database_exists(owner_url):
        return None
    eng = sa.create_engine(owner_url, poolclass=pool.NullPool)
    try:
        with eng.connect() as conn:
            return list(conn.scalars(_TABLES).all())
    finally:
        eng.dispose()


def restore(src: str | Path, *, url: str | None = None, force: bool = False) -> dict:
    """Restore a backup archive into the database at ``url`` (default: the configured one).

    Returns the manifest's database, revision and row counts with the
    restored files. Raises :class:`CorruptBackup` for a bad archive,
    :class:`spatial.errors.Conflict` when the database holds tables and
    ``force`` is False, and :class:`spatial.errors.OneMapError` when the
    restored row counts differ from the manifest's.
    """
    settings = get_settings()
    owner_url = settings.owner_url_for(url or settings.sqlalchemy_url(role="owner"))
    database = make_url(owner_url).database
    with tempfile.TemporaryDirectory(prefix="onemap-restore-") as tmp:
        work = Path(tmp)
        manifest = unpack(src, work)
        tables = database_tables(owner_url)
        if tables and not force:
            raise Conflict(f"database {database} is not empty ({len(tables)} tables); "
                           "restore with --force to replace it")
        if tables is not None:
            drop_database(owner_url)
        ensure_database(owner_url)
        eng = sa.create_engine(owner_url, poolclass=pool.NullPool)
        try:
            with eng.connect() as conn:
                major = int(conn.scalar(sa.text("SHOW server_version_num"))) // 10000
            tool = pg_tool("pg_restore", major)
            dump = work / DUMP
            # extensions are created by ensure_database (PostGIS needs a superuser): skip them and their comments
            toc = _run([tool, "-l", str(dump)], "pg_restore -l").stdout.splitlines()
            keep = [line for line in toc if " EXTENSION " not in line]
            (work / "toc.list").write_text("\n".join(keep) + "\n", encoding="utf-8")
            conninfo, env = libpq_args(owner_url)
            _run([tool, "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
                  "-L", str(work / "toc.list"), "-d", conninfo, str(dump)], "pg_restore", env)
            roles.grant(owner_url)
            with eng.begin() as conn:
                conn.execute(sa.text("ANALYZE"))
                counts = row_counts(conn)
        finally:
            eng.dispose()
        want = {k: int(v) for k, v in manifest["row_counts"].items()}
        if counts != want:
            diff = {t: (want.get(t), counts.get(t)) for t in sorted(set(want) | set(counts))
                    if want.get(t) != counts.get(t)}
            raise OneMapError(f"restored row counts differ from the manifest (table: (manifest, restored)): {diff}")
        files = []
        root = work / "files"
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    rel = path.relative_to(root)
                    target = settings.home / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, target)
                    files.append(rel.as_posix())
    return {"database": database, "alembic_revision": manifest.get("alembic_revision"),
            "created_at": manifest.get("created_at"), "row_counts": counts, "files": files}
