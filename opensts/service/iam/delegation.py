"""IAM temporary delegation: a partner asks an account for temporary, limited access; someone in
that account takes ownership, reviews, approves; the exchange token goes to the partner, who
trades it in with STS GetDelegatedAccessToken (``service/delegated_access.py``).

The state machine (AWS's states; each move is a compare-and-set on the state, so two concurrent
Accept/Reject calls cannot both win):

    CreateDelegationRequest (partner)        → UNASSIGNED
    AssociateDelegationRequest (owner)       UNASSIGNED → ASSIGNED          (owner id/account set)
    UpdateDelegationRequest (notes)          ASSIGNED | PENDING_APPROVAL → PENDING_APPROVAL
    AcceptDelegationRequest                  ASSIGNED | PENDING_APPROVAL → ACCEPTED (approver recorded)
    RejectDelegationRequest                  ASSIGNED | PENDING_APPROVAL | ACCEPTED → REJECTED
    SendDelegationToken                      ACCEPTED → FINALIZED (exchange token sent)
    (time)                                   any state past its ExpirationTime reads EXPIRED

Who may act, as AWS documents it: while a request has no owner account anyone may read and
associate it; with an owner account, only identities of that account; once owned, its owner has
default permission to read, update, reject and send it; everyone else (and every approver: AWS
requires ``iam:AcceptDelegationRequest``) needs an identity policy allowing the action on the
request's ARN. Identities outside the owner account get NoSuchEntity (nothing is revealed).

The delegated permissions are a policy template (a managed policy the partner's account can see:
its own or an AWS managed one) with ``{{Name}}`` placeholders filled from ``Parameters``. The
credentials the partner gets are the *approver's* identity, recorded at acceptance, bounded by
that policy (a scope-down layer, as a session policy is) for ``SessionDuration`` seconds; a root
approver may approve at most 4 hours, as on AWS.

The exchange token is delivered to the request's notification channel through a seam
(``DelegationNotifier``); the default writes one JSON line per message into
``DATA_DIR/notifications/<channel>.jsonl`` (owner-only file), the partner's inbox on this server.
Only the token's SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from pathlib import Path
from typing import Any

from opensts.protocol.errors import AccessDenied
from opensts.service.context import RequestInfo
from opensts.service.iam._base import IamBase, Params, Result, action, utc
from opensts.service.iam.paging import Source, keyset_page
from opensts.store.reads_repository import DelegationRecord
from opensts.store.repository import EntityAlreadyExists

__all__ = ["DelegationActions", "DelegationNotifier", "FolderNotifier", "token_hash", "effective_state",
           "ROOT_MAX_DURATION"]

REQUEST_LIFETIME = 7 * 86400  # an open request (and a rejected one) expires after 7 days
ROOT_MAX_DURATION = 4 * 3600
_OPEN = ("ASSIGNED", "PENDING_APPROVAL")
_PLACEHOLDER = re.compile(r"\{\{\s*([ -~]+?)\s*\}\}")
#: The claims of an approver's session that carry over to the delegated credentials.
_APPROVER_EXTRA = ("role_arn", "user_arn", "spm", "has_session_policy", "scope", "assumed_root", "root_parent")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def effective_state(record: DelegationRecord, now: float) -> str:
    return "EXPIRED" if now > record.expires_at else record.state


class DelegationNotifier:
    """Where a request's notifications go (the exchange token among them)."""

    def send(self, channel: str, message: dict[str, Any]) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class FolderNotifier(DelegationNotifier):
    """One JSON line per message in ``folder/<channel>.jsonl``, readable by the owner only."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, channel: str, message: dict[str, Any]) -> None:
        from opensts.private_files import private_dir, private_opener

        folder = private_dir(self.folder)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", channel)[:200] + ".jsonl"
        with open(folder / name, "a", opener=private_opener) as fh:
            fh.write(json.dumps(message, separators=(",", ":")) + "\n")


class DelegationActions(IamBase):
    settings: Any

    # -- plumbing ----------------------------------------------------------------------------------
    def _notifier(self) -> DelegationNotifier | None:
        notifier = getattr(self, "delegation_notifier", None)
        if notifier is not None:
            return notifier  # type: ignore[no-any-return]
        settings = getattr(self, "settings", None)
        return FolderNotifier(Path(settings.data_dir) / "notifications") if settings is not None else None

    def _request_arn(self, info: RequestInfo, record: DelegationRecord) -> str:
        account = record.owner_account_id or record.requestor_account_id
        return f"arn:{self.caller(info).partition}:iam::{account}:delegation-request/{record.id}"

    def _missing(self, request_id: str) -> Exception:
        return self.no_such(f"Delegation request {request_id} does not exist.")

    def _visible(self, info: RequestInfo, request_id: str) -> DelegationRecord:
        """The request, if this caller's account may see it at all (else NoSuchEntity)."""
        record = self.repo.get_delegation_request(request_id)
        caller = self.caller(info)
        if record is None:
            raise self._missing(request_id)
        if record.owner_account_id is not None and caller.account_id not in (record.owner_account_id,
                                                                             record.requestor_account_id):
            raise self._missing(request_id)
        return record

    def _is_owner(self, info: RequestInfo, record: DelegationRecord) -> bool:
        return record.owner_id is not None and record.owner_id == self.caller(info).arn

    def _permit(self, info: RequestInfo, record: DelegationRecord, action_name: str, *, owner_default: bool) -> None:
        """The owner's default permission, else an identity policy allowing the action."""
        if owner_default and self._is_owner(info, record):
            return
        self.authorize(info, action_name, self._request_arn(info, record))

    def _in_owner_account(self, info: RequestInfo, record: DelegationRecord) -> None:
        if record.owner_account_id != self.caller(info).account_id:
            raise self._missing(record.id)

    def _move(self, info: RequestInfo, record: DelegationRecord, from_states: tuple[str, ...], verb: str,
              **values: Any) -> None:
        state = effective_state(record, info.epoch)
        if state not in from_states:
            raise self.invalid(f"Delegation request {record.id} is in state {state} and cannot be {verb}.")
        values.setdefault("updated_at", int(info.epoch))
        if not self.repo.transition_delegation_request(record.id, (record.state,), **values):
            raise self.err("ConcurrentModification",
                           "The request was rejected because multiple requests to change this object were "
                           "submitted simultaneously. Wait a few minutes and submit your request again.")
        self.written()

    def _delegation_result(self, info: RequestInfo, record: DelegationRecord) -> Result:
        doc = record.document
        out: Result = {
            "DelegationRequestId": record.id,
            "Description": doc["Description"],
            "Permissions": doc["Permissions"],
            "PermissionPolicy": doc["PermissionPolicy"],
            "State": effective_state(record, info.epoch),
            "ExpirationTime": utc(record.expires_at),
            "RequestorId": record.requestor_account_id,
            "RequestorName": doc.get("RequestorName", "")[:30],
            "CreateDate": utc(record.created_at),
            "SessionDuration": doc["SessionDuration"],
            "OnlySendByOwner": bool(doc.get("OnlySendByOwner")),
            "UpdatedTime": utc(record.updated_at),
        }
        for key, value in (("OwnerAccountId", record.owner_account_id), ("OwnerId", record.owner_id),
                           ("ApproverId", record.approver_id), ("Notes", record.notes),
                           ("RejectionReason", record.rejection_reason), ("RequestMessage", doc.get("RequestMessage")),
                           ("RedirectUrl", doc.get("RedirectUrl"))):
            if value:
                out[key] = value
        if doc.get("RolePermissionRestrictionArns"):
            out["RolePermissionRestrictionArns"] = doc["RolePermissionRestrictionArns"]
        return out

    def _permission_policy(self, info: RequestInfo, permissions: dict[str, Any]) -> str:
        """The template's document with its parameters filled in; InvalidInput when it cannot be."""
        arn = permissions.get("PolicyTemplateArn")
        if not arn:
            raise self.invalid("Permissions must name a PolicyTemplateArn.")
        template = self.visible_policy(info, arn)
        document = self.repo.default_policy_document(arn) if template else None
        if document is None:
            raise self.invalid(f"Policy template {arn} does not exist.")
        values: dict[str, Any] = {}
        for param in permissions.get("Parameters") or []:
            name, kind = param.get("Name"), param.get("Type") or "string"
            if not name or name in values:
                raise self.invalid("Each policy parameter needs a unique Name.")
            given = list(param.get("Values") or [])
            if kind == "string" and len(given) != 1:
                raise self.invalid(f"Parameter {name} of type string takes exactly one value.")
            values[name] = given[0] if kind == "string" else given

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise self.invalid(f"No value given for the policy template parameter {name}.")
            value = values[name]
            return json.dumps(value)[1:-1] if isinstance(value, str) else json.dumps(value)

        # a list parameter replaces its quoted placeholder by a JSON array
        text = re.sub(r'"\{\{\s*([ -~]+?)\s*\}\}"',
                      lambda m: json.dumps(values[m.group(1)]) if isinstance(values.get(m.group(1)), list)
                      else m.group(0), document)
        text = _PLACEHOLDER.sub(fill, text)
        try:
            json.loads(text)
        except ValueError:
            raise self.invalid("The policy template with its parameters is not a valid policy document.") from None
        return text

    # -- the partner's side --------------------------------------------------------------------------
    @action("CreateDelegationRequest")
    def create_delegation_request(self, info: RequestInfo, params: Params) -> Result:
        caller = self.caller(info)
        self.authorize(info, "CreateDelegationRequest", "*")
        permissions = params["Permissions"]
        policy = self._permission_policy(info, permissions)
        account = self.repo.get_account(caller.account_id)
        now = int(info.epoch)
        request_id = "dr-" + secrets.token_hex(16)
        document = {
            "Description": params["Description"], "Permissions": permissions, "PermissionPolicy": policy,
            "RequestMessage": params.get("RequestMessage"), "RedirectUrl": params.get("RedirectUrl"),
            "NotificationChannel": params["NotificationChannel"], "SessionDuration": params["SessionDuration"],
            "OnlySendByOwner": bool(params.get("OnlySendByOwner")),
            "RequestorName": (account.name if account else caller.account_id)[:30],
        }
        record = DelegationRecord(request_id, caller.account_id, params["RequestorWorkflowId"],
                                  params.get("OwnerAccountId"), None, None, "UNASSIGNED", document, None, None, None,
                                  now, now, now + REQUEST_LIFETIME)
        try:
            self.repo.create_delegation_request(record)
        except EntityAlreadyExists:
            raise self.err("EntityAlreadyExists", "A delegation request with RequestorWorkflowId "
                                                  f"{params['RequestorWorkflowId']} already exists.") from None
        self.written()
        return {"DelegationRequestId": request_id,
                "ConsoleDeepLink": f"https://console.aws.amazon.com/iam/home#/delegation-requests/{request_id}"}

    # -- the owner's side ----------------------------------------------------------------------------
    @action("AssociateDelegationRequest")
    def associate_delegation_request(self, info: RequestInfo, params: Params) -> Result:
        record = self._visible(info, params["DelegationRequestId"])
        caller = self.caller(info)
        if record.owner_account_id is not None and record.owner_account_id != caller.account_id:
            raise self._missing(record.id)
        self.authorize(info, "AssociateDelegationRequest", self._request_arn(info, record)
                       if record.owner_account_id else self.arn(info, f"delegation-request/{record.id}"))
        self._move(info, record, ("UNASSIGNED",), "associated", state="ASSIGNED", owner_id=caller.arn,
                   owner_account_id=caller.account_id)
        return {}

    @action("GetDelegationRequest")
    def get_delegation_request(self, info: RequestInfo, params: Params) -> Result:
        record = self._readable(info, params["DelegationRequestId"], "GetDelegationRequest")
        out: Result = {"DelegationRequest": self._delegation_result(info, record)}
        if params.get("DelegationPermissionCheck"):
            out.update(self._permission_check(info, record))
        return out

    def _readable(self, info: RequestInfo, request_id: str, action_name: str) -> DelegationRecord:
        record = self._visible(info, request_id)
        caller = self.caller(info)
        if record.owner_account_id is None or record.owner_id is None:
            return record  # unowned: readable by anyone it is visible to (AWS's rule)
        if caller.account_id == record.requestor_account_id and caller.account_id != record.owner_account_id:
            self.authorize(info, action_name, self._request_arn(info, record))
            return record
        self._permit(info, record, action_name, owner_default=True)
        return record

    def _permission_check(self, info: RequestInfo, record: DelegationRecord) -> Result:
        """Whether the caller, as approver, holds every permission the request delegates."""
        try:
            statements = json.loads(record.document["PermissionPolicy"]).get("Statement", [])
        except (ValueError, AttributeError):
            return {"PermissionCheckStatus": "FAILED"}
        statements = statements if isinstance(statements, list) else [statements]
        for stmt in statements:
            if not isinstance(stmt, dict) or stmt.get("Effect") != "Allow":
                continue
            actions = stmt.get("Action", [])
            resources = stmt.get("Resource", "*")
            for act in actions if isinstance(actions, list) else [actions]:
                for res in resources if isinstance(resources, list) else [resources]:
                    if "*" in str(act):
                        return {"PermissionCheckStatus": "COMPLETE", "PermissionCheckResult": "UNSURE"}
                    _, decision = self.authorizer.decide(info, str(act), str(res))
                    if decision is not None and not decision.allowed:
                        return {"PermissionCheckStatus": "COMPLETE", "PermissionCheckResult": "DENIED"}
        return {"PermissionCheckStatus": "COMPLETE", "PermissionCheckResult": "ALLOWED"}

    @action("ListDelegationRequests")
    def list_delegation_requests(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "ListDelegationRequests", "*")
        account, owner = self.caller(info).account_id, params.get("OwnerId") or None
        chunk, extra = keyset_page(params, "delegation-requests", [Source(
            lambda key, limit: self.repo.delegation_requests_page(account, owner, key, limit),
            lambda r: (r.created_at, r.id), arity=2)])
        out: Result = {"DelegationRequests": [self._delegation_result(info, r) for r in chunk],
                       "isTruncated": extra["IsTruncated"]}
        if "Marker" in extra:
            out["Marker"] = extra["Marker"]
        return out

    @action("UpdateDelegationRequest")
    def update_delegation_request(self, info: RequestInfo, params: Params) -> Result:
        record = self._visible(info, params["DelegationRequestId"])
        self._in_owner_account(info, record)
        self._permit(info, record, "UpdateDelegationRequest", owner_default=True)
        values: dict[str, Any] = {"state": "PENDING_APPROVAL"}
        if params.get("Notes") is not None:
            values["notes"] = params["Notes"]
        self._move(info, record, _OPEN, "updated", **values)
        return {}

    @action("AcceptDelegationRequest")
    def accept_delegation_request(self, info: RequestInfo, params: Params) -> Result:
        record = self._visible(info, params["DelegationRequestId"])
        self._in_owner_account(info, record)
        self.authorize(info, "AcceptDelegationRequest", self._request_arn(info, record))
        caller = self.caller(info)
        if caller.type == "Root" and record.document["SessionDuration"] > ROOT_MAX_DURATION:
            raise self.invalid("The root user can approve only delegation requests with a SessionDuration of "
                               "4 hours (14400 seconds) or less.")
        session = caller.session
        approver = {
            "type": caller.type, "arn": caller.arn, "user_id": caller.user_id, "name": caller.name,
            "parent_id": (session.parent_id if session else caller.iam_user_id),
            "session_name": session.session_name if session else None,
            "session_policies": list(session.session_policies) if session else [],
            "extra": {k: session.extra[k] for k in _APPROVER_EXTRA if session and k in session.extra},
        }
        self._move(info, record, _OPEN, "accepted", state="ACCEPTED", approver_id=caller.arn,
                   document=json.dumps({**record.document, "Approver": approver}, separators=(",", ":")))
        return {}

    @action("RejectDelegationRequest")
    def reject_delegation_request(self, info: RequestInfo, params: Params) -> Result:
        record = self._visible(info, params["DelegationRequestId"])
        self._in_owner_account(info, record)
        self._permit(info, record, "RejectDelegationRequest", owner_default=True)
        self._move(info, record, (*_OPEN, "ACCEPTED"), "rejected", state="REJECTED",
                   rejection_reason=params.get("Notes"), expires_at=int(info.epoch) + REQUEST_LIFETIME)
        return {}

    @action("SendDelegationToken")
    def send_delegation_token(self, info: RequestInfo, params: Params) -> Result:
        record = self._visible(info, params["DelegationRequestId"])
        self._in_owner_account(info, record)
        caller = self.caller(info)
        if record.document.get("OnlySendByOwner") and not self._is_owner(info, record):
            raise AccessDenied(f"User: {caller.arn} is not authorized to perform: iam:SendDelegationToken on "
                               f"resource: {self._request_arn(info, record)} because only the request's owner "
                               "may send its token")
        if not (self._is_owner(info, record) or record.approver_id == caller.arn):
            self.authorize(info, "SendDelegationToken", self._request_arn(info, record))
        notifier = self._notifier()
        if notifier is None:
            raise self.err("ServiceFailure", "No notification channel is available on this server.")
        token = "dt-" + secrets.token_urlsafe(32)
        now = int(info.epoch)
        expires = now + int(record.document["SessionDuration"])
        self._move(info, record, ("ACCEPTED",), "finalized", state="FINALIZED", token_hash=token_hash(token),
                   expires_at=expires)
        notifier.send(record.document["NotificationChannel"], {
            "Type": "DelegationTokenSent", "DelegationRequestId": record.id,
            "RequestorWorkflowId": record.requestor_workflow_id, "OwnerAccountId": record.owner_account_id,
            "ExchangeToken": token, "ExpirationTime": utc(expires).isoformat() if utc(expires) else None,
        })
        return {}

    @action("GetHumanReadableSummary")
    def get_human_readable_summary(self, info: RequestInfo, params: Params) -> Result:
        arn = params["EntityArn"]
        match = re.fullmatch(r"arn:[\w-]+:iam::\d{12}:delegation-request/([\w-]{16,128})", arn)
        if match is None:
            raise self.invalid(f"Entity {arn} is not a delegation request; only delegation requests have summaries.")
        record = self._readable(info, match.group(1), "GetHumanReadableSummary")
        if self._request_arn(info, record) != arn:
            raise self._missing(record.id)
        return {"SummaryContent": _summary(record), "Locale": "en", "SummaryState": "AVAILABLE"}

    # -- role templates --------------------------------------------------------------------------------
    def _no_template(self, arn: str) -> Exception:
        return self.no_such(f"Role template {arn} does not exist.")

    @action("GetRoleTemplateVersion")
    def get_role_template_version(self, info: RequestInfo, params: Params) -> Result:
        """Role templates are published by AWS services; this server publishes none."""
        self.authorize(info, "GetRoleTemplateVersion", params["TemplateArn"])
        raise self._no_template(params["TemplateArn"])

    @action("AcquireRole")
    def acquire_role(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "AcquireRole", params["TemplateArn"])
        raise self._no_template(params["TemplateArn"])


def _summary(record: DelegationRecord) -> str:
    """A plain-language account of what approving would grant (deterministic, from the request)."""
    doc = record.document
    lines = [f"Account {record.requestor_account_id} ({doc.get('RequestorName', '')}) requests temporary access "
             f"for {int(doc['SessionDuration']) // 60} minutes: {doc['Description']}"]
    try:
        statements = json.loads(doc["PermissionPolicy"]).get("Statement", [])
    except (ValueError, AttributeError):
        statements = []
    for stmt in statements if isinstance(statements, list) else [statements]:
        if not isinstance(stmt, dict):
            continue
        actions = stmt.get("Action", stmt.get("NotAction", []))
        resources = stmt.get("Resource", stmt.get("NotResource", "*"))
        verb = "Allows" if stmt.get("Effect") == "Allow" else "Denies"
        lines.append(f"{verb} {', '.join(actions if isinstance(actions, list) else [actions])} on "
                     f"{', '.join(resources if isinstance(resources, list) else [resources])}.")
    return "\n".join(lines)[:10000]
