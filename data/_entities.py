"""Demo workers, assets, cameras and sensors (with readings), in EPSG:32649 metres.

Each function takes the generator and the layout-derived :class:`data._tickets.Places`
and returns plain lists of dicts / arrays; :mod:`data.demo` converts them to
EPSG:4326 rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import shapely

from data._tickets import Places, in_grids, on_roads
from data.catalog import DEPARTMENT_SKILLS, DEPARTMENT_WORKERS

SURNAMES = [("王", "Wang"), ("李", "Li"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen"), ("杨", "Yang"),
            ("黄", "Huang"), ("赵", "Zhao"), ("吴", "Wu"), ("周", "Zhou"), ("徐", "Xu"), ("孙", "Sun"),
            ("马", "Ma"), ("朱", "Zhu"), ("胡", "Hu"), ("郭", "Guo"), ("何", "He"), ("林", "Lin"),
            ("罗", "Luo"), ("梁", "Liang"), ("谢", "Xie"), ("邓", "Deng"), ("冯", "Feng"), ("曾", "Zeng")]
GIVEN = [("伟", "Wei"), ("芳", "Fang"), ("娜", "Na"), ("敏", "Min"), ("静", "Jing"), ("丽", "Li"),
         ("强", "Qiang"), ("磊", "Lei"), ("军", "Jun"), ("洋", "Yang"), ("勇", "Yong"), ("艳", "Yan"),
         ("杰", "Jie"), ("涛", "Tao"), ("明", "Ming"), ("超", "Chao"), ("秀英", "Xiuying"), ("华", "Hua"),
         ("建国", "Jianguo"), ("志强", "Zhiqiang"), ("晓东", "Xiaodong"), ("海燕", "Haiyan"), ("文", "Wen"),
         ("婷", "Ting"), ("斌", "Bin"), ("宇", "Yu"), ("嘉怡", "Jiayi"), ("子轩", "Zixuan")]


def person_names(rng: np.random.Generator, n: int) -> list[str]:
    s = rng.integers(0, len(SURNAMES), n)
    g = rng.integers(0, len(GIVEN), n)
    return [f"{SURNAMES[a][0]}{GIVEN[b][0]} {SURNAMES[a][1]} {GIVEN[b][1]}" for a, b in zip(s, g, strict=True)]


def phones(rng: np.random.Generator, n: int) -> list[str]:
    prefix = rng.choice(["138", "139", "135", "136", "150", "158", "186", "188", "177", "199"], n)
    return [f"{p}{int(x):08d}" for p, x in zip(prefix, rng.integers(0, 10 ** 8, n), strict=True)]


def workers(rng: np.random.Generator, pl: Places, grid_codes: list[str], *, n: int = 300,
            now: datetime) -> list[dict]:
    """Grid workers (one per one-two grids) and department handlers; ~60 % on duty with a fresh fix."""
    total = sum(DEPARTMENT_WORKERS.values())
    counts = {d: max(1, round(c * n / total)) for d, c in DEPARTMENT_WORKERS.items()}
    counts["grid"] += n - sum(counts.values())
    names = person_names(rng, n)
    tel = phones(rng, n)
    centroids = np.array([[g.centroid.x, g.centroid.y] for g in pl.grid_geoms])
    out: list[dict] = []
    k = 0
    grid_cycle = rng.permutation(len(grid_codes))
    for dept, cnt in counts.items():
        skills = DEPARTMENT_SKILLS[dept]
        depot = centroids[rng.integers(0, len(centroids))]
        for j in range(cnt):
            if dept == "grid":
                gi = int(grid_cycle[j % len(grid_cycle)])
            else:  # handlers live around a department depot
                d = np.hypot(*(centroids - depot).T) + rng.uniform(0, 1500, len(centroids))
                gi = int(np.argmin(d))
            own = {skills[j % len(skills)]}
            extra = rng.integers(0, min(3, len(skills)))
            own.update(rng.choice(skills, size=extra, replace=False).tolist())
            if dept == "grid":
                own.add("inspection")
            on = bool(rng.random() < 0.6)
            home = _in_grids_one(rng, pl, gi)
            out.append({
                "code": f"W{k + 1:04d}", "name": names[k], "phone": tel[k], "department": dept,
                "home_grid": grid_codes[gi], "home_xy": home, "skills": sorted(own), "on_duty": on,
                "max_workload": 6 if dept == "grid" else 8,
                "attrs": {"team": f"{dept}-{j // 10 + 1}", "vehicle": str(rng.choice(["e-bike", "van", "foot"]))},
            })
            k += 1
    for w in out:  # current position
        if w["on_duty"]:
            w["xy"] = _jitter_inside(rng, pl, w["home_xy"], 250.0)
            w["position_at"] = now - timedelta(seconds=float(rng.uniform(5, 240)))
            w["accuracy_m"] = round(float(rng.uniform(3, 15)), 1)
        elif rng.random() < 0.7:
            w["xy"] = _jitter_inside(rng, pl, w["home_xy"], 400.0)
            w["position_at"] = now - timedelta(hours=float(rng.uniform(2, 16)))
            w["accuracy_m"] = round(float(rng.uniform(5, 30)), 1)
        else:
            w["xy"], w["position_at"], w["accuracy_m"] = None, None, None
    return out


def _in_grids_one(rng: np.random.Generator, pl: Places, gi: int) -> np.ndarray:
    g = pl.grid_geoms[gi]
    minx, miny, maxx, maxy = g.bounds
    while True:
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if shapely.contains_xy(g, x, y):
            return np.array([x, y])


def _jitter_inside(rng: np.random.Generator, pl: Places, xy: np.ndarray, radius: float) -> np.ndarray:
    for _ in range(50):
        p = xy + rng.normal(0, radius / 2, 2)
        if shapely.contains_xy(pl.district, p[0], p[1]):
            return p
    return np.array(xy)


def trail(rng: np.random.Generator, end_xy: np.ndarray, end_at: datetime, *, minutes: int = 30,
          step_s: int = 60) -> list[tuple[datetime, float, float]]:
    """A walked GPS trail ending at ``end_xy`` at ``end_at`` (oldest first)."""
    n = minutes * 60 // step_s
    steps = rng.normal(0, 25, (n, 2)).cumsum(axis=0)
    steps -= steps[-1]
    return [(end_at - timedelta(seconds=step_s * (n - 1 - i)), end_xy[0] + dx, end_xy[1] + dy)
            for i, (dx, dy) in enumerate(steps)]


ASSET_TYPES = [  # type, count share, department, placement, name
    ("manhole_cover", 0.35, "water", "roads", "Manhole cover 井盖"),
    ("street_light", 0.25, "urban", "roads", "Street light 路灯"),
    ("fire_hydrant", 0.10, "safety", "roads", "Fire hydrant 消防栓"),
    ("trash_bin", 0.15, "urban", "grids", "Trash bin 垃圾桶"),
    ("bus_stop", 0.04, "traffic", "arterial", "Bus stop 公交站"),
    ("public_toilet", 0.02, "urban", "grids", "Public toilet 公厕"),
    ("traffic_signal", 0.04, "traffic", "arterial", "Traffic signal 信号灯"),
    ("old_tree", 0.05, "greening", "grids", "Registered old tree 古树"),
]


def assets(rng: np.random.Generator, pl: Places, *, n: int = 1000) -> list[dict]:
    shares = np.array([a[1] for a in ASSET_TYPES])
    counts = np.floor(shares / shares.sum() * n).astype(int)
    counts[0] += n - counts.sum()
    out: list[dict] = []
    for (atype, _, dept, where, label), cnt in zip(ASSET_TYPES, counts, strict=True):
        if where == "grids":
            xy = in_grids(rng, pl, cnt)
        else:
            xy = on_roads(rng, pl, cnt, "arterial" if where == "arterial" else None)
        for i in range(cnt):
            status = str(rng.choice(["ok", "damaged", "missing"], p=[0.95, 0.04, 0.01]))
            out.append({"code": f"{atype[:2].upper()}{len(out) + 1:05d}", "asset_type": atype,
                        "name": f"{label} #{i + 1}", "department": dept, "status": status, "xy": xy[i],
                        "attrs": {"install_year": int(rng.integers(1995, 2025)),
                                  "material": str(rng.choice(["cast_iron", "composite", "concrete", "steel"]))}})
    return out


def cameras(rng: np.random.Generator, pl: Places, road_names: list[str], *, n: int = 100) -> list[dict]:
    """Cameras along the roads (70 % on arterials) looking along the carriageway."""
    n_art = int(0.7 * n)
    out: list[dict] = []
    for i in range(n):
        cls = "arterial" if i < n_art else None
        sel = [k for k, c in enumerate(pl.road_class) if cls is None or c == cls]
        lengths = np.array([pl.road_lines[k].length for k in sel])
        ri = sel[rng.choice(len(sel), p=lengths / lengths.sum())]
        line = pl.road_lines[ri]
        d = rng.uniform(0.05, 0.95) * line.length
        p, q = line.interpolate(d), line.interpolate(min(line.length, d + 5))
        heading = (np.degrees(np.arctan2(q.x - p.x, q.y - p.y)) + (0 if rng.random() < 0.5 else 180)) % 360
        code = f"CAM{i + 1:03d}"
        xy = np.array([p.x, p.y]) + rng.normal(0, 4, 2)
        if not shapely.contains_xy(pl.district, xy[0], xy[1]):
            xy = np.array([p.x, p.y])
        out.append({"code": code, "name": f"{road_names[ri].split(' ')[0]} camera {i + 1} 摄像头{i + 1}",
                    "xy": xy, "heading_deg": round(float(heading), 1) % 360,
                    "fov_deg": float(rng.choice([60, 75, 90])), "range_m": float(rng.choice([60, 80, 120])),
                    "stream_url": f"rtsp://demo.invalid/cam/{code}",
                    "snapshot_url": f"https://demo.invalid/cam/{code}/snapshot.jpg",
                    "status": "offline" if rng.random() < 0.04 else "online",
                    "attrs": {"ai": bool(rng.random() < 0.5), "vendor": "demo"}})
    return out


SENSOR_TYPES = {  # type: (count, unit, thresholds)
    "water_level": (15, "m", {"yellow": 0.15, "orange": 0.27, "red": 0.40, "hysteresis": 0.03,
                              "min_duration_s": 300, "rate_of_rise_per_h": 0.20, "offline_after_s": 1800}),
    "rain_gauge": (8, "mm/h", {"yellow": 20.0, "orange": 35.0, "red": 50.0, "hysteresis": 3.0,
                               "min_duration_s": 600, "rate_of_rise_per_h": None, "offline_after_s": 1800}),
    "air_quality": (8, "ug/m3", {"yellow": 75.0, "orange": 115.0, "red": 150.0, "hysteresis": 10.0,
                                 "min_duration_s": 3600, "rate_of_rise_per_h": None, "offline_after_s": 7200}),
    "noise": (9, "dB", {"yellow": 65.0, "orange": 70.0, "red": 80.0, "hysteresis": 3.0,
                        "min_duration_s": 600, "rate_of_rise_per_h": None, "offline_after_s": 3600}),
    "smoke": (6, "binary", {"yellow": None, "orange": None, "red": 1, "hysteresis": 0,
                            "min_duration_s": 0, "rate_of_rise_per_h": None, "offline_after_s": 3600}),
    "door": (4, "binary", {"yellow": None, "orange": 1, "red": None, "hysteresis": 0,
                           "min_duration_s": 600, "rate_of_rise_per_h": None, "offline_after_s": 3600}),
}


def sensors(rng: np.random.Generator, pl: Places, *, n: int = 50, now: datetime, days: int = 3,
            step_min: int = 10) -> tuple[list[dict], list[tuple[int, datetime, float]]]:
    """Sensors (water levels in the basins and underpasses) and ``days`` of readings every ``step_min``.

    A storm 30-33 h before ``now`` drives the rain gauges and water levels, so
    the history shows a rise and recession. Returns (sensors, readings) with
    readings as (sensor index, observed_at UTC, value).
    """
    total = sum(v[0] for v in SENSOR_TYPES.values())
    scale = n / total
    spots = [(b["x"], b["y"], 0.3 * b["sigma_m"]) for b in pl.basins] + \
            [(u["x"], u["y"], 10.0) for u in pl.underpasses]
    out: list[dict] = []
    for stype, (cnt, unit, thr) in SENSOR_TYPES.items():
        cnt = max(1, round(cnt * scale)) if stype != "water_level" else max(1, n - sum(
            max(1, round(v[0] * scale)) for k, v in SENSOR_TYPES.items() if k != "water_level"))
        for i in range(cnt):
            if stype == "water_level":
                sx, sy, s = spots[i % len(spots)]
                xy = np.array([sx, sy]) + rng.normal(0, s, 2)
                if not shapely.contains_xy(pl.district, *xy):
                    xy = np.array([sx, sy])
                sink = 1.0 if i < len(spots) else 0.5
            elif stype in ("rain_gauge", "air_quality"):
                xy, sink = in_grids(rng, pl, 1)[0], 0.0
            else:
                xy, sink = on_roads(rng, pl, 1)[0], 0.0
                if not shapely.contains_xy(pl.district, *xy):
                    xy = in_grids(rng, pl, 1)[0]
            code = f"{stype[:2].upper()}{len(out) + 1:03d}"
            out.append({"code": code, "sensor_type": stype, "unit": unit, "thresholds": dict(thr), "xy": xy,
                        "name": f"{stype.replace('_', ' ').title()} sensor {i + 1}", "sink": sink,
                        "status": "online", "attrs": {"vendor": "demo", "protocol": "mqtt"},
                        "private": stype == "door"})  # at an elderly person's home: staff-only
    # readings
    end = now.astimezone(UTC).replace(second=0, microsecond=0)
    end -= timedelta(minutes=end.minute % step_min)
    times = [end - timedelta(minutes=step_min * k) for k in range(days * 24 * 60 // step_min)][::-1]
    th = np.array([(t - end).total_seconds() / 3600.0 for t in times])  # hours relative to end (<= 0)
    storm = np.exp(-0.5 * ((th + 31.5) / 0.8) ** 2)  # rain pulse ~31 h ago
    readings: list[tuple[int, datetime, float]] = []
    local_h = np.array([(t.hour + 8) % 24 for t in times])
    offline = set(rng.choice(len(out), size=2, replace=False).tolist())
    for si, s in enumerate(out):
        st = s["sensor_type"]
        if st == "rain_gauge":
            v = np.clip(55 * storm * rng.uniform(0.7, 1.2) + rng.exponential(0.3, len(th)) * (storm > 0.05), 0, None)
        elif st == "water_level":
            resp = np.convolve(storm, np.exp(-np.arange(36) / 8.0), mode="full")[: len(th)]
            v = np.clip(0.02 + s["sink"] * rng.uniform(0.08, 0.1) * resp + rng.normal(0, 0.005, len(th)), 0, None)
        elif st == "air_quality":
            v = np.clip(35 + 15 * np.sin((local_h - 8) / 24 * 2 * np.pi) + rng.normal(0, 6, len(th))
                        - 20 * storm, 3, None)
        elif st == "noise":
            day = ((local_h >= 7) & (local_h < 22)).astype(float)
            v = 48 + 14 * day + rng.normal(0, 3, len(th))
        elif st == "smoke":
            v = np.zeros(len(th))
        else:  # door: opened now and then for a few minutes
            v = (rng.random(len(th)) < 0.02).astype(float)
        v = np.round(v, 3)
        keep = len(times) - (18 if si in offline else 0)  # offline: silent for the last 3 h
        readings.extend((si, times[k], float(v[k])) for k in range(keep))
        s["last_value"] = float(v[keep - 1])
        s["last_reading_at"] = times[keep - 1]
        s["status"] = "offline" if si in offline else "online"
    return out, readings
