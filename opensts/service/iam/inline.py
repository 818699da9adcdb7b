"""Inline policies of roles and users: Put/Get/Delete/List{Role,User}Policy (+ies)."""

from __future__ import annotations

from opensts.policy import check_inline_quota, parse_policy
from opensts.service.context import RequestInfo
from opensts.service.iam._base import IamBase, Params, Result, action, encode_document, page

__all__ = ["InlinePolicyActions"]


class InlinePolicyActions(IamBase):
    # -- roles ----------------------------------------------------------------------------
    @action("PutRolePolicy")
    def put_role_policy(self, info: RequestInfo, params: Params) -> Result:
        role = self.authorized_role(info, params, "PutRolePolicy")
        self.refuse_service_linked(role)  # type: ignore[attr-defined]  # ServiceLinkedRoleActions
        name, document = params["PolicyName"], params["PolicyDocument"]
        parse_policy(document, "identity")
        others = [d for n, d in self.repo.list_role_policies(role.id).items() if n != name]
        check_inline_quota([*others, document], "role", role.name)
        self.repo.put_role_policy(role.id, name, document)
        self.written()
        return {}

    @action("GetRolePolicy")
    def get_role_policy(self, info: RequestInfo, params: Params) -> Result:
        role = self.authorized_role(info, params, "GetRolePolicy")
        name = params["PolicyName"]
        document = self.repo.list_role_policies(role.id).get(name)
        if document is None:
            raise self.no_such(f"The role policy with name {name} cannot be found.")
        return {"RoleName": role.name, "PolicyName": name, "PolicyDocument": encode_document(document)}

    @action("DeleteRolePolicy")
    def delete_role_policy(self, info: RequestInfo, params: Params) -> Result:
        role = self.authorized_role(info, params, "DeleteRolePolicy")
        self.refuse_service_linked(role)  # type: ignore[attr-defined]  # ServiceLinkedRoleActions
        name = params["PolicyName"]
        if name not in self.repo.list_role_policies(role.id):
            raise self.no_such(f"The role policy with name {name} cannot be found.")
        self.repo.delete_role_policy(role.id, name)
        self.written()
        return {}

    @action("ListRolePolicies")
    def list_role_policies(self, info: RequestInfo, params: Params) -> Result:
        role = self.authorized_role(info, params, "ListRolePolicies")
        chunk, extra = page(sorted(self.repo.list_role_policies(role.id)), params)
        return {"PolicyNames": chunk, **extra}

    # -- users ----------------------------------------------------------------------------
    @action("PutUserPolicy")
    def put_user_policy(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "PutUserPolicy")
        name, document = params["PolicyName"], params["PolicyDocument"]
        parse_policy(document, "identity")
        others = [d for n, d in self.repo.list_user_policies(user.id).items() if n != name]
        check_inline_quota([*others, document], "user", user.name)
        self.repo.put_user_policy(user.id, name, document)
        self.written()
        return {}

    @action("GetUserPolicy")
    def get_user_policy(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "GetUserPolicy")
        name = params["PolicyName"]
        document = self.repo.list_user_policies(user.id).get(name)
        if document is None:
            raise self.no_such(f"The user policy with name {name} cannot be found.")
        return {"UserName": user.name, "PolicyName": name, "PolicyDocument": encode_document(document)}

    @action("DeleteUserPolicy")
    def delete_user_policy(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "DeleteUserPolicy")
        name = params["PolicyName"]
        if name not in self.repo.list_user_policies(user.id):
            raise self.no_such(f"The user policy with name {name} cannot be found.")
        self.repo.delete_user_policy(user.id, name)
        self.written()
        return {}

    @action("ListUserPolicies")
    def list_user_policies(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "ListUserPolicies")
        chunk, extra = page(sorted(self.repo.list_user_policies(user.id)), params)
        return {"PolicyNames": chunk, **extra}
