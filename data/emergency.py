"""Emergency-command demo rows: sensitive sites (POIs), equipment and stock, shelters.

Built from the generated demo frames (EPSG:4326), deterministic for a seed:

* schools, hospitals and care homes on ``public`` buildings (``poi`` rows, source ``demo``);
* shelters (``asset_type='shelter'``, ``attrs.capacity``) on other public buildings;
* equipment depots along the arterial roads: pumps and sandbags (water), barriers (traffic),
  rescue vehicles and generators (safety), each with ``attrs.quantity`` and ``attrs.unit``.

They are written apart from the base demo tables (the asset count of the demo stays as documented).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

#: kind, how many, name
SITES = [("school", 6, "Primary school 小学"), ("hospital", 2, "Hospital 医院"),
         ("nursing_home", 4, "Care home 养老院")]
SHELTERS = 6
#: asset type, department code, (min, max) quantity, unit, name
EQUIPMENT = [("pump", "water", (2, 6), "pumps", "Mobile pumps 移动泵"),
             ("sandbags", "water", (300, 2000), "bags", "Sandbag stock 沙袋"),
             ("barrier", "traffic", (20, 80), "barriers", "Road barriers 路障"),
             ("vehicle", "safety", (1, 3), "vehicles", "Rescue vehicles 抢险车"),
             ("generator", "safety", (1, 2), "generators", "Generators 发电机")]
DEPOTS = 10


def frames(base: dict[str, pd.DataFrame], *, seed: int = 42) -> dict[str, pd.DataFrame]:
    """``{"poi": ..., "emergency_asset": ...}`` for the demo ``base`` frames (asset ids continue after theirs)."""
    rng = np.random.default_rng([seed, 16])
    b = base["building"]
    public = b[[(a or {}).get("use") == "public" for a in b["attrs"]]]
    order = rng.permutation(len(public))
    centroids = shapely.centroid(public["geom"].to_numpy()[order])
    pois, i = [], 0
    for kind, n, label in SITES:
        for k in range(n):
            if i >= len(centroids):
                break
            pois.append({"source": "demo", "osm_id": None, "kind": kind, "name": f"{label} {k + 1}",
                         "geom": centroids[i], "attrs": {}})
            i += 1
    dept = dict(zip(base["department"]["code"], base["department"]["id"], strict=True))
    next_id = int(base["asset"]["id"].max()) + 1
    assets = []
    for k in range(SHELTERS):
        if i >= len(centroids):
            break
        cap = int(rng.integers(200, 1500))
        assets.append({"code": f"SH{k + 1:03d}", "asset_type": "shelter", "name": f"Shelter 避难场所 {k + 1}",
                       "department_id": dept.get("civil"), "status": "ok", "geom": centroids[i],
                       "attrs": {"capacity": cap, "occupancy": 0}})
        i += 1
    roads = base["road"]
    arterial = roads[[c == "arterial" for c in roads["road_class"]]]
    lines = shapely.get_parts(arterial["geom"].to_numpy())
    for d in range(DEPOTS):
        line = lines[rng.integers(len(lines))]
        at = line.interpolate(rng.uniform(0.1, 0.9), normalized=True)
        for atype, dcode, (lo, hi), unit, label in EQUIPMENT:
            if rng.random() < 0.3:
                continue
            assets.append({"code": f"EQ{d + 1:02d}{atype[:3].upper()}", "asset_type": atype,
                           "name": f"{label} (depot {d + 1})", "department_id": dept.get(dcode), "status": "ok",
                           "geom": at, "attrs": {"quantity": int(rng.integers(lo, hi + 1)), "unit": unit,
                                                 "depot": d + 1}})
    ea = pd.DataFrame(assets)
    ea.insert(0, "id", np.arange(next_id, next_id + len(ea)))
    ea["grid_id"] = None
    return {"poi": pd.DataFrame(pois), "emergency_asset": ea}
