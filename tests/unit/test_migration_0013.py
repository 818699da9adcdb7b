"""Migration 0013_org_list_keys on a store written before it: the names it copies into group
memberships and instance profile roles (GetGroup's and ListInstanceProfilesForRole's keyset
order) are filled in from the users and profiles, and it downgrades cleanly."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from opensts.store.database import _MIGRATIONS, make_engine


def _to(engine: object, revision: str, *, down: bool = False) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:  # type: ignore[attr-defined]
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def test_0013_copies_the_names_of_existing_members_and_profiles(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        _to(engine, "0012_changes")
        with engine.begin() as conn:
            for statement in (
                "INSERT INTO accounts (id, name, partition, created_at) VALUES ('111111111111', 'a', 'aws', 1)",
                "INSERT INTO users (id, account_id, name, name_lower, path, created_at) "
                "VALUES ('AIDA1', '111111111111', 'Alice', 'alice', '/', 1)",
                "INSERT INTO iam_groups (id, account_id, name, name_lower, path, created_at) "
                "VALUES ('AGPA1', '111111111111', 'G', 'g', '/', 1)",
                "INSERT INTO group_members (group_id, user_id, added_at) VALUES ('AGPA1', 'AIDA1', 1)",
                "INSERT INTO roles (id, account_id, name, name_lower, path, trust_policy, max_session_duration, "
                "created_at) VALUES ('AROA1', '111111111111', 'R', 'r', '/', '{}', 3600, 1)",
                "INSERT INTO instance_profiles (id, account_id, name, name_lower, path, created_at) "
                "VALUES ('AIPA1', '111111111111', 'Web', 'web', '/', 1)",
                "INSERT INTO instance_profile_roles (profile_id, role_id) VALUES ('AIPA1', 'AROA1')",
            ):
                conn.execute(text(statement))
        _to(engine, "0013_org_list_keys")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT user_name_lower FROM group_members")).scalar_one() == "alice"
            assert conn.execute(text("SELECT profile_name_lower FROM instance_profile_roles")).scalar_one() == "web"
        _to(engine, "0012_changes", down=True)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM group_members")).scalar_one() == 1
    finally:
        engine.dispose()
