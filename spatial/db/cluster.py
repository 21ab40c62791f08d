"""A project-managed local PostgreSQL + PostGIS cluster.

When no ``DATABASE_URL`` is set, OneMap keeps its own cluster in
``.onemap/pg`` (initdb + pg_ctl), listening on 127.0.0.1 and a unix socket in
``.onemap/run`` only, with trust authentication for the local ``onemap``
superuser. PostgreSQL refuses to run as root, so as root the server runs as
the ``postgres`` system user that Debian's package creates.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from spatial.errors import ConfigError, DatabaseUnavailable
from spatial.settings import Settings, get_settings

_CONF = """
# --- OneMap managed settings ---
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{sock}'
max_connections = 200
shared_buffers = 512MB
work_mem = 32MB
maintenance_work_mem = 512MB
effective_cache_size = 8GB
random_page_cost = 1.1
jit = off
max_parallel_workers_per_gather = 0
max_wal_size = 4GB
checkpoint_timeout = 15min
timezone = 'UTC'
log_min_messages = warning
"""


@dataclass(frozen=True)
class PgBinaries:
    """Paths of the PostgreSQL server binaries and the matching share folder."""

    bindir: Path
    version: int

    def __getitem__(self, name: str) -> str:
        return str(self.bindir / name)

    @property
    def postgis_installed(self) -> bool:
        return Path(f"/usr/share/postgresql/{self.version}/extension/postgis.control").exists() or bool(
            glob.glob(str(self.bindir.parent / "share" / "**" / "postgis.control"), recursive=True)
        )


def find_binaries() -> PgBinaries | None:
    """Locate the newest server install (Debian layout first, then ``pg_config``)."""
    cands = sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if Path(p, "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if cands:
        b = cands[-1]
        return PgBinaries(b, int(b.parent.name) if b.parent.name.isdigit() else 0)
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        b = Path(out.stdout.strip())
        ver = subprocess.run([pg_config, "--version"], capture_output=True, text=True, check=False).stdout
        if (b / "initdb").exists():
            major = int(ver.split()[1].split(".")[0]) if ver else 0
            return PgBinaries(b, major)
    return None


def install_hint() -> str:
    return (
        "PostgreSQL with PostGIS is missing. Install it with:\n"
        "  sudo apt-get update && sudo apt-get install -y postgresql postgresql-postgis\n"
        "(or set DATABASE_URL to an existing PostGIS database)"
    )


def _reachable_by(user: str, path: Path, *, write: bool = False) -> bool:
    """Whether ``user`` can traverse to ``path`` (the nearest existing ancestor)."""
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    flag = "-w" if write else "-x"
    return subprocess.run(["runuser", "-u", user, "--", "test", flag, str(p)], check=False).returncode == 0


class LocalCluster:
    """The cluster under ``settings.home / 'pg'``; all methods are idempotent."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        base = self.settings.cluster_dir
        sock = self.settings.home / "run"
        user = self._server_user_name()
        if user and not _reachable_by(user, self.settings.home):
            # e.g. a clone under /root: the server user cannot traverse it
            tag = hashlib.sha1(str(self.settings.home).encode()).hexdigest()[:12]
            base = Path("/var/tmp") / f"onemap-{tag}" / "pg"
            sock = base.parent / "run"
        self.base = base
        self.datadir = base / "data"
        self.sockdir = sock
        self.logfile = base / "server.log"

    # -- helpers ---------------------------------------------------------
    def _bins(self) -> PgBinaries:
        bins = find_binaries()
        if bins is None or not bins.postgis_installed:
            raise ConfigError(install_hint())
        return bins

    @staticmethod
    def _server_user_name() -> str | None:
        """Existing system user to run the server as when root (None: the current user)."""
        if os.geteuid() != 0:
            return None
        for name in ("postgres", "onemap"):
            try:
                pwd.getpwnam(name)
                return name
            except KeyError:
                continue
        return "onemap"

    def _server_user(self) -> str | None:
        name = self._server_user_name()
        if name:
            try:
                pwd.getpwnam(name)
            except KeyError:
                subprocess.run(["useradd", "--system", "--no-create-home", name], check=True)
        return name

    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
        user = self._server_user()
        cmd = ["runuser", "-u", user, "--", *args] if user else args
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise DatabaseUnavailable(
                f"{os.path.basename(args[0])} failed (exit {proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()[-2000:]}"
            )
        return proc

    def _prepare_dirs(self) -> None:
        for d in (self.base, self.sockdir):
            d.mkdir(parents=True, exist_ok=True)
        user = self._server_user()
        if user:
            ent = pwd.getpwnam(user)
            for d in (self.base, self.sockdir):
                os.chown(d, ent.pw_uid, ent.pw_gid)
            if not _reachable_by(user, self.base, write=True):
                raise ConfigError(
                    f"User {user!r} cannot write {self.base}; set ONEMAP_HOME to a "
                    "folder it can reach (its parents must be world-executable)."
                )

    # -- public ----------------------------------------------------------
    @property
    def initialized(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def init(self) -> bool:
        """Create the cluster if missing; True when it was created now."""
        bins = self._bins()
        self._prepare_dirs()
        if self.initialized:
            return False
        self._run(
            [bins["initdb"], "-D", str(self.datadir), "-U", self.settings.pg_user, "-A", "trust",
             "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"]
        )
        conf = _CONF.format(port=self.settings.pg_port, sock=self.sockdir)
        user = self._server_user()
        with open(self.datadir / "postgresql.conf", "a", encoding="utf-8") as fh:
            fh.write(conf)
        if user:
            ent = pwd.getpwnam(user)
            os.chown(self.datadir / "postgresql.conf", ent.pw_uid, ent.pw_gid)
        return True

    def running(self) -> bool:
        if not self.initialized:
            return False
        bins = find_binaries()
        if bins is None:
            return False
        return self._run([bins["pg_ctl"], "-D", str(self.datadir), "status"], check=False).returncode == 0

    def start(self) -> None:
        """Initialise if needed, start the server and wait until it accepts connections."""
        bins = self._bins()
        self.init()
        self._prepare_dirs()
        if not self.running():
            self._run(
                [bins["pg_ctl"], "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "60",
                 "-o", f"-p {self.settings.pg_port}", "start"]
            )
        deadline = time.monotonic() + 30
        while True:
            proc = subprocess.run(
                [bins["pg_isready"], "-h", "127.0.0.1", "-p", str(self.settings.pg_port)],
                capture_output=True, check=False,
            )
            if proc.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise DatabaseUnavailable(f"Local cluster did not become ready; see {self.logfile}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.running():
            bins = self._bins()
            self._run([bins["pg_ctl"], "-D", str(self.datadir), "-m", "fast", "-w", "stop"])

    def status(self) -> dict:
        return {
            "datadir": str(self.datadir),
            "initialized": self.initialized,
            "running": self.running(),
            "port": self.settings.pg_port,
            "log": str(self.logfile),
        }
