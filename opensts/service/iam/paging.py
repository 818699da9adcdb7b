"""IAM's keyset pages (service/paging.py): ``Marker`` names a position in one listing,
``MaxItems`` caps the page, and a marker that is not one of ours gets IAM's error for it
(``InvalidInput``, "Invalid Marker.").

Every IAM listing that can grow with the account (roles, users, policies, groups, instance
profiles, server certificates, virtual MFA devices, group members, a policy's entities, a role's
instance profiles, an account's authorization details) runs through ``keyset_page``, and reads
whatever its page needs besides its rows (tags, counts, relations) for the whole page at once.
The few listings bounded by a small per-entity quota (tags, versions, keys, inline and attached
policies of one entity) keep ``_base.page`` over their handful of items.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from opensts.protocol.errors import ServiceError
from opensts.service.paging import Source, encode_token, next_page

__all__ = ["Source", "keyset_page", "encode_marker", "MARKER_MAX"]

T = TypeVar("T")
MARKER_MAX = 320  # botocore's markerType
encode_marker = encode_token


def invalid_marker() -> ServiceError:
    return ServiceError("Invalid Marker.", code="InvalidInput", status=400)


def keyset_page(params: dict[str, Any], listing: str, sources: Sequence[Source[T]],
                default_max: int = 100) -> tuple[list[T], dict[str, Any]]:
    """One page of ``listing``: ``MaxItems`` (default ``default_max``) items at most, and
    ``IsTruncated`` / ``Marker`` as IAM answers them."""
    chunk, marker = next_page(params.get("Marker"), params.get("MaxItems") or default_max, listing, sources,
                              invalid_marker, MARKER_MAX)
    return chunk, ({"IsTruncated": True, "Marker": marker} if marker else {"IsTruncated": False})
