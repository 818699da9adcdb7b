"""OIDC discovery and JWKS documents of the registered providers, fetched over HTTPS and cached.

* Discovery ``{issuer}/.well-known/openid-configuration`` gives ``jwks_uri``; the JWKS is fetched
  from it. Both must be HTTPS; extra trusted CAs come from ``--ca-bundle`` (on top of the system
  store).
* Each issuer's key set is cached until ``max-age`` (bounded to [5 min, 24 h], default 1 h).
* A token naming an unknown ``kid`` refetches at once (the provider rotated its signing key, as
  go-oidc and PyJWKClient do), but at most once per ``kid_refresh_interval`` (5 s) per issuer,
  so a flood of bad kids costs one fetch per interval. A fetch for a missing or expired key set
  does not count against it (a key rotated right after our first fetch works at once).
* An IdP that fails is not asked again for ``refresh_interval`` (an expired set keeps answering
  meanwhile), or ``refresh_interval / 12`` when we have no key set at all.
* Bounded timeouts and response sizes. The HTTP transport is a seam (``transport=``): tests can
  pass an ``httpx.MockTransport``-style in-memory transport as well as talk to a real server.
"""

from __future__ import annotations

import functools
import json
import re
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from joserfc.jwk import KeySet

from opensts import metrics
from opensts.frozen import frozen

__all__ = ["FetchError", "ProviderKeys", "JwksCache"]

MAX_DOCUMENT_BYTES = 512 * 1024
TIMEOUT = httpx.Timeout(5.0, connect=3.0)
MIN_TTL, DEFAULT_TTL, MAX_TTL = 300.0, 3600.0, 86400.0
_MAX_AGE = re.compile(r"max-age\s*=\s*(\d+)", re.IGNORECASE | re.ASCII)


class FetchError(Exception):
    """The provider's discovery document or JWKS could not be obtained (no detail leaves us).
    ``transient``: the IdP could not be reached (network, timeout, 5xx), not a bad document."""

    def __init__(self, what: str, *, transient: bool = False) -> None:
        super().__init__(what)
        self.transient = transient


@frozen
class ProviderKeys:
    issuer: str
    keys: KeySet
    kids: frozenset[str]
    fetched_at: float
    expires_at: float


class JwksCache:
    """issuer URL → its signing keys; thread-safe; one fetch at a time per issuer."""

    def __init__(self, *, ca_bundle: Path | None = None, transport: httpx.BaseTransport | None = None,
                 clock: Callable[[], float] = time.monotonic, refresh_interval: float = 60.0,
                 kid_refresh_interval: float = 5.0) -> None:
        self._clock = clock
        self._refresh_interval = refresh_interval
        self._kid_refresh_interval = kid_refresh_interval
        self._entries: dict[str, ProviderKeys] = {}
        self._last_attempt: dict[str, float] = {}
        self._last_kid_refresh: dict[str, float] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._client = httpx.Client(
            transport=transport, verify=_ssl_context(ca_bundle) if transport is None else True,
            timeout=TIMEOUT, follow_redirects=False, headers={"accept": "application/json"},
        )

    def keys(self, issuer: str, kid: str | None) -> ProviderKeys:
        """The issuer's keys; refetched when missing or expired, or (rate-limited) when ``kid`` is unknown."""
        entry = self._entries.get(issuer)
        now = self._clock()
        if entry is not None and now < entry.expires_at and (kid is None or kid in entry.kids):
            return entry
        with self._lock(issuer):  # one fetch at a time per issuer; the others then find its result
            entry = self._entries.get(issuer)
            now = self._clock()
            if entry is not None and now < entry.expires_at:
                if kid is None or kid in entry.kids:
                    return entry
                last = self._last_kid_refresh.get(issuer)
                if last is not None and now - last < self._kid_refresh_interval:
                    return entry  # an unknown kid refetched a moment ago: answer from what we have
                self._last_kid_refresh[issuer] = now
            else:
                last = self._last_attempt.get(issuer)
                if last is not None and now - last < self._refresh_interval and entry is not None:
                    return entry  # expired, and the IdP failed a moment ago: keep the set we have
                if last is not None and now - last < self._refresh_interval / 12 and entry is None:
                    raise FetchError(issuer, transient=True)  # a failing IdP is not retried on every request either
            self._last_attempt[issuer] = now
            try:
                entry = self._fetch(issuer, now)
            except Exception:
                metrics.jwks_fetch(issuer, False)
                raise
            metrics.jwks_fetch(issuer, True)
            self._entries[issuer] = entry
            return entry

    def _lock(self, issuer: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(issuer, threading.Lock())

    def _fetch(self, issuer: str, now: float) -> ProviderKeys:
        config, _ = self._get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        jwks_uri = config.get("jwks_uri") if isinstance(config, dict) else None
        if not isinstance(jwks_uri, str) or not jwks_uri.lower().startswith("https://"):
            raise FetchError(issuer)
        document, ttl = self._get_json(jwks_uri)
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise FetchError(issuer)
        usable = [k for k in document["keys"] if isinstance(k, dict) and k.get("use", "sig") == "sig"
                  and k.get("kty") in ("RSA", "EC")]
        try:
            keys = KeySet.import_key_set({"keys": usable})
        except Exception as exc:  # noqa: BLE001 - any malformed key makes the set unusable
            raise FetchError(issuer) from exc
        kids = frozenset(str(k["kid"]) for k in usable if "kid" in k)
        return ProviderKeys(issuer, keys, kids, now, now + ttl)

    def _get_json(self, url: str) -> tuple[Any, float]:
        if not url.lower().startswith("https://"):
            raise FetchError(url)
        try:
            with self._client.stream("GET", url) as resp:
                if resp.status_code != 200:
                    raise FetchError(url, transient=resp.status_code >= 500)
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise FetchError(url)
                ttl = _ttl(resp.headers.get("cache-control", ""))
        except httpx.HTTPError as exc:
            raise FetchError(url, transient=True) from exc
        try:
            return json.loads(bytes(body)), ttl
        except ValueError as exc:
            raise FetchError(url) from exc


def _ttl(cache_control: str) -> float:
    match = _MAX_AGE.search(cache_control)
    if not match:
        return DEFAULT_TTL
    return min(max(float(match.group(1)), MIN_TTL), MAX_TTL)


@functools.lru_cache(maxsize=8)
def _ssl_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """Made once per process and CA bundle (loading the CA certificates takes ~0.3 s; the server
    makes it in the parent, before forking its workers: edge/warmup.py ``preload``)."""
    ctx = ssl.create_default_context()
    try:
        import certifi

        ctx.load_verify_locations(certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with httpx
        pass
    if ca_bundle is not None:
        ctx.load_verify_locations(str(ca_bundle))
    return ctx
