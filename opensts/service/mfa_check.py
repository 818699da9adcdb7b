"""MFA at AssumeRole / GetSessionToken: SerialNumber + TokenCode against a virtual MFA device.

The device must be enabled for the calling IAM user; a code is accepted once (its time step is
recorded atomically by ``verify_totp``, so a replay in the same window fails, as on AWS).
"""

from __future__ import annotations

from typing import Any

from opensts.auth.principals import Caller
from opensts.protocol.errors import AccessDenied
from opensts.service.iam.mfa import verify_totp
from opensts.store.repository import SqlRepository

__all__ = ["MfaChecker", "INVALID_CODE", "UNABLE"]

INVALID_CODE = "MultiFactorAuthentication failed with invalid MFA one time pass code."
UNABLE = (
    "MultiFactorAuthentication failed, unable to validate MFA code.  "
    "Please verify your MFA serial number is valid and associated with this user."
)


class MfaChecker:
    def __init__(self, repo: SqlRepository, used_steps: Any = None) -> None:
        self._repo = repo
        self._used_steps = used_steps  # store/region_state.py (None: the device's row)

    def __call__(self, serial: str | None, code: str | None, caller: Caller, now: float) -> bool:
        if not serial or not code:
            raise AccessDenied(UNABLE)
        device = self._repo.get_mfa_device(serial)
        user_id = caller.iam_user_id
        if device is None or device.user_id is None or device.user_id != user_id:
            raise AccessDenied(UNABLE)
        if not verify_totp(self._repo, serial, code, now, user_id=user_id, used_steps=self._used_steps):
            raise AccessDenied(INVALID_CODE)
        return True
