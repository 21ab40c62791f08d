"""Road-network travel times through pgRouting: dispatch re-ranking and nearby resources.

The network is ``road_edge`` (:mod:`spatial.workers.network`, rebuilt when the
roads change; one-way roads are honoured). A point is attached to its nearest
network node by a straight access leg at
:data:`~spatial.workers.network.ACCESS_SPEED_KMH`. :meth:`Router.travel_times`
gives the seconds from each source point to a target (one
``pgr_dijkstraCost`` many-to-one call over the edges of the box around the
points grown by :data:`SEARCH_MARGIN_M`); unreachable, or beyond
:data:`MAX_TRAVEL_S`, is ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.workers import network

#: Search horizon, seconds.
MAX_TRAVEL_S = 4 * 3600.0
#: Edges farther than this (metres) beyond the box of the points are not searched (detours of up to ~3 km).
SEARCH_MARGIN_M = 3000.0


@dataclass
class Router:
    """Travel times on the current pgRouting network of one session (its transaction)."""

    session: Session

    def travel_times(self, target: tuple[float, float],
                     sources: Sequence[tuple[float, float]]) -> list[float | None]:
        """Seconds from each source point to ``target`` (lon/lat, EPSG:4326); None if unreachable."""
        if not len(sources):
            return []
        pts = [tuple(map(float, target)), *[tuple(map(float, s)) for s in sources]]
        snapped = network.snap(self.session, pts)
        (tnode, tacc), src = snapped[0], snapped[1:]
        box = network.search_box(pts, margin_m=SEARCH_MARGIN_M)
        starts = sorted({n for n, _ in src if n != tnode})
        cost: dict[int, float] = {tnode: 0.0}
        if starts:
            rows = self.session.execute(sa.text(
                "SELECT start_vid, agg_cost FROM pgr_dijkstraCost(:sql, CAST(:starts AS bigint[]), "
                "CAST(:target AS bigint), directed => true)"),
                {"sql": network.edges_sql(box), "starts": starts, "target": tnode}).all()
            cost.update({int(r[0]): float(r[1]) for r in rows})
        out: list[float | None] = []
        for node, acc in src:
            d = cost.get(node)
            out.append(None if d is None or d > MAX_TRAVEL_S else round(d + acc + tacc, 1))
        return out


def network_for(session: Session) -> Router | None:
    """A router on this database's road network (rebuilt first if the roads changed), or None without roads."""
    if not network.ensure(session):
        return None
    return Router(session)
