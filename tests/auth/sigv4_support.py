"""Shared helpers for the SigV4 tests: raw HTTP/1.1 parsing of the suite files, fixed inputs."""

from __future__ import annotations

from tests.testdata import DATA

import json
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from opensts.auth.sigv4 import HttpRequest

VECTORS = DATA / "sigv4"
AWS_C_AUTH = VECTORS / "aws-c-auth" / "v4"
BOTOCORE_SUITE = VECTORS / "botocore-aws4_testsuite"

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE_NOW = datetime(2015, 8, 30, 12, 36, 0, tzinfo=timezone.utc)


def parse_http(raw: bytes) -> HttpRequest:
    """Parse a raw HTTP/1.1 request the way a server would hand it to us.

    * Text is ISO-8859-1 decoded (code point == wire byte), the ASGI convention sigv4 expects.
    * The request target may contain a literal space (``GET /example space/ HTTP/1.1``): the method
      is the first token, the version the last, the target everything in between.
    * ``Name:value`` with or without a space after the colon; values lose surrounding OWS.
    * Obsolete line folding (a line starting with SP/HTAB) continues the previous value; RFC 7230
      3.2.4 lets a recipient replace the fold with SP, which is what we do (keeping the indentation,
      Trimall collapses it).
    * A missing blank line (botocore ``.sreq`` files end right after the last header) means no body.
    """
    text = raw.decode("latin-1").replace("\r\n", "\n")
    head, sep, body = text.partition("\n\n")
    lines = head.split("\n")
    request_line = lines[0]
    method, _, rest = request_line.partition(" ")
    target, _, _version = rest.rpartition(" ")
    path, _, query = target.partition("?")
    headers: list[list[str]] = []
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t" and headers:
            headers[-1][1] += " " + line
            continue
        name, _, value = line.partition(":")
        headers.append([name, value])
    return HttpRequest(
        method=method,
        raw_path=path,
        query_string=query,
        headers=tuple((n, v.strip(" \t")) for n, v in headers),
        body=body.encode("latin-1") if sep else b"",
    )


@dataclass(frozen=True)
class AwsCAuthCase:
    name: str
    form: str  # "header" | "query"
    context: dict

    @property
    def dir(self) -> Path:
        return AWS_C_AUTH / self.name

    def file(self, suffix: str) -> str:
        return (self.dir / f"{self.form}-{suffix}").read_text(encoding="latin-1")

    def request(self) -> HttpRequest:
        return parse_http((self.dir / f"{self.form}-signed-request.txt").read_bytes())

    @property
    def normalize(self) -> bool:
        return bool(self.context.get("normalize", True))

    @property
    def unsigned_token(self) -> bool:
        # omit_session_token: the token rides along unsigned (header or query form).
        return self.form == "query" and bool(self.context.get("omit_session_token", False))


def aws_c_auth_cases() -> list[AwsCAuthCase]:
    cases = []
    for d in sorted(p for p in AWS_C_AUTH.iterdir() if p.is_dir()):
        context = json.loads((d / "context.json").read_text())
        for form in ("header", "query"):
            cases.append(AwsCAuthCase(d.name, form, context))
    return cases


def botocore_case_dirs() -> list[Path]:
    """Every directory holding a ``.sreq`` (the nested ``normalize-path/*`` and ``post-sts-token/*`` too)."""
    return sorted({p.parent for p in BOTOCORE_SUITE.rglob("*.sreq")})


def with_header(req: HttpRequest, name: str, value: str) -> HttpRequest:
    """Replace every header called ``name`` (any case) by one ``name: value``."""
    kept = [(n, v) for n, v in req.headers if n.lower() != name.lower()]
    return replace(req, headers=tuple(kept) + ((name, value),))
