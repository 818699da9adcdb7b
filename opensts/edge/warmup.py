"""Warm a worker up before its socket listens: the first real request must not pay for first use.

Measured on main: the first request after a restart took 0.2-0.5 s per worker, because the port
accepted (it was bound and listening in the parent) while each worker was still building its
state, and because the first request then paid for every first use: lazily imported modules,
the first database queries (and the statement compilation of SQLAlchemy), the key ring's first
load, SigV4's signing-key derivation, the policy compile of the caller's policies, the journal's
first 8 MiB segment.

``warm_up`` runs a few signed requests through the ASGI application itself, in process — the same
code path a client takes, minus the socket — and prepares the journal's first segment. It has no
effect anyone can see: no audit record is written (the records are built, then dropped), no quota
token is taken, no access key's last use is noted and no credential is issued (the
credential-issuing action is tried on a role that does not exist). Anything that fails here is
only logged: a worker that cannot warm up still serves, it is just slower at its first request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import urlencode

from opensts.app_state import AppState
from opensts.settings import Settings

__all__ = ["preload", "warm_up"]

log = logging.getLogger("opensts.server")

_ROUNDS = 3  # requests of each kind: the second and third find what the first left behind


class _DryAudit:
    """Stands in for the audit trail while warming up: each record is built (the first-use cost
    of building one), then dropped — warm-up calls are not calls anyone made."""

    def __init__(self, real: Any) -> None:
        self.lookup_source = getattr(real, "lookup_source", None)

    async def record(self, call: Any) -> None:
        from opensts.audit.events import build_events

        build_events(call)


def preload(settings: Settings | None = None) -> None:
    """In the parent, before any worker is forked: the modules every worker imports and the
    compiled service models (``load_service`` compiles once per process), inherited by each fork
    instead of made again in each — and in each replacement of a worker that died, which then
    listens within a few tenths of a second instead of over a second (0.8 s of imports and 0.2 s
    of model compilation, measured here), and the CA certificates loaded for fetching IdP documents."""
    import botocore.auth  # noqa: F401 - the warm-up's signer
    import botocore.awsrequest  # noqa: F401
    import botocore.credentials  # noqa: F401

    import opensts.audit.events  # noqa: F401
    import opensts.edge.asgi  # noqa: F401
    from opensts.protocol.model import load_service

    load_service("sts")
    load_service("iam")
    if settings is not None:  # the CA certificates IdP documents are fetched with (0.3 s per worker)
        from opensts.service.federation.oidc_fetch import _ssl_context

        _ssl_context(settings.ca_bundle)


def warm_up(app: Any, state: AppState) -> float:
    """Run the warm-up requests through ``app`` (an ``StsAsgiApp`` over ``state``); returns the
    seconds it took. Never raises."""
    started = time.perf_counter()
    saved = (state.audit, state.quotas, state.key_use)
    try:
        from opensts.regions.quotas import Quotas, QuotaSettings

        if state.audit is not None:
            _prepare_journal(state.audit)
            state.audit = _DryAudit(state.audit)  # type: ignore[assignment]
        state.quotas = Quotas(QuotaSettings(rps=0.0, burst=1.0))  # rps 0: no bucket is touched
        state.key_use = None
        from opensts.edge.observe import muted

        with muted():  # nobody's requests: not in /metrics, not in the access log
            asyncio.run(_requests(app, state))
    except Exception as exc:  # noqa: BLE001 - warm-up is an optimisation, never a reason not to serve
        log.warning("warm-up skipped (%s): the first requests will be slower", type(exc).__name__)
    finally:
        state.audit, state.quotas, state.key_use = saved
    return time.perf_counter() - started


def _prepare_journal(audit: Any) -> None:
    """The journal's first segment (zero-filled, 8 MiB) is made here, not in the first request."""
    prepare = getattr(getattr(audit, "journal", None), "prepare", None)
    if prepare is not None:
        prepare()


async def _requests(app: Any, state: AppState) -> None:
    credentials = _admin_credentials(state)
    for _ in range(_ROUNDS):
        await _call(app, state, "sts", {"Action": "GetCallerIdentity", "Version": "2011-06-15"}, credentials)
        await _call(app, state, "sts", {"Action": "AssumeRole", "Version": "2011-06-15",
                                        "RoleArn": f"arn:aws:iam::{_account(state)}:role/opensts-warm-up-no-such-role",
                                        "RoleSessionName": "warm-up"}, credentials)
        # a remote primary may be down: start-up never waits on it; a worker relaying IAM calls
        # (edge/control_relay.py) leaves them to the control worker, which warms up on its own
        if not state.control_is_remote and not state.settings.control_socket:
            await _call(app, state, "iam", {"Action": "GetUser", "Version": "2010-05-08"}, credentials)


def _account(state: AppState) -> str:
    accounts = state.repo.list_accounts()
    return accounts[0].id if accounts else "000000000000"


def _admin_credentials(state: AppState) -> tuple[str, str] | None:
    """The bootstrap administrator's key (from the environment or the credentials file), with
    its secret read through the same resolver requests use; None when there is none here."""
    from opensts.service.bootstrap import describe

    key_id = describe(state.repo, state.settings.data_dir).access_key_id
    if not key_id or key_id.startswith("("):
        return None
    try:
        _caller, secret = state.resolver.resolve(key_id, None, time.time())
    except Exception:  # noqa: BLE001 - a deleted or disabled admin key: warm up unsigned paths only
        return None
    return key_id, secret


async def _call(app: Any, state: AppState, service: str, params: dict[str, str],
                credentials: tuple[str, str] | None) -> int:
    """One form-encoded POST through the ASGI app, signed like an SDK signs it; its status."""
    listener = state.settings.listeners[0]
    host = f"{'127.0.0.1' if listener.host in ('0.0.0.0', '', '::') else listener.host}:{listener.port}"
    body = urlencode(params).encode()
    headers = {"Host": host, "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    if credentials is not None:  # a fleet node serves its own Region only
        headers = _signed(service, host, body, headers, credentials, state.settings.node.region or "us-east-1")
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": "POST", "scheme": state.settings.scheme, "path": "/", "raw_path": b"/", "query_string": b"",
        "root_path": "", "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1), "server": (listener.host, listener.port), "extensions": {},
    }
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            await asyncio.sleep(3600)
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), 10)
    return int(next((m["status"] for m in sent if m["type"] == "http.response.start"), 0))


def _signed(service: str, host: str, body: bytes, headers: dict[str, str],
            credentials: tuple[str, str], region: str) -> dict[str, str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url=f"http://{host}/", data=body, headers=headers)
    SigV4Auth(Credentials(*credentials), service, region).add_auth(request)
    return dict(request.headers.items())
