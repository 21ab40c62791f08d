"""High-frequency event detection per category, grid and week (a Poisson baseline test).

For every (category, grid) pair with tickets in the window, weekly counts
(weeks start on Monday in the district profile's time zone; merged duplicates excluded)
are compared with a baseline: the mean of the previous ``baseline_weeks``
weeks, floored at ``0.5 / baseline_weeks`` so a grid that was quiet is not
given a zero rate. A week is a hotspot when

* the count is at least ``min_count`` and above the baseline, and
* P(X >= count | X ~ Poisson(baseline)) is small: the Benjamini-Hochberg
  adjusted q-value over every (pair, week) tested is below ``alpha``
  (``fdr=False``: the raw p-value).

The Poisson tail is computed exactly (log-space series, no SciPy needed).
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.clock import cut_off, utc_now
from spatial.errors import ValidationError
from spatial.profile import district_profile

COLUMNS = ["category", "category_name", "grid_id", "grid_code", "grid_name", "week", "count", "baseline",
           "ratio", "p_value", "q_value", "hotspot"]


def poisson_sf(k: int, lam: float) -> float:
    """P(X >= k) for X ~ Poisson(lam), accurate in the far tail (no cancellation)."""
    if k <= 0:
        return 1.0
    if lam <= 0:
        return 0.0
    if k > lam:  # sum the upper tail from k
        term = math.exp(-lam + k * math.log(lam) - math.lgamma(k + 1))
        total, i = term, k
        while term > total * 1e-17 and i < k + 100_000:
            i += 1
            term *= lam / i
            total += term
        return min(1.0, total)
    # 1 - P(X <= k - 1), summing downward from k - 1
    j = k - 1
    term = math.exp(-lam + j * math.log(lam) - math.lgamma(j + 1))
    total = term
    while j > 0 and term > total * 1e-17:
        term *= j / lam
        j -= 1
        total += term
    return max(0.0, 1.0 - total)


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted q-values."""
    n = len(p)
    if n == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * n / np.arange(1, n + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(q, 1.0)
    return out


def _week_start(now: datetime, tz: str) -> datetime:
    local = now.astimezone(ZoneInfo(tz))
    monday = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return monday


_COUNTS = sa.text(
    """
    SELECT c.code AS category, c.name AS category_name, t.grid_id, g.code AS grid_code, g.name AS grid_name,
           (date_trunc('week', t.created_at AT TIME ZONE :tz))::date AS week, count(*) AS n
    FROM ticket t
    JOIN category c ON c.id = t.category_id
    JOIN admin_unit g ON g.id = t.grid_id
    WHERE t.created_at >= :start AND t.created_at < :end AND t.status <> 'merged'
      AND (CAST(:category AS text) IS NULL OR c.code = :category)
    GROUP BY 1, 2, 3, 4, 5, 6
    """
)


def weekly_table(session: Session, *, weeks: int = 1, baseline_weeks: int = 8, alpha: float = 0.05,
                 min_count: int = 5, fdr: bool = True, category: str | None = None,
                 now: datetime | None = None, as_of: date | None = None) -> pd.DataFrame:
    """Every tested (category, grid, week) with count, baseline, ratio, p and q values and the flag.

    Parameters
    ----------
    weeks
        Number of most recent weeks evaluated (the current, partial week included).
    baseline_weeks
        Weeks before each evaluated week whose mean count is the baseline.
    alpha
        Significance level (on q-values when ``fdr``, else on p-values).
    min_count
        Minimum tickets in a week for a hotspot.
    now
        Reference time (tz-aware, default now); tickets created after it are not counted, so a
        past time gives the table as it stood then.
    as_of
        A local day instead of ``now``: the weeks up to and including that day, as they stood at its end.
    """
    if not 1 <= weeks <= 104 or not 2 <= baseline_weeks <= 104:
        raise ValidationError("weeks must be in 1..104 and baseline_weeks in 2..104.")
    if not 0 < alpha < 1 or min_count < 1:
        raise ValidationError("alpha must be in (0, 1) and min_count >= 1.")
    tz = district_profile(session).timezone
    # the last instant of the as_of day, so the evaluated week is the one containing it
    now = cut_off(as_of, tz) - timedelta(microseconds=1) if as_of is not None else utc_now(now)
    current = _week_start(now, tz)
    first_eval = current - timedelta(weeks=weeks - 1)
    start = first_eval - timedelta(weeks=baseline_weeks)
    end = current + timedelta(weeks=1)
    # tickets up to ``now`` only: with a past ``now`` (``as_of``) later reports are not yet known
    df = pd.DataFrame(session.execute(_COUNTS, {"tz": tz, "start": start, "end": min(end, now),
                                                "category": category}).mappings().all())
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    all_weeks = [(start + timedelta(weeks=i)).date() for i in range(weeks + baseline_weeks)]
    keys = ["category", "category_name", "grid_id", "grid_code", "grid_name"]
    wide = df.pivot_table(index=keys, columns="week", values="n", aggfunc="sum", fill_value=0)
    wide = wide.reindex(columns=all_weeks, fill_value=0)
    counts = wide.to_numpy(dtype=float)
    floor = 0.5 / baseline_weeks
    frames = []
    for j in range(baseline_weeks, baseline_weeks + weeks):
        obs = counts[:, j]
        base = np.maximum(counts[:, j - baseline_weeks:j].mean(axis=1), floor)
        frame = wide.index.to_frame(index=False)
        frame["week"] = all_weeks[j]
        frame["count"] = obs.astype(int)
        frame["baseline"] = base
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["ratio"] = out["count"] / out["baseline"]
    out["p_value"] = [poisson_sf(int(k), float(lam)) for k, lam in zip(out["count"], out["baseline"],
                                                                       strict=True)]
    out["q_value"] = _bh(out["p_value"].to_numpy())
    stat = out["q_value"] if fdr else out["p_value"]
    out["hotspot"] = (out["count"] >= min_count) & (out["count"] > out["baseline"]) & (stat < alpha)
    return out[COLUMNS]


def hotspots(session: Session, *, weeks: int = 1, baseline_weeks: int = 8, alpha: float = 0.05,
             min_count: int = 5, fdr: bool = True, category: str | None = None,
             now: datetime | None = None, as_of: date | None = None) -> pd.DataFrame:
    """Only the flagged (category, grid, week) rows, newest week first, then by p-value.

    See :func:`weekly_table` for the parameters. ``week`` is the local Monday
    of the week; ``baseline`` the expected weekly count; ``ratio`` count / baseline.
    """
    table = weekly_table(session, weeks=weeks, baseline_weeks=baseline_weeks, alpha=alpha,
                         min_count=min_count, fdr=fdr, category=category, now=now, as_of=as_of)
    flagged = table.loc[table["hotspot"].astype(bool)]
    return flagged.sort_values(["week", "p_value", "count"], ascending=[False, True, False]).reset_index(drop=True)


def to_records(df: pd.DataFrame) -> list[dict]:
    """JSON-friendly rows (dates as ISO strings, floats rounded)."""
    out = []
    for r in df.to_dict("records"):
        out.append({**r, "week": str(r["week"]), "grid_id": int(r["grid_id"]), "count": int(r["count"]),
                    "baseline": round(float(r["baseline"]), 3), "ratio": round(float(r["ratio"]), 2),
                    "p_value": float(r["p_value"]), "q_value": float(r["q_value"]),
                    "hotspot": bool(r["hotspot"])})
    return out
