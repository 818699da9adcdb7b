"""Everything one server process holds, wired once at start-up (per worker process).

``build_state(settings)`` opens the store, loads the key ring and compiles the service models,
so the request path only does dictionary look-ups, one AES-GCM open for session tokens and one
HMAC chain for the signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from opensts.audit.trail import AuditTrail
from opensts.auth.keyring import KeyRing
from opensts.auth.principals import Caller, CredentialResolver
from opensts.auth.sigv4 import HttpRequest, SigningKeyCache, SigV4Auth, check_scope, verify
from opensts.protocol.model import ServiceSpec, load_service
from opensts.regions.catalog import default_catalog
from opensts.regions.quotas import Quotas, QuotaStore
from opensts.regions.resolve import Topology
from opensts.regions.rules import RegionRules
from opensts.service.authorization import Authorizer
from opensts.service.context import RequestInfo
from opensts.service.iam import IamService
from opensts.service.iam.last_used import KeyUseRecorder, KeyUseSink
from opensts.service.organizations import OrganizationsService
from opensts.service.sts import StsService
from opensts.settings import Settings
from opensts.store.cache import StoreCache
from opensts.store.database import open_store
from opensts.store.repository import SqlRepository

__all__ = ["AppState", "build_state"]


@dataclass
class AppState:
    settings: Settings
    repo: SqlRepository
    cache: StoreCache
    keyring: KeyRing
    resolver: CredentialResolver
    key_cache: SigningKeyCache
    sts: ServiceSpec
    iam: ServiceSpec
    authorizer: Authorizer
    topology: Topology
    region_rules: RegionRules
    quotas: Quotas
    sts_service: StsService
    iam_service: IamService
    organizations: OrganizationsService
    audit: AuditTrail | None = None
    key_use: KeyUseRecorder | None = None

    def now(self) -> datetime:
        """The server clock (plus the configured offset, a testing aid)."""
        offset = self.settings.clock_offset
        now = datetime.now(timezone.utc)
        return now + timedelta(seconds=offset) if offset else now

    def authenticate(self, http: HttpRequest, auth: SigV4Auth, now: datetime, *, service: str,
                     regions: object | None = None) -> Caller:
        """Scope check, caller resolution and signature verification, shared by every protocol
        (awsQuery, the Account REST-JSON calls, CloudTrail's JSON 1.1)."""
        check_scope(auth, service=service, regions=regions)
        caller, secret = self.resolver.resolve(auth.access_key_id, auth.security_token, now.timestamp())
        verify(http, auth, secret, now=now, key_cache=self.key_cache)
        if self.key_use is not None and caller.session is None:  # long-term keys: note the use (in memory)
            self.key_use.note(auth.access_key_id, now.timestamp(), service, auth.region)
        return caller

    def service_for(self, signing_name: str) -> ServiceSpec:
        """The API a request is for, from its credential scope; unsigned requests are STS's."""
        return self.iam if signing_name == "iam" else self.sts

    def dispatch(self, service: str, info: RequestInfo, params: dict[str, Any]) -> dict[str, Any]:
        if service == self.sts.name:
            return self.sts_service.handle(info, params)
        return self.iam_service.handle(info, params)


_LOCAL = object()


def build_state(settings: Settings, quota_store: QuotaStore | None = None,
                key_use_sink: KeyUseSink | None | object = _LOCAL) -> AppState:
    """``quota_store``: the buckets shared by the server's workers (default: this process's own).
    ``key_use_sink``: where access keys' last use is flushed in batches (default: this server's
    own database; a fleet node on a read-only replica passes the control plane's writer, or None)."""
    repo = open_store(settings.data_dir, run_migrations=False)
    sink = repo.record_key_use if key_use_sink is _LOCAL else key_use_sink
    cache = StoreCache(repo, settings.cache_check_interval)
    keyring = KeyRing(repo)
    authorizer = Authorizer(cache)
    sts, iam = load_service("sts"), load_service("iam")
    config = settings.config
    catalog = default_catalog().with_partitions(config.partitions) if config.partitions else default_catalog()
    listener_regions = {(lst.host, lst.port): lst.region for lst in settings.listeners if lst.region}
    topology = Topology(catalog, listener_regions, config.client_regions)
    rules = RegionRules(catalog, cache)
    return AppState(
        settings=settings,
        repo=repo,
        cache=cache,
        keyring=keyring,
        resolver=CredentialResolver(cache, keyring),
        key_cache=SigningKeyCache(),
        sts=sts,
        iam=iam,
        authorizer=authorizer,
        topology=topology,
        region_rules=rules,
        quotas=Quotas(config.quotas, quota_store),
        sts_service=StsService(keyring, cache, authorizer, rules, settings),
        iam_service=IamService(repo, cache, authorizer, iam, settings),
        organizations=OrganizationsService(cache, authorizer),
        audit=AuditTrail(settings.data_dir, config, settings.node) if settings.audit else None,
        key_use=KeyUseRecorder(sink),  # type: ignore[arg-type]
    )
