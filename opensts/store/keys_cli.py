"""`opensts keys list|rotate|prune` and `opensts master-key rotate` (docs/OPERATIONS.md).

They write to the database the server uses (the data folder's SQLite, or OPENSTS_DATABASE_URL:
in a fleet, the control plane's primary; a hot standby is refused) while it runs.
"""

from __future__ import annotations

import base64
import os
import secrets
import time
from pathlib import Path

import click

from opensts.cli import _data_dir, _data_dir_option, _load_config, _OneLineError, refuse_hot_standby

__all__ = ["keys", "master_key"]


def _now() -> int:
    from opensts.settings import clock_offset_from_env

    return int(time.time() + clock_offset_from_env())


def _writable_store(directory: Path) -> object:
    """The store of ``directory``; one line (exit 1) when it is a hot standby or cannot be opened."""
    from sqlalchemy.exc import SQLAlchemyError

    from opensts.store.database import open_store

    try:
        if os.environ.get("OPENSTS_DATABASE_URL"):
            refuse_hot_standby(directory, "this", "the change")
        elif not (directory / "opensts.db").exists():
            raise _OneLineError(f"no database in {directory} (pass --data-dir, or run `opensts migrate` first)")
        return open_store(directory)
    except SystemExit as exc:
        raise _OneLineError(str(exc.code).removeprefix("error: ")) from None
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise _OneLineError(f"cannot open the database: {first}") from None


@click.group()
def keys() -> None:
    """Token-sealing keys and the outbound OIDC issuer's signing keys."""


