"""End to end: synthetic logs of every input shape with a known answer, through the CLI."""

from __future__ import annotations

from tests.testdata import DATA

import csv
import gzip
import io
import json
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from opensts.audit.cli import audit
from opensts.audit.report import readers, scan as scan_mod
from opensts.audit.report.scan import plan, scan

from .conftest import ACCT, event, known_set

VECTORS = DATA / "cloudtrail"


def run(*args: str, env: dict[str, str] | None = None):
    result = CliRunner().invoke(audit, ["endpoints", *args], env=env, catch_exceptions=False)
    return result


def write_all_shapes(root: Path) -> dict[str, int]:
    """The known set written in each shape; returns expected totals (x6 shapes) and skipped."""
    evs, exp = known_set()
    deep = root / "AWSLogs" / ACCT / "CloudTrail" / "us-east-1" / "2025" / "09" / "01"
    deep.mkdir(parents=True)
    (deep / "a.json.gz").write_bytes(gzip.compress(orjson.dumps({"Records": evs})))
    (root / "pretty.json").write_bytes(orjson.dumps({"Records": evs}, option=orjson.OPT_INDENT_2))
    (root / "array.json").write_bytes(orjson.dumps(evs))
    lines = b"\n".join(orjson.dumps(e) for e in evs) + b"\n"
    (root / "lines.jsonl.gz").write_bytes(gzip.compress(lines))
    single = root / "singles"
    single.mkdir()
    for i, e in enumerate(evs):
        (single / f"{i}.json").write_bytes(orjson.dumps(e, option=orjson.OPT_INDENT_2))
    # same records, other key order (first key differs between records) -> exact splitter path
    shuffled = [dict(reversed(list(e.items()))) if i % 2 else e for i, e in enumerate(evs)]
    (root / "mixed-order.json").write_bytes(orjson.dumps({"Records": shuffled}))
    # noise that must be skipped with a warning, not crash
    (root / "rules.yml").write_text("Tests:\n  - Name: x\n    Log: {}\n")
    (root / "broken.json.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    (root / "empty.json").write_bytes(b"")
    return {k: v * 6 for k, v in exp.items()}


def test_all_shapes_json(tmp_path: Path):
    exp = write_all_shapes(tmp_path)
    r = run(str(tmp_path), "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["totals"] == {"global": exp["global"], "regional": exp["regional"], "unknown": exp["unknown"]}
    assert report["skipped"]["non_sts_events"] == exp["skipped"]
    assert report["skipped"]["unreadable_files"] == 2
    assert "rules.yml: skipped: not JSON" in r.stderr
    assert "broken.json.gz: skipped" in r.stderr
    callers = {c["principal"]: c for c in report["callers"]}
    assert set(callers) == {f"arn:aws:sts::{ACCT}:assumed-role/{r}/s1" for r in ("ByField", "ByHost", "SvcGlobal")}
    by_field = callers[f"arn:aws:sts::{ACCT}:assumed-role/ByField/s1"]
    assert by_field["calls"] == 6
    assert by_field["role"] == f"arn:aws:iam::{ACCT}:role/ByField"
    assert by_field["serving_regions"] == {"eu-north-1": 6}
    assert by_field["source_ips"] == {"192.0.2.10": 6}
    assert by_field["event_names"] == {"AssumeRole": 6}
    assert by_field["user_agents"][0]["sdk"].startswith("boto3 1.26.0")
    assert "AWS_STS_REGIONAL_ENDPOINTS=regional" in by_field["user_agents"][0]["change"]
    assert callers[f"arn:aws:sts::{ACCT}:assumed-role/ByHost/s1"]["serving_regions"] == {"(not logged)": 6}
    assert callers[f"arn:aws:sts::{ACCT}:assumed-role/SvcGlobal/s1"]["serving_regions"] == {"eu-north-1": 6}
    assert {s["family"] for s in report["sdks"]} == {"botocore", "aws-sdk-go"}
    assert report["timeline"] == [{"hour": "2025-09-01T10", "global": exp["global"], "regional": exp["regional"],
                                   "unknown": exp["unknown"]}]


def test_text_csv_and_chart(tmp_path: Path):
    write_all_shapes(tmp_path / "logs")
    r = run(str(tmp_path / "logs"), "--chart", str(tmp_path / "c.html"))
    assert r.exit_code == 0
    out = r.stdout
    assert "STS calls:  global 18" in out and "regional 30" in out and "unknown 12" in out
    assert f"arn:aws:sts::{ACCT}:assumed-role/ByHost/s1" in out
    assert "What to change" in out and "aws-sdk-go (v1) 1.44.0" in out
    html = (tmp_path / "c.html").read_text()
    assert "<svg" in html and "<script" not in html and "global 18" in html
    r = run(str(tmp_path / "logs"), "--csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 3 and sum(int(row["calls"]) for row in rows) == 18
    assert all(row["role"].startswith("arn:aws:iam::") for row in rows)


def test_group_by_role_and_show_unknown(tmp_path: Path):
    evs = [event(host="sts.amazonaws.com", session=f"s{i}") for i in range(5)] + [event(), event()]
    (tmp_path / "x.json").write_bytes(orjson.dumps(evs))
    rep = json.loads(run(str(tmp_path), "--json").stdout)
    assert len(rep["callers"]) == 5
    rep = json.loads(run(str(tmp_path), "--json", "--group-by", "role", "--show-unknown").stdout)
    assert [(c["principal"], c["calls"]) for c in rep["callers"]] == [(f"arn:aws:iam::{ACCT}:role/App", 5)]
    assert rep["unknown_callers"][0]["calls"] == 2


def test_default_is_our_trail(tmp_path: Path):
    data = tmp_path / "data"
    write_all_shapes(data / "trail")
    r = run("--json", env={"OPENSTS_DATA_DIR": str(data)})
    assert r.exit_code == 0 and json.loads(r.stdout)["totals"]["global"] == 18
    r = run("--json", "--data-dir", str(data))
    assert json.loads(r.stdout)["totals"]["global"] == 18


def test_missing_trail_is_a_clear_error(tmp_path: Path):
    r = run("--data-dir", str(tmp_path / "nothing"))
    assert r.exit_code == 2
    assert "no trail at" in r.stderr and "Traceback" not in r.output
    r = run(str(tmp_path / "nope.json"))
    assert r.exit_code == 2 and "no such file" in r.stderr


def test_real_vectors(tmp_path: Path):
    """Public CloudTrail samples: they predate the 2025 field, hosts give the answer or 'unknown'."""
    r = run(str(VECTORS), "--json")
    assert r.exit_code == 0
    rep = json.loads(r.stdout)
    # SOURCES.md: 26 STS events in log-shaped files (panther YAML and the Markdown guide are skipped),
    # 18 with a regional host (16 Stratus + 2 cloud-snitch), none global.
    assert rep["totals"] == {"global": 0, "regional": 18, "unknown": 8}
    assert rep["skipped"]["unreadable_files"] == 9  # 7 YAML + 2 Markdown
    assert rep["skipped"]["non_sts_events"] > 100
    assert "panther-analysis/role_assumed_by_user.yml" in r.stderr
    r = run(str(VECTORS / "otrf-security-datasets"), "--json", "--show-unknown")
    rep = json.loads(r.stdout)
    assert rep["totals"]["unknown"] == 5 and rep["period"]["first"].startswith("2020-09")


def test_streaming_across_chunk_boundaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Tiny read/inflate sizes force records to straddle chunks; the counts must not change."""
    evs, exp = known_set()
    n = 300
    big = [dict(e, eventID=str(i)) for i in range(n) for e in evs]
    (tmp_path / "big.json.gz").write_bytes(gzip.compress(orjson.dumps({"Records": big})))
    (tmp_path / "big-pretty.json").write_bytes(orjson.dumps(big, option=orjson.OPT_INDENT_2))
    (tmp_path / "big.jsonl").write_bytes(b"\n".join(orjson.dumps(e) for e in big))
    monkeypatch.setattr(readers, "READ_SIZE", 997)
    monkeypatch.setattr(readers, "MAX_OUT", 1531)
    agg, stats = scan(plan([tmp_path]), jobs=1)
    assert agg.totals == {"global": 3 * n * 3, "regional": 5 * n * 3, "unknown": 2 * n * 3}
    assert agg.skipped + stats.skipped == 2 * n * 3
    assert stats.bad_records == 0 and not stats.warnings


def test_regional_events_counted_without_parsing_keep_timeline_and_span(tmp_path: Path):
    """Regional events take the no-parse path in bulk; hours, first and last must still be exact."""
    times = [f"2025-09-0{d}T{h:02d}:{m:02d}:00Z" for d in (1, 2) for h in (9, 23) for m in (0, 59)]
    recs = [event(etype="regional", when=t) for t in times] + [event(etype="global", when="2025-09-01T12:00:00Z")]
    (tmp_path / "records" / "t.json.gz").parent.mkdir()
    (tmp_path / "records" / "t.json.gz").write_bytes(gzip.compress(orjson.dumps({"Records": recs})))
    (tmp_path / "lines" / "t.jsonl").parent.mkdir()
    (tmp_path / "lines" / "t.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in recs))
    for shape in ("records", "lines"):
        agg, _ = scan(plan([tmp_path / shape]), jobs=1)
        assert agg.totals == {"global": 1, "regional": 8, "unknown": 0}
        assert agg.timeline == {"2025-09-01T09": [0, 2, 0], "2025-09-01T23": [0, 2, 0], "2025-09-02T09": [0, 2, 0],
                                "2025-09-02T23": [0, 2, 0], "2025-09-01T12": [1, 0, 0]}
        assert (agg.first, agg.last) == ("2025-09-01T09:00:00Z", "2025-09-02T23:59:00Z")


def test_exact_split_on_huge_unsplittable_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    evs, _ = known_set()
    shuffled = [dict(reversed(list(e.items()))) if i % 2 else e for i, e in enumerate(evs * 50)]
    (tmp_path / "m.json").write_bytes(orjson.dumps({"Records": shuffled}))
    monkeypatch.setattr(readers, "READ_SIZE", 4096)
    monkeypatch.setattr(readers, "MAX_CARRY", 8192)
    agg, stats = scan(plan([tmp_path]), jobs=1)
    assert agg.totals == {"global": 150, "regional": 250, "unknown": 100}


def test_truncated_inputs_warn(tmp_path: Path):
    evs, _ = known_set()
    data = orjson.dumps({"Records": evs})
    (tmp_path / "cut.json").write_bytes(data[: len(data) // 2])
    (tmp_path / "cut.json.gz").write_bytes(gzip.compress(data)[:-20])
    r = run(str(tmp_path), "--json")
    assert r.exit_code == 0
    assert "truncated" in r.stderr


def test_parallel_equals_sequential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for i in range(6):
        write_all_shapes(tmp_path / f"set{i}")
    files = plan([tmp_path])
    seq, _ = scan(files, jobs=1)
    monkeypatch.setattr(scan_mod, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(scan_mod, "BATCH_FILES", 3)
    seen: list[int] = []
    par, stats = scan(files, jobs=2, on_progress=seen.append)
    assert par.totals == seq.totals and par.totals["global"] == 18 * 6
    assert {k: c.calls for k, c in par.callers.items()} == {k: c.calls for k, c in seq.callers.items()}
    assert sum(seen) == sum(n for _, n in files)
    assert stats.unreadable == 12


def test_counters_are_bounded(tmp_path: Path):
    from opensts.audit.report.aggregate import CAP, OTHER

    evs = [event(host="sts.amazonaws.com", ua=f"custom-tool/{i}", ip=f"10.0.{i // 256}.{i % 256}")
           for i in range(CAP + 50)]
    (tmp_path / "x.json").write_bytes(orjson.dumps(evs))
    agg, _ = scan(plan([tmp_path]), jobs=1)
    (caller,) = agg.callers.values()
    assert len(caller.agents) == CAP + 1 and caller.agents[OTHER] == 50
    assert caller.calls == CAP + 50


def test_records_handed_to_a_sink_equal_records_yielded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``read_records(..., sink=)`` (what scan uses) and plain iteration give the same report, for
    every input shape, also when records straddle chunks and the exact splitter has to cut."""
    from opensts.audit.report.aggregate import Aggregate

    write_all_shapes(tmp_path)
    evs, _ = known_set()
    shuffled = [dict(reversed(list(e.items()))) if i % 2 else e for i, e in enumerate(evs * 40)]
    (tmp_path / "m.json").write_bytes(orjson.dumps({"Records": shuffled}))
    monkeypatch.setattr(readers, "READ_SIZE", 1009)
    monkeypatch.setattr(readers, "MAX_OUT", 2003)
    monkeypatch.setattr(readers, "MAX_CARRY", 8192)
    results = []
    for use_sink in (False, True):
        agg, stats = Aggregate(), readers.ReadStats()
        for path, _ in plan([tmp_path]):
            for obj in readers.read_records(path, stats, sink=agg.add if use_sink else None):
                agg.add(obj)
        results.append((agg.totals, agg.skipped + stats.skipped, agg.timeline, agg.first, agg.last,
                        {k: (c.calls, c.agents, c.regions) for k, c in agg.callers.items()}, stats.bad_records))
    assert results[0] == results[1]
    assert results[0][0]["global"] > 0 and results[0][0]["regional"] > 0


@pytest.mark.parametrize("failure", ["raises", "dies"])
def test_a_failed_worker_fails_the_run_instead_of_hanging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          failure: str):
    import os

    for i in range(4):
        write_all_shapes(tmp_path / f"set{i}")
    monkeypatch.setattr(scan_mod, "PARALLEL_MIN_BYTES", 0)

    def broken(*_args, **_kwargs):
        if failure == "dies":
            os._exit(3)
        raise OSError("disk on fire")

    monkeypatch.setattr(scan_mod, "_read_into", broken)
    with pytest.raises(RuntimeError, match="disk on fire" if failure == "raises" else "died"):
        scan(plan([tmp_path]), jobs=2)


def test_the_cli_reports_a_failed_worker_as_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for i in range(4):
        write_all_shapes(tmp_path / f"set{i}")
    monkeypatch.setattr(scan_mod, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(scan_mod, "_read_into", lambda *a, **k: (_ for _ in ()).throw(MemoryError()))
    r = run(str(tmp_path), "--json", "--jobs", "2")
    assert r.exit_code == 1 and r.stdout == ""
    assert "error: a report worker failed: MemoryError" in r.stderr


def test_decoded_records_and_odd_shapes_agree_with_full_parsing(tmp_path: Path):
    """Records of the usual shape are decoded into structs (record.py); nested objects exported as
    JSON strings, odd value types and other identities take the dict path.  Either way the report
    equals what full parsing of every record gives (Aggregate.add over orjson's dicts)."""
    from opensts.audit.report.aggregate import Aggregate
    from opensts.audit.report.record import StsRecord, decode_record

    plain = event(etype="global", serving="eu-west-1", host="sts.amazonaws.com", when="2025-09-01T10:00:00Z")
    as_strings = event(host="sts.amazonaws.com", session="s2")
    as_strings["additionalEventData"] = orjson.dumps({"RequestDetails": {"endpointType": "GLOBAL"}}).decode()
    as_strings["tlsDetails"] = orjson.dumps({"clientProvidedHostHeader": "sts.amazonaws.com"}).decode()
    odd_types = event(etype="global", session="s3")
    odd_types["eventName"] = {"not": "a string"}
    odd_types["sourceIPAddress"] = 10
    service = event(etype="global")
    service["userIdentity"] = {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}
    web = event(host="sts-global.eu-north-1.amazonaws.com")
    web["userIdentity"] = {"type": "WebIdentityUser", "identityProvider": "accounts.google.com", "userName": "u1"}
    no_identity = event(etype="global")
    del no_identity["userIdentity"]
    odd_source = event(etype="global")
    odd_source["eventSource"] = ["sts.amazonaws.com"]
    records = [plain, as_strings, odd_types, service, web, no_identity, odd_source, event(etype="regional")]
    assert type(decode_record(orjson.dumps(plain))) is StsRecord
    assert decode_record(orjson.dumps(as_strings)) is None  # a string where an object is expected
    (tmp_path / "t.json.gz").write_bytes(gzip.compress(orjson.dumps({"Records": records * 3})))
    agg, stats = scan(plan([tmp_path]), jobs=1)
    full = Aggregate()
    for rec in records * 3:
        full.add(orjson.loads(orjson.dumps(rec)))
    assert agg.totals == full.totals == {"global": 18, "regional": 3, "unknown": 0}
    assert agg.skipped + stats.skipped == full.skipped == 3
    def callers(a: Aggregate) -> dict:
        return {k: (c.calls, c.kind, c.account, c.roles, c.events, c.ips, c.regions, c.hosts, c.first)
                for k, c in a.callers.items()}

    assert callers(agg) == callers(full)
    assert set(agg.callers) >= {"service:ec2.amazonaws.com", "WebIdentityUser:accounts.google.com:u1",
                                "(no userIdentity)"}
