"""Ticket lifecycle, API tokens and scoring (issue 3)

Adds the ``api_token`` table (hashed bearer tokens with a role), the
``ticket.created_by`` attribution column with its index, indexes on
``ticket_reporter.account`` (a citizen's own tickets, merged ones included)
and ``ticket_reporter (channel, external_id)`` (idempotent merged reports),
and a partial GiST index on open tickets' points (the duplicate search). The SLA sweep needs no index of its own: it
filters open tickets through ``ix_ticket_status`` (ticket writes already
maintain 15 indexes, so every extra one costs intake throughput).

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ROLES = "('citizen','channel','grid_worker','dispatcher','handler','leadership','admin')"


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), primary_key=True),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("department_id", sa.Integer(), sa.ForeignKey("department.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("worker_id", sa.Integer(), sa.ForeignKey("worker.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"role IN {ROLES}", name="ck_api_token_role"),
        sa.UniqueConstraint("token_hash", name="uq_api_token_hash"),
    )
    op.add_column("ticket", sa.Column("created_by", sa.String(length=128), nullable=True))
    op.create_index("ix_ticket_created_by", "ticket", ["created_by"])
    op.create_index("ix_ticket_reporter_account", "ticket_reporter", ["account"])
    # duplicate search: open tickets only (the predicate must match spatial.tickets.duplicates literally)
    op.create_index(
        "ix_ticket_geom_open", "ticket", ["geom"], postgresql_using="gist",
        postgresql_where=sa.text("status IN ('reported', 'accepted', 'dispatched', 'in_progress', 'reopened')"),
    )
    op.create_index("ix_ticket_reporter_channel_external", "ticket_reporter", ["channel", "external_id"],
                    postgresql_where=sa.text("external_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_ticket_reporter_channel_external", table_name="ticket_reporter")
    op.drop_index("ix_ticket_geom_open", table_name="ticket")
    op.drop_index("ix_ticket_reporter_account", table_name="ticket_reporter")
    op.drop_index("ix_ticket_created_by", table_name="ticket")
    op.drop_column("ticket", "created_by")
    op.drop_table("api_token")
