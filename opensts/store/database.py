"""Opening the store: engine (SQLite WAL by default), migrations, repository.

The embedded default is ``sqlite:///DATA_DIR/opensts.db`` in WAL mode, so the server's worker
processes and the ``opensts`` admin commands can read and write it at the same time. Any other
SQLAlchemy URL (``OPENSTS_DATABASE_URL``, e.g. ``postgresql+psycopg://…``) goes through the same
migrations and repository.

A fleet node (``node.py``) may run on a PostgreSQL hot standby: ``open_node_stores`` detects it
(``pg_is_in_recovery()``), never writes to it (no migration, no master-key-check insert), and
opens the control plane's primary (``OPENSTS_CONTROL_PLANE_DATABASE_URL``) as a second
repository with short timeouts, so a lost primary fails fast instead of hanging.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from dataclasses import dataclass

from sqlalchemy import Engine, create_engine, event, insert, inspect, make_url, select, text
from sqlalchemy.exc import IntegrityError

from opensts.private_files import DIR_MODE, narrow, private_dir, private_sqlite
from opensts.store.cipher import MASTER_KEY_ENV, NEXT_KEY_FILE, SecretCipher, fingerprint
from opensts.store.repository import SqlRepository
from opensts.store.tables import meta

__all__ = ["DATABASE_URL_ENV", "open_store", "migrate", "database_url", "check_master_key", "NodeStores",
           "open_node_stores", "is_hot_standby", "ReplicaNotReady"]

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


#: Seconds to open a PostgreSQL connection (libpq's minimum that is honoured is 2).
CONNECT_TIMEOUT = 2
#: A statement on the remote control plane gives up after this (ms): an IAM call answers
#: ServiceUnavailable within AWS's 2 seconds instead of waiting on a primary that does not answer.
CONTROL_PLANE_STATEMENT_TIMEOUT_MS = 1500


def make_engine(url: str, *, remote: bool = False) -> Engine:
    """The engine; ``hide_parameters``: an error's text (which may reach a log) never quotes the
    statement's values (policy documents, sealed secrets). PostgreSQL connections give up
    connecting after ``CONNECT_TIMEOUT``; ``remote`` (the control plane seen from another Region)
    adds a statement and lock timeout and checks a pooled connection before use, so calls after
    the primary restarts work again without restarting anything."""
    file = _sqlite_file(url)
    if file is not None:
        private_sqlite(file)  # 0600 before SQLite makes it (and so its -wal/-shm) 0644
    options: dict[str, Any] = {}
    if make_url(url).get_backend_name() == "postgresql":
        connect_args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT}
        if remote:
            ms = CONTROL_PLANE_STATEMENT_TIMEOUT_MS
            connect_args["options"] = f"-c statement_timeout={ms} -c lock_timeout={ms}"
            # a primary lost without a reset (a partition): the socket itself gives up in seconds,
            # so no thread waits on it for the kernel's hours and calls recover when it returns
            connect_args.update(keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=2,
                                tcp_user_timeout=5000)
            options["pool_pre_ping"] = True
        options["connect_args"] = connect_args
    engine = create_engine(url, future=True, hide_parameters=True, **options)
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
    cipher = SecretCipher.from_data_dir(data_dir)
    check_master_key(engine, cipher)
    promote_next_key(data_dir, cipher)
    return SqlRepository(engine, cipher)


_KEY_CHECK = "master_key_check"


def check_master_key(engine: Engine, cipher: SecretCipher, *, writable: bool = True) -> None:
    """Refuse a master key that cannot open this database's secrets, before anything uses it.

    Why: a second server pointed at a shared (PostgreSQL) database without the first one's
    ``OPENSTS_MASTER_KEY`` makes a key of its own; every sealed secret would then fail to open —
    an InternalFailure on every request instead of a clear error at start.  The first open stores
    a small value sealed with the key; every later open must be able to unseal it.
    """
    sealed = _stored_check(engine)
    if sealed is None and not writable:
        raise ReplicaNotReady("this Region's database has no master-key check yet: run `opensts migrate` "
                              "against the control plane's primary first")
    if sealed is None:
        value = base64.b64encode(cipher.seal(b"opensts", _KEY_CHECK)).decode()
        try:
            with engine.begin() as conn:
                conn.execute(insert(meta).values(key=_KEY_CHECK, value=value))
            return
        except IntegrityError:  # another process stored it first: check against theirs
            sealed = _stored_check(engine)
    if not cipher.adopt(sealed, _KEY_CHECK):  # the master key, or a rotation's next key (master.key.next)
        raise SystemExit(
            f"error: the master key ({MASTER_KEY_ENV}, else DATA_DIR/master.key) is not the one this "
            "database's secrets were sealed with; servers sharing a database must share the master key"
        )


def promote_next_key(data_dir: Path, cipher: SecretCipher) -> None:
    """After a master-key rotation, ``DATA_DIR/master.key.next`` (the key the database now uses)
    becomes ``DATA_DIR/master.key`` (unless the key comes from OPENSTS_MASTER_KEY, which the
    operator changes): the old key is not kept."""
    nxt = data_dir / NEXT_KEY_FILE
    if os.environ.get(MASTER_KEY_ENV) or not nxt.exists():
        return
    if _key_file_fingerprint(nxt) == cipher.fingerprint:
        os.replace(nxt, data_dir / "master.key")


def _key_file_fingerprint(path: Path) -> str | None:
    try:
        return fingerprint(base64.b64decode(path.read_bytes().strip()))
    except (OSError, ValueError):
        return None


def _stored_check(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(meta.c.value).where(meta.c.key == _KEY_CHECK)).scalar()


class ReplicaNotReady(SystemExit):
    """A read-only replica that lacks what the primary must create first (schema, master-key check)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"error: {message}")


