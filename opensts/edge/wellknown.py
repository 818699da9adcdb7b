"""Public documents served over GET without a signature: OIDC discovery and JWKS of the
accounts' outbound-federation issuers (GetWebIdentityToken).

Paths: ``/oidc/{issuer-id}/.well-known/openid-configuration`` and ``…/jwks.json``; an issuer
whose account disabled outbound federation keeps publishing (tokens already issued must stay
verifiable until they expire). ``serve_wellknown`` returns None for any other path.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

import orjson

from opensts.service.federation.documents import discovery_document
from opensts.service.federation.outbound import issuer_url

if TYPE_CHECKING:
    from opensts.app_state import AppState
    from opensts.edge.pipeline import Request

__all__ = ["serve_wellknown"]

_PATH = re.compile(r"^/oidc/([0-9a-f-]{36})/\.well-known/(openid-configuration|jwks\.json)\Z")
_HEADERS = {"cache-control": "public, max-age=300"}


def serve_wellknown(state: AppState, req: Request) -> tuple[int, bytes, bytes, dict[str, str]] | None:
    match = _PATH.match(req.raw_path)
    if match is None:
        return None
    issuer = state.repo.outbound_issuer_by_id(match.group(1))
    if issuer is None:
        return 404, b'{"error":"not_found"}', b"application/json", {}
    if match.group(2) == "openid-configuration":
        body = discovery_document(issuer_url(state.settings, issuer.issuer_id))
    else:
        now = int(time.time() + state.settings.clock_offset)
        body = {"keys": state.sts_service.federation.signing_keys.published(now)}
    return 200, orjson.dumps(body), b"application/json", dict(_HEADERS)
