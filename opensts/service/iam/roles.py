"""IAM roles: create/get/list/update/delete, trust policies, permissions boundaries."""

from __future__ import annotations

import json
import re
from typing import Any

from opensts.policy import MalformedPolicyDocument, parse_policy
from opensts.service.context import RequestInfo
from opensts.service.iam._base import IamBase, Params, Result, action, tag_map
from opensts.service.iam.paging import Source, keyset_page
from opensts.service.iam.tags import check_new_tags
from opensts.service.identifiers import new_unique_id
from opensts.store.repository import EntityAlreadyExists

__all__ = ["RoleActions"]

_ENTITY_ARN = re.compile(r"^arn:[a-z-]+:iam::(\d{12}):(user|role)(/(?:[^/]+/)*)?([^/]+)\Z", re.ASCII)


class RoleActions(IamBase):
    # -- trust policies ---------------------------------------------------------------------
    def check_trust_policy(self, document: str) -> dict[str, str]:
        """Validate as a trust policy; every user/role principal in one of our accounts must exist
        (``Invalid principal in policy: "AWS":"arn:…"``, as IAM answers). Returns ARN → unique id
        of those principals: IAM binds the policy to the entity, not to its name."""
        parse_policy(document, "trust")
        statements = json.loads(document).get("Statement")
        if isinstance(statements, dict):
            statements = [statements]
        ids: dict[str, str] = {}
        for st in statements or ():
            principal = st.get("Principal") if isinstance(st, dict) else None
            values: Any = principal.get("AWS") if isinstance(principal, dict) else None
            for value in [values] if isinstance(values, str) else values or ():
                if not isinstance(value, str):
                    continue
                found, unique_id = self._principal_id(value)
                if not found:
                    raise MalformedPolicyDocument(f'Invalid principal in policy: "AWS":"{value}"')
                if unique_id:
                    ids[value] = unique_id
        return ids

    def _principal_id(self, value: str) -> tuple[bool, str | None]:
        """(acceptable, unique id when the principal is a user/role of this installation)."""
        match = _ENTITY_ARN.match(value)
        if match is None:
            return True, None  # account ids, "*", root ARNs, unique ids: always accepted
        account, kind, path, name = match.group(1), match.group(2), match.group(3) or "/", match.group(4)
        if self.cache.account(account) is None:
            return True, None  # not an account of this installation: nothing to check against
        if kind == "role":
            role = self.repo.get_role(account, name)
            ok = role is not None and role.path == path and role.name == name
            return ok, role.id if ok and role else None
        user = self.repo.get_user_by_name(account, name)
        ok = user is not None and user.path == path and user.name == name
        return ok, user.id if ok and user else None

    # -- actions ----------------------------------------------------------------------------
    @action("CreateRole")
    def create_role(self, info: RequestInfo, params: Params) -> Result:
        name, path = params["RoleName"], params.get("Path", "/")
        self.authorize(info, "CreateRole", self.arn(info, f"role{path}{name}"))
        document = params["AssumeRolePolicyDocument"]
        principal_ids = self.check_trust_policy(document)
        check_new_tags(self, params.get("Tags"), {})
        boundary = params.get("PermissionsBoundary")
        if boundary is not None:
            self.attachable_policy(info, boundary)
        try:
            role = self.repo.create_role(
                new_unique_id("AROA"), self.caller(info).account_id, name, path, document,
                description=params.get("Description"),
                max_session_duration=params.get("MaxSessionDuration", 3600),
                permissions_boundary_arn=boundary, tags=tag_map(params.get("Tags")),
                trust_principal_ids=principal_ids,
            )
        except EntityAlreadyExists:
            raise self.err("EntityAlreadyExists", f"Role with name {name} already exists.") from None
        self.written()
        result = self.role_result(info, role)
        result.pop("RoleLastUsed", None)
        return {"Role": result}

    @action("GetRole")
    def get_role(self, info: RequestInfo, params: Params) -> Result:
        return {"Role": self.role_result(info, self.authorized_role(info, params, "GetRole"))}

    @action("ListRoles")
    def list_roles(self, info: RequestInfo, params: Params) -> Result:
        prefix = params.get("PathPrefix", "/")
        self.authorize(info, "ListRoles", self.arn(info, "role" + prefix))
        account = self.caller(info).account_id
        chunk, extra = keyset_page(params, "roles", [Source(
            lambda key, limit: self.repo.roles_page(account, prefix, key, limit), lambda r: (r.name.lower(),))])
        return {"Roles": [self.role_result(info, r, full=False) for r in chunk], **extra}

    @action("UpdateRole")
    def update_role(self, info: RequestInfo, params: Params) -> Result:
        role = self.authorized_role(info, params, "UpdateRole")
        values: dict[str, Any] = {}
        if "Description" in params:
            values["description"] = params["Description"]
        if "MaxSessionDuration" in params:
            values["max_session_duration"] = params["MaxSessionDuration"]
        if values:
            self.repo.update_role(role.id, **values)
            self.written()
        return {}

    @action("UpdateRoleDescription")
    def update_role_description(self, info: RequestInfo, params: Params) -> Result:
        role = self.authorized_role(info, params, "UpdateRoleDescription")
        self.repo.update_role(role.id, description=params["Description"])
        self.written()
        return {"Role": self.role_result(info, self.find_role(info, role.name))}

    @action("UpdateAssumeRolePolicy")
    def update_assume_role_policy(self, info: RequestInfo, params: Params) -> Result:
        role = self.authorized_role(info, params, "UpdateAssumeRolePolicy")
        self.refuse_service_linked(role)  # type: ignore[attr-defined]  # ServiceLinkedRoleActions
        principal_ids = self.check_trust_policy(params["PolicyDocument"])
        self.repo.update_role(role.id, trust_policy=params["PolicyDocument"], trust_principal_ids=principal_ids)
        self.written()
        return {}

    @action("DeleteRole")
    def delete_role(self, info: RequestInfo, params: Params) -> Result:
        role = self.authorized_role(info, params, "DeleteRole")
        self.refuse_service_linked(role)  # type: ignore[attr-defined]  # ServiceLinkedRoleActions
        if self.repo.instance_profiles_for_role(role.id):
            raise self.err("DeleteConflict", "Cannot delete entity, must remove roles from instance profile first.")
        if self.repo.attached_policies("role", role.id):
            raise self.err("DeleteConflict", "Cannot delete entity, must detach all policies first.")
        if self.repo.list_role_policies(role.id):
            raise self.err("DeleteConflict", "Cannot delete entity, must delete policies first.")
        self.repo.delete_role(role.id)
        self.written()
        return {}

    # -- permissions boundaries ---------------------------------------------------------------
    @action("PutRolePermissionsBoundary")
    def put_role_permissions_boundary(self, info: RequestInfo, params: Params) -> Result:
        role = self.authorized_role(info, params, "PutRolePermissionsBoundary")
        self.refuse_service_linked(role)  # type: ignore[attr-defined]  # ServiceLinkedRoleActions
        arn = self._boundary_policy(info, params["PermissionsBoundary"])
        self.repo.update_role(role.id, permissions_boundary_arn=arn)
        self.written()
        return {}

    @action("DeleteRolePermissionsBoundary")
    def delete_role_permissions_boundary(self, info: RequestInfo, params: Params) -> Result:
        role = self.authorized_role(info, params, "DeleteRolePermissionsBoundary")
        if role.permissions_boundary_arn is None:
            raise self.no_such(f"The role with name {role.name} does not have a permissions boundary.")
        self.repo.update_role(role.id, permissions_boundary_arn=None)
        self.written()
        return {}

    @action("PutUserPermissionsBoundary")
    def put_user_permissions_boundary(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "PutUserPermissionsBoundary")
        arn = self._boundary_policy(info, params["PermissionsBoundary"])
        self.repo.set_user_permissions_boundary(user.id, arn)
        self.written()
        return {}

    @action("DeleteUserPermissionsBoundary")
    def delete_user_permissions_boundary(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "DeleteUserPermissionsBoundary")
        if self.repo.user_permissions_boundary(user.id) is None:
            raise self.no_such(f"The user with name {user.name} does not have a permissions boundary.")
        self.repo.set_user_permissions_boundary(user.id, None)
        self.written()
        return {}

    def _boundary_policy(self, info: RequestInfo, arn: str) -> str:
        policy = self.visible_policy(info, arn)
        if policy is None:
            raise self.invalid(f"ARN {arn} is not valid.") if ":policy/" not in arn else self.no_such(
                f"Policy {arn} does not exist or is not attachable."
            )
        return arn
