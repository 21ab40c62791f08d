"""All OneMap settings in one place (environment variables prefixed ``ONEMAP_``).

``DATABASE_URL`` (unprefixed) is honoured too, as most hosting platforms set
it. Nothing reads settings at import time: call :func:`get_settings`.

Three database roles (see :mod:`spatial.db.roles`): the application's
(``ONEMAP_DATABASE_URL``), the owner's, which migrates, dumps and restores
(``ONEMAP_OWNER_DATABASE_URL``), and a read-only one
(``ONEMAP_READONLY_DATABASE_URL``). With only one URL, every role uses it. In
the project-managed cluster they are ``<pg_user>``, ``<pg_user>_app`` and
``<pg_user>_readonly``, authenticated by password from ``<home>/pgpass``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

REPO_ROOT = Path(__file__).resolve().parent.parent

#: A database role kind: ``app`` (normal work), ``owner`` (schema, migrations, backups), ``readonly``.
Role = Literal["app", "owner", "readonly"]
ROLES: tuple[Role, ...] = ("app", "owner", "readonly")


def psycopg_url(url: str) -> str:
    """``url`` with the psycopg 3 driver (``postgres://``, ``postgresql://`` and psycopg2 URLs accepted)."""
    for prefix in ("postgresql+psycopg2://", "postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Settings(BaseSettings):
    """Runtime settings. Paths are absolute after validation."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_", env_file=None, extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ONEMAP_DATABASE_URL", "DATABASE_URL"),
        description="SQLAlchemy/libpq URL of the application role. Unset: use the project-managed local cluster.",
    )
    owner_database_url: str | None = Field(
        default=None, description="URL of the owner role (migrations, backups); unset: ONEMAP_DATABASE_URL.")
    readonly_database_url: str | None = Field(
        default=None, description="URL of the read-only role (map readers, replicas); unset: the application's.")
    database_replica_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ONEMAP_DATABASE_REPLICA_URL", "DATABASE_REPLICA_URL"),
        description="URL of a read replica (streaming standby) for read-only queries (OGC API); unset: the "
                    "primary, as the read-only role.")
    home: Path = Field(default=REPO_ROOT / ".onemap", description="Project state: cluster, logs, outputs.")
    data_dir: Path = Field(default=REPO_ROOT / "data", description="Demo data folder.")
    shared_data_dir: Path = Field(
        default=REPO_ROOT.parent / "shared" / "data", description="Public reference data (benchmarks)."
    )
    db_name: str = "onemap"
    pg_port: int = Field(default=55432, description="TCP port of the local cluster (127.0.0.1 only).")
    pg_user: str = Field(default="onemap", description="Owner role of the local cluster; the app and read-only "
                                                       "roles are <pg_user>_app and <pg_user>_readonly.")
    host: str = "127.0.0.1"
    port: int = Field(default=5006, description="HTTP port of the one server (API + app).")
    allowed_hosts: list[str] = Field(
        default=["localhost", "127.0.0.1", "[::1]"],
        description="Host header names the server answers (JSON list; add the public name; \"*\" = any).",
    )
    allowed_origins: list[str] = Field(
        default=[], description="Extra websocket Origin hosts for the app (same origin as Host is always allowed).",
    )
    cors_origins: list[str] = Field(
        default=[], description="Origins allowed to call the API from a browser (CORS; JSON list). Closed by default.",
    )
    trust_proxy: bool = Field(
        default=False, description="Trust X-Forwarded-For/-Proto from the reverse proxy (client IP, HTTPS cookies).",
    )
    auth_cache_seconds: float = Field(
        default=5.0, ge=0, le=300,
        description="Keep token/session lookups this long in each server process (0 = off); revocations made "
                    "by another process take effect within this time.",
    )
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30, description="Sign-in session lifetime, hours.")
    lockout_failures: int = Field(default=5, ge=1, le=100, description="Failed sign-ins before the account locks.")
    lockout_minutes: float = Field(default=15.0, gt=0, le=24 * 60, description="How long a lock-out lasts, minutes.")
    login_rate: str = Field(default="10/minute", description="Sign-in attempts per client IP (slowapi/limits syntax).")
    public_rate: str = Field(
        default="120/minute", description="Anonymous calls per client IP to public endpoints (limits syntax).",
    )
    oidc_issuer: str | None = Field(default=None, description="OpenID Connect issuer URL for single sign-on.")
    oidc_client_id: str | None = Field(default=None, description="OpenID Connect client id.")
    oidc_client_secret: str | None = Field(default=None, description="OpenID Connect client secret.")
    oidc_roles_claim: str = Field(default="roles", description="ID-token/userinfo claim that lists OneMap roles.")
    oidc_scope: str = Field(default="openid profile email", description="Scopes asked from the provider.")
    metric_srid: int = Field(
        default=32649, description="Metric CRS when no district profile is stored (the profile's wins)."
    )
    sla_sweep_seconds: int = Field(default=60, description="Period of the in-server deadline sweep; 0 = off.")
    sensor_check_seconds: int = Field(default=60, description="Period of the in-server sensor offline check; 0 = off.")
    retention_sweep_seconds: int = Field(default=3600, description="Period of the GPS history pruning; 0 = off.")
    demo_simulate_seconds: int = Field(
        default=0, description="Demo mode: move on-duty workers this often (dev.sh run sets 20); 0 = off."
    )
    flood_warmup: bool = Field(default=True, description="Compile the flood kernels in the background at start-up.")
    flood_watch_seconds: int = Field(
        default=30, ge=0, description="Period of the in-server flood watch (inbox + queued forecasts); 0 = off.")
    flood_inbox: Path | None = Field(
        default=None, description="Folder the flood watch takes rainfall forecasts from; unset: <home>/flood/inbox.")
    flood_interval_seconds: float = Field(
        default=600.0, gt=0, description="Length [s] of one forecast band / CSV row / radar step when the "
                                         "forecast does not say (GeoTIFF tag ONEMAP_INTERVAL_S).")
    flood_settle_seconds: float = Field(
        default=2.0, ge=0, description="An inbox item is taken once unchanged this long [s] (or write + rename).")
    flood_nowcast_minutes: float = Field(default=60.0, gt=0, description="Lead time of radar nowcasts [min].")
    flood_cell_m: float = Field(default=30.0, gt=0, description="Cell size [m] of operational flood runs.")
    flood_drainage_mm_h: float = Field(default=20.0, ge=0, description="Sewer capacity [mm/h] of operational runs.")
    flood_recession_s: float = Field(default=3600.0, ge=0,
                                     description="Simulated time [s] after the forecast's last rain.")
    flood_snapshot_seconds: float = Field(
        default=600.0, gt=0, description="Depth snapshots of operational runs every this many seconds "
                                         "(time slider, hot starts).")
    flood_hot_start_max_s: float = Field(
        default=21600.0, ge=0, description="Hot-start from a run at most this old [s]; older: a dry start.")
    flood_confirm_fraction: float = Field(
        default=0.5, ge=0, le=1, description="A run warning more than this fraction of the district's grids "
                                             "waits for a person to confirm before it publishes.")
    position_retention_days: int = Field(default=30, description="Worker GPS history kept this long.")
    reading_retention_days: int = Field(
        default=0, ge=0, description="Sensor readings kept this long (whole monthly partitions dropped); 0 = forever.")
    position_max_age_s: int = Field(default=600, description="Fixes older than this are stale for dispatch.")
    reporter_retention_days: int = Field(
        default=365, ge=0,
        description="Reporter name/phone/account of tickets final for longer than this are blanked.")
    sensitive_public: Literal["omit", "redacted"] = Field(
        default="omit",
        description="Tickets of sensitive categories for the public: omitted, or without location, "
                    "address, description and photos.")
    timezone: str = Field(default="Asia/Shanghai",
                          description="Local time zone when no district profile is stored (the profile's wins).")
    pool_size: int = 10
    ogc_pool_size: int = Field(default=5, ge=1, description="Connections of the OGC API's read-only pool.")
    media_dir: Path | None = Field(
        default=None, description="Folder of uploaded photos (content-addressed); unset: <home>/media.")
    media_max_bytes: int = Field(default=15_000_000, ge=1, description="Largest photo upload, bytes.")
    media_max_pixels: int = Field(default=40_000_000, ge=1, description="Largest photo, pixels (width x height).")
    media_thumb_px: int = Field(default=320, ge=16, le=2048, description="Longest side of a thumbnail, pixels.")
    public_url: str | None = Field(
        default=None, description="Base URL of the server as the public sees it (photo and tracking links); "
                                  "unset: the URL of the request.")
    notify_seconds: float = Field(default=5, ge=0, description="Period of the notification delivery job; 0 = off.")
    notify_batch: int = Field(default=100, ge=1, description="Deliveries claimed per run of the notify job.")
    notify_backoff_seconds: float = Field(
        default=30, gt=0, description="First retry delay of a failed delivery; doubles each attempt (capped 6 h).")
    notify_max_attempts: int = Field(default=8, ge=1, description="Attempts before a delivery is marked dead.")
    notify_timeout_seconds: float = Field(default=10, gt=0, description="Timeout of one webhook or SMTP delivery.")
    smtp_host: str | None = Field(default=None, description="SMTP server for e-mail notifications; unset: no e-mail.")
    smtp_port: int = Field(default=25, description="SMTP port.")
    smtp_user: str | None = Field(default=None, description="SMTP login (with ONEMAP_SMTP_PASSWORD).")
    smtp_password: str | None = Field(default=None, description="SMTP password.")
    smtp_starttls: bool = Field(default=False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_from: str = Field(default="onemap@localhost", description="From address of notification e-mails.")

    @property
    def media_root(self) -> Path:
        """Folder of uploaded photos: ``ONEMAP_MEDIA_DIR`` or ``<home>/media``."""
        return self.media_dir if self.media_dir is not None else self.home / "media"

    @property
    def cluster_dir(self) -> Path:
        return self.home / "pg"

    @property
    def managed(self) -> bool:
        """True when OneMap runs its own local PostGIS cluster."""
        return not (self.database_url or self.owner_database_url)

    @property
    def pgpass_file(self) -> Path:
        """libpq password file of the managed cluster's roles (mode 0600)."""
        return self.home / "pgpass"

    def role_name(self, role: Role = "app") -> str:
        """Database user name of ``role``."""
        if self.managed:
            return self.pg_user if role == "owner" else f"{self.pg_user}_{role}"
        return make_url(self.sqlalchemy_url(role=role)).username or ""

    def sqlalchemy_url(self, db_name: str | None = None, role: Role = "app") -> str:
        """Database URL of ``role`` for SQLAlchemy with the psycopg 3 driver.

        External database: ``app`` is ``ONEMAP_DATABASE_URL`` (else the owner's),
        ``owner`` is ``ONEMAP_OWNER_DATABASE_URL`` (else the app's), ``readonly``
        is ``ONEMAP_READONLY_DATABASE_URL`` (else the app's). ``db_name``
        replaces the database name.
        """
        if role not in ROLES:
            raise ValueError(f"unknown database role {role!r}")
        if not self.managed or (role == "readonly" and self.readonly_database_url):
            app = self.database_url or self.owner_database_url
            url = {"app": app, "owner": self.owner_database_url or self.database_url,
                   "readonly": self.readonly_database_url or app}[role]
            url = psycopg_url(url)
            if db_name:
                url = make_url(url).set(database=db_name).render_as_string(hide_password=False)
            return url
        return URL.create("postgresql+psycopg", username=self.role_name(role), host="127.0.0.1", port=self.pg_port,
                          database=db_name or self.db_name, query={"passfile": str(self.pgpass_file)},
                          ).render_as_string(hide_password=False)

    def role_env(self, db_name: str) -> dict[str, str]:
        """Environment variables pointing the app, owner and read-only roles at database ``db_name``.

        For a process (test, benchmark, child server) that works on another database of the same server:
        setting only ``ONEMAP_DATABASE_URL`` would make every role the app role, which may not create,
        drop or migrate databases.
        """
        return {"ONEMAP_DATABASE_URL": self.sqlalchemy_url(db_name, role="app"),
                "ONEMAP_OWNER_DATABASE_URL": self.sqlalchemy_url(db_name, role="owner"),
                "ONEMAP_READONLY_DATABASE_URL": self.sqlalchemy_url(db_name, role="readonly")}

    def owner_url_for(self, url: str) -> str:
        """The owner's URL for the database of ``url`` when ``url`` is the app's or read-only role's.

        Administration (create, drop, migrate, dump, restore, load the demo)
        runs as the owner; callers may pass the URL they have. Any other URL
        (another server or user) is returned as it is.
        """
        u = make_url(psycopg_url(url))
        for role in ("app", "readonly"):
            r = make_url(self.sqlalchemy_url(role=role))
            if (u.username, u.host, u.port) == (r.username, r.host, r.port):
                owner = make_url(self.sqlalchemy_url(role="owner"))
                return owner.set(database=u.database).render_as_string(hide_password=False)
        return u.render_as_string(hide_password=False)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, read once and cached."""
    return Settings()
