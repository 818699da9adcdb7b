"""Virtual MFA devices with real TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps).

``verify_totp`` is what the STS side calls for ``SerialNumber``/``TokenCode``: the device must
exist, be enabled (for the given user, when one is named), the code must match a step within
±1 of now, and each step is accepted at most once (``repo.use_mfa_step`` is an atomic
compare-and-set, so two workers cannot both accept one code).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from datetime import datetime
from typing import Any

from opensts.service.context import RequestInfo
from opensts.service.iam._base import IamBase, Params, Result, action, boundary_result, utc
from opensts.service.iam.paging import Source, keyset_page
from opensts.store.iam_repository import MfaDeviceRecord
from opensts.store.repository import EntityAlreadyExists

__all__ = ["MfaActions", "totp", "hotp", "verify_totp", "STEP_SECONDS", "new_seed"]

STEP_SECONDS = 30
DIGITS = 6
WINDOW = 1
_INVALID_CODE = "Authentication code for device is not valid."


def new_seed() -> str:
    """A 160-bit secret as unpadded base32 (32 characters), as AWS's virtual devices use."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii")


def _key(seed: str) -> bytes:
    padded = seed.upper() + "=" * (-len(seed) % 8)
    return base64.b32decode(padded)


def hotp(seed: str, counter: int) -> str:
    digest = hmac.new(_key(seed), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def _epoch(now: datetime | float | int) -> float:
    return now.timestamp() if isinstance(now, datetime) else float(now)


def step_of(now: datetime | float | int) -> int:
    return int(_epoch(now) // STEP_SECONDS)


def totp(seed: str, now: datetime | float | int) -> str:
    return hotp(seed, step_of(now))


def _matching_step(seed: str, code: str, current: int, window: int = WINDOW) -> int | None:
    found = None
    for step in range(current - window, current + window + 1):
        if hmac.compare_digest(hotp(seed, step), code) and found is None:
            found = step
    return found


def verify_totp(repo: Any, serial: str, code: str, now: datetime | float | int, *,
                user_id: str | None = None, account_id: str | None = None, used_steps: Any = None) -> bool:
    """True when ``code`` is a fresh, valid TOTP of the enabled device ``serial``.

    ``user_id``/``account_id`` (optional) require the device to be enabled for that IAM user /
    to belong to that account. A code's time step is consumed: the same code (or an older one)
    is refused afterwards — in ``used_steps`` (``store/region_state.py``: the Region's store, so
    STS never writes to a replica) when given, else in the device's row.
    """
    if not code or len(code) != DIGITS or not (code.isascii() and code.isdigit()):
        return False
    device = repo.get_mfa_device(serial)
    if device is None or device.user_id is None:
        return False
    if user_id is not None and device.user_id != user_id:
        return False
    if account_id is not None and device.account_id != account_id:
        return False
    step = _matching_step(device.seed, code, step_of(now))
    if step is None:
        return False
    if used_steps is not None:
        return bool(used_steps.use_mfa_step(serial, step, device.last_step))
    return bool(repo.use_mfa_step(serial, step))


class MfaActions(IamBase):
    def _device(self, info: RequestInfo, serial: str) -> MfaDeviceRecord:
        device = self.repo.get_mfa_device(serial)
        if device is None or device.account_id != self.caller(info).account_id:
            raise self.no_such(f"VirtualMFADevice with serial number {serial} doesn't exist.")
        return device

    def _device_result(self, info: RequestInfo, device: MfaDeviceRecord) -> Result:
        out: Result = {"SerialNumber": device.serial}
        if device.user_id is not None:
            user = self.repo.get_user(device.user_id)
            if user is not None:
                out["User"] = self.user_result(info, user, tags=False)
            out["EnableDate"] = utc(device.enabled_at)
        return out

    @action("CreateVirtualMFADevice")
    def create_virtual_mfa_device(self, info: RequestInfo, params: Params) -> Result:
        name, path = params["VirtualMFADeviceName"], params.get("Path", "/")
        serial = self.arn(info, f"mfa{path}{name}")
        self.authorize(info, "CreateVirtualMFADevice", serial)
        exists = "MFADevice entity at the same path and name already exists."
        if self.repo.get_mfa_device(serial) is not None:
            raise self.err("EntityAlreadyExists", exists)
        seed = new_seed()
        try:
            self.repo.create_mfa_device(serial, self.caller(info).account_id, name, path, seed)
        except EntityAlreadyExists:
            raise self.err("EntityAlreadyExists", exists) from None
        self.written()
        return {"VirtualMFADevice": {"SerialNumber": serial, "Base32StringSeed": seed.encode("ascii")}}

    @action("EnableMFADevice")
    def enable_mfa_device(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "EnableMFADevice")
        device = self._device(info, params["SerialNumber"])
        if device.user_id is not None:
            raise self.err("EntityAlreadyExists", "MFA Device is already in use.")
        code1, code2 = params["AuthenticationCode1"], params["AuthenticationCode2"]
        current = step_of(info.now)
        # Two consecutive codes: the first for step s, the second for s+1, both within ±1 of now.
        for step in (current - 1, current):
            if hmac.compare_digest(hotp(device.seed, step), code1) and hmac.compare_digest(
                hotp(device.seed, step + 1), code2
            ):
                if not self.repo.enable_mfa_device(device.serial, user.id, last_step=step + 1):
                    raise self.err("EntityAlreadyExists", "MFA Device is already in use.")  # enabled meanwhile
                self.written()
                return {}
        raise self.err("InvalidAuthenticationCode", _INVALID_CODE)

    @action("DeactivateMFADevice")
    def deactivate_mfa_device(self, info: RequestInfo, params: Params) -> Result:
        user = self.authorized_user(info, params, "DeactivateMFADevice")
        serial = params["SerialNumber"]
        device = self.repo.get_mfa_device(serial)
        if device is None or device.user_id != user.id:
            raise self.no_such(f"MFA Device with serial number {serial} does not exist.")
        if not self.repo.enable_mfa_device(serial, None, last_step=device.last_step, current_user=user.id):
            raise self.no_such(f"MFA Device with serial number {serial} does not exist.")  # deactivated meanwhile
        self.written()
        return {}

    @action("ListMFADevices")
    def list_mfa_devices(self, info: RequestInfo, params: Params) -> Result:
        caller = self.caller(info)
        if "UserName" not in params and caller.type == "Root":
            self.authorize(info, "ListMFADevices", caller.arn)
            return {"MFADevices": [], "IsTruncated": False}
        user = self.target_user(info, params, "ListMFADevices")
        prefix = f"arn:{self.caller(info).partition}:iam::{user.account_id}:mfa"  # every serial of the user's devices
        # starts so (they are its account's): the marker holds the rest
        chunk, extra = keyset_page(params, "user-mfa-devices", [Source(
            lambda key, limit: self.repo.virtual_mfa_devices_page(
                user.account_id, None, None if key is None else (prefix + key[0],), limit, user_id=user.id),
            lambda d: (d.serial[len(prefix):],))])
        return {
            "MFADevices": [
                {"UserName": user.name, "SerialNumber": d.serial, "EnableDate": utc(d.enabled_at)} for d in chunk
            ],
            **extra,
        }

    @action("ListVirtualMFADevices")
    def list_virtual_mfa_devices(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "ListVirtualMFADevices", self.arn(info, "mfa/"))
        assigned = {"Assigned": True, "Unassigned": False}.get(params.get("AssignmentStatus", "Any"))
        account = self.caller(info).account_id
        prefix = self.arn(info, "mfa")  # every serial of the account starts so: the marker holds the rest
        chunk, extra = keyset_page(params, "virtual-mfa-devices", [Source(
            lambda key, limit: self.repo.virtual_mfa_devices_page(
                account, assigned, None if key is None else (prefix + key[0],), limit),
            lambda d: (d.serial[len(prefix):],))])
        return {"VirtualMFADevices": [self._listed_device(info, d) for d in chunk], **extra}

    def _listed_device(self, info: RequestInfo, row: Any) -> Result:
        """``_device_result`` from a page row (the device with its user's columns joined)."""
        out: Result = {"SerialNumber": row.serial}
        if row.user_id is not None:
            if row.u_name is not None:
                user: Result = {"Path": row.u_path, "UserName": row.u_name, "UserId": row.user_id,
                                "Arn": self.arn(info, f"user{row.u_path}{row.u_name}"),
                                "CreateDate": utc(row.u_created_at)}
                if row.u_boundary:
                    user["PermissionsBoundary"] = boundary_result(row.u_boundary)
                out["User"] = user
            out["EnableDate"] = utc(row.enabled_at)
        return out

    @action("DeleteVirtualMFADevice")
    def delete_virtual_mfa_device(self, info: RequestInfo, params: Params) -> Result:
        serial = params["SerialNumber"]
        self.authorize(info, "DeleteVirtualMFADevice", serial)
        device = self._device(info, serial)
        if device.user_id is not None:
            raise self.err("DeleteConflict", "MFA device is already in use.")
        self.repo.delete_mfa_device(serial)
        self.written()
        return {}
