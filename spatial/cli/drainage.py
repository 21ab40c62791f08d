"""CLI of the drainage network and of flood skill/calibration against the sensors.

``onemap drainage import FILE`` (SWMM .inp or GeoPackage), ``onemap drainage show``, ``onemap drainage
export FILE.inp``; ``onemap flood calibrate START/END`` and ``onemap flood skill START/END`` (added to the
``flood`` group of :mod:`flood_model.cli`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from flood_model.errors import FloodModelError
from spatial.db.engine import session_scope
from spatial.errors import ConfigError, ImportDataError, ValidationError


def _srid(session, args) -> int:
    from spatial.profile import district_profile, metric_srid_of

    return metric_srid_of(args.crs) if getattr(args, "crs", None) else district_profile(session).metric_srid


def _grid(session, cell_m: float | None = None):
    """The district DEM as a DemGrid (None when the district has none)."""
    from flood_model.grid import load_dem
    from spatial.forecasts import dem_path

    try:
        path = dem_path(session)
    except ConfigError:
        return None
    return load_dem(path, resolution=cell_m)


def _import(args: argparse.Namespace) -> int:
    from spatial import drainage

    t0 = time.perf_counter()
    with session_scope() as session:
        srid = _srid(session, args)
        grid = _grid(session)
        net = drainage.read_network_file(args.path, srid=srid, grid=grid)
        counts = drainage.store_network(session, net, srid=srid, source=args.source or Path(args.path).name)
    print(json.dumps(counts))
    print(f"imported {counts['junctions']} manholes, {counts['outfalls']} outfalls, {counts['conduits']} conduits "
          f"(EPSG:{srid}{', checked against the DEM' if grid is not None else ', no DEM to check against'}) "
          f"in {time.perf_counter() - t0:.2f} s")
    return 0


def _show(args: argparse.Namespace) -> int:
    from spatial import drainage

    with session_scope() as session:
        print(json.dumps(drainage.network_summary(session)))
    return 0


def _export(args: argparse.Namespace) -> int:
    from spatial import drainage

    with session_scope() as session:
        srid = _srid(session, args)
        net = drainage.load_network(session, srid=srid)
    if net is None:
        raise ValidationError("no drainage network stored: onemap drainage import FILE")
    net.to_inp(args.path, duration_s=args.duration_s)
    print(f"wrote {args.path} ({len(net.junctions)} manholes, EPSG:{srid} coordinates)")
    return 0


def _event_run_kwargs(session, event, args) -> dict:
    from spatial import drainage

    grid = _grid(session, args.cell)
    if grid is None:
        raise ConfigError("no DEM for this district: run onemap dem set PATH")
    net = None if args.no_network else drainage.load_network(session, srid=event.srid)
    kw: dict = {"dem": grid, "duration_s": event.duration_s, "gauges": event.gauges,
                "record_interval_s": 60.0}
    if net is not None:
        kw["network"] = net
    else:
        kw["drainage_mm_h"] = args.drainage
    return kw


def _skill(args: argparse.Namespace) -> int:
    from flood_model.calibration import apply_parameters, skill
    from flood_model.forecast import run_forecast
    from spatial.flood_events import calibrated_parameters, load_event, parse_window

    start, end = parse_window(args.event)
    with session_scope() as session:
        from spatial.profile import district_profile

        event = load_event(session, start, end, srid=district_profile(session).metric_srid)
        if args.run:
            sim = pd.read_csv(Path(args.run) / "gauges.csv")
            params: dict = {}
        else:
            kw = _event_run_kwargs(session, event, args)
    if not args.run:
        params = {} if args.uncalibrated else calibrated_parameters()
        if "network" not in kw:
            params.pop("roughness_factor", None)
        else:
            params.pop("drainage_mm_h", None)
        rain, kw = apply_parameters(kw, event.rain, params)
        try:
            sim = run_forecast(kw.pop("dem"), rain, **kw).gauges
        except FloodModelError as exc:
            raise ValidationError(str(exc)) from None
    table = skill(sim, event.observed)
    if table.empty:
        raise ValidationError("no gauge of the run has readings in the event window")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(json.dumps({"parameters": params, "gauges": len(table), "mean_nse": float(table.nse.mean()),
                      "mean_mae_m": float(table.mae_m.mean())}))
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from flood_model.calibration import PARAMETERS, calibrate
    from spatial.flood_events import load_event, parse_window, save_calibration
    from spatial.profile import district_profile

    start, end = parse_window(args.event)
    names = [n.strip() for n in args.params.split(",") if n.strip()]
    bad = [n for n in names if n not in PARAMETERS]
    if bad or not names:
        raise ValidationError(f"--params takes some of {', '.join(PARAMETERS)}; got {args.params!r}")
    with session_scope() as session:
        event = load_event(session, start, end, srid=district_profile(session).metric_srid)
        kw = _event_run_kwargs(session, event, args)
    if "network" in kw and "drainage_mm_h" in names:
        raise ValidationError("the district has a pipe network: calibrate roughness_factor, not drainage_mm_h")
    if "network" not in kw and "roughness_factor" in names:
        raise ValidationError("roughness_factor needs a drainage network: onemap drainage import FILE")
    bounds = {n: PARAMETERS[n][:2] for n in names}
    t0 = time.perf_counter()
    try:
        res = calibrate(event.rain, event.observed, parameters=bounds, forecast_kwargs=kw,
                        max_evaluations=args.max_evaluations)
    except FloodModelError as exc:
        raise ValidationError(str(exc)) from None
    print(res.skill.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    record = {"event": args.event, "parameters": res.parameters, "objective": res.objective,
              "evaluations": res.evaluations, "wall_s": round(time.perf_counter() - t0, 1),
              "network": "network" in kw, "cell_m": args.cell, "skill": res.skill.to_dict("records")}
    if args.save:
        record["saved_to"] = str(save_calibration(record))
    print(json.dumps({k: v for k, v in record.items() if k != "skill"}))
    return 0


def _event_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("event", help="the event window START/END, ISO 8601 (UTC unless an offset is given)")
    p.add_argument("--cell", type=float, default=30.0, help="model cell size [m] (30)")
    p.add_argument("--no-network", action="store_true", help="ignore the stored pipe network")
    p.add_argument("--drainage", type=float, default=20.0,
                   help="uniform sewer capacity [mm/h] when there is no network (20)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """``onemap drainage ...`` and ``onemap flood calibrate|skill`` (after flood_model.cli's ``flood``)."""
    d = sub.add_parser("drainage", help="the drainage pipe network").add_subparsers(dest="drainage_command",
                                                                                    required=True)
    im = d.add_parser("import", help="replace the network with a SWMM .inp or a GeoPackage")
    im.add_argument("path")
    im.add_argument("--crs", help="CRS of the file's coordinates (default: the district's metric CRS)")
    im.add_argument("--source", help="label stored with the rows (default: the file name)")
    im.set_defaults(func=_import)
    d.add_parser("show", help="counts and length of the stored network").set_defaults(func=_show)
    ex = d.add_parser("export", help="write the stored network as a SWMM .inp (district metric CRS)")
    ex.add_argument("path")
    ex.add_argument("--crs", help="CRS of the written coordinates (default: the district's metric CRS)")
    ex.add_argument("--duration-s", type=float, default=7200.0, help="simulation length written in OPTIONS")
    ex.set_defaults(func=_export)

    flood = sub.choices.get("flood")
    if flood is None:
        raise ImportDataError("register flood_model.cli before spatial.cli.drainage")
    fsub = next(a for a in flood._actions if isinstance(a, argparse._SubParsersAction))
    sk = fsub.add_parser("skill", help="NSE, MAE and peak timing per water-level sensor for an event")
    _event_options(sk)
    sk.add_argument("--run", help="score this run's output folder (its gauges.csv) instead of running the model")
    sk.add_argument("--uncalibrated", action="store_true", help="ignore the saved calibration")
    sk.set_defaults(func=_skill)
    ca = fsub.add_parser("calibrate", help="fit model parameters to the water-level readings of an event")
    _event_options(ca)
    ca.add_argument("--params", default="rain_factor,manning,roughness_factor",
                    help="comma list of rain_factor, manning, drainage_mm_h, roughness_factor")
    ca.add_argument("--max-evaluations", type=int, default=30, help="optimiser iterations (30)")
    ca.add_argument("--save", action="store_true", help="save the parameters for later forecasts")
    ca.set_defaults(func=_calibrate)
