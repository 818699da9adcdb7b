"""The organization's tree: its root, organizational units (at most five levels deep), and where
each account sits (MoveAccount). An account's place decides which service control policies bind it
and its ``aws:PrincipalOrgPaths``."""

from __future__ import annotations

from typing import Any

from opensts.fastrand import base32_upper
from opensts.service.context import RequestInfo
from opensts.service.control_policies import parent_chain
from opensts.service.organizations._base import (
    OrganizationsBase,
    OrganizationsError,
    Params,
    Result,
    account_not_found,
    keyset,
    op,
    page,
)
from opensts.service.paging import Source
from opensts.store.locking import ParentGone, StaleState
from opensts.store.organization_repository import OrganizationalUnitRecord, OrganizationRecord

__all__ = ["TreeActions", "MAX_OU_DEPTH"]

MAX_OU_DEPTH = 5


def _parent_not_found() -> OrganizationsError:
    return OrganizationsError("ParentNotFoundException", "We can't find a root or OU with the ParentId that you "
                              "specified.")


def _duplicate_name() -> OrganizationsError:
    return OrganizationsError("DuplicateOrganizationalUnitException", "An OU with the same name already exists.")


def _ou_not_found() -> OrganizationsError:
    return OrganizationsError("OrganizationalUnitNotFoundException", "We can't find an OU with the "
                              "OrganizationalUnitId that you specified.")


