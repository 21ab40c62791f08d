"""One-map aggregates (issue 5)

Partial indexes behind the map's live aggregates (spatial.maps.mapdata):
open-ticket counts per grid, the dispatch queue ordered by its deadline, and
tickets closed in a time window. Measured at 1M tickets the per-grid counts
from raw rows stay in the tens of milliseconds with these, so no rollup table
is needed (see docs/app.md).

Revision ID: 0005
Revises: 0004
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OPEN = "status IN ('reported','accepted','dispatched','in_progress','resolved','verified','reopened')"
QUEUE = "status IN ('reported','accepted','reopened')"


def upgrade() -> None:
    op.execute(f"CREATE INDEX ix_ticket_open_grid ON ticket (grid_id, status) WHERE {OPEN}")
    op.execute("CREATE INDEX ix_ticket_queue_due ON ticket "
               "((CASE WHEN status = 'reported' THEN accept_due_at ELSE resolve_due_at END), priority, id) "
               f"WHERE {QUEUE}")
    op.execute("CREATE INDEX ix_ticket_closed_at ON ticket (closed_at) WHERE closed_at IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_ticket_closed_at")
    op.execute("DROP INDEX IF EXISTS ix_ticket_queue_due")
    op.execute("DROP INDEX IF EXISTS ix_ticket_open_grid")
