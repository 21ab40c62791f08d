"""Synthetic ticket stream of the demo district: where, when, which category and what happened next.

Pure numpy: :func:`sample_tickets` draws locations (hotspot mixtures per
category), times (90 days ending ``now``, diurnal and weekly profiles, storm
days that multiply waterlogging), channels, and :func:`lifecycle` walks each
ticket through the closed loop (reported > accepted > dispatched >
in_progress > resolved > verified > closed, with rejections, merges and
reopenings) using the catalog's deadlines via :func:`spatial.tickets.deadlines.due_at`.
All coordinates here are EPSG:32649 metres; times are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import shapely

from data.catalog import CATEGORIES, CategorySpec
from data.profile import demo_calendar
from spatial.tickets.deadlines import due_at

TZ = ZoneInfo("Asia/Shanghai")  # the demo profile's time zone (data/profiles/demo.yaml)

#: location model mix per category code: roads / residential / centres:<kind> / basins / uniform
LOCATION_MIX: dict[str, dict[str, float]] = {
    "illegal_parking": {"centres:commercial": 0.45, "roads:arterial": 0.35, "residential": 0.2},
    "shared_bikes": {"centres:commercial": 0.5, "centres:school": 0.2, "roads": 0.3},
    "illegal_vending": {"centres:commercial": 0.4, "centres:school": 0.3, "centres:nightlife": 0.3},
    "blocked_sidewalk": {"centres:commercial": 0.5, "roads": 0.5},
    "noise": {"centres:nightlife": 0.35, "residential": 0.5, "centres:construction": 0.15},
    "construction_noise_night": {"centres:construction": 0.85, "residential": 0.15},
    "construction_waste": {"centres:construction": 0.6, "roads": 0.4},
    "smoke_odour": {"centres:nightlife": 0.4, "residential": 0.6},
    "waterlogging": {"basins": 0.8, "roads": 0.2},
    "drain_blocked": {"basins": 0.5, "roads": 0.5},
    "pothole": {"roads": 1.0},
    "manhole_missing": {"roads": 1.0},
    "streetlight_out": {"roads": 1.0},
    "damaged_facility": {"roads": 0.7, "residential": 0.3},
    "signal_fault": {"roads:arterial": 1.0},
    "fallen_tree": {"roads": 0.8, "residential": 0.2},
}

#: hourly activity profiles (local time), normalised when used
_BASE_HOURS = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 4.5, 6, 6.2, 5.8, 4.5, 4.8, 5.6, 5.8, 5.5, 5,
                        4.5, 4.8, 4.6, 3.6, 2.5, 1.6])
_HOURS = {
    "noise": np.array([5, 4, 2.5, 1.2, .6, .5, .8, 1.5, 2, 2.2, 2.2, 2.5, 2.5, 2.2, 2.2, 2.3, 2.4, 2.6, 3, 3.8,
                       4.8, 5.8, 6.4, 6.2]),
    "construction_noise_night": np.array([6, 5, 3, 1.5, .5, .3, .2, .1, .1, .1, .1, .1, .1, .1, .1, .1, .1,
                                          .1, .2, .5, 1, 2.5, 5, 6.5]),
    "illegal_parking": np.array([.6, .3, .2, .2, .2, .4, 1.5, 4, 6, 5, 4, 4.5, 5, 4, 3.5, 3.5, 4, 5.5, 6.5, 6,
                                 5, 3.5, 2, 1.2]),
    "smoke_odour": np.array([1, .6, .4, .3, .3, .4, .8, 1.5, 2, 2.5, 3.5, 5.5, 5, 3, 2.5, 2.5, 3, 4.5, 6, 5.5,
                             4, 3, 2, 1.5]),
}
#: weekday multipliers Mon..Sun
_WEEK = np.array([1.05, 1.0, 1.0, 1.0, 1.05, 0.8, 0.75])
_WEEK_BY = {"noise": np.array([.9, .9, .9, .95, 1.1, 1.5, 1.4]),
            "illegal_vending": np.array([.9, .9, .9, .9, 1.1, 1.4, 1.4])}
_STORM_CODES = {"waterlogging": 25.0, "drain_blocked": 6.0, "fallen_tree": 8.0, "pipe_burst": 1.5,
                "manhole_missing": 2.0}

CHANNEL_MIX = {"hotline": 0.40, "grid_worker": 0.28, "citizen_app": 0.17, "video_ai": 0.06, "sensor": 0.03,
               "open311": 0.04, "api": 0.02}
_VIDEO_CODES = {"illegal_parking", "illegal_vending", "blocked_sidewalk", "shared_bikes", "garbage_overflow",
                "construction_waste", "waterlogging"}
_SENSOR_CODES = {"waterlogging", "noise", "fire_hazard", "smoke_odour", "manhole_missing"}


@dataclass
class Places:
    """Where things happen (EPSG:32649 metres) — built once from the layout."""

    district: shapely.Geometry
    grid_geoms: list[shapely.Geometry]
    grid_pop: np.ndarray
    road_lines: list[shapely.Geometry]
    road_class: np.ndarray
    basins: list[dict]
    underpasses: list[dict]
    centres: list[dict]


def in_grids(rng: np.random.Generator, pl: Places, n: int) -> np.ndarray:
    """``n`` points, grid chosen by population, uniform inside it."""
    p = pl.grid_pop / pl.grid_pop.sum()
    pick = rng.choice(len(pl.grid_geoms), size=n, p=p)
    out = np.empty((n, 2))
    for gi in np.unique(pick):
        idx = np.flatnonzero(pick == gi)
        geom = pl.grid_geoms[gi]
        minx, miny, maxx, maxy = geom.bounds
        got = 0
        while got < len(idx):
            m = max(8, 3 * (len(idx) - got))
            xs, ys = rng.uniform(minx, maxx, m), rng.uniform(miny, maxy, m)
            ok = shapely.contains_xy(geom, xs, ys)
            take = min(int(ok.sum()), len(idx) - got)
            out[idx[got:got + take], 0] = xs[ok][:take]
            out[idx[got:got + take], 1] = ys[ok][:take]
            got += take
    return out


def on_roads(rng: np.random.Generator, pl: Places, n: int, cls: str | None = None) -> np.ndarray:
    sel = [i for i, c in enumerate(pl.road_class) if cls is None or c == cls]
    lengths = np.array([pl.road_lines[i].length for i in sel])
    pick = np.array(sel)[rng.choice(len(sel), size=n, p=lengths / lengths.sum())]
    lines = np.array(pl.road_lines, dtype=object)[pick]
    dist = rng.uniform(0, 1, n) * shapely.length(lines)
    pts = shapely.get_coordinates(shapely.line_interpolate_point(lines, dist))
    return pts + rng.normal(0, 6, pts.shape)  # kerbside / lane offset


def _near(rng: np.random.Generator, centres: list[tuple[float, float, float]], n: int) -> np.ndarray:
    c = np.array(centres)
    pick = rng.integers(0, len(c), n)
    return c[pick, :2] + rng.normal(0, 1, (n, 2)) * c[pick, 2:3]


def sample_locations(rng: np.random.Generator, pl: Places, codes: np.ndarray) -> np.ndarray:
    """Location (x, y metres) per ticket from its category's hotspot mixture, all inside the district."""
    xy = np.empty((len(codes), 2))
    for code in np.unique(codes):
        idx = np.flatnonzero(codes == code)
        mix = LOCATION_MIX.get(code, {"residential": 0.85, "roads": 0.15})
        models = list(mix)
        which = rng.choice(len(models), size=len(idx), p=np.array(list(mix.values())) / sum(mix.values()))
        for mi, model in enumerate(models):
            sub = idx[which == mi]
            if not len(sub):
                continue
            if model == "residential":
                xy[sub] = in_grids(rng, pl, len(sub))
            elif model.startswith("roads"):
                xy[sub] = on_roads(rng, pl, len(sub), model.split(":")[1] if ":" in model else None)
            elif model.startswith("centres"):
                kind = model.split(":")[1]
                cs = [(c["x"], c["y"], 140.0) for c in pl.centres if c["kind"] == kind]
                xy[sub] = _near(rng, cs, len(sub))
            elif model == "basins":
                cs = [(b["x"], b["y"], 0.5 * b["sigma_m"]) for b in pl.basins]
                cs += [(u["x"], u["y"], 25.0) for u in pl.underpasses] * 2  # underpasses weigh double
                xy[sub] = _near(rng, cs, len(sub))
    # anything that fell outside (edge hotspots): redraw inside a populated grid
    shapely.prepare(pl.district)
    out = ~shapely.contains_xy(pl.district, xy[:, 0], xy[:, 1])
    if out.any():
        xy[out] = in_grids(rng, pl, int(out.sum()))
    return xy


