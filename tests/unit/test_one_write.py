"""Responses leave in one write: the status line and headers wait for the body."""

from __future__ import annotations

from opensts.edge.serve import _OneWriteTransport


class _Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def test_headers_and_body_go_out_together() -> None:
    rec = _Recorder()
    t = _OneWriteTransport(rec)  # type: ignore[arg-type]
    t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n")
    assert rec.writes == []
    t.write(b"body")
    assert rec.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nbody"]
    t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
    t.write(b"")  # an empty body still releases the headers
    assert rec.writes[-1] == b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


def test_interim_100_continue_is_not_held_and_close_flushes() -> None:
    rec = _Recorder()
    t = _OneWriteTransport(rec)  # type: ignore[arg-type]
    t.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert rec.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    t.write(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    t.close()
    assert rec.writes[-1].startswith(b"HTTP/1.1 500") and rec.closed
    assert t.is_closing() is True  # other attributes reach the real transport
