"""JSON-protocol input checks compiled from botocore's Organizations model: every operation's
input shape, each rule at its boundary, and the Reason Organizations reports."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest

from opensts.protocol.json_input import JsonInputError, load_json_model

MODEL = load_json_model("organizations", "2016-11-28")


def reason(operation: str, body: dict[str, Any]) -> str | None:
    try:
        MODEL.validate(operation, body)
    except JsonInputError as exc:
        assert exc.code == "InvalidInputException" and exc.status == 400
        return exc.reason
    return None


def test_every_operation_of_the_model_has_a_checker() -> None:
    model = botocore.session.get_session().get_service_model("organizations")
    assert set(MODEL.operations) == set(model.operation_names)


@pytest.mark.parametrize("operation,body,expected", [
    ("CreateAccount", {"Email": "a@b.co", "AccountName": "x"}, None),  # 6 characters: the minimum
    ("CreateAccount", {"Email": "a@b.c", "AccountName": "x"}, "MIN_LENGTH_EXCEEDED"),
    ("CreateAccount", {"Email": "a" * 53 + "@example.io", "AccountName": "x"}, None),  # 64
    ("CreateAccount", {"Email": "a" * 54 + "@example.io", "AccountName": "x"}, "MAX_LENGTH_EXCEEDED"),
    ("CreateAccount", {"Email": "no-at-sign.example", "AccountName": "x"}, "INVALID_PATTERN"),
    ("CreateAccount", {"Email": "a@b.co"}, "INPUT_REQUIRED"),
    ("CreateAccount", {"Email": "a@b.co", "AccountName": None}, "INPUT_REQUIRED"),
    ("CreateAccount", {"Email": "a@b.co", "AccountName": 7}, "INVALID_SYNTAX"),
    ("CreateAccount", {"Email": "a@b.co", "AccountName": "x", "IamUserAccessToBilling": "NO"}, "INVALID_ENUM"),
    ("CreateAccount", {"Email": "a@b.co", "AccountName": "x", "Tags": [{"Key": "k"}]}, "INPUT_REQUIRED"),
    ("CreateAccount", {"Email": "a@b.co", "AccountName": "x", "Tags": {"Key": "k"}}, "INVALID_SYNTAX"),
    ("ListAccounts", {"MaxResults": 20}, None),
    ("ListAccounts", {"MaxResults": 21}, "MAX_VALUE_EXCEEDED"),
    ("ListAccounts", {"MaxResults": 0}, "MIN_VALUE_EXCEEDED"),
    ("ListAccounts", {"MaxResults": True}, "INVALID_SYNTAX"),
    ("DescribeAccount", {"AccountId": "12345678901"}, "INVALID_PATTERN"),
    ("DescribeAccount", {"AccountId": "123456789012"}, None),
    ("DescribeCreateAccountStatus", {"CreateAccountRequestId": "car-1234567"}, "INVALID_PATTERN"),
    ("CreateOrganization", {}, None),
    ("CreateOrganization", {"FeatureSet": "SOME"}, "INVALID_ENUM"),
])
def test_rules_at_their_boundaries(operation: str, body: dict[str, Any], expected: str | None) -> None:
    assert reason(operation, body) == expected


def test_a_body_that_is_not_an_object() -> None:
    assert reason("CreateOrganization", []) == "INVALID_SYNTAX"  # type: ignore[arg-type]
