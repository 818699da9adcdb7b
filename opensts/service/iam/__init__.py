"""The IAM query API (2010-05-08), served on the same listener as STS.

``IamService`` combines one handler mixin per concept (users & access keys, roles, inline
policies, managed policies, tags, identity providers, virtual MFA, account settings, simulation,
centralized root access, groups, account details and aliases, context keys)
and builds its dispatch table once. Every action authorizes the caller for ``iam:<Action>`` on
the entity's ARN first and only ever sees entities of the caller's own account.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opensts.protocol.model import ServiceSpec
from opensts.service.authorization import Authorizer
from opensts.service.context import RequestInfo
from opensts.service.iam.account import AccountActions
from opensts.service.iam.account_details import AccountDetailActions
from opensts.service.iam.aws_managed import seed_aws_managed_policies
from opensts.service.iam.certificates import CertificateActions
from opensts.service.iam.context_keys import ContextKeyActions
from opensts.service.iam.groups import GroupActions
from opensts.service.iam.instance_profiles import InstanceProfileActions
from opensts.service.iam.login_profiles import LoginProfileActions
from opensts.service.iam.mfa_devices import MfaDeviceActions
from opensts.service.iam.service_credentials import ServiceCredentialActions
from opensts.service.iam.service_linked_roles import ServiceLinkedRoleActions
from opensts.service.iam.ssh_keys import SshKeyActions
from opensts.service.iam.inline import InlinePolicyActions
from opensts.service.iam.managed import ManagedPolicyActions
from opensts.service.iam.mfa import MfaActions
from opensts.service.iam.organizations import OrganizationFeatureActions
from opensts.service.iam.outbound import OutboundFederationActions
from opensts.service.iam.providers import ProviderActions
from opensts.service.iam.roles import RoleActions
from opensts.service.iam.simulate import SimulationActions
from opensts.service.iam.tags import TagActions
from opensts.service.iam.users import UserActions
from opensts.service.iam.tagging import EntityTaggingActions
from opensts.service.iam.last_used import LastUsedActions
from opensts.service.iam.oidc_config import OidcConfigActions
from opensts.service.iam.credential_report import CredentialReportActions
from opensts.service.iam.access_advisor import AccessAdvisorActions
from opensts.service.iam.delegation import DelegationActions
from opensts.protocol.errors import NotImplementedYet
from opensts.store.cache import StoreCache
from opensts.store.repository import EntityAlreadyExists, ParentGone, SqlRepository, StaleState

__all__ = ["IamService", "CONCURRENT_MESSAGE"]

#: IAM's documented message for ConcurrentModification (HTTP 409).
CONCURRENT_MESSAGE = ("The request was rejected because multiple requests to change this object were submitted "
                      "simultaneously. Wait a few minutes and submit your request again.")

Handler = Callable[[RequestInfo, dict[str, Any]], dict[str, Any]]


class IamService(
    UserActions,
    RoleActions,
    InlinePolicyActions,
    ManagedPolicyActions,
    TagActions,
    ProviderActions,
    MfaActions,
    AccountActions,
    SimulationActions,
    OutboundFederationActions,
    OrganizationFeatureActions,
    GroupActions,
    AccountDetailActions,
    ContextKeyActions,
    # instance profiles, service-linked roles and users' other credentials (iam-credentials)
    InstanceProfileActions,
    ServiceLinkedRoleActions,
    LoginProfileActions,
    SshKeyActions,
    CertificateActions,
    ServiceCredentialActions,
    MfaDeviceActions,
    EntityTaggingActions,
    LastUsedActions,
    OidcConfigActions,
    CredentialReportActions,
    AccessAdvisorActions,
    DelegationActions,
):
    def __init__(self, repo: SqlRepository, cache: StoreCache, authorizer: Authorizer, spec: ServiceSpec,
                 settings: Any = None, *, seed: bool = True) -> None:
        """``seed``: create the AWS managed policies missing from the store (never from a node
        whose own database is a read-only replica: the primary's first node or migrate did)."""
        self.repo = repo
        self.settings = settings
        self.cache = cache
        self.authorizer = authorizer
        self.spec = spec
        if seed and seed_aws_managed_policies(repo):
            cache.invalidate()
        self.handlers: dict[str, Handler] = {}
        for attr in dir(type(self)):
            name = getattr(getattr(type(self), attr), "__iam_action__", None)
            if name:
                self.handlers[name] = getattr(self, attr)

    def handle(self, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        handler = self.handlers.get(info.action)
        if handler is None:
            raise NotImplementedYet(f"{info.action} is not implemented by this OpenSTS server yet.")
        try:
            return handler(info, params)
        except ParentGone:  # the entity the request names was deleted by a concurrent request
            raise self.no_such("The entity named in the request was deleted by a concurrent request.") from None
        except (EntityAlreadyExists, StaleState):
            # A store conflict no handler turned into its own error (a concurrent write won the
            # race): AWS's answer to that, never a 500.
            raise self.err("ConcurrentModification", CONCURRENT_MESSAGE) from None
