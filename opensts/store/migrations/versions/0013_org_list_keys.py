"""Indexes the keyset pages of Organizations' remaining listings seek in (issue 19: a page costs
its size, not the organization's).

OUs are listed per parent by (name, id); an organization's policies by (name, id); invitations
per organization and per invited account as they were sent, (requested_at, id). A policy's
targets are listed by target id: the primary key (policy_id, target_id) already serves them.
Delegated administrators are read per organization (they were found by a full scan). And two
IAM listings: a user's MFA devices by serial, an account's delegation requests as created.

Revision ID: 0013_org_list_keys
Revises: 0012_changes
"""

from alembic import op

revision = "0013_org_list_keys"
down_revision = "0012_changes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_organizational_units_parent_name", "organizational_units", ["parent_id", "name", "id"])
    op.create_index("ix_organization_policies_org_name", "organization_policies", ["organization_id", "name", "id"])
    op.create_index("ix_handshakes_org_requested", "handshakes", ["organization_id", "requested_at", "id"])
    op.create_index("ix_handshakes_target_requested", "handshakes", ["target_account_id", "requested_at", "id"])
    op.create_index("ix_delegated_administrators_org", "delegated_administrators",
                    ["organization_id", "account_id", "registered_at"])
    op.create_index("ix_mfa_devices_user_serial", "mfa_devices", ["user_id", "serial"])
    op.create_index("ix_delegation_requests_owner_created", "delegation_requests",
                    ["owner_account_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_delegation_requests_owner_created", table_name="delegation_requests")
    op.drop_index("ix_mfa_devices_user_serial", table_name="mfa_devices")
    op.drop_index("ix_delegated_administrators_org", table_name="delegated_administrators")
    op.drop_index("ix_handshakes_target_requested", table_name="handshakes")
    op.drop_index("ix_handshakes_org_requested", table_name="handshakes")
    op.drop_index("ix_organization_policies_org_name", table_name="organization_policies")
    op.drop_index("ix_organizational_units_parent_name", table_name="organizational_units")
