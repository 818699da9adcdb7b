"""Migration 0009_credentials (SQLite; the PostgreSQL run is tests/postgres with
OPENSTS_TEST_DATABASE_URL=auto) and the password rules and hashing (property-based)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect

from opensts.service.iam.passwords import SYMBOLS, hash_password, verify_password, violation
from opensts.store import tables as t
from opensts.store.credentials_repository import PasswordPolicyRecord
from opensts.store.database import _MIGRATIONS, make_engine, migrate

NEW_TABLES = {"instance_profiles", "instance_profile_roles", "service_linked_roles", "service_linked_role_deletions",
              "login_profiles", "password_policies", "ssh_public_keys", "signing_certificates",
              "server_certificates", "service_specific_credentials"}


def _config(conn: object) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def test_migration_creates_the_tables_as_declared_and_reverts(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    inspector = inspect(engine)
    assert NEW_TABLES <= set(inspector.get_table_names())
    for name in NEW_TABLES:  # the migration and tables.py agree column for column
        assert [c["name"] for c in inspector.get_columns(name)] == [c.name for c in t.metadata.tables[name].columns]
    with engine.begin() as conn:
        command.downgrade(_config(conn), "0007")
    assert not NEW_TABLES & set(inspect(engine).get_table_names())
    migrate(engine)  # and up again
    assert NEW_TABLES <= set(inspect(engine).get_table_names())


@settings(max_examples=25, deadline=None)
@given(st.text(min_size=1, max_size=40))  # (a short password may occur in base64 by chance)
def test_a_hash_verifies_only_its_password(password: str) -> None:
    stored = hash_password(password)
    assert stored.startswith("scrypt$") and (len(password) < 8 or password not in stored)
    assert verify_password(password, stored)
    assert not verify_password(password + "x", stored)
    assert hash_password(password) != stored  # salted


def test_verify_refuses_malformed_hashes() -> None:
    for stored in ("", "plain", "md5$1$2$3$4$5", "scrypt$x$8$1$AA==$AA==", "scrypt$16384$8$1$!!$!!"):
        assert not verify_password("anything", stored)


POLICY = PasswordPolicyRecord(12, True, True, True, True, False, None, None, None)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=40))
def test_violation_matches_the_rules_and_never_quotes_the_password(password: str) -> None:
    message = violation(password, POLICY)
    ok = (len(password) >= 12 and any(c.isascii() and c.isupper() for c in password)
          and any(c.isascii() and c.islower() for c in password)
          and any(c.isascii() and c.isdigit() for c in password) and any(c in SYMBOLS for c in password))
    assert (message is None) == ok
    assert message is None or message in {  # fixed texts: the password is never quoted
        "Password should have a minimum length of 12", "Password should have at least one uppercase letter",
        "Password should have at least one lowercase letter", "Password should have at least one number",
        "Password should have at least one symbol"}
