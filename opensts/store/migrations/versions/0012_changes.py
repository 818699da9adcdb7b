"""The change log: what each write touched (store/changes.py), for targeted cache invalidation.

Revision ID: 0012_changes
Revises: 0010_reads
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_changes"
down_revision = "0011_list_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(2048), nullable=False),
    )
    op.create_index("ix_changes_generation", "changes", ["generation"])


def downgrade() -> None:
    op.drop_index("ix_changes_generation", table_name="changes")
    op.drop_table("changes")
