"""AssumeRole's ProvidedContexts are validated, never accepted unchecked (issue 14).

Model constraints (1–5 entries, ProviderArn 20–2048, ContextAssertion 4–3072 in botocore's model)
answer ValidationError; everything past them answers AWS's InvalidContextAssertion (400): an
unknown or repeated context provider, an entry missing a member, and any assertion this server
cannot verify (it holds no context provider's keys, so it can verify none). No credentials are
issued in any case. Real boto3 clients (client-side validation off, so the server is what
refuses) against a real server.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT_ID, Server

IDC = "arn:aws:iam::aws:contextProvider/IdentityCenter"
ASSERTION = "AQICAHh" + "x" * 200  # shaped like an opaque encrypted blob; not issued by any provider we hold
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID}, "Action": ["sts:AssumeRole", "sts:SetContext"]}]})


def ctx(provider: str | None = IDC, assertion: str | None = ASSERTION) -> dict[str, str]:
    entry = {}
    if provider is not None:
        entry["ProviderArn"] = provider
    if assertion is not None:
        entry["ContextAssertion"] = assertion
    return entry


CASES: dict[str, tuple[list[dict[str, str]], str, str]] = {
    # name: (ProvidedContexts, error code, message fragment)
    "unverifiable assertion": ([ctx()], "InvalidContextAssertion", "The context assertion that was provided is invalid"),
    "unknown provider name": ([ctx("arn:aws:iam::aws:contextProvider/Okta")], "InvalidContextAssertion",
                              "is not a trusted context provider"),
    "provider in an account": ([ctx(f"arn:aws:iam::{ACCOUNT_ID}:contextProvider/IdentityCenter")],
                               "InvalidContextAssertion", "is not a trusted context provider"),
    "provider of another partition": ([ctx("arn:aws-cn:iam::aws:contextProvider/IdentityCenter")],
                                      "InvalidContextAssertion", "is not a trusted context provider"),
    "role ARN as provider": ([ctx(f"arn:aws:iam::{ACCOUNT_ID}:role/placeholder")], "InvalidContextAssertion",
                             "is not a trusted context provider"),
    "not an ARN": ([ctx("x" * 40)], "InvalidContextAssertion", "is not a trusted context provider"),
    "provider twice": ([ctx(), ctx()], "InvalidContextAssertion", "Only one context assertion"),
    "good then unknown provider": ([ctx(), ctx("arn:aws:iam::aws:contextProvider/Other")], "InvalidContextAssertion",
                                   "is not a trusted context provider"),
    "no ProviderArn": ([ctx(provider=None)], "InvalidContextAssertion", "must include a ProviderArn"),
    "no ContextAssertion": ([ctx(assertion=None)], "InvalidContextAssertion", "must include a ProviderArn"),
    "six entries": ([ctx()] * 6, "ValidationError", "Member must have length less than or equal to 5"),
    "empty list": ([], "ValidationError", "providedContexts"),
    "assertion too short": ([ctx(assertion="abc")], "ValidationError",
                            "Member must have length greater than or equal to 4"),
    "assertion too long": ([ctx(assertion="a" * 3073)], "ValidationError",
                           "Member must have length less than or equal to 3072"),
    "provider too short": ([ctx("arn:aws:iam::aws:x")], "ValidationError",
                           "Member must have length greater than or equal to 20"),
    "provider too long": ([ctx("arn:aws:iam::aws:contextProvider/" + "a" * 2048)], "ValidationError",
                          "Member must have length less than or equal to 2048"),
}


@pytest.fixture(scope="module")
def role_arn(server: Server) -> str:
    name = f"ctx-{uuid.uuid4().hex[:8]}"
    return str(server.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"])


@pytest.fixture(scope="module")
def sts(server: Server) -> Any:
    return server.client(parameter_validation=False)


def test_the_role_is_assumable_without_contexts(sts: Any, role_arn: str) -> None:
    """Control: the same call without ProvidedContexts succeeds (so each refusal below is theirs)."""
    assert sts.assume_role(RoleArn=role_arn, RoleSessionName="plain")["Credentials"]["AccessKeyId"].startswith("ASIA")


@pytest.mark.parametrize("case", list(CASES))
def test_invalid_provided_contexts_refused(sts: Any, role_arn: str, case: str) -> None:
    contexts, code, fragment = CASES[case]
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="ctx", ProvidedContexts=contexts)
    response = exc.value.response
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == (code, 400)
    assert fragment in response["Error"]["Message"]
    assert "Credentials" not in response


def test_refused_before_the_policy_decision(server: Server, sts: Any) -> None:
    """An assertion is decoded before the trust policy is evaluated (its claims feed conditions on
    AWS), so a role whose trust policy refuses the caller still answers InvalidContextAssertion."""
    deny_all = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "sts:AssumeRole"}]})
    name = f"ctx-deny-{uuid.uuid4().hex[:6]}"
    arn = server.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=deny_all)["Role"]["Arn"]
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=arn, RoleSessionName="ctx", ProvidedContexts=[ctx()])
    assert exc.value.response["Error"]["Code"] == "InvalidContextAssertion"
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=arn, RoleSessionName="ctx")
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
