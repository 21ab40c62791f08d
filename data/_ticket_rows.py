"""Rows of the demo's ticket, ticket_reporter and ticket_event tables.

Combines the samplers of :mod:`data._tickets` with the demo's workers:
handlers are picked among the nearest workers of the category's department
having its skill, open assignments respect each worker's ``max_workload``
(a ticket nobody can take stays ``accepted``: dispatch pending), grid workers
handle on-the-spot categories they report themselves, and every step of the
lifecycle becomes a ``ticket_event`` row (kind ``reported`` for the report, as
:func:`spatial.tickets.intake.intake` writes it, then ``transition`` for every move
allowed by :data:`spatial.tickets.lifecycle.TRANSITIONS`, with its actor and role).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import shapely

from data import _tickets
from data._entities import person_names, phones
from data.catalog import CATEGORIES

OPEN_ASSIGNED = ("dispatched", "in_progress")
_FATES = np.array(["normal", "rejected", "reopened"])
_FATE_P = np.array([0.95, 0.03, 0.02])


def ticket_frames(rng: np.random.Generator, *, n: int, now: datetime, days: int, places: _tickets.Places,
                  gidx, to4326, parent_of: dict, cat_id: dict, dept_id: dict, workers: list[dict],
                  frames: dict, roads: list[dict], units: dict) -> dict[str, pd.DataFrame]:
    cats = {c.code: c for c in CATEGORIES}
    n_merged = round(0.015 * n)
    n_base = n - n_merged
    codes = _tickets.category_codes(rng, n_base)
    storm_days = np.unique(np.concatenate([rng.choice(np.arange(5, days - 3), 3, replace=False), [days - 1]]))
    times = _tickets.sample_times(rng, codes, now=now, days=days, storm_days=storm_days)
    xy = _tickets.sample_locations(rng, places, codes)
    fate = _FATES[rng.choice(3, size=n_base, p=_FATE_P)].astype(object)
    merged_into = np.full(n_base, -1)
    # manual merges: a later duplicate of an earlier ticket, within hours and metres
    latest = np.datetime64(now.astimezone(UTC).replace(tzinfo=None), "s") - np.timedelta64(6 * 3600, "s")
    parents = rng.choice(np.flatnonzero((fate == "normal") & (times < latest)), size=n_merged, replace=False)
    mt = times[parents] + (rng.uniform(0.2, 6, n_merged) * 3600).astype("timedelta64[s]")
    codes = np.concatenate([codes, codes[parents]])
    times = np.concatenate([times, mt])
    xy = np.concatenate([xy, xy[parents] + rng.normal(0, 15, (len(parents), 2))])
    fate = np.concatenate([fate, np.full(len(parents), "merged", dtype=object)])
    merged_into = np.concatenate([merged_into, parents])
    channels = _tickets.sample_channels(rng, codes)
    channels[fate == "merged"] = "hotline"
    # chronological ids
    order = np.argsort(times, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    codes, times, xy, fate, channels = codes[order], times[order], xy[order], fate[order], channels[order]
    merged_into = np.where(merged_into[order] >= 0, rank[np.maximum(merged_into[order], 0)], -1)
    N = len(codes)

    pts = shapely.points(to4326(xy))
    grid_id, pts = gidx.locate(pts)
    community_id = np.array([parent_of[g] for g in grid_id])
    street_id = np.array([parent_of[c] for c in community_id])

    # nearest road (address) in metres
    road_tree = shapely.STRtree(places.road_lines)
    near_road = road_tree.query_nearest(shapely.points(xy), return_distance=False)
    road_of = np.empty(N, dtype=np.int64)
    road_of[near_road[0]] = near_road[1]
    # camera / sensor for machine channels (nearest in 4326, fine for picking)
    cam_tree = shapely.STRtree(frames["camera"]["geom"].to_numpy())
    cam_of = np.empty(N, dtype=np.int64)
    cq = cam_tree.query_nearest(pts, return_distance=False)
    cam_of[cq[0]] = cq[1]
    sen_tree = shapely.STRtree(frames["sensor"]["geom"].to_numpy())
    sen_of = np.empty(N, dtype=np.int64)
    sq = sen_tree.query_nearest(pts, return_distance=False)
    sen_of[sq[0]] = sq[1]

    # worker pools
    home = np.array([w["home_xy"] for w in workers])
    wdept = np.array([w["department"] for w in workers])
    grid_pool = np.flatnonzero(wdept == "grid")
    pools: dict[str, np.ndarray] = {}
    for c in CATEGORIES:
        pool = [i for i, w in enumerate(workers)
                if w["department"] == c.department and (c.skill is None or c.skill in w["skills"])]
        pool = pool or [i for i, w in enumerate(workers) if w["department"] == c.department] \
            or list(range(len(workers)))  # tiny test configurations only
        pools[c.code] = np.array(pool)
    load = np.zeros(len(workers), dtype=int)
    cap = np.array([w["max_workload"] for w in workers])
    names = person_names(rng, N)
    tels = phones(rng, N)
    widx = {w["code"]: k for k, w in enumerate(workers)}
    created_all = pd.DatetimeIndex(times).tz_localize(UTC).to_pydatetime()
    cam_codes = frames["camera"]["code"].to_numpy()
    sen_codes = frames["sensor"]["code"].to_numpy()

    dr = _tickets.Draws(rng)
    t_rows: list[dict] = []
    r_rows: list[tuple] = []
    e_rows: list[tuple] = []
    for i in range(N):
        cat = cats[codes[i]]
        created = created_all[i]
        ch = channels[i]
        p = xy[i]
        dg = np.hypot(*(home[grid_pool] - p).T)
        near_grid = grid_pool[np.argsort(dg)[:3]]
        verifier_w = workers[near_grid[0]]
        rep_name, rep_phone, rep_account, ext = None, None, None, None
        if ch == "grid_worker":
            rw = workers[near_grid[dr.integers(0, len(near_grid))]]
            actor, role, rep_name, rep_account = f"worker:{rw['code']}", "grid_worker", rw["name"], rw["code"]
        elif ch == "hotline":
            actor, role = f"hotline:op{dr.integers(1, 13):02d}", "channel"
            rep_name, rep_phone = names[i], tels[i]
            ext = f"12345-{created.astimezone(_tickets.TZ):%Y%m%d}-{i + 1:06d}"
        elif ch == "citizen_app":
            rep_account = f"wx_{dr.integers(16 ** 7, 16 ** 8):08x}"
            actor, role, rep_phone = f"citizen:{rep_account}", "citizen", tels[i]
        elif ch == "video_ai":
            cam = cam_codes[cam_of[i]]
            actor, role, ext = f"camera:{cam}", "system", f"AI-{cam}-{i + 1:06d}"
        elif ch == "sensor":
            sc = sen_codes[sen_of[i]]
            actor, role, ext = f"sensor:{sc}", "system", f"SENSOR-{sc}-{i + 1:06d}"
        else:
            actor, role, ext = "api:open311-partner", "channel", f"{ch.upper()}-{i + 1:06d}"
        on_spot = bool(cat.on_the_spot and ch == "grid_worker" and dr.random() < 0.7)
        pool = pools[cat.code]
        if on_spot:
            cand = [widx[rep_account]]
        else:
            d = np.hypot(*(home[pool] - p).T)
            cand = [int(pool[j]) for j in np.argsort(d)[:6]]
            k = dr.integers(0, min(3, len(cand)))
            cand = [cand[k]] + [c for j, c in enumerate(cand) if j != k]
        steps, info = _tickets.lifecycle(
            dr, cat, created, now, channel=ch, reporter_actor=actor, reporter_role=role, worker="__W__",
            worker_role="grid_worker" if on_spot else "handler", on_spot=on_spot,
            verifier=f"worker:{verifier_w['code']}", fate=fate[i])
        status = steps[-1].to
        w = cand[0]
        if status in OPEN_ASSIGNED:
            free = [c for c in cand if load[c] < cap[c]]
            if free:
                w = free[0]
                load[w] += 1
            else:  # everybody nearby is full: dispatch pending
                cut = next(j for j, s in enumerate(steps) if s.to == "dispatched")
                steps = steps[:cut]
                status = steps[-1].to
        wk = workers[w]
        wrole = "grid_worker" if wk["department"] == "grid" else "handler"
        first = {}
        last = {}
        prev = None
        for s in steps:
            a = s.actor.replace("__W__", f"worker:{wk['code']}") if s.actor == "__W__" else s.actor
            r = wrole if s.actor == "__W__" else s.role
            data = dict(s.data or {})
            if "worker_code" in data:
                data.pop("worker_code")
                data["worker_id"] = w + 1
            kind = "transition" if prev else "reported"  # as spatial.tickets.intake.intake writes them
            e_rows.append((i + 1, s.at, kind, prev, s.to, a, r, None, data))
            first.setdefault(s.to, s.at)
            last[s.to] = s.at
            prev = s.to
        dispatched = "dispatched" in last
        rating = info["rating"] if status == "closed" else None
        if rating is not None:
            rated_at = last["closed"] + timedelta(hours=float(dr.uniform(0.5, 30)))
            if rated_at <= now and rating:
                e_rows.append((i + 1, rated_at, "rating", None, None, actor, role, None, {"rating": rating}))
            else:
                rating = None
        done = status in ("resolved", "verified", "closed")
        terminal_other = status in ("rejected", "merged")
        acc_at = first.get("accepted")
        res_at = last.get("resolved") if done else None
        acc_over = (not terminal_other) and ((acc_at or now) > info["accept_due_at"])
        res_over = (not terminal_other) and ((res_at or now) > info["resolve_due_at"])
        esc = 0
        if res_over:
            esc = 1 + int(not done and (now - info["resolve_due_at"]) > timedelta(days=2))
        road_name = roads[road_of[i]]["name"]
        comm = units[int(community_id[i])].name.split(" Community")[0]
        t_rows.append({
            "id": i + 1, "channel": ch, "external_id": ext, "category_id": cat_id[cat.code],
            "department_id": dept_id[cat.department], "grid_id": int(grid_id[i]),
            "community_id": int(community_id[i]), "street_id": int(street_id[i]), "geom": pts[i],
            "address": f"{road_name}, near No. {int(dr.integers(1, 400))}, {comm}",
            "description": f"{cat.name.split(' ')[0].replace('_', ' ')} near {road_name.split(' ')[0]}",
            "photo_urls": [f"https://demo.invalid/photos/T{i + 1:06d}.jpg"] if ch in ("grid_worker", "citizen_app")
            else [],
            "status": status, "priority": cat.priority, "reporter_name": rep_name, "reporter_phone": rep_phone,
            "reporter_account": rep_account, "created_at": created, "updated_at": steps[-1].at,
            "accepted_at": acc_at, "dispatched_at": last.get("dispatched"), "resolved_at": res_at,
            "closed_at": last.get("closed") if status == "closed" else None,
            "accept_due_at": info["accept_due_at"], "resolve_due_at": info["resolve_due_at"],
            "accept_overdue": acc_over, "resolve_overdue": res_over, "escalation_level": esc,
            "assigned_worker_id": (w + 1) if dispatched else None,
            "merged_into_id": int(merged_into[i] + 1) if merged_into[i] >= 0 else None,
            "rating": rating, "rating_comment": "处理太慢 too slow" if rating and rating <= 2 else None,
            "version": len(steps), "attrs": {"demo": True},
        })
        r_rows.append((i + 1, ch, ext, rep_name, rep_phone, rep_account, created,
                       f"{cat.name} near {road_name}", pts[i]))
        if status not in ("rejected", "merged") and dr.random() < 0.08:  # duplicates merged at intake
            for _ in range(int(dr.integers(1, 3))):
                at = created + timedelta(hours=float(dr.uniform(0.05, cat.window_h)))
                if at > now:
                    continue
                k = int(dr.integers(0, N))
                r_rows.append((i + 1, "hotline", None, names[k], tels[k], None, at,
                               "Same problem reported again", pts[i]))
    tickets = pd.DataFrame(t_rows)
    tickets["assigned_worker_id"] = pd.array(tickets["assigned_worker_id"], dtype="Int64")
    tickets["merged_into_id"] = pd.array(tickets["merged_into_id"], dtype="Int64")
    tickets["rating"] = pd.array(tickets["rating"], dtype="Int64")
    reporters = pd.DataFrame(r_rows, columns=["ticket_id", "channel", "external_id", "name", "phone", "account",
                                              "reported_at", "description", "geom"])
    events = pd.DataFrame(e_rows, columns=["ticket_id", "at", "kind", "from_status", "to_status", "actor",
                                           "actor_role", "note", "data"])
    events.insert(0, "id", np.arange(1, len(events) + 1))
    reporters.insert(0, "id", np.arange(1, len(reporters) + 1))
    return {"ticket": tickets, "ticket_reporter": reporters, "ticket_event": events}
