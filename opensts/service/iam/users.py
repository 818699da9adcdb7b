"""IAM users and their access keys."""

from __future__ import annotations

from opensts.service.context import RequestInfo
from opensts.service.iam._base import IamBase, Params, Result, action, page, tag_map, utc
from opensts.service.iam.paging import Source, keyset_page
from opensts.service.iam.tags import check_new_tags
from opensts.service.identifiers import new_access_key_id, new_secret_access_key, new_unique_id
from opensts.store.repository import EntityAlreadyExists, LimitReached, ParentGone

__all__ = ["UserActions", "ACCESS_KEYS_PER_USER"]

ACCESS_KEYS_PER_USER = 2


class UserActions(IamBase):
    @action("CreateUser")
    def create_user(self, info: RequestInfo, params: Params) -> Result:
        name, path = params["UserName"], params.get("Path", "/")
        self.authorize(info, "CreateUser", self.arn(info, f"user{path}{name}"))
        tags = tag_map(params.get("Tags"))
        check_new_tags(self, params.get("Tags"), {})
        boundary = params.get("PermissionsBoundary")
        if boundary is not None:
            self.attachable_policy(info, boundary)
        account = self.caller(info).account_id
        try:
            user = self.repo.create_user(new_unique_id("AIDA"), account, name, path)
        except EntityAlreadyExists:
            raise self.err("EntityAlreadyExists", f"User with name {name} already exists.") from None
        if tags:
            self.repo.set_tags("user", user.id, tags)
        if boundary is not None:
            self.repo.set_user_permissions_boundary(user.id, boundary)
        self.written()
        return {"User": self.user_result(info, user)}

    @action("GetUser")
    def get_user(self, info: RequestInfo, params: Params) -> Result:
        if "UserName" in params:
            user = self.authorized_user(info, params, "GetUser")
        else:
            user = self.target_user(info, params, "GetUser")
        return {"User": self.user_result(info, user)}

    @action("ListUsers")
    def list_users(self, info: RequestInfo, params: Params) -> Result:
        prefix = params.get("PathPrefix", "/")
        self.authorize(info, "ListUsers", self.arn(info, "user" + prefix))
        account = self.caller(info).account_id
        chunk, extra = keyset_page(params, "users", [Source(
            lambda key, limit: self.repo.users_page(account, prefix, key, limit), lambda r: (r.name_lower,))])
        users = []
        for row in chunk:
            item: Result = {
                "Path": row.path, "UserName": row.name, "UserId": row.id,
                "Arn": self.arn(info, f"user{row.path}{row.name}"), "CreateDate": utc(row.created_at),
            }
            users.append(item)
        return {"Users": users, **extra}

    @action("DeleteUser")
    def delete_user(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "DeleteUser")
        if self.repo.list_user_policies(user.id):
            raise self.err("DeleteConflict", "Cannot delete entity, must delete policies first.")
        if self.repo.attached_policies("user", user.id):
            raise self.err("DeleteConflict", "Cannot delete entity, must detach all policies first.")
        if self.repo.list_access_keys(user.id, user.account_id):
            raise self.err("DeleteConflict", "Cannot delete entity, must delete access keys first.")
        if self.repo.list_mfa_devices(user.account_id, user.id):
            raise self.err("DeleteConflict", "Cannot delete entity, must delete MFA device first.")
        if self.repo.groups_for_user(user.id):
            raise self.err("DeleteConflict", "Cannot delete entity, must remove user from all groups first.")
        self.refuse_user_credentials(user)  # type: ignore[attr-defined]  # LoginProfileActions
        self.repo.delete_user(user.id)
        self.written()
        return {}

    # -- access keys ----------------------------------------------------------------------
    def _key_owner(self, info: RequestInfo, params: Params, action_name: str) -> tuple[str | None, str]:
        """(user id or None for the root user, user name) of the keys an action is about."""
        caller = self.caller(info)
        if "UserName" not in params and caller.type == "Root":
            self.authorize(info, action_name, caller.arn)
            return None, "root"
        user = self.target_user(info, params, action_name)
        return user.id, user.name

    def _owned_key(self, info: RequestInfo, params: Params, action_name: str) -> tuple[str | None, str]:
        user_id, user_name = self._key_owner(info, params, action_name)
        key_id = params["AccessKeyId"]
        key = self.repo.get_access_key(key_id)
        if key is None or key.user_id != user_id or key.account_id != self.caller(info).account_id:
            raise self.no_such(f"The Access Key with id {key_id} cannot be found.")
        return user_id, user_name

    @action("CreateAccessKey")
    def create_access_key(self, info: RequestInfo, params: Params) -> Result:
        user_id, user_name = self._key_owner(info, params, "CreateAccessKey")
        account = self.caller(info).account_id
        key_id, secret = new_access_key_id("AKIA", account), new_secret_access_key()
        try:  # the limit is checked in the store, under the owner's row lock (holds under concurrency)
            self.repo.create_access_key(key_id, account, user_id, secret, limit=ACCESS_KEYS_PER_USER)
        except LimitReached:
            raise self.err("LimitExceeded", f"Cannot exceed quota for AccessKeysPerUser: {ACCESS_KEYS_PER_USER}") from None
        except ParentGone:
            raise self.no_such(f"The user with name {user_name} cannot be found.") from None
        self.written()
        return {
            "AccessKey": {
                "UserName": user_name, "AccessKeyId": key_id, "Status": "Active",
                "SecretAccessKey": secret, "CreateDate": info.now,
            }
        }

    @action("ListAccessKeys")
    def list_access_keys(self, info: RequestInfo, params: Params) -> Result:
        user_id, user_name = self._key_owner(info, params, "ListAccessKeys")
        rows = self.repo.list_access_keys(user_id, self.caller(info).account_id)
        chunk, extra = page(rows, params)
        return {
            "AccessKeyMetadata": [
                {"UserName": user_name, "AccessKeyId": r.id, "Status": r.status, "CreateDate": utc(r.created_at)}
                for r in chunk
            ],
            **extra,
        }

    @action("UpdateAccessKey")
    def update_access_key(self, info: RequestInfo, params: Params) -> Result:
        self._owned_key(info, params, "UpdateAccessKey")
        self.repo.set_access_key_status(params["AccessKeyId"], params["Status"])
        self.written()
        return {}

    @action("DeleteAccessKey")
    def delete_access_key(self, info: RequestInfo, params: Params) -> Result:
        self._owned_key(info, params, "DeleteAccessKey")
        self.repo.delete_access_key(params["AccessKeyId"])
        self.written()
        return {}