def is_hot_standby(engine: Engine) -> bool:
    """The database is a PostgreSQL server in recovery: a read-only hot standby."""
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as conn:
        return bool(conn.execute(text("SELECT pg_is_in_recovery()")).scalar())


@dataclass
class NodeStores:
    """The two seams of a node's storage.

    ``data``: the node's own Region's database (``OPENSTS_DATABASE_URL``): every authentication,
    authorization decision and all of STS read it. ``control``: the control plane's primary:
    every IAM, Organizations and Account call, reads included (a client reads its own writes).
    The same object on a single server and on a node whose own database is the primary.
    ``writable``: the node's own database takes writes (False on a hot standby).
    """

    data: SqlRepository
    control: SqlRepository
    writable: bool

    @property
    def control_is_remote(self) -> bool:
        return self.control is not self.data


def open_node_stores(data_dir: Path, control_plane_url: str | None, *, run_migrations: bool = False) -> NodeStores:
    """Open the node's databases without writing to a replica (schema and master key are checked,
    read-only, where the database is a hot standby: ``ReplicaNotReady`` if the primary has not
    been migrated). SystemExit (one line) when the own database is a replica and
    ``control_plane_url`` is not given. ``run_migrations``: upgrade a writable database to the
    newest revision (server start; workers only create a missing schema)."""
    narrow(private_dir(data_dir), DIR_MODE)
    url = database_url(data_dir)
    engine = make_engine(url)
    writable = not is_hot_standby(engine)
    if not writable and not control_plane_url:
        raise SystemExit("error: the database OPENSTS_DATABASE_URL is a read-only hot standby: set "
                         "OPENSTS_CONTROL_PLANE_DATABASE_URL to the control plane's primary (docs/DEPLOYMENT.md)")
    if writable:
        if run_migrations or not inspect(engine).has_table("meta"):
            migrate(engine)
    elif not inspect(engine).has_table("meta"):
        raise ReplicaNotReady("this Region's database has no schema yet: run `opensts migrate` against the "
                              "control plane's primary first")
    cipher = SecretCipher.from_data_dir(data_dir)
    check_master_key(engine, cipher, writable=writable)
    promote_next_key(data_dir, cipher)
    data = SqlRepository(engine, cipher)
    if not control_plane_url or control_plane_url == url:
        return NodeStores(data, data, writable)
    return NodeStores(data, SqlRepository(make_engine(control_plane_url, remote=True), cipher), writable)
