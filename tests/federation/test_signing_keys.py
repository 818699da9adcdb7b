"""Outbound signing-key rotation on a real store: the previous key stays published until every
token it signed has expired."""

from __future__ import annotations

from pathlib import Path

from opensts.service.federation.outbound import MAX_TOKEN_LIFETIME, SKEW, SigningKeys
from opensts.store.database import open_store


def test_rotation_keeps_previous_key_until_its_tokens_expire(tmp_path: Path) -> None:
    repo = open_store(tmp_path)
    keys = SigningKeys(repo, rotation=86400)
    t0 = 86400 * 1000 + 10
    kid0, _ = keys.signing("RS256", t0)
    t1 = t0 + 86400  # next slot
    kid1, _ = keys.signing("RS256", t1)
    assert kid1 != kid0
    published = {k["kid"] for k in keys.published(t1)}
    assert {kid0, kid1} <= published
    late = 86400 * 1001 + MAX_TOKEN_LIFETIME + SKEW + 1
    assert kid0 not in {k["kid"] for k in keys.published(late + 86400)}
    assert SigningKeys(repo, rotation=86400).signing("RS256", t1)[0] == kid1  # another process agrees
