"""``opensts policy validate|evaluate`` — the engine on the command line (the only module with I/O).

``validate FILE [--kind auto|identity|managed|boundary|session|trust|resource|scp|rcp]``
    Exit 0 and ``valid <kind> policy`` on stdout for a valid document; otherwise exit 1 and
    ``MalformedPolicyDocument: <AWS message>`` (or ``LimitExceeded: …``) on stderr, then — what
    AWS does not say — where and what was expected:
    ``  FILE:LINE:COLUMN: Statement[0].Effect: expected "Allow" or "Deny" (did you mean Allow?), got "Allw"``.
    ``--kind auto`` (the default) validates a document whose statements all carry ``Principal``,
    no ``Resource``/``NotResource`` and only STS trust actions as a **trust** policy, and anything
    else as an **identity** policy — so ``validate`` works unchanged on role trust documents while
    an identity policy that wrongly names a principal still gets IAM's message.

``evaluate FILE [--explain]``
    FILE holds one request (a JSON object, possibly pretty-printed), a JSON array of requests, or
    JSON lines, in the ``policy-cases.jsonl`` format (``id``, ``policies``, ``context``; other
    fields ignored).  Prints one JSON line ``{"id", "decision", "trace"}`` per request in input
    order.  ``--explain`` prints the human-readable trace instead.  A request whose policies do not
    validate prints ``{"id", "error": {"code", "message"}}``; the exit status is then 1, else 0.

FILE may be ``-`` for standard input.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import click

from opensts.policy.compile import parse_policy
from opensts.policy.context import RequestContext
from opensts.policy.document import TRUST_ACTIONS, PolicyKind, load_json
from opensts.policy.errors import NOTHING, PolicyError, Problem
from opensts.policy.evaluate import PolicySet, evaluate
from opensts.policy.locate import line_column, scan
from opensts.policy.matching import compile_glob

__all__ = ["policy", "detect_kind", "iter_requests", "describe_problem"]

_KINDS = ["auto"] + [k.value for k in PolicyKind]


def detect_kind(text: str) -> PolicyKind:
    """``--kind auto``: trust when every statement has a Principal, no Resource and only trust actions."""
    try:
        doc = load_json(text)
        raw = doc["Statement"]
        statements = [raw] if isinstance(raw, dict) else list(raw)
        for st in statements:
            if "Principal" not in st or "Resource" in st or "NotResource" in st:
                return PolicyKind.IDENTITY
            actions = st.get("Action", st.get("NotAction"))
            actions = [actions] if isinstance(actions, str) else actions
            if not isinstance(actions, list) or not actions:
                return PolicyKind.IDENTITY
            for a in actions:
                glob = compile_glob(str(a), ignore_case=True)
                if not any(glob.match(t) for t in TRUST_ACTIONS):
                    return PolicyKind.IDENTITY
        return PolicyKind.TRUST
    except Exception:  # malformed: let the identity validator report it
        return PolicyKind.IDENTITY


def _read(file: str) -> str:
    if file == "-":
        return sys.stdin.read()
    with open(file, encoding="utf-8") as fh:
        return fh.read()


def iter_requests(text: str) -> Iterator[tuple[Any, Any]]:
    """Yield ``(request, error)``: a single object, a JSON array, or JSON lines."""
    stripped = text.strip()
    if not stripped:
        return
    try:
        whole = json.loads(stripped)
    except ValueError:
        whole = None
    if isinstance(whole, dict):
        yield whole, None
        return
    if isinstance(whole, list):
        for item in whole:
            yield item, None
        return
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield json.loads(line), None
        except ValueError as exc:
            yield None, f"line {lineno}: invalid JSON ({exc})"


@click.group(name="policy")
def policy() -> None:
    """Validate and evaluate IAM policy documents."""


@policy.command("validate")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--kind", type=click.Choice(_KINDS), default="auto", show_default=True,
              help="Policy kind to validate as (auto: trust documents are detected).")
def validate_cmd(file: str, kind: str) -> None:
    """Validate FILE; exit 0 when valid, else print AWS's error on stderr and exit 1."""
    try:
        text = _read(file)
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {file}: {exc}") from None
    pkind = detect_kind(text) if kind == "auto" else PolicyKind(kind)
    try:
        parse_policy(text, pkind)
    except PolicyError as exc:
        click.echo(f"{exc.code}: {exc.message}", err=True)
        problem = getattr(exc, "problem", None)
        if problem is not None:
            click.echo(f"  {describe_problem(text, problem, '<stdin>' if file == '-' else file)}", err=True)
        sys.exit(1)
    click.echo(f"valid {pkind.value} policy")


def describe_problem(text: str, problem: Problem, name: str) -> str:
    """``FILE:LINE:COLUMN: PATH: expected …, got …`` — where the validator's problem is in the text."""
    path = problem.path
    if problem.line is not None:
        line, column = problem.line, problem.column or 1
    else:
        spots = scan(text)
        if not path and spots.duplicates:  # the parser refuses a repeated key without saying where
            path, offset = spots.duplicates[0]
        else:
            offset = spots.find(path, at_key=problem.at_key)
        line, column = line_column(text, offset) if offset is not None else (1, 1)
    where = Problem(path).where() if path else ""
    got = "" if problem.got is NOTHING or problem.at_key else f", got {_shown(problem.got)}"
    return f"{name}:{line}:{column}: {where + ': ' if where else ''}expected {problem.expected}{got}"


def _shown(value: Any) -> str:
    """A value as JSON, shortened: what the document says where the problem is."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


@policy.command("evaluate")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--explain", is_flag=True, help="Print a readable trace instead of JSON lines.")
def evaluate_cmd(file: str, explain: bool) -> None:
    """Evaluate the request(s) in FILE (policy-cases.jsonl format)."""
    try:
        text = _read(file)
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {file}: {exc}") from None
    failed = False
    for request, problem in iter_requests(text):
        rid = request.get("id") if isinstance(request, dict) else None
        try:
            if problem is not None:
                raise ValueError(problem)
            if not isinstance(request, dict):
                raise ValueError("a request must be a JSON object")
            policies = PolicySet.from_dict(request.get("policies") or {})
            ctx = RequestContext.from_dict(request.get("context") or {})
            decision = evaluate(policies, ctx, explain=True)
        except PolicyError as exc:
            failed = True
            click.echo(json.dumps({"id": rid, "error": {"code": exc.code, "message": exc.message}}))
            continue
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            failed = True
            click.echo(json.dumps({"id": rid, "error": {"code": "InvalidRequest", "message": str(exc)}}))
            continue
        assert decision.trace is not None
        if explain:
            click.echo(f"== {rid} ==")
            click.echo(decision.trace.render())
            click.echo("")
        else:
            click.echo(json.dumps({"id": rid, "decision": decision.decision,
                                   "trace": decision.trace.to_dict()}, default=str))
    if failed:
        sys.exit(1)


