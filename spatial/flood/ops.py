"""The operational flood loop: each new rainfall forecast -> a hot-started run -> stored -> warnings.

A forecast arrives in the inbox folder (``<ONEMAP_HOME>/flood/inbox``,
``ONEMAP_FLOOD_INBOX``) or by ``POST /api/flood/forecasts``; either way
:func:`enqueue` moves its files under ``<ONEMAP_HOME>/flood/runs/<run_id>/input``
and stores a ``queued`` :class:`~spatial.models.FloodRun` with their SHA-256
(the same forecast twice is refused: ``forecast_key`` is unique).
:func:`watch_once` (the server job ``flood_watch`` and ``onemap flood watch``)
takes new inbox items and runs every queued forecast, oldest issue time first:

1. rainfall: a gridded forecast (a GeoTIFF, one band per interval, mm/h), a
   station hyetograph (CSV, one row per interval, depth in mm, last column) or a
   radar nowcast (a folder of >= 2 rain-rate GeoTIFFs [mm/h], oldest first by
   name, extrapolated with pysteps: :func:`flood_model.nowcast.radar_nowcast`);
2. hot start: the depth of the latest earlier run at this forecast's issue time
   (its snapshot at lead ``issued - previous issued``, snapshots every
   ``ONEMAP_FLOOD_SNAPSHOT_SECONDS``), when that run is on the same DEM grid and
   younger than ``ONEMAP_FLOOD_HOT_START_MAX_S``; else a dry start;
3. the district forecast (:func:`flood_model.forecast.run_forecast`) on the
   district's DEM at ``ONEMAP_FLOOD_CELL_M`` with its grids and roads; depth
   snapshots are stored (``state.npz``) with an overlay PNG each (the planner's
   time slider) and the maximum-depth overlay under the run id;
4. publication through :func:`spatial.sensors.flood_warnings.publish_forecast_warnings`:
   a level that rises raises / escalates the alert and publishes a message, a
   feature no longer warned is cleared ("lifted" message), a lower level
   de-escalates silently. A run that would warn more than
   ``ONEMAP_FLOOD_CONFIRM_FRACTION`` of the district's grids publishes nothing:
   it waits (``awaiting_confirmation``) with a preview of its changes until a
   person confirms (:func:`decide`) or a newer run supersedes it.

Times: ``issued_at`` is t = 0 of the run (UTC). Depths in metres; the DEM's CRS
is the profile's metric CRS; overlays and ``extent`` are EPSG:4326.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import sqlalchemy as sa
from sqlalchemy.orm import Session

from flood_model.errors import FloodModelError
from flood_model.forecast import ForecastResult, run_forecast
from flood_model.grid import DemGrid, align_raster, load_dem
from flood_model.rainfall import GriddedRainfall, Hyetograph
from layers.raster import corner_bounds, depth_rgba, to_png
from spatial import forecasts
from spatial.clock import as_utc, utc_now
from spatial.db.engine import get_engine
from spatial.errors import ConfigError, Conflict, NotFound, ValidationError
from spatial.maps import mapdata
from spatial.models import FloodRun
from spatial.sensors.flood_warnings import publish_forecast_warnings
from spatial.settings import get_settings

log = logging.getLogger("onemap.flood")

KINDS = ("gridded", "hyetograph", "radar")
#: Advisory lock key of the watch: one watch runs at a time per database (hot starts follow issue order).
LOCK_KEY = 0x0F100D
ACTOR = "system:flood-watch"
#: Runs left ``running`` longer than this (a crashed process) are marked failed by the next watch.
STALE_RUNNING = timedelta(hours=2)


def flood_home() -> Path:
    """``<ONEMAP_HOME>/flood``: ``inbox/``, ``runs/<run_id>/`` and ``rejected/``."""
    return get_settings().home / "flood"


def inbox_dir() -> Path:
    """The folder the watch takes forecasts from (``ONEMAP_FLOOD_INBOX``, default ``<home>/flood/inbox``)."""
    return get_settings().flood_inbox or flood_home() / "inbox"


def run_dir(run_id: str) -> Path:
    """Inputs and products of one run (``<home>/flood/runs/<run_id>``)."""
    return flood_home() / "runs" / forecasts.check_run_id(run_id)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _kind_of(path: Path) -> str:
    if path.is_dir():
        return "radar"
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        return "gridded"
    if suffix == ".csv":
        return "hyetograph"
    raise ValidationError(f"{path.name}: a forecast is a GeoTIFF (gridded), a CSV (station hyetograph) "
                          "or a folder of radar GeoTIFFs")


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".tif", ".tiff")
                       and not p.name.startswith("."))
        if len(files) < 2:
            raise ValidationError(f"{path.name}: a radar nowcast needs at least 2 GeoTIFF frames")
        return files
    return [path]


def _tags(path: Path) -> dict[str, str]:
    """The GeoTIFF's tags; ValidationError when rasterio cannot read it."""
    try:
        with rasterio.open(path) as src:
            return src.tags()
    except rasterio.errors.RasterioIOError as exc:
        raise ValidationError(f"{path.name}: not a readable GeoTIFF ({exc})") from exc


