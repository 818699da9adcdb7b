"""Invitations: how an existing account (``opensts account create``) joins an organization.

The management account invites an account by id (InviteAccountToOrganization: a handshake, open
for 15 days); the invited account accepts (it becomes a member, ``JoinedMethod: INVITED``) or
declines; the management account may cancel. Invitations by e-mail address are refused: OpenSTS
accounts have no address to send one to.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from opensts.fastrand import base32_upper
from opensts.service.context import RequestInfo
from opensts.service.organizations._base import (
    OrganizationsBase,
    default_scps,
    OrganizationsError,
    Params,
    Result,
    account_email,
    keyset,
    op,
)
from opensts.service.paging import Source
from opensts.store.locking import StaleState
from opensts.store.organization_repository import HandshakeRecord, MemberRecord, OrganizationRecord

__all__ = ["HandshakeActions", "HANDSHAKE_LIFETIME"]

HANDSHAKE_LIFETIME = 15 * 86400
_ACCOUNT = re.compile(r"\d{12}", re.ASCII)


def _not_found() -> OrganizationsError:
    return OrganizationsError("HandshakeNotFoundException", "We can't find a handshake with the HandshakeId that you "
                              "specified.")


def _duplicate_handshake() -> OrganizationsError:
    return OrganizationsError("DuplicateHandshakeException", "A handshake with the same action and target already "
                              "exists.")


def _in_organization() -> OrganizationsError:
    return OrganizationsError("HandshakeConstraintViolationException", "The account is already a member of an "
                              "organization.", "ALREADY_IN_AN_ORGANIZATION")


def _state(handshake: HandshakeRecord, now: float) -> str:
    return "EXPIRED" if handshake.state == "OPEN" and now >= handshake.expires_at else handshake.state


class HandshakeActions(OrganizationsBase):
    def _handshake_result(self, handshake: HandshakeRecord, now: float,
                          inviter: tuple[str, str, str | None] | None = None) -> Result:
        """``inviter``: (management account, feature set, its name) of the inviting organization,
        when the caller read them already (a listing page reads them with its rows)."""
        if inviter is None:
            org = self._repo.get_organization(handshake.organization_id)  # deleting it deletes its handshakes
            record = self._repo.get_account(org.management_account_id)
            inviter = (org.management_account_id, org.feature_set, record.name if record else None)
        mgmt, feature_set, mgmt_name = inviter
        org_resources = [{"Value": account_email(mgmt), "Type": "MASTER_EMAIL"},
                         {"Value": mgmt_name if mgmt_name is not None else mgmt, "Type": "MASTER_NAME"},
                         {"Value": feature_set, "Type": "ORGANIZATION_FEATURE_SET"}]
        resources: list[Result] = [
            {"Value": handshake.organization_id, "Type": "ORGANIZATION", "Resources": org_resources},
            {"Value": handshake.target_account_id, "Type": "ACCOUNT"},
        ]
        if handshake.notes:
            resources.append({"Value": handshake.notes, "Type": "NOTES"})
        return {
            "Id": handshake.id,
            "Arn": f"arn:aws:organizations::{mgmt}:handshake/{handshake.organization_id}/invite/{handshake.id}",
            "Parties": [{"Id": handshake.organization_id.removeprefix("o-"), "Type": "ORGANIZATION"},
                        {"Id": handshake.target_account_id, "Type": "ACCOUNT"}],
            "State": _state(handshake, now),
            "RequestedTimestamp": handshake.requested_at,
            "ExpirationTimestamp": handshake.expires_at,
            "Action": "INVITE",
            "Resources": resources,
        }

    def _party_handshake(self, info: RequestInfo, handshake_id: str, *, target: bool, sender: bool) -> HandshakeRecord:
        """The handshake, if the caller's account is its target (``target``) or the management
        account of the organization that sent it (``sender``); else it does not exist for them."""
        handshake = self._repo.get_handshake(handshake_id)
        account = self.caller_account(info)
        if handshake is not None:
            if target and handshake.target_account_id == account:
                return handshake
            org = self._repo.get_organization(handshake.organization_id)
            if sender and org is not None and org.management_account_id == account:
                return handshake
        raise _not_found()

    def _transition(self, info: RequestInfo, handshake: HandshakeRecord, state: str,
                    member: MemberRecord | None = None, policies: tuple[str, ...] = ()) -> Result:
        self._refuse_transition(_state(handshake, info.epoch), state)
        try:  # a compare-and-set on OPEN: of two concurrent calls, one wins
            self._repo.set_handshake_state(handshake.id, state, member=member, policies=policies)
        except StaleState:
            now = self._repo.get_handshake(handshake.id)
            if member is not None and now is not None and now.state == "OPEN":
                raise _in_organization() from None  # the account joined another organization meanwhile
            self._refuse_transition(_state(now, info.epoch) if now else "CANCELED", state)
            raise  # pragma: no cover - the state moved, so _refuse_transition raised
        self._written()
        return {"Handshake": self._handshake_result(self._repo.get_handshake(handshake.id), info.epoch)}

    @op("InviteAccountToOrganization")
    def invite_account(self, info: RequestInfo, params: Params) -> Result:
        org = self._managed(info)
        target = params["Target"]
        if target["Type"] != "ACCOUNT" or not _ACCOUNT.fullmatch(target["Id"]):
            raise OrganizationsError("InvalidInputException", "You can invite an account only by its 12-digit "
                                     "account ID.", "INVALID_PARTY_TYPE_TARGET")
        account = target["Id"]
        if self._repo.get_account(account) is None:
            raise OrganizationsError("InvalidInputException", "You specified an account that doesn't exist.",
                                     "INVALID_PARTY_TYPE_TARGET")
        if self._repo.organization_of(account) is not None:
            raise _in_organization()
        self._refuse_duplicate(org, account, info.epoch)
        now = int(info.epoch)
        handshake = HandshakeRecord("h-" + base32_upper(32).lower(), org.id, account, "OPEN", params.get("Notes"),
                                    now, now + HANDSHAKE_LIFETIME)
        try:  # one open invitation per target, checked again under the organization's row lock
            self._repo.add_handshake(handshake)
        except StaleState:
            raise _duplicate_handshake() from None
        self._written()
        return {"Handshake": self._handshake_result(handshake, info.epoch)}

    @staticmethod
    def _refuse_transition(current: str, state: str) -> None:
        if current == state:
            raise OrganizationsError("HandshakeAlreadyInStateException",
                                     f"The specified handshake is already in the requested state ({state}).")
        if current != "OPEN":
            raise OrganizationsError("InvalidHandshakeTransitionException",
                                     f"You can't perform the operation on the handshake in its current state "
                                     f"({current}).")

    def _refuse_duplicate(self, org: OrganizationRecord, account: str, now: float) -> None:
        if any(_state(h, now) == "OPEN" for h in self._repo.handshakes(organization_id=org.id, target_account_id=account)):
            raise _duplicate_handshake()

    @op("AcceptHandshake")
    def accept_handshake(self, info: RequestInfo, params: Params) -> Result:
        handshake = self._party_handshake(info, params["HandshakeId"], target=True, sender=False)
        account = self.caller_account(info)
        joined = self._repo.organization_of(account)
        if _state(handshake, info.epoch) == "OPEN" and joined is not None and joined.id != handshake.organization_id:
            raise _in_organization()  # in another organization; in this one: a concurrent accept won (_transition)
        member = MemberRecord(account, handshake.organization_id, account_email(account), "INVITED", int(info.epoch),
                              None)
        org = self._repo.get_organization(handshake.organization_id)
        policies = default_scps(org) if org is not None else ()
        result = self._transition(info, handshake, "ACCEPTED", member, policies)  # joins in one transaction
        return result

    @op("DeclineHandshake")
    def decline_handshake(self, info: RequestInfo, params: Params) -> Result:
        handshake = self._party_handshake(info, params["HandshakeId"], target=True, sender=False)
        return self._transition(info, handshake, "DECLINED")

    @op("CancelHandshake")
    def cancel_handshake(self, info: RequestInfo, params: Params) -> Result:
        handshake = self._party_handshake(info, params["HandshakeId"], target=False, sender=True)
        return self._transition(info, handshake, "CANCELED")

    @op("DescribeHandshake")
    def describe_handshake(self, info: RequestInfo, params: Params) -> Result:
        handshake = self._party_handshake(info, params["HandshakeId"], target=True, sender=True)
        return {"Handshake": self._handshake_result(handshake, info.epoch)}

    @op("ListHandshakesForAccount")
    def list_handshakes_for_account(self, info: RequestInfo, params: Params) -> Result:
        account = self.caller_account(info)
        return self._handshakes_page(info, params, "org-account-handshakes",
                                     lambda key, limit: self._repo.handshakes_page(target_account_id=account, key=key,
                                                                                   limit=limit))

    @op("ListHandshakesForOrganization")
    def list_handshakes_for_organization(self, info: RequestInfo, params: Params) -> Result:
        org = self._administered(info)
        return self._handshakes_page(info, params, "org-handshakes",
                                     lambda key, limit: self._repo.handshakes_page(organization_id=org.id, key=key,
                                                                                   limit=limit))

    def _handshakes_page(self, info: RequestInfo, params: Params, listing: str,
                         fetch: Callable[[Any, int], Sequence[Any]]) -> Result:
        """A keyset page of invitations as they were sent (every handshake is an INVITE: another
        ActionType filter matches none)."""
        wanted = (params.get("Filter") or {}).get("ActionType")
        if wanted is not None and wanted != "INVITE":
            fetch = _nothing
        return keyset(params, "Handshakes", listing, [Source(fetch, lambda row: (row.requested_at, row.id), arity=2)],
                      lambda row: self._handshake_result(_record(row), info.epoch,
                                                         (row.mgmt, row.feature_set, row.mgmt_name)))


def _nothing(key: Any, limit: int) -> list[Any]:
    return []


def _record(row: Any) -> HandshakeRecord:
    return HandshakeRecord(row.id, row.organization_id, row.target_account_id, row.state, row.notes,
                           row.requested_at, row.expires_at)


