"""The metric calls in one process (no server): bounded labels, the tallies' flush, JWKS hosts,
the delivery backlog read from a real audit index, and the JSON log formatter.

Property-based where the input is the attacker's: any string a request could carry as an
action, error code or Region ends as itself (when it is a plausible name and the set is not
full) or ``other`` — never an unbounded number of series.
"""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from opensts import metrics
from opensts.audit.backlog import BacklogGauge
from opensts.audit.index import connect
from opensts.logs import ACCESS_FIELDS, JsonFormatter, configure, event


def _samples() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=80), min_size=1, max_size=60))
def test_a_bounded_label_never_grows_past_its_limit(values: list[str]) -> None:
    bounded = metrics.Bounded(10, r"[A-Za-z][A-Za-z0-9]{0,63}")
    out = {bounded(v) for v in values}
    assert len(out - {"other"}) <= 10
    for v in values:
        got = bounded(v)
        assert got == "other" or got == v
        if got == v:
            assert v.isascii() and v.isalnum() and len(v) <= 64


def test_request_labels_are_bounded_and_summed() -> None:
    before = _samples()
    metrics.request_done("sts", "GetCallerIdentity", 200, "", "regional", "us-east-1", 0.0007)
    for i in range(2000):  # names the pipeline never passes (only the model's), but if it did: bounded
        metrics.request_done("sts", f"Made{i}Up", 400, f"Code{i}", "regional", f"zz-{i}-1", 0.002)
    after = _samples()
    actions = {dict(k[1])["action"] for k in after if k[0] == "opensts_requests_total"}
    # the models' actions always pass (other tests in this process may have served many of them):
    # what is bounded is the names no model has
    made_up = {a for a in actions if a.startswith("Made")}
    assert len(made_up) <= 256 and "other" in actions
    regions = {dict(k[1])["region"] for k in after if k[0] == "opensts_requests_total"}
    assert len({r for r in regions if r.startswith("zz-")}) <= 256 and "other" in regions
    gci = {"api": "sts", "action": "GetCallerIdentity"}
    bucket = after[("opensts_request_duration_seconds_bucket", frozenset({**gci, "le": "0.001"}.items()))]
    assert bucket - before.get(("opensts_request_duration_seconds_bucket", frozenset({**gci, "le": "0.001"}.items())),
                               0) == 1
    total = sum(v for k, v in after.items() if k[0] == "opensts_requests_total") - sum(
        v for k, v in before.items() if k[0] == "opensts_requests_total")
    assert total == 2001  # every request counted once, bounded or not


def test_credentials_issued_only_on_success() -> None:
    key = ("opensts_credentials_issued_total", frozenset({"action": "AssumeRole"}.items()))
    before = _samples().get(key, 0)
    metrics.request_done("sts", "AssumeRole", 200, "", "regional", "us-east-1", 0.003)
    metrics.request_done("sts", "AssumeRole", 403, "AccessDenied", "regional", "us-east-1", 0.003)
    assert _samples()[key] - before == 1


def test_jwks_provider_label_is_the_host_only() -> None:
    metrics.jwks_fetch("https://user:pw@idp.example.com:8443/tenant/abc?x=secret#frag", True)
    metrics.jwks_fetch("https://idp.example.com:8443/other", False)
    hosts = {dict(k[1])["provider"] for k in _samples() if k[0] == "opensts_jwks_fetches_total"}
    assert "idp.example.com:8443" in hosts
    assert not any("/" in h or "?" in h or "pw" in h or "secret" in h for h in hosts)


def test_delivery_backlog_from_a_real_index(tmp_path: Path) -> None:
    conn = connect(tmp_path / "index.db")
    now = int(time.time())
    conn.executemany("INSERT INTO events (trail_region, account_id, event_time, keys, body) VALUES (?,?,?,?,?)",
                     [("eu-west-1", "111122223333", now - 30, b"", b"") for _ in range(3)])
    got = BacklogGauge().measure(conn, force=True)
    assert got["eu-west-1"][0] == 3 and 29 <= got["eu-west-1"][1] < 120
    series = _samples()
    assert series[("opensts_audit_delivery_backlog_records", frozenset({"region": "eu-west-1"}.items()))] == 3


def test_json_formatter_and_events() -> None:
    stream = io.StringIO()
    configure("json", stream=stream)
    try:
        event(logging.getLogger("opensts.server"), "start", "", listen=["http://127.0.0.1:1"])
        logging.getLogger("opensts.audit").warning("trail store for %s unavailable", "us-east-1")
        try:
            raise ValueError("SELECT secret")
        except ValueError:
            logging.getLogger("opensts.edge").exception("internal error in request %s", "r1")
    finally:
        configure("text")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["event"] == "start" and lines[0]["level"] == "info" and lines[0]["logger"] == "opensts.server"
    assert lines[1]["message"] == "trail store for us-east-1 unavailable" and lines[1]["level"] == "warning"
    assert lines[2]["exception"] == "ValueError" and "SELECT" not in json.dumps(lines[2])
    assert lines[0]["time"].endswith("Z")
    assert len(ACCESS_FIELDS) == 11


def test_text_mode_prints_the_message_alone() -> None:
    stream = io.StringIO()
    configure("text", stream=stream)
    try:
        logging.getLogger("opensts.server").warning("opensts: worker 0 (pid 1) exited (status 1); starting a replacement")
        logging.getLogger("opensts.access").info("a request line")  # off in text mode
        event(logging.getLogger("opensts.server"), "stop", "")  # events without text: nothing
    finally:
        configure("text")
    assert stream.getvalue() == "opensts: worker 0 (pid 1) exited (status 1); starting a replacement\n"
    assert JsonFormatter  # the json one is tested above