def enqueue(session: Session, path: Path, *, source: str, issued_at: Any = None, interval_s: float | None = None,
            label: str | None = None) -> FloodRun:
    """Store a forecast (file or radar folder at ``path``) as a queued run; its files move under the run.

    ``issued_at``: t = 0 of the run (ISO 8601 with zone, datetime or epoch s); default the
    GeoTIFF tag ``ONEMAP_ISSUED_AT``, else the file's modification time. ``interval_s``:
    length [s] of one band / CSV row / radar frame step; default the GeoTIFF tag
    ``ONEMAP_INTERVAL_S``, else ``ONEMAP_FLOOD_INTERVAL_SECONDS``.

    Raises
    ------
    ValidationError
        Not a forecast (unknown type, unreadable raster, < 2 radar frames, bad time).
    Conflict
        The same files were already taken (by forecast key, SHA-256 of the inputs).
    """
    s = get_settings()
    kind = _kind_of(path)
    files = _files(path)
    digests = [(f.name, _sha256(f)) for f in files]
    key = hashlib.sha256(json.dumps([kind, [d for _, d in digests]]).encode()).hexdigest()  # content, not names
    dup = session.scalar(sa.select(FloodRun.id).where(FloodRun.forecast_key == key))
    if dup is not None:
        raise Conflict(f"this forecast was already taken as run {dup}")
    tags: dict[str, str] = {}
    if kind != "hyetograph":
        for f in files:
            tags = _tags(f)
    when = issued_at if issued_at is not None else tags.get("ONEMAP_ISSUED_AT")
    issued = as_utc(when, what="issued_at") if when is not None else \
        utc_now(datetime.fromtimestamp(max(f.stat().st_mtime for f in files)).astimezone())
    step = interval_s if interval_s is not None else float(tags.get("ONEMAP_INTERVAL_S", s.flood_interval_seconds))
    if not (isinstance(step, int | float) and 0 < float(step) <= 86400):
        raise ValidationError("interval_s must be a number of seconds in (0, 86400]")
    if kind == "hyetograph":  # refuse an unreadable table now, not when it runs
        try:
            Hyetograph.from_csv(files[0], step_s=float(step))
        except ValueError as exc:  # pandas parser errors, text where depths [mm] should be
            raise ValidationError(f"{path.name}: not a hyetograph CSV (one row per interval, depth in mm in "
                                  f"the last column): {str(exc)[:200]}") from exc
    run_id = f"fr-{issued:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    dest = run_dir(run_id) / "input"
    dest.mkdir(parents=True, exist_ok=True)
    stored = []
    for f in files:
        shutil.move(str(f), dest / f.name)
        stored.append(f.name)
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    run = FloodRun(id=run_id, forecast_key=key, source=source, status="queued", issued_at=issued,
                   inputs={"kind": kind, "files": [{"name": n, "sha256": d} for n, d in digests],
                           "interval_s": float(step), "label": label or path.name, "stored": stored})
    session.add(run)
    session.flush()
    return run


