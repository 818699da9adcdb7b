"""Master-key rotation covers every secret at rest (store/master_key.py): every column of the
schema holding a SecretCipher ciphertext is in ``SEALED``, and every place that seals a secret
uses a context ``SEALED`` knows — so a new sealed column cannot be forgotten by the rotation.
Also the cipher's side of a rotation: a process follows a key installed as master.key.next."""

from __future__ import annotations

import base64
import re
import secrets
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import LargeBinary

from opensts.store import tables
from opensts.store.cipher import NEXT_KEY_FILE, SecretCipher
from opensts.store.master_key import SEALED

ROOT = Path(__file__).resolve().parents[2] / "opensts"
#: Binary columns that hold no secret (so nothing to re-seal), each with why.
PLAIN_BINARY = {("credential_reports", "content")}  # the report's CSV, returned as is by GetCredentialReport


def test_every_binary_column_of_the_schema_is_resealed() -> None:
    binary = {(table.name, col.name) for table in tables.metadata.tables.values() for col in table.columns
              if isinstance(col.type, LargeBinary) or col.name.endswith("_sealed")}
    covered = {(s.table.name, s.column) for s in SEALED}
    assert binary - PLAIN_BINARY == covered, f"columns a master-key rotation would not re-seal: {binary - covered}"


def test_every_seal_in_the_code_uses_a_context_the_rotation_knows() -> None:
    """Each ``_cipher.seal(..., context=...)`` in the store matches one SEALED entry's context."""
    sites, contexts = 0, set()
    for path in ROOT.rglob("*.py"):
        text = path.read_text()
        sites += len(re.findall(r"_cipher\.seal\(", text))
        for m in re.finditer(r"_cipher\.seal\(.*context=(f?\"[^\"]*\"|\w+)\)", text):
            contexts.add(re.sub(r"\{[^}]*\}", "X", m.group(1).removeprefix("f").strip('"')) if '"' in m.group(1) else "X")
    assert sites >= 5 and sites == sum(1 for _ in _seal_lines()), "a seal site without a context= on its line"
    known = {s.context("X") for s in SEALED}
    assert contexts <= known, f"seal sites with a context master_key.SEALED does not re-seal: {contexts - known}"
    assert known <= contexts | {"X"}


def _seal_lines() -> list[str]:
    return [line for path in ROOT.rglob("*.py") for line in path.read_text().splitlines()
            if "_cipher.seal(" in line and "context=" in line]


def _key_file(path: Path, key: bytes) -> None:
    path.write_bytes(base64.b64encode(key) + b"\n")


def test_a_process_opens_secrets_sealed_under_a_key_installed_after_it_started(tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENSTS_MASTER_KEY", raising=False)
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    _key_file(tmp_path / "master.key", old)
    cipher = SecretCipher.from_data_dir(tmp_path)
    under_new = SecretCipher(new).seal(b"s3cret", "ctx")
    with pytest.raises(InvalidTag):
        cipher.open(under_new, "ctx")
    cipher._reloaded = 0.0  # the re-read of the key files is rate limited to once a second
    _key_file(tmp_path / NEXT_KEY_FILE, new)
    assert cipher.open(under_new, "ctx") == b"s3cret"
    check = base64.b64encode(SecretCipher(new).seal(b"opensts", "master_key_check")).decode()
    assert cipher.adopt(check)
    assert SecretCipher(new).open(cipher.seal(b"x", "c"), "c") == b"x"  # seals with the new key now
    with pytest.raises(InvalidTag):
        SecretCipher(old).open(cipher.seal(b"x", "c"), "c")


def test_a_process_without_the_new_key_refuses_to_seal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from opensts.store.outage import StoreUnavailable

    monkeypatch.delenv("OPENSTS_MASTER_KEY", raising=False)
    _key_file(tmp_path / "master.key", secrets.token_bytes(32))
    cipher = SecretCipher.from_data_dir(tmp_path)
    elsewhere = base64.b64encode(SecretCipher(secrets.token_bytes(32)).seal(b"opensts", "master_key_check")).decode()
    assert not cipher.adopt(elsewhere)
    with pytest.raises(StoreUnavailable):
        cipher.seal(b"x", "c")
