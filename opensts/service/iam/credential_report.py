"""The credential report: GenerateCredentialReport / GetCredentialReport.

One CSV per account with AWS's columns, in AWS's order, one row for the root user
(``<root_account>``) and one per IAM user: creation time, password, MFA, the first two access
keys (active, last rotated, last used: date, Region, service — from ``last_used.py``'s records)
and the first two signing certificates. AWS's values for what does not apply: ``N/A``,
``not_supported`` (the root user's password columns), ``no_information``.

Generation is bounded by the account's users and runs within the Generate call; AWS's contract
still holds: the first call answers ``STARTED``, later ones ``COMPLETE`` while the report is at
most 4 hours old; an older report is ``ReportExpired`` and Generate starts a new one.

Passwords and certificates belong to another module (login profiles, signing certificates): they
are read through optional repository methods, ``login_profile(user_id)`` (an object with
``created_at`` and optionally ``password_last_used``, epoch seconds) and
``signing_certificates(user_id)`` (objects with ``status`` and ``uploaded_at``). Where the store
has neither, every user has no password and no certificate, as such a user has on AWS.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from typing import Any

from opensts.service.context import RequestInfo
from opensts.service.iam._base import IamBase, Params, Result, action, utc
from opensts.store.reads_repository import KeyUse, account_created_at

__all__ = ["CredentialReportActions", "COLUMNS", "MAX_AGE"]

COLUMNS = (
    "user", "arn", "user_creation_time", "password_enabled", "password_last_used", "password_last_changed",
    "password_next_rotation", "mfa_active",
    "access_key_1_active", "access_key_1_last_rotated", "access_key_1_last_used_date",
    "access_key_1_last_used_region", "access_key_1_last_used_service",
    "access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
    "access_key_2_last_used_region", "access_key_2_last_used_service",
    "cert_1_active", "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated",
)
MAX_AGE = 4 * 3600  # seconds: a report older than this is expired; Generate makes a new one

_NOT_PRESENT = ("The request was rejected because the credential report does not exist. To generate a credential "
                "report, use GenerateCredentialReport.")
_EXPIRED = ("The request was rejected because the most recent credential report has expired. To generate a new "
            "credential report, use GenerateCredentialReport.")
_IN_PROGRESS = "The request was rejected because the credential report is still being generated."


def _iso(epoch: int | float | None) -> str:
    if epoch is None:
        return "N/A"
    return datetime.fromtimestamp(int(epoch), tz=timezone.utc).isoformat()


def _bool(value: bool) -> str:
    return "true" if value else "false"


class CredentialReportActions(IamBase):
    @action("GenerateCredentialReport")
    def generate_credential_report(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "GenerateCredentialReport", "*")
        account = self.caller(info).account_id
        now = int(info.epoch)
        row = self.repo.credential_report(account)
        if row is not None and row.generated_at is not None and now - row.generated_at <= MAX_AGE:
            return {"State": "COMPLETE"}
        description = ("No report exists. Starting a new report generation task" if row is None
                       else "Report is older than 4 hours. Starting a new report generation task")
        self.repo.start_credential_report(account, now)
        self.repo.finish_credential_report(account, now, now, self._csv(info, account).encode())
        return {"State": "STARTED", "Description": description}

    @action("GetCredentialReport")
    def get_credential_report(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "GetCredentialReport", "*")
        row = self.repo.credential_report(self.caller(info).account_id)
        if row is None:
            raise self.err("ReportNotPresent", _NOT_PRESENT)
        if row.generated_at is None:
            raise self.err("ReportInProgress", _IN_PROGRESS)
        if int(info.epoch) - row.generated_at > MAX_AGE:
            raise self.err("ReportExpired", _EXPIRED)
        return {"Content": bytes(row.content), "ReportFormat": "text/csv", "GeneratedTime": utc(row.generated_at)}

    # -- the CSV ----------------------------------------------------------------------------------
    def _csv(self, info: RequestInfo, account: str) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerow(self._root_row(info, account))
        for user in self.repo.list_users(account):
            writer.writerow(self._user_row(info, user))
        return out.getvalue().rstrip("\n")

    def _key_columns(self, user_id: str | None, account: str) -> list[str]:
        keys = list(self.repo.list_access_keys(user_id, account))[:2]
        uses = self.repo.key_uses(k.id for k in keys)
        cols: list[str] = []
        for i in range(2):
            if i >= len(keys):
                cols += ["false", "N/A", "N/A", "N/A", "N/A"]
                continue
            key = keys[i]
            use: KeyUse | None = uses.get(key.id)
            cols += [_bool(key.status == "Active"), _iso(key.created_at),
                     _iso(use.used_at) if use else "N/A", use.region if use else "N/A",
                     use.service if use else "N/A"]
        return cols

    def _cert_columns(self, account_id: str, user_id: str) -> list[str]:
        certs = self.repo.list_signing_certificates(account_id, user_id)[:2]
        cols: list[str] = []
        for i in range(2):
            if i >= len(certs):
                cols += ["false", "N/A"]
            else:
                cols += [_bool(certs[i].status == "Active"), _iso(certs[i].uploaded_at)]
        return cols

    def _password_columns(self, user_id: str) -> list[str]:
        """password_enabled, password_last_used (this server keeps no console sign-ins:
        no_information), password_last_changed, password_next_rotation (N/A: no expiry here)."""
        profile = self.repo.get_login_profile(user_id)
        if profile is None:
            return ["false", "N/A", "N/A", "N/A"]
        return ["true", "no_information", _iso(profile.password_changed_at), "N/A"]

    def _root_row(self, info: RequestInfo, account: str) -> list[str]:
        # MFA devices are enabled for IAM users only here (EnableMFADevice names a user): the
        # root user has none, so its mfa_active is false.
        return ["<root_account>", self.arn(info, "root"), _iso(account_created_at(self.repo, account)),
                "not_supported", "no_information", "not_supported", "not_supported", "false",
                *self._key_columns(None, account), "false", "N/A", "false", "N/A"]

    def _user_row(self, info: RequestInfo, user: Any) -> list[str]:
        mfa = bool(self.repo.list_mfa_devices(user.account_id, user.id))
        return [user.name, self.arn(info, f"user{user.path}{user.name}"), _iso(user.created_at),
                *self._password_columns(user.id), _bool(mfa), *self._key_columns(user.id, user.account_id),
                *self._cert_columns(user.account_id, user.id)]
