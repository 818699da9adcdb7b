"""Start-up failures a user can cause: ``opensts serve`` exits non-zero with one line on stderr
naming the thing (address, file, variable, key) — never a traceback or a usage block.

Each case runs ``python -m opensts serve`` in a subprocess. Permission cases run it without the
capabilities that let root bind port 80 and read or write anything (CAP_DAC_OVERRIDE,
CAP_DAC_READ_SEARCH, CAP_NET_BIND_SERVICE dropped from the bounding set before exec), so they mean
the same whether the tests run as root or not.
"""

from __future__ import annotations

import base64
import ctypes
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.tlsutil import make_cert

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-pass"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Path]:
    """A scratch folder (removed afterwards)."""
    folder = Path(tempfile.mkdtemp(prefix="opensts-startup-", dir=tmp_path))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _unprivileged() -> None:
    """In the child before exec: as an ordinary user (no-op for one who is)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    for cap in (1, 2, 10):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_NET_BIND_SERVICE
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def serve(args: list[str], env: dict[str, str] | None = None, *, unprivileged: bool = False,
          data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSTS_")}
    full_env.update(HOME="/tmp", **(env or {}))
    command = [sys.executable, "-m", "opensts", "serve", *args]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    return subprocess.run(command, env=full_env, capture_output=True, text=True, timeout=60, cwd=ROOT,
                          preexec_fn=_unprivileged if unprivileged else None)


def assert_one_line(result: subprocess.CompletedProcess[str], *names: str) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def _port_in_use(world: Path) -> tuple[list[str], dict[str, str], Callable[[], None]]:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    return ["--listen", f"127.0.0.1:{port}"], {}, taken.close


def _tls(world: Path, which: str) -> tuple[list[str], dict[str, str], Callable[[], None]]:
    cert, key, _ca = make_cert(world, ["127.0.0.1"])
    other = world / "other"
    other.mkdir()
    _c2, key2, _ca2 = make_cert(other, ["127.0.0.1"])
    garbage = world / "garbage.pem"
    garbage.write_text("not a certificate\n")
    pairs = {"missing": (world / "nope.pem", key), "garbage": (garbage, garbage), "mismatch": (cert, key2),
             "unreadable": (cert, key)}
    c, k = pairs[which]
    if which == "unreadable":
        k.chmod(0o000)
    return ["--tls-cert", str(c), "--tls-key", str(k)], {}, lambda: None


def _file_as_data_dir(world: Path) -> tuple[list[str], dict[str, str], Callable[[], None]]:
    (world / "a-file").write_text("")
    return ["--data-dir", str(world / "a-file")], {}, lambda: None


def _read_only_data_dir(world: Path) -> tuple[list[str], dict[str, str], Callable[[], None]]:
    (world / "ro").mkdir(mode=0o555)
    return ["--data-dir", str(world / "ro" / "data")], {}, lambda: None


def _other_master_key(world: Path) -> tuple[list[str], dict[str, str], Callable[[], None]]:
    data = world / "keyed"
    first = serve(["--listen", "256.0.0.1:1"], {"OPENSTS_MASTER_KEY": base64.b64encode(b"a" * 32).decode()},
                  data_dir=data)  # creates the store under key A, then fails to listen
    assert first.returncode != 0
    return ["--data-dir", str(data)], {"OPENSTS_MASTER_KEY": base64.b64encode(b"b" * 32).decode()}, lambda: None


def _damaged_master_key(world: Path) -> tuple[list[str], dict[str, str], Callable[[], None]]:
    data = world / "damaged"
    data.mkdir()
    (data / "master.key").write_text(SECRET + "\n")
    return ["--data-dir", str(data)], {}, lambda: None


def _fixed(args: list[str], env: dict[str, str] | None = None) -> Callable[[Path], tuple[list[str], dict[str, str],
                                                                                         Callable[[], None]]]:
    return lambda world: (args, env or {}, lambda: None)


# (id, set-up, words the line must contain, run as nobody)
CASES = [
    ("port-in-use", _port_in_use, ["cannot listen on 127.0.0.1:", "address already in use", "--listen"], False),
    ("port-below-1024", _fixed(["--listen", "127.0.0.1:80"]), ["cannot listen on 127.0.0.1:80", "permission denied"],
     True),
    ("address-not-here", _fixed(["--listen", "192.0.2.1:8600"]),
     ["cannot listen on 192.0.2.1:8600", "cannot assign requested address"], False),
    ("unknown-host", _fixed(["--listen", "no-such-host.invalid:8600"]),
     ["cannot listen on no-such-host.invalid:8600", "unknown host name"], False),
    ("bad-listen", _fixed(["--listen", "127.0.0.1:port"]), ["--listen", "127.0.0.1:port"], False),
    ("port-out-of-range", _fixed(["--listen", "127.0.0.1:70000"]), ["--listen", "out of range"], False),
    ("unknown-listen-region", _fixed(["--listen", "127.0.0.1:8601=mars-1"]), ["unknown Region mars-1"], False),
    ("tls-missing", lambda w: _tls(w, "missing"), ["--tls-cert", "does not exist"], False),
    ("tls-garbage", lambda w: _tls(w, "garbage"), ["--tls-cert", "cannot load the certificate and key"], False),
    ("tls-key-mismatch", lambda w: _tls(w, "mismatch"), ["--tls-key", "key values mismatch"], False),
    ("tls-unreadable", lambda w: _tls(w, "unreadable"), ["--tls-key", "not readable"], True),
    ("tls-half", _fixed(["--tls-cert", "/etc/hostname"]), ["--tls-cert and --tls-key go together"], False),
    ("data-dir-is-a-file", _file_as_data_dir, ["--data-dir", "a-file"], False),
    ("data-dir-not-writable", _read_only_data_dir, ["cannot use data folder", "permission denied", "--data-dir"],
     True),
    ("database-url-unparseable", _fixed([], {"OPENSTS_DATABASE_URL": "not a url"}), ["OPENSTS_DATABASE_URL"], False),
    ("database-driver-missing", _fixed([], {"OPENSTS_DATABASE_URL": f"nosuchdb://u:{SECRET}@127.0.0.1/x"}),
     ["cannot open the database nosuchdb://u:***@127.0.0.1/x", "OPENSTS_DATABASE_URL"], False),
    ("database-unreachable", _fixed([], {"OPENSTS_DATABASE_URL": f"postgresql+psycopg://u:{SECRET}@127.0.0.1:1/x"}),
     ["cannot open the database postgresql+psycopg://u:***@127.0.0.1:1/x", "OPENSTS_DATABASE_URL"], False),
    ("master-key-not-base64", _fixed([], {"OPENSTS_MASTER_KEY": SECRET + "!"}), ["OPENSTS_MASTER_KEY", "base64"],
     False),
    ("master-key-short", _fixed([], {"OPENSTS_MASTER_KEY": base64.b64encode(b"x" * 16).decode()}),
     ["OPENSTS_MASTER_KEY", "32", "16 bytes"], False),
    ("master-key-file-damaged", _damaged_master_key, ["master.key", "base64"], False),
    ("master-key-not-this-databases", _other_master_key, ["master key", "OPENSTS_MASTER_KEY"], False),
    ("clock-offset", _fixed([], {"OPENSTS_CLOCK_OFFSET_SECONDS": "abc"}), ["OPENSTS_CLOCK_OFFSET_SECONDS"], False),
    ("clock-offset-inf", _fixed([], {"OPENSTS_CLOCK_OFFSET_SECONDS": "inf"}), ["OPENSTS_CLOCK_OFFSET_SECONDS"], False),
    ("account-id", _fixed([], {"OPENSTS_ACCOUNT_ID": "12345"}), ["OPENSTS_ACCOUNT_ID", "12 digits"], False),
    ("admin-key-alone", _fixed([], {"OPENSTS_ADMIN_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE"}),
     ["OPENSTS_ADMIN_SECRET_ACCESS_KEY"], False),
    ("rotation", _fixed([], {"OPENSTS_OUTBOUND_KEY_ROTATION_SECONDS": "soon"}),
     ["OPENSTS_OUTBOUND_KEY_ROTATION_SECONDS"], False),
    ("config-missing", _fixed(["--config", "/nonexistent/opensts.toml"]), ["/nonexistent/opensts.toml"], False),
    ("config-not-toml", lambda w: ((w / "c.toml").write_text("[quotas\n"), ["--config", str(w / "c.toml")], {},
                                   lambda: None)[1:], ["c.toml", "not valid TOML"], False),
    ("config-typo", lambda w: ((w / "c.toml").write_text("[quotas]\nrsp = 5\n"), ["--config", str(w / "c.toml")],
                               {}, lambda: None)[1:], ["unknown key quotas.rsp", "did you mean rps?"], False),
    ("workers", _fixed(["--workers", "0"]), ["--workers"], False),
]


@pytest.mark.parametrize("setup,words,unprivileged", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_startup_error_is_one_line(world: Path, setup: Callable[[Path], tuple[list[str], dict[str, str],
                                                                               Callable[[], None]]],
                                   words: list[str], unprivileged: bool) -> None:
    args, env, cleanup = setup(world)
    try:
        data = None if "--data-dir" in args else world / "data"
        line = assert_one_line(serve(args, env, unprivileged=unprivileged, data_dir=data), *words)
    finally:
        cleanup()
    assert line.startswith("opensts: ")
    assert SECRET not in line


def test_a_good_start_is_still_a_start(world: Path) -> None:
    """The checks refuse nothing valid: the same command with a free port starts (and is stopped)."""
    proc = subprocess.Popen([sys.executable, "-m", "opensts", "serve", "--data-dir", str(world / "ok"),
                             "--listen", "127.0.0.1:0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={k: v for k, v in os.environ.items() if not k.startswith("OPENSTS_")})
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("OpenSTS "), first + (proc.stderr.read() if proc.poll() is not None else "")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
