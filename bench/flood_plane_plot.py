"""Hydrograph of the rain-fed tilted plane (tests/flood/test_numerics.py) against the kinematic wave.

Draws the outflow [m2/s per unit width] with the current time step, with the old depth-only step
(``alpha dx / sqrt(g h_max)``) and the kinematic-wave solution, as a PNG (Pillow; no matplotlib here).

    .venv/bin/python bench/flood_plane_plot.py --out docs/screenshots/flood_plane_hydrograph.png
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from flood_model.solver import LocalInertialSolver

S, N, RAIN, LENGTH, DX = 0.05, 0.015, 100.0 / 3.6e6, 100.0, 2.0
T_E = (LENGTH * N * RAIN ** (-2 / 3) * S ** -0.5) ** 0.6


def run(old_step: bool) -> tuple[np.ndarray, np.ndarray]:
    ny = round(LENGTH / DX)
    z = np.tile((np.arange(ny)[::-1] + 0.5)[:, None] * DX * S, (1, 3))
    s = LocalInertialSolver(z, dx=DX, manning=N, boundaries={"south": "open"})
    ts, qs, t_end = [0.0], [0.0], 2 * T_E
    while s.t < t_end - 1e-9:
        dt = min(5.0, 0.5 * DX / math.sqrt(9.81 * max(float(s.h.max()), 1e-12))) if old_step else s.stable_dt()
        r = s.step(min(dt, t_end - s.t), source=RAIN)
        ts.append(s.t)
        qs.append(r.outflow / r.dt / (3 * DX))
    return np.array(ts), np.array(qs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("docs/screenshots/flood_plane_hydrograph.png"))
    a = ap.parse_args()
    w, h, m = 900, 460, 60
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    t_max, q_max = 2 * T_E, 2.2 * RAIN * LENGTH

    def xy(t: np.ndarray, q: np.ndarray) -> list[tuple[float, float]]:
        return list(zip(m + t / t_max * (w - 2 * m), h - m - np.minimum(q, q_max) / q_max * (h - 2 * m),
                        strict=True))

    d.rectangle([m, m, w - m, h - m], outline="black")
    for k in range(5):
        t = k * t_max / 4
        d.text((m + k * (w - 2 * m) / 4 - 10, h - m + 8), f"{t:.0f} s", fill="black")
    for k in range(3):
        q = k * RAIN * LENGTH
        d.text((5, h - m - q / q_max * (h - 2 * m) - 6), f"{k} iL", fill="black")
    t = np.linspace(0, t_max, 400)
    d.line(xy(t, np.minimum(np.sqrt(S) / N * (RAIN * t) ** (5 / 3), RAIN * LENGTH)), fill=(0, 0, 0), width=3)
    for old, colour in ((True, (220, 60, 60)), (False, (30, 90, 200))):
        d.line(xy(*run(old)), fill=colour, width=2)
    d.text((m + 10, m + 8), "tilted plane 100 m, S 0.05, n 0.015, 100 mm/h, dx 2 m (Fr 2); outflow per unit width",
           fill="black")
    d.text((m + 10, m + 24), "black: kinematic wave   blue: new time step   red: old depth-only step",
           fill="black")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    img.save(a.out)
    print(a.out)


if __name__ == "__main__":
    main()
