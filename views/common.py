"""Plumbing shared by the one-map views: the offline deck pane, sessions, messages.

Private to ``app.py`` and the ``_app_*`` view modules.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import panel as pn
from panel.io.state import set_curdoc
from sqlalchemy.orm import Session

from layers import LayerError, deck_spec
from layers.basemap import basemap_layer, labels_layer
from spatial.db.engine import session_scope
from spatial.errors import OneMapError
from spatial.maps import live
from spatial.maps.tiles import LABELS_URL_TEMPLATE as LABEL_TILES
from spatial.maps.tiles import URL_TEMPLATE as BASEMAP_TILES
from spatial.maps.tiles import WORKER_URL as MVT_WORKER
from spatial.settings import get_settings

log = logging.getLogger("onemap.app")

#: Map size (pixels) assumed when fitting the district into the first view.
MAP_W, MAP_H = 640, 560

#: Raw CSS for the app (legend boxes, KPI row).
CSS = """
.onemap-legend { background: rgba(255,255,255,0.92); padding: 6px 8px; border-radius: 4px;
                 font-size: 12px; line-height: 1.5; }
.onemap-kpi .bk-panel-models-markup-HTML { font-size: 13px; }
"""


def client_ip() -> str | None:
    """The browser's IP as the app's HTTP request saw it (the audit trail's "from where")."""
    ctx = pn.state.curdoc.session_context if pn.state.curdoc else None
    request = getattr(ctx, "request", None) if ctx else None
    if request is None:
        return None
    headers = request.headers or {}
    forwarded = headers.get("X-Forwarded-For") or headers.get("x-forwarded-for")
    if forwarded and get_settings().trust_proxy:
        return str(forwarded).split(",")[0].strip()
    return getattr(request, "remote_ip", None)


@contextmanager
def db() -> Iterator[Session]:
    """One session and one transaction per callback (commit on success)."""
    with session_scope() as s:
        yield s


class MapPane:
    """A ``pn.pane.DeckGL`` with an offline dict spec that keeps the user's current view.

    Panel re-applies ``initialViewState`` on every update; we feed back the
    last ``view_state`` the browser reported so updates never jump the map.
    The offline basemap (vector tiles of the same server, ``layers.basemap``) is always the
    first layer, under the data, and its labels the last, over it; :meth:`set_basemap` switches
    its buildings to 3D.
    """

    def __init__(self, view: dict, *, tooltips: dict | None = None, height: int | None = 620,
                 basemap: bool = True) -> None:
        self.view = dict(view)
        self.layers: dict[str, dict] = {}
        self.order: list[str] = []
        self.basemap = basemap_layer(BASEMAP_TILES, worker_url=MVT_WORKER) if basemap else None
        self.labels = labels_layer(LABEL_TILES, worker_url=MVT_WORKER) if basemap else None
        size = {"sizing_mode": "stretch_width", "height": height} if height else {"sizing_mode": "stretch_both"}
        self.pane = pn.pane.DeckGL(
            deck_spec([self.basemap, self.labels] if basemap else [], view=self.view), tooltips=tooltips or {},
            throttle={"view": 300, "hover": 400}, margin=(0, 5), **size)
        self.pane.param.watch(self._on_view, "view_state")

    def _on_view(self, event) -> None:
        vs = event.new or {}
        if "longitude" in vs and "zoom" in vs:
            self.view = {k: vs[k] for k in ("longitude", "latitude", "zoom", "pitch", "bearing") if k in vs}

    @property
    def bbox(self) -> tuple[float, float, float, float] | None:
        """Visible (W, S, E, N) degrees, from the browser's last view report."""
        vs = self.pane.view_state or {}
        nw, se = vs.get("nw"), vs.get("se")
        if not nw or not se:
            return None
        return (min(nw[0], se[0]), min(nw[1], se[1]), max(nw[0], se[0]), max(nw[1], se[1]))

    @property
    def zoom(self) -> float:
        return float(self.view.get("zoom", 12))

    def set_layers(self, layers: dict[str, dict | None], *, order: list[str] | None = None,
                   view: dict | None = None) -> None:
        """Replace some layers (None removes one) and push one update to the browser."""
        for key, spec in layers.items():
            if spec is None:
                self.layers.pop(key, None)
            else:
                self.layers[key] = spec
        if order is not None:
            self.order = order
        if view is not None:
            self.view = dict(view)
        ordered = [self.basemap] if self.basemap else []
        ordered += [self.layers[k] for k in self.order if k in self.layers]
        ordered += [v for k, v in self.layers.items() if k not in self.order]
        if self.labels:
            ordered.append(self.labels)
        self.pane.object = deck_spec(ordered, view=self.view)

    def set_basemap(self, *, extruded: bool) -> bool:
        """Flat or 3D basemap buildings; True when that changed (the caller's next update sends it)."""
        if self.basemap is None or self.basemap["extruded"] == extruded:
            return False
        self.basemap = basemap_layer(BASEMAP_TILES, worker_url=MVT_WORKER, extruded=extruded)
        return True


def follow_live(kinds: set[str], callback: Callable[[live.Batch], None], *,
                min_interval_s: float = 0.0) -> live.Subscription | None:
    """Call ``callback(batch)`` in this browser session when changes of ``kinds`` are committed.

    The server's one listener (``spatial.maps.live``) hands the batch to the
    session's Bokeh document (next tick, under its lock); the subscription ends
    with the session. ``min_interval_s``: at most one call per interval, later
    changes held back and merged (for views whose update is an aggregate query).
    None outside a running server (no live updates then).
    """
    hub = live.hub()
    doc = pn.state.curdoc
    if hub is None or doc is None or doc.session_context is None:
        return None
    state: dict[str, Any] = {"last": 0.0, "held": None}

    def call(batch: live.Batch) -> None:
        state["last"] = time.monotonic()
        with set_curdoc(doc):
            callback(batch)

    def flush() -> None:
        batch, state["held"] = state["held"], None
        if batch is not None:
            call(batch)

    def run(batch: live.Batch) -> None:
        if state["held"] is not None:
            state["held"].changes.extend(batch.changes)
            return
        wait = state["last"] + min_interval_s - time.monotonic()
        if wait > 0:
            state["held"] = batch
            doc.add_timeout_callback(flush, int(wait * 1000) + 1)
            return
        call(batch)

    sub = hub.subscribe(kinds, run, schedule=doc.add_next_tick_callback)
    doc.on_session_destroyed(lambda _ctx: sub.close())
    return sub


class SharedResult:
    """Query results shared by every session of the process for ``ttl_s`` seconds, by key.

    Live updates make every open leadership page ask for the same district-wide
    aggregates at the same moment; the first session runs the query, the rest reuse it.
    """

    def __init__(self, ttl_s: float = 1.0) -> None:
        self.ttl_s = ttl_s
        self._data: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        now = time.monotonic()
        hit = self._data.get(key)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        value = compute()
        if len(self._data) > 256:
            self._data = {k: v for k, v in self._data.items() if now - v[0] < self.ttl_s}
        self._data[key] = (now, value)
        return value


def guarded(alert: pn.pane.Alert) -> Callable:
    """Decorator for callbacks: user errors become a visible message, never a traceback."""

    def deco(fn: Callable) -> Callable:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except (OneMapError, LayerError) as exc:
                msg = exc.message if isinstance(exc, OneMapError) else str(exc)
                show(alert, msg, "warning")
            except Exception as exc:  # keep the session alive; log for operators
                log.exception("callback %s failed", fn.__name__)
                show(alert, f"Unexpected error: {exc}", "danger")
            return None

        wrapper.__name__ = fn.__name__
        return wrapper

    return deco


def show(alert: pn.pane.Alert, message: str, kind: str = "info") -> None:
    alert.object = message
    alert.alert_type = kind
    alert.visible = bool(message)


def new_alert() -> pn.pane.Alert:
    return pn.pane.Alert("", alert_type="info", visible=False, sizing_mode="stretch_width", margin=(2, 5))


class Timer:
    """Wall-clock milliseconds of a block, for the status line."""

    def __enter__(self) -> Timer:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.ms = (time.perf_counter() - self.t0) * 1000
