"""README.md and docs/*.md work as printed: every shell block runs, in order, against the servers the
blocks start, in a fresh folder holding only what ``make serve`` leaves (see run_blocks.py).

The runner itself is checked on small documents of our own, so a block that fails, a bare ``aws``,
output that differs from the printed one, or a wrong marker cannot pass unnoticed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.readme import run_blocks as rb

DOCS = rb.documents()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(rb.REPO)) for d in DOCS])
def test_document_blocks_run_as_printed(doc: Path, tmp_path: Path) -> None:
    runnable = [b for b in rb.parse_blocks(doc) if b.runs]
    taken = [a for a in rb.server_addresses(runnable) if rb._accepts(*a)]
    if taken:  # e.g. the developer's own `make serve`: the walk-through's fixed ports are not ours to take
        pytest.skip(f"{doc.name} needs {taken}, which something else on this machine is listening on")
    report = rb.run_document(doc, tmp_path)
    assert report.ok, "\n" + report.summary()
    assert [o.block.line for o in report.outcomes] == [b.line for b in runnable]


def test_the_walkthroughs_are_run() -> None:
    """The documents the issue names keep runnable blocks (a doc turned all not-run would pass vacuously)."""
    runnable = {d.name: sum(b.runs for b in rb.parse_blocks(d)) for d in DOCS}
    assert runnable["README.md"] >= 8 and runnable["FEDERATION.md"] >= 4 and runnable["AUDIT-REPORT.md"] >= 3


def test_every_skipped_shell_block_says_why() -> None:
    for doc in DOCS:
        lines = doc.read_text(encoding="utf-8").splitlines()
        for block in rb.parse_blocks(doc):
            before = lines[block.line - 2] if block.line > 1 else ""
            if "not-run" in before:
                assert block.not_run, f"{block.where()}: malformed marker {before!r}"
            if block.not_run is not None:
                assert block.lang in rb.RUN_LANGUAGES, f"{block.where()}: marker on a block that never runs"


def _doc(tmp_path: Path, text: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    doc = tmp_path / "DOC.md"
    doc.write_text(text, encoding="utf-8")
    return doc


def _run(tmp_path: Path, text: str) -> rb.Report:
    return rb.run_document(_doc(tmp_path, text), tmp_path / "work")


@pytest.mark.parametrize("body", [
    "false",                                   # a failing command
    "aws --version",                           # the CLI is not on the reader's PATH
    "opensts --version",
    "X=$(false)\necho still here",            # a failing substitution stops the block
    "echo $UNSET_VARIABLE",                    # a placeholder nobody set
    "false | cat",                             # a failure inside a pipeline
])
def test_a_block_that_fails_for_the_reader_fails(tmp_path: Path, body: str) -> None:
    report = _run(tmp_path, f"# t\n\n```sh\n{body}\n```\n")
    assert not report.ok and len(report.outcomes) == 1


def test_blocks_share_one_shell_and_run_in_a_folder_with_only_venv_and_examples(tmp_path: Path) -> None:
    report = _run(tmp_path, "```sh\nA=1\nf() { echo \"$1\"; }\n```\n\n```bash\ntest \"$A\" = 1 && f ok\n"
                            "test \"$(ls -A | sort | tr '\\n' ' ')\" = '.venv examples '\n"
                            ".venv/bin/aws --version\n.venv/bin/opensts --version\n```\n")
    assert report.ok, report.summary()
    assert len(report.outcomes) == 2


def test_not_run_blocks_and_text_blocks_are_skipped(tmp_path: Path) -> None:
    report = _run(tmp_path, "<!-- not-run: needs a Kubernetes cluster -->\n```sh\nfalse\n```\n\n"
                            "```\nfalse\n```\n\n```json\n{\"a\": 1}\n```\n\n```sh\ntrue\n```\n")
    assert report.ok and [o.block.line for o in report.outcomes] == [14]


def test_console_output_is_checked_as_printed(tmp_path: Path) -> None:
    good = "```console\n$ printf 'a\\nb\\nc\\n'\na\n…\nc\n$ echo done\ndone\n```\n"
    assert _run(tmp_path / "good", good).ok
    bad = "```console\n$ echo actual\nprinted\n```\n"
    report = _run(tmp_path / "bad", bad)
    assert not report.ok and "the document shows" in report.outcomes[0].detail


@pytest.mark.parametrize(("expected", "printed", "matches"), [
    (["arn:aws:iam::…:user/admin"], "arn:aws:iam::123456789012:user/admin\n", True),
    (["arn:aws:iam::…:user/admin"], "arn:aws:iam::123456789012:user/other\n", False),
    (["a", "…"], "a\n", True),
    (["a", "…", "z"], "a\nb\nc\nz\n", True),
    (["a"], "a\nb\n", False),
    (["a", "b"], "a\n", False),
    (["a  ", ""], "a\n\n\n", True),
    (["(x)"], "x\n", False),  # text, not a pattern
])
def test_output_matching(expected: list[str], printed: str, matches: bool) -> None:
    assert rb.output_matches(expected, printed) is matches


def test_a_server_line_is_started_waited_for_and_stopped(tmp_path: Path) -> None:
    port = rb_free_port()
    text = (f"```sh\n.venv/bin/opensts serve --data-dir d --listen 127.0.0.1:{port}\n"
            f"AWS_SHARED_CREDENTIALS_FILE=d/credentials AWS_PROFILE=opensts .venv/bin/aws sts get-caller-identity "
            f"--endpoint-url http://127.0.0.1:{port} --region us-east-1\n```\n")
    report = _run(tmp_path, text)
    assert report.ok, report.summary()
    assert not rb._accepts("127.0.0.1", port)  # stopped when the document ended


def rb_free_port() -> int:
    from tests.conftest import free_port

    return free_port()


@pytest.mark.parametrize(("line", "command", "addresses"), [
    ("make serve   # comment", ".venv/bin/opensts serve", [("127.0.0.1", 8600)]),
    ('make serve ARGS="--listen 0.0.0.0:8700 --workers 2"', ".venv/bin/opensts serve --listen 0.0.0.0:8700 --workers 2",
     [("0.0.0.0", 8700)]),
    (".venv/bin/opensts serve --listen 127.0.0.1:8600 --listen 127.0.0.2:8600=us-west-2 &",
     ".venv/bin/opensts serve --listen 127.0.0.1:8600 --listen 127.0.0.2:8600=us-west-2",
     [("127.0.0.1", 8600), ("127.0.0.2", 8600)]),
    ("OPENSTS_CA_BUNDLE=ca.pem .venv/bin/opensts serve --listen=[::1]:8644",
     "OPENSTS_CA_BUNDLE=ca.pem .venv/bin/opensts serve '--listen=[::1]:8644'", [("::1", 8644)]),
])
def test_server_lines(line: str, command: str, addresses: list[tuple[str, int]]) -> None:
    assert rb._SERVER.match(line)
    assert rb.server_command(line) == command
    assert rb.listen_addresses(command) == addresses


@pytest.mark.parametrize("line", [".venv/bin/aws sts get-caller-identity", "echo make serve", "opensts serve"])
def test_other_lines_are_not_servers(line: str) -> None:
    assert not rb._SERVER.match(line)


def test_the_makefile_recipe_is_what_the_runner_starts() -> None:
    assert rb.MAKE_SERVE_RECIPE in (rb.REPO / "Makefile").read_text()
    assert shutil.which("bash")
