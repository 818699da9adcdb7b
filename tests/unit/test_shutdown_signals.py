"""The delivery process's stop (edge/shutdown.run_until_stopped) survives any number of SIGTERMs:
its handler only records the request. Calling ``Event.set`` from the handler deadlocked a delivery
process that got a second SIGTERM while the first handler held the event's lock (a stray
``opensts serve`` left behind by the test suite, seen with py-spy), and a burst of SIGTERMs nested
handlers into a RecursionError."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BODY = r'''
import os
import time
from opensts.edge.shutdown import run_until_stopped

def body(stop):
    print("ready", flush=True)  # the handler is in place once the body runs
    while not stop.is_set():
        stop.wait(0.001)
    time.sleep(0.5)  # the last round: the main thread waits in join() meanwhile
    print("last round done", flush=True)

run_until_stopped(body, 5.0)
print("stopped", flush=True)
os._exit(0)  # as the forked delivery process ends (edge/serve._fork)
'''


def test_a_flood_of_sigterms_stops_the_delivery_cleanly() -> None:
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", BODY], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=REPO)
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            end = time.monotonic() + 0.8  # SIGTERM after SIGTERM, through the last round
            while time.monotonic() < end and proc.poll() is None:
                try:
                    os.kill(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    break
            out, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, err[-2000:]
        assert "last round done\nstopped" in out and "RecursionError" not in err