def _rainfall(run: FloodRun, grid: DemGrid) -> tuple[Hyetograph | GriddedRainfall, dict]:
    """The run's rainfall on ``grid`` and what to record about it."""
    s = get_settings()
    inp = run.inputs
    folder = run_dir(run.id) / "input"
    files = [folder / n for n in inp["stored"]]
    step = float(inp["interval_s"])
    if inp["kind"] == "hyetograph":
        rain = Hyetograph.from_csv(files[0], step_s=step)
        rain.label = f"station hyetograph {inp['label']}"
        return rain, {"total_mm": rain.total_mm}
    if inp["kind"] == "gridded":
        with rasterio.open(files[0]) as src:
            bands = src.count
        frames = np.stack([np.asarray(align_raster(files[0], grid, band=b, name="rainfall"))
                           for b in range(1, bands + 1)])
        frames = np.where(np.isfinite(grid.z)[None], frames, 0.0)
        rain = GriddedRainfall(np.arange(bands + 1) * step, frames, label=f"gridded forecast {inp['label']}")
        return rain, {"bands": bands, "mean_total_mm": float(np.nanmean(frames.sum(0)) * step / 3600.0)}
    from flood_model.nowcast import radar_nowcast

    frames = np.stack([np.where(np.isfinite(grid.z), np.asarray(align_raster(f, grid, name="radar")), 0.0)
                       for f in files])
    n_steps = max(1, round(s.flood_nowcast_minutes * 60.0 / step))
    rain = radar_nowcast(frames, interval_s=step, n_steps=n_steps, label=f"radar nowcast {inp['label']}")
    assert isinstance(rain, GriddedRainfall)
    return rain, {"radar_frames": len(files), "nowcast_steps": n_steps, "method": "pysteps proesmans + extrapolation",
                  "mean_total_mm": float(rain.frames_mm_h.sum(0).mean() * step / 3600.0)}


def _state_file(run_id: str) -> Path:
    return run_dir(run_id) / "state.npz"


def _hot_start(session: Session, run: FloodRun, grid: DemGrid) -> tuple[np.ndarray | float, dict]:
    """Initial depth [m] from the latest earlier run, and the record of where it came from."""
    s = get_settings()
    prev = session.scalars(sa.select(FloodRun).where(
        FloodRun.status == "done", FloodRun.issued_at <= run.issued_at, FloodRun.id != run.id)
        .order_by(FloodRun.issued_at.desc(), FloodRun.finished_at.desc()).limit(1)).first()
    if prev is None:
        return 0.0, {"hot_start": "dry start: no earlier run"}
    lead = (run.issued_at - prev.issued_at).total_seconds()
    path = _state_file(prev.id)
    if lead > s.flood_hot_start_max_s:
        return 0.0, {"hot_start": f"dry start: run {prev.id} is {lead / 3600:.1f} h older"}
    if not path.is_file():
        return 0.0, {"hot_start": f"dry start: run {prev.id} has no stored state"}
    with np.load(path) as z:
        times, depth = z["times_s"], z["depth"]
        if depth.shape[1:] != grid.shape or not np.allclose(z["transform"], list(grid.transform)[:6]):
            return 0.0, {"hot_start": f"dry start: run {prev.id} is on another grid"}
        k = int(np.searchsorted(times, lead + 1e-6, side="right")) - 1
        h0 = np.nan_to_num(depth[max(k, 0)].astype(np.float64))
    run.hot_start_from = prev.id
    return h0, {"hot_start": f"run {prev.id} at lead {times[max(k, 0)]:g} s", "hot_start_lead_s": float(lead),
                "hot_start_state_t_s": float(times[max(k, 0)]), "hot_start_volume_m3": float(
                    h0.sum() * abs(grid.transform.a * grid.transform.e))}


def _store_products(run: FloodRun, res: ForecastResult, grid: DemGrid) -> dict:
    """``state.npz`` (snapshot depths), one overlay per snapshot and the max-depth overlay; their record."""
    times = np.array(sorted(res.snapshots), float)
    depth = np.stack([res.snapshots[t] for t in times]).astype(np.float32)
    np.savez_compressed(_state_file(run.id), times_s=times, depth=depth,
                        transform=np.array(list(grid.transform)[:6]), crs=np.array(grid.crs.to_string()))
    corners = corner_bounds(res.transform, depth.shape[1:], res.crs)
    snaps = []
    for t, d in zip(times, depth, strict=True):
        sid = f"{run.id}.t{round(float(t)):06d}"
        url = forecasts.store_overlay(sid, to_png(depth_rgba(d, min_depth_m=forecasts.MIN_SHOWN_M)),
                                      corners=corners, meta={"kind": "snapshot", "run_id": run.id, "t_s": t})
        snaps.append({"t_s": float(t), "overlay_url": url, "max_depth_m": float(np.nanmax(d)) if
                      np.isfinite(d).any() else 0.0})
    md = np.asarray(res.max_depth, float)
    max_url = forecasts.store_overlay(
        run.id, to_png(depth_rgba(md, min_depth_m=forecasts.MIN_SHOWN_M)), corners=corners,
        meta={"kind": "operational", "run_id": run.id, "scenario": res.info.get("rainfall"),
              "max_depth_m": float(np.nanmax(md)) if np.isfinite(md).any() else 0.0,
              "finished_at": utc_now().isoformat()})
    return {"corners": corners, "snapshots": snaps, "overlay_url": max_url, "state": str(_state_file(run.id))}


