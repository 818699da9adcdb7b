"""AWS Organizations: organizations, their member accounts, organizational units, invitations,
delegated administrators and service control policies (for AssumeRoot's centralized root access,
the ``aws:PrincipalOrgID`` / ``aws:PrincipalOrgPaths`` condition keys and SCPs in every decision).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.String(34), primary_key=True),
        sa.Column("management_account_id", sa.String(12), sa.ForeignKey("accounts.id"), nullable=False, unique=True),
        sa.Column("root_id", sa.String(32), nullable=False),
        sa.Column("feature_set", sa.String(32), nullable=False),
        sa.Column("iam_features", sa.Text, nullable=False, server_default=""),
        sa.Column("service_access", sa.Text, nullable=False, server_default=""),
        sa.Column("policy_types", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "organization_accounts",
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("organization_id", sa.String(34), sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("email", sa.String(64), nullable=False),
        sa.Column("joined_method", sa.String(16), nullable=False),
        sa.Column("joined_at", sa.BigInteger, nullable=False),
        sa.Column("create_request_id", sa.String(40), nullable=True, unique=True),
        sa.Column("parent_id", sa.String(80), nullable=True),
    )
    op.create_index("ix_organization_accounts_org", "organization_accounts", ["organization_id"])
    op.create_table(
        "delegated_administrators",
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("service_principal", sa.String(128), primary_key=True),
        sa.Column("organization_id", sa.String(34), sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("registered_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "handshakes",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("organization_id", sa.String(34), sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("target_account_id", sa.String(12), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("notes", sa.Text, nullable=True),
        sa.Column("requested_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_handshakes_target", "handshakes", ["target_account_id"])
    op.create_table(
        "organizational_units",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("organization_id", sa.String(34), sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("parent_id", sa.String(80), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
    )
    op.create_index("ix_organizational_units_parent", "organizational_units", ["parent_id"])
    op.create_table(
        "organization_policies",
        sa.Column("id", sa.String(130), primary_key=True),
        sa.Column("organization_id", sa.String(34), sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.String(512), nullable=False, server_default=""),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
    )
    op.create_table(
        "organization_policy_targets",
        sa.Column("policy_id", sa.String(130), primary_key=True),
        sa.Column("target_id", sa.String(100), primary_key=True),
        sa.Column("organization_id", sa.String(34), sa.ForeignKey("organizations.id"), nullable=False),
    )
    op.create_index("ix_organization_policy_targets_target", "organization_policy_targets", ["target_id"])


def downgrade() -> None:
    op.drop_index("ix_organization_policy_targets_target", "organization_policy_targets")
    op.drop_table("organization_policy_targets")
    op.drop_table("organization_policies")
    op.drop_index("ix_organizational_units_parent", "organizational_units")
    op.drop_table("organizational_units")
    op.drop_index("ix_handshakes_target", "handshakes")
    op.drop_table("handshakes")
    op.drop_table("delegated_administrators")
    op.drop_index("ix_organization_accounts_org", "organization_accounts")
    op.drop_table("organization_accounts")
    op.drop_table("organizations")
