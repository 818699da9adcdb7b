"""Shared plumbing of the IAM handlers: the ``@action`` marker, ARNs, look-ups that raise AWS's
``NoSuchEntity``, document encoding, tags and pagination.

Every handler class in this package is a mixin of ``IamBase``; ``IamService`` (``__init__``)
combines them and builds the dispatch table once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, TypeVar

from opensts.auth.principals import Caller
from opensts.protocol.errors import AccessDenied, ServiceError, ValidationError
from opensts.protocol.model import ServiceSpec
from opensts.protocol.numbers import parse_ascii_int
from opensts.service.authorization import Authorizer
from opensts.service.context import RequestInfo
from opensts.store.cache import StoreCache
from opensts.store.iam_repository import PolicyRecord, RoleRecord
from opensts.store.repository import SqlRepository, UserRecord

__all__ = ["action", "IamBase", "Params", "Result", "encode_document", "utc", "MAX_TAGS"]

Params = dict[str, Any]
Result = dict[str, Any]
T = TypeVar("T")

MAX_TAGS = 50


def action(name: str) -> Callable[[Callable[..., Result]], Callable[..., Result]]:
    """Mark a method as the handler of the IAM action ``name``."""

    def mark(fn: Callable[..., Result]) -> Callable[..., Result]:
        fn.__iam_action__ = name  # type: ignore[attr-defined]
        return fn

    return mark


def utc(epoch: int | float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=timezone.utc)


_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()")
#: every byte (as the latin-1 code point it decodes to) → itself if safe, else %XX
_QUOTED = {b: (chr(b) if b in _SAFE else f"%{b:02X}") for b in range(256)}


def encode_document(text: str) -> str:
    """Policy documents travel URL-encoded in IAM's XML (boto3 decodes them back to dicts).

    ``quote(text, safe="-_.!~*'()")``, in C: the UTF-8 bytes, read as latin-1 code points, go
    through one ``str.translate`` table (a listing page encodes a document per role: ``quote``'s
    per-byte Python loop was the largest cost of a page of 1000 roles). Documents up to
    ``_MEMO_MAX`` characters are memoized: an account's roles mostly share a handful of trust
    policies (a service's), so a page of 1000 roles encodes a few documents, not 1000 (~3.5 µs
    each); the memo holds at most ``_MEMO_SIZE`` of them (≤ 4 MB)."""
    return _encode_memo(text) if len(text) <= _MEMO_MAX else _encode(text)


_MEMO_MAX, _MEMO_SIZE = 4096, 256


def _encode(text: str) -> str:
    return text.encode("utf-8").decode("latin-1").translate(_QUOTED)


_encode_memo = lru_cache(maxsize=_MEMO_SIZE)(_encode)


class IamBase:
    """State and helpers every handler mixin uses."""

    repo: SqlRepository
    cache: StoreCache
    authorizer: Authorizer
    spec: ServiceSpec

    # -- errors ---------------------------------------------------------------------------
    def err(self, code: str, message: str) -> ServiceError:
        return self.spec.modelled_error(code, message)

    def no_such(self, message: str) -> ServiceError:
        return self.err("NoSuchEntity", message)

    def invalid(self, message: str) -> ServiceError:
        return self.err("InvalidInput", message)

    def written(self) -> None:
        """After every write: this process drops what it touched at once (others within a second)."""
        self.cache.catch_up()

    # -- caller, ARNs, authorization ----------------------------------------------------------
    @staticmethod
    def caller(info: RequestInfo) -> Caller:
        if info.caller is None:  # pragma: no cover - the edge refuses unsigned IAM calls
            raise AccessDenied("Request is missing Authentication Token")
        return info.caller

    def arn(self, info: RequestInfo, resource: str) -> str:
        caller = self.caller(info)
        return f"arn:{caller.partition}:iam::{caller.account_id}:{resource}"

    def authorize(self, info: RequestInfo, action_name: str, resource: str,
                  keys: dict[str, Any] | None = None) -> None:
        """``keys``: the action's own condition keys (``iam:PolicyARN`` …)."""
        self.authorizer.authorize(info, f"iam:{action_name}", resource, keys)

    # -- users ----------------------------------------------------------------------------
    def user_arn(self, info: RequestInfo, user: UserRecord) -> str:
        return self.arn(info, f"user{user.path}{user.name}")

    def find_user(self, info: RequestInfo, name: str) -> UserRecord:
        user = self.repo.get_user_by_name(self.caller(info).account_id, name)
        if user is None:
            raise self.no_such(f"The user with name {name} cannot be found.")
        return user

    def target_user(self, info: RequestInfo, params: Params, action_name: str,
                    keys: dict[str, Any] | None = None) -> UserRecord:
        """The user named by ``UserName`` (or, when absent, the calling IAM user), authorized."""
        name = params.get("UserName")
        caller = self.caller(info)
        if name is None:
            if caller.type != "IAMUser" or caller.iam_user_id is None:
                raise ValidationError("Must specify userName when calling with non-User credentials")
            user = self.repo.get_user(caller.iam_user_id)
            if user is None:  # pragma: no cover - deleted while signed in
                raise self.no_such(f"The user with name {caller.name} cannot be found.")
        else:
            user = self.find_user(info, name)
        self.authorize(info, action_name, self.user_arn(info, user), keys)
        return user

    def user_result(self, info: RequestInfo, user: UserRecord, *, tags: bool = True) -> Result:
        row = self.repo.user_row(user.id)
        out: Result = {
            "Path": user.path,
            "UserName": user.name,
            "UserId": user.id,
            "Arn": self.user_arn(info, user),
            "CreateDate": utc(row.created_at if row else 0),
        }
        if row is not None and row.permissions_boundary_arn:
            out["PermissionsBoundary"] = boundary_result(row.permissions_boundary_arn)
        if tags:
            tag_map = self.repo.get_tags("user", user.id)
            if tag_map:
                out["Tags"] = tag_list(tag_map)
        return out

    # -- roles ----------------------------------------------------------------------------
    def role_arn(self, info: RequestInfo, role: RoleRecord) -> str:
        return self.arn(info, f"role{role.path}{role.name}")

    def find_role(self, info: RequestInfo, name: str) -> RoleRecord:
        role = self.repo.get_role(self.caller(info).account_id, name)
        if role is None:
            raise self.no_such(f"The role with name {name} cannot be found.")
        return role

    def authorized_role(self, info: RequestInfo, params: Params, action_name: str,
                        keys: dict[str, Any] | None = None) -> RoleRecord:
        """Authorize on the role's ARN first (as AWS does, before revealing whether it exists)."""
        name = params["RoleName"]
        role = self.repo.get_role(self.caller(info).account_id, name)
        resource = self.role_arn(info, role) if role else self.arn(info, f"role/{name}")
        self.authorize(info, action_name, resource, keys)
        if role is None:
            raise self.no_such(f"The role with name {name} cannot be found.")
        return role

    def authorized_user(self, info: RequestInfo, params: Params, action_name: str,
                        keys: dict[str, Any] | None = None) -> UserRecord:
        """The user named by ``UserName``, authorized on its ARN even when it does not exist (so a
        denied caller learns nothing); where the model lets ``UserName`` out, the calling user."""
        name = params.get("UserName")
        if name is None:
            return self.target_user(info, params, action_name, keys)
        user = self.repo.get_user_by_name(self.caller(info).account_id, name)
        resource = self.user_arn(info, user) if user else self.arn(info, f"user/{name}")
        self.authorize(info, action_name, resource, keys)
        if user is None:
            raise self.no_such(f"The user with name {name} cannot be found.")
        return user

    def role_result(self, info: RequestInfo, role: RoleRecord, *, full: bool = True) -> Result:
        out: Result = {
            "Path": role.path,
            "RoleName": role.name,
            "RoleId": role.id,
            "Arn": self.role_arn(info, role),
            "CreateDate": utc(role.created_at),
            "AssumeRolePolicyDocument": encode_document(role.trust_policy),
            "MaxSessionDuration": role.max_session_duration,
        }
        if role.description is not None:
            out["Description"] = role.description
        if full and role.permissions_boundary_arn:
            out["PermissionsBoundary"] = boundary_result(role.permissions_boundary_arn)
        if full and role.tags:
            out["Tags"] = tag_list(role.tags)
        if full:
            out["RoleLastUsed"] = {}
        return out

    # -- managed policies -------------------------------------------------------------------
    def visible_policy(self, info: RequestInfo, arn: str) -> PolicyRecord | None:
        """A managed policy this caller's account may see: its own, or an AWS managed one."""
        policy = self.repo.get_policy(arn)
        if policy is None:
            return None
        if policy.account_id is not None and policy.account_id != self.caller(info).account_id:
            return None
        return policy

    def attachable_policy(self, info: RequestInfo, arn: str) -> PolicyRecord:
        policy = self.visible_policy(info, arn)
        if policy is None:
            raise self.no_such(f"Policy {arn} does not exist or is not attachable.")
        return policy


def boundary_result(arn: str) -> Result:
    return {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": arn}


def tag_list(tags: dict[str, str]) -> list[Result]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items(), key=lambda kv: kv[0].lower())]


def page(items: Sequence[T], params: Params, default_max: int = 100) -> tuple[list[T], Result]:
    """IAM pagination: ``Marker`` is an opaque offset, ``MaxItems`` caps the page."""
    marker = params.get("Marker")
    start = 0
    if marker is not None:
        offset = parse_ascii_int(marker)
        if offset is None:
            raise ServiceError("Invalid Marker.", code="InvalidInput", status=400)
        start = offset
    size = params.get("MaxItems") or default_max
    chunk = list(items[start:start + size])
    extra: Result = {"IsTruncated": start + size < len(items)}
    if extra["IsTruncated"]:
        extra["Marker"] = str(start + size)
    return chunk, extra


def tag_map(tags: Iterable[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in (tags or ())}
