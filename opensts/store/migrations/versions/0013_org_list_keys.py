"""Indexes the keyset pages of Organizations' remaining listings seek in (issue 19: a page costs
its size, not the organization's).

OUs are listed per parent by (name, id); an organization's policies by (name, id); invitations
per organization and per invited account as they were sent, (requested_at, id). A policy's
targets are listed by target id: the primary key (policy_id, target_id) already serves them.
Delegated administrators are read per organization (they were found by a full scan). And IAM
listings: a user's MFA devices by serial, an account's delegation requests as created, and two
relations listed in the order of the other side's name — a group's members by user name
(GetGroup), a role's instance profiles by profile name (ListInstanceProfilesForRole): the name
is copied into the relation row (``user_name_lower``, ``profile_name_lower``, kept by the writes
that add a member or a role and by a user's rename), so a page seeks an index on (owner, name)
instead of joining and sorting every member (66 ms for the first page of a 50,000-user group).
ListEntitiesForPolicy's permissions-boundary users and roles: by (boundary, account, name), so
its page seeks them in name order instead of reading every user of the account in name order
(they replace 0011's indexes on the boundary alone: a prefix of them, one index less to write).

Revision ID: 0013_org_list_keys
Revises: 0012_changes
"""

import sqlalchemy as sa
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
    op.create_index("ix_users_boundary_name", "users", ["permissions_boundary_arn", "account_id", "name_lower"])
    op.create_index("ix_roles_boundary_name", "roles", ["permissions_boundary_arn", "account_id", "name_lower"])
    op.drop_index("ix_users_boundary", table_name="users")
    op.drop_index("ix_roles_boundary", table_name="roles")
    op.add_column("group_members", sa.Column("user_name_lower", sa.String(64), nullable=True))
    op.execute("UPDATE group_members SET user_name_lower = "
               "(SELECT name_lower FROM users WHERE users.id = group_members.user_id)")
    op.create_index("ix_group_members_group_name", "group_members", ["group_id", "user_name_lower"])
    op.add_column("instance_profile_roles", sa.Column("profile_name_lower", sa.String(64), nullable=True))
    op.execute("UPDATE instance_profile_roles SET profile_name_lower = (SELECT name_lower FROM instance_profiles "
               "WHERE instance_profiles.id = instance_profile_roles.profile_id)")
    op.create_index("ix_instance_profile_roles_role_name", "instance_profile_roles", ["role_id", "profile_name_lower"])
    op.create_index("ix_delegation_requests_owner_created", "delegation_requests",
                    ["owner_account_id", "created_at", "id"])


def downgrade() -> None:
    op.create_index("ix_users_boundary", "users", ["permissions_boundary_arn"])
    op.create_index("ix_roles_boundary", "roles", ["permissions_boundary_arn"])
    op.drop_index("ix_roles_boundary_name", table_name="roles")
    op.drop_index("ix_users_boundary_name", table_name="users")
    op.drop_index("ix_instance_profile_roles_role_name", table_name="instance_profile_roles")
    with op.batch_alter_table("instance_profile_roles") as batch:
        batch.drop_column("profile_name_lower")
    op.drop_index("ix_group_members_group_name", table_name="group_members")
    with op.batch_alter_table("group_members") as batch:
        batch.drop_column("user_name_lower")
    op.drop_index("ix_delegation_requests_owner_created", table_name="delegation_requests")
    op.drop_index("ix_mfa_devices_user_serial", table_name="mfa_devices")
    op.drop_index("ix_delegated_administrators_org", table_name="delegated_administrators")
    op.drop_index("ix_handshakes_target_requested", table_name="handshakes")
    op.drop_index("ix_handshakes_org_requested", table_name="handshakes")
    op.drop_index("ix_organization_policies_org_name", table_name="organization_policies")
    op.drop_index("ix_organizational_units_parent_name", table_name="organizational_units")
