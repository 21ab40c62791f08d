"""The demo district's storm sewers: a trunk-and-branch network under its roads (deterministic).

Manholes every ``spacing_m`` along the arterial and secondary roads (points closer than a third of
the spacing merge, so crossing roads share a manhole); the road graph is reduced to a tree by the
shortest paths to outfalls on the river bank (a few trunks collecting branches); pipes are sized
by the rational method (time of concentration 10 min + travel at 1 m/s) for a
``design_return_period`` storm on the area each manhole drains
(``spacing_m`` x ``catchment_width_m`` per manhole, runoff coefficient 0.7) with Manning's full
flow at the pipe slope, from the standard sizes 0.3-2.0 m. Inverts: 1.5 m cover under the ground,
at least 0.1 % fall along every pipe. Chinese cities design storm sewers for 2-5 year storms
(GB 50014), so a 20-year storm surcharges the network: that is what the demo forecast shows.

Coordinates EPSG:32649 [m], elevations [m] on the demo DEM.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import defaultdict

import numpy as np
import shapely
import shapely.ops

from data._dem import Dem
from data._geometry import Layout
from flood_model.network import Conduit, Junction, Outfall, PipeNetwork

SIZES_M = (0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0)
COVER_M = 1.5
MIN_SLOPE = 0.001
MANNING_N = 0.013  # concrete pipe


def _ground(dem: Dem, x: float, y: float) -> float:
    col, row = ~dem.transform @ (x, y)
    return float(dem.elevation[int(row), int(col)])


def _rational_flow(area_m2: float, return_period: float, minutes: float = 15.0) -> float:
    """Design flow [m3/s] = C i A with the Huangpu storm formula's intensity for ``minutes``."""
    from flood_model.storms import get_storm

    i_mm_min = float(get_storm("huangpu").intensity(minutes, return_period))
    return 0.7 * i_mm_min / 1000.0 / 60.0 * area_m2


def _diameter(q: float, slope: float) -> float:
    for d in SIZES_M:
        full = (1.0 / MANNING_N) * (math.pi * d * d / 4) * (d / 4) ** (2 / 3) * math.sqrt(slope)
        if full >= q:
            return d
    return SIZES_M[-1]


