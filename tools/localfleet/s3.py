"""An S3-compatible trail store on loopback: moto's server in a child process, with its buckets.

The child (``python -m tools.localfleet.s3 PORT BUCKET…``) keeps the objects in its memory, so a
trail store can be taken *down* and brought *back* with its data, as a real S3 endpoint would be
after an outage: SIGUSR1 closes the listening socket (callers get "connection refused"), SIGUSR2
listens again on the same port, SIGTERM ends it. The parent side (:class:`S3Store`) sends those
signals to the PID it started and waits until the port says so.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.localfleet.ports import free_port

__all__ = ["S3Store", "start", "ACCESS_KEY", "SECRET_KEY", "REGION"]

ACCESS_KEY = SECRET_KEY = "testing"  # moto accepts any credentials
REGION = "us-east-1"
_READY = "s3-ready"


@dataclass
class S3Store:
    folder: Path
    port: int
    buckets: tuple[str, ...]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def bucket(self) -> str:
        return self.buckets[0]

    def client_args(self) -> dict[str, Any]:
        """boto3 client arguments (also the ``s3 = {…}`` table of a trail store in the config file)."""
        return {"endpoint_url": self.endpoint_url, "region_name": REGION, "aws_access_key_id": ACCESS_KEY,
                "aws_secret_access_key": SECRET_KEY}

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", **self.client_args())

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def _wait(self, listening: bool, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while self._listening() != listening:
            if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"S3 store on port {self.port} did not {'start' if listening else 'stop'}: "
                                   f"{self.log()[-2000:]}")
            time.sleep(0.05)

    def stop_server(self) -> None:
        """Take the store down (its port refuses connections), keeping its objects."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)
            self._wait(False)

    def start(self) -> None:
        """Bring the store back on the same port, with the objects it had."""
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError("the S3 store process is not running")
        self.proc.send_signal(signal.SIGUSR2)
        self._wait(True)

    def log(self) -> str:
        path = self.folder / "s3.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """End the process (by its PID) and remove its folder."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


def start(*buckets: str, folder: Path | None = None) -> S3Store:
    """moto's S3 on a free loopback port, holding ``buckets`` (created before this returns)."""
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="opensts-s3-"))
    folder.mkdir(parents=True, exist_ok=True)
    store = S3Store(folder, free_port(), tuple(buckets) or ("trail",))
    log = open(folder / "s3.log", "wb")
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    store.proc = subprocess.Popen([sys.executable, "-m", "tools.localfleet.s3", str(store.port), *store.buckets],
                                  stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    log.close()
    deadline = time.monotonic() + 60
    while _READY not in store.log():
        if store.proc.poll() is not None or time.monotonic() > deadline:
            text = store.log()
            store.stop()
            raise RuntimeError(f"moto's S3 server did not start: {text[-2000:]}")
        time.sleep(0.05)
    return store


# ----------------------------------------------------------------------------------------------
# The child process
# ----------------------------------------------------------------------------------------------
class _Server:
    """moto's WSGI app served from a thread; down() closes the socket, up() binds the port again."""

    def __init__(self, port: int) -> None:
        from moto.server import DomainDispatcherApplication, create_backend_app

        self.port = port
        self.app = DomainDispatcherApplication(create_backend_app)
        self.server: Any = None
        self.thread: threading.Thread | None = None

    def up(self) -> None:
        from werkzeug.serving import make_server

        if self.server is not None:
            return
        deadline = time.monotonic() + 10
        while True:
            try:
                self.server = make_server("127.0.0.1", self.port, self.app, threaded=True)
                break
            except OSError:  # the port is still held for a moment after down()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def down(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            server.shutdown()
            server.server_close()


def _main(argv: list[str]) -> None:
    import boto3

    port, buckets = int(argv[0]), argv[1:]
    server = _Server(port)
    server.up()
    s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name=REGION,
                      aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
    requests: list[str] = []
    wake = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        requests.append({signal.SIGUSR1: "down", signal.SIGUSR2: "up"}.get(signum, "exit"))
        wake.set()

    for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    print(_READY, flush=True)
    while True:
        wake.wait(1.0)
        wake.clear()
        while requests:
            what = requests.pop(0)
            if what == "exit":
                server.down()
                return
            getattr(server, what)()
            print(f"s3 {what}", flush=True)


if __name__ == "__main__":
    _main(sys.argv[1:])
