"""Per-account Region state: opt-in Region status and STS activation.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_regions",
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("region", sa.String(32), primary_key=True),
        sa.Column("opt_status", sa.String(16), nullable=True),
        sa.Column("sts_active", sa.Integer, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("account_regions")
