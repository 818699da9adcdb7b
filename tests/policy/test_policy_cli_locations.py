"""``opensts policy validate`` says where a document fails and what was expected — while the API
keeps answering AWS's message alone.

Each case is a pretty-printed document with ``⟨`` just before the place the error must point at
(the marker is removed before use; its line and column are the expected ones), the JSON path and
part of the expectation the CLI must print, and the exact message IAM answers on the wire (checked
through CreatePolicy, or CreateRole for trust documents, on a real server). A property test then
mutates valid documents at random: every refusal carries a path that exists in the document and
that the CLI places on the right line and column.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opensts.policy.cli import policy
from opensts.policy.document import PolicyKind, parse_document
from opensts.policy.errors import (
    MSG_LEGACY,
    MSG_NO_ACTIONS,
    MSG_NO_PRINCIPALS,
    MSG_NO_RESOURCES,
    MSG_PRINCIPAL_FORBIDDEN,
    MSG_SID_CHARS,
    MSG_SID_UNIQUE,
    MSG_SYNTAX,
    MSG_TRUST_ACTIONS,
    MSG_TRUST_RESOURCE,
    MSG_VERSION,
    MalformedPolicyDocument,
)
from opensts.policy.locate import line_column, scan
from tests.conftest import Server

REPO = Path(__file__).resolve().parents[2]
MARK = "⟨"


def _stmt(body: str, *, version: str = '"Version": "2012-10-17",\n  ') -> str:
    return '{\n  ' + version + '"Statement": [\n    {\n' + body + '\n    }\n  ]\n}\n'


ALLOW = '      "Effect": "Allow",\n'
ACT = '      "Action": "s3:GetObject",\n'
RES = '      "Resource": "*"'

# (id, kind, document with the marker, path printed, expectation printed, wire message)
CASES: list[tuple[str, str, str, str, str, str]] = [
    ("unknown-effect", "managed", _stmt(f'      "Effect": {MARK}"Allw",\n{ACT}{RES}'),
     "Statement[0].Effect", 'expected "Allow" or "Deny" (did you mean Allow?), got "Allw"', MSG_SYNTAX),
    ("effect-not-string", "managed", _stmt(f'      "Effect": {MARK}true,\n{ACT}{RES}'),
     "Statement[0].Effect", 'expected "Allow" or "Deny", got true', MSG_SYNTAX),
    ("effect-case", "managed", _stmt(f'      "Effect": {MARK}"allow",\n{ACT}{RES}'),
     "Statement[0].Effect", "capitalised", MSG_LEGACY),
    ("missing-effect", "managed", '{\n  "Version": "2012-10-17",\n  "Statement": [\n    ' + MARK
     + '{\n' + ACT + RES + '\n    }\n  ]\n}\n', "Statement[0]", 'expected an "Effect"', MSG_SYNTAX),
    ("unknown-top-level-key", "managed", '{\n  "Version": "2012-10-17",\n  ' + MARK
     + '"Statment": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]\n}\n',
     "Statment", "(did you mean Statement?)", MSG_SYNTAX),
    ("unknown-statement-key", "managed", _stmt(f'{ALLOW}{ACT}      {MARK}"Resorce": "*"'),
     "Statement[0].Resorce", "a statement element: one of", MSG_SYNTAX),
    ("bad-version", "managed", _stmt(f"{ALLOW}{ACT}{RES}", version=f'"Version": {MARK}"2012-10-18",\n  '),
     "Version", 'expected "2012-10-17"', MSG_SYNTAX),
    ("version-too-old", "managed", _stmt(f"{ALLOW}{ACT}{RES}", version=f'"Version": {MARK}"2008-10-17",\n  '),
     "Version", 'expected "2012-10-17" in a managed policy', MSG_VERSION),
    ("id-not-string", "managed", '{\n  "Version": "2012-10-17",\n  "Id": ' + MARK
     + '42,\n  "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}\n}\n',
     "Id", "expected a string, got 42", MSG_SYNTAX),
    ("statement-empty", "managed", '{\n  "Version": "2012-10-17",\n  "Statement": ' + MARK + '[]\n}\n',
     "Statement", "non-empty array", MSG_SYNTAX),
    ("statement-item-not-object", "managed", '{\n  "Version": "2012-10-17",\n  "Statement": [\n    '
     '{"Effect": "Allow", "Action": "s3:*", "Resource": "*"},\n    ' + MARK + '"Allow"\n  ]\n}\n',
     "Statement[1]", 'expected a statement object, got "Allow"', MSG_SYNTAX),
    ("action-not-string", "managed", _stmt(f'{ALLOW}      "Action": {MARK}5,\n{RES}'),
     "Statement[0].Action", "expected a string or an array of strings, got 5", MSG_SYNTAX),
    ("action-item-not-string", "managed", _stmt(f'{ALLOW}      "Action": ["s3:GetObject", {MARK}{{"a": 1}}],\n{RES}'),
     "Statement[0].Action[1]", "expected a string", MSG_SYNTAX),
    ("action-and-notaction", "managed", _stmt(f'{ALLOW}{ACT}      {MARK}"NotAction": "s3:PutObject",\n{RES}'),
     "Statement[0].NotAction", "Action or NotAction, not both", MSG_SYNTAX),
    ("resource-and-notresource", "managed",
     _stmt(f'{ALLOW}{ACT}{RES},\n      {MARK}"NotResource": "arn:aws:s3:::b"'),
     "Statement[0].NotResource", "Resource or NotResource, not both", MSG_SYNTAX),
    ("unknown-condition-operator", "managed",
     _stmt(f'{ALLOW}{ACT}{RES},\n      "Condition": {{\n        {MARK}"StringEqulas": {{"aws:username": "bob"}}\n      }}'),
     "Statement[0].Condition.StringEqulas", "a condition operator (did you mean StringEquals?)", MSG_SYNTAX),
    ("unknown-set-operator", "managed",
     _stmt(f'{ALLOW}{ACT}{RES},\n      "Condition": {{{MARK}"ForAnyValue:StringLikee": {{"aws:TagKeys": "a"}}}}'),
     'Statement[0].Condition."ForAnyValue:StringLikee"', "(did you mean StringLike?)", MSG_SYNTAX),
    ("condition-not-object", "managed", _stmt(f'{ALLOW}{ACT}{RES},\n      "Condition": {MARK}["x"]'),
     "Statement[0].Condition", "an object of condition operators", MSG_SYNTAX),
    ("condition-body-not-object", "managed",
     _stmt(f'{ALLOW}{ACT}{RES},\n      "Condition": {{"StringEquals": {MARK}"bob"}}'),
     "Statement[0].Condition.StringEquals", "an object of condition keys and values", MSG_SYNTAX),
    ("condition-value-object", "managed",
     _stmt(f'{ALLOW}{ACT}{RES},\n      "Condition": {{"StringEquals": {{"aws:username": {MARK}{{"a": "b"}}}}}}'),
     'Statement[0].Condition.StringEquals."aws:username"', "a string, number or boolean", MSG_SYNTAX),
    ("condition-bad-date", "managed",
     _stmt(f'{ALLOW}{ACT}{RES},\n      "Condition": {{"DateGreaterThan": {{"aws:CurrentTime": {MARK}"yesterday"}}}}'),
     'Statement[0].Condition.DateGreaterThan."aws:CurrentTime"', "a date", MSG_LEGACY),
    ("resource-arn-with-region", "managed",
     _stmt(f'{ALLOW}{ACT}      "Resource": ["*", {MARK}"arn:aws:s3:us-east-1::b"]'),
     "Statement[0].Resource[1]", "an ARN", "Resource arn:aws:s3:us-east-1::b can not contain region information."),
    ("resource-not-arn", "managed", _stmt(f'{ALLOW}{ACT}      "Resource": {MARK}"bucket"'),
     "Statement[0].Resource", 'got "bucket"', 'Resource bucket must be in ARN format or "*".'),
    ("resource-bad-partition", "managed", _stmt(f'{ALLOW}{ACT}      "Resource": {MARK}"arn:aws-mars:s3:::b"'),
     "Statement[0].Resource", "an ARN", 'Partition "aws-mars" is not valid for resource "arn:aws-mars:s3:::b".'),
    ("action-without-vendor", "managed", _stmt(f'{ALLOW}      "Action": {MARK}"GetObject",\n{RES}'),
     "Statement[0].Action", "SERVICE:ACTION", "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, "
     "ec2, etc."),
    ("no-actions", "managed", '{\n  "Version": "2012-10-17",\n  "Statement": [' + MARK
     + '{"Effect": "Allow", "Action": [], "Resource": "*"}]\n}\n', "Statement[0]", "a non-empty Action",
     MSG_NO_ACTIONS),
    ("no-resources", "managed", '{\n  "Version": "2012-10-17",\n  "Statement": ' + MARK
     + '{"Effect": "Allow", "Action": "s3:*"}\n}\n', "Statement", "a non-empty Resource", MSG_NO_RESOURCES),
    ("sid-characters", "managed", _stmt(f'      "Sid": {MARK}"my-sid",\n{ALLOW}{ACT}{RES}'),
     "Statement[0].Sid", "letters and digits only", MSG_SID_CHARS),
    ("sid-repeated", "managed", '{\n  "Version": "2012-10-17",\n  "Statement": [\n'
     '    {"Sid": "A", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},\n'
     '    {"Sid": ' + MARK + '"A", "Effect": "Deny", "Action": "s3:*", "Resource": "*"}\n  ]\n}\n',
     "Statement[1].Sid", "a Sid no other statement has", MSG_SID_UNIQUE),
    ("sid-not-string", "managed", _stmt(f'      "Sid": {MARK}1,\n{ALLOW}{ACT}{RES}'),
     "Statement[0].Sid", "expected a string, got 1", MSG_SYNTAX),
    ("principal-in-identity-policy", "managed", _stmt(f'{ALLOW}      {MARK}"Principal": "*",\n{ACT}{RES}'),
     "Statement[0].Principal", "no Principal in a managed policy", MSG_PRINCIPAL_FORBIDDEN),
    ("principal-type-unknown", "trust",
     _stmt(f'{ALLOW}      "Principal": {{{MARK}"AWSS": "111122223333"}},\n      "Action": "sts:AssumeRole"'),
     "Statement[0].Principal.AWSS", "a principal type: one of AWS, CanonicalUser, Federated, Service "
     "(did you mean AWS?)", MSG_SYNTAX),
    ("principal-not-object", "trust", _stmt(f'{ALLOW}      "Principal": {MARK}"bob",\n      "Action": "sts:AssumeRole"'),
     "Statement[0].Principal", 'got "bob"', MSG_SYNTAX),
    ("duplicate-key", "managed", _stmt(f'{ALLOW}{ACT}{RES},\n      {MARK}"Effect": "Deny"'),
     "Statement[0].Effect", '"Effect" repeats', MSG_SYNTAX),
    ("json-syntax", "managed", _stmt(f'{ALLOW}      "Action": "s3:GetObject"\n      {MARK}"Resource": "*"'),
     "", "valid JSON: Expecting ',' delimiter", MSG_SYNTAX),
    ("trust-with-resource", "trust",
     _stmt(f'{ALLOW}      "Principal": {{"AWS": "111122223333"}},\n      "Action": "sts:AssumeRole",\n'
           f'      {MARK}"Resource": "*"'),
     "Statement[0].Resource", "no Resource in a trust policy", MSG_TRUST_RESOURCE),
    ("trust-other-action", "trust",
     _stmt(f'{ALLOW}      "Principal": {{"AWS": "111122223333"}},\n      "Action": {MARK}"s3:GetObject"'),
     "Statement[0].Action", "only sts:AssumeRole", MSG_TRUST_ACTIONS),
    ("trust-without-principal", "trust", '{\n  "Version": "2012-10-17",\n  "Statement": [' + MARK
     + '{"Effect": "Allow", "Action": "sts:AssumeRole"}]\n}\n', "Statement[0]", "a Principal in a trust policy",
     MSG_NO_PRINCIPALS),
]


def _split(marked: str) -> tuple[str, int, int]:
    offset = marked.index(MARK)
    text = marked.replace(MARK, "", 1)
    line, column = line_column(text, offset)
    return text, line, column


@pytest.mark.parametrize("kind,marked,path,expectation,wire", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_cli_names_path_line_column_and_expectation(tmp_path: Path, kind: str, marked: str, path: str,
                                                    expectation: str, wire: str) -> None:
    text, line, column = _split(marked)
    file = tmp_path / "policy.json"
    file.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(policy, ["validate", "--kind", kind, str(file)])
    assert result.exit_code == 1
    first, second = result.stderr.splitlines()
    assert first == f"MalformedPolicyDocument: {wire}"  # AWS's message, unchanged
    prefix = f"  {file}:{line}:{column}: " + (f"{path}: " if path else "")
    assert second.startswith(prefix + "expected "), (second, prefix)
    assert expectation in second


def test_every_kind_of_problem_is_in_the_table() -> None:
    """Every distinct wire message the table exercises, and each rank-1 element kind, appears once
    at least (a new validator rule without a case shows up here as a gap to fill)."""
    wires = {c[5] for c in CASES}
    assert {MSG_SYNTAX, MSG_LEGACY, MSG_VERSION, MSG_NO_ACTIONS, MSG_NO_RESOURCES, MSG_SID_CHARS, MSG_SID_UNIQUE,
            MSG_PRINCIPAL_FORBIDDEN, MSG_TRUST_ACTIONS, MSG_TRUST_RESOURCE, MSG_NO_PRINCIPALS} <= wires


def test_stdin_is_named(tmp_path: Path) -> None:
    text, line, column = _split(CASES[0][2])
    result = CliRunner().invoke(policy, ["validate", "-"], input=text)
    assert result.stderr.splitlines()[1].startswith(f"  <stdin>:{line}:{column}: Statement[0].Effect: ")


def test_real_subprocess_prints_the_location(tmp_path: Path) -> None:
    text, line, column = _split(CASES[0][2])
    file = tmp_path / "p.json"
    file.write_text(text)
    out = subprocess.run([sys.executable, "-m", "opensts", "policy", "validate", str(file)], capture_output=True,
                         text=True, timeout=60, cwd=REPO)
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        "MalformedPolicyDocument: Syntax errors in policy.",
        f'  {file}:{line}:{column}: Statement[0].Effect: expected "Allow" or "Deny" (did you mean Allow?), got "Allw"']


# ---- the wire: IAM answers exactly AWS's message, with no location ---------------------------------

def _wire_error(server: Server, kind: str, text: str) -> tuple[str, int, str]:
    iam = server.client("iam")
    name = f"p{uuid.uuid4().hex[:10]}"
    try:
        if kind == "trust":
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=text)  # type: ignore[attr-defined]
        else:
            iam.create_policy(PolicyName=name, PolicyDocument=text)  # type: ignore[attr-defined]
    except ClientError as exc:
        err = exc.response
        return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]
    raise AssertionError("accepted")


def test_wire_answers_are_unchanged(server: Server) -> None:
    for case_id, kind, marked, _path, _expectation, wire in CASES:
        text, _line, _column = _split(marked)
        assert _wire_error(server, kind, text) == ("MalformedPolicyDocument", 400, wire), case_id


# ---- property: every refusal is placed where it is ---------------------------------------------------

VALID = {"Version": "2012-10-17", "Statement": [
    {"Sid": "One", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::b/*",
     "Condition": {"StringEquals": {"aws:username": ["bob", "alice"]}, "Bool": {"aws:SecureTransport": "true"}}},
    {"Effect": "Deny", "NotAction": "iam:*", "NotResource": ["*"]},
]}
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=8), st.lists(st.integers(), max_size=2),
                 st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
                 st.sampled_from(["Allw", "allow", "Deny", "s3", "arn:aws:s3:us-east-1::b", "StringEqulas", "*"]))


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, path + (i,))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any, rename: str | None) -> None:
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    if rename is not None and isinstance(parent, dict):
        parent[rename] = parent.pop(path[-1])
    else:
        parent[path[-1]] = value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), indent=st.sampled_from([None, 1, 2, 4]))
def test_every_refusal_points_into_the_document(data: st.DataObject, indent: int | None) -> None:
    doc = json.loads(json.dumps(VALID))
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        rename = data.draw(st.one_of(st.none(), st.sampled_from(["Efect", "Resorce", "Statment", "StringEqulas",
                                                                   "AWSS", "NotAction"])))
        _set(doc, path, data.draw(JUNK), rename)
    text = json.dumps(doc, indent=indent)
    kind = data.draw(st.sampled_from([PolicyKind.MANAGED, PolicyKind.IDENTITY, PolicyKind.TRUST]))
    try:
        parse_document(text, kind)
    except MalformedPolicyDocument as exc:
        problem = exc.problem
        assert problem is not None, exc.message
        assert problem.expected
        spots = scan(text)
        assert problem.path in spots.values or problem.path in spots.keys or problem.path == ("Version",), \
            (problem, text)  # a missing Version is the only absent element a problem names
        if problem.path in spots.values or problem.path in spots.keys:
            offset = spots.find(problem.path, at_key=problem.at_key)
            assert offset is not None
            char = text[offset]
            assert char in '"{[-0123456789tfn', (char, problem)


# ---- the locator alone: every path of any JSON document is found where its value starts -----------

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=6),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
                    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(doc=JSON, indent=st.sampled_from([None, 0, 2]), ascii_only=st.booleans())
def test_scan_finds_every_path_where_its_value_starts(doc: Any, indent: int | None, ascii_only: bool) -> None:
    text = json.dumps(doc, indent=indent, ensure_ascii=ascii_only)
    spots = scan(text)
    decoder = json.JSONDecoder()
    for path in _paths(doc):
        expected = doc
        for part in path:
            expected = expected[part]
        value, _end = decoder.raw_decode(text, spots.values[path])
        assert value == expected, (path, text)
        if path and isinstance(path[-1], str):  # the key sits before its value, as written
            key, _end = decoder.raw_decode(text, spots.keys[path])
            assert key == path[-1]
