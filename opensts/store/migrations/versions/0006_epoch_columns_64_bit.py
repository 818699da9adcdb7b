"""Times in epoch seconds as 64-bit integers: PostgreSQL's INTEGER is 32-bit, so a SAML
provider valid until after January 2038 could not be stored there (SQLite's integers were always
64-bit: nothing changes on SQLite).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

EPOCH_COLUMNS = (
    ("accounts", "created_at"), ("access_keys", "created_at"), ("users", "created_at"), ("roles", "created_at"),
    ("managed_policies", "created_at"), ("managed_policies", "updated_at"), ("policy_versions", "created_at"),
    ("sealing_keys", "created_at"), ("sealing_keys", "retired_at"), ("mfa_devices", "created_at"),
    ("mfa_devices", "enabled_at"), ("oidc_providers", "created_at"), ("saml_providers", "created_at"),
    ("saml_providers", "valid_until"), ("outbound_federation", "updated_at"),
    ("federation_signing_keys", "created_at"), ("saml_assertion_ids", "expires_at"),
)


def _alter(to: type[sa.types.TypeEngine], frm: type[sa.types.TypeEngine]) -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column in EPOCH_COLUMNS:
        op.alter_column(table, column, type_=to(), existing_type=frm())


def upgrade() -> None:
    _alter(sa.BigInteger, sa.Integer)


def downgrade() -> None:
    _alter(sa.Integer, sa.BigInteger)
