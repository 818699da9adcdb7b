"""Region rules for one request: opt-in enablement, STS activation, token versions.

* Opt-in Regions answer an account only after it enabled the Region: ``InvalidClientTokenId``
  otherwise (as AWS answers). For credential-issuing calls the account that counts is the one
  that will own the credentials (the role's account for AssumeRole), not the caller's (§5.2).
* STS can be deactivated per account in Regions enabled by default where the catalog allows
  it (never us-east-1; the global endpoint itself cannot be, but a global request served in a
  Region follows that Region's state); issuing there is ``RegionDisabledException`` (403).
* Session-token versions: regional endpoints issue v2 tokens (valid everywhere); the global
  endpoint issues v1 tokens (valid only in Regions enabled by default) unless the owning account
  set ``GlobalEndpointTokenVersion=v2Token``. A v1 token used in an opt-in Region is refused.
"""

from __future__ import annotations

from opensts.auth.principals import Caller
from opensts.protocol.errors import InvalidClientTokenId, ServiceError
from opensts.regions.catalog import Catalog
from opensts.regions.resolve import GLOBAL, Placement
from opensts.store.cache import StoreCache

__all__ = ["RegionRules", "RegionDisabled", "ISSUING_ACTIONS", "ENABLED", "DISABLED", "ENABLED_BY_DEFAULT"]

ENABLED, DISABLED, ENABLED_BY_DEFAULT = "ENABLED", "DISABLED", "ENABLED_BY_DEFAULT"
ISSUING_ACTIONS = frozenset(
    {
        "AssumeRole",
        "AssumeRoleWithSAML",
        "AssumeRoleWithWebIdentity",
        "AssumeRoot",
        "GetFederationToken",
        "GetSessionToken",
        "GetDelegatedAccessToken",
        "GetScopedCredentials",
    }
)
_INVALID = "The security token included in the request is invalid."


class RegionDisabled(ServiceError):
    code = "RegionDisabledException"
    status = 403


class RegionRules:
    def __init__(self, catalog: Catalog, cache: StoreCache) -> None:
        self.catalog = catalog
        self._cache = cache

    def _state(self, account_id: str) -> dict[str, tuple[str | None, bool | None]]:
        return self._cache.memo("account_regions", account_id, self._cache.repo.account_regions,  # type: ignore[attr-defined]
                                (("account", account_id),))

    def opt_status(self, account_id: str, region: str) -> str:
        reg = self.catalog.region(region)
        if reg is None:
            return DISABLED
        if not reg.opt_in:
            return ENABLED_BY_DEFAULT
        status, _ = self._state(account_id).get(region, (None, None))
        return status or DISABLED

    def region_enabled(self, account_id: str, region: str) -> bool:
        return self.opt_status(account_id, region) in (ENABLED, ENABLED_BY_DEFAULT)

    def sts_active(self, account_id: str, region: str) -> bool:
        reg = self.catalog.region(region)
        if reg is None:
            return False
        if reg.opt_in:
            return self.region_enabled(account_id, region)
        _, active = self._state(account_id).get(region, (None, None))
        return active is not False or not reg.can_deactivate

    # -- checks ---------------------------------------------------------------------------
    def check_caller(self, caller: Caller, placement: Placement, action: str) -> None:
        """The credentials used must be valid where the request is served."""
        region = placement.serving_region
        reg = self.catalog.region(region)
        if reg is None or not reg.opt_in:
            return
        session = caller.session
        if session is not None and session.token_version == 1:
            raise InvalidClientTokenId(_INVALID)
        if action not in ISSUING_ACTIONS and not self.region_enabled(caller.account_id, region):
            raise InvalidClientTokenId(_INVALID)

    def check_issue(self, owner_account: str, placement: Placement) -> None:
        """May STS issue credentials owned by ``owner_account`` where this request is served?"""
        region = placement.serving_region
        if not self.region_enabled(owner_account, region):
            raise InvalidClientTokenId(_INVALID)
        if not self.sts_active(owner_account, region):
            raise RegionDisabled(
                f"STS is not activated in this region for account:{owner_account}. Your account administrator "
                "can activate STS in this region using the IAM Console."
            )

    def token_version(self, owner_account: str, placement: Placement) -> int:
        if placement.endpoint_type != GLOBAL:
            return 2
        return int(self._cache.repo.global_endpoint_token_version(owner_account))  # type: ignore[attr-defined]
