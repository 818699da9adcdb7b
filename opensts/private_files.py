"""Files at rest are private: every file we create is 0600 and every folder 0700.

Why: the data folder holds the master key, the credentials file, the database (sealed secrets,
but also every principal and policy), the audit journal, its index and the delivered trails.
They were created 0644 under the usual umask, protected only by the data folder's 0700 — which a
folder made beforehand (``mkdir -p``, a container volume, a test) does not have.

Three parts, because file creation is spread over our code and libraries:

* ``restrict_umask()``, first thing in the ``opensts`` command: whatever any code creates from
  then on (our files, SQLite's, Python's ``open``) starts private, with no window.
* explicit modes where we create files and folders, for code run without the command.
* SQLite gives a database's ``-wal``/``-shm`` files the mode of the database file (it fchmods
  them, whatever the umask): ``private_sqlite`` creates the database file 0600 before SQLite
  opens it, and narrows one left wider by an older version (with its ``-wal``/``-shm``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["FILE_MODE", "DIR_MODE", "restrict_umask", "private_dir", "narrow", "private_opener",
           "write_private_file", "private_sqlite"]

FILE_MODE = 0o600
DIR_MODE = 0o700


def restrict_umask() -> None:
    """Group and others get no bits on anything this process creates."""
    os.umask(0o077)


def private_dir(path: Path) -> Path:
    """``path`` and its missing parents, created 0700 (``Path.mkdir(parents=True, mode=…)``
    gives the parents the default mode, not ``mode``)."""
    missing = []
    level = path
    while not level.exists():
        missing.append(level)
        level = level.parent
    for level in reversed(missing):
        try:
            os.mkdir(level, DIR_MODE)
        except FileExistsError:  # made meanwhile by another process
            pass
    return path


def narrow(path: Path, mode: int) -> None:
    """Take away from an existing ``path`` of ours every bit that ``mode`` does not grant (not
    the owner's: a folder we cannot chmod, not being its owner, is left as it is)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return
    current = stat.S_IMODE(info.st_mode)
    if current & ~mode and info.st_uid == os.geteuid():
        os.chmod(path, current & mode)


def private_opener(path: str, flags: int) -> int:
    """For ``open(path, …, opener=private_opener)``: a file created by it is 0600."""
    return os.open(path, flags, FILE_MODE)


def write_private_file(path: Path, data: bytes) -> None:
    """Create (or replace the content of) ``path`` as 0600 from the start: no window where
    others can read it, and an existing file's wider mode is narrowed before the write."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        os.write(fd, data)
    finally:
        os.close(fd)


def private_sqlite(path: Path) -> None:
    """The SQLite database file at ``path`` exists and is 0600 (its ``-wal``/``-shm`` follow it)."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE))
    for suffix in ("", "-wal", "-shm", "-journal"):
        narrow(path.with_name(path.name + suffix), FILE_MODE)
