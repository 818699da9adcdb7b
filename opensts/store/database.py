"""Opening the store: engine (SQLite WAL by default), migrations, repository.

The embedded default is ``sqlite:///DATA_DIR/opensts.db`` in WAL mode, so the server's worker
processes and the ``opensts`` admin commands can read and write it at the same time. Any other
SQLAlchemy URL (``OPENSTS_DATABASE_URL``, e.g. ``postgresql+psycopg://…``) goes through the same
migrations and repository.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from cryptography.exceptions import InvalidTag
from sqlalchemy import Engine, create_engine, event, insert, inspect, make_url, select
from sqlalchemy.exc import IntegrityError

from opensts.private_files import DIR_MODE, narrow, private_dir, private_sqlite
from opensts.store.cipher import MASTER_KEY_ENV, SecretCipher, load_master_key
from opensts.store.repository import SqlRepository
from opensts.store.tables import meta

__all__ = ["DATABASE_URL_ENV", "open_store", "migrate", "database_url", "check_master_key"]

DATABASE_URL_ENV = "OPENSTS_DATABASE_URL"
_MIGRATIONS = Path(__file__).with_name("migrations")


def database_url(data_dir: Path) -> str:
    return os.environ.get(DATABASE_URL_ENV) or f"sqlite:///{(data_dir / 'opensts.db').resolve()}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None: another database, in memory, or a SQLite URI)."""
    database = make_url(url)
    if database.get_backend_name() != "sqlite" or database.database in (None, "", ":memory:") or "uri" in database.query:
        return None
    return Path(database.database)


def make_engine(url: str) -> Engine:
    """The engine; ``hide_parameters``: an error's text (which may reach a log) never quotes the
    statement's values (policy documents, sealed secrets)."""
    file = _sqlite_file(url)
    if file is not None:
        private_sqlite(file)  # 0600 before SQLite makes it (and so its -wal/-shm) 0644
    engine = create_engine(url, future=True, hide_parameters=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_store(data_dir: Path, *, run_migrations: bool = True) -> SqlRepository:
    """Create the data folder if needed, open the database, migrate it, return the repository."""
    narrow(private_dir(data_dir), DIR_MODE)  # also a folder made beforehand (mkdir -p, a volume)
    engine = make_engine(database_url(data_dir))
    if run_migrations or not inspect(engine).has_table("meta"):
        migrate(engine)
    cipher = SecretCipher(load_master_key(data_dir))
    check_master_key(engine, cipher)
    return SqlRepository(engine, cipher)


_KEY_CHECK = "master_key_check"


def check_master_key(engine: Engine, cipher: SecretCipher) -> None:
    """Refuse a master key that cannot open this database's secrets, before anything uses it.

    Why: a second server pointed at a shared (PostgreSQL) database without the first one's
    ``OPENSTS_MASTER_KEY`` makes a key of its own; every sealed secret would then fail to open —
    an InternalFailure on every request instead of a clear error at start.  The first open stores
    a small value sealed with the key; every later open must be able to unseal it.
    """
    sealed = _stored_check(engine)
    if sealed is None:
        value = base64.b64encode(cipher.seal(b"opensts", _KEY_CHECK)).decode()
        try:
            with engine.begin() as conn:
                conn.execute(insert(meta).values(key=_KEY_CHECK, value=value))
            return
        except IntegrityError:  # another process stored it first: check against theirs
            sealed = _stored_check(engine)
    try:
        cipher.open(base64.b64decode(sealed), _KEY_CHECK)
    except (InvalidTag, ValueError):
        raise SystemExit(
            f"error: the master key ({MASTER_KEY_ENV}, else DATA_DIR/master.key) is not the one this "
            "database's secrets were sealed with; servers sharing a database must share the master key"
        ) from None


def _stored_check(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(meta.c.value).where(meta.c.key == _KEY_CHECK)).scalar()
