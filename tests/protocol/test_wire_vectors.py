"""Shared wire vectors: aws-sdk-go-v2 request snapshots, botocore response/error samples."""

from __future__ import annotations

from tests.testdata import DATA

import json
from pathlib import Path

import botocore.session
import pytest
from botocore.parsers import create_parser

from opensts.protocol.errors import AccessDenied, ValidationError
from opensts.protocol.form import parse_form
from opensts.protocol.model import load_service
from opensts.protocol.render import render_error

VEC = DATA / "sts-wire"
SNAPS = sorted((VEC / "aws-sdk-go-v2-serde-snapshots").glob("*.request.snap"))
STS = load_service("sts")
MODEL = botocore.session.get_session().get_service_model("sts")

# What each snapshot must be rejected for (placeholders such as DurationSeconds=1 or __RoleArn__ break
# min-length/range/pattern constraints): the exact AWS-shaped messages.
EXPECTED_ERRORS = {
    "AssumeRole": [
        "Value '__RoleArn__' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20",
        "Value '__Arn__' at 'policyArns.1.member.arn' failed to satisfy constraint: Member must have length greater than or equal to 20",
        "Value '__Arn__' at 'policyArns.2.member.arn' failed to satisfy constraint: Member must have length greater than or equal to 20",
        "Value '1' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900",
        "Value '__TokenCode__' at 'tokenCode' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\d]*",
        "Value '__TokenCode__' at 'tokenCode' failed to satisfy constraint: Member must have length less than or equal to 6",
        "Value '__ProviderArn__' at 'providedContexts.1.member.providerArn' failed to satisfy constraint: Member must have length greater than or equal to 20",
        "Value '__ProviderArn__' at 'providedContexts.2.member.providerArn' failed to satisfy constraint: Member must have length greater than or equal to 20",
    ],
    "GetCallerIdentity": None,
}


def _body(path: Path) -> bytes:
    text = path.read_bytes()
    assert text.startswith(b"POST /") and b"Content-Type: application/x-www-form-urlencoded" in text
    return text.rstrip(b"\n").split(b"\n")[-1]


def _raw_items(body: bytes) -> dict:
    return dict(pair.split("=", 1) for pair in body.decode().split("&"))


@pytest.mark.parametrize("snap", SNAPS, ids=[p.name.split(".")[0] for p in SNAPS])
def test_go_snapshot(snap: Path) -> None:
    form = parse_form(_body(snap))
    assert form == _raw_items(_body(snap))  # nothing to unescape in these bodies
    op = STS.operation(form["Action"], form["Version"])
    expected = EXPECTED_ERRORS.get(op.name, "some")
    if expected is None:
        assert op.parse(form) == {}
        return
    with pytest.raises(ValidationError) as exc:
        op.parse(form)
    msg = exc.value.message
    n = int(msg.split(" ", 1)[0])
    assert msg.startswith(f"{n} validation error{'s' if n > 1 else ''} detected: ")
    parts = msg.split(" detected: ", 1)[1].split("; ")
    assert len(parts) == n
    for p in parts:
        assert p.startswith("Value ") and " failed to satisfy constraint: Member must " in p
    if isinstance(expected, list):
        assert parts == expected
    # Every wire key of the snapshot was understood (list members included): re-parse with the
    # placeholder values replaced by valid ones and compare the structure.


def test_go_snapshot_assume_role_structure() -> None:
    form = parse_form(_body(VEC / "aws-sdk-go-v2-serde-snapshots/AssumeRole.request.snap"))
    fixed = {k: v for k, v in form.items()}
    for k in fixed:
        if k.endswith("Arn") or k.endswith(".arn") or k == "RoleArn":
            fixed[k] = "arn:aws:iam::123456789012:role/placeholder"
    fixed.update(DurationSeconds="900", TokenCode="123456")
    out = STS.operations["AssumeRole"].parse(fixed)
    assert out["PolicyArns"] == [{"arn": "arn:aws:iam::123456789012:role/placeholder"}] * 2
    assert out["Tags"] == [{"Key": "__Key__", "Value": "__Value__"}] * 2
    assert out["TransitiveTagKeys"] == ["__Member__", "__Member__"]
    assert out["ProvidedContexts"] == [
        {"ProviderArn": "arn:aws:iam::123456789012:role/placeholder", "ContextAssertion": "__ContextAssertion__"}] * 2
    assert set(out) == {"RoleArn", "RoleSessionName", "PolicyArns", "Policy", "DurationSeconds", "Tags",
                        "TransitiveTagKeys", "ExternalId", "SerialNumber", "TokenCode", "SourceIdentity",
                        "ProvidedContexts"}


def test_botocore_response_sample() -> None:
    xml = (VEC / "botocore/responses_sts-get-session-token.xml").read_bytes()
    expected = json.loads((VEC / "botocore/responses_sts-get-session-token.expected.json").read_text())
    parser = create_parser("query")
    model = MODEL.operation_model("GetSessionToken")
    sample = parser.parse({"body": xml, "headers": {}, "status_code": 200}, model.output_shape)
    # Render the same values ourselves; botocore must read our bytes to what it reads from the sample.
    ours = STS.operations["GetSessionToken"].render(
        {"Credentials": sample["Credentials"]}, expected["ResponseMetadata"]["RequestId"])
    back = parser.parse({"body": ours, "headers": {}, "status_code": 200}, model.output_shape)
    assert back["Credentials"]["SessionToken"] == expected["Credentials"]["SessionToken"]  # embedded newlines kept
    for k in ("AccessKeyId", "SecretAccessKey", "SessionToken"):
        assert back["Credentials"][k] == expected["Credentials"][k]
    # We render whole seconds: 19:55:29.611Z → 19:55:29Z.
    assert b"<Expiration>2011-07-11T19:55:29Z</Expiration>" in ours
    assert back["ResponseMetadata"]["RequestId"] == expected["ResponseMetadata"]["RequestId"]


def test_botocore_error_sample() -> None:
    xml = (VEC / "botocore/errors_sts-get-session-token.xml").read_bytes()
    expected = json.loads((VEC / "botocore/errors_sts-get-session-token.expected.json").read_text())
    err = AccessDenied(expected["Error"]["Message"])
    ours = render_error(err, expected["ResponseMetadata"]["RequestId"], xmlns=STS.xmlns)
    # Same document modulo whitespace.
    assert b"".join(xml.split()) == b"".join(ours.split())
    parser = create_parser("query")
    model = MODEL.operation_model("GetSessionToken")
    parsed = parser.parse({"body": ours, "headers": {}, "status_code": 403}, model.output_shape)
    assert parsed["Error"] == expected["Error"]
    assert parsed["ResponseMetadata"]["RequestId"] == expected["ResponseMetadata"]["RequestId"]
