"""A throwaway redis-server for the quota tests: tools/localfleet/redis.py's, with the two moves
these tests make — ``stop()`` loses it abruptly (SIGKILL, as a crashed Redis), ``start()`` brings
an empty one back on the same port (quota buckets are soft state: an absent bucket is a full one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.localfleet.ports import free_port
from tools.localfleet.redis import Redis, binary

__all__ = ["RedisServer"]


class RedisServer(Redis):
    def __init__(self, folder: Path, port: int | None = None) -> None:
        program = binary()
        if program is None:
            pytest.fail("redis-server not found: install Debian's redis-server package (the fleet tests use a real Redis)")
        folder.mkdir(parents=True, exist_ok=True)
        super().__init__(folder, port or free_port(), program)

    def start(self) -> RedisServer:  # type: ignore[override]
        super().start()
        return self

    def stop(self) -> None:
        self.stop_server(kill=True)  # the folder stays: start() again models the recovery
