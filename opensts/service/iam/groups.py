"""IAM groups: the groups themselves, their members, inline policies and managed attachments, and
UpdateUser (a rename or move keeps the user's id, so keys, memberships and policies follow).

A group is not a principal: it only lends its policies to its members. The authorizer
(service/authorization.py) adds every group's policies to a user's identity policies.
"""

from __future__ import annotations

from typing import Any

from opensts.policy import check_inline_quota, parse_policy
from opensts.service.context import RequestInfo
from opensts.service.iam._base import IamBase, Params, Result, action, encode_document, page, utc
from opensts.service.iam.paging import Source, keyset_page
from opensts.service.iam.managed import policy_arn_key
from opensts.service.identifiers import new_unique_id
from opensts.store.group_repository import GroupRecord
from opensts.store.repository import EntityAlreadyExists, LimitReached, ParentGone, StaleState

__all__ = ["GroupActions", "GROUPS_PER_ACCOUNT", "GROUPS_PER_USER", "POLICIES_PER_GROUP"]

GROUPS_PER_ACCOUNT = 300
GROUPS_PER_USER = 10
POLICIES_PER_GROUP = 10


class GroupActions(IamBase):
    # -- helpers --------------------------------------------------------------------------
    def group_arn(self, info: RequestInfo, group: GroupRecord) -> str:
        return self.arn(info, f"group{group.path}{group.name}")

    def group_result(self, info: RequestInfo, group: GroupRecord) -> Result:
        return {"Path": group.path, "GroupName": group.name, "GroupId": group.id,
                "Arn": self.group_arn(info, group), "CreateDate": utc(group.created_at)}

    def _no_group(self, name: str) -> Exception:
        return self.no_such(f"The group with name {name} cannot be found.")

    def authorized_group(self, info: RequestInfo, params: Params, action_name: str,
                         keys: dict[str, Any] | None = None) -> GroupRecord:
        """Authorize on the group's ARN first (before revealing whether it exists), as for roles."""
        name = params["GroupName"]
        group = self.repo.get_group(self.caller(info).account_id, name)
        self.authorize(info, action_name, self.group_arn(info, group) if group else self.arn(info, f"group/{name}"),
                       keys)
        if group is None:
            raise self._no_group(name)
        return group

    # -- groups -----------------------------------------------------------------------------
    @action("CreateGroup")
    def create_group(self, info: RequestInfo, params: Params) -> Result:
        name, path = params["GroupName"], params.get("Path", "/")
        self.authorize(info, "CreateGroup", self.arn(info, f"group{path}{name}"))
        try:  # name uniqueness and the account's quota, under the account's row lock
            group = self.repo.create_group(new_unique_id("AGPA"), self.caller(info).account_id, name, path,
                                           GROUPS_PER_ACCOUNT)
        except EntityAlreadyExists:
            raise self.err("EntityAlreadyExists", f"Group with name {name} already exists.") from None
        except LimitReached:
            raise self.err("LimitExceeded", f"Cannot exceed quota for GroupsPerAccount: {GROUPS_PER_ACCOUNT}") from None
        self.written()
        return {"Group": self.group_result(info, group)}

    @action("GetGroup")
    def get_group(self, info: RequestInfo, params: Params) -> Result:
        group = self.authorized_group(info, params, "GetGroup")
        chunk, extra = keyset_page(params, "group-members", [Source(
            lambda key, limit: self.repo.group_members_page(group.id, key, limit), lambda u: (u.name_lower,))])
        users = [{"Path": u.path, "UserName": u.name, "UserId": u.id,
                  "Arn": self.arn(info, f"user{u.path}{u.name}"), "CreateDate": utc(u.created_at)} for u in chunk]
        return {"Group": self.group_result(info, group), "Users": users, **extra}

    @action("ListGroups")
    def list_groups(self, info: RequestInfo, params: Params) -> Result:
        prefix = params.get("PathPrefix", "/")
        self.authorize(info, "ListGroups", self.arn(info, "group" + prefix))
        account = self.caller(info).account_id
        chunk, extra = keyset_page(params, "groups", [Source(
            lambda key, limit: self.repo.groups_page(account, prefix, key, limit), lambda g: (g.name.lower(),))])
        return {"Groups": [self.group_result(info, g) for g in chunk], **extra}

    @action("UpdateGroup")
    def update_group(self, info: RequestInfo, params: Params) -> Result:
        group = self.authorized_group(info, params, "UpdateGroup")
        name, path = params.get("NewGroupName", group.name), params.get("NewPath", group.path)
        if name != group.name or path != group.path:  # AWS also authorizes on the new ARN
            self.authorize(info, "UpdateGroup", self.arn(info, f"group{path}{name}"))
        try:
            self.repo.update_group(group.id, name, path)
        except EntityAlreadyExists:
            raise self.err("EntityAlreadyExists", f"Group with name {name} already exists.") from None
        self.written()
        return {}

    @action("DeleteGroup")
    def delete_group(self, info: RequestInfo, params: Params) -> Result:
        group = self.authorized_group(info, params, "DeleteGroup")
        conflict = self._delete_conflict(group)
        if conflict:
            raise self.err("DeleteConflict", conflict)
        try:  # checked again under the group's lock: a member or policy added meanwhile
            self.repo.delete_group(group.id)
        except StaleState:
            raise self.err("DeleteConflict", self._delete_conflict(group) or "Cannot delete entity.") from None
        except ParentGone:
            raise self._no_group(group.name) from None
        self.written()
        return {}

    def _delete_conflict(self, group: GroupRecord) -> str | None:
        if self.repo.group_member_count(group.id):
            return "Cannot delete entity, must remove users from group first."
        if self.repo.list_group_policies(group.id):
            return "Cannot delete entity, must delete policies first."
        if self.repo.attached_policies("group", group.id):
            return "Cannot delete entity, must detach all policies first."
        return None

    # -- members ----------------------------------------------------------------------------
    @action("AddUserToGroup")
    def add_user_to_group(self, info: RequestInfo, params: Params) -> Result:
        group = self.authorized_group(info, params, "AddUserToGroup")
        user = self.find_user(info, params["UserName"])
        try:  # the user's group count, under the user's row lock (then the group's)
            self.repo.add_user_to_group(group.id, user.id, GROUPS_PER_USER)
        except LimitReached:
            raise self.err("LimitExceeded", f"Cannot exceed quota for GroupsPerUser: {GROUPS_PER_USER}") from None
        except ParentGone:
            raise self.no_such(f"The user with name {user.name} cannot be found.") from None
        except StaleState:
            raise self._no_group(group.name) from None
        self.written()
        return {}

    @action("RemoveUserFromGroup")
    def remove_user_from_group(self, info: RequestInfo, params: Params) -> Result:
        group = self.authorized_group(info, params, "RemoveUserFromGroup")
        user = self.find_user(info, params["UserName"])
        if not self.repo.remove_user_from_group(group.id, user.id):
            raise self.no_such(f"The user with name {user.name} cannot be found.")
        self.written()
        return {}

    @action("ListGroupsForUser")
    def list_groups_for_user(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "ListGroupsForUser")
        chunk, extra = page(self.repo.groups_for_user(user.id), params)
        return {"Groups": [self.group_result(info, g) for g in chunk], **extra}

    # -- inline policies --------------------------------------------------------------------
    @action("PutGroupPolicy")
    def put_group_policy(self, info: RequestInfo, params: Params) -> Result:
        group = self.authorized_group(info, params, "PutGroupPolicy")
        name, document = params["PolicyName"], params["PolicyDocument"]
        parse_policy(document, "identity")
        others = [d for n, d in self.repo.list_group_policies(group.id).items() if n != name]
        check_inline_quota([*others, document], "group", group.name)
        try:
            self.repo.put_group_policy(group.id, name, document)
        except ParentGone:
            raise self._no_group(group.name) from None
        self.written()
        return {}

    @action("GetGroupPolicy")
    def get_group_policy(self, info: RequestInfo, params: Params) -> Result:
        group = self.authorized_group(info, params, "GetGroupPolicy")
        name = params["PolicyName"]
        document = self.repo.list_group_policies(group.id).get(name)
        if document is None:
            raise self.no_such(f"The group policy with name {name} cannot be found.")
        return {"GroupName": group.name, "PolicyName": name, "PolicyDocument": encode_document(document)}

    @action("DeleteGroupPolicy")
    def delete_group_policy(self, info: RequestInfo, params: Params) -> Result:
        group = self.authorized_group(info, params, "DeleteGroupPolicy")
        name = params["PolicyName"]
        if not self.repo.delete_group_policy(group.id, name):
            raise self.no_such(f"The group policy with name {name} cannot be found.")
        self.written()
        return {}

    @action("ListGroupPolicies")
    def list_group_policies(self, info: RequestInfo, params: Params) -> Result:
        group = self.authorized_group(info, params, "ListGroupPolicies")
        chunk, extra = page(sorted(self.repo.list_group_policies(group.id)), params)
        return {"PolicyNames": chunk, **extra}

    # -- managed attachments ----------------------------------------------------------------
    @action("AttachGroupPolicy")
    def attach_group_policy(self, info: RequestInfo, params: Params) -> Result:
        group = self.authorized_group(info, params, "AttachGroupPolicy", policy_arn_key(params))
        arn = params["PolicyArn"]
        self.attachable_policy(info, arn)
        try:  # counted under the group's row lock (then the policy's: DeletePolicy takes it)
            self.repo.attach_policy("group", group.id, arn, limit=POLICIES_PER_GROUP)
        except LimitReached:
            raise self.err("LimitExceeded", f"Cannot exceed quota for PoliciesPerGroup: {POLICIES_PER_GROUP}") from None
        except StaleState:
            raise self.no_such(f"Policy {arn} does not exist or is not attachable.") from None
        except ParentGone:
            raise self._no_group(group.name) from None
        self.written()
        return {}

    @action("DetachGroupPolicy")
    def detach_group_policy(self, info: RequestInfo, params: Params) -> Result:
        group = self.authorized_group(info, params, "DetachGroupPolicy", policy_arn_key(params))
        arn = params["PolicyArn"]
        if all(p.arn != arn for p in self.repo.attached_policies("group", group.id)):
            raise self.no_such(f"Policy {arn} was not found.")
        self.repo.detach_policy("group", group.id, arn)
        self.written()
        return {}

    @action("ListAttachedGroupPolicies")
    def list_attached_group_policies(self, info: RequestInfo, params: Params) -> Result:
        group = self.authorized_group(info, params, "ListAttachedGroupPolicies")
        prefix = params.get("PathPrefix", "/")
        attached = [p for p in self.repo.attached_policies("group", group.id) if p.path.startswith(prefix)]
        chunk, extra = page(attached, params)
        return {"AttachedPolicies": [{"PolicyName": p.name, "PolicyArn": p.arn} for p in chunk], **extra}

    # -- users ------------------------------------------------------------------------------
    @action("UpdateUser")
    def update_user(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "UpdateUser")
        name, path = params.get("NewUserName", user.name), params.get("NewPath", user.path)
        if name != user.name or path != user.path:  # AWS also authorizes on the new ARN
            self.authorize(info, "UpdateUser", self.arn(info, f"user{path}{name}"))
        try:
            self.repo.update_user(user.id, name, path)
        except EntityAlreadyExists:
            raise self.err("EntityAlreadyExists", f"User with name {name} already exists.") from None
        except ParentGone:
            raise self.no_such(f"The user with name {user.name} cannot be found.") from None
        self.written()
        return {}