def _age(seconds: int) -> str:
    seconds = max(0, seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400 * 2:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


@keys.command("list")
@_data_dir_option
def keys_list(data_dir: Path | None) -> None:
    """Each key's kind, Region (or algorithm), id, age and state: never its material."""
    from opensts.service.federation.outbound import MAX_TOKEN_LIFETIME, SKEW, SigningKeys

    repo = _writable_store(_data_dir(data_dir))
    now = _now()
    rotation = SigningKeys(repo).rotation
    slot = now // rotation
    click.echo("KIND\tREGION\tKEY ID\tAGE\tSTATE")
    for info in repo.list_key_info():  # type: ignore[attr-defined]
        if info.kind == "sealing":
            state = "current" if info.retired_at is None else f"retired {_age(now - info.retired_at)} ago"
        else:
            published = info.slot >= (now - MAX_TOKEN_LIFETIME - SKEW) // rotation
            state = {slot: "current", slot + 1: "next"}.get(info.slot) or (
                "next" if info.slot > slot else ("retired" if published else "expired"))
        click.echo(f"{info.kind}\t{info.scope}\t{info.kid}\t{_age(now - info.created_at)}\t{state}")


def _regions(directory: Path) -> list[str]:
    from opensts.auth.key_rotation import rotatable

    return rotatable([r.name for r in _load_config(None, directory, None, None).catalog().regions()])


@keys.command("rotate")
@click.option("--region", default=None, metavar="REGION",
              help="Rotate only REGION's token-sealing key (default: every Region's and internal purpose's).")
@_data_dir_option
def keys_rotate(region: str | None, data_dir: Path | None) -> None:
    """New token-sealing keys: new tokens are sealed with them within a second on every server;
    tokens sealed with the old ones keep working until they expire. Also prunes keys retired more
    than 36 hours ago, and creates the outbound issuer's signing keys of this and the next slot."""
    from opensts.auth.key_rotation import prune_sealing_keys, rotate_sealing_keys
    from opensts.service.federation.outbound import SigningKeys

    directory = _data_dir(data_dir)
    known = _regions(directory)
    if region is not None and region not in known:
        raise _OneLineError(f"--region {region}: unknown Region (see `opensts audit endpoints`)")
    repo = _writable_store(directory)
    now = _now()
    for done in rotate_sealing_keys(repo, [region] if region else known, now):
        was = f" (retired {', '.join(done.retired)})" if done.retired else ""
        click.echo(f"{done.region}: sealing with {done.kid}{was}")
    _report_pruned(prune_sealing_keys(repo, now))
    SigningKeys(repo).create_ahead(now)


@keys.command("prune")
@_data_dir_option
def keys_prune(data_dir: Path | None) -> None:
    """Remove token-sealing keys retired more than 36 hours ago (the server also does it every
    10 minutes where its database is writable)."""
    from opensts.auth.key_rotation import prune_sealing_keys

    _report_pruned(prune_sealing_keys(_writable_store(_data_dir(data_dir)), _now()))


def _report_pruned(gone: list[str]) -> None:
    click.echo(f"removed {len(gone)} retired keys" + (f": {', '.join(gone)}" if gone else ""))


@click.group("master-key")
def master_key() -> None:
    """The master key that seals every secret at rest."""


def _read_new_key(path: Path) -> bytes:
    from opensts.private_files import write_private_file

    if not path.exists():
        key = secrets.token_bytes(32)
        write_private_file(path, base64.b64encode(key) + b"\n")
        return key
    try:
        key = base64.b64decode(path.read_bytes().strip(), validate=True)
    except (OSError, ValueError):
        key = b""
    if len(key) != 32:
        raise _OneLineError(f"--new-key-file {path}: expected base64 of 32 bytes (or a path that does not exist: "
                            "a new key is written there)")
    return key


@master_key.command("rotate")
@click.option("--new-key-file", "new_key_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The new key (base64 of 32 bytes); created with a fresh key when it does not exist.")
@click.option("--sweep-after", type=click.FloatRange(0, 60), default=3.0, show_default=True,
              help="Seconds before the second pass that re-seals what servers sealed under the old key meanwhile.")
@_data_dir_option
def master_key_rotate(new_key_file: Path, sweep_after: float, data_dir: Path | None) -> None:
    """Re-seal every secret at rest under a new master key, in one transaction, while servers run."""
    from opensts.private_files import write_private_file
    from opensts.store.cipher import MASTER_KEY_ENV, NEXT_KEY_FILE, SecretCipher, fingerprint
    from opensts.store.database import promote_next_key
    from opensts.store.master_key import MasterKeyMismatch, reseal

    directory = _data_dir(data_dir)
    repo = _writable_store(directory)
    new_key = _read_new_key(new_key_file)
    old = SecretCipher(repo._cipher._key)  # type: ignore[attr-defined]  # the key the database uses now
    if new_key == repo._cipher._key:  # type: ignore[attr-defined]
        raise _OneLineError(f"--new-key-file {new_key_file}: that is already the master key")
    nxt = directory / NEXT_KEY_FILE
    if nxt.resolve() != new_key_file.resolve():
        write_private_file(nxt, base64.b64encode(new_key) + b"\n")  # servers here read it before the switch
    new = SecretCipher(new_key)
    try:
        count = reseal(repo.engine, old, new)  # type: ignore[attr-defined]
    except MasterKeyMismatch as exc:
        raise _OneLineError(f"{exc}; nothing was changed") from None
    repo._cipher.adopt(repo.key_state()[1])  # type: ignore[attr-defined]
    promote_next_key(directory, repo._cipher)  # type: ignore[attr-defined]
    click.echo(f"re-sealed {count} secrets under master key {fingerprint(new_key)} (was {fingerprint(old._key)})")
    time.sleep(sweep_after)
    late = reseal(repo.engine, old, new)  # type: ignore[attr-defined]
    if late:
        click.echo(f"re-sealed {late} more secrets written under the old key during the switch")
    if os.environ.get(MASTER_KEY_ENV):
        click.echo(f"{MASTER_KEY_ENV} still holds the old key: set it to the new key (the content of "
                   f"{new_key_file}) for the next start; until then servers read {directory / NEXT_KEY_FILE}")
