"""Instance profiles, service-linked roles (and their deletion tasks), login profiles and the account
password policy, SSH public keys, signing and server certificates, service-specific credentials.

Revision ID: 0009_credentials
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_credentials"
down_revision = "0008_groups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instance_profiles",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("name_lower", sa.String(128), nullable=False),
        sa.Column("path", sa.String(512), nullable=False, server_default="/"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ux_instance_profiles_account_name", "instance_profiles", ["account_id", "name_lower"], unique=True)
    op.create_table(
        "instance_profile_roles",
        sa.Column("profile_id", sa.String(32), sa.ForeignKey("instance_profiles.id"), primary_key=True),
        sa.Column("role_id", sa.String(32), sa.ForeignKey("roles.id"), primary_key=True),
    )
    op.create_index("ix_instance_profile_roles_role", "instance_profile_roles", ["role_id"])
    op.create_table(
        "service_linked_roles",
        sa.Column("role_id", sa.String(32), sa.ForeignKey("roles.id"), primary_key=True),
        sa.Column("service_name", sa.String(128), nullable=False),
    )
    op.create_table(
        "service_linked_role_deletions",
        sa.Column("task_id", sa.String(1000), primary_key=True),
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "login_profiles",
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("password_reset_required", sa.Integer, nullable=False, server_default="0"),
        sa.Column("previous_hashes", sa.Text, nullable=False, server_default="[]"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("password_changed_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "password_policies",
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("minimum_length", sa.Integer, nullable=False),
        sa.Column("require_symbols", sa.Integer, nullable=False),
        sa.Column("require_numbers", sa.Integer, nullable=False),
        sa.Column("require_uppercase", sa.Integer, nullable=False),
        sa.Column("require_lowercase", sa.Integer, nullable=False),
        sa.Column("allow_users_to_change", sa.Integer, nullable=False),
        sa.Column("max_password_age", sa.Integer, nullable=True),
        sa.Column("reuse_prevention", sa.Integer, nullable=True),
        sa.Column("hard_expiry", sa.Integer, nullable=True),
    )
    op.create_table(
        "ssh_public_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("uploaded_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_ssh_public_keys_user", "ssh_public_keys", ["user_id"])
    op.create_table(
        "signing_certificates",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("uploaded_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_signing_certificates_user", "signing_certificates", ["user_id"])
    op.create_table(
        "server_certificates",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("name_lower", sa.String(128), nullable=False),
        sa.Column("path", sa.String(512), nullable=False, server_default="/"),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("chain", sa.Text, nullable=True),
        sa.Column("key_sealed", sa.LargeBinary, nullable=False),
        sa.Column("expiration", sa.BigInteger, nullable=False),
        sa.Column("uploaded_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ux_server_certificates_account_name", "server_certificates", ["account_id", "name_lower"], unique=True)
    op.create_table(
        "service_specific_credentials",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("service_name", sa.String(128), nullable=False),
        sa.Column("service_user_name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_service_specific_credentials_user", "service_specific_credentials", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_service_specific_credentials_user", "service_specific_credentials")
    op.drop_table("service_specific_credentials")
    op.drop_index("ux_server_certificates_account_name", "server_certificates")
    op.drop_table("server_certificates")
    op.drop_index("ix_signing_certificates_user", "signing_certificates")
    op.drop_table("signing_certificates")
    op.drop_index("ix_ssh_public_keys_user", "ssh_public_keys")
    op.drop_table("ssh_public_keys")
    op.drop_table("password_policies")
    op.drop_table("login_profiles")
    op.drop_table("service_linked_role_deletions")
    op.drop_table("service_linked_roles")
    op.drop_index("ix_instance_profile_roles_role", "instance_profile_roles")
    op.drop_table("instance_profile_roles")
    op.drop_index("ux_instance_profiles_account_name", "instance_profiles")
    op.drop_table("instance_profiles")
