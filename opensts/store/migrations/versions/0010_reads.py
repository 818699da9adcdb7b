"""What security teams read, and delegation requests: OIDC providers' identity-propagation
settings, access keys' last use, credential reports, access-advisor jobs, delegation requests.

Revision ID: 0010_reads
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_reads"
down_revision = "0009_credentials"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oidc_provider_configs",
        sa.Column("arn", sa.String(2048), primary_key=True),
        sa.Column("context_provider", sa.Text, nullable=True),
        sa.Column("identity_center_instance_arn", sa.String(1224), nullable=True),
    )
    op.create_table(
        "access_key_last_used",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("used_at", sa.BigInteger, nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
    )
    op.create_table(
        "credential_reports",
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("generated_at", sa.BigInteger, nullable=True),
        sa.Column("content", sa.LargeBinary, nullable=True),
    )
    op.create_table(
        "access_report_jobs",
        sa.Column("job_id", sa.String(36), primary_key=True),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("granularity", sa.String(16), nullable=False),
        sa.Column("target", sa.String(2048), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("completed_at", sa.BigInteger, nullable=False),
        sa.Column("result", sa.Text, nullable=False),
    )
    op.create_index("ix_access_report_jobs_account", "access_report_jobs", ["account_id"])
    op.create_table(
        "delegation_requests",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("requestor_account_id", sa.String(12), nullable=False),
        sa.Column("requestor_workflow_id", sa.String(400), nullable=False),
        sa.Column("owner_account_id", sa.String(12), nullable=True),
        sa.Column("owner_id", sa.String(2048), nullable=True),
        sa.Column("approver_id", sa.String(2048), nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("notes", sa.Text, nullable=True),
        sa.Column("rejection_reason", sa.Text, nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_delegation_requests_owner", "delegation_requests", ["owner_account_id"])
    op.create_index("ix_delegation_requests_workflow", "delegation_requests",
                    ["requestor_account_id", "requestor_workflow_id"], unique=True)


def downgrade() -> None:
    op.drop_table("delegation_requests")
    op.drop_table("access_report_jobs")
    op.drop_table("credential_reports")
    op.drop_table("access_key_last_used")
    op.drop_table("oidc_provider_configs")
