"""Console passwords: login profiles (Create/Get/Update/DeleteLoginProfile), ChangePassword by the
user itself, and the account password policy every new password is checked against.

A password never leaves this module except as a salted scrypt hash (``passwords.py``); it is a
sensitive member in botocore's model, so the audit trail leaves it out (``audit/events.py``).
"""

from __future__ import annotations

from opensts.protocol.errors import AccessDenied, ServiceError
from opensts.service.context import RequestInfo
from opensts.service.iam._base import IamBase, Params, Result, action, utc
from opensts.service.iam.passwords import DEFAULT_MINIMUM_LENGTH, hash_password, verify_password, violation
from opensts.store.credentials_repository import PasswordPolicyRecord
from opensts.store.repository import EntityAlreadyExists, ParentGone, UserRecord

__all__ = ["LoginProfileActions"]


class LoginProfileActions(IamBase):
    def _check_password(self, info: RequestInfo, password: str) -> PasswordPolicyRecord | None:
        policy = self.repo.get_password_policy(self.caller(info).account_id)
        message = violation(password, policy)
        if message is not None:
            raise self.err("PasswordPolicyViolation", message)
        return policy

    def refuse_user_credentials(self, user: UserRecord) -> None:
        """DeleteUser's conflicts with this family: AWS deletes no user that still has a console
        password, signing certificates, SSH keys or service-specific credentials."""
        counts = self.repo.user_credential_counts(user.id)
        for kind, what in (("login_profile", "login profile"), ("signing_certificates", "signing certificates"),
                           ("ssh_public_keys", "SSH public keys"),
                           ("service_specific_credentials", "service specific credentials")):
            if counts[kind]:
                raise self.err("DeleteConflict", f"Cannot delete entity, must delete {what} first.")

    def _no_profile(self, user: UserRecord) -> Exception:
        return self.no_such(f"Login Profile for User {user.name} cannot be found.")

    @action("CreateLoginProfile")
    def create_login_profile(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "CreateLoginProfile")
        password = params.get("Password")
        if password is None:
            raise ServiceError("Password is required to create a login profile.", code="InvalidInput", status=400)
        if self.repo.get_login_profile(user.id) is not None:
            raise self.err("EntityAlreadyExists", f"Login Profile for user {user.name} already exists.")
        self._check_password(info, password)
        reset = bool(params.get("PasswordResetRequired", False))
        try:
            created = self.repo.create_login_profile(user.id, hash_password(password), reset)
        except EntityAlreadyExists:
            raise self.err("EntityAlreadyExists", f"Login Profile for user {user.name} already exists.") from None
        except ParentGone:
            raise self.no_such(f"The user with name {user.name} cannot be found.") from None
        self.written()
        return {"LoginProfile": {"UserName": user.name, "CreateDate": utc(created), "PasswordResetRequired": reset}}

    @action("GetLoginProfile")
    def get_login_profile(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "GetLoginProfile")
        profile = self.repo.get_login_profile(user.id)
        if profile is None:
            raise self._no_profile(user)
        return {"LoginProfile": {"UserName": user.name, "CreateDate": utc(profile.created_at),
                                 "PasswordResetRequired": profile.password_reset_required}}

    @action("UpdateLoginProfile")
    def update_login_profile(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "UpdateLoginProfile")
        if self.repo.get_login_profile(user.id) is None:
            raise self._no_profile(user)
        password = params.get("Password")
        policy = self._check_password(info, password) if password is not None else None
        keep = policy.reuse_prevention or 0 if policy else 0
        if not self.repo.update_login_profile(
            user.id, password_hash=hash_password(password) if password is not None else None,
            reset_required=params.get("PasswordResetRequired"), keep_previous=keep,
        ):
            raise self._no_profile(user)
        self.written()
        return {}

    @action("DeleteLoginProfile")
    def delete_login_profile(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "DeleteLoginProfile")
        if not self.repo.delete_login_profile(user.id):
            raise self._no_profile(user)
        self.written()
        return {}

    @action("ChangePassword")
    def change_password(self, info: RequestInfo, params: Params) -> Result:
        caller = self.caller(info)
        if caller.type != "IAMUser" or caller.iam_user_id is None:
            raise self.err("InvalidUserType", "Only IAM users can change their own password with ChangePassword.")
        user = self.repo.get_user(caller.iam_user_id)
        if user is None:  # pragma: no cover - deleted while signed in
            raise self.no_such(f"The user with name {caller.name} cannot be found.")
        policy = self.repo.get_password_policy(caller.account_id)
        if policy is None or not policy.allow_users_to_change:
            # AllowUsersToChangePassword lets every user change their own password; otherwise
            # the user's policies must allow iam:ChangePassword on itself.
            self.authorize(info, "ChangePassword", self.user_arn(info, user))
        profile = self.repo.get_login_profile(user.id)
        if profile is None:
            raise self._no_profile(user)
        if not verify_password(params["OldPassword"], profile.password_hash):
            raise AccessDenied("The old password is incorrect.")
        new = params["NewPassword"]
        message = violation(new, policy)
        reuse = policy.reuse_prevention if policy else None
        if message is None and reuse:
            history = [profile.password_hash, *profile.previous_hashes][:reuse]
            if any(verify_password(new, old) for old in history):
                message = f"Password should not be one of the previous {reuse} passwords used"
        if message is not None:
            raise self.err("PasswordPolicyViolation", message)
        if not self.repo.update_login_profile(user.id, password_hash=hash_password(new),
                                              expected_hash=profile.password_hash, reset_required=False,
                                              keep_previous=reuse or 0):
            raise self.err("EntityTemporarilyUnmodifiable",
                           "The password was changed by a concurrent request; try again.")
        self.written()
        return {}

    # -- the account password policy ---------------------------------------------------------
    @action("GetAccountPasswordPolicy")
    def get_account_password_policy(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "GetAccountPasswordPolicy", "*")
        account = self.caller(info).account_id
        policy = self.repo.get_password_policy(account)
        if policy is None:
            raise self.no_such(f"The Password Policy with domain name {account} cannot be found.")
        out: Result = {
            "MinimumPasswordLength": policy.minimum_length,
            "RequireSymbols": policy.require_symbols,
            "RequireNumbers": policy.require_numbers,
            "RequireUppercaseCharacters": policy.require_uppercase,
            "RequireLowercaseCharacters": policy.require_lowercase,
            "AllowUsersToChangePassword": policy.allow_users_to_change,
            "ExpirePasswords": policy.max_password_age is not None,
        }
        if policy.max_password_age is not None:
            out["MaxPasswordAge"] = policy.max_password_age
        if policy.reuse_prevention is not None:
            out["PasswordReusePrevention"] = policy.reuse_prevention
        if policy.hard_expiry is not None:
            out["HardExpiry"] = policy.hard_expiry
        return {"PasswordPolicy": out}

    @action("UpdateAccountPasswordPolicy")
    def update_account_password_policy(self, info: RequestInfo, params: Params) -> Result:
        """No partial updates, as on AWS: every parameter left out reverts to its default."""
        self.authorize(info, "UpdateAccountPasswordPolicy", "*")
        policy = PasswordPolicyRecord(
            minimum_length=params.get("MinimumPasswordLength", DEFAULT_MINIMUM_LENGTH),
            require_symbols=bool(params.get("RequireSymbols", False)),
            require_numbers=bool(params.get("RequireNumbers", False)),
            require_uppercase=bool(params.get("RequireUppercaseCharacters", False)),
            require_lowercase=bool(params.get("RequireLowercaseCharacters", False)),
            allow_users_to_change=bool(params.get("AllowUsersToChangePassword", False)),
            max_password_age=params.get("MaxPasswordAge"),
            reuse_prevention=params.get("PasswordReusePrevention"),
            hard_expiry=params.get("HardExpiry"),
        )
        self.repo.set_password_policy(self.caller(info).account_id, policy)
        self.written()
        return {}

    @action("DeleteAccountPasswordPolicy")
    def delete_account_password_policy(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "DeleteAccountPasswordPolicy", "*")
        account = self.caller(info).account_id
        if not self.repo.delete_password_policy(account):
            raise self.no_such(f"The account policy with name {account} cannot be found.")
        self.written()
        return {}
