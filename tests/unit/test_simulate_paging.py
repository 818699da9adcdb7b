"""Simulation paging, as a property: walking the Marker through any ActionNames × ResourceArns
product yields every pair exactly once, in action-major order, each page within its work budget,
and evaluates only the pairs of the page it returns (laziness: the work of a call is its page)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
import pytest

from opensts.protocol.errors import ServiceError
from opensts.service.iam._base import page
from opensts.service.iam.simulate import PAGE_WORK, _Evaluations, _page_size


@settings(max_examples=200, deadline=None)
@given(
    n_actions=st.integers(1, 40),
    n_resources=st.integers(1, 40),
    max_items=st.one_of(st.none(), st.integers(1, 1000)),
    policy_chars=st.integers(0, 3 * PAGE_WORK),
)
def test_pages_cover_the_product_once_and_lazily(n_actions: int, n_resources: int, max_items: int | None,
                                                  policy_chars: int) -> None:
    actions = [f"svc:A{i}" for i in range(n_actions)]
    resources = [f"arn:aws:s3:::r{i}" for i in range(n_resources)]
    evaluated: list[tuple[str, str]] = []

    def evaluate(action: str, resource: str) -> dict[str, Any]:
        evaluated.append((action, resource))
        return {"EvalActionName": action, "EvalResourceName": resource}

    pairs = _Evaluations(actions, resources, evaluate)
    params: dict[str, Any] = {} if max_items is None else {"MaxItems": max_items}
    size = _page_size(params, policy_chars)
    assert 1 <= size <= (max_items or 100)
    assert size == 1 or size * policy_chars <= PAGE_WORK  # the budget holds whenever a page has > 1 pair
    seen: list[tuple[str, str]] = []
    marker = None
    for _ in range(n_actions * n_resources + 1):
        before = len(evaluated)
        chunk, extra = page(pairs, {**params, "MaxItems": size, **({"Marker": marker} if marker else {})})
        assert len(evaluated) - before == len(chunk) <= size  # only this page was evaluated
        seen += [(r["EvalActionName"], r["EvalResourceName"]) for r in chunk]
        if not extra["IsTruncated"]:
            break
        marker = extra["Marker"]
    assert seen == [(a, r) for a in actions for r in resources]


def test_a_marker_past_the_end_is_an_empty_last_page() -> None:
    pairs = _Evaluations(["a:b"], ["*"], lambda a, r: {"EvalActionName": a})
    assert page(pairs, {"Marker": "9" * 18, "MaxItems": 5}) == ([], {"IsTruncated": False})


def test_a_marker_that_is_not_an_offset_of_ours_is_invalid() -> None:
    pairs = _Evaluations(["a:b"], ["*"], lambda a, r: {"EvalActionName": a})
    for marker in ("9" * 300, "²", "-1", "1_0", ""):
        with pytest.raises(ServiceError, match="Invalid Marker"):
            page(pairs, {"Marker": marker, "MaxItems": 5})
