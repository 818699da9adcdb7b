"""IAM's keyset pages (service/paging.py): ``Marker`` names a position in one listing,
``MaxItems`` caps the page, and a marker that is not one of ours gets IAM's error for it
(``InvalidInput``, "Invalid Marker.").

Every IAM listing that can grow with the account (``KEYSET``) runs through ``keyset_page``, and
reads whatever its page needs besides its rows (tags, counts, relations) for the whole page at
once. The listings over a collection that AWS caps small (``BOUNDED``: the quota, enforced on
every write that adds to it) keep ``_base.page`` over their handful of items: reading a few
items and slicing them costs no more than a keyset query. tests/unit/test_list_bounds.py proves
each bound (the write past it is refused) and that every operation with a ``Marker`` is here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from opensts.protocol.errors import ServiceError
from opensts.service.paging import Source, encode_token, next_page

__all__ = ["Source", "keyset_page", "encode_marker", "MARKER_MAX", "KEYSET", "BOUNDED", "REPORTS"]

T = TypeVar("T")
MARKER_MAX = 320  # botocore's markerType
encode_marker = encode_token


#: IAM operations that page in the database (a keyset page, the marker naming the position).
KEYSET = frozenset({
    "ListRoles", "ListUsers", "ListGroups", "ListPolicies", "ListInstanceProfiles", "ListInstanceProfilesForRole",
    "ListServerCertificates", "ListVirtualMFADevices", "ListMFADevices", "GetGroup", "ListEntitiesForPolicy",
    "GetAccountAuthorizationDetails", "ListDelegationRequests",
    "ListServiceSpecificCredentials",  # AllUsers: keyset; one user's: 2 per service (CredentialsPerUserPerService)
})
#: IAM operations over a collection AWS caps small: operation → the quota that bounds it.
BOUNDED: dict[str, str] = {
    "ListAccessKeys": "AccessKeysPerUser: 2",
    "ListSigningCertificates": "CertificatesPerUser: 2",
    "ListSSHPublicKeys": "PublicKeysPerUser: 5",
    "ListGroupsForUser": "GroupsPerUser: 10",
    "ListAttachedRolePolicies": "PoliciesPerRole: 10",
    "ListAttachedUserPolicies": "PoliciesPerUser: 10",
    "ListAttachedGroupPolicies": "PoliciesPerGroup: 10",
    "ListRolePolicies": "RolePolicySize: 10,240 characters of inline policies per role",
    "ListUserPolicies": "UserPolicySize: 2,048 characters of inline policies per user",
    "ListGroupPolicies": "GroupPolicySize: 5,120 characters of inline policies per group",
    "ListPolicyVersions": "VersionsPerPolicy: 5",
    "ListAccountAliases": "AliasesPerAccount: 1",
    **{f"List{kind}Tags": "TagsPerEntity: 50" for kind in (
        "Role", "User", "Policy", "InstanceProfile", "MFADevice", "OpenIDConnectProvider", "SAMLProvider",
        "ServerCertificate")},
    "ListPoliciesGrantingServiceAccess": "ServiceNamespaces: 200 per request, × the entity's policies (above)",
    "SimulatePrincipalPolicy": "the request's actions × resources (simulate.py's limits)",
    "SimulateCustomPolicy": "the request's actions × resources (simulate.py's limits)",
    "GetServiceLastAccessedDetails": "the AWS service namespaces (a fixed catalogue)",
    "GetOrganizationsAccessReport": "the AWS service namespaces (a fixed catalogue)",
}
#: A stored report paged by slicing it (not bounded by a quota: a group's or policy's entities).
REPORTS = frozenset({"GetServiceLastAccessedDetailsWithEntities"})


def invalid_marker() -> ServiceError:
    return ServiceError("Invalid Marker.", code="InvalidInput", status=400)


def keyset_page(params: dict[str, Any], listing: str, sources: Sequence[Source[T]],
                default_max: int = 100) -> tuple[list[T], dict[str, Any]]:
    """One page of ``listing``: ``MaxItems`` (default ``default_max``) items at most, and
    ``IsTruncated`` / ``Marker`` as IAM answers them."""
    chunk, marker = next_page(params.get("Marker"), params.get("MaxItems") or default_max, listing, sources,
                              invalid_marker, MARKER_MAX)
    return chunk, ({"IsTruncated": True, "Marker": marker} if marker else {"IsTruncated": False})
