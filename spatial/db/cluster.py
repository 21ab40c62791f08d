"""A project-managed local PostgreSQL + PostGIS cluster.

When no ``DATABASE_URL`` is set, OneMap keeps its own cluster in
``.onemap/pg`` (initdb + pg_ctl), listening on 127.0.0.1 and a unix socket in
``.onemap/run`` (mode 0700) only. PostgreSQL refuses to run as root, so as
root the server runs as the ``postgres`` system user that Debian's package
creates.

Authentication (no ``trust`` anywhere, see :data:`HBA`): over TCP every role
logs in with a password (scram-sha-256); the passwords are random, generated
once and kept in the libpq password file ``<home>/pgpass`` (0600) that the
URLs of :meth:`spatial.settings.Settings.sqlalchemy_url` name. On the unix
socket the owner role logs in as the server's system user (``peer``, mapped in
``pg_ident.conf``): that is how :meth:`LocalCluster.start` creates the roles
and (re)sets their passwords, also on a cluster created by older versions with
trust authentication, which it upgrades in place.

WAL archiving is on: every completed WAL segment is copied into
``<home>/wal-archive`` (never overwriting a different file), the basis of
point-in-time recovery (docs/operations.md).
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import secrets
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from spatial.errors import ConfigError, DatabaseUnavailable
from spatial.settings import ROLES, Settings, get_settings

#: First line of OneMap's block at the end of ``postgresql.conf`` (rewritten by every start).
CONF_MARKER = "# --- OneMap managed settings ---"
_CONF = CONF_MARKER + """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{sock}'
unix_socket_permissions = 0700
password_encryption = 'scram-sha-256'
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
wal_level = replica
wal_compression = on
archive_mode = on
archive_command = '{archive}'
"""

#: ``pg_hba.conf`` of the managed cluster: the owner as the server's system user on the socket, passwords elsewhere.
HBA = """# OneMap managed cluster: written by `onemap db up` (spatial/db/cluster.py); edits are overwritten.
# Every line needs a proof of identity: peer (the socket folder is 0700) or a scram-sha-256 password.
# TYPE  DATABASE      USER      ADDRESS         METHOD
local   all           {owner}                   peer map=onemap
local   replication   {owner}                   peer map=onemap
local   all           all                       scram-sha-256
host    all           all       127.0.0.1/32    scram-sha-256
host    replication   {owner}   127.0.0.1/32    scram-sha-256
"""

#: ``pg_ident.conf``: the server's system user may log in as the owner role on the socket.
IDENT = """# OneMap managed cluster: written by `onemap db up`.
# MAPNAME  SYSTEM-USERNAME  PG-USERNAME
onemap     {os_user}        {owner}
"""


def archive_command(folder: Path) -> str:
    """Shell command copying WAL segment ``%p`` as ``folder/%f``.

    A segment already archived with the same bytes counts as done (PostgreSQL
    may retry after a crash); a different file of that name is never
    overwritten and the command fails, so PostgreSQL keeps the segment and
    retries. The copy goes through a temporary name, then ``mv``.
    """
    d = shlex.quote(str(folder)).replace("%", "%%")
    return (f"if [ -f {d}/%f ]; then cmp -s %p {d}/%f; "
            f"else cp %p {d}/%f.part && mv {d}/%f.part {d}/%f; fi")


def read_passfile(path: Path) -> dict[str, str]:
    """``{user: password}`` from a libpq password file written by :func:`write_passfile`."""
    out: dict[str, str] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split(":")
            if len(parts) == 5 and not line.startswith("#"):
                out[parts[3]] = parts[4]
    return out


def write_passfile(path: Path, passwords: dict[str, str]) -> None:
    """Write ``{user: password}`` as a libpq password file (any host, port and database), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("# OneMap managed cluster roles (libpq password file): keep it 0600\n")
        for user, pw in passwords.items():
            fh.write(f"*:*:*:{user}:{pw}\n")
    os.chmod(tmp, 0o600)
    tmp.replace(path)


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
        archive = self.settings.home / "wal-archive"
        user = self._server_user_name()
        if user and not _reachable_by(user, self.settings.home):
            # e.g. a clone under /root: the server user cannot traverse it
            tag = hashlib.sha1(str(self.settings.home).encode()).hexdigest()[:12]
            base = Path("/var/tmp") / f"onemap-{tag}" / "pg"
            sock = base.parent / "run"
            archive = base.parent / "wal-archive"
        self.base = base
        self.datadir = base / "data"
        self.sockdir = sock
        self.wal_archive = archive
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

    def _os_user(self) -> str:
        """The system user the server (and the owner's peer login on the socket) runs as."""
        return self._server_user() or pwd.getpwuid(os.geteuid()).pw_name

    def _run(self, args: list[str], *, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
        user = self._server_user()
        cmd = ["runuser", "-u", user, "--", *args] if user else args
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, input=stdin)
        if check and proc.returncode != 0:
            raise DatabaseUnavailable(
                f"{os.path.basename(args[0])} failed (exit {proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()[-2000:]}"
            )
        return proc

    def _chown(self, *paths: Path) -> None:
        user = self._server_user()
        if user:
            ent = pwd.getpwnam(user)
            for p in paths:
                os.chown(p, ent.pw_uid, ent.pw_gid)

    def _prepare_dirs(self) -> None:
        for d in (self.base, self.sockdir, self.wal_archive):
            d.mkdir(parents=True, exist_ok=True)
        self._chown(self.base, self.sockdir, self.wal_archive)
        for d in (self.sockdir, self.wal_archive):
            os.chmod(d, 0o700)
        user = self._server_user()
        if user and not _reachable_by(user, self.base, write=True):
            raise ConfigError(
                f"User {user!r} cannot write {self.base}; set ONEMAP_HOME to a "
                "folder it can reach (its parents must be world-executable)."
            )

    def _write(self, path: Path, text: str) -> bool:
        """Write a server file (owned by the server user, 0600); True when its content changed."""
        if path.exists() and path.read_text(encoding="utf-8") == text:
            return False
        path.write_text(text, encoding="utf-8")
        os.chmod(path, 0o600)
        self._chown(path)
        return True

    def _configure(self) -> bool:
        """(Re)write OneMap's block of ``postgresql.conf``, ``pg_hba.conf`` and ``pg_ident.conf``.

        Returns True when a file changed (the running server must reload).
        """
        conf_path = self.datadir / "postgresql.conf"
        conf = conf_path.read_text(encoding="utf-8")
        head = conf.split(CONF_MARKER)[0].rstrip("\n") + "\n\n"
        block = _CONF.format(port=self.settings.pg_port, sock=self.sockdir,
                             archive=archive_command(self.wal_archive).replace("'", "''"))
        owner = self.settings.pg_user
        changed = self._write(conf_path, head + block.lstrip("\n"))
        changed |= self._write(self.datadir / "pg_hba.conf", HBA.format(owner=owner))
        changed |= self._write(self.datadir / "pg_ident.conf", IDENT.format(os_user=self._os_user(), owner=owner))
        return changed

    def _psql(self, sql: str, *, database: str = "postgres") -> str:
        """Run ``sql`` as the owner over the unix socket (peer login as the server user); returns stdout."""
        bins = self._bins()
        proc = self._run([bins["psql"], "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", str(self.sockdir),
                          "-p", str(self.settings.pg_port), "-U", self.settings.pg_user, "-d", database],
                         stdin=sql)
        return proc.stdout.strip()

    def passwords(self) -> dict[str, str]:
        """The roles' passwords from ``<home>/pgpass``; missing ones are generated and saved (0600)."""
        path = self.settings.pgpass_file
        known = read_passfile(path)
        names = [self.settings.role_name(r) for r in ROLES]
        if not all(n in known for n in names) or path.stat().st_mode & 0o077:
            known = {n: known.get(n) or secrets.token_urlsafe(32) for n in names}
            write_passfile(path, known)
        return {n: known[n] for n in names}

    def provision(self) -> None:
        """Create the app and read-only roles and set every role's password (idempotent).

        The owner is the cluster's superuser (it creates the PostGIS
        extension in new databases); the app and read-only roles are plain
        LOGIN roles. Run through the socket, so it works whatever the passwords were.
        """
        pw = self.passwords()
        owner, app, ro = (self.settings.role_name(r) for r in ("owner", "app", "readonly"))

        def lit(v: str) -> str:
            return "'" + v.replace("'", "''") + "'"

        def ident(v: str) -> str:
            return '"' + v.replace('"', '""') + '"'

        lines = [f"ALTER ROLE {ident(owner)} WITH PASSWORD {lit(pw[owner])};"]
        for name in (app, ro):
            lines.append(f"SELECT 'CREATE ROLE {ident(name)}' WHERE NOT EXISTS "
                         f"(SELECT 1 FROM pg_roles WHERE rolname = {lit(name)}) \\gexec")
            lines.append(f"ALTER ROLE {ident(name)} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                         f"NOBYPASSRLS INHERIT PASSWORD {lit(pw[name])};")
        lines.append(f"ALTER ROLE {ident(ro)} SET default_transaction_read_only = on;")
        self._psql("\n".join(lines) + "\n")

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
        # never trust, not even before the first start: initdb's defaults are peer/reject, then OneMap's
        # pg_hba.conf; the passwords are set by provision() through the socket
        self._run(
            [bins["initdb"], "-D", str(self.datadir), "-U", self.settings.pg_user, "--auth-local=peer",
             "--auth-host=reject", "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"]
        )
        self._configure()
        return True

    def running(self) -> bool:
        if not self.initialized:
            return False
        bins = find_binaries()
        if bins is None:
            return False
        return self._run([bins["pg_ctl"], "-D", str(self.datadir), "status"], check=False).returncode == 0

    def _wait_ready(self, bins: PgBinaries) -> None:
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

    def _reload(self, bins: PgBinaries) -> None:
        """``pg_ctl reload`` and wait until the server has read its files again (at most 10 s)."""
        before = self._psql("SELECT pg_conf_load_time()")
        self._run([bins["pg_ctl"], "-D", str(self.datadir), "reload"])
        deadline = time.monotonic() + 10
        while self._psql("SELECT pg_conf_load_time()") == before and time.monotonic() < deadline:
            time.sleep(0.05)

    def start(self) -> None:
        """Initialise if needed, configure, start, wait until ready and provision the roles.

        An existing cluster (also one created with trust authentication) gets
        the current configuration: reloaded, or restarted when a setting
        needs it (``wal_level``, ``archive_mode`` on the first upgrade).
        """
        bins = self._bins()
        self.init()
        self._prepare_dirs()
        changed = self._configure()
        ctl = [bins["pg_ctl"], "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "60",
               "-o", f"-p {self.settings.pg_port}"]
        if not self.running():
            self._run([*ctl, "start"])
        elif changed:
            self._reload(bins)
            if self._psql("SELECT count(*) FROM pg_settings WHERE pending_restart") != "0":
                self._run([*ctl, "-m", "fast", "restart"])
        self._wait_ready(bins)
        if self._in_recovery():
            return  # a standby: its roles and passwords come from the primary
        self.provision()

    def _in_recovery(self, timeout_s: float = 3600) -> bool:
        """Wait while a point-in-time recovery (``recovery.signal``) replays; True for a standby or a paused one."""
        deadline = time.monotonic() + timeout_s
        sql = "SELECT CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() ELSE 'done' END"
        while (state := self._psql(sql)) != "done":
            if state != "not paused" or (self.datadir / "standby.signal").exists():
                return True
            if time.monotonic() > deadline:
                raise DatabaseUnavailable(f"recovery still running after {timeout_s:.0f} s; see {self.logfile}")
            time.sleep(0.5)
        return False

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
            "socket_dir": str(self.sockdir),
            "wal_archive": str(self.wal_archive),
            "passfile": str(self.settings.pgpass_file),
        }
