"""The offline basemap: one deck.gl ``MVTLayer`` over the server's vector tiles.

The tiles (``spatial.maps.tiles``, served at ``/tiles/basemap/{z}/{x}/{y}.mvt``) hold the layers
water, landuse, roads (``class``, ``group``), buildings (``height``, m), pois (``kind``) and admin
(``level``). Styling is done here as deck.gl expressions on ``properties.layerName`` (set by
deck.gl's MVT loader) and those properties: water blue, landuse muted by kind, roads by group with
widths in metres, buildings light grey (extruded to their height when ``extruded``), POIs small
dots by kind, admin outlines dark grey by level. :func:`labels_layer` draws the label tiles (names of
admin units, roads and public POIs) as text with a white halo over the data layers, in the browser's
CJK-capable sans-serif font (deck.gl builds the glyph atlas from the names it meets:
``characterSet: 'auto'``).

Offline: the tiles come from the same server, and so does loaders.gl's MVT parser worker
(``worker_url``; deck.gl's MVTLayer only parses in a worker, whose script it would otherwise
fetch from a CDN).
"""

from __future__ import annotations

from collections.abc import Sequence

#: Colours (RGBA 0-255).
WATER = (160, 200, 228, 255)
LAND_DEFAULT = (232, 230, 222, 255)
#: Land use kinds (OSM/Tilezen values) -> fill colour; anything else gets :data:`LAND_DEFAULT`.
LANDUSE: dict[tuple[int, int, int, int], tuple[str, ...]] = {
    (206, 226, 194, 255): ("park", "grass", "garden", "recreation_ground", "forest", "wood", "natural_wood",
                           "scrub", "meadow", "grassland", "village_green", "cemetery", "grave_yard", "golf_course",
                           "nature_reserve", "protected_area", "heath", "allotments", "farmland", "orchard"),
    (198, 222, 200, 255): ("pitch", "playground", "sports_centre", "stadium"),
    (236, 231, 224, 255): ("residential", "apartments"),
    (240, 226, 222, 255): ("commercial", "retail", "attraction"),
    (230, 226, 234, 255): ("industrial", "railway", "construction", "brownfield", "civil", "military"),
    (242, 234, 212, 255): ("school", "university", "college", "kindergarten", "hospital", "library"),
    (226, 226, 226, 255): ("parking", "pedestrian", "pier", "bridge", "fuel"),
}
#: Road groups (``spatial.maps.tiles.ROAD_GROUPS``): colour and width in metres.
ROADS: dict[str, tuple[tuple[int, int, int, int], float]] = {
    "major": ((238, 176, 92, 255), 14.0),
    "street": ((160, 160, 160, 255), 8.0),
    "service": ((190, 190, 190, 255), 4.0),
    "path": ((196, 172, 160, 255), 1.5),
}
BUILDING = (212, 210, 206, 255)
BUILDING_LINE = (178, 176, 172, 255)
#: POI kinds -> dot colour; others grey.
POIS: dict[tuple[int, int, int, int], tuple[str, ...]] = {
    (214, 58, 58, 255): ("hospital", "clinic", "doctors", "pharmacy"),
    (58, 104, 196, 255): ("school", "kindergarten", "university", "college"),
    (36, 146, 84, 255): ("shelter", "assembly_point"),
    (30, 50, 120, 255): ("police", "fire_station", "townhall", "government"),
}
POI_DEFAULT = (140, 130, 150, 220)
#: Admin levels (1 district ... 4 grid): colour and width in metres.
ADMIN: dict[int, tuple[tuple[int, int, int, int], float]] = {
    1: ((70, 70, 90, 230), 12.0), 2: ((90, 90, 110, 200), 6.0), 3: ((110, 110, 130, 170), 3.0),
    4: ((130, 130, 150, 140), 1.5),
}
NONE = (0, 0, 0, 0)
#: Label text: colour and size in pixels per label kind.
LABELS: dict[str, tuple[tuple[int, int, int, int], int]] = {
    "admin": ((40, 40, 70, 255), 15), "road": ((70, 64, 58, 255), 12), "poi": ((90, 70, 110, 255), 11),
}
LABEL_FONT = "'WenQuanYi Zen Hei', 'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif"

def _lit(v) -> str:
    if isinstance(v, str):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(v, tuple | list):
        return "[" + ", ".join(_lit(x) for x in v) + "]"
    return repr(v)


def _switch(prop: str, cases: Sequence[tuple[Sequence, object]], default: object) -> str:
    """A deck.gl expression: the value of the first case whose values contain ``prop``'s value."""
    expr = _lit(default)
    for values, out in reversed(list(cases)):
        test = " || ".join(f"{prop} == {_lit(v)}" for v in values)
        expr = f"(({test}) ? {_lit(out)} : {expr})"
    return expr


def _by_layer(default: str, **per_layer: str) -> str:
    """A deck.gl expression choosing one of ``per_layer`` (expressions) by the MVT layer name."""
    expr = default
    for name, out in reversed(list(per_layer.items())):
        expr = f"(properties.layerName == {_lit(name)} ? {out} : {expr})"
    return expr


