"""opensts/private_files.py and its users keep files 0600 and folders 0700 by their own explicit
modes — checked here under umask 000 (code run without the ``opensts`` command's umask, the worst
case), property-based over what already exists and with which modes."""

from __future__ import annotations

import os
import sqlite3
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opensts.audit.delivery import FolderStore
from opensts.audit.index import connect
from opensts.audit.journal import Journal
from opensts.private_files import narrow, private_dir, private_sqlite, write_private_file
from opensts.store.database import make_engine

MODES = st.integers(0o400, 0o777).filter(lambda m: m & 0o600 == 0o600)  # the owner can read and write
NAMES = st.text("abcxyz0-", min_size=1, max_size=6)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@settings(max_examples=40, deadline=None)
@given(existing=st.lists(NAMES, max_size=3), new=st.lists(NAMES, min_size=1, max_size=4))
def test_private_dir_creates_every_missing_level_0700(existing: list[str], new: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp, *existing)
        root.mkdir(parents=True, exist_ok=True, mode=0o755)
        before = {p: mode(p) for p in [Path(tmp), *root.parents] if str(p).startswith(tmp)}
        target = private_dir(root.joinpath(*new))
        assert target.is_dir()
        level = target
        while level != root and level.name:
            if level not in before:
                assert mode(level) == 0o700, level
            level = level.parent
        assert all(mode(p) == m for p, m in before.items())  # what existed is left alone


@settings(max_examples=60, deadline=None)
@given(initial=st.integers(0o400, 0o777), target=st.sampled_from([0o600, 0o700]))
def test_narrow_only_takes_bits_away(initial: int, target: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "f")
        path.touch()
        path.chmod(initial)
        narrow(path, target)
        assert mode(path) == initial & target


@settings(max_examples=30, deadline=None)
@given(initial=st.one_of(st.none(), MODES), data=st.binary(max_size=64))
def test_write_private_file_is_0600_whatever_was_there(initial: int | None, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "secret")
        if initial is not None:
            path.write_bytes(b"old content that is longer than the new one" * 4)
            path.chmod(initial)
        write_private_file(path, data)
        assert mode(path) == 0o600 and path.read_bytes() == data


@settings(max_examples=25, deadline=None)
@given(db=st.one_of(st.none(), MODES), wal=st.one_of(st.none(), MODES), shm=st.one_of(st.none(), MODES),
       opener=st.sampled_from(["engine", "index"]))
def test_sqlite_database_and_its_wal_and_shm_are_0600(db: int | None, wal: int | None, shm: int | None,
                                                       opener: str) -> None:
    """SQLite gives -wal/-shm the database file's mode whatever the umask: the database file
    (new, or left wider before) is 0600 before SQLite opens it, and so are they."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "x.db")
        for suffix, initial in (("", db), ("-wal", wal), ("-shm", shm)):
            if initial is not None and (suffix == "" or db is not None):
                Path(tmp, "x.db" + suffix).touch()
                Path(tmp, "x.db" + suffix).chmod(initial)
        if opener == "engine":
            engine = make_engine(f"sqlite:///{path}")
            with engine.begin() as conn:
                conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (v INTEGER)")
                conn.exec_driver_sql("INSERT INTO t VALUES (1)")
                files = {p.name: oct(mode(p)) for p in Path(tmp).iterdir()}
            engine.dispose()
        else:
            index = connect(path)
            index.execute("INSERT INTO ingested VALUES ('x', 1)")
            files = {p.name: oct(mode(p)) for p in Path(tmp).iterdir()}
            index.close()
        assert set(files) >= {"x.db", "x.db-wal", "x.db-shm"}
        assert files == {name: oct(0o600) for name in files}


def test_delivered_trail_files_and_their_folders(tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "trail")
    key = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/12/04/111122223333_CloudTrail_us-east-1_x.json.gz"
    store.put(key, b"one")
    (tmp_path / "trail" / key).with_suffix(".tmp").write_bytes(b"")  # a crash's leftover, wide open
    (tmp_path / "trail" / key).with_suffix(".tmp").chmod(0o666)
    store.put(key, b"two")
    level = tmp_path / "trail" / key
    assert mode(level) == 0o600 and level.read_bytes() == b"two"
    while level.parent != tmp_path:
        level = level.parent
        assert mode(level) == 0o700, level


def test_journal_folder_and_segments(tmp_path: Path) -> None:
    folder = tmp_path / "audit"
    folder.mkdir(mode=0o755)
    journal = Journal(folder, segment_bytes=1 << 16)
    journal._start()  # noqa: SLF001 - the per-process start creates the first segment
    assert mode(folder) == 0o700
    assert [oct(mode(p)) for p in folder.iterdir()] == [oct(0o600)]
    journal._segment.close()  # noqa: SLF001
    journal._syncer.shutdown()  # noqa: SLF001
    journal._preparer.shutdown()  # noqa: SLF001


def test_sqlite_is_what_ignores_the_umask() -> None:
    """Why private_sqlite exists: a 0644 database gets 0644 -wal/-shm even under umask 077."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "plain.db")
        path.touch()
        path.chmod(0o644)
        os.umask(0o077)
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (v)")
        assert mode(Path(tmp, "plain.db-wal")) == 0o644
        conn.close()
