"""The start-up banner's command works as printed: run by a shell, with the printed environment,
on a PATH that has no AWS CLI (a machine with only Python and make) — over plain HTTP and TLS.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from opensts.banner import command_path, shortest_path
from tests.conftest import ACCOUNT_ID, Server, start_server, stop_server
from tests.tlsutil import make_cert

BARE_PATH = "/usr/bin:/bin"  # no AWS CLI, no virtualenv


def _command_line(server: Server) -> str:
    return next(line.strip() for line in server.banner if "get-caller-identity" in line)


def run_as_printed(server: Server, line: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in server.env.items() if not k.startswith("AWS_")}
    env.update(PATH=BARE_PATH, HOME=str(server.data_dir), AWS_CONFIG_FILE="/dev/null", **extra_env)
    return subprocess.run(["/bin/sh", "-c", line], env=env, capture_output=True, text=True, timeout=60)


def test_banner_command_runs_as_printed_without_aws_on_path(server: Server) -> None:
    line = _command_line(server)
    out = run_as_printed(server, line)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Account"] == ACCOUNT_ID


# ---- where the scripts are: pure ------------------------------------------------------------------

@pytest.fixture
def venv(tmp_path: Path) -> Path:
    bindir = tmp_path / "proj" / ".venv" / "bin"
    bindir.mkdir(parents=True)
    script = bindir / "aws"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    return bindir


def _other_aws(tmp_path: Path) -> str:
    other = tmp_path / "other-cli"
    other.mkdir()
    (other / "aws").write_text("#!/bin/sh\n")
    (other / "aws").chmod(0o755)
    return str(other)


def _linked_aws(tmp_path: Path, bindir: Path) -> str:
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "aws").symlink_to(bindir / "aws")
    return str(linked)


@pytest.mark.parametrize("case", ["on-path", "symlink-on-path", "other-cli-on-path", "not-on-path-rel",
                                  "in-bindir", "far-away", "not-installed", "not-executable"])
def test_command_path(case: str, venv: Path, tmp_path: Path) -> None:
    proj = venv.parent.parent
    far = "/usr/share/doc/x"  # relative would be ../../../../tmp/…: longer than absolute
    expected: str | None
    if case == "on-path":
        search, cwd, expected = f"{BARE_PATH}:{venv}", str(proj), "aws"
    elif case == "symlink-on-path":
        search, cwd, expected = f"{_linked_aws(tmp_path, venv)}:{BARE_PATH}", str(proj), "aws"
    elif case == "other-cli-on-path":  # another AWS CLI first on PATH: never the bare name
        search, cwd, expected = f"{_other_aws(tmp_path)}:{venv}", str(proj), ".venv/bin/aws"
    elif case == "not-on-path-rel":
        search, cwd, expected = BARE_PATH, str(proj), ".venv/bin/aws"
    elif case == "in-bindir":
        search, cwd, expected = BARE_PATH, str(venv), "./aws"
    elif case == "far-away":
        search, cwd, expected = BARE_PATH, far, str(venv / "aws")
    elif case == "not-installed":
        (venv / "aws").unlink()
        search, cwd, expected = f"{_other_aws(tmp_path)}", str(proj), None
    else:
        (venv / "aws").chmod(0o644)
        search, cwd, expected = BARE_PATH, str(proj), None
    assert command_path("aws", bindir=str(venv), search_path=search, cwd=cwd) == expected


def test_shortest_path_quotes_what_a_shell_would_split(tmp_path: Path) -> None:
    spaced = tmp_path / "my data" / "credentials"
    assert shortest_path(spaced, cwd="/usr/share/doc") == f"'{spaced}'"
    assert shortest_path(tmp_path / "x", cwd=str(tmp_path)) == "./x"


# ---- TLS ------------------------------------------------------------------------------------------

def _self_signed(folder: Path, host: str) -> tuple[Path, Path]:
    now = dt.datetime.now(dt.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    paths = folder / "self.pem", folder / "self.key"
    paths[0].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@pytest.fixture
def tls_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Server, Path | None]]:
    """(a TLS server, the CA file when the banner cannot know it) for each way of setting it up."""
    kind = request.param
    if kind == "self-signed-localhost":
        cert, key = _self_signed(tmp_path, "localhost")
        args, ca_unknown = ("--tls-cert", str(cert), "--tls-key", str(key)), None
    else:
        cert, key, ca = make_cert(tmp_path, ["127.0.0.1"])
        args = ("--tls-cert", str(cert), "--tls-key", str(key))
        if kind == "ca-bundle":
            args, ca_unknown = args + ("--ca-bundle", str(ca)), None
        else:
            ca_unknown = ca
    srv = start_server(tmp_path / "data", args=args, scheme="https")
    yield srv, ca_unknown
    stop_server(srv)


@pytest.mark.parametrize("tls_server", ["ca-bundle", "self-signed-localhost", "ca-unknown"], indirect=True)
def test_tls_banner_command_works(tls_server: tuple[Server, Path | None]) -> None:
    server, ca_unknown = tls_server
    line = _command_line(server)
    assert line.count("https://") == 1
    if ca_unknown is None:  # the banner names the CA file: the command works exactly as printed
        assert "AWS_CA_BUNDLE=" in line
        out = run_as_printed(server, line)
    else:  # it cannot know the CA: it says what to set, and with that set the command works
        hint = next(l for l in server.banner if "TLS:" in l)
        assert "AWS_CA_BUNDLE" in hint and "--ca-bundle" in hint
        failed = run_as_printed(server, line)
        assert failed.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in failed.stderr
        out = run_as_printed(server, line, AWS_CA_BUNDLE=str(ca_unknown))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Account"] == ACCOUNT_ID


def test_tls_banner_names_what_the_cert_lacks(tmp_path: Path) -> None:
    cert, key, ca = make_cert(tmp_path, ["sts.example.internal"])
    server = start_server(tmp_path / "data", args=("--tls-cert", str(cert), "--tls-key", str(key),
                                                   "--ca-bundle", str(ca)), scheme="https")
    try:
        hint = next(l for l in server.banner if "TLS:" in l)
    finally:
        stop_server(server)
    assert "does not name 127.0.0.1" in hint and "sts.example.internal" in hint
    assert os.path.basename(cert) in hint