def _summary(res: ForecastResult, warnings, n_grids: int) -> dict:
    md = np.asarray(res.max_depth, float)
    wet = np.isfinite(md) & (md >= forecasts.WET_M)
    cell_area = abs(res.transform.a * res.transform.e)
    grids_warned = int((warnings["kind"] == "grid").sum()) if warnings is not None and len(warnings) else 0
    return {"max_depth_m": float(np.nanmax(md)) if np.isfinite(md).any() else 0.0,
            "wet_ha": float(wet.sum() * cell_area / 1e4), "balance_error": res.relative_balance_error,
            "roads_at_risk": int((warnings["kind"] == "road").sum()) if warnings is not None and len(warnings)
            else 0, "grids_at_risk": grids_warned, "district_grids": n_grids,
            "grids_warned_fraction": grids_warned / n_grids if n_grids else 0.0,
            "steps": int(res.info["steps"]), "model_wall_s": float(res.info["wall_s"]),
            "duration_s": float(res.info["duration_s"])}


def _preview(session: Session, warnings, run_id: str) -> dict:
    """What publishing would change (created, escalated, cleared...), computed in a rolled-back savepoint."""
    sp = session.begin_nested()
    try:
        out = publish_forecast_warnings(session, warnings, run_id=run_id, actor=ACTOR)
    finally:
        sp.rollback()
    return {k: v for k, v in out.items() if k != "alert_ids"}


def _publish(session: Session, run: FloodRun, warnings, *, actor: str) -> dict:
    out = publish_forecast_warnings(session, warnings, run_id=run.id, actor=actor)
    return {k: v for k, v in out.items() if k != "alert_ids"}


def _supersede_waiting(session: Session, run: FloodRun) -> None:
    for old in session.scalars(sa.select(FloodRun).where(FloodRun.publication == "awaiting_confirmation",
                                                         FloodRun.id != run.id)).all():
        old.publication = "superseded"
        old.publish_result = {**(old.publish_result or {}), "superseded_by": run.id}


def execute(session: Session, run: FloodRun, *, publish: bool = True) -> FloodRun:
    """Run one queued forecast: hot start, model, products, publication (or a wait for confirmation)."""
    s = get_settings()
    dem = forecasts.dem_path(session)
    grid = load_dem(dem, resolution=s.flood_cell_m)
    rain, rain_info = _rainfall(run, grid)
    h0, hot = _hot_start(session, run, grid)
    grids = mapdata.admin_units(session, level=4)
    roads = mapdata.roads(session)
    duration = float(rain.duration_s + s.flood_recession_s)
    snaps = np.arange(s.flood_snapshot_seconds, duration + 1e-6, s.flood_snapshot_seconds).tolist()
    if not snaps or snaps[-1] < duration:
        snaps.append(duration)
    res = run_forecast(grid, rain, duration_s=duration, drainage_mm_h=s.flood_drainage_mm_h,
                       initial_depth=h0, snapshot_times=snaps, grids=grids[["id", "name", "geometry"]],
                       roads=roads[["id", "name", "geometry"]] if len(roads) else None)
    warnings = res.warnings.to_crs("EPSG:4326") if res.warnings is not None and len(res.warnings) else None
    products = _store_products(run, res, grid)
    if warnings is not None:
        warnings.to_file(run_dir(run.id) / "warnings.geojson", driver="GeoJSON")
    summary = _summary(res, warnings, len(grids))
    c = products["corners"]
    run.extent = "SRID=4326;POLYGON((" + ",".join(f"{x} {y}" for x, y in [*c, c[0]]) + "))"
    run.inputs = {**run.inputs, "rain": rain_info, "rainfall": rain.label, "dem": str(dem), "dem_sha256":
                  _sha256(dem), "cell_m": s.flood_cell_m, "drainage_mm_h": s.flood_drainage_mm_h,
                  "recession_s": s.flood_recession_s, **hot}
    run.outputs = {**summary, **products}
    run.warnings = forecasts.warning_table(warnings).to_dict("records")
    if not publish:
        run.publication = "none"
        return run
    empty = res.warnings.iloc[0:0].to_crs("EPSG:4326") if res.warnings is not None else None
    w = warnings if warnings is not None else empty
    if summary["grids_warned_fraction"] > s.flood_confirm_fraction:
        run.publication = "awaiting_confirmation"
        run.publish_result = {"preview": _preview(session, w, run.id),
                              "reason": f"{summary['grids_at_risk']} of {summary['district_grids']} grids warned "
                                        f"(> {s.flood_confirm_fraction:.0%}): a person must confirm"}
        _supersede_waiting(session, run)
        return run
    run.publish_result = _publish(session, run, w, actor=ACTOR)
    run.publication = "published"
    _supersede_waiting(session, run)
    return run


