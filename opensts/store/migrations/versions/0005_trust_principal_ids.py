"""Roles remember the unique ids of the users/roles their trust policy names (as IAM does), so a
principal deleted and re-created under the same name is not trusted by the old policy.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("roles") as batch:
        batch.add_column(sa.Column("trust_principal_ids", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("roles") as batch:
        batch.drop_column("trust_principal_ids")
