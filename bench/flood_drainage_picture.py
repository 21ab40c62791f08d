"""The demo forecast with and without the pipe network, side by side (docs/flood.md, issue 17).

Planner settings: demo DEM at 30 m, Huangpu 20-year 60-minute Chicago storm + 30 min, no
infiltration; left the uniform 20 mm/h sewer rate, right the demo network coupled through SWMM
(pipes brown, width by size, surcharged manholes red, outfalls teal). Prints flooded area and
warned roads/grids of both.

    PYTHONPATH=. .venv/bin/python bench/flood_drainage_picture.py --out docs/screenshots/flood_network_compare.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.flood_demo_picture import CLASSES, picture
from data import _dem, _geometry
from data.drainage import demo_network
from data.load import dem_path
from flood_model import design_storm, load_dem, run_forecast

SCALE = 3  # the 30 m grid is 215 x 249 cells: draw each cell as 3 x 3 pixels


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cell", type=float, default=30.0)
    ap.add_argument("--out", type=Path, default=Path("docs/screenshots/flood_network_compare.png"))
    a = ap.parse_args(argv)
    lay = _geometry.layout(np.random.default_rng(42))
    with rasterio.open(dem_path()) as src:
        net = demo_network(lay, _dem.Dem(src.read(1), src.transform))
    grid = load_dem(dem_path(), resolution=a.cell)
    crs = f"EPSG:{_geometry.METRIC_EPSG}"
    roads = gpd.GeoDataFrame({"id": [r["code"] for r in lay.roads], "name": [r["name"] for r in lay.roads]},
                             geometry=[r["geom"] for r in lay.roads], crs=crs)
    grids = [u for u in lay.units if u.level == max(v.level for v in lay.units)]
    grids = gpd.GeoDataFrame({"id": [u.code for u in grids], "name": [u.name for u in grids]},
                             geometry=[u.geom for u in grids], crs=crs)
    storm = design_storm("huangpu", return_period=20, duration_s=3600)
    runs = {}
    for label, kw in (("uniform sewer 20 mm/h", {"drainage_mm_h": 20.0}), ("pipe network (SWMM)", {"network": net})):
        runs[label] = run_forecast(grid, storm, duration_s=5400, roads=roads, grids=grids, **kw)
    figures = {}
    panels = []
    cell_area = grid.dx * grid.dy
    for label, res in runs.items():
        w = res.warnings
        figures[label] = {
            "wall_s": res.info["wall_s"], "max_depth_m": round(float(np.nanmax(res.max_depth)), 3),
            "area_ge_0.15m_ha": round(float(np.nansum(res.max_depth >= 0.15)) * cell_area / 1e4, 1),
            "area_ge_0.30m_ha": round(float(np.nansum(res.max_depth >= 0.30)) * cell_area / 1e4, 1),
            "roads_warned": int((w.kind == "road").sum()), "grids_warned": int((w.kind == "grid").sum()),
            "roads_red": int(((w.kind == "road") & (w.level == "red")).sum()),
        }
        if "drainage" in res.info:
            d = res.info["drainage"]
            figures[label].update({k: (round(v, 9) if isinstance(v, float) else v) for k, v in d.items()})
        tmp = a.out.with_name(f".panel_{len(panels)}.png")
        picture(np.nan_to_num(grid.z, nan=float(np.nanmin(grid.z))), res.max_depth, lay, res.transform, tmp,
                scale=SCALE, legend=False)
        img = Image.open(tmp).convert("RGB")
        tmp.unlink()
        draw = ImageDraw.Draw(img)
        if "drainage" in res.info:
            inv = ~res.transform
            xy = {n.name: tuple(SCALE * v for v in inv @ (n.x, n.y)) for n in [*net.junctions, *net.outfalls]}
            for c in net.conduits:
                wdt = 1 if c.geom1 < 1.0 else 2
                draw.line([xy[c.from_node], xy[c.to_node]], fill=(120, 60, 20), width=wdt)
            nodes = res.drainage_nodes
            for r in nodes[nodes.max_surcharge_m > 0].itertuples():
                x, y = xy[r.node]
                draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=(220, 20, 20))
            for o in net.outfalls:
                x, y = xy[o.name]
                draw.rectangle([x - 4, y - 4, x + 4, y + 4], fill=(0, 131, 143))
        f = figures[label]
        font = ImageFont.load_default(size=22)
        small = ImageFont.load_default(size=15)
        draw.rectangle([4, 4, 150, 8 + 20 * (len(CLASSES) + 1)], fill=(255, 255, 255))
        draw.text((10, 8), "max water depth", fill=(0, 0, 0), font=small)
        for i, (lo, colour) in enumerate(CLASSES):
            hi = CLASSES[i + 1][0] if i + 1 < len(CLASSES) else None
            yy = 8 + 20 * (i + 1)
            draw.rectangle([10, yy + 2, 24, yy + 15], fill=colour)
            draw.text((30, yy), f"{lo:.2f}-{hi:.2f} m" if hi else f">= {lo:.2f} m", fill=(0, 0, 0), font=small)
        draw.rectangle([0, img.height - 62, img.width, img.height], fill=(255, 255, 255))
        draw.text((8, img.height - 60), f"{label}: {f['area_ge_0.15m_ha']} ha >= 0.15 m", fill=(0, 0, 0), font=font)
        draw.text((8, img.height - 31), f"warned: {f['roads_warned']} roads, {f['grids_warned']} grids"
                  + (f"; {f['surcharged_manholes']} manholes surcharged (red)" if "drainage" in res.info else ""),
                  fill=(0, 0, 0), font=font)
        panels.append(img)
    both = Image.new("RGB", (sum(p.width for p in panels) + 10, max(p.height for p in panels)), (255, 255, 255))
    x = 0
    for p in panels:
        both.paste(p, (x, 0))
        x += p.width + 10
    a.out.parent.mkdir(parents=True, exist_ok=True)
    both.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(a.out, optimize=True)
    (u, n) = (figures[k] for k in runs)
    figures["difference (network - uniform)"] = {
        k: round(n[k] - u[k], 1) for k in ("area_ge_0.15m_ha", "area_ge_0.30m_ha", "roads_warned", "grids_warned",
                                           "roads_red")}
    ru = set(runs["uniform sewer 20 mm/h"].warnings.query("kind == 'road'").feature_id)
    rn = set(runs["pipe network (SWMM)"].warnings.query("kind == 'road'").feature_id)
    figures["roads only warned with the network"] = len(rn - ru)
    figures["roads only warned with the uniform rate"] = len(ru - rn)
    print(json.dumps(figures, indent=1, default=str))
    print(a.out, a.out.stat().st_size // 1024, "KB")


if __name__ == "__main__":
    main()
