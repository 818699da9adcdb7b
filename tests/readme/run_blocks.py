"""Run the shell blocks of README.md and docs/*.md as printed, the way a new user pastes them.

Usage (from the repository root): ``.venv/bin/python tests/readme/run_blocks.py [README.md docs/X.md …]``
(no argument: every document). ``tests/readme/test_readme_blocks.py`` runs it in ``make test``.

What runs
  Fenced blocks tagged ``sh``, ``bash`` or ``console``; untagged blocks and other languages (json,
  text output, diagrams) are never run. In a ``console`` block the lines starting with ``$ `` are
  commands (a trailing ``\\`` continues one) and the lines after a command are its printed standard
  output, checked as printed (trailing blanks ignored; a line holding only ``…`` stands for any lines,
  a ``…`` inside a line for any text: account ids, UUIDs).

Markers (an HTML comment on the line right before the opening fence)
  ``<!-- not-run: REASON -->``  the block needs something this machine does not have (a Kubernetes
  cluster, GitHub, a real IdP …) and is skipped; the reason is required and shows in the document.

Servers
  A line ``make serve [ARGS="…"]`` or ``[NAME=value …] .venv/bin/opensts serve …`` starts a server the
  reader leaves running in another terminal. The runner starts it itself, in the background (``make
  serve`` as the Makefile's recipe ``.venv/bin/opensts serve $(ARGS)``: ``make`` itself would
  reinstall into the shared virtualenv), waits until every ``--listen`` address (default
  127.0.0.1:8600) accepts connections, and stops it by PID when the document ends. A server line that
  needs an address a running server holds replaces that server (the document tells the reader to
  stop it first). Server lines run in bash outside the reader's shell: they must not use its variables.

How
  Each document runs in a fresh folder holding ``.venv`` (a symlink to the virtualenv of the
  interpreter running this, which ``make serve`` created) and a copy of ``examples/``: exactly what a
  reader has in a clone after ``make serve``. ``.venv/bin/opensts`` imports this checkout
  (``PYTHONPATH``), so the code under test is what runs. PATH keeps no directory holding an ``aws``
  or ``opensts`` (a bare ``aws`` in a block fails as it would for the reader), HOME is the folder, no
  ``AWS_*``/``OPENSTS_*`` variable is inherited. The blocks of one document run in order in one bash
  (``set -euo pipefail``), so variables set by one block serve the next, as in one terminal; each
  block gets at most ``BLOCK_SECONDS``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BLOCK_SECONDS = 60.0
SERVER_START_SECONDS = 30.0
RUN_LANGUAGES = {"sh", "bash", "console"}
MAKE_SERVE_RECIPE = "\t$(BIN)/opensts serve $(ARGS)"
_FENCE = re.compile(r"^```(\S*)\s*$")
_NOT_RUN = re.compile(r"^<!--\s*not-run:\s*(\S.*?)\s*-->\s*$")
_SERVER = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*=\S+\s+)*(?:make serve\b|\.venv/bin/opensts serve\b)")
_SENTINEL = "__run_blocks_done__"


@dataclass
class Block:
    """One fenced block of a document: where it starts, its language, its lines, its marker."""

    doc: Path
    line: int  # 1-based line of the opening fence
    lang: str
    lines: list[str]
    not_run: str | None = None

    @property
    def runs(self) -> bool:
        return self.lang in RUN_LANGUAGES and self.not_run is None

    def where(self) -> str:
        return f"{self.doc.relative_to(REPO) if self.doc.is_relative_to(REPO) else self.doc}:{self.line}"


@dataclass
class Step:
    """A unit of execution: shell text for the reader's shell, or a server line; ``expect`` is the
    output a console block prints for it (``None``: not checked)."""

    text: str
    server: bool = False
    expect: list[str] | None = None


@dataclass
class Server:
    """A server the runner started for a server line, and the addresses it listens on."""

    proc: subprocess.Popen[bytes]
    addresses: list[tuple[str, int]]

    def stop(self) -> None:
        _stop_group(self.proc)


@dataclass
class Outcome:
    block: Block
    ok: bool
    seconds: float
    detail: str = ""


@dataclass
class Report:
    doc: Path
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    def summary(self) -> str:
        lines = []
        for o in self.outcomes:
            state = "ok" if o.ok else "FAILED"
            lines.append(f"{o.block.where()} [{o.block.lang}] {state} in {o.seconds:.1f} s")
            if not o.ok:
                lines.append("    " + o.detail.replace("\n", "\n    "))
        return "\n".join(lines)


def documents() -> list[Path]:
    """README.md and every docs/*.md, in a fixed order."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def parse_blocks(doc: Path) -> list[Block]:
    """Every fenced block of ``doc`` with its language and its ``not-run`` marker, if any."""
    blocks: list[Block] = []
    lines = doc.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start = i
        i += 1
        body = []
        while i < len(lines) and lines[i].rstrip() != "```":
            body.append(lines[i])
            i += 1
        marker = _NOT_RUN.match(lines[start - 1]) if start > 0 else None
        blocks.append(Block(doc, start + 1, match.group(1).lower(), body, marker.group(1) if marker else None))
        i += 1
    return blocks


def steps(block: Block) -> list[Step]:
    """The block cut into shell text, server lines and (console) commands with their output."""
    return _console_steps(block.lines) if block.lang == "console" else _shell_steps(block.lines)


def _shell_steps(lines: list[str]) -> list[Step]:
    out: list[Step] = []
    pending: list[str] = []
    for line in _logical_lines(lines):
        if _SERVER.match(line.strip()):
            if pending:
                out.append(Step("\n".join(pending)))
                pending = []
            out.append(Step(line.strip(), server=True))
        else:
            pending.append(line)
    if pending:
        out.append(Step("\n".join(pending)))
    return out


def _logical_lines(lines: list[str]) -> list[str]:
    """Lines with ``\\`` continuations joined (heredocs and quotes are left to bash)."""
    out: list[str] = []
    current = ""
    for line in lines:
        current += line
        if line.endswith("\\"):
            current += "\n"
            continue
        out.append(current)
        current = ""
    if current:
        out.append(current)
    return out


def _console_steps(lines: list[str]) -> list[Step]:
    out: list[Step] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            i += 1  # output before any command: nothing to check it against
            continue
        command = [lines[i][2:]]
        while command[-1].endswith("\\") and i + 1 < len(lines):
            i += 1
            command.append(lines[i])
        i += 1
        expect = []
        while i < len(lines) and not lines[i].startswith("$ "):
            expect.append(lines[i])
            i += 1
        text = "\n".join(command)
        out.append(Step(text, server=bool(_SERVER.match(text)), expect=expect))
    return out


def output_matches(expected: list[str], actual: str) -> bool:
    """``actual`` printed as ``expected`` shows it: line by line, trailing blanks and trailing empty
    lines ignored, a line holding only ``…`` matching any run of lines (none included), a ``…``
    inside a line any text."""
    want = _trim(expected)
    got = _trim(actual.splitlines())
    return _match(want, got)


def _trim(lines: list[str]) -> list[str]:
    out = [line.rstrip() for line in lines]
    while out and not out[-1]:
        out.pop()
    return out


def _match(want: list[str], got: list[str]) -> bool:
    if not want:
        return not got
    if want[0].strip() == "…":
        return any(_match(want[1:], got[k:]) for k in range(len(got) + 1))
    return bool(got) and _line_matches(want[0], got[0]) and _match(want[1:], got[1:])


def _line_matches(want: str, got: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in want.split("…"))
    return re.fullmatch(pattern, got) is not None


def venv_dir() -> Path:
    """The virtualenv of the interpreter running this (``sys.executable`` unresolved: a venv's python
    is a symlink to the base interpreter)."""
    venv = Path(sys.executable).parent.parent
    if not (venv / "bin" / "opensts").exists():
        raise RuntimeError(f"{venv} is not the virtualenv 'make serve' creates (no bin/opensts)")
    return venv


def reader_env(folder: Path) -> dict[str, str]:
    """The environment of a reader's fresh terminal: no venv on PATH, no AWS_/OPENSTS_ settings."""
    path = [d for d in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
            if d and not any((Path(d) / exe).exists() for exe in ("aws", "opensts"))]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "OPENSTS_", "VIRTUAL_ENV", "PYTHON")) and k not in ("PATH", "HOME")}
    env.update(PATH=os.pathsep.join(path), HOME=str(folder), PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1",
               LC_ALL="C.UTF-8", COLUMNS="200")
    return env


def prepare_folder(root: Path) -> Path:
    """A fresh folder laid out as a clone after ``make serve``: ``.venv`` and ``examples/``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / ".venv").symlink_to(venv_dir())
    shutil.copytree(REPO / "examples", root / "examples")
    return root


class Shell:
    """One bash, fed block after block like a terminal; each step's output goes to its own file."""

    def __init__(self, folder: Path, env: dict[str, str], scratch: Path) -> None:
        self.scratch = scratch  # the step scripts and their output, outside the reader's folder
        scratch.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(["bash", "--noprofile", "--norc"], cwd=folder, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self._send("set -euo pipefail")
        self.count = 0

    def _send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def run(self, text: str, timeout: float) -> tuple[bool, str, str]:
        """Run ``text`` in the shell; (finished with status 0, its standard output, its errors)."""
        self.count += 1
        script, out, err = (self.scratch / f"step-{self.count}.{ext}" for ext in ("sh", "out", "err"))
        script.write_text(text + "\n")
        self._send(f'{{ . "{script}"; }} > "{out}" 2> "{err}" < /dev/null; echo {_SENTINEL}')
        finished = self._wait_sentinel(timeout)
        stdout, stderr = (f.read_text(errors="replace") if f.exists() else "" for f in (out, err))
        if finished is None:
            return False, stdout, stderr + f"\n(no end after {timeout:.0f} s)"
        return finished, stdout, stderr

    def _wait_sentinel(self, timeout: float) -> bool | None:
        """True: the step ended; False: the shell exited (``set -e``: a command failed); None: timeout."""
        result: list[bool] = []

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                if line.strip() == _SENTINEL:
                    result.append(True)
                    return
            result.append(False)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        if not result:
            self.close()
            return None
        return result[0]

    def close(self) -> None:
        _stop_group(self.proc)


def server_command(line: str) -> str:
    """The command a server line runs: ``make serve ARGS="…"`` becomes the Makefile's recipe."""
    words = shlex.split(line, comments=True)
    if words[:2] != ["make", "serve"]:
        return shlex.join(w for w in words if w != "&")
    if MAKE_SERVE_RECIPE not in (REPO / "Makefile").read_text():
        raise RuntimeError(f"the Makefile's serve recipe is no longer {MAKE_SERVE_RECIPE.strip()!r}; update run_blocks")
    args = next((w.split("=", 1)[1] for w in words[2:] if w.startswith("ARGS=")), "")
    return f".venv/bin/opensts serve {args}".strip()


def listen_addresses(command: str) -> list[tuple[str, int]]:
    """The TCP addresses the server will accept connections on (``--listen``, default 127.0.0.1:8600)."""
    words = shlex.split(command)
    values = [words[i + 1] for i, w in enumerate(words[:-1]) if w == "--listen"]
    values += [w.split("=", 1)[1] for w in words if w.startswith("--listen=")]
    out = []
    for value in values or ["127.0.0.1:8600"]:
        host, _, port = value.split("=", 1)[0].rpartition(":")
        out.append((host.strip("[]") or "127.0.0.1", int(port)))
    return out


def server_addresses(blocks: list[Block]) -> list[tuple[str, int]]:
    """Every address the server lines of ``blocks`` listen on."""
    return sorted({a for b in blocks for s in steps(b) if s.server for a in listen_addresses(server_command(s.text))})


def start_server(line: str, folder: Path, env: dict[str, str], running: list[Server]) -> Server:
    """Start a server line in the background (first stopping a running server it would collide
    with); return once it accepts connections everywhere."""
    command = server_command(line)
    addresses = listen_addresses(command)
    for other in [s for s in running if set(s.addresses) & set(addresses)]:
        other.stop()
        running.remove(other)
    number = len(list(folder.parent.glob(f"{folder.name}-server-*.log"))) + 1
    log_path = folder.parent / f"{folder.name}-server-{number}.log"
    log = open(log_path, "wb")  # a file: a full pipe would block the server
    proc = subprocess.Popen(["bash", "--noprofile", "--norc", "-c", command], cwd=folder, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    deadline = time.monotonic() + SERVER_START_SECONDS
    for host, port in addresses:
        while not _accepts(host, port):
            if proc.poll() is not None or time.monotonic() > deadline:
                _stop_group(proc)
                raise RuntimeError(f"server did not start: {command}\n{log_path.read_text(errors='replace')}")
            time.sleep(0.1)
    server = Server(proc, addresses)
    running.append(server)
    return server


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _stop_group(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    """Stop a process we started (and what it forked, in its own session) by its PID."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def run_document(doc: Path, workdir: Path | None = None) -> Report:
    """Run every runnable block of ``doc`` in order in a fresh folder; stop at the first failure."""
    report = Report(doc)
    base = Path(workdir or tempfile.mkdtemp(prefix="readme-"))
    folder = prepare_folder(base / doc.stem)
    env = reader_env(folder)
    shell = Shell(folder, env, base / f"{doc.stem}-steps")
    servers: list[Server] = []
    try:
        for block in parse_blocks(doc):
            if not block.runs:
                continue
            outcome = _run_block(block, shell, folder, env, servers)
            report.outcomes.append(outcome)
            if not outcome.ok:
                break
    finally:
        shell.close()
        for server in servers:
            server.stop()
    return report


def _run_block(block: Block, shell: Shell, folder: Path, env: dict[str, str],
               servers: list[Server]) -> Outcome:
    started = time.monotonic()
    for step in steps(block):
        left = BLOCK_SECONDS - (time.monotonic() - started)
        if step.server:
            try:
                start_server(step.text, folder, env, servers)
            except RuntimeError as exc:
                return Outcome(block, False, time.monotonic() - started, str(exc))
            continue
        ok, output, errors = shell.run(step.text, max(left, 1.0))
        if not ok:
            return Outcome(block, False, time.monotonic() - started, f"$ {step.text}\n{output}{errors}")
        if step.expect is not None and not output_matches(step.expect, output):
            return Outcome(block, False, time.monotonic() - started,
                           f"$ {step.text}\nprinted:\n{output}\nthe document shows:\n" + "\n".join(step.expect))
    seconds = time.monotonic() - started
    if seconds > BLOCK_SECONDS:
        return Outcome(block, False, seconds, f"took {seconds:.0f} s (at most {BLOCK_SECONDS:.0f} s)")
    return Outcome(block, True, seconds)


def main(argv: list[str]) -> int:
    docs = [Path(a).resolve() for a in argv] or documents()
    failed = False
    with tempfile.TemporaryDirectory(prefix="readme-") as workdir:
        for doc in docs:
            report = run_document(doc, Path(workdir))
            print(f"== {doc.relative_to(REPO)}\n{report.summary()}")
            failed |= not report.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
