"""Per-table column specifications for import and export (:mod:`spatial.io.files`).

A file's columns are matched by name (case-insensitive; shapefile names cut
to 10 characters are recognised). Foreign keys are given as *codes*: an
admin unit's ``parent``, a worker's ``department`` and ``home_grid``, a
category's ``department``, a ticket's ``category``. Columns a table does not
know are kept in its ``attrs`` JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

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