def _warnings_of(run: FloodRun):
    """The run's warnings as a GeoDataFrame (EPSG:4326) rebuilt from its stored products, for a confirmation."""
    import geopandas as gpd

    path = run_dir(run.id) / "warnings.geojson"
    if not path.is_file():
        return gpd.GeoDataFrame({"kind": [], "feature_id": [], "level": []}, geometry=[], crs="EPSG:4326")
    return gpd.read_file(path)


def decide(session: Session, run_id: str, *, confirm: bool, actor: str) -> dict:
    """A person confirms (publishes) or rejects a run waiting above the cap; only the newest waiting run."""
    run = session.get(FloodRun, forecasts.check_run_id(run_id), with_for_update=True)
    if run is None:
        raise NotFound(f"no flood run {run_id!r}")
    if run.publication != "awaiting_confirmation":
        raise Conflict(f"run {run_id} is not waiting for confirmation (publication: {run.publication})")
    run.decided_by, run.decided_at = actor, utc_now()
    if confirm:
        run.publish_result = {**_publish(session, run, _warnings_of(run), actor=actor),
                              "preview": run.publish_result.get("preview")}
        run.publication = "confirmed"
    else:
        run.publication = "rejected"
    session.flush()
    return run_record(run)


def scan_inbox(session: Session, *, settle_s: float | None = None) -> dict:
    """Queue the inbox's settled items (unchanged for ``settle_s``); refused ones go to ``rejected/``."""
    s = get_settings()
    settle = s.flood_settle_seconds if settle_s is None else settle_s
    inbox = inbox_dir()
    inbox.mkdir(parents=True, exist_ok=True)
    out: dict[str, list] = {"queued": [], "rejected": []}
    now = time.time()
    for item in sorted(inbox.iterdir(), key=lambda p: p.stat().st_mtime):
        if item.name.startswith("."):
            continue
        newest = max([item.stat().st_mtime, *(p.stat().st_mtime for p in item.iterdir())] if item.is_dir()
                     else [item.stat().st_mtime])
        if now - newest < settle:
            continue
        sp = session.begin_nested()
        try:
            run = enqueue(session, item, source="folder")
            sp.commit()
            out["queued"].append(run.id)
        except (ValidationError, Conflict, FloodModelError, OSError) as exc:
            sp.rollback()
            rej = flood_home() / "rejected"
            rej.mkdir(parents=True, exist_ok=True)
            target = rej / f"{time.strftime('%Y%m%d-%H%M%S')}-{item.name}"
            if item.exists():
                shutil.move(str(item), target)
            target.with_name(target.name + ".error.txt").write_text(getattr(exc, "message", None) or str(exc))
            out["rejected"].append({"name": item.name, "error": getattr(exc, "message", None) or str(exc)})
    return out


