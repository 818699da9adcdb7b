"""Instance profiles: the container that hands a role to an EC2 instance (one role per profile,
as on AWS), their tags, and the role → profiles read other parts need (DeleteRole's conflict,
RoleDetail.InstanceProfileList)."""

from __future__ import annotations

from opensts.service.context import RequestInfo
from opensts.service.iam._base import MAX_TAGS, IamBase, Params, Result, action, page, tag_list, tag_map, utc
from opensts.service.iam.paging import Source, keyset_page
from opensts.service.iam.tags import check_new_tags
from opensts.service.identifiers import new_unique_id
from opensts.store.credentials_repository import InstanceProfileRecord
from opensts.store.iam_repository import RoleRecord
from opensts.store.repository import EntityAlreadyExists, LimitReached, ParentGone, StaleState

__all__ = ["InstanceProfileActions", "ROLES_PER_INSTANCE_PROFILE", "tag_condition_keys"]

ROLES_PER_INSTANCE_PROFILE = 1
_ROLE_LIMIT = f"Cannot exceed quota for InstanceSessionsPerInstanceProfile: {ROLES_PER_INSTANCE_PROFILE}"
_HOLDS_ROLES = "Cannot delete entity, must remove roles from instance profile first."
_TOO_MANY_TAGS = "The number of tags has reached the maximum limit."


def tag_condition_keys(request_tags: list[dict[str, str]] | None = None, tag_keys: list[str] | None = None,
                       resource_tags: dict[str, str] | None = None) -> dict[str, object]:
    """``aws:RequestTag/K``, ``aws:TagKeys`` and ``aws:ResourceTag/K`` of a request, for its decision."""
    keys: dict[str, object] = {f"aws:ResourceTag/{k}": v for k, v in (resource_tags or {}).items()}
    if request_tags:
        keys.update({f"aws:RequestTag/{t['Key']}": t.get("Value", "") for t in request_tags})
        keys["aws:TagKeys"] = [t["Key"] for t in request_tags]
    if tag_keys:
        keys["aws:TagKeys"] = list(tag_keys)
    return keys


