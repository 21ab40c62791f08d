"""The district profile: what makes a district itself (CRS, time zone, calendar, storms, DEM, texts).

One YAML file per district (``data/profiles/*.yaml``; format in
``docs/districts.md``), validated by :func:`read_profile_file`, stored as the
one row of ``district_profile`` by :func:`store_profile` (``onemap district
init``) and read back by :func:`district_profile`, which every rule needing
metres, local time, working days or the district's storms calls. Without a
stored profile the fallback is ``ONEMAP_METRIC_SRID`` / ``ONEMAP_TIMEZONE``,
Monday-Friday, no storm formula and no DEM.

The metric CRS is any EPSG code of a projected CRS in metres; when the file
leaves it out it is the UTM zone (WGS 84) of the centroid of the loaded
level-1 boundary. Stored profiles are cached per database and re-read when
the row changes (one primary-key lookup of its ``xmin`` and ``ctid`` per call).
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from datetime import date
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError
from pyproj import CRS
from pyproj.exceptions import CRSError
from sqlalchemy.orm import Session

from flood_model.storms import PRESETS, StormFormula
from spatial.dem import coverage
from spatial.errors import NotFound, ValidationError
from spatial.settings import get_settings
from spatial.workdays import WorkCalendar, calendar_for

#: Admin levels: 1 district, 2 street, 3 community, 4 grid.
LEVEL_NAMES = {1: "district", 2: "street", 3: "community", 4: "grid"}

#: Default warning texts (``str.format`` fields: ``name``, ``level`` (the language's level name), ``depth``).
DEFAULT_WARNING_TEXTS: dict[str, dict[str, str]] = {
    "zh": {"road": "{name} 内涝{level}预警，请绕行{depth}", "grid": "{name} 内涝{level}预警，请注意防范{depth}",
           "lifted": "{name} 内涝预警解除", "depth": "（预计积水 {depth_m:.2f} 米）",
           "road_name": "道路 {id}", "grid_name": "网格 {id}"},
    "en": {"road": "{name} waterlogging {level} warning, please detour{depth}",
           "grid": "{name} waterlogging {level} warning, take precautions{depth}",
           "lifted": "{name} waterlogging warning lifted", "depth": " (forecast depth {depth_m:.2f} m)",
           "road_name": "Road {id}", "grid_name": "Grid {id}"},
}
DEFAULT_LEVEL_NAMES: dict[str, dict[str, str]] = {
    "zh": {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"},
    "en": {"blue": "blue", "yellow": "yellow", "orange": "orange", "red": "red"},
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CalendarSpec(_Strict):
    """Working-day calendar: a country's public holidays (``CN``: with 调休 working days) plus own dates."""

    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2 code, e.g. CN, HK, US; none = Mon-Fri")
    subdivision: str | None = Field(default=None, description="e.g. CA for California (holidays package)")
    holidays: list[date] = Field(default_factory=list, description="extra non-working dates")
    working_days: list[date] = Field(default_factory=list, description="extra working dates (weekend days worked)")


class FormulaSpec(_Strict):
    """General storm formula ``q = A (1 + C lg P) / (t + b)^n`` (q in L/(s*ha), t in min, P in years)."""

    A: float
    C: float
    b: float
    n: float
    peak_ratio: float = 0.4


class StormSpec(_Strict):
    """The district's design storm: a built-in preset or a general formula, and its source."""

    preset: str | None = Field(default=None, description="huangpu, guangzhou or shenzhen")
    formula: FormulaSpec | None = None
    name: str | None = None
    source: str | None = Field(default=None, description="where the parameters come from")
    return_periods: list[float] = Field(default_factory=lambda: [1, 2, 3, 5, 10, 20, 50, 100])
    default_return_period: float = 10


class WarningSpec(_Strict):
    """Languages of warning messages (joined with `` / ``) and per-language texts overriding the defaults."""

    languages: list[str] = Field(default_factory=lambda: ["zh", "en"])
    texts: dict[str, dict[str, str]] = Field(default_factory=dict)
    level_names: dict[str, dict[str, str]] = Field(default_factory=dict)


class ProfileSpec(_Strict):
    """A district profile file (see ``docs/districts.md``)."""

    name: str
    levels: list[int] = Field(default_factory=lambda: [1, 2, 3, 4])
    metric_crs: str | int | None = Field(default=None, description="EPSG code; unset: UTM zone of the centroid")
    timezone: str
    calendar: CalendarSpec = Field(default_factory=CalendarSpec)
    storm: StormSpec | None = None
    dem: str | None = Field(default=None, description="DEM GeoTIFF in the metric CRS (set by `onemap dem set`); "
                                                      "relative paths are under ONEMAP_HOME")
    warnings: WarningSpec = Field(default_factory=WarningSpec)
    source: str | None = Field(default=None, description="a short note on where the settings come from")


