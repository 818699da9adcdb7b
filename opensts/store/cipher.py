"""Secrets at rest: AES-256-GCM under a master key that never enters the database.

The master key lives in ``DATA_DIR/master.key`` (mode 0600, created on first use) or comes
from ``OPENSTS_MASTER_KEY`` (base64 of 32 bytes), so a copy of the database alone reveals no
secret access key and no token-sealing key. Each ciphertext is bound to its row by the
associated data (e.g. the access key id), so ciphertexts cannot be swapped between rows.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from opensts.private_files import FILE_MODE, narrow, write_private_file

__all__ = ["SecretCipher", "load_master_key", "MASTER_KEY_ENV"]

MASTER_KEY_ENV = "OPENSTS_MASTER_KEY"
_NONCE = 12
_VERSION = b"\x01"


class SecretCipher:
    """Seal and open small secrets with the master key."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("the master key must be 32 bytes")
        self._aead = AESGCM(master_key)

    def seal(self, plaintext: bytes, context: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def open(self, blob: bytes, context: str) -> bytes:
        if blob[:1] != _VERSION:
            raise ValueError("unknown secret format")
        nonce, body = blob[1 : 1 + _NONCE], blob[1 + _NONCE :]
        return self._aead.decrypt(nonce, body, context.encode())


def load_master_key(data_dir: Path) -> bytes:
    """The master key from the environment, else from the data folder (created if absent)."""
    env = os.environ.get(MASTER_KEY_ENV)
    if env:
        key = base64.b64decode(env)
        if len(key) != 32:
            raise ValueError(f"{MASTER_KEY_ENV} must be base64 of 32 bytes")
        return key
    path = data_dir / "master.key"
    if path.exists():
        narrow(path, FILE_MODE)  # one written wider by an older version
        return base64.b64decode(path.read_bytes().strip())
    key = secrets.token_bytes(32)
    write_private_file(path, base64.b64encode(key) + b"\n")
    return key