class InstanceProfileActions(IamBase):
    def profile_arn(self, info: RequestInfo, profile: InstanceProfileRecord) -> str:
        return self.arn(info, f"instance-profile{profile.path}{profile.name}")

    def _authorized_profile(self, info: RequestInfo, params: Params, action_name: str) -> InstanceProfileRecord:
        """Authorize on the profile's ARN first (even when it does not exist), then look it up."""
        name = params["InstanceProfileName"]
        profile = self.repo.get_instance_profile(self.caller(info).account_id, name)
        resource = self.profile_arn(info, profile) if profile else self.arn(info, f"instance-profile/{name}")
        keys = tag_condition_keys(params.get("Tags"), params.get("TagKeys"),
                                  self.repo.get_tags("instprof", profile.id) if profile else None)
        self.authorizer.authorize(info, f"iam:{action_name}", resource, keys)
        if profile is None:
            raise self.no_such(f"Instance Profile {name} cannot be found.")
        return profile

    def profile_results(self, info: RequestInfo, profiles: list[InstanceProfileRecord]) -> list[Result]:
        """A page of profiles: their roles and tags read for the whole page (two queries)."""
        ids = [p.id for p in profiles]
        roles, tags = self.repo.profile_roles_of(ids), self.repo.tags_of("instprof", ids)
        return [self.profile_result(info, p, roles.get(p.id, []), tags.get(p.id, {})) for p in profiles]

    def profile_result(self, info: RequestInfo, profile: InstanceProfileRecord,
                       roles: list[RoleRecord | None] | None = None, tags: dict[str, str] | None = None) -> Result:
        if roles is None:
            roles = [self.repo.get_role_by_id(role_id) for role_id in self.repo.instance_profile_role_ids(profile.id)]
        out: Result = {
            "Path": profile.path,
            "InstanceProfileName": profile.name,
            "InstanceProfileId": profile.id,
            "Arn": self.profile_arn(info, profile),
            "CreateDate": utc(profile.created_at),
            "Roles": [self.role_result(info, r, full=False) for r in roles if r is not None],
        }
        if tags is None:
            tags = self.repo.get_tags("instprof", profile.id)
        if tags:
            out["Tags"] = tag_list(tags)
        return out

    @action("CreateInstanceProfile")
    def create_instance_profile(self, info: RequestInfo, params: Params) -> Result:
        name, path = params["InstanceProfileName"], params.get("Path", "/")
        self.authorizer.authorize(info, "iam:CreateInstanceProfile", self.arn(info, f"instance-profile{path}{name}"),
                                  tag_condition_keys(params.get("Tags")))
        check_new_tags(self, params.get("Tags"), {})
        try:
            profile = self.repo.create_instance_profile(new_unique_id("AIPA"), self.caller(info).account_id, name,
                                                        path, tag_map(params.get("Tags")))
        except EntityAlreadyExists:
            raise self.err("EntityAlreadyExists", f"Instance Profile {name} already exists.") from None
        self.written()
        return {"InstanceProfile": self.profile_result(info, profile)}

    @action("GetInstanceProfile")
    def get_instance_profile(self, info: RequestInfo, params: Params) -> Result:
        return {"InstanceProfile": self.profile_result(info, self._authorized_profile(info, params, "GetInstanceProfile"))}

    @action("ListInstanceProfiles")
    def list_instance_profiles(self, info: RequestInfo, params: Params) -> Result:
        prefix = params.get("PathPrefix", "/")
        self.authorize(info, "ListInstanceProfiles", self.arn(info, "instance-profile" + prefix))
        account = self.caller(info).account_id
        chunk, extra = keyset_page(params, "instance-profiles", [Source(
            lambda key, limit: self.repo.instance_profiles_page(account, prefix, key, limit),
            lambda p: (p.name.lower(),))])
        return {"InstanceProfiles": self.profile_results(info, chunk), **extra}

    @action("DeleteInstanceProfile")
    def delete_instance_profile(self, info: RequestInfo, params: Params) -> Result:
        profile = self._authorized_profile(info, params, "DeleteInstanceProfile")
        if self.repo.instance_profile_role_ids(profile.id):
            raise self.err("DeleteConflict", _HOLDS_ROLES)
        try:
            self.repo.delete_instance_profile(profile.id)
        except StaleState:  # a role was added meanwhile
            raise self.err("DeleteConflict", _HOLDS_ROLES) from None
        self.written()
        return {}

    @action("AddRoleToInstanceProfile")
    def add_role_to_instance_profile(self, info: RequestInfo, params: Params) -> Result:
        profile = self._authorized_profile(info, params, "AddRoleToInstanceProfile")
        role = self.find_role(info, params["RoleName"])
        self.refuse_service_linked(role)  # type: ignore[attr-defined]  # ServiceLinkedRoleActions
        # Putting a role in a profile hands it to whoever launches an instance with it: AWS asks
        # for iam:PassRole on the role as well.
        self.authorize(info, "PassRole", self.role_arn(info, role))
        if role.id in self.repo.instance_profile_role_ids(profile.id):
            raise self.err("LimitExceeded", _ROLE_LIMIT)
        try:
            self.repo.add_role_to_instance_profile(profile.id, role.id, ROLES_PER_INSTANCE_PROFILE)
        except (LimitReached, EntityAlreadyExists):
            raise self.err("LimitExceeded", _ROLE_LIMIT) from None
        except ParentGone:
            raise self.no_such(f"Instance Profile {profile.name} cannot be found.") from None
        self.written()
        return {}

    @action("RemoveRoleFromInstanceProfile")
    def remove_role_from_instance_profile(self, info: RequestInfo, params: Params) -> Result:
        profile = self._authorized_profile(info, params, "RemoveRoleFromInstanceProfile")
        role = self.find_role(info, params["RoleName"])
        try:
            removed = self.repo.remove_role_from_instance_profile(profile.id, role.id)
        except ParentGone:
            removed = False
        if not removed:
            raise self.no_such(f"Role {role.name} in Instance Profile {profile.name} cannot be found.")
        self.written()
        return {}

    @action("ListInstanceProfilesForRole")
    def list_instance_profiles_for_role(self, info: RequestInfo, params: Params) -> Result:
        role = self.authorized_role(info, params, "ListInstanceProfilesForRole")
        chunk, extra = keyset_page(params, "role-instance-profiles", [Source(
            lambda key, limit: self.repo.role_instance_profiles_page(role.id, key, limit),
            lambda p: (p.name.lower(),))])
        return {"InstanceProfiles": self.profile_results(info, chunk), **extra}

    # -- tags -------------------------------------------------------------------------------
    @action("TagInstanceProfile")
    def tag_instance_profile(self, info: RequestInfo, params: Params) -> Result:
        profile = self._authorized_profile(info, params, "TagInstanceProfile")
        check_new_tags(self, params["Tags"], {})
        try:
            self.repo.set_tags("instprof", profile.id, tag_map(params["Tags"]), limit=MAX_TAGS)
        except LimitReached:
            raise self.err("LimitExceeded", _TOO_MANY_TAGS) from None
        except ParentGone:
            raise self.no_such(f"Instance Profile {profile.name} cannot be found.") from None
        self.written()
        return {}

    @action("UntagInstanceProfile")
    def untag_instance_profile(self, info: RequestInfo, params: Params) -> Result:
        profile = self._authorized_profile(info, params, "UntagInstanceProfile")
        self.repo.remove_tags("instprof", profile.id, params["TagKeys"])
        self.written()
        return {}

    @action("ListInstanceProfileTags")
    def list_instance_profile_tags(self, info: RequestInfo, params: Params) -> Result:
        profile = self._authorized_profile(info, params, "ListInstanceProfileTags")
        chunk, extra = page(tag_list(self.repo.get_tags("instprof", profile.id)), params)
        return {"Tags": chunk, **extra}
