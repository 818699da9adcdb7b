"""Tags on roles and users: TagRole/UntagRole/ListRoleTags, TagUser/UntagUser/ListUserTags.

Keys are unique case-insensitively (the store keeps the latest spelling); an entity carries at
most 50 tags.
"""

from __future__ import annotations

from typing import Any

from opensts.service.context import RequestInfo
from opensts.service.iam._base import MAX_TAGS, IamBase, Params, Result, action, page, tag_list, tag_map
from opensts.store.repository import LimitReached, ParentGone

__all__ = ["TagActions", "check_new_tags"]

_DUPLICATE = "Duplicate tag keys found. Please note that Tag keys are case insensitive."
_TOO_MANY = "The number of tags has reached the maximum limit."


def check_new_tags(svc: IamBase, tags: list[dict[str, Any]] | None, existing: dict[str, str]) -> None:
    """Refuse duplicate keys (case-insensitive) in one request, and more than 50 tags in all."""
    keys = [t["Key"].lower() for t in tags or ()]
    if len(set(keys)) != len(keys):
        raise svc.invalid(_DUPLICATE)
    if len(set(keys) | {k.lower() for k in existing}) > MAX_TAGS:
        raise svc.err("LimitExceeded", _TOO_MANY)


class TagActions(IamBase):
    def _tag(self, entity_type: str, entity_id: str, name: str, tags: list[dict[str, Any]]) -> Result:
        check_new_tags(self, tags, {})  # duplicates in the request, and more than 50 on their own
        try:  # the total is counted under the entity's row lock, so concurrent TagX calls cannot pass 50
            self.repo.set_tags(entity_type, entity_id, tag_map(tags), limit=MAX_TAGS)
        except LimitReached:
            raise self.err("LimitExceeded", _TOO_MANY) from None
        except ParentGone:
            raise self.no_such(f"The {entity_type} with name {name} cannot be found.") from None
        self.written()
        return {}

    def _untag(self, entity_type: str, entity_id: str, keys: list[str]) -> Result:
        self.repo.remove_tags(entity_type, entity_id, keys)
        self.written()
        return {}

    def _list(self, entity_type: str, entity_id: str, params: Params) -> Result:
        chunk, extra = page(tag_list(self.repo.get_tags(entity_type, entity_id)), params)
        return {"Tags": chunk, **extra}

    @action("TagRole")
    def tag_role(self, info: RequestInfo, params: Params) -> Result:
        role = self.authorized_role(info, params, "TagRole")
        return self._tag("role", role.id, role.name, params["Tags"])

    @action("UntagRole")
    def untag_role(self, info: RequestInfo, params: Params) -> Result:
        return self._untag("role", self.authorized_role(info, params, "UntagRole").id, params["TagKeys"])

    @action("ListRoleTags")
    def list_role_tags(self, info: RequestInfo, params: Params) -> Result:
        return self._list("role", self.authorized_role(info, params, "ListRoleTags").id, params)

    @action("TagUser")
    def tag_user(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "TagUser")
        return self._tag("user", user.id, user.name, params["Tags"])

    @action("UntagUser")
    def untag_user(self, info: RequestInfo, params: Params) -> Result:
        return self._untag("user", self.authorized_user(info, params, "UntagUser").id, params["TagKeys"])

    @action("ListUserTags")
    def list_user_tags(self, info: RequestInfo, params: Params) -> Result:
        return self._list("user", self.authorized_user(info, params, "ListUserTags").id, params)
