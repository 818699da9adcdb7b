"""The relational schema (SQLAlchemy Core). Alembic migrations create and evolve it.

Secrets are stored only as ``SecretCipher`` ciphertexts (``*_sealed`` columns).
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# Global key/value facts: schema generation counter used for cache invalidation across processes.
meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(12), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("partition", String(32), nullable=False, server_default="aws"),
    Column("created_at", Integer, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", String(32), primary_key=True),  # AIDA…
    Column("account_id", String(12), ForeignKey("accounts.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("name_lower", String(64), nullable=False),
    Column("path", String(512), nullable=False, server_default="/"),
    Column("created_at", Integer, nullable=False),
    Index("ux_users_account_name", "account_id", "name_lower", unique=True),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("id", String(32), primary_key=True),  # AKIA…
    Column("account_id", String(12), ForeignKey("accounts.id"), nullable=False),
    Column("user_id", String(32), ForeignKey("users.id"), nullable=True),  # NULL: the root user
    Column("secret_sealed", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False, server_default="Active"),
    Column("created_at", Integer, nullable=False),
    Index("ix_access_keys_user", "user_id"),
)

user_policies = Table(
    "user_policies",
    metadata,
    Column("user_id", String(32), ForeignKey("users.id"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("document", Text, nullable=False),
)

# Token-sealing keys (AES-256-GCM), named by kid; each sealed under the master key.
sealing_keys = Table(
    "sealing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("region", String(32), nullable=False),
    Column("key_sealed", LargeBinary, nullable=False),
    Column("created_at", Integer, nullable=False),
    Column("retired_at", Integer, nullable=True),
)
