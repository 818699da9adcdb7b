"""This server's node id: a short random name, made on first start and kept in its data folder.

Why: in a fleet several nodes deliver trail files into one Region's trail store, each numbering its
own batches from 1; the node id in every file name keeps two nodes' files apart (CloudTrail's file
names are unique in the same way). It is ``DATA_DIR/node-id``: 8 characters of ``0-9a-z``, stable
across restarts. A data folder copied to make another node must not take this file along (delete
it in the copy: a new id is made at the next start).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from pathlib import Path

from opensts.private_files import FILE_MODE

__all__ = ["node_id", "NODE_ID_FILE", "ALPHABET"]

NODE_ID_FILE = "node-id"
ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_LENGTH = 8
_VALID = re.compile(rf"[0-9a-z]{{{_LENGTH}}}")
log = logging.getLogger("opensts")


def node_id(data_dir: Path) -> str:
    """The id kept in ``data_dir``, made (atomically: concurrent first starts agree) when there is none."""
    path = data_dir / NODE_ID_FILE
    for _ in range(3):
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            _create(path)
            continue
        except (OSError, UnicodeDecodeError):
            text = ""
        if _VALID.fullmatch(text):
            return text
        log.warning("%s does not hold a node id; making a new one", path)
        path.unlink(missing_ok=True)
    raise OSError(f"cannot keep a node id in {path}")


def _create(path: Path) -> None:
    """Write a new id into a temporary file and link it into place: the first linker wins."""
    new = "".join(secrets.choice(ALPHABET) for _ in range(_LENGTH))
    tmp = path.with_name(f".{NODE_ID_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        os.write(fd, new.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
