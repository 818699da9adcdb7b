"""Issue 14: every XML OpenSTS writes is well-formed, whatever text it carries.

Property tests over any text (``st.text()`` with control characters, lone surrogates, U+FFFE/U+FFFF)
put into an error message and into success-response values, parsed back with ElementTree, lxml and
botocore's own query parser; then the wire: a RoleName with ``\\x01`` / ``\\uffff`` echoed in a
ValidationError reaches boto3 as a ClientError with the right code.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import botocore.session
import orjson
import pytest
from botocore.exceptions import ClientError
from botocore.parsers import QueryParser
from hypothesis import given, settings
from hypothesis import strategies as st

from opensts.protocol.errors import ServiceError, ValidationError
from opensts.protocol.model import load_service
from opensts.protocol.render import render_error, xml_safe
from tests.conftest import Server

MODELS = {svc: botocore.session.get_session().get_service_model(svc) for svc in ("sts", "iam")}
#: Any code point, surrogates included (hypothesis leaves category Cs out by default).
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=60)
ILLEGAL = st.sampled_from(["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1f", "\ud800", "\udfff", "\ufffe", "\uffff"])
NASTY_TEXT = st.lists(st.one_of(ILLEGAL, st.sampled_from(["&", "<", ">", "]]>", "\r", "\r\n", "\t", "a", "é", "😀"]),
                               ANY_TEXT), max_size=8).map("".join)
TEXT = st.one_of(ANY_TEXT, NASTY_TEXT)


def _legal(ch: str) -> bool:
    cp = ord(ch)
    return cp in (0x9, 0xA, 0xD) or 0x20 <= cp <= 0xD7FF or 0xE000 <= cp <= 0xFFFD or 0x10000 <= cp <= 0x10FFFF


def _parse_all(body: bytes) -> ET.Element:
    """Parsed by ElementTree and lxml (both strict XML 1.0 parsers); the ElementTree root."""
    lxml_etree = pytest.importorskip("lxml.etree")
    lxml_etree.fromstring(body)
    return ET.fromstring(body)


@given(message=TEXT)
@settings(max_examples=400, deadline=None)
def test_error_message_any_text(message: str) -> None:
    for service in ("sts", "iam"):
        xmlns = load_service(service).xmlns
        body = render_error(ValidationError(message), "req-1", xmlns=xmlns)
        root = _parse_all(body)
        expected = xml_safe(message)
        assert all(_legal(c) for c in expected)
        assert len(expected) == len(message)  # one stand-in per character, nothing dropped
        assert (root.findtext(f"{{{xmlns}}}Error/{{{xmlns}}}Message") or "") == expected
        parsed = QueryParser().parse({"body": body, "headers": {}, "status_code": 400},
                                     MODELS[service].operation_model("GetCallerIdentity" if service == "sts"
                                                                     else "GetUser").output_shape)
        assert parsed["Error"]["Code"] == "ValidationError"
        doc = orjson.loads(render_error(ValidationError(message), "req-1", xmlns=xmlns, json=True))
        assert doc["Error"]["Message"] == expected


@given(values=st.lists(TEXT, min_size=3, max_size=3))
@settings(max_examples=300, deadline=None)
def test_success_values_any_text(values: list[str]) -> None:
    op = load_service("sts").operations["GetCallerIdentity"]
    result = dict(zip(("UserId", "Account", "Arn"), values))
    body = op.render(result, "req-1")
    _parse_all(body)
    parsed = QueryParser().parse({"body": body, "headers": {}, "status_code": 200},
                                 MODELS["sts"].operation_model("GetCallerIdentity").output_shape)
    for key, value in result.items():
        # botocore reads an empty element as "" and drops surrounding whitespace of nothing else
        assert parsed.get(key, "") == xml_safe(value)
    assert orjson.loads(op.render(result, "req-1", json=True))  # JSON too: no lone surrogate escapes


@given(values=st.lists(TEXT, min_size=1, max_size=4))
@settings(max_examples=150, deadline=None)
def test_nested_lists_and_maps_any_text(values: list[str]) -> None:
    """Strings inside lists of structures (IAM ListUsers) are written by the same writers."""
    op = load_service("iam").operations["ListUsers"]
    users = [{"Path": v, "UserName": v, "UserId": v, "Arn": v, "CreateDate": 0} for v in values]
    body = op.render({"Users": users, "IsTruncated": False}, "req-1")
    _parse_all(body)
    parsed = QueryParser().parse({"body": body, "headers": {}, "status_code": 200},
                                 MODELS["iam"].operation_model("ListUsers").output_shape)
    assert [u.get("UserName", "") for u in parsed["Users"]] == [xml_safe(v) for v in values]


NAMES = ["a\x01b", "a\uffffb", "\x00", "x\x1f\ufffey"]


@pytest.mark.parametrize("name", NAMES)
def test_echoed_control_characters_reach_boto3_as_client_errors(server: Server, name: str) -> None:
    with pytest.raises(ClientError) as exc:
        server.client("iam").get_role(RoleName=name)  # type: ignore[attr-defined]
    error = exc.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert f"Value '{xml_safe(name)}' at 'roleName'" in error["Message"]


@pytest.mark.parametrize("name", NAMES)
def test_echoed_control_characters_in_json_answers(server: Server, name: str) -> None:
    from urllib.parse import urlencode

    from tests.clients.test_wire import post

    body = urlencode({"Action": "GetRole", "Version": "2010-05-08", "RoleName": name})
    status, _, payload = post(server, body, service="iam", extra={"Accept": "application/json"})
    assert status == 400
    assert orjson.loads(payload)["Error"]["Message"].startswith(f"1 validation error detected: Value '{xml_safe(name)}'")


def test_control_characters_in_sts_validation_message(server: Server) -> None:
    sts = server.client("sts")
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn="arn:aws:iam::111122223333:role/x", RoleSessionName="\x01\x02\uffff")  # type: ignore[attr-defined]
    assert exc.value.response["Error"]["Code"] == "ValidationError"
    assert "\ufffd\ufffd\ufffd" in exc.value.response["Error"]["Message"]


def test_service_error_is_never_partially_escaped() -> None:
    """Code and request id go through the same escape (a code never carries markup, but the
    writer does not rely on that)."""
    body = render_error(ServiceError("m", code="A<&>\x01"), "r<\uffff>", xmlns="urn:x")
    root = _parse_all(body)
    assert root.findtext("{urn:x}Error/{urn:x}Code") == "A<&>\ufffd"
    assert root.findtext("{urn:x}RequestId") == "r<\ufffd>"
