"""Session tokens (sealing, tampering, size) and identifier formats."""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import replace

import pytest

from opensts.auth.session_token import SessionClaims, TokenError, open_token, seal_token, token_kid
from opensts.service import identifiers as ids

KEY = secrets.token_bytes(32)
CLAIMS = SessionClaims(
    access_key_id="ASIAEXAMPLEEXAMPLE00",
    secret_access_key="s" * 40,
    account_id="111122223333",
    principal_type="AssumedRole",
    arn="arn:aws:sts::111122223333:assumed-role/demo/alice",
    user_id="AROAEXAMPLEEXAMPLE123:alice",
    name="demo",
    issued_at=1_700_000_000,
    expires_at=1_700_003_600,
    issuer_action="AssumeRole",
    endpoint_type="global",
    serving_region="eu-north-1",
    token_version=1,
    session_name="alice",
    session_policies=('{"Version":"2012-10-17","Statement":[]}',),
    tags={"Project": "Pegasus", "CostCenter": "12345"},
    transitive_tag_keys=("Project",),
    source_identity="alice@example.com",
    mfa_authenticated=True,
    chained=True,
)


def test_round_trip_keeps_every_claim() -> None:
    token = seal_token(CLAIMS, "eu-north-1/abcd", KEY)
    assert token_kid(token) == "eu-north-1/abcd"
    assert open_token(token, KEY) == CLAIMS


def test_the_secret_is_not_visible_in_the_token() -> None:
    token = seal_token(CLAIMS, "k", KEY)
    raw = base64.b64decode(token)
    assert CLAIMS.secret_access_key.encode() not in raw
    assert b"alice" not in raw


@pytest.mark.parametrize("position", [0, 1, 3, 10, 20, 40, -1])
def test_any_flipped_byte_is_refused(position: int) -> None:
    raw = bytearray(base64.b64decode(seal_token(CLAIMS, "kid-1", KEY)))
    raw[position] ^= 0x01
    with pytest.raises(TokenError):
        open_token(base64.b64encode(bytes(raw)).decode(), KEY)


def test_wrong_key_and_garbage_are_refused() -> None:
    token = seal_token(CLAIMS, "kid-1", KEY)
    with pytest.raises(TokenError):
        open_token(token, secrets.token_bytes(32))
    for junk in ("", "not base64!", base64.b64encode(b"\x01\x05ab").decode(), "A" * 20000):
        with pytest.raises(TokenError):
            token_kid(junk)


def test_tokens_stay_compact_for_eks_presigned_urls() -> None:
    big = replace(CLAIMS, tags={f"Key{i}": "v" * 40 for i in range(50)})
    assert len(seal_token(CLAIMS, "us-east-1/abcdef01", KEY)) < 800
    assert len(seal_token(big, "us-east-1/abcdef01", KEY)) < 2048


def test_access_key_ids_encode_the_account() -> None:
    for account in ("000000000001", "111122223333", "999999999999"):
        key = ids.new_access_key_id("ASIA", account)
        assert re.fullmatch(r"ASIA[A-Z2-7]{16}", key)
        assert ids.account_of_access_key(key) == account
    assert ids.account_of_access_key("ASIAY34FZKBOKMUTVV7A") == "609629065308"  # AWS's published example
    assert ids.account_of_access_key("AKIAshort") is None
    assert ids.account_of_access_key("AKIA0000000000000000") is None  # 0 and 1 are not base32


def test_identifier_formats() -> None:
    assert re.fullmatch(r"AIDA[A-Z2-7]{17}", ids.new_unique_id("AIDA"))
    assert re.fullmatch(r"[A-Za-z0-9+/]{40}", ids.new_secret_access_key())
    assert re.fullmatch(r"[1-9]\d{11}", ids.new_account_id())
    assert ids.user_arn("aws", "111122223333", "/eng/", "bob") == "arn:aws:iam::111122223333:user/eng/bob"
    assert ids.assumed_role_arn("aws", "1", "r", "s") == "arn:aws:sts::1:assumed-role/r/s"
    assert ids.parse_arn("arn:aws:iam::1:role/a:b") == ("aws", "iam", "", "1", "role/a:b")
    assert ids.parse_arn("nope") is None
