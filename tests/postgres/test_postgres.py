"""OpenSTS on PostgreSQL (``OPENSTS_DATABASE_URL``), the production database: a real server on a
throwaway PostgreSQL server, provisioned and used with boto3 and the admin CLI.

The rest of the suite runs on the embedded SQLite; ``OPENSTS_TEST_DATABASE_URL=auto make test``
runs all of it on PostgreSQL (tests/conftest.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opensts.store.cipher import load_master_key
from tests.conftest import (
    ACCOUNT_ID,
    ADMIN_KEY,
    ADMIN_SECRET,
    Server,
    fresh_database,
    start_server,
    stop_server,
)
from tests.federation import saml_idp
from tests.postgres import cluster

psycopg = pytest.importorskip("psycopg")


@pytest.fixture(scope="module")
def pg() -> Iterator[cluster.Cluster]:
    if cluster.binaries() is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed")
    pg = cluster.start()
    yield pg
    pg.stop()


@pytest.fixture(scope="module")
def database(pg: cluster.Cluster) -> str:
    return fresh_database(pg.url)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, database: str) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("pg-data"), extra_env={"OPENSTS_DATABASE_URL": database})
    yield srv
    stop_server(srv)


def _rows(database: str) -> str:
    """Every row of every table, as text (what a database dump would show)."""
    url = database.replace("postgresql+psycopg://", "postgresql://")
    out = []
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        for t in tables:
            out += [repr(row) for row in conn.execute(f'SELECT * FROM "{t}"')]
    return "\n".join(out)


def test_the_identity_store_lives_in_postgres(server: Server, database: str) -> None:
    ident = server.client().get_caller_identity()  # type: ignore[attr-defined]
    assert ident["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/admin"
    assert not list(server.data_dir.glob("opensts.db*"))  # no SQLite beside it
    dump = _rows(database)
    assert ADMIN_KEY in dump and ADMIN_SECRET not in dump  # secrets sealed at rest
    with psycopg.connect(database.replace("postgresql+psycopg://", "postgresql://")) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0013_org_list_keys"


def test_provision_and_assume_a_role(server: Server, database: str) -> None:
    iam = server.client("iam")
    user = iam.create_user(UserName="dev")["User"]  # type: ignore[attr-defined]
    key = iam.create_access_key(UserName="dev")["AccessKey"]  # type: ignore[attr-defined]
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": user["Arn"]},
                                                     "Action": ["sts:AssumeRole", "sts:TagSession"]}]}
    role = iam.create_role(RoleName="deployer", AssumeRolePolicyDocument=json.dumps(trust),  # type: ignore[attr-defined]
                           MaxSessionDuration=7200)["Role"]
    iam.put_user_policy(UserName="dev", PolicyName="assume", PolicyDocument=json.dumps(  # type: ignore[attr-defined]
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:*", "Resource": "*"}]}))
    dev = server.client(key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    creds = dev.assume_role(RoleArn=role["Arn"], RoleSessionName="ci", DurationSeconds=7200,  # type: ignore[attr-defined]
                            Tags=[{"Key": "team", "Value": "infra"}])["Credentials"]
    session = server.client(key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])
    assert session.get_caller_identity()["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/deployer/ci"  # type: ignore[attr-defined]
    assert key["SecretAccessKey"] not in _rows(database)
    iam.update_access_key(UserName="dev", AccessKeyId=key["AccessKeyId"], Status="Inactive")  # type: ignore[attr-defined]
    with pytest.raises(Exception) as exc:
        dev.get_caller_identity()  # type: ignore[attr-defined]
    assert "InvalidClientTokenId" in str(exc.value)


def test_saml_provider_valid_past_2038(server: Server) -> None:
    """Epoch times are 64-bit columns: PostgreSQL's INTEGER stops in January 2038, and a SAML
    provider's default validity is 100 years."""
    iam = server.client("iam")
    _, cert = saml_idp.keypair()
    arn = iam.create_saml_provider(Name="Corp", SAMLMetadataDocument=saml_idp.metadata(cert))["SAMLProviderArn"]  # type: ignore[attr-defined]
    assert iam.get_saml_provider(SAMLProviderArn=arn)["ValidUntil"].year >= 2100  # type: ignore[attr-defined]


def test_admin_cli_and_a_restart_on_the_same_database(server: Server, database: str,
                                                      tmp_path: Path) -> None:
    made = json.loads(server.cli("account", "create", "444455556666", "--json").stdout)
    other = server.client(key=made["AccessKeyId"], secret=made["SecretAccessKey"])
    assert other.get_caller_identity()["Account"] == "444455556666"  # type: ignore[attr-defined]
    # A second server (another data folder, the same database): migrations are a no-op, data is there.
    again = start_server(tmp_path / "data", extra_env={"OPENSTS_DATABASE_URL": database,
                                                       "OPENSTS_MASTER_KEY": _master_key(server)})
    try:
        client = again.client(key=made["AccessKeyId"], secret=made["SecretAccessKey"])
        assert client.get_caller_identity()["Account"] == "444455556666"  # type: ignore[attr-defined]
    finally:
        stop_server(again)


def test_a_server_with_another_master_key_is_refused_at_start(server: Server, database: str, tmp_path: Path) -> None:
    """A second server on the same database without the first one's master key: a clear error at
    start, not an InternalFailure on every request."""
    with pytest.raises(RuntimeError, match="servers sharing a database must share the master key"):
        start_server(tmp_path / "data", extra_env={"OPENSTS_DATABASE_URL": database})
    assert server.client().get_caller_identity()["Account"] == ACCOUNT_ID  # type: ignore[attr-defined]


def _master_key(server: Server) -> str:
    return base64.b64encode(load_master_key(server.data_dir)).decode()


def test_two_workers_share_the_database(tmp_path: Path, pg: cluster.Cluster) -> None:
    srv = start_server(tmp_path / "data", extra_env={"OPENSTS_DATABASE_URL": fresh_database(pg.url)},
                       args=("--workers", "2"))
    try:
        iam: Any = srv.client("iam")
        made = [iam.create_user(UserName=f"u{i}")["User"]["UserName"] for i in range(6)]  # new connections each
        assert sorted(u["UserName"] for u in iam.list_users()["Users"]) == sorted(["admin", *made])
    finally:
        stop_server(srv)
