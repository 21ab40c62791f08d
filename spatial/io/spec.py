"""Per-table column specifications for import and export (:mod:`spatial.io.files`).

A file's columns are matched by name (case-insensitive; shapefile names cut
to 10 characters are recognised). Foreign keys are given as *codes*: an
admin unit's ``parent``, a worker's ``department`` and ``home_grid``, a
category's ``department``, a ticket's ``category``. Columns a table does not
know are kept in its ``attrs`` JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from spatial.errors import ImportDataError

#: value kinds -> PostgreSQL staging types
PG_TYPES = {"str": "text", "int": "bigint", "float": "double precision", "bool": "boolean",
            "datetime": "timestamptz", "json": "jsonb", "list": "text[]", "code": "text"}


@dataclass(frozen=True)
class Col:
    """One importable column: ``kind`` is str/int/float/bool/datetime/json/list or code (a reference)."""

    name: str
    kind: str = "str"
    required: bool = False
    ref: str | None = None  # referenced table (looked up by its code) when kind == "code"
    db: str | None = None  # database column, default ``name``

    @property
    def column(self) -> str:
        return self.db or self.name


@dataclass(frozen=True)
class TableSpec:
    """What a table accepts: columns, geometry family and key."""

    table: str
    cols: tuple[Col, ...]
    geom: str | None = None  # 'point' | 'line' | 'polygon' | None
    geom_required: bool = True
    key: tuple[str, ...] = ("code",)
    locate: bool = False  # fill grid_id by point-in-polygon
    locate_hierarchy: bool = False  # also community_id and street_id (tickets)
    has_attrs: bool = True

    def col(self, name: str) -> Col | None:
        return next((c for c in self.cols if c.name == name), None)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.cols]


def _c(name: str, kind: str = "str", required: bool = False, ref: str | None = None, db: str | None = None) -> Col:
    return Col(name, kind, required, ref, db)


_ATTRS = _c("attrs", "json")

SPECS: dict[str, TableSpec] = {s.table: s for s in [
    TableSpec("admin_unit", (
        _c("code", required=True), _c("name", required=True), _c("level", "int", required=True),
        _c("parent", "code", ref="admin_unit", db="parent_id"), _c("area_m2", "float"), _c("population", "int"),
        _ATTRS), geom="polygon"),
    TableSpec("department", (_c("code", required=True), _c("name", required=True), _c("phone"), _ATTRS)),
    TableSpec("category", (
        _c("code", required=True), _c("major_code", required=True), _c("major_name", required=True),
        _c("name", required=True), _c("description"),
        _c("department", "code", required=True, ref="department", db="department_id"),
        _c("accept_limit", "float"), _c("accept_unit"), _c("resolve_limit", "float"), _c("resolve_unit"),
        _c("closing_standard"), _c("skill"), _c("on_the_spot", "bool"), _c("auto_dispatch", "bool"),
        _c("duplicate_radius_m", "float"), _c("duplicate_window_h", "float"), _c("priority", "int"),
        _c("active", "bool"), _c("keywords", "list"), _c("sensitive", "bool")), has_attrs=False),
    TableSpec("asset", (
        _c("code", required=True), _c("asset_type", required=True), _c("name"),
        _c("department", "code", ref="department", db="department_id"), _c("status"), _ATTRS),
        geom="point", locate=True),
    TableSpec("camera", (
        _c("code", required=True), _c("name", required=True), _c("heading_deg", "float"), _c("fov_deg", "float"),
        _c("range_m", "float"), _c("stream_url"), _c("snapshot_url"), _c("status"), _ATTRS),
        geom="point", locate=True),
    TableSpec("sensor", (
        _c("code", required=True), _c("sensor_type", required=True), _c("name", required=True),
        _c("unit", required=True), _c("thresholds", "json"), _c("status"), _c("private", "bool"), _ATTRS),
        geom="point", locate=True),
    TableSpec("worker", (
        _c("code", required=True), _c("name", required=True), _c("phone"),
        _c("department", "code", required=True, ref="department", db="department_id"),
        _c("home_grid", "code", ref="admin_unit", db="home_grid_id"), _c("skills", "list"),
        _c("on_duty", "bool"), _c("max_workload", "int"), _c("position_at", "datetime"),
        _c("position_accuracy_m", "float"), _ATTRS), geom="point", geom_required=False),
    TableSpec("ticket", (
        _c("channel", required=True), _c("external_id"),
        _c("category", "code", required=True, ref="category", db="category_id"),
        _c("description"), _c("address"), _c("status"), _c("priority", "int"), _c("reporter_name"),
        _c("reporter_phone"), _c("reporter_account"), _c("created_at", "datetime"), _c("photo_urls", "list"),
        _c("rating", "int"), _c("accepted_at", "datetime"), _c("dispatched_at", "datetime"),
        _c("resolved_at", "datetime"), _c("closed_at", "datetime"), _ATTRS), geom="point",
        key=("channel", "external_id"), locate=True,
        locate_hierarchy=True),
    TableSpec("road", (_c("code", required=True), _c("name"), _c("road_class"), _ATTRS), geom="line"),
    TableSpec("building", (_c("code", required=True), _c("height_m", "float"), _ATTRS), geom="polygon"),
]}

#: columns written by export for information only, ignored on import
EXPORT_ONLY = {"id", "fid", "ogc_fid", "grid", "community", "street", "workload",
               "accept_due_at", "resolve_due_at", "updated_at", "accept_overdue", "resolve_overdue",
               "escalation_level", "assigned_worker", "version", "last_value", "last_reading_at"}

#: accepted names for CSV longitude / latitude columns
LON_NAMES = ("lon", "lng", "long", "longitude", "x")
LAT_NAMES = ("lat", "latitude", "y")
WKT_NAMES = ("wkt", "geometry", "geom", "the_geom")

LEVEL_NAMES = {"district": 1, "street": 2, "community": 3, "grid": 4}


_SHP_OVERRIDES = {"position_accuracy_m": "pos_acc_m"}


def shp_name(name: str) -> str:
    """The 10-character shapefile field name export uses for ``name``."""
    return _SHP_OVERRIDES.get(name, name[:10])


def short_names(spec: TableSpec) -> dict[str, str]:
    """Shapefile field name -> column name, for the names that shapefiles cut."""
    names = [c.name for c in spec.cols] + sorted(EXPORT_ONLY)
    return {shp_name(n): n for n in names if shp_name(n) != n}


def spec_for(table: str) -> TableSpec:
    try:
        return SPECS[table]
    except KeyError:
        raise ImportDataError(f"Unknown table {table!r}; importable tables: {', '.join(SPECS)}.") from None


# ---------------------------------------------------------------------------- import options

OUTSIDE = ("error", "skip", "clip")
INVALID = ("error", "skip", "fix")
CONTAINMENT = ("warn", "error")
CODE_FROM = ("row", "geometry")


@dataclass(frozen=True)
class ImportOptions:
    """How to meet a real file: column mapping, constants, bad rows, generated codes.

    * ``map``: table column -> file column (``{"code": "osm_id", "name": "name:zh"}``);
    * ``set``: table column -> constant for every row (``{"level": "3"}``);
    * ``where``: file column -> value: import only the rows with these values (compared as
      text; rows are then numbered within the selection);
    * ``outside``: rows outside the district: ``error`` (refuse the file), ``skip``
      (leave out rows less than half inside, by area/length; into the rejects) or
      ``clip`` (also cut the kept polygons and lines to the boundary);
    * ``invalid``: rows with no, invalid or wrong-type geometry: ``error``, ``skip``
      (into the rejects) or ``fix`` (``make_valid``, keeping the part of the table's
      geometry family; rows that stay unusable go to the rejects);
    * ``rejects``: the GeoPackage listing left-out rows with a reason (default
      ``<input stem>.rejects.gpkg`` next to the input);
    * ``code_prefix``/``code_from``: generate missing codes as prefix + row number
      (``row``, 1-based, zero-padded) or + a hash of the geometry (``geometry``);
    * ``containment``: admin units sticking out of their parent by more than
      ``max(containment_share * area, containment_m2)``: ``warn`` (report) or ``error``.
    """

    map: dict[str, str] | None = None
    set: dict[str, str] | None = None
    where: dict[str, str] | None = None
    outside: str = "error"
    invalid: str = "error"
    rejects: str | None = None
    code_prefix: str | None = None
    code_from: str = "row"
    containment: str = "warn"
    containment_share: float = 0.01
    containment_m2: float = 1000.0

    def __post_init__(self) -> None:
        for name, allowed in (("outside", OUTSIDE), ("invalid", INVALID), ("containment", CONTAINMENT),
                              ("code_from", CODE_FROM)):
            if getattr(self, name) not in allowed:
                raise ImportDataError(f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}.")

    @property
    def lenient(self) -> bool:
        """Whether some rows may be left out into the rejects file instead of refusing the file."""
        return self.outside != "error" or self.invalid != "error"


def parse_pairs(pairs: list[str] | None, what: str, *, lower: bool = True) -> dict[str, str]:
    """``["code=osm_id", "name=name:zh"]`` -> ``{"code": "osm_id", "name": "name:zh"}`` (split at the first '=';
    keys lower-cased unless ``lower=False``)."""
    out: dict[str, str] = {}
    for p in pairs or []:
        key, sep, value = p.partition("=")
        if not sep or not key.strip():
            raise ImportDataError(f"{what} {p!r} is not COLUMN=VALUE.")
        out[key.strip().lower() if lower else key.strip()] = value.strip()
    return out


def load_profile(path: str | Path) -> dict:
    """An import profile (YAML): keys ``map``, ``set`` (mappings) and the scalar :class:`ImportOptions` fields."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ImportDataError(f"Import profile not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ImportDataError(f"Import profile {path.name} is not valid YAML: {exc}") from None
    allowed = {f.name for f in fields(ImportOptions)}
    if not isinstance(data, dict) or set(data) - allowed:
        raise ImportDataError(f"Import profile {path.name}: unknown keys {sorted(set(data) - allowed)}; "
                              f"allowed: {', '.join(sorted(allowed))}.")
    for key in ("map", "set", "where"):
        if key in data and not isinstance(data[key], dict):
            raise ImportDataError(f"Import profile {path.name}: {key} must be a mapping COLUMN: VALUE.")
        if key in data:
            data[key] = {(str(k) if key == "where" else str(k).lower()): str(v) for k, v in data[key].items()}
    return data


def import_options(profile: str | Path | None = None, **given) -> ImportOptions:
    """Options from a profile file overridden by the ``given`` ones (``None`` = not given; maps are merged)."""
    data = load_profile(profile) if profile else {}
    for key, value in given.items():
        if value is None:
            continue
        if key in ("map", "set", "where"):
            data[key] = {**data.get(key, {}), **value}
        else:
            data[key] = value
    return ImportOptions(**data)