def _pydantic_messages(exc: PydanticError) -> list[str]:
    out = []
    for e in exc.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top)"
        if e["type"] == "extra_forbidden":
            out.append(f"unknown key {where!r}")
        elif e["type"] == "missing":
            out.append(f"missing key {where!r}")
        else:
            out.append(f"{where}: {e['msg']}")
    return out


def parse_profile(doc: Any, *, origin: str = "profile") -> ProfileSpec:
    """A :class:`ProfileSpec` from a mapping; ValidationError listing every problem (keys, CRS, zone, calendar)."""
    if not isinstance(doc, dict):
        raise ValidationError(f"{origin}: a profile is a mapping of keys (name, timezone, ...)")
    try:
        spec = ProfileSpec.model_validate(doc)
    except PydanticError as exc:
        problems = _pydantic_messages(exc) + _value_problems(doc)
        raise ValidationError(f"{origin}: " + "; ".join(problems), details={"problems": problems}) from None
    problems = spec_problems(spec)
    if problems:
        raise ValidationError(f"{origin}: " + "; ".join(problems), details={"problems": problems})
    return spec


def read_profile_file(path: str | Path) -> ProfileSpec:
    """Read and validate a profile file (YAML; JSON is YAML too)."""
    p = Path(path)
    if not p.is_file():
        raise NotFound(f"no profile file at {p}")
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValidationError(f"{p}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return parse_profile(doc, origin=str(p))


def metric_srid_of(value: str | int) -> int:
    """EPSG code of a metric CRS given as ``32650``, ``"EPSG:32650"`` or ``"epsg:32650"``.

    Raises ValidationError when the code is unknown, not projected or not in metres.
    """
    text = str(value).strip()
    code = text.split(":", 1)[1] if text.lower().startswith("epsg:") else text
    if not code.isdigit():
        raise ValidationError(f"metric_crs {value!r} is not an EPSG code (e.g. EPSG:32650)")
    try:
        crs = CRS.from_epsg(int(code))
    except CRSError:
        raise ValidationError(f"metric_crs EPSG:{code} is not a known EPSG code") from None
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    if not crs.is_projected or unit not in ("metre", "meter"):
        raise ValidationError(f"metric_crs EPSG:{code} ({crs.name}) is not a projected CRS in metres")
    return int(code)


def utm_srid(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 UTM zone holding (lon, lat) degrees: 326zz north, 327zz south."""
    zone = min(60, math.floor((lon + 180.0) / 6.0) + 1)
    return (32600 if lat >= 0 else 32700) + zone


def storm_formula(spec: StormSpec | None) -> StormFormula | None:
    """The profile's storm formula (a preset or a general formula), None when the profile has none."""
    if spec is None:
        return None
    if spec.preset:
        return PRESETS[spec.preset]
    if spec.formula:
        f = spec.formula
        return StormFormula(A=f.A, C=f.C, b=f.b, n=f.n, name=spec.name or "profile formula",
                            citation=spec.source or "", peak_ratio=f.peak_ratio)
    return None


def _value_problems(doc: dict) -> list[str]:
    """Problems of the metric CRS, time zone and calendar values of a raw profile mapping."""
    out = []
    if doc.get("metric_crs") is not None:
        try:
            metric_srid_of(doc["metric_crs"])
        except ValidationError as exc:
            out.append(exc.message)
    if isinstance(doc.get("timezone"), str):
        try:
            ZoneInfo(doc["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            out.append(f"timezone {doc['timezone']!r} is not an IANA time zone (e.g. Asia/Hong_Kong)")
    cal = doc.get("calendar")
    if isinstance(cal, dict) and isinstance(cal.get("country"), str):
        try:
            calendar_for({"country": cal["country"], "subdivision": cal.get("subdivision")})
        except ValidationError as exc:
            out.append(exc.message)
    return out


def spec_problems(spec: ProfileSpec) -> list[str]:
    """What is wrong with a syntactically valid profile: levels, CRS, time zone, calendar, storm."""
    out = []
    if not set(spec.levels) <= set(LEVEL_NAMES) or 1 not in spec.levels or 4 not in spec.levels:
        out.append(f"levels {spec.levels}: use 1 (district), optionally 2 (street) and 3 (community), and 4 (grid)")
    out += _value_problems(spec.model_dump(mode="json"))
    try:
        calendar_for(spec.calendar.model_dump())
    except ValidationError as exc:
        if exc.message not in out:
            out.append(exc.message)
    if spec.storm is not None:
        if spec.storm.preset and spec.storm.preset not in PRESETS:
            out.append(f"storm.preset {spec.storm.preset!r} unknown; presets: {', '.join(sorted(PRESETS))}")
        if spec.storm.preset and spec.storm.formula:
            out.append("storm: give either preset or formula, not both")
        if spec.storm.formula:
            try:
                storm_formula(spec.storm)
            except Exception as exc:
                out.append(f"storm.formula: {exc}")
    for lang in spec.warnings.languages:
        if lang not in DEFAULT_WARNING_TEXTS and lang not in spec.warnings.texts:
            out.append(f"warnings: language {lang!r} has no texts (give warnings.texts.{lang})")
    return out


@dataclass(frozen=True)
class Profile:
    """The district's profile as the code uses it. ``stored`` is False for the settings fallback."""

    spec: ProfileSpec
    metric_srid: int
    stored: bool = True

    @property
    def timezone(self) -> str:
        return self.spec.timezone

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.spec.timezone)

    @cached_property
    def calendar(self) -> WorkCalendar:
        return calendar_for(self.spec.calendar.model_dump())

    @property
    def storm(self) -> StormFormula | None:
        return storm_formula(self.spec.storm)

    @property
    def dem_path(self) -> Path | None:
        """The DEM file (a relative ``dem`` is under ``ONEMAP_HOME``), None when the profile has none."""
        if not self.spec.dem:
            return None
        p = Path(self.spec.dem)
        return p if p.is_absolute() else get_settings().home / p

    def warning_text(self, key: str, **fields: Any) -> str:
        """A warning message in every language of the profile, joined with `` / ``.

        ``key`` is ``road``, ``grid`` or ``lifted``; ``fields``: ``name`` (a
        str or a {language: name} mapping), ``level`` (blue..red) and
        ``depth_m`` (metres, or None).
        """
        out = []
        for lang in self.spec.warnings.languages:
            texts = {**DEFAULT_WARNING_TEXTS.get(lang, {}), **self.spec.warnings.texts.get(lang, {})}
            levels = {**DEFAULT_LEVEL_NAMES.get(lang, {}), **self.spec.warnings.level_names.get(lang, {})}
            name = fields.get("name")
            name = name.get(lang) or next(iter(name.values())) if isinstance(name, dict) else name
            depth_m = fields.get("depth_m")
            depth = texts.get("depth", "").format(depth_m=depth_m) if depth_m is not None else ""
            out.append(texts[key].format(name=name, level=levels.get(fields.get("level", ""), fields.get("level")),
                                         depth=depth))
        return " / ".join(out)

    def feature_name(self, kind: str, feature_id: Any) -> dict[str, str]:
        """Default name of an unnamed road or grid in each language, e.g. {"zh": "道路 7", "en": "Road 7"}."""
        out = {}
        for lang in self.spec.warnings.languages:
            texts = {**DEFAULT_WARNING_TEXTS.get(lang, {}), **self.spec.warnings.texts.get(lang, {})}
            out[lang] = texts.get(f"{kind}_name", "{id}").format(id=feature_id)
        return out


def fallback_profile() -> Profile:
    """The profile used when none is stored: ``ONEMAP_METRIC_SRID`` and ``ONEMAP_TIMEZONE``, Mon-Fri."""
    s = get_settings()
    return _fallback(s.metric_srid, s.timezone)


@lru_cache(maxsize=8)
def _fallback(srid: int, tz: str) -> Profile:
    return Profile(ProfileSpec(name="(no profile stored)", timezone=tz, metric_crs=srid), metric_srid=srid,
                   stored=False)


_VERSION_SQL = "SELECT xmin::text || ctid::text FROM district_profile WHERE id = 1"
_CACHE: dict[str, tuple[str, Profile]] = {}
_LOCK = threading.Lock()


def _db_key(conn: sa.Connection) -> str:
    u = conn.engine.url
    return f"{u.host}:{u.port}/{u.database}"


def district_profile(session: Session | sa.Connection) -> Profile:
    """The stored profile of the session's database, else :func:`fallback_profile`.

    Code without a session uses :func:`spatial.db.profile.app_profile`.
    """
    conn = session.connection() if isinstance(session, Session) else session
    with conn.connection.driver_connection.cursor() as cur:  # psycopg, prepared: the check costs one round trip
        row = cur.execute(_VERSION_SQL, prepare=True).fetchone()
    if row is None:
        return fallback_profile()
    key = _db_key(conn)
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is not None and hit[0] == row[0]:
        return hit[1]
    doc, srid = conn.execute(sa.text("SELECT doc, metric_srid FROM district_profile WHERE id = 1")).one()
    prof = Profile(ProfileSpec.model_validate(doc), metric_srid=int(srid))
    with _LOCK:
        _CACHE[key] = (row[0], prof)
    return prof


def boundary_centroid(session: Session) -> tuple[float, float] | None:
    """(lon, lat) of the centroid of the level-1 boundary, None when none is loaded."""
    row = session.execute(sa.text(
        "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Union(geom)) AS c FROM admin_unit "
        "WHERE level = 1) s")).one()
    return None if row[0] is None else (float(row[0]), float(row[1]))


def resolve_metric_srid(session: Session, spec: ProfileSpec) -> int:
    """The file's metric CRS, else the UTM zone of the boundary centroid (ValidationError when neither)."""
    if spec.metric_crs is not None:
        return metric_srid_of(spec.metric_crs)
    c = boundary_centroid(session)
    if c is None:
        raise ValidationError("metric_crs is not set and no district boundary (level 1) is loaded: "
                              "import the boundary first (onemap import admin_unit ...) or set metric_crs")
    return utm_srid(*c)


def store_profile(session: Session, spec: ProfileSpec) -> Profile:
    """Store ``spec`` as the district's current profile (replacing any); returns it resolved."""
    srid = resolve_metric_srid(session, spec)
    doc = spec.model_dump(mode="json")
    session.execute(sa.text(
        "INSERT INTO district_profile (id, name, metric_srid, timezone, doc, updated_at) "
        "VALUES (1, :name, :srid, :tz, CAST(:doc AS jsonb), now()) "
        "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, metric_srid = EXCLUDED.metric_srid, "
        "timezone = EXCLUDED.timezone, doc = EXCLUDED.doc, updated_at = now()"),
        {"name": spec.name, "srid": srid, "tz": spec.timezone, "doc": json.dumps(doc, ensure_ascii=False)})
    return Profile(spec, metric_srid=srid)


def set_dem(session: Session, path: Path | None) -> Profile:
    """Record ``path`` as the stored profile's DEM, relative to ``ONEMAP_HOME`` when under it.

    Raises NotFound when no profile is stored.
    """
    prof = district_profile(session)
    if not prof.stored:
        raise NotFound("no district profile stored: run onemap district init PROFILE.yaml first")
    home = get_settings().home.resolve()
    if path is not None:
        path = Path(path).resolve()
        path = path.relative_to(home) if path.is_relative_to(home) else path
    spec = prof.spec.model_copy(update={"dem": str(path) if path else None})
    return store_profile(session, spec)


def database_report(session: Session, prof: Profile) -> dict:
    """What the database holds for the profile: admin units per level, boundary, metric CRS, DEM coverage."""
    counts = dict(session.execute(sa.text("SELECT level, count(*) FROM admin_unit GROUP BY level")).all())
    levels = {LEVEL_NAMES.get(lv, str(lv)): int(counts.get(lv, 0)) for lv in sorted({*prof.spec.levels, *counts})}
    missing = [LEVEL_NAMES[lv] for lv in prof.spec.levels if not counts.get(lv)]
    unexpected = [LEVEL_NAMES.get(lv, str(lv)) for lv in counts if lv not in prof.spec.levels]
    out: dict[str, Any] = {"stored": prof.stored, "name": prof.spec.name, "metric_srid": prof.metric_srid,
                           "timezone": prof.timezone, "calendar": prof.calendar.label,
                           "levels": levels, "missing_levels": missing, "unexpected_levels": unexpected,
                           "boundary_loaded": bool(counts.get(1))}
    centroid = boundary_centroid(session)
    if centroid:
        out["utm_of_centroid"] = utm_srid(*centroid)
    dem = prof.dem_path
    if dem is None:
        out["dem"] = "none: run onemap dem set PATH"
    elif not dem.is_file():
        out["dem"] = f"missing file {dem}"
    else:
        out["dem"] = str(dem)
        if counts.get(1):
            out["dem_covers_boundary"] = round(coverage(session, dem, prof.metric_srid), 4)
    return out
