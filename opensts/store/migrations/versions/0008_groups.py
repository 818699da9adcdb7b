"""IAM groups (their inline policies and members; managed attachments use policy_attachments with
entity_type "group"), the account alias and account properties.

Revision ID: 0008_groups
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_groups"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "iam_groups",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("name_lower", sa.String(128), nullable=False),
        sa.Column("path", sa.String(512), nullable=False, server_default="/"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ux_iam_groups_account_name", "iam_groups", ["account_id", "name_lower"], unique=True)
    op.create_table(
        "group_policies",
        sa.Column("group_id", sa.String(32), sa.ForeignKey("iam_groups.id"), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("document", sa.Text, nullable=False),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.String(32), sa.ForeignKey("iam_groups.id"), primary_key=True),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("added_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_group_members_user", "group_members", ["user_id"])
    op.create_table(
        "account_aliases",
        sa.Column("alias", sa.String(63), primary_key=True),
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), nullable=False, unique=True),
    )
    op.create_table(
        "account_properties",
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("key", sa.String(50), primary_key=True),
        sa.Column("value", sa.String(1024), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("account_properties")
    op.drop_table("account_aliases")
    op.drop_index("ix_group_members_user", "group_members")
    op.drop_table("group_members")
    op.drop_table("group_policies")
    op.drop_index("ux_iam_groups_account_name", "iam_groups")
    op.drop_table("iam_groups")
