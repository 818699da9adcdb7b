"""``make fleet`` (``python -m tools.localfleet``) as a user meets it: it starts, prints commands
that work as printed (run here from a folder holding ``.venv``, exactly as printed), and a Ctrl-C
(SIGINT) stops everything it started — every PID it printed is gone, every port closed, its folder
removed."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.readme.run_blocks import venv_dir

REPO = Path(__file__).resolve().parents[2]


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError("the launcher did not finish starting:\n" + "\n".join(lines))


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_make_fleet_prints_working_commands_and_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPENSTS_"))}
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen([sys.executable, "-m", "tools.localfleet", "--west-nodes", "1"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        printed = _read_until(proc, "health: curl", 180)
        text = "\n".join(printed)
        pids = [int(p) for p in re.findall(r"\(PID (\d+),", text)]
        ports = sorted({int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", text)})
        folder = Path(re.search(r"AWS_SHARED_CREDENTIALS_FILE=(\S+)/credentials", text).group(1))  # type: ignore[union-attr]
        assert len(pids) == 2 and all(Path(f"/proc/{p}").exists() for p in pids), text
        # The commands, as printed, from a folder where .venv is what `make fleet` created.
        (tmp_path / ".venv").symlink_to(venv_dir())
        commands = [line for line in printed if line.startswith(("export ", ".venv/bin/aws "))]
        assert len(commands) == 7, commands
        script = "\n".join(["set -euo pipefail", commands[0]]
                           + [f"{c} > out-{i}.json" for i, c in enumerate(commands[1:])])
        out = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stderr[-3000:]
        results = [json.loads((tmp_path / f"out-{i}.json").read_text()) for i in range(6)]
        assert results[0]["Arn"].endswith(":user/admin")
        for creds in (results[1]["Credentials"], results[2]["Credentials"]):  # regional, then global: both in us-west-2
            raw = base64.b64decode(creds["SessionToken"])
            assert raw[2: 2 + raw[1]].decode().startswith("us-west-2/")
        # us-east-1's trail (the printed command again until delivered): the global call, served in us-west-2
        lookup = commands[5]
        deadline = time.monotonic() + 15
        while True:
            found = subprocess.run(["bash", "-c", f"{commands[0]}\n{lookup}"], cwd=tmp_path, env=env,
                                   capture_output=True, text=True, timeout=60)
            events = json.loads(found.stdout)["Events"] if found.returncode == 0 else []
            details = [json.loads(e["CloudTrailEvent"]).get("additionalEventData", {}).get("RequestDetails")
                       for e in events]
            if {"endpointType": "global", "awsServingRegion": "us-west-2"} in details or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert {"endpointType": "global", "awsServingRegion": "us-west-2"} in details, found.stdout + found.stderr
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            rest, _ = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, _ = proc.communicate()
    assert proc.returncode == 0 and "nothing left running" in rest, rest
    time.sleep(0.5)
    assert [p for p in pids if Path(f"/proc/{p}").exists()] == []
    assert [p for p in ports if _listening(p)] == []
    assert not folder.exists()
