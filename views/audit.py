"""Audit view (admins): the newest entries of the audit trail, filterable by actor and table.

Reads ``spatial.audit.entries``; UI only. Each row is one change (before and
after, the changed columns of an update) or one sign-in event.
"""

from __future__ import annotations

import pandas as pd
import panel as pn

from spatial import audit
from spatial.auth import Principal
from views.common import db

LIMIT = 500


class AuditView:
    """The admin's audit trail: one instance per browser session."""

    def __init__(self, principal: Principal | None = None) -> None:
        self.principal = principal
        self.actor = pn.widgets.TextInput(name="Actor (e.g. user:dispatcher)", width=200)
        self.table = pn.widgets.Select(name="Table", width=200, options=["(all)", "ticket", "worker", "user_account",
                                                                          "api_token", "alert", "published_message",
                                                                          "category", "department", "sensor"])
        self.reload = pn.widgets.Button(name="Refresh", width=200)
        self.grid = pn.widgets.Tabulator(pd.DataFrame(), show_index=False, disabled=True, height=760,
                                         sizing_mode="stretch_width", layout="fit_data_stretch", theme="simple",
                                         pagination="local", page_size=100)
        self.reload.on_click(lambda _e: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        with db() as s:
            rows = audit.entries(s, actor=self.actor.value.strip() or None,
                                 table=None if self.table.value == "(all)" else self.table.value, limit=LIMIT)
        df = pd.DataFrame([{"at": r["at"].strftime("%Y-%m-%d %H:%M:%S"), "actor": r["actor"], "from": r["ip"] or "",
                            "request": r["request"] or "", "action": r["action"], "table": r["table"] or "",
                            "row": r["row_id"] or "", "before": audit.brief(r["before"]),
                            "after": audit.brief(r["after"])} for r in rows],
                          columns=["at", "actor", "from", "request", "action", "table", "row", "before", "after"])
        self.grid.value = df

    def sidebar(self) -> list:
        return ["### Audit trail", self.actor, self.table, self.reload]

    def main(self) -> pn.viewable.Viewable:
        return pn.Column(f"#### Newest {LIMIT} entries", self.grid, sizing_mode="stretch_width")