class TreeActions(OrganizationsBase):
    # -- lookups ------------------------------------------------------------------------------------
    def _ou(self, org: OrganizationRecord, ou_id: str) -> OrganizationalUnitRecord:
        ou = self._repo.get_ou(ou_id)
        if ou is None or ou.organization_id != org.id:
            raise _ou_not_found()
        return ou

    def _is_parent(self, org: OrganizationRecord, parent_id: str) -> bool:
        if parent_id == org.root_id:
            return True
        ou = self._repo.get_ou(parent_id)
        return ou is not None and ou.organization_id == org.id

    def _account_parent(self, org: OrganizationRecord, account_id: str) -> str:
        """The root or OU an account (management or member) sits under."""
        if account_id == org.management_account_id:
            return org.root_id
        member = self._member_or_management(org, account_id)
        return (member.parent_id if member else None) or org.root_id

    def _ou_result(self, org: OrganizationRecord, ou: OrganizationalUnitRecord) -> Result:
        path = "/".join([org.id, *parent_chain(self._repo, org, ou.parent_id), ou.id]) + "/"
        return {"Id": ou.id, "Arn": f"arn:aws:organizations::{org.management_account_id}:ou/{org.id}/{ou.id}",
                "Name": ou.name, "Path": path}

    def root_result(self, org: OrganizationRecord) -> Result:
        return {"Id": org.root_id, "Arn": f"arn:aws:organizations::{org.management_account_id}:root/{org.id}/"
                                          f"{org.root_id}",
                "Name": "Root", "PolicyTypes": [{"Type": t, "Status": "ENABLED"} for t in sorted(org.policy_types)]}

    def _children(self, org: OrganizationRecord, parent_id: str) -> tuple[list[OrganizationalUnitRecord], list[str]]:
        ous = [ou for ou in self._repo.ous(org.id) if ou.parent_id == parent_id]
        accounts = [org.management_account_id] if parent_id == org.root_id else []
        accounts += [m.account_id for m in self._repo.member_accounts(org.id) if (m.parent_id or org.root_id) == parent_id]
        return ous, accounts

    # -- the root and OUs -------------------------------------------------------------------------------
    @op("ListRoots")
    def list_roots(self, info: RequestInfo, params: Params) -> Result:
        return page([self.root_result(self._administered(info))], params, "Roots")

    @op("CreateOrganizationalUnit")
    def create_ou(self, info: RequestInfo, params: Params) -> Result:
        org = self._managed(info)
        parent, name = params["ParentId"], params["Name"]
        if not self._is_parent(org, parent):
            raise _parent_not_found()
        if len(parent_chain(self._repo, org, parent)) > MAX_OU_DEPTH:
            raise OrganizationsError("ConstraintViolationException", "You attempted to create an OU tree that is "
                                     "too many levels deep.", "OU_DEPTH_LIMIT_EXCEEDED")
        self._refuse_duplicate_name(org, parent, name)
        ou = OrganizationalUnitRecord(f"ou-{org.root_id.removeprefix('r-')}-{base32_upper(8).lower()}", org.id,
                                      parent, name)
        try:  # the parent and the name are checked again under the organization's row lock
            self._repo.create_ou(ou)
        except StaleState:
            raise _duplicate_name() from None
        except ParentGone:
            raise _parent_not_found() from None
        self.with_default_scp(org, ou.id)
        self._written()
        return {"OrganizationalUnit": self._ou_result(org, ou)}

    def _refuse_duplicate_name(self, org: OrganizationRecord, parent: str, name: str) -> None:
        if any(ou.name == name for ou in self._children(org, parent)[0]):
            raise _duplicate_name()

    @op("DescribeOrganizationalUnit")
    def describe_ou(self, info: RequestInfo, params: Params) -> Result:
        org = self._administered(info)
        return {"OrganizationalUnit": self._ou_result(org, self._ou(org, params["OrganizationalUnitId"]))}

    @op("UpdateOrganizationalUnit")
    def update_ou(self, info: RequestInfo, params: Params) -> Result:
        org = self._managed(info)
        ou = self._ou(org, params["OrganizationalUnitId"])
        if params.get("Name") and params["Name"] != ou.name:
            self._refuse_duplicate_name(org, ou.parent_id, params["Name"])
            self._repo.rename_ou(ou.id, params["Name"])
            self._written()
        return {"OrganizationalUnit": self._ou_result(org, self._repo.get_ou(ou.id))}

    @op("DeleteOrganizationalUnit")
    def delete_ou(self, info: RequestInfo, params: Params) -> Result:
        org = self._managed(info)
        ou = self._ou(org, params["OrganizationalUnitId"])
        not_empty = OrganizationsError("OrganizationalUnitNotEmptyException", "You can't delete an OU that contains "
                                       "accounts or other OUs.")
        if any(self._children(org, ou.id)):
            raise not_empty
        try:  # checked again under the organization's row lock (a child made or moved in meanwhile)
            self._repo.delete_ou(org.id, ou.id)
        except StaleState:
            raise not_empty from None
        except ParentGone:
            raise _ou_not_found() from None
        self._written()
        return {}

    # -- listing ----------------------------------------------------------------------------------------
    def _existing_parent(self, info: RequestInfo, parent_id: str) -> OrganizationRecord:
        org = self._administered(info)
        if not self._is_parent(org, parent_id):
            raise _parent_not_found()
        return org

    @op("ListOrganizationalUnitsForParent")
    def list_ous_for_parent(self, info: RequestInfo, params: Params) -> Result:
        org = self._existing_parent(info, params["ParentId"])
        parent = params["ParentId"]
        path = "/".join([org.id, *parent_chain(self._repo, org, parent)]) + "/"  # the page's OUs share it
        arn = f"arn:aws:organizations::{org.management_account_id}:ou/{org.id}/"
        return keyset(params, "OrganizationalUnits", "org-ous", self._ou_sources(parent),
                      lambda row: {"Id": row.id, "Arn": arn + row.id, "Name": row.name, "Path": f"{path}{row.id}/"})

    def _ou_sources(self, parent_id: str) -> list[Source[Any]]:
        """The OUs directly under ``parent_id`` by (name, id), a keyset page in the database."""
        return [Source(lambda key, limit: self._repo.ous_page(parent_id, key, limit),
                       lambda row: (row.name, row.id), arity=2)]

    @op("ListAccountsForParent")
    def list_accounts_for_parent(self, info: RequestInfo, params: Params) -> Result:
        parent = params["ParentId"]
        org = self._existing_parent(info, parent)
        return keyset(params, "Accounts", "org-parent-accounts", self._account_sources(org, parent),
                      lambda row: self._listed_account(org, row))

    @op("ListChildren")
    def list_children(self, info: RequestInfo, params: Params) -> Result:
        parent = params["ParentId"]
        org = self._existing_parent(info, parent)
        if params["ChildType"] == "ACCOUNT":
            return keyset(params, "Children", "org-child-accounts", self._account_sources(org, parent),
                          lambda row: {"Id": org.management_account_id if row is None else row.account_id,
                                       "Type": "ACCOUNT"})
        return keyset(params, "Children", "org-child-ous", self._ou_sources(parent),
                      lambda row: {"Id": row.id, "Type": "ORGANIZATIONAL_UNIT"})

    @op("ListParents")
    def list_parents(self, info: RequestInfo, params: Params) -> Result:
        org = self._administered(info)
        child = params["ChildId"]
        if child.startswith("ou-"):
            ou = self._repo.get_ou(child)
            if ou is None or ou.organization_id != org.id:
                raise OrganizationsError("ChildNotFoundException", "We can't find an organizational unit (OU) or AWS "
                                         "account with the ChildId that you specified.")
            parent = ou.parent_id
        else:
            try:
                parent = self._account_parent(org, child)
            except OrganizationsError:
                raise OrganizationsError("ChildNotFoundException", "We can't find an organizational unit (OU) or "
                                         "AWS account with the ChildId that you specified.") from None
        kind = "ROOT" if parent == org.root_id else "ORGANIZATIONAL_UNIT"
        return page([{"Id": parent, "Type": kind}], params, "Parents")

    @op("MoveAccount")
    def move_account(self, info: RequestInfo, params: Params) -> Result:
        org = self._managed(info)
        account, source, destination = params["AccountId"], params["SourceParentId"], params["DestinationParentId"]
        if account == org.management_account_id:  # not modelled: the management account stays under the root
            raise OrganizationsError("ConstraintViolationException", "OpenSTS keeps the management account under "
                                     "the root.")
        if self._repo.member_account(account) is None or self._repo.member_account(account).organization_id != org.id:
            raise account_not_found()
        if not self._is_parent(org, source) or self._account_parent(org, account) != source:
            raise OrganizationsError("SourceParentNotFoundException", "We can't find a source root or OU with the "
                                     "ParentId that you specified.")
        if not self._is_parent(org, destination):
            raise OrganizationsError("DestinationParentNotFoundException", "We can't find the destination container "
                                     "(a root or OU) with the ParentId that you specified.")
        if destination == source:
            raise OrganizationsError("DuplicateAccountException", "That account is already present in the specified "
                                     "destination.")
        try:  # the destination must still exist under the organization's row lock
            self._repo.move_member_account(org.id, account, None if destination == org.root_id else destination)
        except ParentGone:
            raise OrganizationsError("DestinationParentNotFoundException", "We can't find the destination container "
                                     "(a root or OU) with the ParentId that you specified.") from None
        self._written()
        return {}
