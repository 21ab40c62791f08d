"""Privacy flags: sensitive categories and private sensors (issue 11)

* ``category.sensitive``: tickets of the category concern a person (elderly
  help, personal safety, domestic violence); they are never public
  (``spatial.privacy``). Existing catalogs get the flag on the codes below.
* ``sensor.private``: a sensor at a person's home (door sensors of elderly
  people living alone); it, its readings and its alerts are staff-only.
  Existing ``door`` sensors become private.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: Category codes marked sensitive in catalogs that exist before this migration.
SENSITIVE_CODES = ("elderly_help", "personal_safety", "domestic_violence", "child_protection")


def upgrade() -> None:
    op.add_column("category", sa.Column("sensitive", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("sensor", sa.Column("private", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.execute(sa.text("UPDATE category SET sensitive = true WHERE code = ANY(:codes)")
               .bindparams(codes=list(SENSITIVE_CODES)))
    op.execute("UPDATE sensor SET private = true WHERE sensor_type = 'door'")


def downgrade() -> None:
    op.drop_column("sensor", "private")
    op.drop_column("category", "sensitive")
