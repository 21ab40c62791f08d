"""Baseline for bench/bench_incident.py: the pure-Python road graph OneMap used before pgRouting.

The graph is built from the ``road`` table (EPSG:4326 multilinestrings): every
vertex is a node (rounded to 1e-7 degrees, so roads that share a vertex are
connected, as in OSM), every segment an undirected edge whose cost is its
great-circle length divided by a speed for its ``road_class`` (or
``attrs['speed_kmh']`` when set). A point is attached to the nearest node by a
straight access leg at :data:`ACCESS_SPEED_KMH`. Travel times are seconds from
each worker to the ticket (Dijkstra from the ticket, stopped when every target
is settled or after :data:`MAX_TRAVEL_S`); unreachable gives ``None``.

The graph is cached per database and road-table signature (row count, max id,
sum of ids, vertex count), so it is rebuilt only after roads change. Pure Python + numpy +
shapely; no pgRouting needed.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.workers.positions import haversine_m

#: Free-flow urban speeds by OSM-style road class, km/h.
SPEED_KMH: dict[str, float] = {
    "motorway": 60.0, "trunk": 50.0, "primary": 40.0, "secondary": 35.0, "tertiary": 30.0,
    "residential": 20.0, "living_street": 10.0, "service": 15.0, "unclassified": 20.0,
    "footway": 5.0, "path": 5.0, "pedestrian": 5.0, "cycleway": 12.0,
}
DEFAULT_SPEED_KMH = 25.0
#: Speed of the straight leg from a point to the nearest road vertex, km/h.
ACCESS_SPEED_KMH = 10.0
#: Search horizon of Dijkstra, seconds.
MAX_TRAVEL_S = 4 * 3600.0

_lock = threading.Lock()
_cache: dict[tuple, RoadNetwork] = {}


@dataclass
class RoadNetwork:
    """An undirected road graph: node coordinates (EPSG:4326) and adjacency lists (seconds)."""

    xy: np.ndarray
    adj: list[list[tuple[int, float]]]
    tree: shapely.STRtree = field(repr=False)

    @classmethod
    def from_lines(cls, lines: Sequence[tuple[np.ndarray, float]]) -> RoadNetwork:
        """Build from ``(coords (n, 2) lon/lat, speed km/h)`` polylines."""
        index: dict[tuple[float, float], int] = {}
        edges_a, edges_b, edges_s = [], [], []
        for coords, speed in lines:
            ids = []
            for x, y in np.round(np.asarray(coords, dtype=float)[:, :2], 7):
                key = (float(x), float(y))
                ids.append(index.setdefault(key, len(index)))
            if len(ids) < 2:
                continue
            edges_a.extend(ids[:-1])
            edges_b.extend(ids[1:])
            edges_s.extend([speed] * (len(ids) - 1))
        xy = np.array(list(index.keys()), dtype=float).reshape(-1, 2)
        adj: list[list[tuple[int, float]]] = [[] for _ in range(len(xy))]
        if edges_a:
            a, b = np.asarray(edges_a), np.asarray(edges_b)
            secs = haversine_m(xy[a, 0], xy[a, 1], xy[b, 0], xy[b, 1]) / (np.asarray(edges_s) / 3.6)
            for i, j, s in zip(a.tolist(), b.tolist(), np.atleast_1d(secs).tolist(), strict=True):
                if i != j:
                    adj[i].append((j, s))
                    adj[j].append((i, s))
        return cls(xy=xy, adj=adj, tree=shapely.STRtree(shapely.points(xy)))

    def _snap(self, points: Sequence[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
        pts = np.asarray(points, dtype=float).reshape(-1, 2)
        _, idx = self.tree.query_nearest(shapely.points(pts), all_matches=False)
        nodes = np.asarray(idx)
        access = haversine_m(pts[:, 0], pts[:, 1], self.xy[nodes, 0], self.xy[nodes, 1])
        return nodes, np.atleast_1d(access) / (ACCESS_SPEED_KMH / 3.6)

    def travel_times(self, target: tuple[float, float],
                     sources: Sequence[tuple[float, float]]) -> list[float | None]:
        """Seconds from each source point to ``target`` (lon/lat, EPSG:4326); None if unreachable."""
        if not len(sources) or not len(self.xy):
            return [None] * len(sources)
        (tnode,), (tacc,) = self._snap([target])
        snodes, sacc = self._snap(sources)
        wanted = set(snodes.tolist())
        dist = {int(tnode): 0.0}
        done: set[int] = set()
        heap = [(0.0, int(tnode))]
        while heap and wanted - done:
            d, u = heapq.heappop(heap)
            if u in done:
                continue
            done.add(u)
            if d > MAX_TRAVEL_S:
                break
            for v, w in self.adj[u]:
                nd = d + w
                if nd < dist.get(v, float("inf")):
                    dist[v] = nd
                    heapq.heappush(heap, (nd, v))
        out: list[float | None] = []
        for n, acc in zip(snodes.tolist(), sacc.tolist(), strict=True):
            d = dist.get(n) if n in done else None
            out.append(None if d is None or d > MAX_TRAVEL_S else round(d + acc + float(tacc), 1))
        return out


def _speed(road_class: str | None, attrs: dict | None) -> float:
    if attrs:
        try:
            v = float(attrs.get("speed_kmh"))
            if v > 0:
                return v
        except (TypeError, ValueError):
            pass
    return SPEED_KMH.get((road_class or "").lower(), DEFAULT_SPEED_KMH)


def load_network(session: Session) -> RoadNetwork:
    """Build the road graph from the ``road`` table (uncached)."""
    rows = session.execute(sa.text(
        "SELECT road_class, attrs, ST_AsBinary((ST_Dump(geom)).geom) FROM road")).all()
    lines = []
    for cls, attrs, wkb in rows:
        coords = shapely.get_coordinates(shapely.from_wkb(bytes(wkb)))
        lines.append((coords, _speed(cls, attrs)))
    return RoadNetwork.from_lines(lines)


def network_for(session: Session) -> RoadNetwork | None:
    """The cached road graph of this database, or None when no road is loaded."""
    sig = session.execute(sa.text(
        "SELECT count(*), coalesce(max(id), 0), coalesce(sum(id), 0), coalesce(sum(ST_NPoints(geom)), 0) "
        "FROM road")).one()
    if sig[0] == 0:
        return None
    bind = session.get_bind()
    key = (str(bind.engine.url) if hasattr(bind, "engine") else str(bind.url), *map(int, sig))
    with _lock:
        net = _cache.get(key)
    if net is None:
        net = load_network(session)
        with _lock:
            _cache.clear()
            _cache[key] = net
    return net
