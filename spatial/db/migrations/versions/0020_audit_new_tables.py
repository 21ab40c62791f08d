"""Audit trail on the tables of this stop's other migrations: incidents, geofences, events, flood runs,
the drainage network and notification subscriptions.

Revision ID: 0020
Revises: 0019

Migration 0013 put ``onemap_audit()`` (an AFTER ROW trigger writing who, when, from where, before and after
into the append-only ``audit_log``) on the tables people and tokens wrote then. Tables added in 0014-0019
are written by people and tokens too (declaring and dispatching incidents, geofences, event mode, confirming
a flood run's warnings, importing a pipe network, notification subscriptions), so they get the same trigger.
Geometry columns and secrets are left out of the recorded rows (``TG_ARGV``; names a table lacks are ignored).
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

#: Table -> columns not recorded (geometry, secrets).
AUDITED: dict[str, tuple[str, ...]] = {
    "incident": ("geom", "zone"),
    "incident_task": ("geom",),
    "incident_type": (),
    "geofence": ("geom",),
    "district_event": ("geom", "zone"),
    "flood_run": ("extent", "geom"),
    "drainage_node": ("geom",),
    "drainage_conduit": ("geom",),
    "notification_subscription": ("secret",),
}


def upgrade() -> None:
    for table, skip in AUDITED.items():
        args = ", ".join(f"'{c}'" for c in skip)
        op.execute(f"CREATE TRIGGER {table}_audit AFTER INSERT OR UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION onemap_audit({args})")


def downgrade() -> None:
    for table in AUDITED:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_audit ON {table}")
