"""Public documents served over GET without a signature: OIDC discovery and JWKS of the
accounts' outbound-federation issuers (GetWebIdentityToken). Placeholder (Federation issue).

``serve_wellknown(state, req)`` returns (status, body, content type, headers) or None when the
path is not one of ours (then the request goes to the awsQuery pipeline).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opensts.app_state import AppState
    from opensts.edge.pipeline import Request

__all__ = ["serve_wellknown"]


def serve_wellknown(state: AppState, req: Request) -> tuple[int, bytes, bytes, dict[str, str]] | None:
    return None


