"""ResyncMFADevice and GetMFADevice (virtual TOTP devices, ``mfa.py``).

Resynchronizing takes two consecutive codes, as enabling does, but searches a wider window
(a device whose clock drifted); the second code's step is consumed, so neither code can be
replayed afterwards (``use_mfa_step`` is an atomic compare-and-set).
"""

from __future__ import annotations

import hmac

from opensts.service.context import RequestInfo
from opensts.service.iam._base import IamBase, Params, Result, action, utc
from opensts.service.iam.mfa import hotp, step_of

__all__ = ["MfaDeviceActions", "RESYNC_WINDOW"]

#: Steps (30 s each) searched either side of now: a device up to 10 minutes off.
RESYNC_WINDOW = 20
_INVALID_CODE = "Authentication code for device is not valid."


class MfaDeviceActions(IamBase):
    @action("ResyncMFADevice")
    def resync_mfa_device(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "ResyncMFADevice")
        serial = params["SerialNumber"]
        device = self.repo.get_mfa_device(serial)
        if device is None or device.user_id != user.id:
            raise self.no_such(f"MFA Device with serial number {serial} does not exist.")
        code1, code2 = params["AuthenticationCode1"], params["AuthenticationCode2"]
        current = step_of(info.now)
        found = None
        for step in range(current - RESYNC_WINDOW, current + RESYNC_WINDOW + 1):
            # every step is computed (no early exit): the time taken says nothing about the codes
            ok = hmac.compare_digest(hotp(device.seed, step), code1) & hmac.compare_digest(hotp(device.seed, step + 1), code2)
            if ok and found is None:
                found = step
        if found is None or not self.repo.use_mfa_step(serial, found + 1):
            raise self.err("InvalidAuthenticationCode", _INVALID_CODE)
        self.written()
        return {}

    @action("GetMFADevice")
    def get_mfa_device(self, info: RequestInfo, params: Params) -> Result:
        serial = params["SerialNumber"]
        if "UserName" in params:
            user = self.authorized_user(info, params, "GetMFADevice")
        else:
            caller = self.caller(info)
            user = None
            if caller.type == "IAMUser":
                user = self.target_user(info, params, "GetMFADevice")
            else:
                self.authorize(info, "GetMFADevice", serial)
        device = self.repo.get_mfa_device(serial)
        if device is None or device.account_id != self.caller(info).account_id or device.user_id is None or (
            user is not None and device.user_id != user.id
        ):
            raise self.no_such(f"MFA Device with serial number {serial} does not exist.")
        owner = user or self.repo.get_user(device.user_id)
        out: Result = {"SerialNumber": device.serial, "EnableDate": utc(device.enabled_at)}
        if owner is not None:
            out["UserName"] = owner.name
        return out
