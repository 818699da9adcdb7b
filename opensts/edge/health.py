"""``GET /healthz`` and ``GET /readyz``: for load balancers and orchestrators.

* ``/healthz``: 200 when the process answers (nothing else is checked: a restart is the only
  remedy for a process that cannot say this).
* ``/readyz``: 200 when this node can serve STS — its Region's database answers (one short
  query, off the event loop, bounded by ``DATABASE_TIMEOUT``) and its Region's token-sealing key
  is loaded (a fleet node; a single server creates keys on demand) — else 503. The control plane
  is reported but not required: STS does not depend on it, so a node whose control plane is down
  stays in its load balancer. The Region store (Redis) is reported too: without it only MFA and
  SAML calls fail (closed), so it does not take the node out either.

Both are unauthenticated, cheap, answer JSON saying what was checked, and are never audited,
throttled or logged as calls.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opensts.app_state import AppState

__all__ = ["HEALTH_PATHS", "serve_health"]

HEALTH_PATHS = frozenset({"/healthz", "/readyz"})
DATABASE_TIMEOUT = 1.0
_JSON = b"application/json"


async def serve_health(path: str, state: AppState, control: Callable[[], Awaitable[dict[str, Any]]],
                       off_loop: Callable[[Callable[[], Any]], Any]) -> tuple[int, bytes, bytes, dict[str, str]]:
    """(status, body, content type, headers) of ``/healthz`` or ``/readyz``; ``control``: the
    control plane's status as the process serving this node's IAM calls sees it (this worker's,
    or the control worker's: edge/control_relay.py)."""
    region = state.settings.node.region
    if path == "/healthz":
        return 200, json.dumps({"status": "ok", "region": region}).encode(), _JSON, {"cache-control": "no-store"}
    checks: dict[str, Any] = {"database": await _database(state, off_loop)}
    if region is not None:
        loaded = state.keyring.has_current(region) if checks["database"]["ok"] else False
        checks["sealing_key"] = {"ok": loaded, "region": region}
    checks["control_plane"] = {"required": False, **await control()}
    ping = getattr(state.region_state, "ping", None)
    if ping is not None:
        checks["region_store"] = {"required": False, "ok": await _bounded(off_loop, ping) is True}
    ready = all(c.get("ok", True) for c in checks.values() if c.get("required", True))
    body = {"status": "ready" if ready else "not ready", "region": region, "checks": checks}
    return (200 if ready else 503), json.dumps(body).encode(), _JSON, {"cache-control": "no-store"}


async def _database(state: AppState, off_loop: Callable[[Callable[[], Any]], Any]) -> dict[str, Any]:
    generation = await _bounded(off_loop, state.repo.generation)
    return {"ok": generation is not None, "writable": state.writable}


async def _bounded(off_loop: Callable[[Callable[[], Any]], Any], fn: Callable[[], Any]) -> Any:
    """``fn()`` off the loop within ``DATABASE_TIMEOUT``; None when it failed or took longer."""
    try:
        return await asyncio.wait_for(off_loop(fn), DATABASE_TIMEOUT)
    except Exception:  # noqa: BLE001 - a check that fails is the answer "not ok", never a 500
        return None