def fill_color_expr() -> str:
    """Fill colour by layer and kind (areas and POI dots)."""
    return _by_layer(
        _lit(NONE),
        water=_lit(WATER),
        landuse=_switch("properties.kind", [(v, c) for c, v in LANDUSE.items()], LAND_DEFAULT),
        buildings=_lit(BUILDING),
        pois=_switch("properties.kind", [(v, c) for c, v in POIS.items()], POI_DEFAULT),
    )


def line_color_expr() -> str:
    """Line colour: roads by group, admin outlines by level, water lines, building edges."""
    return _by_layer(
        _lit(NONE),
        roads=_switch("properties.group", [((g,), c) for g, (c, _) in ROADS.items()], ROADS["path"][0]),
        admin=_switch("properties.level", [((lv,), c) for lv, (c, _) in ADMIN.items()], ADMIN[4][0]),
        water=_lit(WATER),
        buildings=_lit(BUILDING_LINE),
        pois=_lit((255, 255, 255, 200)),
    )


def line_width_expr() -> str:
    """Line width in metres: roads by group, admin by level, rivers 20 m, building edges 0.5 m."""
    return _by_layer(
        "0",
        roads=_switch("properties.group", [((g,), w) for g, (_, w) in ROADS.items()], ROADS["path"][1]),
        admin=_switch("properties.level", [((lv,), w) for lv, (_, w) in ADMIN.items()], ADMIN[4][1]),
        water=_lit(20.0),
        buildings=_lit(0.5),
    )


def _mvt(url: str, *, worker_url: str, layer_id: str, max_zoom: int) -> dict:
    """What every MVTLayer of this server's tiles has: the URL, the zoom range, the offline parser worker."""
    return {"@@type": "MVTLayer", "id": layer_id, "data": url, "minZoom": 0, "maxZoom": int(max_zoom),
            "binary": False, "loadOptions": {"mvt": {"workerUrl": worker_url}}, "pickable": False}


def basemap_layer(url: str, *, worker_url: str, extruded: bool = False, layer_id: str = "basemap",
                  default_height_m: float = 12.0, max_zoom: int = 16, opacity: float = 1.0) -> dict:
    """The basemap ``MVTLayer`` dict for a ``pn.pane.DeckGL`` spec (draw it first, under the data).

    Parameters
    ----------
    url : str
        Tile URL template with ``{z}``, ``{x}``, ``{y}`` (the app passes ``spatial.maps.tiles.URL_TEMPLATE``,
        a path on the page's own server).
    worker_url : str
        URL of loaders.gl's ``mvt-worker.js`` (``spatial.maps.tiles.WORKER_URL``).
    extruded : bool
        Extrude buildings to their ``height`` (m; ``default_height_m`` when unknown).
    max_zoom : int
        Deepest zoom requested; deeper views over-zoom these tiles (they are not simplified).
    """
    return {
        **_mvt(url, worker_url=worker_url, layer_id=layer_id, max_zoom=max_zoom),
        "filled": True,
        "stroked": True,
        "extruded": bool(extruded),
        "wireframe": False,
        "getFillColor": "@@=" + fill_color_expr(),
        "getLineColor": "@@=" + line_color_expr(),
        "getLineWidth": "@@=" + line_width_expr(),
        "lineWidthUnits": "meters",
        "lineWidthMinPixels": 1,
        "getElevation": f"@@=properties.layerName == 'buildings' ? (properties.height || {default_height_m}) : 0",
        "pointType": "circle",
        "getPointRadius": 3,
        "pointRadiusUnits": "pixels",
        "pointRadiusMinPixels": 2,
        "opacity": float(opacity),
    }


def labels_layer(url: str, *, worker_url: str, layer_id: str = "basemap_labels", max_zoom: int = 16) -> dict:
    """The label ``MVTLayer`` (``/tiles/labels``: points with ``kind`` and ``name``), drawn last, over the data.

    Text only (``pointType: 'text'``), coloured and sized by kind (:data:`LABELS`), with a white
    halo (SDF font atlas) so names stay readable over the choropleth. deck.gl's
    ``CollisionFilterExtension`` hides a label that would overlap one of higher priority (admin
    names first, then roads, then POIs), across tiles, at every zoom.
    """
    return {
        **_mvt(url, worker_url=worker_url, layer_id=layer_id, max_zoom=max_zoom),
        "pointType": "text",
        "getText": "@@=properties.name",
        "getTextColor": "@@=" + _switch("properties.kind", [((k,), c) for k, (c, _) in LABELS.items()], NONE),
        "getTextSize": "@@=" + _switch("properties.kind", [((k,), z) for k, (_, z) in LABELS.items()], 12),
        "textSizeUnits": "pixels",
        "textCharacterSet": "auto",
        "textFontFamily": LABEL_FONT,
        "textFontSettings": {"sdf": True, "fontSize": 48, "buffer": 6},
        "textOutlineWidth": 3,
        "textOutlineColor": [255, 255, 255, 230],
        "textBillboard": True,
        "extensions": [{"@@type": "CollisionFilterExtension"}],
        "collisionEnabled": True,
        "getCollisionPriority": "@@=" + _switch("properties.kind", [(("admin",), 100), (("road",), 50)], 10),
        "collisionTestProps": {"sizeScale": 1.3},
    }
