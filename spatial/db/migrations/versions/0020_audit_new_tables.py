"""Audit trail on the tables of this stop's other migrations (incidents, geofences, events, flood runs,
the drainage network, notification subscriptions); people may hold the ``wall`` role.

Revision ID: 0020
Revises: 0019

Migration 0013 put ``onemap_audit()`` (an AFTER ROW trigger writing who, when, from where, before and after
into the append-only ``audit_log``) on the tables people and tokens wrote then. Tables added in 0014-0019
are written by people and tokens too (declaring and dispatching incidents, geofences, event mode, confirming
a flood run's warnings, importing a pipe network, notification subscriptions), so they get the same trigger.
Geometry columns and secrets are left out of the recorded rows (``TG_ARGV``; names a table lacks are ignored).

0013 listed the roles a person may hold (``ck_user_account_roles``) and 0019 added ``wall`` for tokens
only; the big screen is opened by a signed-in person too (``/wall``), so ``wall`` joins the people's list.
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


#: Roles a person may hold (``spatial.auth.PERSON_ROLES``), before and after this migration.
OLD_ROLES = ("citizen", "channel", "grid_worker", "dispatcher", "handler", "leadership", "admin", "planner")
NEW_ROLES = (*OLD_ROLES, "wall")


def _roles_check(roles: tuple[str, ...]) -> None:
    op.execute("ALTER TABLE user_account DROP CONSTRAINT ck_user_account_roles")
    op.execute("ALTER TABLE user_account ADD CONSTRAINT ck_user_account_roles CHECK (cardinality(roles) >= 1 "
               f"AND roles <@ ARRAY[{', '.join(repr(r) for r in roles)}]::varchar[])")


def upgrade() -> None:
    _roles_check(NEW_ROLES)
    for table, skip in AUDITED.items():
        args = ", ".join(f"'{c}'" for c in skip)
        op.execute(f"CREATE TRIGGER {table}_audit AFTER INSERT OR UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION onemap_audit({args})")


def downgrade() -> None:
    for table in AUDITED:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_audit ON {table}")
    op.execute("ALTER TABLE user_account DROP CONSTRAINT ck_user_account_roles")
    op.execute("DELETE FROM user_account WHERE roles = ARRAY['wall']::varchar[]")  # wall-only people go
    op.execute("UPDATE user_account SET roles = array_remove(roles, 'wall') WHERE 'wall' = ANY(roles)")
    op.execute("ALTER TABLE user_account ADD CONSTRAINT ck_user_account_roles CHECK (cardinality(roles) >= 1 "
               f"AND roles <@ ARRAY[{', '.join(repr(r) for r in OLD_ROLES)}]::varchar[])")
