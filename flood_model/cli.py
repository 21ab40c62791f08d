"""Command line: ``onemap flood run ...`` (via :func:`add_parser`) or ``python -m flood_model run ...``.

Example::

    onemap flood run --dem dem.tif --storm huangpu --return-period 5 --duration 2h --out out/
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

import numpy as np

from flood_model.errors import FloodModelError, InputError

__all__ = ["add_parser", "main", "parse_duration"]


def parse_duration(text: str) -> float:
    """Parse ``"2h"``, ``"90min"``, ``"45m"``, ``"3600s"`` or ``"3600"`` into seconds."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(h|hr|hours?|min|m|s|sec)?\s*", text or "")
    if not m:
        raise argparse.ArgumentTypeError(f"bad duration {text!r} (use e.g. 2h, 90min, 3600s)")
    v = float(m.group(1))
    unit = (m.group(2) or "s").lower()
    return v * (3600 if unit.startswith("h") else 60 if unit in ("min", "m") else 1)


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _configure_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dem", required=True, help="DEM GeoTIFF (projected CRS, or use --crs)")
    p.add_argument("--out", required=True, help="output directory")
    g = p.add_argument_group("rainfall (one of)")
    g.add_argument("--storm", help="storm-formula preset: huangpu, guangzhou, shenzhen")
    g.add_argument("--storm-params", help="general formula A,C,b,n (q in L/(s*ha), t in min)")
    g.add_argument("--hyetograph", help="CSV of rain depth [mm] per interval (last column or --column)")
    g.add_argument("--column", help="hyetograph CSV column (e.g. p5)")
    g.add_argument("--interval", type=parse_duration, default=60.0, help="hyetograph interval (default 60s)")
    g.add_argument("--intensity", type=float, help="constant intensity [mm/h] over --duration")
    p.add_argument("--return-period", type=float, default=5.0, help="years (default 5)")
    p.add_argument("--duration", type=parse_duration, default=7200.0, help="storm duration (default 2h)")
    p.add_argument("--peak-ratio", type=float, help="Chicago peak position r (default from the preset)")
    p.add_argument("--after", type=parse_duration, default=3600.0, help="simulated time after the rain (1h)")
    p.add_argument("--drainage", type=float, default=0.0, help="sewer capacity [mm/h] (uniform)")
    p.add_argument("--drainage-raster", help="sewer capacity raster [mm/h]")
    p.add_argument("--infiltration", type=float, default=0.0, help="constant infiltration [mm/h]")
    p.add_argument("--curve-number", type=float, help="SCS curve number (replaces --infiltration)")
    p.add_argument("--manning", default="0.03", help="Manning n or a raster path (default 0.03)")
    p.add_argument("--buildings", help="building footprints (any OGR vector) burned in as obstacles")
    p.add_argument("--roads", help="road lines (vector file) for the warnings table")
    p.add_argument("--grids", help="grid polygons (vector file) for the warnings table")
    p.add_argument("--thresholds", type=_floats, default=[0.15, 0.30], help="depth thresholds [m] (0.15,0.30)")
    p.add_argument("--levels", type=_floats, default=[0.15, 0.30, 0.50],
                   help="yellow,orange,red warning depths [m] (0.15,0.30,0.50)")
    p.add_argument("--warn-min-length", type=float, default=20.0,
                   help="road warned when at least this length [m] is at a level's depth (20)")
    p.add_argument("--warn-min-area", type=float, default=400.0,
                   help="grid warned when at least this area [m2] is at a level's depth (400)")
    p.add_argument("--warn-min-fraction", type=float, help="... and this fraction [0-1] of the grid (off)")
    p.add_argument("--warn-min-cells", type=int, default=2, help="... over at least this many cells (2)")
    p.add_argument("--snapshots", type=_floats, default=[], help="snapshot times [s], comma separated")
    p.add_argument("--crs", help="reproject the DEM: 'utm' or an EPSG code (needed for geographic DEMs)")
    p.add_argument("--boundaries", choices=["open", "closed"], default="open", help="domain edges (open)")
    p.add_argument("--float64", action="store_true", help="run in float64 (default float32)")
    p.add_argument("--dt-max", type=float, default=5.0, help="time-step cap [s] (5)")
    p.add_argument("--alpha", type=float, default=0.5, help="Courant coefficient (0.5)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run_command)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Register ``flood`` (with ``run``) on an argparse subparsers object; returns ``flood``'s sub-commands."""
    flood = subparsers.add_parser("flood", help="flood forecast (rainfall -> waterlogging depth)")
    sub = flood.add_subparsers(dest="flood_command", required=True)
    run = sub.add_parser("run", help="run a forecast and write rasters, balance and warnings")
    _configure_run(run)
    _configure_ensemble(sub.add_parser("ensemble", help="N perturbed-rainfall members on Dask -> "
                                                        "probability-of-exceedance maps"))
    return sub


def _configure_ensemble(p: argparse.ArgumentParser) -> None:
    _configure_run(p)
    p.add_argument("--members", type=int, default=8, help="ensemble members (8)")
    p.add_argument("--sigma", type=float, default=0.3, help="log-normal spread of each member's total (0.3)")
    p.add_argument("--sigma-interval", type=float, default=0.2, help="... and of each interval (0.2)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the perturbations (0)")
    p.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://HOST:8786 (default: a LocalCluster)")
    p.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (2)")
    p.set_defaults(func=ensemble_command)


def ensemble_command(args: argparse.Namespace) -> int:
    """Handler of ``flood ensemble``: perturb the rainfall, run the members on Dask, write probability maps."""
    import geopandas as gpd

    from flood_model.ensemble import perturb_rainfall, run_ensemble
    from flood_model.grid import load_dem

    try:
        rain = _rainfall(args)
        grid = load_dem(args.dem, crs=args.crs)
        members = perturb_rainfall(rain, args.members, sigma_member=args.sigma,
                                   sigma_interval=args.sigma_interval, seed=args.seed)
        levels = dict(zip(("yellow", "orange", "red"), args.levels, strict=False))
        res = run_ensemble(grid, members, scheduler=args.scheduler, n_workers=args.workers,
                           thresholds=args.thresholds, levels=levels,
                           roads=gpd.read_file(args.roads) if args.roads else None,
                           grids=gpd.read_file(args.grids) if args.grids else None,
                           duration_s=rain.duration_s + args.after, drainage_mm_h=args.drainage,
                           boundaries=args.boundaries, alpha=args.alpha, dt_max=args.dt_max,
                           dtype=np.float64 if args.float64 else np.float32)
        paths = res.write(args.out)
    except FloodModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{res.members} members on {len(res.info['workers'])} workers in {res.info['wall_s']:.1f} s "
          f"(sum of member times {sum(res.info['member_wall_s']):.1f} s)")
    for thr, arr in res.probability.items():
        print(f"  P(depth >= {thr:g} m) > 50 %: {int(np.nansum(arr > 0.5))} cells")
    if res.warnings is not None:
        for row in res.warnings.head(20).to_dict("records"):
            print(f"  {row['kind']} {row['name'] or row['feature_id']}: {row['text']}")
    for name, path in paths.items():
        print(f"  {name}: {path}")
    return 0


