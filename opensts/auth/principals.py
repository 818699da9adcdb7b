"""Who is calling: access key id (+ session token) → a ``Caller`` and the secret to verify with.

Long-term keys (``AKIA…``) come from the store through the cache; the owner is the account's
root user when the key has no IAM user. Temporary keys (``ASIA…``) are resolved from the sealed
session token alone: the token must open with our key ring, name the same access key id
(compared in constant time) and not be expired. No database read is needed for them.
"""

from __future__ import annotations

import hmac

from opensts.auth.keyring import KeyRing
from opensts.auth.session_token import SessionClaims, TokenError
from opensts.frozen import frozen
from opensts.protocol.errors import ExpiredToken, InvalidClientTokenId
from opensts.service.identifiers import root_arn, user_arn
from opensts.store.cache import StoreCache

__all__ = ["Caller", "CredentialResolver"]

_INVALID = "The security token included in the request is invalid."
_EXPIRED = "The security token included in the request is expired"


@frozen
class Caller:
    """The authenticated principal of a request."""

    type: str  # Root | IAMUser | AssumedRole | FederatedUser
    account_id: str
    arn: str
    user_id: str  # GetCallerIdentity's UserId
    name: str
    access_key_id: str
    partition: str = "aws"
    iam_user_id: str | None = None  # the IAM user behind long-term keys or GetSessionToken sessions
    session: SessionClaims | None = None  # None for long-term credentials

    @property
    def temporary(self) -> bool:
        return self.session is not None


class CredentialResolver:
    """Turns an access key id and optional session token into (caller, secret)."""

    def __init__(self, cache: StoreCache, keyring: KeyRing) -> None:
        self._cache = cache
        self._keyring = keyring

    def resolve(self, access_key_id: str, session_token: str | None, now: float) -> tuple[Caller, str]:
        if session_token:
            return self._temporary(access_key_id, session_token, now)
        return self._long_term(access_key_id)

    def _long_term(self, access_key_id: str) -> tuple[Caller, str]:
        if not access_key_id.startswith("AKIA"):
            raise InvalidClientTokenId(_INVALID)
        found = self._cache.memo("caller", access_key_id, self._load_long_term)
        if found is None:
            raise InvalidClientTokenId(_INVALID)
        return found

    def _load_long_term(self, access_key_id: str) -> tuple[Caller, str] | None:
        """Caller and secret of a long-term key (memoised under the store's generation)."""
        try:
            return self._build_long_term(access_key_id)
        except InvalidClientTokenId:
            return None

    def _build_long_term(self, access_key_id: str) -> tuple[Caller, str]:
        key = self._cache.access_key(access_key_id)
        if key is None or not key.active:
            raise InvalidClientTokenId(_INVALID)
        account = self._cache.account(key.account_id)
        partition = account.partition if account else "aws"
        if key.user_id is None:
            arn = root_arn(partition, key.account_id)
            caller = Caller("Root", key.account_id, arn, key.account_id, "root", access_key_id, partition)
            return caller, key.secret
        user = self._cache.user(key.user_id)
        if user is None:
            raise InvalidClientTokenId(_INVALID)
        arn = user_arn(partition, user.account_id, user.path, user.name)
        caller = Caller("IAMUser", user.account_id, arn, user.id, user.name, access_key_id, partition, user.id)
        return caller, key.secret

    def _temporary(self, access_key_id: str, token: str, now: float) -> tuple[Caller, str]:
        try:
            claims = self._keyring.open(token)
        except TokenError as exc:
            raise InvalidClientTokenId(_INVALID) from exc
        if not hmac.compare_digest(claims.access_key_id.encode(), access_key_id.encode()):
            raise InvalidClientTokenId(_INVALID)
        if now >= claims.expires_at:
            raise ExpiredToken(_EXPIRED)
        partition = claims.arn.split(":", 2)[1] if claims.arn.count(":") >= 2 else "aws"
        iam_user = claims.parent_id if claims.principal_type in ("IAMUser", "FederatedUser") else None
        caller = Caller(
            claims.principal_type,
            claims.account_id,
            claims.arn,
            claims.user_id,
            claims.name,
            access_key_id,
            partition,
            iam_user,
            claims,
        )
        return caller, claims.secret_access_key
