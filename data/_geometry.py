"""Geometry of the demo district, generated in EPSG:32649 (UTM 49N, metres).

Everything is a pure function of a :class:`numpy.random.Generator`, so a seed
gives the same district every time:

* an irregular outline (a perturbed ellipse, about 30 km2) centred near
  Guangzhou Huangpu (113.45 E, 23.10 N);
* a nested hierarchy built top-down: streets are Voronoi cells of a few seeds
  clipped to the outline, communities are Voronoi cells clipped to their
  street, grids are Voronoi cells clipped to their community, so every child
  lies in exactly one parent and the children of a unit tile it;
* roads: sinuous arterials across the district, community boundaries as
  secondary roads and some grid boundaries as branch roads;
* building footprints on a jittered lattice away from the roads;
* a 10 m DEM (see :func:`make_dem`) with a river, a creek, low-lying basins
  and road underpasses, which is where waterlogging concentrates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPoint, Point, Polygon

CENTER_LONLAT = (113.45, 23.10)
METRIC_EPSG = 32649
#: UTM 49N coordinates of CENTER_LONLAT (pyproj, always_xy)
CENTER_XY = (750947.70, 2556695.70)


@dataclass
class Unit:
    """One admin polygon in metres (EPSG:32649)."""

    code: str
    name: str
    level: int
    parent: str | None
    geom: shapely.Geometry
    population: int = 0


@dataclass
class Layout:
    """The district's geometry in EPSG:32649."""

    outline: Polygon
    units: list[Unit]
    roads: list[dict]  # code, name, road_class, geom (MultiLineString), attrs
    buildings: list[dict]  # code, height_m, geom (Polygon), attrs
    basins: list[dict] = field(default_factory=list)  # x, y, sigma_m, depth_m, name
    underpasses: list[dict] = field(default_factory=list)  # x, y, angle_rad, depth_m, name
    centres: list[dict] = field(default_factory=list)  # x, y, kind ('commercial','construction','nightlife')
    river: LineString | None = None
    creek: LineString | None = None


STREET_NAMES = [
    ("Huangpu Street", "黄埔街道"), ("Yuzhu Street", "鱼珠街道"), ("Dasha Street", "大沙街道"),
    ("Hongshan Street", "红山街道"), ("Wenchong Street", "文冲街道"), ("Xiagang Street", "夏港街道"),
]
COMMUNITY_STEMS = [
    ("Dongyuan", "东苑"), ("Xiyuan", "西苑"), ("Nanhua", "南华"), ("Beiling", "北岭"), ("Jinhu", "金湖"),
    ("Yinhe", "银河"), ("Kaiyuan", "开元"), ("Luogang", "萝岗"), ("Xiangxue", "香雪"), ("Lianhua", "莲花"),
    ("Fenghuang", "凤凰"), ("Qingshan", "青山"), ("Shuixi", "水西"), ("Zhuyuan", "竹园"), ("Hongmian", "红棉"),
    ("Yuxin", "裕新"), ("Taoyuan", "桃园"), ("Jiangbin", "江滨"), ("Heping", "和平"), ("Xinsha", "新沙"),
    ("Changzhou", "长洲"), ("Shenjing", "深井"), ("Huizhan", "会展"), ("Kexue", "科学"),
]
ARTERIALS = [
    ("Kaichuang Avenue", "开创大道"), ("Kexue Avenue", "科学大道"), ("Huangpu East Road", "黄埔东路"),
    ("Xiangxue Avenue", "香雪大道"), ("Kaitai Avenue", "开泰大道"), ("Fenghuang Road", "凤凰路"),
    ("Huizhan North Road", "会展北路"), ("Gangqian Road", "港前路"),
]


def outline(rng: np.random.Generator, *, rx: float = 3600.0, ry: float = 2800.0, n: int = 240) -> Polygon:
    """An irregular district outline (perturbed ellipse) around CENTER_XY, in metres."""
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = np.ones_like(theta)
    for k in range(2, 7):
        r += rng.uniform(0.02, 0.07) / (k / 2) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    x = CENTER_XY[0] + rx * r * np.cos(theta)
    y = CENTER_XY[1] + ry * r * np.sin(theta)
    poly = Polygon(np.column_stack([np.round(x, 2), np.round(y, 2)]))
    return shapely.set_precision(poly if poly.is_valid else shapely.make_valid(poly), 0.01)


