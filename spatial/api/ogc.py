"""OGC API – Features and Tiles at ``/ogc`` (tipg), behind OneMap's sign-in rules.

`tipg <https://github.com/developmentseed/tipg>`_ serves the curated views of
migration 0015 and nothing else: schema ``ogc`` (public collections:
``ogc.admin_units``, ``ogc.grids``, ``ogc.tickets``, ``ogc.cameras``,
``ogc.sensors``, ``ogc.alerts``, ``ogc.flood_warnings``) and schema
``ogc_staff`` (staff-only: ``ogc_staff.tickets`` with sensitive categories,
``ogc_staff.sensors`` with private sensors, ``ogc_staff.alerts``,
``ogc_staff.workers``). Features (GeoJSON, CSV, HTML), CQL2 filters
(``filter``, ``filter-lang`` cql2-text/cql2-json), ``bbox``, ``datetime``,
``limit``/``offset`` paging with ``next`` links, ``sortby``, ``properties``,
queryables, and vector tiles (MVT) in every TileMatrixSet of morecantile,
EPSG:4326 coordinates (CRS84) for features.

Sign-in: the same ``Authorization: Bearer <token>`` as the JSON API
(:func:`spatial.api.deps.optional_principal`). ``ogc_staff.*`` collections are
listed only for staff (:data:`spatial.auth.STAFF_ROLES`); reading one answers
401 without a token and 403 for a non-staff token. The privacy rules
themselves (sensitive categories, private sensors, no reporter contact) are
in the views' SQL, so no query parameter can get around them.

Connections: an asyncpg pool as the read-only role
(``Settings.sqlalchemy_url(role="readonly")``), or the read replica when
``ONEMAP_DATABASE_REPLICA_URL`` is set, opened on the first request. The
collection catalog is read once, on the primary, with tipg's catalog
functions created as temporary functions of that one connection (the only
write, a temporary one; a hot standby could not take it).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Annotated, Literal

import asyncpg
import orjson
from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.types import Receive, Scope, Send
from tipg.collections import Catalog, Collection, CollectionList, pg_get_collection_index
from tipg.database import DB_CATALOG_FILE
from tipg.dependencies import FilterLang, bbox_query, datetime_query, filter_query, s_intersects, t_intersects
from tipg.errors import DEFAULT_STATUS_CODES, add_exception_handlers
from tipg.factory import Endpoints
from tipg.settings import DatabaseSettings

from spatial.api.deps import install_error_handlers, optional_principal
from spatial.auth import Principal
from spatial.errors import DatabaseUnavailable, Forbidden, NotFound, OneMapError, Unauthorized, ValidationError
from spatial.privacy import is_staff
from spatial.settings import get_settings

#: Where the OGC API is mounted on the one server.
PREFIX = "/ogc"
#: Schemas published: public, then staff-only.
PUBLIC_SCHEMA, STAFF_SCHEMA = "ogc", "ogc_staff"
#: The time column of each view that ``datetime=`` filters on (tipg would take the first alphabetically).
DATETIME_COLUMNS = {"tickets": "created_at", "sensors": "last_reading_at", "alerts": "started_at",
                    "flood_warnings": "started_at", "workers": "position_at"}
#: The pre-standard name of CQL2 text that GDAL's OAPIF driver (and so QGIS) sends; taken as ``cql2-text``.
LEGACY_FILTER_LANG = b"filter-lang=cql-text"
#: Friendly titles shown by QGIS and GDAL.
TITLES = {"admin_units": "Administrative units", "grids": "Grids", "tickets": "Tickets", "cameras": "Cameras",
          "sensors": "Sensors (latest values)", "alerts": "Alerts", "flood_warnings": "Flood warnings",
          "workers": "Workers"}


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """A libpq-style DSN for asyncpg from a SQLAlchemy URL (``postgresql+psycopg://`` → ``postgresql://``)."""
    scheme, sep, rest = sqlalchemy_url.partition("://")
    return "postgresql" + sep + rest if "+" in scheme else sqlalchemy_url


async def _init_connection(conn: asyncpg.Connection) -> None:
    """Per connection: JSON codecs as tipg expects and the published schemas on the search path (no writes)."""
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=orjson.dumps, decoder=orjson.loads, schema="pg_catalog")
    await conn.execute(f"SET search_path = {PUBLIC_SCHEMA}, {STAFF_SCHEMA}, public")


