"""Identity store: accounts, IAM users, access keys, user policies, sealing keys.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(12), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("partition", sa.String(32), nullable=False, server_default="aws"),
        sa.Column("created_at", sa.Integer, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("name_lower", sa.String(64), nullable=False),
        sa.Column("path", sa.String(512), nullable=False, server_default="/"),
        sa.Column("created_at", sa.Integer, nullable=False),
    )
    op.create_index("ux_users_account_name", "users", ["account_id", "name_lower"], unique=True)
    op.create_table(
        "access_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("secret_sealed", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="Active"),
        sa.Column("created_at", sa.Integer, nullable=False),
    )
    op.create_index("ix_access_keys_user", "access_keys", ["user_id"])
    op.create_table(
        "user_policies",
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("document", sa.Text, nullable=False),
    )
    op.create_table(
        "sealing_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("key_sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Integer, nullable=False),
        sa.Column("retired_at", sa.Integer, nullable=True),
    )
    op.bulk_insert(sa.table("meta", sa.column("key"), sa.column("value")), [{"key": "generation", "value": "0"}])


def downgrade() -> None:
    for name in ("sealing_keys", "user_policies", "access_keys", "users", "accounts", "meta"):
        op.drop_table(name)
