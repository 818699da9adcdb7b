"""``opensts policy validate|evaluate`` through click's CliRunner and as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from opensts.policy.cli import detect_kind, policy
from tests.policy.conftest import cases_path, load_cases

REPO = Path(__file__).resolve().parents[2]
VALID_IDENTITY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
VALID_TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "111122223333"},
                                                       "Action": "sts:AssumeRole"}]}


def write(tmp_path: Path, name: str, content: object) -> str:
    p = tmp_path / name
    p.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return str(p)


def run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(policy, list(args), input=input)


def test_validate_ok(tmp_path: Path) -> None:
    r = run("validate", write(tmp_path, "p.json", VALID_IDENTITY))
    assert r.exit_code == 0, r.output
    r = run("validate", write(tmp_path, "t.json", VALID_TRUST))  # auto-detected trust policy
    assert r.exit_code == 0 and "trust" in r.output


@pytest.mark.parametrize("content, message", [
    ("{", "Syntax errors in policy."),
    ({"Version": "2012-10-17", "Statement": [{"Effect": "allow", "Action": "s3:*", "Resource": "*"}]},
     "The policy failed legacy parsing"),
    ({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]},
     "Policy statement must contain resources."),
    ({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*",
                                              "Resource": "*"}]},
     "Policy document should not specify a principal."),
])
def test_validate_errors(tmp_path: Path, content: object, message: str) -> None:
    r = run("validate", write(tmp_path, "p.json", content))
    assert r.exit_code == 1
    # click >= 8.2 separates stderr; the second line says where (test_policy_cli_locations.py)
    assert r.stderr.splitlines()[0] == f"MalformedPolicyDocument: {message}"


def test_validate_kind_option(tmp_path: Path) -> None:
    f = write(tmp_path, "t.json", VALID_TRUST)
    assert run("validate", "--kind", "trust", f).exit_code == 0
    r = run("validate", "--kind", "identity", f)
    assert r.exit_code == 1
    f2 = write(tmp_path, "v.json", {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
    assert run("validate", f2).exit_code == 0
    assert run("validate", "--kind", "managed", f2).exit_code == 1
    assert run("validate", "-", input=json.dumps(VALID_IDENTITY)).exit_code == 0
    assert run("validate", str(tmp_path / "missing.json")).exit_code != 0


def test_detect_kind() -> None:
    assert detect_kind(json.dumps(VALID_TRUST)) == "trust"
    assert detect_kind(json.dumps(VALID_IDENTITY)) == "identity"
    assert detect_kind("not json") == "identity"


def test_evaluate_case_file_in_order() -> None:
    r = run("evaluate", str(cases_path()))
    assert r.exit_code == 0, r.output[-2000:]
    lines = [json.loads(line) for line in r.output.splitlines()]
    cases = load_cases()
    assert [x["id"] for x in lines] == [c["id"] for c in cases]
    for line, case in zip(lines, cases):
        assert set(line) == {"id", "decision", "trace"}
        assert line["decision"] == case["expect"], case["id"]


def test_evaluate_single_pretty_request_and_explain(tmp_path: Path) -> None:
    case = load_cases()[0]
    f = write(tmp_path, "one.json", json.dumps(case, indent=2))
    r = run("evaluate", f)
    assert r.exit_code == 0
    out = json.loads(r.output)
    assert out["id"] == case["id"] and out["decision"] == case["expect"]
    r = run("evaluate", "--explain", f)
    assert r.exit_code == 0 and "Decision:" in r.output and case["id"] in r.output
    assert "statement 0" in r.output


def test_evaluate_reports_bad_requests(tmp_path: Path) -> None:
    bad = {"id": "bad", "policies": {"identity": ["{"]}, "context": {"action": "s3:x", "resource": "*",
                                                                    "principal": {"type": "User"}}}
    f = write(tmp_path, "bad.jsonl", json.dumps(bad) + "\nnot json\n")
    r = run("evaluate", f)
    assert r.exit_code == 1
    lines = [json.loads(line) for line in r.output.splitlines()]
    assert lines[0]["error"]["code"] == "MalformedPolicyDocument"
    assert lines[1]["error"]["code"] == "InvalidRequest"


def test_subprocess_forms(tmp_path: Path) -> None:
    f = write(tmp_path, "p.json", VALID_IDENTITY)
    bad = write(tmp_path, "bad.json", '{"Version": "2012-10-17", "Statement": []}')
    code = "from opensts.policy.cli import policy; policy()"
    ok = subprocess.run([sys.executable, "-c", code, "validate", f], capture_output=True, text=True, cwd=REPO,
                        timeout=60)
    assert ok.returncode == 0, ok.stderr
    ko = subprocess.run([sys.executable, "-c", code, "validate", bad], capture_output=True, text=True, cwd=REPO,
                        timeout=60)
    assert ko.returncode != 0 and "MalformedPolicyDocument: Syntax errors in policy." in ko.stderr
    ev = subprocess.run([sys.executable, "-c", code, "evaluate", str(cases_path())], capture_output=True,
                        text=True, cwd=REPO, timeout=120)
    assert ev.returncode == 0, ev.stderr
    assert len(ev.stdout.splitlines()) == len(load_cases())