def _db_settings() -> DatabaseSettings:
    return DatabaseSettings(schemas=[PUBLIC_SCHEMA, STAFF_SCHEMA], application_schema="pg_temp",
                            only_spatial_tables=True)


async def read_catalog() -> Catalog:
    """The collections of the ``ogc`` and ``ogc_staff`` views, read on the primary as the read-only role."""
    conn = await asyncpg.connect(asyncpg_dsn(get_settings().sqlalchemy_url(role="readonly")))
    try:
        await _init_connection(conn)
        # tipg's catalog functions, as temporary functions of this connection only
        await conn.execute("SET default_transaction_read_only = off")
        await conn.execute("SET search_path = pg_temp, ogc, ogc_staff, public")
        await conn.execute(DB_CATALOG_FILE.read_text())
        collections = await pg_get_collection_index(conn, settings=_db_settings())
    finally:
        await conn.close()
    out: dict[str, Collection] = {}
    for c in collections:
        when = DATETIME_COLUMNS.get(c.table)
        if when:
            c.datetime_column = next((col for col in c.table_columns if col.name == when), c.datetime_column)
        suffix = " (staff)" if c.id.startswith(STAFF_SCHEMA + ".") else ""
        c.title = TITLES.get(c.table, c.table) + suffix
        out[c.id] = c
    return Catalog(collections=out, last_updated=dt.datetime.now())


def _visible(collection_id: str, principal: Principal | None) -> bool:
    return not collection_id.startswith(STAFF_SCHEMA + ".") or is_staff(principal)


def _catalog(request: Request) -> Catalog:
    return request.app.state.collection_catalog


def visible_collection(request: Request,
                       collectionId: Annotated[str, Path(description="collection id, e.g. ogc.tickets")],
                       principal: Principal | None = Depends(optional_principal)) -> Collection:
    """The collection ``collectionId`` if the caller may read it: 404 unknown, 401/403 staff-only."""
    collection = _catalog(request)["collections"].get(collectionId)
    if collection is None:
        raise NotFound(f"no collection {collectionId!r}; GET {PREFIX}/collections lists them")
    if not _visible(collectionId, principal):
        if principal is None:
            raise Unauthorized(f"collection {collectionId!r} is for staff: sign in with "
                               "'Authorization: Bearer <token>'")
        raise Forbidden(f"collection {collectionId!r} is for staff; role {principal.role!r} may not read it")
    return collection


def visible_collections(
    request: Request,
    bbox_filter: Annotated[list[float] | None, Depends(bbox_query)],
    datetime_filter: Annotated[list[str] | None, Depends(datetime_query)],
    type_filter: Annotated[Literal["Function", "Table"] | None, Query(alias="type")] = None,
    limit: Annotated[int | None, Query(ge=0, le=1000, description="at most this many collections")] = None,
    offset: Annotated[int | None, Query(ge=0, description="skip this many collections")] = None,
    principal: Principal | None = Depends(optional_principal),
) -> CollectionList:
    """The collections the caller may read (staff-only ones hidden from others), filtered and paged as tipg's."""
    limit, offset = limit or 0, offset or 0
    items = [c for c in _catalog(request)["collections"].values() if _visible(c.id, principal)
             and (type_filter is None or c.type == type_filter)
             and (bbox_filter is None or (c.bounds is not None and s_intersects(bbox_filter, c.bounds)))
             and (datetime_filter is None or (c.dt_bounds is not None
                                              and t_intersects(datetime_filter, c.dt_bounds)))]
    matched = len(items)
    page = items[offset: offset + limit] if limit else items[offset:]
    return CollectionList(collections=page, matched=matched,
                          next=offset + len(page) if matched - len(page) > offset else None,
                          prev=max(offset - limit, 0) if offset else None)


