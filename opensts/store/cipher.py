"""Secrets at rest: AES-256-GCM under a master key that never enters the database.

The master key lives in ``DATA_DIR/master.key`` (mode 0600, created on first use) or comes
from ``OPENSTS_MASTER_KEY`` (base64 of 32 bytes), so a copy of the database alone reveals no
secret access key and no token-sealing key. Each ciphertext is bound to its row by the
associated data (e.g. the access key id), so ciphertexts cannot be swapped between rows.

Rotation (`opensts master-key rotate`, store/master_key.py) re-seals every secret under a new
key. A process learns the new key from ``DATA_DIR/master.key.next`` (written before the database
is re-sealed) or from ``DATA_DIR/master.key`` (replaced right after): a cipher made by
``SecretCipher.from_data_dir`` re-reads both when a secret does not open, and ``adopt`` makes the
key that opens the database's check row the one it seals with.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from opensts.private_files import FILE_MODE, narrow, write_private_file
from opensts.store.outage import StoreUnavailable

__all__ = ["SecretCipher", "load_master_key", "master_key_candidates", "fingerprint", "MASTER_KEY_ENV",
           "NEXT_KEY_FILE"]

MASTER_KEY_ENV = "OPENSTS_MASTER_KEY"
NEXT_KEY_FILE = "master.key.next"
_NONCE = 12
_VERSION = b"\x01"
_RELOAD_INTERVAL = 1.0  # seconds between re-reads of the key files after a secret failed to open


def fingerprint(key: bytes) -> str:
    """A name for a master key that reveals nothing of it (shown by backups and rotation)."""
    return "sha256:" + hashlib.sha256(b"opensts master key\0" + key).hexdigest()[:16]


class SecretCipher:
    """Seal and open small secrets with the master key (opening also with the keys a rotation
    in progress may have used: the previous one and the next one)."""

    def __init__(self, master_key: bytes, *, source: Callable[[], list[bytes]] | None = None) -> None:
        if len(master_key) != 32:
            raise ValueError("the master key must be 32 bytes")
        self._key = master_key
        self._aead = AESGCM(master_key)
        self._others: list[AESGCM] = []
        self._known = {master_key}
        self._source = source
        self._reloaded = 0.0
        self._stale = False  # the database's secrets were re-sealed under a key we cannot read
        self._read_check: Callable[[], str | None] | None = None
        self._adopted: str | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> SecretCipher:
        """The cipher of the master key of ``data_dir`` (environment or ``master.key``), which also
        follows a rotation through ``master.key.next`` / a replaced ``master.key``."""
        return cls(load_master_key(data_dir), source=lambda: master_key_candidates(data_dir))

    def follow(self, read_check: Callable[[], str | None]) -> None:
        """Before each seal, read the database's check value and adopt the key that opens it: a
        secret written right after a rotation is sealed with the new key, not the old one (writes
        of secrets are rare: access keys, MFA devices, certificates, keys)."""
        self._read_check = read_check

    @property
    def fingerprint(self) -> str:
        return fingerprint(self._key)

    def seal(self, plaintext: bytes, context: str) -> bytes:
        if self._read_check is not None:
            check = self._read_check()
            if check is not None and check != self._adopted:
                self.adopt(check)
        if self._stale:  # sealing with the key rotated away would leave a secret no one can open later
            raise StoreUnavailable("the database's master key was rotated and this server does not have the new "
                                   f"key: install it as DATA_DIR/{NEXT_KEY_FILE} (docs/OPERATIONS.md)")
        nonce = secrets.token_bytes(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def open(self, blob: bytes, context: str) -> bytes:
        if blob[:1] != _VERSION:
            raise ValueError("unknown secret format")
        nonce, body, aad = blob[1 : 1 + _NONCE], blob[1 + _NONCE :], context.encode()
        for attempt in (0, 1):
            for aead in (self._aead, *self._others):
                try:
                    return aead.decrypt(nonce, body, aad)
                except InvalidTag:
                    continue
            if attempt or not self._read_source():  # a rotation's key not read yet?
                break
        raise InvalidTag()

    def _read_source(self) -> bool:
        """Re-read the key files (at most once per interval); whether a key new to us was found."""
        now = time.monotonic()
        with self._lock:
            if self._source is None or now - self._reloaded < _RELOAD_INTERVAL:
                return False
            self._reloaded = now
        found = False
        for key in self._source():
            if key not in self._known:
                self._known.add(key)
                self._others.append(AESGCM(key))
                found = True
        return found

    def adopt(self, check_blob: str, context: str = "master_key_check") -> bool:
        """Seal from now on with the key (among this one, those seen and the key files') that opens
        the database's check value; False (nothing changed) when none does."""
        blob = base64.b64decode(check_blob)
        self._reloaded = 0.0
        self._read_source()
        for key in [self._key, *sorted(self._known - {self._key})]:
            try:
                AESGCM(key).decrypt(blob[1 : 1 + _NONCE], blob[1 + _NONCE :], context.encode())
            except InvalidTag:
                continue
            if key != self._key:
                with self._lock:
                    self._others = [AESGCM(k) for k in self._known if k != key]
                    self._key, self._aead = key, AESGCM(key)
            self._stale, self._adopted = False, check_blob
            return True
        self._stale = True
        return False


def _read_key_file(path: Path) -> bytes | None:
    try:
        key = base64.b64decode(path.read_bytes().strip(), validate=True)
    except (OSError, ValueError):
        return None
    return key if len(key) == 32 else None


def master_key_candidates(data_dir: Path) -> list[bytes]:
    """The keys this data folder offers: the master key (environment, else ``master.key``), then
    ``master.key.next`` (a rotation's new key, installed before it runs)."""
    keys = []
    env = os.environ.get(MASTER_KEY_ENV)
    if env:
        keys.append(base64.b64decode(env))
    else:
        keys.append(_read_key_file(data_dir / "master.key"))
    keys.append(_read_key_file(data_dir / NEXT_KEY_FILE))
    return [k for k in keys if k is not None and len(k) == 32]


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
