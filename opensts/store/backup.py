"""`opensts backup FILE` and `opensts restore FILE` for the embedded (SQLite) store.

A backup is a gzip'd tar holding ``manifest.json``, ``opensts.db`` — a consistent snapshot made
with SQLite's online backup API while servers keep reading and writing (one read transaction
in WAL mode: writers are not blocked) — and the data folder's other files: the config file and
the audit journal with its delivery state (``audit/``: records not yet delivered to a trail
exist nowhere else), delivered trail files and delegation notices when they live in the folder.

Not in it, by design: the master key (named in the manifest by its fingerprint and where it came
from: without it the backup reveals no secret), ``master.key.next``, the ``credentials`` file
(the first administrator's key in plaintext; the key itself is in the database, sealed) and
``node-id`` (a restored server is a new node and gets its own, so two copies never write the
same trail object names). PostgreSQL is backed up with its own tools (pg_dump / pg_basebackup).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from pathlib import Path, PurePosixPath

import click

from opensts import __version__
from opensts.cli import _data_dir, _data_dir_option, _OneLineError

__all__ = ["backup", "restore", "write_backup", "restore_backup", "FORMAT"]

FORMAT = "opensts-backup/1"
_DB = "opensts.db"
_MANIFEST = "manifest.json"
_FILES = "files/"
#: Files of the data folder never copied (see the module's docstring), and SQLite's own.
_EXCLUDED = {"master.key", "master.key.next", "credentials", "node-id", _DB, f"{_DB}-wal", f"{_DB}-shm",
             f"{_DB}-journal"}


def _sqlite_database(directory: Path) -> Path:
    from sqlalchemy.engine import make_url

    from opensts.store.database import database_url

    url = make_url(database_url(directory))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise _OneLineError(f"OPENSTS_DATABASE_URL is a {url.get_backend_name()} database: back it up with its own "
                            "tools (pg_dump or pg_basebackup) and keep the master key, the audit journal and outbox "
                            "(DATA_DIR/audit) too; see docs/OPERATIONS.md")
    path = Path(url.database)
    if not path.exists():
        raise _OneLineError(f"no database {path} (pass --data-dir)")
    return path


def _snapshot(database: Path, target: Path) -> None:
    """The whole database as of one moment (the backup API copies it in one step, in one read
    transaction), written to ``target``."""
    src = sqlite3.connect(database, timeout=30)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        src.close()
        dst.close()


def _master_key_of(directory: Path, snapshot: Path) -> dict[str, str]:
    """Which master key opens the snapshot: its fingerprint and where it came from."""
    import base64

    from opensts.store.cipher import MASTER_KEY_ENV, NEXT_KEY_FILE, SecretCipher, fingerprint

    with sqlite3.connect(snapshot) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'master_key_check'").fetchone()
    sources = [(MASTER_KEY_ENV, os.environ.get(MASTER_KEY_ENV))] if os.environ.get(MASTER_KEY_ENV) else []
    for name in ("master.key", NEXT_KEY_FILE):
        path = directory / name
        if path.exists():
            sources.append((str(path.resolve()), path.read_text(errors="replace").strip()))
    for source, value in sources:
        try:
            key = base64.b64decode(value or "", validate=True)
            if len(key) == 32 and (row is None or SecretCipher(key).adopt(row[0])):
                return {"fingerprint": fingerprint(key), "source": source}
        except ValueError:
            continue
    return {"fingerprint": "unknown", "source": "not found (the key this database was sealed with is not here)"}


def write_backup(directory: Path, target: Path) -> dict[str, object]:
    """Write the backup of ``directory`` to ``target`` (0600); its manifest."""
    from opensts.private_files import private_opener

    database = _sqlite_database(directory)
    with tempfile.TemporaryDirectory(prefix=".opensts-backup-", dir=target.parent) as tmp:
        snapshot = Path(tmp) / _DB
        _snapshot(database, snapshot)
        with sqlite3.connect(snapshot) as conn:
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        manifest: dict[str, object] = {
            "format": FORMAT, "created_at": int(time.time()), "opensts_version": __version__,
            "schema_revision": revision, "database": _DB, "master_key": _master_key_of(directory, snapshot),
            "not_included": sorted(_EXCLUDED - {f"{_DB}-wal", f"{_DB}-shm", f"{_DB}-journal", _DB}),
        }
        partial = Path(tmp) / "backup.partial"
        with open(partial, "wb", opener=private_opener) as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            tar.add(snapshot, arcname=_DB, recursive=False)
            manifest["files"] = _add_folder(tar, directory, Path(tmp))
            _add_bytes(tar, _MANIFEST, json.dumps(manifest, indent=2).encode())
        os.replace(partial, target)
    return manifest


def _add_folder(tar: tarfile.TarFile, directory: Path, tmp: Path) -> list[str]:
    """Add every other regular file of the data folder. An SQLite file (the audit index) is
    copied with the backup API, so it is consistent too; a journal segment being written is
    copied up to where it was (its reader takes only complete lines, as after a crash)."""
    added: list[str] = []
    for path in sorted(directory.rglob("*")):
        rel = PurePosixPath(path.relative_to(directory).as_posix())
        if (rel.parts[0] in _EXCLUDED or rel.parts[0].startswith(".opensts-backup-") or path.is_symlink()
                or not path.is_file() or path.name.endswith(("-wal", "-shm", "-journal", ".partial"))):
            continue
        try:
            if _is_sqlite(path):
                copy = tmp / f"sqlite-{len(added)}"
                _snapshot(path, copy)
                tar.add(copy, arcname=_FILES + str(rel), recursive=False)
            else:
                with open(path, "rb") as fh:
                    info = tar.gettarinfo(arcname=_FILES + str(rel), fileobj=fh)
                    info.mode, info.uname, info.gname = 0o600, "", ""
                    tar.addfile(info, fh)
        except FileNotFoundError:  # removed meanwhile (a journal segment delivered and dropped)
            continue
        added.append(str(rel))
    return added


def _is_sqlite(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(16) == b"SQLite format 3\0"


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
    tar.addfile(info, io.BytesIO(data))


def restore_backup(source: Path, directory: Path, master_key_file: Path | None = None) -> dict[str, object]:
    """Restore ``source`` into ``directory`` (absent or empty); its manifest. Refused (nothing
    written) when the folder is not empty, the file is not a backup, or the master key given does
    not match the one the manifest names."""
    import base64

    from opensts.private_files import DIR_MODE, narrow, private_dir, private_opener, write_private_file
    from opensts.store.cipher import fingerprint

    url = os.environ.get("OPENSTS_DATABASE_URL")
    if url and not url.startswith("sqlite"):
        raise _OneLineError("OPENSTS_DATABASE_URL names another database: an `opensts backup` restores the embedded "
                            "SQLite store (unset it; PostgreSQL: pg_restore, see docs/OPERATIONS.md)")
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise _OneLineError(f"{directory} is not an empty folder: restore into a new or empty data folder")
    try:
        with tarfile.open(source, mode="r:gz") as tar:
            members = {m.name: m for m in tar.getmembers() if m.isfile()}
            manifest = json.loads(tar.extractfile(members[_MANIFEST]).read(1 << 20))  # type: ignore[union-attr]
            if manifest.get("format") != FORMAT or _DB not in members:
                raise KeyError(_MANIFEST)
            key = None
            if master_key_file is not None:
                key = _key_file(master_key_file)
                wanted = manifest["master_key"]["fingerprint"]
                if fingerprint(key) != wanted:
                    raise _OneLineError(f"--master-key-file {master_key_file}: its fingerprint {fingerprint(key)} "
                                        f"is not the backup's master key {wanted}")
            narrow(private_dir(directory), DIR_MODE)
            for name, member in members.items():
                if name == _MANIFEST:
                    continue
                rel = PurePosixPath(name.removeprefix(_FILES) if name.startswith(_FILES) else name)
                if rel.is_absolute() or ".." in rel.parts or not rel.parts:
                    raise KeyError(name)
                target = directory.joinpath(*rel.parts)
                private_dir(target.parent)
                with open(target, "wb", opener=private_opener) as out:
                    shutil.copyfileobj(tar.extractfile(member), out, 1 << 20)  # type: ignore[misc]
            if key is not None:
                write_private_file(directory / "master.key", base64.b64encode(key) + b"\n")
    except (tarfile.TarError, OSError, KeyError, ValueError, EOFError) as exc:
        if isinstance(exc, OSError) and exc.filename and str(exc.filename) != str(source):
            raise _OneLineError(f"cannot restore into {directory}: {exc.strerror or exc}") from None
        raise _OneLineError(f"{source} is not an OpenSTS backup") from None
    return manifest


def _key_file(path: Path) -> bytes:
    import base64

    try:
        key = base64.b64decode(path.read_bytes().strip(), validate=True)
    except (OSError, ValueError):
        key = b""
    if len(key) != 32:
        raise _OneLineError(f"--master-key-file {path}: expected base64 of 32 bytes")
    return key


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_data_dir_option
def backup(file: Path, data_dir: Path | None) -> None:
    """Write a consistent backup of the data folder's SQLite store to FILE while the server runs
    (everything but the master key, which the backup names by fingerprint)."""
    directory = _data_dir(data_dir)
    manifest = write_backup(directory, file)
    key = manifest["master_key"]
    click.echo(f"backup written to {file} (schema {manifest['schema_revision']}); not included: the master key "
               f"{key['fingerprint']} ({key['source']}): keep it apart from the backup")  # type: ignore[index]


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--master-key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The backup's master key, installed as DATA_DIR/master.key (checked against the manifest).")
@_data_dir_option
def restore(file: Path, master_key_file: Path | None, data_dir: Path | None) -> None:
    """Restore a backup made by `opensts backup` into an empty data folder."""
    directory = _data_dir(data_dir)
    manifest = restore_backup(file, directory, master_key_file)
    key: dict[str, str] = manifest["master_key"]  # type: ignore[assignment]
    click.echo(f"restored {file} into {directory} (schema {manifest['schema_revision']})")
    if master_key_file is None:
        click.echo(f"install its master key {key['fingerprint']} as {directory / 'master.key'} (or set "
                   "OPENSTS_MASTER_KEY) before `opensts serve`")
