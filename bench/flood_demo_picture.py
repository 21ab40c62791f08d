"""Depth map picture of a flood forecast on the demo district's DEM (Pillow + numpy, no matplotlib).

Max depth as a blue ramp (the planner's legend classes) over a hillshade of the
DEM, street outlines and the basins/underpasses the generator designed, plus
the figures quoted in docs/data.md: max depth, area >= 0.15 m, ponds.

    .venv/bin/python -m data.load ...  # or: DEM from data._dem.make_dem (below, --write-dem)
    .venv/bin/python bench/flood_demo_picture.py --write-dem /tmp/fd/dem.tif
    .venv/bin/onemap flood run --dem /tmp/fd/dem.tif --storm huangpu --return-period 20 \\
        --duration 60min --after 30min --drainage 20 --out /tmp/fd/run --quiet
    .venv/bin/python bench/flood_demo_picture.py --dem /tmp/fd/dem.tif --run /tmp/fd/run \\
        --out docs/screenshots/flood_demo_depth.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import rasterio
import shapely
from PIL import Image, ImageDraw
from rasterio.features import rasterize, shapes

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data import _dem, _geometry

#: planner legend: lower bound of each class [m] and its colour
CLASSES = [(0.05, (198, 219, 239)), (0.15, (107, 174, 214)), (0.30, (33, 113, 181)),
           (0.50, (8, 69, 148)), (1.00, (37, 37, 80))]


def hillshade(z: np.ndarray, cell: float, azimuth: float = 315.0, altitude: float = 45.0,
              exaggeration: float = 8.0) -> np.ndarray:
    """Hillshade in [0, 1] (vertical exaggeration so a 0.3 % plain still shows relief)."""
    gy, gx = np.gradient(z * exaggeration, cell)
    slope = np.arctan(np.hypot(gx, gy))
    aspect = np.arctan2(-gx, gy)
    az, alt = np.radians(360.0 - azimuth + 90.0), np.radians(altitude)
    shade = np.sin(alt) * np.cos(slope) + np.cos(alt) * np.sin(slope) * np.cos(az - aspect)
    return np.clip(shade, 0, 1)


def ponds(depth: np.ndarray, transform, threshold: float = 0.15, min_cells: int = 1) -> int:
    """Number of distinct (8-connected) wet patches deeper than ``threshold``."""
    wet = (np.nan_to_num(depth) >= threshold).astype(np.uint8)
    return sum(1 for geom, v in shapes(wet, mask=wet.astype(bool), connectivity=8, transform=transform)
               if v == 1 and shapely.geometry.shape(geom).area >= min_cells * abs(transform.a * transform.e))


def figures(depth: np.ndarray, transform, designed: np.ndarray, channel: np.ndarray) -> dict:
    d = np.nan_to_num(depth)
    cell_area = abs(transform.a * transform.e)
    land = ~channel
    return {
        "max_depth_m": round(float(d.max()), 3),
        "max_depth_land_m": round(float(d[land].max()), 3),
        "max_depth_outside_designed_m": round(float(d[land & ~designed].max()), 3),
        "area_ge_0.15m_ha": round(float((d >= 0.15).sum() * cell_area / 1e4), 1),
        "area_ge_0.15m_land_ha": round(float(((d >= 0.15) & land).sum() * cell_area / 1e4), 1),
        "area_ge_0.15m_in_designed_ha": round(float(((d >= 0.15) & designed).sum() * cell_area / 1e4), 1),
        "ponds_ge_0.15m": ponds(d, transform),
        "ponds_ge_0.15m_land_ge_5_cells": ponds(np.where(land, d, 0), transform, min_cells=5),
        "ponds_ge_0.30m_land_ge_0.5ha": ponds(np.where(land, d, 0), transform, threshold=0.30,
                                              min_cells=int(5000 / cell_area)),
        "p50_p90_p99_wet_land_m": [round(float(q), 3) for q in
                                   np.percentile(d[land & (d >= 0.05)], [50, 90, 99])] if (land & (d >= 0.05)).any()
        else None,
    }


def picture(z: np.ndarray, depth: np.ndarray, lay: _geometry.Layout, transform, out: Path, scale: int = 1,
            legend: bool = True) -> None:
    shade = 0.35 + 0.65 * hillshade(z, abs(transform.a))
    rgb = np.repeat((shade * 235)[..., None], 3, axis=2)
    d = np.nan_to_num(depth)
    for lo, colour in CLASSES:
        rgb[d >= lo] = 0.25 * rgb[d >= lo] + 0.75 * np.array(colour)
    shape = z.shape
    streets = [u.geom.boundary for u in lay.units if u.level <= 2]
    line = rasterize([(g, 1) for g in streets], out_shape=shape, transform=transform, all_touched=True)
    rgb[line == 1] = (60, 60, 60)
    roads = rasterize([(r["geom"], 1) for r in lay.roads if r["road_class"] == "arterial"], out_shape=shape,
                      transform=transform)
    rgb[(roads == 1) & (d < 0.05)] = 0.5 * rgb[(roads == 1) & (d < 0.05)] + 0.5 * np.array((200, 120, 60))
    img = Image.fromarray(rgb.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    inv = ~transform
    for b in lay.basins:  # designed basins: red circle at 1 sigma
        c, r = inv * (b["x"], b["y"])
        rad = b["sigma_m"] / abs(transform.a)
        draw.ellipse([c - rad, r - rad, c + rad, r + rad], outline=(220, 30, 30))
    for u in lay.underpasses:  # underpasses: red square
        c, r = inv * (u["x"], u["y"])
        draw.rectangle([c - 9, r - 9, c + 9, r + 9], outline=(220, 30, 30))
    x0, y0 = 8, 8
    if legend:
        draw.rectangle([x0 - 4, y0 - 4, x0 + 150, y0 + 16 * len(CLASSES) + 22], fill=(255, 255, 255))
        draw.text((x0, y0), "max water depth", fill=(0, 0, 0))
        for i, (lo, colour) in enumerate(CLASSES):
            hi = CLASSES[i + 1][0] if i + 1 < len(CLASSES) else None
            yy = y0 + 16 * (i + 1)
            draw.rectangle([x0, yy, x0 + 12, yy + 11], fill=colour)
            draw.text((x0 + 18, yy), f"{lo:.2f}-{hi:.2f} m" if hi else f">= {lo:.2f} m", fill=(0, 0, 0))
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.LANCZOS)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--write-dem", type=Path, help="write the demo DEM for --seed here and exit")
    ap.add_argument("--dem", type=Path)
    ap.add_argument("--run", type=Path, help="output directory of 'onemap flood run' (max_depth.tif)")
    ap.add_argument("--out", type=Path, default=Path("docs/screenshots/flood_demo_depth.png"))
    a = ap.parse_args(argv)
    lay = _geometry.layout(np.random.default_rng(a.seed))
    if a.write_dem:
        _dem.make_dem(np.random.default_rng([a.seed, 1]), lay).write(a.write_dem)
        print(a.write_dem)
        return
    with rasterio.open(a.dem) as src:
        z, transform = src.read(1).astype(np.float64), src.transform
    with rasterio.open(a.run / "max_depth.tif") as src:
        depth = src.read(1)
    designed = _dem.designed_depressions(lay, transform, z.shape)
    channel = np.zeros(z.shape, bool)
    for water, width in ((lay.river, 60.0), (lay.creek, 25.0)):
        if water is not None:
            channel |= rasterize([(water.buffer(width), 1)], out_shape=z.shape, transform=transform).astype(bool)
    summary = json.loads((a.run / "summary.json").read_text())
    print(json.dumps({"wall_s": summary.get("wall_s"), **figures(depth, transform, designed, channel)}, indent=1))
    picture(z, depth, lay, transform, a.out)
    print(a.out, a.out.stat().st_size // 1024, "KB")


if __name__ == "__main__":
    main()
