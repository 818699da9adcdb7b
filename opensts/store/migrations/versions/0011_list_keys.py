"""Indexes the keyset pages of IAM's listings seek in (issue 19: a page costs its size).

Users, roles, groups, instance profiles and server certificates already have a unique index on
(account_id, name_lower). Managed policies are listed by (name, id) within an account (or among
the AWS managed ones, account_id NULL); virtual MFA devices by serial within an account;
Organizations' member accounts by (joined_at, account_id); service-specific credentials of
all users by (created_at, id). A page of policies counts each one's
permissions-boundary uses: users and roles by boundary ARN.

Revision ID: 0011_list_keys
Revises: 0010_reads
"""

from alembic import op

revision = "0011_list_keys"
down_revision = "0010_reads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_managed_policies_account_name", "managed_policies", ["account_id", "name", "id"])
    op.create_index("ix_mfa_devices_account_serial", "mfa_devices", ["account_id", "serial"])
    op.create_index("ix_users_boundary", "users", ["permissions_boundary_arn"])
    op.create_index("ix_roles_boundary", "roles", ["permissions_boundary_arn"])
    op.create_index("ix_service_specific_credentials_created", "service_specific_credentials", ["created_at", "id"])
    op.create_index("ix_organization_accounts_joined", "organization_accounts",
                    ["organization_id", "joined_at", "account_id"])


def downgrade() -> None:
    op.drop_index("ix_service_specific_credentials_created", table_name="service_specific_credentials")
    op.drop_index("ix_organization_accounts_joined", table_name="organization_accounts")
    op.drop_index("ix_roles_boundary", table_name="roles")
    op.drop_index("ix_users_boundary", table_name="users")
    op.drop_index("ix_mfa_devices_account_serial", table_name="mfa_devices")
    op.drop_index("ix_managed_policies_account_name", table_name="managed_policies")
