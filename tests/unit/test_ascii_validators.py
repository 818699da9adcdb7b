"""Input validators accept ASCII only and nothing after the end.

Python's ``\\d``/``\\w``/``\\s`` match any Unicode digit, letter or space unless ``re.ASCII`` is set,
and ``$`` matches before a trailing newline. A validator written that way let ``١١١١٢٢٢٢٣٣٣٣`` (Arabic-
Indic digits) or ``111122223333\\n`` pass as an account id, and ``int()`` later turned one into a
500. This module checks the whole class: every anchored pattern compiled at module level anywhere
in ``opensts`` (the audit report, which reads AWS's own logs, aside), then a table of validators
through their public entry points.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re

import pytest

import opensts
from opensts.policy import PolicyError, PolicyKind, parse_policy
from opensts.policy.conditions import legacy_date_ok, parse_date
from opensts.protocol.numbers import parse_ascii_int
from opensts.settings import StartupError, check_environment

_CLASSES = re.compile(r"(?<!\\)\\[dwsDWS]")


def _validator_patterns() -> list[tuple[str, str, re.Pattern[str]]]:
    found = []
    for mod in pkgutil.walk_packages(opensts.__path__, "opensts."):
        if mod.name.startswith("opensts.audit.report") or mod.name.startswith("opensts.store.migrations"):
            continue
        module = importlib.import_module(mod.name)
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern) and isinstance(value.pattern, str) and value.pattern.startswith("^"):
                found.append((mod.name, name, value))
    return found


PATTERNS = _validator_patterns()


def test_there_are_validators_to_check() -> None:
    assert len(PATTERNS) >= 10


@pytest.mark.parametrize("module,name,pattern", PATTERNS, ids=[f"{m}.{n}" for m, n, _ in PATTERNS])
def test_every_anchored_pattern_is_ascii_and_ends_at_the_end(module: str, name: str, pattern: re.Pattern[str]) -> None:
    if _CLASSES.search(pattern.pattern):
        assert pattern.flags & re.ASCII, f"{module}.{name}: \\d/\\w/\\s without re.ASCII match Unicode"
    assert not re.search(r"(?<!\\)\$\)*$", pattern.pattern) or pattern.flags & re.MULTILINE, (
        f"{module}.{name}: '$' also matches before a trailing newline; end with \\Z")


def _trust(principal: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}]})


BAD_ACCOUNTS = ["١١١١٢٢٢٢٣٣٣٣", "111122223333\n", "１１１１２２２２３３３３", "11112222333²"]


@pytest.mark.parametrize("account", BAD_ACCOUNTS)
@pytest.mark.parametrize("form", ["{a}", "arn:aws:iam::{a}:root", "arn:aws:iam::{a}:role/r",
                                  "arn:aws:sts::{a}:assumed-role/r/s"])
def test_principals_with_non_ascii_account_ids_are_refused(account: str, form: str) -> None:
    parse_policy(_trust(form.format(a="111122223333")), PolicyKind.TRUST)  # the ASCII twin is fine
    with pytest.raises(PolicyError, match="Invalid principal"):
        parse_policy(_trust(form.format(a=account)), PolicyKind.TRUST)


@pytest.mark.parametrize("text", ["٣", "²", "1_0", " 12", "12\n", "１２"])
def test_numbers_and_dates_take_ascii_digits_only(text: str) -> None:
    assert parse_ascii_int(text) is None
    assert not legacy_date_ok(text)
    assert parse_date(text) is None


@pytest.mark.parametrize("variable,value", [
    ("OPENSTS_ACCOUNT_ID", "١١١١٢٢٢٢٣٣٣٣"), ("OPENSTS_ACCOUNT_ID", "111122223333\n"),
    ("OPENSTS_OUTBOUND_KEY_ROTATION_SECONDS", "²"), ("OPENSTS_OUTBOUND_KEY_ROTATION_SECONDS", "٣٠"),
    ("OPENSTS_ADMIN_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE\n"),
])
def test_environment_values_take_ascii_only(variable: str, value: str) -> None:
    env = {variable: value}
    if variable == "OPENSTS_ADMIN_ACCESS_KEY_ID":
        env["OPENSTS_ADMIN_SECRET_ACCESS_KEY"] = "x"
    with pytest.raises(StartupError, match=variable):
        check_environment(env)