def _rainfall(args):
    from flood_model.rainfall import Hyetograph, design_storm
    from flood_model.storms import get_storm, parse_storm_params

    chosen = [a for a in ("storm", "storm_params", "hyetograph", "intensity") if getattr(args, a) is not None]
    if len(chosen) != 1:
        raise InputError("give exactly one of --storm, --storm-params, --hyetograph, --intensity")
    if args.hyetograph:
        return Hyetograph.from_csv(args.hyetograph, column=args.column, step_s=args.interval)
    if args.intensity is not None:
        return Hyetograph([0.0, args.duration], [args.intensity], label=f"constant {args.intensity} mm/h")
    formula = get_storm(args.storm) if args.storm else parse_storm_params(args.storm_params)
    return design_storm(formula, return_period=args.return_period, duration_s=args.duration,
                        peak_ratio=args.peak_ratio, step_s=args.interval)


def run_command(args: argparse.Namespace) -> int:
    """Handler of ``flood run``: run the forecast and write the products to ``--out``."""
    import geopandas as gpd

    from flood_model.forecast import run_forecast
    from flood_model.grid import load_dem
    from flood_model.losses import SCSCurveNumber

    def progress(frac: float, msg: str) -> None:
        if not args.quiet:
            print(f"[{frac * 100:5.1f}%] {msg}", flush=True)

    try:
        rain = _rainfall(args)
        grid = load_dem(args.dem, crs=args.crs)
        manning = float(args.manning) if re.fullmatch(r"[0-9.eE+-]+", args.manning) else args.manning
        levels = dict(zip(("yellow", "orange", "red"), args.levels, strict=False))
        res = run_forecast(
            grid, rain, duration_s=rain.duration_s + args.after,
            drainage_mm_h=args.drainage_raster or args.drainage,
            infiltration=SCSCurveNumber(args.curve_number) if args.curve_number else args.infiltration,
            manning=manning, buildings=args.buildings,
            roads=gpd.read_file(args.roads) if args.roads else None,
            grids=gpd.read_file(args.grids) if args.grids else None,
            thresholds=args.thresholds, levels=levels, snapshot_times=args.snapshots,
            warn_min_length_m=args.warn_min_length, warn_min_area_m2=args.warn_min_area,
            warn_min_area_fraction=args.warn_min_fraction, warn_min_cells=args.warn_min_cells,
            boundaries=args.boundaries, alpha=args.alpha, dt_max=args.dt_max,
            dtype=np.float64 if args.float64 else np.float32,
            record_interval_s=max(10.0, (rain.duration_s + args.after) / 200), progress=progress)
        paths = res.write(args.out)
    except FloodModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"rain {rain.label}: max depth {res.info['max_depth_m']:.3f} m, "
          f"balance error {res.relative_balance_error:.1e}, {res.info['steps']} steps, "
          f"{res.info['cell_updates_per_s'] / 1e6:.0f} M cell-updates/s")
    if res.warnings is not None:
        print(f"warnings: {len(res.warnings)} features ({res.warnings['level'].value_counts().to_dict()})")
    for name, path in paths.items():
        print(f"  {name}: {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point: ``python -m flood_model run ...``."""
    parser = argparse.ArgumentParser(prog="python -m flood_model", description="OneMap flood forecast")
    sub = parser.add_subparsers(dest="flood_command", required=True)
    _configure_run(sub.add_parser("run", help="run a forecast"))
    _configure_ensemble(sub.add_parser("ensemble", help="run an ensemble on Dask"))
    args = parser.parse_args(argv)
    return int(args.func(args))
