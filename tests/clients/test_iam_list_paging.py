"""Every IAM listing, paged by a real boto3 client with a small MaxItems: each entity exactly
once, in IAM's order, IsTruncated and Marker as AWS answers them, the SDK's own paginators work,
and a garbage, foreign or edited Marker gets IAM's error. Plus the size that used to be slow:
20,000 roles written straight into the store, and the first page still answers at once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from opensts.service.accounts import create_account
from opensts.service.iam.paging import encode_marker
from opensts.store.cipher import SecretCipher, load_master_key
from opensts.store.database import database_url, make_engine
from opensts.store.repository import SqlRepository
from tests import listing_data as data
from tests.clients.iam_support import admin_key, error, iam  # noqa: F401  (fixtures)
from tests.clients.test_iam_certificates import leaf
from tests.conftest import Server

ACCOUNT = "731500000041"
BIG_ACCOUNT = "731500000042"
PAGE = 3
#: mixed case: listings by name order them case-insensitively
NAMES = ["delta", "Alpha", "charlie", "Bravo", "echo", "Foxtrot", "golf"]
BY_NAME = sorted(NAMES, key=str.lower)
LOWER = sorted(n.lower() for n in NAMES)  # where the order is by exact name (policies, MFA serials)
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
DOC = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]})


@pytest.fixture(scope="module")
def world(iam: Any) -> dict[str, Any]:
    """Seven of everything under the path /lp/, and the relations between them."""
    arns = {}
    for n in NAMES:
        iam.create_role(RoleName=f"r{n}", Path="/lp/", AssumeRolePolicyDocument=TRUST)
        iam.create_user(UserName=f"u{n}", Path="/lp/")
        iam.create_group(GroupName=f"g{n}", Path="/lp/")
        iam.create_instance_profile(InstanceProfileName=f"i{n}", Path="/lp/")
        iam.add_role_to_instance_profile(InstanceProfileName=f"i{n}", RoleName="rdelta")
        arns[n] = iam.create_policy(PolicyName=f"p{n.lower()}", Path="/lp/", PolicyDocument=DOC)["Policy"]["Arn"]
        iam.create_virtual_mfa_device(VirtualMFADeviceName=f"m{n.lower()}")
        body, key, chain = leaf()
        iam.upload_server_certificate(ServerCertificateName=f"c{n}", Path="/lp/", CertificateBody=body,
                                      PrivateKey=key, CertificateChain=chain)
        iam.add_user_to_group(GroupName="gdelta", UserName=f"u{n}")
        iam.add_user_to_group(GroupName=f"g{n}", UserName="udelta")
        iam.put_role_policy(RoleName="rdelta", PolicyName=f"inline{n}", PolicyDocument=DOC)
        iam.attach_role_policy(RoleName="rdelta", PolicyArn=arns[n])
    iam.tag_role(RoleName="rdelta", Tags=[{"Key": f"k{n}", "Value": "v"} for n in NAMES])
    for n in NAMES[:3]:  # the policy's entities: three of each kind
        iam.attach_group_policy(GroupName=f"g{n}", PolicyArn=arns["delta"])
        iam.attach_user_policy(UserName=f"u{n}", PolicyArn=arns["delta"])
        iam.attach_role_policy(RoleName=f"r{n}", PolicyArn=arns["delta"])
    for _ in range(4):
        iam.create_policy_version(PolicyArn=arns["delta"], PolicyDocument=DOC)
    for n in NAMES[:5]:
        iam.create_service_specific_credential(UserName=f"u{n}", ServiceName="codecommit.amazonaws.com")
    return {"policy": arns["delta"]}


def names(key: str, field: str) -> Callable[[dict[str, Any]], list[str]]:
    return lambda page: [item[field] for item in page[key]]


def entities(page: dict[str, Any]) -> list[str]:
    return ([g["GroupName"] for g in page["PolicyGroups"]] + [u["UserName"] for u in page["PolicyUsers"]]
            + [r["RoleName"] for r in page["PolicyRoles"]])


def details(page: dict[str, Any]) -> list[str]:
    return ([u["UserName"] for u in page["UserDetailList"]] + [g["GroupName"] for g in page["GroupDetailList"]]
            + [r["RoleName"] for r in page["RoleDetailList"]])


FIRST3 = sorted(NAMES[:3], key=str.lower)
#: (method, parameters, the names a page holds, every name in IAM's order — None: the unpaged
#: answer's order —, keyset: the marker names a position, so an edited one is refused too)
LISTINGS: list[tuple[str, dict[str, Any], Callable[[dict[str, Any]], list[str]], list[str] | None, bool]] = [
    ("list_roles", {"PathPrefix": "/lp/"}, names("Roles", "RoleName"), [f"r{n}" for n in BY_NAME], True),
    ("list_users", {"PathPrefix": "/lp/"}, names("Users", "UserName"), [f"u{n}" for n in BY_NAME], True),
    ("list_groups", {"PathPrefix": "/lp/"}, names("Groups", "GroupName"), [f"g{n}" for n in BY_NAME], True),
    ("list_policies", {"Scope": "Local", "PathPrefix": "/lp/"}, names("Policies", "PolicyName"),
     [f"p{n}" for n in LOWER], True),
    ("list_policies", {"Scope": "Local", "OnlyAttached": True}, names("Policies", "PolicyName"),
     [f"p{n}" for n in LOWER], True),
    ("list_instance_profiles", {"PathPrefix": "/lp/"}, names("InstanceProfiles", "InstanceProfileName"),
     [f"i{n}" for n in BY_NAME], True),
    ("list_server_certificates", {"PathPrefix": "/lp/"}, names("ServerCertificateMetadataList", "ServerCertificateName"),
     [f"c{n}" for n in BY_NAME], True),
    ("list_virtual_mfa_devices", {"AssignmentStatus": "Unassigned"},
     lambda page: [d["SerialNumber"].rsplit("/", 1)[1] for d in page["VirtualMFADevices"]], [f"m{n}" for n in LOWER], True),
    ("get_group", {"GroupName": "gdelta"}, names("Users", "UserName"), [f"u{n}" for n in BY_NAME], True),
    ("list_entities_for_policy", {"PolicyArn": "POLICY"}, entities,
     [f"g{n}" for n in FIRST3] + [f"u{n}" for n in FIRST3] + [f"r{n}" for n in FIRST3], True),
    ("list_instance_profiles_for_role", {"RoleName": "rdelta"}, names("InstanceProfiles", "InstanceProfileName"),
     [f"i{n}" for n in BY_NAME], True),
    ("list_service_specific_credentials", {"AllUsers": True}, names("ServiceSpecificCredentials", "UserName"), None,
     True),
    ("get_account_authorization_details", {"Filter": ["User", "Group", "Role"]}, details, None, True),
    ("list_groups_for_user", {"UserName": "udelta"}, names("Groups", "GroupName"), [f"g{n}" for n in BY_NAME], False),
    ("list_role_policies", {"RoleName": "rdelta"}, lambda page: page["PolicyNames"],
     sorted(f"inline{n}" for n in NAMES), False),
    ("list_attached_role_policies", {"RoleName": "rdelta"}, names("AttachedPolicies", "PolicyName"),
     [f"p{n}" for n in LOWER], False),
    ("list_role_tags", {"RoleName": "rdelta"}, names("Tags", "Key"), [f"k{n}" for n in BY_NAME], False),
    ("list_policy_versions", {"PolicyArn": "POLICY"}, names("Versions", "VersionId"), [f"v{i}" for i in range(5, 0, -1)],
     False),
]
IDS = [f"{m}-{'-'.join(str(v) for k, v in p.items() if k != 'PolicyArn')}" for m, p, _, _, _ in LISTINGS]


def _params(params: dict[str, Any], world: dict[str, Any]) -> dict[str, Any]:
    return {k: world["policy"] if v == "POLICY" else v for k, v in params.items()}


def _walk(iam: Any, method: str, params: dict[str, Any], extract: Callable[[dict[str, Any]], list[str]]) -> list[str]:
    seen: list[str] = []
    marker = None
    for _ in range(100):
        page = getattr(iam, method)(**params, MaxItems=PAGE, **({"Marker": marker} if marker else {}))
        got = extract(page)
        seen += got
        if not page["IsTruncated"]:
            assert "Marker" not in page
            return seen
        assert len(got) == PAGE and page["Marker"]  # a truncated page is a full one
        marker = page["Marker"]
    raise AssertionError("paging did not end")


@pytest.mark.parametrize(("method", "params", "extract", "expected", "keyset"), LISTINGS, ids=IDS)
def test_paging_yields_each_entity_once_in_order(iam: Any, world: dict[str, Any], method: str,
                                                 params: dict[str, Any], extract: Any, expected: list[str] | None,
                                                 keyset: bool) -> None:
    params = _params(params, world)
    whole = extract(getattr(iam, method)(**params, MaxItems=1000))
    if expected is not None:
        assert whole == expected
    assert len(whole) > PAGE
    assert _walk(iam, method, params, extract) == whole
    if iam.can_paginate(method):  # the SDK's paginator follows our markers
        pages = iam.get_paginator(method).paginate(**params, PaginationConfig={"PageSize": PAGE})
        assert [n for page in pages for n in extract(page)] == whole


@pytest.mark.parametrize(("method", "params", "extract", "expected", "keyset"), LISTINGS, ids=IDS)
def test_a_garbage_foreign_or_edited_marker_is_invalid(iam: Any, world: dict[str, Any], method: str,
                                                       params: dict[str, Any], extract: Any,
                                                       expected: list[str] | None, keyset: bool) -> None:
    params = _params(params, world)
    other = "list_roles" if method == "list_users" else "list_users"
    foreign = getattr(iam, other)(PathPrefix="/lp/", MaxItems=1)["Marker"]
    own = getattr(iam, method)(**params, MaxItems=1)["Marker"]
    middle = len(own) // 2
    edited = own[:middle] + ("B" if own[middle] == "A" else "A") + own[middle + 1:]
    for marker in ["garbage-marker", "-1", foreign, *([edited, own[:-3], own + "AAAA"] if keyset else [])]:
        with pytest.raises(ClientError) as exc:
            getattr(iam, method)(**params, MaxItems=PAGE, Marker=marker)
        assert error(exc) == ("InvalidInput", 400, "Invalid Marker."), (marker, error(exc))


def test_the_first_page_of_20000_roles_answers_at_once(server: Server) -> None:
    """20,000 roles (one multi-row INSERT, not 20,000 calls): the first page and the last one each
    answer in well under a second (the first took seconds before issue 19, the last more)."""
    repo = SqlRepository(make_engine(server.env.get("OPENSTS_DATABASE_URL") or database_url(server.data_dir)),
                         SecretCipher(load_master_key(server.data_dir)))
    try:
        key = create_account(repo, BIG_ACCOUNT)
        made = sorted((r["name"] for r in data.roles(repo.engine, BIG_ACCOUNT, 20_000)), key=str.lower)
    finally:
        repo.engine.dispose()
    big = server.client("iam", key=key.access_key_id, secret=key.secret_access_key)
    deadline = time.monotonic() + 5
    while True:  # the server's cache learns of the new account within a second
        try:
            big.list_roles(MaxItems=1)
            break
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    # the position of the 19,900th role, as the server names it (the marker is the name's key)
    last_marker = encode_marker("roles", 0, (made[19_899].lower(),))
    for params, expected in (({}, made[:100]), ({"Marker": last_marker}, made[19_900:])):
        started = time.perf_counter()
        page = big.list_roles(MaxItems=100, **params)
        elapsed = time.perf_counter() - started
        assert [r["RoleName"] for r in page["Roles"]] == expected
        assert page["IsTruncated"] == (not params)
        assert elapsed < 0.5, elapsed
