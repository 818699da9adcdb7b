"""Single-byte mutations of signed requests are refused, except the ones canonicalisation erases.

For every aws-c-auth case (both forms) and for botocore-signed STS requests, each byte of the
method, path, query string, every *signed* header's value, the body, and the signature (plus the
scope and SignedHeaders parts of the Authorization header) is replaced by other byte values.
The verifier must answer SignatureDoesNotMatch or IncompleteSignature (or find no signature at
all) -- never accept, never raise anything else -- unless the mutation is canonically equivalent.

Canonical equivalence is decided by *independent oracles* (botocore's path normaliser, urllib's
form decoding, a plain whitespace fold), not by the code under test, and the test asserts
``accepted == equivalent`` both ways.  The only equivalence classes that exist, and so the only
mutations excluded, are:

* header value whitespace: SP/HTAB/CR/LF swapped for each other inside a run, or a run widened,
  is folded away by Trimall (``get-header-value-trim``, ``-multiline``);
* percent-escapes in the query: the case of a hex digit (``%2F`` vs ``%2f``) and ``+`` vs a
  literal space decode to the same byte;
* path dot segments / repeated slashes when the case normalises (``/./`` vs ``///``);
* bytes of an unsigned parameter: the query ``X-Amz-Security-Token`` of aws-c-auth's
  ``post-sts-header-after`` (``omit_session_token``), only with ``allow_unsigned_query_token``.

Not mutated, with the reason: header *names* (case-insensitive by definition; a changed name is a
different, unsigned header), unsigned headers, the access key id (it selects the secret, it is
not signed; see ``test_access_key_id_selects_the_secret``), and the separators of the
Authorization header (``, `` vs ``,`` are the same parameter list).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import quote_from_bytes, unquote_to_bytes

import pytest
from botocore.utils import normalize_url_path
from sigv4_support import SECRET, SUITE_NOW, AwsCAuthCase, aws_c_auth_cases

from opensts.auth import sigv4
from opensts.protocol.errors import IncompleteSignature, ServiceError, SignatureDoesNotMatch

# Byte values tried at every position (the exhaustive cases below try all 256).
PROBES = tuple(dict.fromkeys(" \t\n%+/.&=Aa0\x00\xe9"))
EXHAUSTIVE = {("get-vanilla", "header"), ("get-vanilla-query", "query")}


@dataclass(frozen=True)
class Base:
    req: sigv4.HttpRequest
    now: datetime
    normalize: bool = True
    unsigned_token: bool = False
    secret: str = SECRET


# ------------------------------------------------------------------------------ oracles


def _fold(value: str) -> str:
    return " ".join(value.replace("\t", " ").replace("\r", " ").replace("\n", " ").split(" ")).strip()


def _fold_ws(value: str) -> str:
    return re.sub(" +", " ", _fold(value))


def oracle_path(path: str, normalize: bool) -> str:
    if normalize:
        path = normalize_url_path(path)
    return quote_from_bytes(path.encode("latin-1"), safe="/~")


def oracle_query(query: str, *, presigned: bool, unsigned_token: bool) -> list[tuple[str, str]]:
    """Sorted canonical pairs, plus (for presigned) the signature the request carries."""
    skip = {"X-Amz-Signature"} if presigned else set()
    if unsigned_token:
        skip.add("X-Amz-Security-Token")
    out = []
    for piece in query.split("&"):
        if not piece:
            continue
        k, _, v = piece.partition("=")
        if k in skip:
            skip.discard(k)
            if k == "X-Amz-Signature":
                out.append(("\x00signature", v))
            continue
        enc = [quote_from_bytes(unquote_to_bytes(x.replace("+", " ").encode("latin-1")), safe="~") for x in (k, v)]
        out.append((enc[0], enc[1]))
    return sorted(out)


# ------------------------------------------------------------------------------ mutation plumbing


def outcome(base: Base, mutated: sigv4.HttpRequest) -> str:
    try:
        auth = sigv4.extract_auth(mutated)
        if auth is None:
            return "unsigned"
        sigv4.verify(mutated, auth, base.secret, now=base.now, normalize_path=base.normalize,
                     allow_unsigned_query_token=base.unsigned_token)
    except (SignatureDoesNotMatch, IncompleteSignature) as err:
        return type(err).__name__
    except ServiceError as err:  # pragma: no cover - would be a bug in the verifier
        pytest.fail(f"unexpected {err!r}")
    return "accepted"


def _mutations(text: str, exhaustive: bool, lo: int = 0, hi: int | None = None) -> Iterator[tuple[int, str]]:
    hi = len(text) if hi is None else hi
    for i in range(lo, hi):
        probes = [chr(b) for b in range(256)] if exhaustive else list(PROBES) + [
            chr(ord(text[i]) ^ 0x01), chr(ord(text[i]) ^ 0x20)
        ]
        for c in dict.fromkeys(probes):
            if c != text[i] and ord(c) < 256:
                yield i, text[:i] + c + text[i + 1:]


def _signature_span(base: Base) -> tuple[str, int, int] | None:
    """Where the signature lives: ('header', index) in Authorization or in the query string."""
    for idx, (name, value) in enumerate(base.req.headers):
        if name.lower() == "authorization":
            m = re.search(r"Signature=([0-9a-f]+)", value)
            assert m
            return f"header:{idx}", m.start(1), m.end(1)
    m = re.search(r"(?:^|&)X-Amz-Signature=([0-9a-f]+)", base.req.query_string)
    assert m
    return "query", m.start(1), m.end(1)


def run_mutations(base: Base, exhaustive: bool) -> Counter[str]:
    req = base.req
    auth = sigv4.extract_auth(req)
    assert auth is not None
    sigv4.verify(req, auth, base.secret, now=base.now, normalize_path=base.normalize,
                 allow_unsigned_query_token=base.unsigned_token)
    stats: Counter[str] = Counter()

    def check(field: str, mutated: sigv4.HttpRequest, equivalent: bool) -> None:
        result = outcome(base, mutated)
        accepted = result == "accepted"
        if accepted != equivalent:
            pytest.fail(f"{field}: accepted={accepted} equivalent={equivalent} result={result} for {mutated!r}")
        stats[f"{field}:{'equivalent' if equivalent else result}"] += 1

    for _, m in _mutations(req.method, exhaustive):
        check("method", replace(req, method=m), False)

    want_path = oracle_path(req.raw_path, base.normalize)
    for _, m in _mutations(req.raw_path, exhaustive):
        check("path", replace(req, raw_path=m), oracle_path(m, base.normalize) == want_path)

    sig_where, sig_lo, sig_hi = _signature_span(base)
    want_query = oracle_query(req.query_string, presigned=auth.presigned, unsigned_token=base.unsigned_token)
    for i, m in _mutations(req.query_string, exhaustive):
        if sig_where == "query" and sig_lo <= i < sig_hi:
            continue  # the signature itself: mutated below
        same = oracle_query(m, presigned=auth.presigned, unsigned_token=base.unsigned_token) == want_query
        check("query", replace(req, query_string=m), same)

    signed = set(auth.signed_headers)
    for idx, (name, value) in enumerate(req.headers):
        if name.lower() not in signed:
            continue
        for _, m in _mutations(value, exhaustive):
            headers = list(req.headers)
            headers[idx] = (name, m)
            check(f"header[{name.lower()}]", replace(req, headers=tuple(headers)), _fold_ws(m) == _fold_ws(value))

    if req.body:
        for _, m in _mutations(req.body.decode("latin-1"), exhaustive):
            check("body", replace(req, body=m.encode("latin-1")), False)

    if sig_where == "query":
        for _, m in _mutations(req.query_string, exhaustive, sig_lo, sig_hi):
            check("signature", replace(req, query_string=m), False)
    else:
        idx = int(sig_where.split(":")[1])
        name, value = req.headers[idx]
        cred = re.search(r"Credential=[^/]+/([^,]+),", value)
        signed_part = re.search(r"SignedHeaders=([^,]+),", value)
        assert cred and signed_part
        for field, lo, hi in (("signature", sig_lo, sig_hi), ("credential-scope", cred.start(1), cred.end(1)),
                              ("signed-headers", signed_part.start(1), signed_part.end(1))):
            for _, m in _mutations(value, exhaustive, lo, hi):
                headers = list(req.headers)
                headers[idx] = (name, m)
                check(field, replace(req, headers=tuple(headers)), False)
    return stats


# ------------------------------------------------------------------------------ the tests


def _equivalents(stats: Counter[str]) -> dict[str, int]:
    return {k: v for k, v in stats.items() if k.endswith(":equivalent")}


@pytest.mark.parametrize("case", aws_c_auth_cases(), ids=lambda c: f"{c.name}[{c.form}]")
def test_single_byte_mutations_aws_c_auth(case: AwsCAuthCase) -> None:
    base = Base(case.request(), SUITE_NOW, case.normalize, case.unsigned_token)
    stats = run_mutations(base, exhaustive=(case.name, case.form) in EXHAUSTIVE)
    assert sum(stats.values()) > 100
    allowed = ("header[", "query:", "path:")
    for key in _equivalents(stats):
        assert key.startswith(allowed), key
        if key.startswith("path:"):
            assert base.normalize, "without normalisation no two paths are equivalent"


def test_exhaustive_case_really_is_exhaustive() -> None:
    case = AwsCAuthCase("get-vanilla", "header", {"normalize": True})
    stats = run_mutations(Base(case.request(), SUITE_NOW), exhaustive=True)
    assert stats["method:SignatureDoesNotMatch"] == 3 * 255
    # A ',' or ' ' inside the signature makes the header unparsable: IncompleteSignature, still refused.
    assert stats["signature:SignatureDoesNotMatch"] + stats["signature:IncompleteSignature"] == 64 * 255


@pytest.fixture()
def botocore_bases(monkeypatch: pytest.MonkeyPatch) -> list[Base]:
    import test_sigv4_botocore as tb

    return [
        Base(tb.signed_post(monkeypatch), tb.SIGNED_AT, secret=tb.SECRET),
        Base(tb.signed_post(monkeypatch, token=tb.TOKEN,
                            extra_headers={"X-Vault-AWS-IAM-Server-ID": "vault.example.com"}), tb.SIGNED_AT,
             secret=tb.SECRET),
        Base(tb.presigned_get(monkeypatch, token=tb.TOKEN), tb.SIGNED_AT, secret=tb.SECRET),
    ]


def test_single_byte_mutations_botocore_requests(botocore_bases: list[Base]) -> None:
    for base in botocore_bases:
        stats = run_mutations(base, exhaustive=False)
        # No equivalences exist in these requests except whitespace in header values and
        # hex-digit case in the presigned query's escapes.
        for key in _equivalents(stats):
            assert key.startswith(("header[", "query:")), key


def test_access_key_id_selects_the_secret(botocore_bases: list[Base]) -> None:
    """The AKID is not signed; what protects it is that another AKID maps to another secret."""
    secrets: dict[str, str] = {"AKIAIOSFODNN7EXAMPLE": botocore_bases[0].secret}

    def lookup(akid: str) -> str:
        try:
            return secrets[akid]
        except KeyError:  # the real store raises InvalidClientTokenId here
            return "not-the-secret"

    base = botocore_bases[0]
    idx = next(i for i, (n, _) in enumerate(base.req.headers) if n.lower() == "authorization")
    name, value = base.req.headers[idx]
    lo = value.index("Credential=") + len("Credential=")
    for _, m in _mutations(value, False, lo, value.index("/", lo)):
        headers = list(base.req.headers)
        headers[idx] = (name, m)
        mutated = replace(base.req, headers=tuple(headers))
        try:
            auth = sigv4.extract_auth(mutated)
        except (SignatureDoesNotMatch, IncompleteSignature):
            continue
        assert auth is not None
        with pytest.raises((SignatureDoesNotMatch, IncompleteSignature)):
            sigv4.verify(mutated, auth, lookup(auth.access_key_id), now=base.now)

