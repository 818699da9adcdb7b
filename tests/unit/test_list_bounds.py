"""Every paged IAM and Organizations operation either pages in the database (keyset) or lists a
collection AWS caps small — and each cap is real: the write that would pass it is refused, so
the listing that reads its few items whole and slices them stays bounded (issue 19).

In process (an IamService on its own store, the root caller): a few hundred calls, ~2 s."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from opensts.auth.principals import Caller
from opensts.policy.choices import INLINE_POLICY_QUOTAS
from opensts.policy.document import policy_size
from opensts.protocol.errors import ServiceError
from opensts.protocol.model import load_service
from opensts.service.accounts import create_account
from opensts.service.authorization import Authorizer
from opensts.service.context import RequestInfo
from opensts.service.iam import IamService
from opensts.service.iam.paging import BOUNDED, KEYSET, REPORTS
from opensts.service.organizations import _base as org_base
from opensts.store.cache import StoreCache
from opensts.store.database import open_store
from tests.clients.test_iam_certificates import leaf

ACCOUNT = "123456789013"
ROOT = Caller("Root", ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, "root", "AKIAROOTROOTROOTROOT")
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
DOC = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]})
#: how many inline policies of DOC each kind of entity holds (its aggregate size quota)
INLINE = {kind: quota // policy_size(DOC) for kind, quota in INLINE_POLICY_QUOTAS.items()}
#: Organizations operations OpenSTS does not implement (they answer UnsupportedAPIEndpointException)
ORG_UNSUPPORTED = {"ListCreateAccountStatus", "ListTagsForResource", "ListDelegatedServicesForAccount",
                   "ListAccountsWithInvalidEffectivePolicy", "ListEffectivePolicyValidationErrors",
                   "ListInboundResponsibilityTransfers", "ListOutboundResponsibilityTransfers"}


def _paged(service: str, token: str) -> set[str]:
    model = botocore.session.get_session().get_service_model(service)
    return {name for name in model.operation_names
            if (shape := model.operation_model(name).input_shape) is not None and token in shape.members}


def test_every_paged_iam_operation_pages_in_the_database_or_is_bounded() -> None:
    paged = _paged("iam", "Marker")
    assert not KEYSET & set(BOUNDED) and not REPORTS & (KEYSET | set(BOUNDED))
    assert paged == KEYSET | set(BOUNDED) | REPORTS, paged ^ (KEYSET | set(BOUNDED) | REPORTS)


def test_every_paged_organizations_operation_pages_in_the_database_or_is_bounded() -> None:
    paged = _paged("organizations", "NextToken")
    classified = org_base.KEYSET | set(org_base.BOUNDED) | ORG_UNSUPPORTED
    assert not org_base.KEYSET & set(org_base.BOUNDED)
    assert paged == classified, paged ^ classified


class Iam:
    def __init__(self, folder: Path) -> None:
        self.repo = open_store(folder)
        create_account(self.repo, ACCOUNT)
        cache = StoreCache(self.repo, check_interval=3600)
        self.service = IamService(self.repo, cache, Authorizer(cache), load_service("iam"))

    def __call__(self, action: str, **params: Any) -> dict[str, Any]:
        return self.service.handle(RequestInfo("req", action, datetime.now(timezone.utc), ROOT), params)


@pytest.fixture(scope="module")
def iam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Iam]:
    made = Iam(tmp_path_factory.mktemp("bounds"))
    made("CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST)
    made("CreateUser", UserName="u")
    made("CreateGroup", GroupName="g")
    made("CreateInstanceProfile", InstanceProfileName="i")
    made("CreateVirtualMFADevice", VirtualMFADeviceName="m")
    made("CreateOpenIDConnectProvider", Url="https://oidc.example.test", ThumbprintList=["a" * 40])
    body, key, chain = leaf()
    made("UploadServerCertificate", ServerCertificateName="c", CertificateBody=body, PrivateKey=key,
         CertificateChain=chain)
    made.policy = made("CreatePolicy", PolicyName="p", PolicyDocument=DOC)["Policy"]["Arn"]  # type: ignore[attr-defined]
    yield made
    made.repo.engine.dispose()


def _ssh_key() -> str:
    return ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def _attach(kind: str) -> Callable[[Iam, int], Any]:
    def fill(iam: Iam, i: int) -> Any:
        arn = iam("CreatePolicy", PolicyName=f"a{kind}{i}", PolicyDocument=DOC)["Policy"]["Arn"]
        return iam(f"Attach{kind}Policy", **{f"{kind}Name": kind[0].lower()}, PolicyArn=arn)
    return fill


def _tags(kind: str, named: Callable[[Iam], dict[str, Any]]) -> tuple[Any, ...]:
    """TagX with 50 tags at once is accepted, with one more refused: ListXTags lists at most 50."""
    def fill(iam: Iam, i: int) -> Any:
        count = 50 if i == 0 else 51
        return iam(f"Tag{kind}", **named(iam), Tags=[{"Key": f"k{i}-{n}", "Value": "v"} for n in range(count)])
    return (f"List{kind}Tags", named, fill, 1, "Tags", 50)


def _mfa(iam: Iam) -> dict[str, Any]:
    return {"SerialNumber": f"arn:aws:iam::{ACCOUNT}:mfa/m"}


def _oidc(iam: Iam) -> dict[str, Any]:
    return {"OpenIDConnectProviderArn": f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.example.test"}


#: (listing, its parameters, the write that adds one, how many writes succeed, list key, items then)
BOUNDS: list[tuple[str, Callable[[Iam], dict[str, Any]], Callable[[Iam, int], Any], int, str, int]] = [
    ("ListAccessKeys", lambda iam: {"UserName": "u"}, lambda iam, i: iam("CreateAccessKey", UserName="u"), 2,
     "AccessKeyMetadata", 2),
    ("ListSigningCertificates", lambda iam: {"UserName": "u"},
     lambda iam, i: iam("UploadSigningCertificate", UserName="u", CertificateBody=leaf(f"s{i}.test")[0]), 2,
     "Certificates", 2),
    ("ListSSHPublicKeys", lambda iam: {"UserName": "u"},
     lambda iam, i: iam("UploadSSHPublicKey", UserName="u", SSHPublicKeyBody=_ssh_key()), 5, "SSHPublicKeys", 5),
    ("ListGroupsForUser", lambda iam: {"UserName": "u"},
     lambda iam, i: (iam("CreateGroup", GroupName=f"gu{i}"), iam("AddUserToGroup", GroupName=f"gu{i}", UserName="u")),
     10, "Groups", 10),
    ("ListAttachedRolePolicies", lambda iam: {"RoleName": "r"}, _attach("Role"), 10, "AttachedPolicies", 10),
    ("ListAttachedUserPolicies", lambda iam: {"UserName": "u"}, _attach("User"), 10, "AttachedPolicies", 10),
    ("ListAttachedGroupPolicies", lambda iam: {"GroupName": "g"}, _attach("Group"), 10, "AttachedPolicies", 10),
    ("ListPolicyVersions", lambda iam: {"PolicyArn": iam.policy},  # type: ignore[attr-defined]
     lambda iam, i: iam("CreatePolicyVersion", PolicyArn=iam.policy, PolicyDocument=DOC), 4, "Versions", 5),
    ("ListUserPolicies", lambda iam: {"UserName": "u"},
     lambda iam, i: iam("PutUserPolicy", UserName="u", PolicyName=f"i{i}", PolicyDocument=DOC), INLINE["user"],
     "PolicyNames", INLINE["user"]),
    ("ListGroupPolicies", lambda iam: {"GroupName": "g"},
     lambda iam, i: iam("PutGroupPolicy", GroupName="g", PolicyName=f"i{i}", PolicyDocument=DOC), INLINE["group"],
     "PolicyNames", INLINE["group"]),
    ("ListRolePolicies", lambda iam: {"RoleName": "r"},
     lambda iam, i: iam("PutRolePolicy", RoleName="r", PolicyName=f"i{i}", PolicyDocument=DOC), INLINE["role"],
     "PolicyNames", INLINE["role"]),
    _tags("Role", lambda iam: {"RoleName": "r"}),
    _tags("User", lambda iam: {"UserName": "u"}),
    _tags("Policy", lambda iam: {"PolicyArn": iam.policy}),  # type: ignore[attr-defined]
    _tags("InstanceProfile", lambda iam: {"InstanceProfileName": "i"}),
    _tags("MFADevice", _mfa),
    _tags("OpenIDConnectProvider", _oidc),
    _tags("ServerCertificate", lambda iam: {"ServerCertificateName": "c"}),
]
#: BOUNDED listings whose bound is proved elsewhere, and where
ELSEWHERE = {
    "ListSAMLProviderTags": "the same TagsPerEntity check as every Tag* (tagging.py); SAML metadata is costly here",
    "ListAccountAliases": "test_an_account_has_one_alias below",
    "SimulatePrincipalPolicy": "tests/clients/test_simulate_limits.py",
    "SimulateCustomPolicy": "tests/clients/test_simulate_limits.py",
    "ListPoliciesGrantingServiceAccess": "ServiceNamespaces is capped at 200 by the model; policies by the above",
    "GetServiceLastAccessedDetails": "one row per AWS service namespace",
    "GetOrganizationsAccessReport": "one row per AWS service namespace",
}


def test_every_bounded_listing_has_its_bound_proved() -> None:
    assert {b[0] for b in BOUNDS} | set(ELSEWHERE) == set(BOUNDED)


@pytest.mark.parametrize(("listing", "named", "fill", "accepted", "key", "listed"), BOUNDS, ids=[b[0] for b in BOUNDS])
def test_the_write_past_the_cap_is_refused_so_the_listing_stays_small(
        iam: Iam, listing: str, named: Any, fill: Any, accepted: int, key: str, listed: int) -> None:
    for i in range(accepted):
        fill(iam, i)
    with pytest.raises(ServiceError) as refused:
        fill(iam, accepted)
    assert refused.value.code == "LimitExceeded", (listing, refused.value.code, str(refused.value))
    whole = iam(listing, **named(iam), MaxItems=1000)
    assert len(whole[key]) == listed and not whole["IsTruncated"]
    seen, marker = [], None  # the offset pages of the few items: each once
    while True:
        page = iam(listing, **named(iam), MaxItems=3, **({"Marker": marker} if marker else {}))
        seen += page[key]
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
    assert seen == whole[key]


def test_an_account_has_one_alias(iam: Iam) -> None:
    """A new alias replaces the account's one (the alias is a column of the account)."""
    iam("CreateAccountAlias", AccountAlias="first-alias")
    iam("CreateAccountAlias", AccountAlias="second-alias")
    assert iam("ListAccountAliases")["AccountAliases"] == ["second-alias"]
