"""All OneMap settings in one place (environment variables prefixed ``ONEMAP_``).

``DATABASE_URL`` (unprefixed) is honoured too, as most hosting platforms set
it. Nothing reads settings at import time: call :func:`get_settings`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Runtime settings. Paths are absolute after validation."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_", env_file=None, extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ONEMAP_DATABASE_URL", "DATABASE_URL"),
        description="SQLAlchemy/libpq URL. Unset: use the project-managed local cluster.",
    )
    home: Path = Field(default=REPO_ROOT / ".onemap", description="Project state: cluster, logs, outputs.")
    data_dir: Path = Field(default=REPO_ROOT / "data", description="Demo data folder.")
    shared_data_dir: Path = Field(
        default=REPO_ROOT.parent / "shared" / "data", description="Public reference data (benchmarks)."
    )
    db_name: str = "onemap"
    pg_port: int = Field(default=55432, description="TCP port of the local cluster (127.0.0.1 only).")
    pg_user: str = "onemap"
    host: str = "127.0.0.1"
    port: int = Field(default=5006, description="HTTP port of the one server (API + app).")
    allowed_hosts: list[str] = Field(
        default=["localhost", "127.0.0.1", "[::1]"],
        description="Host header names the server answers (JSON list; add the public name; \"*\" = any).",
    )
    allowed_origins: list[str] = Field(
        default=[], description="Extra websocket Origin hosts for the app (same origin as Host is always allowed).",
    )
    metric_srid: int = Field(
        default=32649, description="Projected CRS for metric work (UTM 49N for the demo district)."
    )
    sla_sweep_seconds: int = Field(default=60, description="Period of the in-server deadline sweep; 0 = off.")
    sensor_check_seconds: int = Field(default=60, description="Period of the in-server sensor offline check; 0 = off.")
    retention_sweep_seconds: int = Field(default=3600, description="Period of the GPS history pruning; 0 = off.")
    demo_simulate_seconds: int = Field(
        default=0, description="Demo mode: move on-duty workers this often (dev.sh run sets 20); 0 = off."
    )
    planner_dem: Path | None = Field(
        default=None, description="DEM GeoTIFF (projected, metres) for planner forecasts; unset: the demo DEM."
    )
    flood_warmup: bool = Field(default=True, description="Compile the flood kernels in the background at start-up.")
    position_retention_days: int = Field(default=30, description="Worker GPS history kept this long.")
    position_max_age_s: int = Field(default=600, description="Fixes older than this are stale for dispatch.")
    reporter_retention_days: int = Field(
        default=365, ge=0,
        description="Reporter name/phone/account of tickets final for longer than this are blanked.")
    sensitive_public: Literal["omit", "redacted"] = Field(
        default="omit",
        description="Tickets of sensitive categories for the public: omitted, or without location, "
                    "address, description and photos.")
    timezone: str = "Asia/Shanghai"
    pool_size: int = 10

    @property
    def cluster_dir(self) -> Path:
        return self.home / "pg"

    @property
    def managed(self) -> bool:
        """True when OneMap runs its own local PostGIS cluster."""
        return not self.database_url

    def sqlalchemy_url(self, db_name: str | None = None) -> str:
        """Database URL for SQLAlchemy with the psycopg 3 driver."""
        if self.database_url:
            url = self.database_url
            for prefix in ("postgresql+psycopg2://", "postgres://", "postgresql://"):
                if url.startswith(prefix):
                    url = "postgresql+psycopg://" + url[len(prefix):]
                    break
            if db_name:
                url = make_url(url).set(database=db_name).render_as_string(hide_password=False)
            return url
        return (
            f"postgresql+psycopg://{self.pg_user}@127.0.0.1:{self.pg_port}/{db_name or self.db_name}"
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, read once and cached."""
    return Settings()