def _rewrite_json(send: Send, edit, content_type: bytes | None = None) -> Send:
    """``send`` passing a 200 JSON answer through ``edit(doc) -> doc`` (other answers unchanged)."""
    start: dict = {}
    body = bytearray()

    async def _send(message: dict) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        body.extend(message.get("body", b""))
        if message.get("more_body"):
            return
        data = bytes(body)
        headers = list(start.get("headers", []))
        if start.get("status") == 200:
            data = orjson.dumps(edit(orjson.loads(data)))
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"
                       and (content_type is None or k.lower() != b"content-type")]
            headers.append((b"content-length", str(len(data)).encode()))
            if content_type is not None:
                headers.append((b"content-type", content_type))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    return _send


def _add_queryables_array(doc: dict) -> dict:
    """Queryables for GDAL: GDAL before 3.7 reads only the drafts' ``queryables`` array."""
    props = doc.get("properties") or {}
    doc["queryables"] = [{"id": k, "type": v.get("type")} for k, v in props.items() if "$ref" not in v]
    return doc


#: OGC URI of a TileMatrixSet (OGC API – Tiles ``tileMatrixSetURI``).
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/{}"
_TILE_REL = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"


def _ogc_tileset(tileset: dict) -> dict:
    """A tipg tileset with what OGC API – Tiles clients look for (GDAL's OGCAPI driver, QGIS).

    tipg links a tile as ``rel="tile"`` with ``{z}/{x}/{y}``; the standard's
    link is ``rel="item"`` with ``{tileMatrix}``, ``{tileRow}`` and
    ``{tileCol}``, and a tileset names its ``tileMatrixSetURI``. Both are added.
    """
    links = tileset.get("links") or []
    for link in links:
        if link.get("rel") == _TILE_REL and "tileMatrixSetURI" not in tileset:
            tileset["tileMatrixSetURI"] = TMS_URI.format(link["href"].rstrip("/").rsplit("/", 1)[-1])
    items = [{**link, "rel": "item", "templated": True,
              "href": link["href"].replace("{z}", "{tileMatrix}").replace("{x}", "{tileCol}")
              .replace("{y}", "{tileRow}")}
             for link in links if link.get("rel") == "tile"]
    tileset["links"] = links + [i for i in items if i not in links]
    return tileset


def _ogc_tilesets(doc: dict) -> dict:
    doc["tilesets"] = [_ogc_tileset(t) for t in doc.get("tilesets", [])]
    doc.setdefault("links", [])
    return doc


def _client_shims(scope: Scope, send: Send) -> Send:
    """``send`` adapted for what GIS clients expect of the answer to this request (see the edits)."""
    path = scope["path"]
    if path.endswith("/queryables") and b"application/schema+json" not in _accept(scope):
        # a JSON Schema; GDAL asks with Accept: application/geo+json, application/json and drops other types
        return _rewrite_json(send, _add_queryables_array, b"application/json")
    parts = path.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-1] == "tiles" and parts[-3] == "collections":
        return _rewrite_json(send, _ogc_tilesets)
    if len(parts) >= 3 and parts[-2] == "tiles" and parts[-4] == "collections":
        return _rewrite_json(send, _ogc_tileset)
    return send


def _accept(scope: Scope) -> bytes:
    return dict(scope.get("headers") or []).get(b"accept", b"")


