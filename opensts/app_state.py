"""Everything one server process holds, wired once at start-up (per worker process).

``build_state(settings)`` opens the store, loads the key ring and compiles the service models,
so the request path only does dictionary look-ups, one AES-GCM open for session tokens and one
HMAC chain for the signature.

Two storage seams, decided here once from the node's role (``node.py``): ``repo``/``cache`` are
the data plane (the node's own Region's database: authentication, authorization, all of STS) and
``control_repo``/``control_cache`` the control plane (the primary: every IAM, Organizations and
Account call). On a single server they are the same objects.
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
from opensts.store.database import open_node_stores
from opensts.store.region_state import RegionState, region_state_for
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
    control_repo: SqlRepository | None = None  # None: ``repo`` (single server, or a node on the primary)
    control_cache: StoreCache | None = None
    control_rules: RegionRules | None = None
    region_state: RegionState | None = None
    writable: bool = True  # the node's own database takes writes (False: a hot standby)
    control_is_remote: bool = False  # control-plane calls run off the event loop, bounded (edge/control_plane.py)

    def __post_init__(self) -> None:
        self.control_repo = self.control_repo or self.repo
        self.control_cache = self.control_cache or self.cache
        self.control_rules = self.control_rules or self.region_rules

    def written(self) -> None:
        """After a control-plane write made here: this process's caches see it at once."""
        if self.control_cache is self.cache:
            self.cache.catch_up()
        else:  # the write went to the control plane: what it touched goes from both caches
            self.cache.drop(self.control_cache.catch_up())  # type: ignore[union-attr]

    def drop_touched(self, tokens: set[tuple[str, str]]) -> None:
        """What a write in the control worker touched (edge/control_relay.py): gone from this
        process's caches before the relayed answer leaves."""
        self.cache.drop(tokens)
        if self.control_cache is not self.cache:
            self.control_cache.drop(tokens)  # type: ignore[union-attr]

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
    ``key_use_sink``: where access keys' last use is flushed in batches, off the request path
    (default: the control plane's database, which takes writes; None: not recorded)."""
    node = settings.node
    stores = open_node_stores(settings.data_dir, node.control_plane_url)
    repo = stores.data
    sink = stores.control.record_key_use if key_use_sink is _LOCAL else key_use_sink
    cache = StoreCache(repo, settings.cache_check_interval)
    control_cache = StoreCache(stores.control, settings.cache_check_interval, lazy=True) \
        if stores.control_is_remote else cache
    keyring = KeyRing(repo, writable=stores.writable)
    authorizer = Authorizer(cache)
    sts, iam = load_service("sts"), load_service("iam")
    config = settings.config
    catalog = default_catalog().with_partitions(config.partitions) if config.partitions else default_catalog()
    # A node's listeners are its Region's entry points unless marked (the CLI refused other Regions).
    listener_regions = {(lst.host, lst.port): lst.region or node.region for lst in settings.listeners
                        if lst.region or node.region}
    served = frozenset({node.region}) if node.region else None
    topology = Topology(catalog, listener_regions, config.client_regions, served=served)
    rules = RegionRules(catalog, cache)
    region_state = region_state_for(node.region_store, repo) if node.region_store or stores.writable else None
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
        sts_service=StsService(keyring, cache, authorizer, rules, settings, region_state=region_state,
                               signing_keys_writable=stores.writable),
        iam_service=IamService(stores.control, control_cache, authorizer, iam, settings, seed=stores.writable),
        organizations=OrganizationsService(control_cache, authorizer),
        audit=AuditTrail(settings.data_dir, config, settings.node) if settings.audit else None,
        key_use=KeyUseRecorder(sink),  # type: ignore[arg-type]
        control_repo=stores.control,
        control_cache=control_cache,
        control_rules=RegionRules(catalog, control_cache) if stores.control_is_remote else rules,
        region_state=region_state,
        writable=stores.writable,
        control_is_remote=stores.control_is_remote,
    )