def demo_network(lay: Layout, dem: Dem, *, spacing_m: float = 120.0, catchment_width_m: float = 120.0,
                 design_return_period: float = 3.0, classes: tuple[str, ...] = ("arterial", "secondary"),
                 outfall_every_m: float = 350.0, outfall_within_m: float = 300.0) -> PipeNetwork:
    """Generate the trunk-and-branch network (see the module doc); same inputs -> same network."""
    snap = spacing_m / 3
    pts: list[tuple[float, float]] = []
    key: dict[tuple[int, int], int] = {}
    edges: dict[int, dict[int, float]] = defaultdict(dict)

    def node(x: float, y: float) -> int:
        k = (round(x / snap), round(y / snap))
        for dk in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1)):
            hit = key.get((k[0] + dk[0], k[1] + dk[1]))
            if hit is not None and math.hypot(pts[hit][0] - x, pts[hit][1] - y) < snap:
                return hit
        key[k] = len(pts)
        pts.append((x, y))
        return len(pts) - 1

    for road in sorted(lay.roads, key=lambda r: r["code"]):
        if road["road_class"] not in classes:
            continue
        for line in getattr(road["geom"], "geoms", [road["geom"]]):
            n = max(1, round(line.length / spacing_m))
            ids = [node(*line.interpolate(k / n, normalized=True).coords[0]) for k in range(n + 1)]
            for a, b in itertools.pairwise(ids):
                if a != b:
                    d = math.hypot(pts[a][0] - pts[b][0], pts[a][1] - pts[b][1])
                    edges[a][b] = edges[b][a] = d
    ground = np.array([_ground(dem, x, y) for x, y in pts])
    # outfalls: manholes within outfall_within_m of the river or the creek, at least outfall_every_m apart
    waters = [w for w in (lay.river, lay.creek) if w is not None]
    river = shapely.union_all(waters) if waters else None
    dist = np.array([river.distance(shapely.Point(p)) for p in pts]) if river is not None else -np.array(pts)[:, 1]
    order = np.argsort(dist, kind="stable")
    outlets: list[int] = []
    for i in order:
        if dist[i] > outfall_within_m and len(outlets) >= 1:
            break
        if all(math.hypot(pts[i][0] - pts[j][0], pts[i][1] - pts[j][1]) >= outfall_every_m for j in outlets):
            outlets.append(int(i))
    # shortest-path tree to the outfall manholes (multi-source Dijkstra): each manhole's parent is downstream
    best = {i: 0.0 for i in outlets}
    parent: dict[int, int | None] = dict.fromkeys(outlets)
    heap = [(0.0, i) for i in outlets]
    while heap:
        d, a = heapq.heappop(heap)
        if d > best.get(a, math.inf):
            continue
        for b, w in sorted(edges[a].items()):
            if d + w < best.get(b, math.inf):
                best[b], parent[b] = d + w, a
                heapq.heappush(heap, (d + w, b))
    members = sorted(parent, key=lambda i: -best[i])  # upstream first
    upstream_count = dict.fromkeys(members, 1)
    flow_path = dict.fromkeys(members, 0.0)  # longest pipe path upstream of a manhole [m]
    for i in members:
        if parent[i] is not None:
            upstream_count[parent[i]] += upstream_count[i]
            flow_path[parent[i]] = max(flow_path[parent[i]], flow_path[i] + edges[i][parent[i]])
    invert = {i: ground[i] - COVER_M for i in members}
    diam: dict[int, float] = {}
    incoming: dict[int, float] = {}  # largest pipe arriving at a manhole [m]
    for i in members:  # upstream first: size the pipe leaving i, then push the invert of its receiver down
        p = parent[i]
        t_c = 10.0 + flow_path[i] / 60.0  # 10 min inlet time + pipe travel at 1 m/s [min]
        q = _rational_flow(upstream_count[i] * spacing_m * catchment_width_m, design_return_period, t_c)
        if p is None:
            diam[i] = max(_diameter(q, MIN_SLOPE * 3), incoming.get(i, 0.0))
            continue
        length = edges[i][p]
        slope = max(MIN_SLOPE, (invert[i] - (ground[p] - COVER_M)) / length)
        diam[i] = max(_diameter(q, slope), incoming.get(i, 0.0))  # never smaller downstream
        incoming[p] = max(incoming.get(p, 0.0), diam[i])
        invert[p] = min(invert[p], invert[i] - MIN_SLOPE * length, ground[p] - COVER_M - diam[i])
    name = {i: f"MH{k + 1:04d}" for k, i in enumerate(sorted(members))}
    junctions = [Junction(name[i], round(pts[i][0], 2), round(pts[i][1], 2), invert=round(invert[i], 3),
                          rim=round(float(ground[i]), 3)) for i in sorted(members)]
    conduits, outfalls = [], []
    for i in sorted(members):
        p = parent[i]
        if p is None:  # outfall on the river bank, 30 m further towards the river
            x, y = pts[i]
            if river is not None:
                near = shapely.ops.nearest_points(river, shapely.Point(x, y))[0]
                dx, dy = near.x - x, near.y - y
                k = min(1.0, 30.0 / max(math.hypot(dx, dy), 1e-9))
                x, y = x + k * dx, y + k * dy
            out = f"OF{len(outfalls) + 1:02d}"
            outfalls.append(Outfall(out, round(x, 2), round(y, 2), invert=round(invert[i] - 0.1, 3)))
            conduits.append(Conduit(f"P{name[i][2:]}", name[i], out, MANNING_N, diam[i], length=30.0))
        else:
            conduits.append(Conduit(f"P{name[i][2:]}", name[i], name[p], MANNING_N, diam[i],
                                    length=round(edges[i][p], 2)))
    return PipeNetwork(junctions, outfalls, conduits)