class _OpenOnFirstRequest:
    """ASGI wrapper: open the pool and read the catalog on the first request (a mounted app gets no lifespan)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._lock = asyncio.Lock()

    async def ensure_open(self) -> None:
        state = self.app.state
        if getattr(state, "pool", None) is not None:
            return
        async with self._lock:
            if getattr(state, "pool", None) is not None:
                return
            settings = get_settings()
            state.collection_catalog = await read_catalog()
            url = settings.database_replica_url or settings.sqlalchemy_url(role="readonly")
            state.pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=0, max_size=settings.ogc_pool_size,
                                                   init=_init_connection)

    async def close(self) -> None:
        pool = getattr(self.app.state, "pool", None)
        self.app.state.pool = None
        if pool is not None:
            await pool.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.ensure_open()
        # links (tipg's and FastAPI's url_for) resolve in this app, under the mount path
        scope = {k: v for k, v in scope.items() if k != "router"}
        scope["app_root_path"] = scope.get("root_path", "")
        if scope["type"] == "http" and LEGACY_FILTER_LANG in scope.get("query_string", b""):
            scope["query_string"] = scope["query_string"].replace(LEGACY_FILTER_LANG, b"filter-lang=cql2-text")
        if scope["type"] == "http":
            send = _client_shims(scope, send)
        await self.app(scope, receive, send)


def create_ogc_app() -> _OpenOnFirstRequest:
    """The tipg application (landing page, conformance, collections, items, tiles) with OneMap's access rules."""
    app = FastAPI(title="OneMap OGC API", openapi_url="/api", docs_url="/api.html",
                  description="OGC API – Features (Part 1, 3: CQL2 filters) and Tiles (MVT) of OneMap's "
                              "public layers; staff-only collections need a bearer token.")
    app.state.pool = None
    endpoints = Endpoints(title="OneMap OGC API", collection_dependency=visible_collection,
                          collections_dependency=visible_collections, with_tiles_viewer=False)
    app.include_router(endpoints.router)
    _advertise_legacy_filter_lang(app)
    add_exception_handlers(app, DEFAULT_STATUS_CODES)
    install_error_handlers(app)
    app.add_exception_handler(asyncpg.PostgresError, _query_error)
    app.dependency_overrides[filter_query] = checked_filter
    return _OpenOnFirstRequest(app)


def checked_filter(
    query: Annotated[str | None, Query(alias="filter", description="CQL2 filter")] = None,
    filter_lang: Annotated[FilterLang | None, Query(alias="filter-lang", description="cql2-text (default) or "
                                                                                      "cql2-json")] = None,
):
    """tipg's ``filter`` parameter; a filter CQL2 cannot parse is a 400 (its parser raises a bare Exception)."""
    try:
        return filter_query(query, filter_lang)
    except Exception as exc:
        raise BadFilter(f"filter is not valid CQL2 text: {' '.join(str(exc).split())[:300]}") from exc


class BadFilter(ValidationError):
    """A ``filter`` that is not valid CQL2 or does not fit the collection's columns."""

    code = "bad_filter"
    status_code = 400


#: SQLSTATE classes of a query the caller's filter made invalid (data exception, syntax or type error).
_CALLER_SQLSTATE_CLASSES = ("22", "42")


async def _query_error(request: Request, exc: Exception) -> JSONResponse:
    """A filter PostgreSQL refused (e.g. ``on_duty = 1`` on a boolean): 400 with its message; else 503."""
    assert isinstance(exc, asyncpg.PostgresError)
    state = getattr(exc, "sqlstate", "") or ""
    if state[:2] in _CALLER_SQLSTATE_CLASSES:
        err: OneMapError = BadFilter(f"the filter does not fit the collection: {exc.args[0] if exc.args else exc}")
        return JSONResponse(err.to_dict(), status_code=err.status_code)
    err = DatabaseUnavailable("The database is unavailable; try again shortly.")
    return JSONResponse(err.to_dict(), status_code=err.status_code)


def _advertise_legacy_filter_lang(app: FastAPI) -> None:
    """List ``cql-text`` among the ``filter-lang`` values in the OpenAPI document.

    GDAL's OAPIF driver sends a ``where`` clause to the server as CQL text only
    when the items operation's ``filter-lang`` parameter lists ``cql-text`` (the
    name of the drafts); otherwise it downloads every feature and filters them
    itself. The request's ``cql-text`` is read as ``cql2-text``
    (:data:`LEGACY_FILTER_LANG`).
    """
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            doc = build()
            for ops in doc.get("paths", {}).values():
                for param in ops.get("get", {}).get("parameters", []):
                    if param.get("name") == "filter-lang":  # GDAL reads schema.enum (not anyOf)
                        param["schema"] = {"type": "string", "enum": ["cql2-text", "cql2-json", "cql-text"],
                                           "default": "cql2-text"}
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(api: FastAPI) -> None:
    """Mount the OGC API at :data:`PREFIX` on ``api`` and close its pool when ``api`` shuts down."""
    ogc = create_ogc_app()
    api.mount(PREFIX, ogc, name="ogc")
    inner = api.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a) -> AsyncIterator:
        try:
            async with inner(a) as state:
                yield state
        finally:
            await ogc.close()

    api.router.lifespan_context = lifespan