def sample_times(rng: np.random.Generator, codes: np.ndarray, *, now: datetime, days: int = 90,
                 storm_days: np.ndarray) -> np.ndarray:
    """Report times (UTC, numpy datetime64[s]) following the category's daily and weekly rhythm."""
    local_now = now.astimezone(TZ)
    day0 = (local_now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    ndays = days + 1
    dates = [day0 + timedelta(days=i) for i in range(ndays)]
    weekday = np.array([d.weekday() for d in dates])
    trend = np.linspace(0.9, 1.1, ndays)
    out = np.empty(len(codes), dtype="datetime64[s]")
    day0_utc = np.datetime64(day0.astimezone(UTC).replace(tzinfo=None), "s")
    now64 = np.datetime64(now.astimezone(UTC).replace(tzinfo=None), "s")
    for code in np.unique(codes):
        idx = np.flatnonzero(codes == code)
        w = _WEEK_BY.get(code, _WEEK)[weekday] * trend
        if code in _STORM_CODES:
            boost = np.ones(ndays)
            for sd in storm_days:
                boost[sd] += _STORM_CODES[code]
                if sd + 1 < ndays:
                    boost[sd + 1] += _STORM_CODES[code] / 4
            w = w * boost
        hours = _HOURS.get(code, _BASE_HOURS)
        t = np.empty(0, dtype="datetime64[s]")
        while len(t) < len(idx):  # reject times after now (the last, partial day)
            m = 2 * (len(idx) - len(t)) + 8
            d = rng.choice(ndays, size=m, p=w / w.sum())
            h = rng.choice(24, size=m, p=hours / hours.sum())
            sec = (d * 86400 + h * 3600 + rng.integers(0, 3600, m)).astype("timedelta64[s]")
            cand = day0_utc + sec
            t = np.concatenate([t, cand[cand < now64]])
        out[idx] = t[: len(idx)]
    return out


def sample_channels(rng: np.random.Generator, codes: np.ndarray) -> np.ndarray:
    names = np.array(list(CHANNEL_MIX))
    base = np.array(list(CHANNEL_MIX.values()))
    out = np.empty(len(codes), dtype=object)
    for code in np.unique(codes):
        idx = np.flatnonzero(codes == code)
        p = base.copy()
        if code not in _VIDEO_CODES:
            p[names == "video_ai"] = 0
        if code not in _SENSOR_CODES:
            p[names == "sensor"] = 0
        out[idx] = names[rng.choice(len(names), size=len(idx), p=p / p.sum())]
    return out


def category_codes(rng: np.random.Generator, n: int) -> np.ndarray:
    w = np.array([c.weight for c in CATEGORIES])
    codes = np.array([c.code for c in CATEGORIES])
    return codes[rng.choice(len(codes), size=n, p=w / w.sum())]


# --------------------------------------------------------------------------- lifecycle

@dataclass
class Step:
    at: datetime
    to: str
    actor: str
    role: str
    data: dict | None = None


class Draws:
    """Scalar draws served from buffers refilled by a numpy Generator.

    A scalar ``Generator`` call costs microseconds; the per-ticket loop makes
    hundreds of thousands of them. Same seed, same sequence.
    """

    def __init__(self, rng: np.random.Generator, size: int = 1 << 16):
        self.rng, self.size = rng, size
        self._n = self._u = np.empty(0)
        self._i = self._j = 0

    def standard_normal(self) -> float:
        if self._i >= len(self._n):
            self._n, self._i = self.rng.standard_normal(self.size), 0
        self._i += 1
        return float(self._n[self._i - 1])

    def random(self) -> float:
        if self._j >= len(self._u):
            self._u, self._j = self.rng.random(self.size), 0
        self._j += 1
        return float(self._u[self._j - 1])

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.random()

    def integers(self, low: int, high: int) -> int:
        return low + min(int(self.random() * (high - low)), high - low - 1)

    def choice(self, values, p) -> object:
        return values[int(np.searchsorted(np.cumsum(p), self.random() * float(np.sum(p)), side="right"))]


def _lognorm(rng: Draws, median: float, sigma: float) -> float:
    return float(median * np.exp(sigma * rng.standard_normal()))


def lifecycle(rng: Draws, cat: CategorySpec, created: datetime, now: datetime, *,
              channel: str, reporter_actor: str, reporter_role: str, worker: str | None,
              worker_role: str, on_spot: bool, verifier: str, fate: str) -> tuple[list[Step], dict]:
    """The steps a ticket went through up to ``now`` and its deadline fields.

    ``fate`` is 'normal', 'rejected', 'merged' or 'reopened'. Returns (steps,
    info) with info keys accept_due_at, resolve_due_at, rating.
    """
    cal = demo_calendar()
    accept_due = due_at(created, cat.accept[0], cat.accept[1], tz=TZ.key, calendar=cal)
    resolve_due = due_at(created, cat.resolve[0], cat.resolve[1], tz=TZ.key, calendar=cal)
    steps = [Step(created, "reported", reporter_actor, reporter_role)]
    info: dict = {"accept_due_at": accept_due, "resolve_due_at": resolve_due, "rating": None}
    auto = cat.auto_dispatch
    desk = f"dispatcher:center{rng.integers(1, 5)}"
    acc_span = (accept_due - created).total_seconds()

    def add(at: datetime, to: str, actor: str, role: str, data: dict | None = None) -> bool:
        if at > now:
            return False
        steps.append(Step(at, to, actor, role, data))
        return True

    if on_spot and worker:  # grid worker found it and fixed it right there
        t = created + timedelta(minutes=rng.uniform(1, 5))
        ok = (add(t, "accepted", "system:on-the-spot", "system")
              and add(t, "dispatched", "system:on-the-spot", "system", {"worker_code": worker})
              and add(t + timedelta(minutes=1), "in_progress", worker, worker_role)
              and add(t + timedelta(minutes=_lognorm(rng, 20, 0.5)), "resolved", worker, worker_role))
        t = steps[-1].at
    else:
        delay = 60.0 * rng.uniform(0.5, 3) if auto else min(_lognorm(rng, 0.22 * acc_span, 0.8), 20 * acc_span)
        t = created + timedelta(seconds=delay)
        if fate == "rejected":
            add(t, "rejected", desk, "dispatcher")
            return steps, info
        if fate == "merged":
            add(t, "merged", desk, "dispatcher")
            return steps, info
        actor, role = ("system:auto-dispatch", "system") if auto else (desk, "dispatcher")
        ok = add(t, "accepted", actor, role)
        if ok and worker:
            t = t + timedelta(seconds=60 * (rng.uniform(0.2, 2) if auto else _lognorm(rng, 12, 0.9)))
            ok = add(t, "dispatched", actor, role, {"worker_code": worker})
            if ok:
                t = t + timedelta(minutes=_lognorm(rng, 25, 0.8))
                ok = add(t, "in_progress", worker, worker_role)
            if ok:
                span = (resolve_due - created).total_seconds()
                t = max(t + timedelta(minutes=5), created + timedelta(seconds=_lognorm(rng, 0.4 * span, 0.65)))
                ok = add(t, "resolved", worker, worker_role)
        else:
            ok = False
    if not ok:
        return steps, info
    if fate == "reopened":
        t = t + timedelta(hours=_lognorm(rng, 3, 0.6))
        if not add(t, "reopened", verifier, "grid_worker", {"reason": "verification failed"}):
            return steps, info
        t = t + timedelta(minutes=_lognorm(rng, 30, 0.6))
        if not add(t, "dispatched", desk, "dispatcher", {"worker_code": worker}):
            return steps, info
        t = t + timedelta(minutes=_lognorm(rng, 40, 0.6))
        if not add(t, "in_progress", worker, worker_role):
            return steps, info
        t = t + timedelta(hours=_lognorm(rng, 6, 0.7))
        if not add(t, "resolved", worker, worker_role):
            return steps, info
    t = t + timedelta(hours=_lognorm(rng, 2.5, 0.7))
    if not add(t, "verified", verifier, "grid_worker"):
        return steps, info
    t = t + timedelta(hours=_lognorm(rng, 2, 0.7))
    if not add(t, "closed", desk, "dispatcher"):
        return steps, info
    late = steps[-3].at > resolve_due if len(steps) >= 3 else False
    p = np.array([0.03, 0.04, 0.13, 0.35, 0.45]) if not late else np.array([0.15, 0.2, 0.3, 0.2, 0.15])
    if channel in ("hotline", "citizen_app", "open311", "api"):
        info["rating"] = int(rng.choice([1, 2, 3, 4, 5], p=p))
    return steps, info
