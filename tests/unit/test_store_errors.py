"""A duplicate key never carries the statement's values into an error text (which may reach a
log): the engine hides SQL parameters, and EntityAlreadyExists names the table only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from opensts.store import tables as t
from opensts.store.database import open_store
from opensts.store.repository import EntityAlreadyExists

MARKER = "SecretPolicyText"
DOC = json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": MARKER, "Effect": "Allow", "Action": "*",
                                                          "Resource": "*"}]})
ARN = "arn:aws:iam::111122223333:policy/p"


def test_integrity_errors_quote_no_values(tmp_path: Path) -> None:
    repo = open_store(tmp_path)
    repo.create_account("111122223333", "test")
    repo.create_policy(ARN, "ANPAEXAMPLE1", "111122223333", "p", "/", DOC)
    with pytest.raises(EntityAlreadyExists) as exc:
        repo.create_policy(ARN, "ANPAEXAMPLE2", "111122223333", "p", "/", DOC)
    assert MARKER not in str(exc.value) and ARN not in str(exc.value)
    repo.create_user("AIDAEXAMPLE1", "111122223333", MARKER)
    with pytest.raises(EntityAlreadyExists) as dup:  # refused by the unique index
        repo.create_user("AIDAEXAMPLE2", "111122223333", MARKER)
    assert dup.value.__cause__ is None and dup.value.__suppress_context__  # the database's text is dropped
    assert MARKER not in str(dup.value) and str(dup.value) == "users"
    with pytest.raises(IntegrityError) as raw, repo.engine.begin() as conn:  # the engine's own error text
        conn.execute(insert(t.policy_versions).values(policy_arn=ARN, version_id="v1", document=DOC, created_at=0))
    assert MARKER not in str(raw.value) and "hidden" in str(raw.value)


def test_a_secret_in_a_duplicate_row_stays_out_of_the_error(tmp_path: Path) -> None:
    repo = open_store(tmp_path)
    repo.create_account("111122223333", "test")
    repo.create_access_key("AKIAEXAMPLEEXAMPLE12", "111122223333", None, "s3cr3t/" + "x" * 33)
    with pytest.raises(EntityAlreadyExists) as exc:
        repo.create_access_key("AKIAEXAMPLEEXAMPLE12", "111122223333", None, "s3cr3t/" + "x" * 33, limit=2)
    assert "s3cr3t" not in repr(exc.value) and "AKIAEXAMPLE" not in str(exc.value)
