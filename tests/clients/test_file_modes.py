"""Files at rest are private (issue 14): after a real server has served calls, indexed and
delivered its audit trail and been stopped, every file under its data folder is 0600 and every
folder 0700 — the database with its -wal/-shm, the index, journal segments, locks, the
credentials file, master.key and the delivered AWSLogs/…json.gz — also in a data folder made
beforehand with the usual 0755, and in one an older version left with 0644 files.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Server, start_server, stop_server


def modes(root: Path) -> Iterator[tuple[Path, int]]:
    """(path, permission bits) of ``root`` and everything under it."""
    yield root, stat.S_IMODE(root.stat().st_mode)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            try:
                yield path, stat.S_IMODE(path.lstat().st_mode)
            except FileNotFoundError:  # a temporary file renamed meanwhile
                continue


def not_private(root: Path) -> list[str]:
    return [f"{path.relative_to(root.parent)} {mode:o}" for path, mode in modes(root)
            if mode != (0o700 if path.is_dir() else 0o600)]


def use(server: Server, marker: str) -> None:
    """Calls that write everywhere: STS and IAM (database, journal), LookupEvents (the index)."""
    server.client("sts").get_caller_identity()  # type: ignore[attr-defined]
    server.client("iam").create_user(UserName=marker)  # type: ignore[attr-defined]
    server.client("cloudtrail").lookup_events(MaxResults=5)  # type: ignore[attr-defined]
    assert server.cli("account", "create", f"{abs(hash(marker)) % 10**12:012d}").returncode == 0


def wait_for_trail(server: Server, marker: str, timeout: float = 30) -> list[Path]:
    """The delivered trail files, once one of them records the CreateUser of ``marker``."""
    import gzip

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = sorted((server.data_dir / "trail").rglob("*.json.gz"))
        if any(marker.encode() in gzip.decompress(p.read_bytes()) for p in files):
            return files
        time.sleep(0.3)
    raise AssertionError("the trail was not delivered in time")


def expected_files(data_dir: Path) -> set[str]:
    names = {p.name for p, _ in modes(data_dir)}
    return {n for n in ("opensts.db", "master.key", "credentials", "index.db", "ingest.lock", "delivery.lock",
                        "AWSLogs") if n in names} | {"log segment" for n in names if n.startswith("log-")}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    folder.chmod(0o755)  # as a user's mkdir (or a test's) leaves it
    return folder


def test_everything_under_the_data_folder_is_private(data_dir: Path) -> None:
    server = start_server(data_dir)
    try:
        use(server, "modes-first")
        wait_for_trail(server, "modes-first")
        running = not_private(data_dir)
        wal = sorted(p.name for p, _ in modes(data_dir) if p.name.endswith(("-wal", "-shm")))
    finally:
        stop_server(server)
    assert running == [], running
    assert {"opensts.db-wal", "opensts.db-shm"} <= set(wal)  # the index closes its connection after each round
    assert not_private(data_dir) == []
    assert expected_files(data_dir) == {"opensts.db", "master.key", "credentials", "index.db", "ingest.lock",
                                        "delivery.lock", "AWSLogs", "log segment"}


def test_a_data_folder_left_open_by_an_older_version_is_narrowed(data_dir: Path) -> None:
    server = start_server(data_dir)
    try:
        use(server, "modes-old")
        wait_for_trail(server, "modes-old")
    finally:
        stop_server(server)
    for path, _ in modes(data_dir):  # as an older version (umask 022) left them
        path.chmod(0o755 if path.is_dir() else 0o644)
    old_trails = set((data_dir / "trail").rglob("*.json.gz"))

    server = start_server(data_dir)
    try:
        use(server, "modes-new")
        new_trails = set(wait_for_trail(server, "modes-new")) - old_trails
    finally:
        stop_server(server)
    ours = [data_dir, data_dir / "audit", *data_dir.glob("opensts.db*"), *(data_dir / "audit").glob("index.db*"),
            data_dir / "credentials", data_dir / "master.key", *new_trails]
    assert new_trails
    wide = [f"{p.name} {stat.S_IMODE(p.stat().st_mode):o}" for p in ours
            if p.exists() and stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert wide == []