def _seeds_in(poly: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` well-spread points inside ``poly`` (dart throwing with a shrinking spacing)."""
    minx, miny, maxx, maxy = poly.bounds
    spacing = 0.75 * np.sqrt(poly.area / max(n, 1))
    pts: list[tuple[float, float]] = []
    shapely.prepare(poly)
    tries = 0
    while len(pts) < n:
        xs = rng.uniform(minx, maxx, 256)
        ys = rng.uniform(miny, maxy, 256)
        inside = shapely.contains_xy(poly, xs, ys)
        for x, y in zip(xs[inside], ys[inside], strict=True):
            if all((x - px) ** 2 + (y - py) ** 2 >= spacing ** 2 for px, py in pts):
                pts.append((x, y))
                if len(pts) == n:
                    break
        tries += 1
        if tries % 20 == 0:
            spacing *= 0.85
    return np.array(pts)


def _lloyd(poly: shapely.Geometry, seeds: np.ndarray, iterations: int = 2) -> list[shapely.Geometry]:
    """Voronoi cells of ``seeds`` clipped to ``poly`` after a few Lloyd relaxations.

    The final cells come from polygonizing the noded Voronoi edges together
    with the parent's boundary, so neighbours share identical vertices and the
    cells tile the parent without gaps or overlaps.
    """
    for _ in range(iterations):
        vor = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=poly, ordered=True)
        cells = [shapely.intersection(c, poly) for c in shapely.get_parts(vor)]
        seeds = np.array([[c.centroid.x, c.centroid.y] for c in cells])
    edges = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=poly, only_edges=True)
    lines = shapely.union_all([edges, poly.boundary])
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(lines)))
    shapely.prepare(poly)
    faces = [f for f in faces if poly.contains(f.point_on_surface())]
    owner: dict[int, list[shapely.Geometry]] = {i: [] for i in range(len(seeds))}
    for f in faces:
        p = f.point_on_surface()
        d = np.hypot(seeds[:, 0] - p.x, seeds[:, 1] - p.y)
        owner[int(np.argmin(d))].append(f)
    out = []
    for i in range(len(seeds)):
        parts = owner[i]
        if parts:
            out.append(parts[0] if len(parts) == 1 else shapely.union_all(parts))
    return out


def hierarchy(rng: np.random.Generator, district: Polygon, *, streets: int = 4, communities: int = 20,
              grids: int = 220) -> list[Unit]:
    """District > streets > communities > grids, each level tiling its parent."""
    units = [Unit("D440112", "Huangpu Demo District 黄埔示范区", 1, None, district)]
    per_street = np.full(streets, communities // streets)
    per_street[: communities % streets] += 1
    street_cells = _lloyd(district, _seeds_in(district, streets, rng))
    # grids per community: proportional to area, at least 3
    stems = list(COMMUNITY_STEMS)
    rng.shuffle(stems)
    ci = 0
    comm_cells: list[tuple[str, shapely.Geometry]] = []
    for s, cell in enumerate(street_cells):
        en, zh = STREET_NAMES[s % len(STREET_NAMES)]
        scode = f"S{s + 1:02d}"
        units.append(Unit(scode, f"{en} {zh}", 2, "D440112", cell))
        for c, ccell in enumerate(_lloyd(cell, _seeds_in(cell, int(per_street[s]), rng))):
            cen, czh = stems[ci % len(stems)]
            ci += 1
            ccode = f"{scode}C{c + 1:02d}"
            units.append(Unit(ccode, f"{cen} Community {czh}社区", 3, scode, ccell))
            comm_cells.append((ccode, ccell))
    total_area = sum(c.area for _, c in comm_cells)
    for ccode, ccell in comm_cells:
        n = max(6, round(grids * ccell.area / total_area))
        comm = next(u for u in units if u.code == ccode)
        for g, gcell in enumerate(_lloyd(ccell, _seeds_in(ccell, n, rng), iterations=1)):
            pop = int(rng.lognormal(np.log(1800), 0.45))
            units.append(Unit(f"{ccode}G{g + 1:02d}", f"{comm.name.split(' Community')[0]} Grid {g + 1:02d} 网格",
                              4, ccode, gcell, pop))
    # populations roll up
    by_code = {u.code: u for u in units}
    for level in (4, 3, 2):
        for u in units:
            if u.level == level and u.parent:
                by_code[u.parent].population += u.population
    return units


def _sinuous(p0: np.ndarray, p1: np.ndarray, rng: np.random.Generator, *, amp: float, n: int = 60) -> LineString:
    t = np.linspace(0, 1, n)
    d = p1 - p0
    normal = np.array([-d[1], d[0]]) / np.hypot(*d)
    wave = amp * np.sin(2 * np.pi * (t * rng.uniform(0.6, 1.4) + rng.uniform(0, 1))) * np.sin(np.pi * t)
    pts = p0[None, :] + t[:, None] * d[None, :] + wave[:, None] * normal[None, :]
    return LineString(np.round(pts, 2))


def _as_multiline(g: shapely.Geometry) -> shapely.Geometry | None:
    parts = [p for p in shapely.get_parts(g) if isinstance(p, LineString) and p.length > 20]
    return shapely.MultiLineString(parts) if parts else None


def roads(rng: np.random.Generator, district: Polygon, units: list[Unit]) -> list[dict]:
    """Arterials (sinuous lines across), secondary (community edges) and branch roads (grid edges)."""
    minx, miny, maxx, maxy = district.bounds
    out: list[dict] = []
    names = list(ARTERIALS)
    for i, frac in enumerate(np.linspace(0.22, 0.78, 3)):  # east-west
        y = miny + frac * (maxy - miny) + rng.uniform(-150, 150)
        line = _sinuous(np.array([minx - 200, y]), np.array([maxx + 200, y + rng.uniform(-400, 400)]), rng,
                        amp=180)
        out.append(("arterial", names[i], line))
    for i, frac in enumerate(np.linspace(0.2, 0.8, 4)):  # north-south
        x = minx + frac * (maxx - minx) + rng.uniform(-150, 150)
        line = _sinuous(np.array([x, miny - 200]), np.array([x + rng.uniform(-400, 400), maxy + 200]), rng,
                        amp=150)
        out.append(("arterial", names[3 + i], line))
    result = []
    for i, (cls, (en, zh), line) in enumerate(out):
        g = _as_multiline(shapely.intersection(line, district))
        if g is not None:
            result.append({"code": f"R{i + 1:03d}", "name": f"{en} {zh}", "road_class": cls, "geom": g,
                           "attrs": {"lanes": int(rng.choice([4, 6, 8])), "speed_kmh": 60}})
    edge = district.boundary.buffer(5)
    comm = shapely.union_all([u.geom.boundary for u in units if u.level == 3])
    comm = shapely.line_merge(shapely.difference(comm, edge))
    grid_lines = shapely.union_all([u.geom.boundary for u in units if u.level == 4])
    grid_lines = shapely.line_merge(shapely.difference(grid_lines, shapely.union_all([edge, comm.buffer(3)])))
    n = len(result)
    for j, part in enumerate(p for p in shapely.get_parts(comm) if p.length > 150):
        stem = COMMUNITY_STEMS[j % len(COMMUNITY_STEMS)]
        n += 1
        result.append({"code": f"R{n:03d}", "name": f"{stem[0]} Road {j // len(COMMUNITY_STEMS) + 1} {stem[1]}路",
                       "road_class": "secondary", "geom": shapely.MultiLineString([part]),
                       "attrs": {"lanes": 2, "speed_kmh": 40}})
    branches = [p for p in shapely.get_parts(grid_lines) if p.length > 120]
    keep = rng.random(len(branches)) < 0.55
    for j, part in enumerate(p for p, kp in zip(branches, keep, strict=True) if kp):
        n += 1
        result.append({"code": f"R{n:03d}", "name": f"Lane {j + 1} 巷{j + 1}", "road_class": "branch",
                       "geom": shapely.MultiLineString([part]), "attrs": {"lanes": 1, "speed_kmh": 20}})
    return result


_ROAD_CLEARANCE = {"arterial": 22.0, "secondary": 12.0, "branch": 8.0}


def buildings(rng: np.random.Generator, district: Polygon, road_list: list[dict], *,
              n: int = 3500, avoid: shapely.Geometry | None = None) -> list[dict]:
    """Footprints on a jittered 70 m lattice (no overlaps by construction), clear of roads and water."""
    minx, miny, maxx, maxy = district.bounds
    step = 70.0
    xs, ys = np.meshgrid(np.arange(minx + step / 2, maxx, step), np.arange(miny + step / 2, maxy, step))
    cx = xs.ravel() + rng.uniform(-6, 6, xs.size)
    cy = ys.ravel() + rng.uniform(-6, 6, xs.size)
    blocked = shapely.union_all([shapely.buffer(r["geom"], _ROAD_CLEARANCE[r["road_class"]]) for r in road_list])
    if avoid is not None:
        blocked = shapely.union_all([blocked, avoid])
    inner = district.buffer(-30)
    shapely.prepare(inner)
    shapely.prepare(blocked)
    ok = shapely.contains_xy(inner, cx, cy) & ~shapely.intersects_xy(blocked, cx, cy)
    idx = np.flatnonzero(ok)
    idx = rng.permutation(idx)[:n]
    idx.sort()
    out: list[dict] = []
    uses = np.array(["residential", "commercial", "industrial", "public"])
    for j, i in enumerate(idx):
        w, length = rng.uniform(10, 30), rng.uniform(14, 38)
        ang = np.deg2rad(rng.uniform(-15, 15))
        c, s = np.cos(ang), np.sin(ang)
        corners = np.array([[-length, -w], [length, -w], [length, w], [-length, w]]) / 2
        rot = corners @ np.array([[c, s], [-s, c]])
        poly = Polygon(np.round(rot + np.array([cx[i], cy[i]]), 2))
        if poly.intersects(blocked):
            continue
        use = uses[rng.choice(4, p=[0.62, 0.18, 0.12, 0.08])]
        h = float(np.clip(rng.lognormal(np.log(18 if use == "residential" else 12), 0.6), 4, 150))
        out.append({"code": f"B{j + 1:05d}", "height_m": round(h, 1), "geom": poly,
                    "attrs": {"floors": max(1, round(h / 3)), "use": str(use)}})
    return out


def features(rng: np.random.Generator, district: Polygon, road_list: list[dict]) -> dict:
    """Hotspot features: basins, underpasses, activity centres, a river and a creek (metres)."""
    minx, miny, maxx, maxy = district.bounds
    inner = district.buffer(-400)
    shapely.prepare(inner)
    river = _sinuous(np.array([minx - 300, miny + 0.18 * (maxy - miny)]),
                     np.array([maxx + 300, miny + 0.12 * (maxy - miny)]), rng, amp=250, n=120)
    cxr = minx + rng.uniform(0.35, 0.65) * (maxx - minx)
    creek = _sinuous(np.array([cxr, maxy + 300]), np.array([cxr + rng.uniform(-600, 600), miny + 0.15 * (maxy - miny)]),
                     rng, amp=200, n=80)
    water = shapely.union_all([river.buffer(25), creek.buffer(8)])
    basins = []
    tries = 0
    while len(basins) < 8 and tries < 500:
        tries += 1
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if not inner.contains(Point(x, y)) or water.distance(Point(x, y)) < 250:
            continue
        if any(np.hypot(x - b["x"], y - b["y"]) < 700 for b in basins):
            continue
        basins.append({"x": x, "y": y, "sigma_m": rng.uniform(110, 220), "depth_m": rng.uniform(1.2, 2.4),
                       "name": f"Low-lying area {len(basins) + 1} 低洼点{len(basins) + 1}"})
    arterials = [r for r in road_list if r["road_class"] == "arterial"]
    underpasses = []
    for i, r in enumerate(arterials[:4]):
        line = max(shapely.get_parts(r["geom"]), key=lambda g: g.length)
        d = rng.uniform(0.3, 0.7) * line.length
        p, q = line.interpolate(d), line.interpolate(d + 10)
        underpasses.append({"x": p.x, "y": p.y, "angle_rad": float(np.arctan2(q.y - p.y, q.x - p.x)),
                            "depth_m": rng.uniform(3.0, 4.0),
                            "name": f"{r['name'].split(' ')[0]} underpass {i + 1} 下穿隧道"})
    centres = []
    for kind, n in (("commercial", 4), ("nightlife", 2), ("construction", 3), ("school", 3)):
        for _ in range(n):
            while True:
                x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
                if inner.contains(Point(x, y)):
                    break
            centres.append({"x": x, "y": y, "kind": kind})
    return {"basins": basins, "underpasses": underpasses, "centres": centres, "river": river, "creek": creek,
            "water": water}


def layout(rng: np.random.Generator, *, grids: int = 220, communities: int = 20,
           n_buildings: int = 3500) -> Layout:
    """The whole district geometry for one generator state."""
    district = outline(rng)
    units = hierarchy(rng, district, grids=grids, communities=communities)
    road_list = roads(rng, district, units)
    feat = features(rng, district, road_list)
    blds = buildings(rng, district, road_list, n=n_buildings, avoid=feat["water"].buffer(10))
    return Layout(outline=district, units=units, roads=road_list, buildings=blds, basins=feat["basins"],
                  underpasses=feat["underpasses"], centres=feat["centres"], river=feat["river"],
                  creek=feat["creek"])
