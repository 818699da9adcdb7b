"""Federation: outbound issuers per account, their signing keys, SAML assertion replay ids.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbound_federation",
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("issuer_id", sa.String(64), nullable=False, unique=True),
        sa.Column("enabled", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Integer, nullable=False),
    )
    op.create_table(
        "federation_signing_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("alg", sa.String(16), nullable=False),
        sa.Column("slot", sa.Integer, nullable=False),
        sa.Column("key_sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Integer, nullable=False),
    )
    op.create_index("ix_federation_signing_keys_alg_slot", "federation_signing_keys", ["alg", "slot"], unique=True)
    op.create_table(
        "saml_assertion_ids",
        sa.Column("assertion_key", sa.String(128), primary_key=True),
        sa.Column("expires_at", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("saml_assertion_ids")
    op.drop_index("ix_federation_signing_keys_alg_slot", "federation_signing_keys")
    op.drop_table("federation_signing_keys")
    op.drop_table("outbound_federation")
