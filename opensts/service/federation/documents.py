"""The OIDC discovery and JWKS documents of an account's outbound issuer."""

from __future__ import annotations

from typing import Any

__all__ = ["discovery_document"]


def discovery_document(issuer: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "jwks_uri": issuer + "/.well-known/jwks.json",
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES384"],
        "claims_supported": ["iss", "aud", "sub", "iat", "nbf", "exp", "jti", "https://sts.amazonaws.com/"],
    }
