"""IAM entities: roles, managed policies and versions, attachments, tags, identity providers,
virtual MFA devices, per-account STS settings, user permissions boundaries.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_NAMES = (
    "account_settings",
    "roles",
    "role_policies",
    "managed_policies",
    "policy_versions",
    "policy_attachments",
    "tags",
    "oidc_providers",
    "saml_providers",
    "mfa_devices",
)


def upgrade() -> None:
    op.create_table(
        "account_settings",
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("global_endpoint_token_version", sa.Integer, nullable=False, server_default="1"),
    )
    op.create_table(
        "roles",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("name_lower", sa.String(64), nullable=False),
        sa.Column("path", sa.String(512), nullable=False, server_default="/"),
        sa.Column("trust_policy", sa.Text, nullable=False),
        sa.Column("description", sa.String(1000), nullable=True),
        sa.Column("max_session_duration", sa.Integer, nullable=False, server_default="3600"),
        sa.Column("permissions_boundary_arn", sa.String(2048), nullable=True),
        sa.Column("created_at", sa.Integer, nullable=False),
    )
    op.create_index("ux_roles_account_name", "roles", ["account_id", "name_lower"], unique=True)
    op.create_table(
        "role_policies",
        sa.Column("role_id", sa.String(32), sa.ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("document", sa.Text, nullable=False),
    )
    op.create_table(
        "managed_policies",
        sa.Column("arn", sa.String(2048), primary_key=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("account_id", sa.String(12), nullable=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("path", sa.String(512), nullable=False, server_default="/"),
        sa.Column("description", sa.String(1000), nullable=True),
        sa.Column("default_version", sa.String(16), nullable=False, server_default="v1"),
        sa.Column("next_version", sa.Integer, nullable=False, server_default="2"),
        sa.Column("created_at", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Integer, nullable=False),
    )
    op.create_table(
        "policy_versions",
        sa.Column("policy_arn", sa.String(2048), sa.ForeignKey("managed_policies.arn", ondelete="CASCADE"), primary_key=True),
        sa.Column("version_id", sa.String(16), primary_key=True),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("created_at", sa.Integer, nullable=False),
    )
    op.create_table(
        "policy_attachments",
        sa.Column("entity_type", sa.String(8), primary_key=True),
        sa.Column("entity_id", sa.String(32), primary_key=True),
        sa.Column("policy_arn", sa.String(2048), primary_key=True),
    )
    op.create_index("ix_policy_attachments_arn", "policy_attachments", ["policy_arn"], unique=False)
    op.create_table(
        "tags",
        sa.Column("entity_type", sa.String(8), primary_key=True),
        sa.Column("entity_id", sa.String(2048), primary_key=True),
        sa.Column("key_lower", sa.String(128), primary_key=True),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("value", sa.String(256), nullable=False),
    )
    op.create_table(
        "oidc_providers",
        sa.Column("arn", sa.String(2048), primary_key=True),
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("url", sa.String(255), nullable=False),
        sa.Column("client_ids", sa.Text, nullable=False, server_default="[]"),
        sa.Column("thumbprints", sa.Text, nullable=False, server_default="[]"),
        sa.Column("created_at", sa.Integer, nullable=False),
    )
    op.create_table(
        "saml_providers",
        sa.Column("arn", sa.String(2048), primary_key=True),
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("metadata_document", sa.Text, nullable=False),
        sa.Column("valid_until", sa.Integer, nullable=True),
        sa.Column("created_at", sa.Integer, nullable=False),
    )
    op.create_table(
        "mfa_devices",
        sa.Column("serial", sa.String(256), primary_key=True),
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("path", sa.String(512), nullable=False, server_default="/"),
        sa.Column("seed_sealed", sa.LargeBinary, nullable=False),
        sa.Column("user_id", sa.String(32), nullable=True),
        sa.Column("enabled_at", sa.Integer, nullable=True),
        sa.Column("last_step", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Integer, nullable=False),
    )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("permissions_boundary_arn", sa.String(2048), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("permissions_boundary_arn")
    for name in reversed(_NAMES):
        op.drop_table(name)
