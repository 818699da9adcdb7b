"""The identity store: secrets encrypted at rest, 0600 files, generation-based cache invalidation."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from opensts.service.accounts import create_account, create_root_key
from opensts.service.bootstrap import bootstrap
from opensts.store.cache import StoreCache
from opensts.store.database import open_store
from opensts.store.repository import EntityAlreadyExists


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_secrets_never_reach_the_database_file(tmp_path: Path) -> None:
    repo = open_store(tmp_path)
    key = create_account(repo, "111122223333")
    root = create_root_key(repo, "111122223333")
    repo.engine.dispose()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("opensts.db*"))
    assert key.secret_access_key.encode() not in raw
    assert root.secret_access_key.encode() not in raw
    assert key.access_key_id.encode() in raw  # the id is not secret; proves we looked at the right file
    assert _mode(tmp_path / "master.key") == 0o600
    reopened = open_store(tmp_path)
    assert reopened.get_access_key(key.access_key_id).secret == key.secret_access_key  # type: ignore[union-attr]


def test_a_database_copy_without_the_master_key_reveals_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = open_store(tmp_path)
    key = create_account(repo, "111122223333")
    (tmp_path / "master.key").unlink()  # a thief with only the database gets a fresh, wrong master key
    with pytest.raises(SystemExit, match="master key .* is not the one this database's secrets were sealed with"):
        open_store(tmp_path)
    import secrets

    from opensts.store.cipher import SecretCipher
    from opensts.store.database import database_url, make_engine
    from opensts.store.repository import SqlRepository

    thief = SqlRepository(make_engine(database_url(tmp_path)), SecretCipher(secrets.token_bytes(32)))  # around the check
    with pytest.raises(Exception):
        thief.get_access_key(key.access_key_id)


def test_master_key_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import base64
    import secrets

    monkeypatch.setenv("OPENSTS_MASTER_KEY", base64.b64encode(secrets.token_bytes(32)).decode())
    repo = open_store(tmp_path)
    key = create_account(repo, "111122223333")
    assert not (tmp_path / "master.key").exists()
    assert repo.get_access_key(key.access_key_id).secret == key.secret_access_key  # type: ignore[union-attr]


def test_duplicates_are_refused(tmp_path: Path) -> None:
    repo = open_store(tmp_path)
    create_account(repo, "111122223333")
    with pytest.raises(EntityAlreadyExists):
        create_account(repo, "111122223333")


def test_cache_sees_writes_from_another_process_via_generation(tmp_path: Path) -> None:
    repo = open_store(tmp_path)
    cache = StoreCache(repo, check_interval=0.0)
    key = create_account(repo, "111122223333")
    assert cache.access_key(key.access_key_id).active  # type: ignore[union-attr]
    other = open_store(tmp_path)  # stands for the admin CLI
    other.set_access_key_status(key.access_key_id, "Inactive")
    assert not cache.access_key(key.access_key_id).active  # type: ignore[union-attr]


def test_bootstrap_is_deterministic_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENSTS_ACCOUNT_ID", "210987654321")
    monkeypatch.setenv("OPENSTS_ADMIN_ACCESS_KEY_ID", "AKIAEXAMPLEADMIN0001")
    monkeypatch.setenv("OPENSTS_ADMIN_SECRET_ACCESS_KEY", "x" * 40)
    repo = open_store(tmp_path)
    first = bootstrap(repo, tmp_path)
    assert first.created is not None and first.account_id == "210987654321"
    assert _mode(first.credentials_file) == 0o600
    assert "AKIAEXAMPLEADMIN0001" in first.credentials_file.read_text()
    second = bootstrap(repo, tmp_path)
    assert second.created is None and second.access_key_id == "AKIAEXAMPLEADMIN0001"


def test_bootstrap_generates_when_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENSTS_ACCOUNT_ID", "OPENSTS_ADMIN_ACCESS_KEY_ID", "OPENSTS_ADMIN_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    repo = open_store(tmp_path)
    first = bootstrap(repo, tmp_path)
    assert first.created is not None
    text = first.credentials_file.read_text()
    assert first.created.secret_access_key in text
    again = bootstrap(repo, tmp_path)
    assert again.created is None and again.account_id == first.account_id
    assert again.access_key_id == first.created.access_key_id