@contextmanager
def _watch_lock() -> Iterator[bool]:
    """A database-wide advisory lock on its own connection: True when this process holds it."""
    with get_engine().connect() as conn:
        got = bool(conn.scalar(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}))
        try:
            yield got
        finally:
            if got:
                conn.scalar(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
            conn.rollback()


def watch_once(session: Session, *, publish: bool = True) -> dict:
    """One pass of the watch: queue the inbox, run every queued forecast (oldest issue first).

    Each run is committed on its own (``running``, then ``done`` or ``failed`` with the error),
    so a failing forecast never blocks the next one. Without a district DEM nothing runs.
    """
    with _watch_lock() as got:
        if not got:
            return {"skipped": "another flood watch is running"}
        out: dict[str, Any] = scan_inbox(session)
        session.commit()
        stale = utc_now() - STALE_RUNNING
        session.execute(sa.update(FloodRun).where(FloodRun.status == "running", FloodRun.started_at < stale)
                        .values(status="failed", error="the process running it stopped"))
        session.commit()
        out["runs"] = []
        for run in session.scalars(sa.select(FloodRun).where(FloodRun.status == "queued")
                                   .order_by(FloodRun.issued_at, FloodRun.received_at)).all():
            run.status, run.started_at = "running", utc_now()
            session.commit()
            try:
                execute(session, run, publish=publish)
                run.status = "done"
            except Exception as exc:  # recorded on the run; the next forecast still runs
                session.rollback()
                run = session.get(FloodRun, run.id)
                known = isinstance(exc, (ValidationError, FloodModelError, OSError, ConfigError))
                msg = getattr(exc, "message", None) or str(exc)
                run.status, run.error = "failed", msg if known else f"internal error: {type(exc).__name__}: {msg}"
                if known:
                    log.warning("flood run %s failed: %s", run.id, run.error)
                else:
                    log.exception("flood run %s failed", run.id)
            run.finished_at = utc_now()
            session.commit()
            out["runs"].append({"run_id": run.id, "status": run.status, "publication": run.publication,
                                **({"error": run.error} if run.error else {})})
        return out


def run_record(run: FloodRun) -> dict:
    """A run as JSON: ids, times (ISO, UTC), status, publication, inputs, outputs, warnings."""
    return {"run_id": run.id, "source": run.source, "status": run.status, "issued_at": run.issued_at.isoformat(),
            "received_at": run.received_at.isoformat() if run.received_at else None,
            "started_at": run.started_at.isoformat() if run.started_at else None,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "hot_start_from": run.hot_start_from, "inputs": run.inputs, "outputs": run.outputs,
            "warnings": run.warnings, "publication": run.publication, "publish_result": run.publish_result,
            "decided_by": run.decided_by, "decided_at": run.decided_at.isoformat() if run.decided_at else None,
            "error": run.error}


def list_runs(session: Session, *, limit: int = 50) -> list[dict]:
    """Operational runs, newest issue time first."""
    rows = session.scalars(sa.select(FloodRun).order_by(FloodRun.issued_at.desc(), FloodRun.received_at.desc())
                           .limit(limit)).all()
    return [run_record(r) for r in rows]


def get_run(session: Session, run_id: str) -> dict:
    """One run's record; NotFound when absent."""
    run = session.get(FloodRun, forecasts.check_run_id(run_id))
    if run is None:
        raise NotFound(f"no flood run {run_id!r}")
    return run_record(run)


@dataclass(frozen=True)
class Upload:
    """A forecast posted to the API: its bytes and declared kind (``gridded`` or ``hyetograph``)."""

    data: bytes
    kind: str


def accept_upload(session: Session, up: Upload, *, issued_at: Any = None, interval_s: float | None = None,
                  label: str | None = None) -> FloodRun:
    """Queue a posted forecast (written to a private temporary file first, then :func:`enqueue`)."""
    if up.kind not in ("gridded", "hyetograph"):
        raise ValidationError("kind must be 'gridded' (GeoTIFF) or 'hyetograph' (CSV)")
    if not up.data:
        raise ValidationError("the forecast body is empty")
    tmp = flood_home() / "uploads" / uuid.uuid4().hex
    tmp.mkdir(parents=True, exist_ok=True)
    name = (label or "api-forecast") + (".tif" if up.kind == "gridded" else ".csv")
    path = tmp / Path(name).name
    path.write_bytes(up.data)
    try:
        return enqueue(session, path, source="api", issued_at=issued_at, interval_s=interval_s, label=label)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
