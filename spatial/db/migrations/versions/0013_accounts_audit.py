"""Accounts, sign-in sessions, token scopes and expiry, and the audit trail (issue 13)

* ``user_account``: a person. Roles (one or more of ``spatial.auth.ROLES`` +
  ``planner``), data scope (``department_id``; ``admin_unit_id`` = the street
  a street's staff work in), an argon2 password hash (NULL for single-sign-on
  only accounts), the OpenID Connect identity (issuer, subject), failed
  sign-ins and the lock-out time, disabled time.
* ``user_session``: a browser session; only the SHA-256 of the cookie value is
  stored, plus the CSRF secret, expiry, IP and user agent.
* ``api_token``: ``expires_at`` and ``scopes`` (router tags the token may
  call; NULL = every route its role allows), ``admin_unit_id`` (street scope).
* ``audit_log``: append-only (``onemap_append_only()`` refuses UPDATE and
  DELETE). Rows come from ``onemap_audit()``, an AFTER ROW trigger on the
  tables people and tokens write, which records the actor, user or token, IP
  and request bound to the transaction (``spatial.audit.bind``: transaction-
  local settings ``onemap.actor`` ...) with the row's before and after (the
  changed columns of an UPDATE, the whole row of an INSERT or DELETE; secrets
  and geometry left out). Without a bound actor (demo load, internal jobs)
  nothing is recorded. Sign-in events are written directly.

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ROLES = ("citizen", "channel", "grid_worker", "dispatcher", "handler", "leadership", "admin", "planner")

AUDIT_FN = """
CREATE OR REPLACE FUNCTION onemap_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  who text := nullif(current_setting('onemap.actor', true), '');
  old_j jsonb;
  new_j jsonb;
  b jsonb := '{}';
  a jsonb := '{}';
  k text;
BEGIN
  IF who IS NULL THEN
    RETURN NULL;
  END IF;
  IF TG_OP <> 'INSERT' THEN old_j := to_jsonb(OLD) - TG_ARGV; END IF;
  IF TG_OP <> 'DELETE' THEN new_j := to_jsonb(NEW) - TG_ARGV; END IF;
  IF TG_OP = 'UPDATE' THEN
    FOR k IN SELECT jsonb_object_keys(new_j) LOOP
      IF (new_j -> k) IS DISTINCT FROM (old_j -> k) THEN
        b := b || jsonb_build_object(k, old_j -> k);
        a := a || jsonb_build_object(k, new_j -> k);
      END IF;
    END LOOP;
    IF a = '{}'::jsonb THEN
      RETURN NULL;
    END IF;
  ELSE
    b := old_j;
    a := new_j;
  END IF;
  INSERT INTO audit_log (actor, user_id, token_id, ip, request, action, table_name, row_id, before, after)
  VALUES (who, nullif(current_setting('onemap.user_id', true), '')::integer,
          nullif(current_setting('onemap.token_id', true), '')::integer,
          nullif(current_setting('onemap.ip', true), '')::inet,
          nullif(current_setting('onemap.request', true), ''),
          lower(TG_OP), TG_TABLE_NAME, coalesce(new_j ->> 'id', old_j ->> 'id'), b, a);
  RETURN NULL;
END $$;
"""

#: Audited tables and the columns left out of before/after (secrets, geometry, GPS noise).
AUDITED: dict[str, tuple[str, ...]] = {
    "ticket": ("geom", "search"),
    "worker": ("geom", "position_at", "position_accuracy_m", "position_speed_mps", "position_heading_deg",
               "position_source"),
    "category": (),
    "department": (),
    "sensor": ("geom",),
    "camera": ("geom", "view_geom"),
    "alert": ("geom",),
    "published_message": (),
    "detection_class": (),
    "district_profile": (),
    "user_account": ("password_hash",),
    "api_token": ("token_hash",),
}


def upgrade() -> None:
    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(128), nullable=False, server_default=""),
        sa.Column("email", sa.String(254)),
        sa.Column("roles", pg.ARRAY(sa.String(32)), nullable=False),
        sa.Column("department_id", sa.Integer(), sa.ForeignKey("department.id", ondelete="SET NULL")),
        sa.Column("admin_unit_id", sa.Integer(), sa.ForeignKey("admin_unit.id", ondelete="SET NULL")),
        sa.Column("worker_id", sa.Integer(), sa.ForeignKey("worker.id", ondelete="SET NULL")),
        sa.Column("password_hash", sa.Text()),
        sa.Column("password_changed_at", sa.DateTime(timezone=True)),
        sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("oidc_issuer", sa.String(512)),
        sa.Column("oidc_subject", sa.String(255)),
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
        sa.Column("disabled_at", sa.DateTime(timezone=True)),
        sa.Column("last_login_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("cardinality(roles) >= 1 AND roles <@ ARRAY[%s]::varchar[]"
                           % ", ".join(f"'{r}'" for r in ROLES), name="ck_user_account_roles"),
        sa.CheckConstraint("username ~ '^[a-z0-9][a-z0-9._@-]{0,63}$'", name="ck_user_account_username"),
        sa.CheckConstraint("failed_logins >= 0", name="ck_user_account_failed"),
        sa.UniqueConstraint("oidc_issuer", "oidc_subject", name="uq_user_account_oidc"),
    )
    op.create_index("uq_user_account_username", "user_account", ["username"], unique=True)
    op.create_table(
        "user_session",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("via", sa.String(16), nullable=False, server_default="password"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("ip", pg.INET()),
        sa.Column("user_agent", sa.String(256)),
        sa.UniqueConstraint("token_hash", name="uq_user_session_token"),
        sa.CheckConstraint("via IN ('password', 'oidc')", name="ck_user_session_via"),
    )
    op.create_index("ix_user_session_user", "user_session", ["user_id"])
    op.add_column("api_token", sa.Column("expires_at", sa.DateTime(timezone=True)))
    op.add_column("api_token", sa.Column("scopes", pg.ARRAY(sa.String(32))))
    op.add_column("api_token", sa.Column("admin_unit_id", sa.Integer(),
                                         sa.ForeignKey("admin_unit.id", ondelete="SET NULL")))
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("clock_timestamp()")),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("user_id", sa.Integer()),
        sa.Column("token_id", sa.Integer()),
        sa.Column("ip", pg.INET()),
        sa.Column("request", sa.String(300)),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("table_name", sa.String(64)),
        sa.Column("row_id", sa.String(64)),
        sa.Column("before", pg.JSONB()),
        sa.Column("after", pg.JSONB()),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_target", "audit_log", ["table_name", "row_id"])
    op.create_index("ix_audit_log_actor", "audit_log", ["actor", "at"])
    op.execute("CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
               "FOR EACH ROW EXECUTE FUNCTION onemap_append_only()")
    op.execute(AUDIT_FN)
    for table, skip in AUDITED.items():
        args = ", ".join(f"'{c}'" for c in skip)
        op.execute(f"CREATE TRIGGER {table}_audit AFTER INSERT OR UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION onemap_audit({args})")


def downgrade() -> None:
    for table in AUDITED:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_audit ON {table}")
    op.execute("DROP FUNCTION IF EXISTS onemap_audit()")
    op.drop_table("audit_log")
    op.drop_column("api_token", "admin_unit_id")
    op.drop_column("api_token", "scopes")
    op.drop_column("api_token", "expires_at")
    op.drop_table("user_session")
    op.drop_table("user_account")
