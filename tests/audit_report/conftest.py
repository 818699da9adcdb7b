"""Synthetic CloudTrail events with a known classification, shared by the report tests."""

from __future__ import annotations

import copy
from typing import Any

import pytest

ACCT = "111122223333"


def event(*, name: str = "AssumeRole", source: str = "sts.amazonaws.com", etype: str | None = None,
          serving: str | None = None, host: str | None = None, role: str = "App", session: str = "s1",
          ua: str = "Boto3/1.26.0 md/Botocore#1.29.0 ua/2.0 os/linux Botocore/1.29.0", ip: str = "192.0.2.10",
          when: str = "2025-09-01T10:15:00Z", region: str = "us-east-1") -> dict[str, Any]:
    """An assumed-role event; ``etype``/``serving`` go to additionalEventData.RequestDetails."""
    rec: dict[str, Any] = {
        "eventVersion": "1.11",
        "userIdentity": {
            "type": "AssumedRole", "principalId": f"AROAEXAMPLE:{session}",
            "arn": f"arn:aws:sts::{ACCT}:assumed-role/{role}/{session}", "accountId": ACCT,
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE",
                                                 "arn": f"arn:aws:iam::{ACCT}:role/{role}", "accountId": ACCT,
                                                 "userName": role}},
        },
        "eventTime": when, "eventSource": source, "eventName": name, "awsRegion": region,
        "sourceIPAddress": ip, "userAgent": ua, "requestParameters": None, "responseElements": None,
        "eventID": "e", "eventType": "AwsApiCall", "recipientAccountId": ACCT,
    }
    if etype or serving:
        rd = {}
        if etype:
            rd["endpointType"] = etype
        if serving:
            rd["awsServingRegion"] = serving
        rec["additionalEventData"] = {"RequestDetails": rd}
    if host:
        rec["tlsDetails"] = {"tlsVersion": "TLSv1.3", "clientProvidedHostHeader": host}
    return rec


def known_set() -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One event per classification rule, with the expected totals."""
    evs = [
        event(etype="global", serving="eu-north-1", host="sts-global.eu-north-1.amazonaws.com", role="ByField"),
        event(host="sts.amazonaws.com", role="ByHost", ua="aws-sdk-go/1.44.0 (go1.19; linux; amd64)"),
        event(host="sts-global.eu-north-1.amazonaws.com", role="SvcGlobal", name="GetCallerIdentity"),
        event(etype="regional", serving="us-west-2", host="sts.us-west-2.amazonaws.com"),
        event(etype="regional", serving="us-east-1", host="sts.amazonaws.com"),  # the field wins
        event(host="sts.eu-west-1.amazonaws.com"),
        event(host="sts-fips.us-east-1.amazonaws.com"),
        event(host="sts.cn-north-1.amazonaws.com.cn"),
        event(),  # no field, no host
        event(host="sts.example.internal"),
        event(source="s3.amazonaws.com", name="GetObject", host="s3.us-east-1.amazonaws.com"),
        event(source="iam.amazonaws.com", name="GetRole"),
    ]
    return evs, {"global": 3, "regional": 5, "unknown": 2, "skipped": 2}


@pytest.fixture
def known() -> tuple[list[dict[str, Any]], dict[str, int]]:
    evs, expected = known_set()
    return copy.deepcopy(evs), expected
