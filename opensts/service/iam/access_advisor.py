"""Access advisor: GenerateServiceLastAccessedDetails / GetServiceLastAccessedDetails /
GetServiceLastAccessedDetailsWithEntities, and the Organizations access report
(GenerateOrganizationsAccessReport / GetOrganizationsAccessReport).

What an entity (user, role, managed policy) *may* use comes from its policies: every service
namespace an Allow statement names (``*`` alone: every service of ``SERVICE_NAMES``). What it
*did* use comes from the audit trail's real calls (``audit/activity.py``): the latest call per
service (and per action, for ACTION_LEVEL jobs on the services AWS tracks actions of here: IAM
and STS), by which entity, in which Region. A job is computed once, when generated, and its result
kept (``access_report_jobs``) — so Get… pages through one consistent snapshot, as on AWS.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from opensts.audit.activity import Activity, account_activity
from opensts.policy.matching import compile_glob
from opensts.service.context import RequestInfo
from opensts.service.control_policies import FULL_AWS_ACCESS_ID, org_path, policy_content
from opensts.service.iam._base import IamBase, Params, Result, action, page, utc
from opensts.store.reads_repository import policy_attachment_entities

__all__ = ["AccessAdvisorActions", "SERVICE_NAMES", "granted_services"]

#: Service namespace → the name access advisor shows (AWS's names).
SERVICE_NAMES: dict[str, str] = {
    "account": "AWS Account Management",
    "cloudformation": "AWS CloudFormation",
    "cloudtrail": "AWS CloudTrail",
    "cloudwatch": "Amazon CloudWatch",
    "dynamodb": "Amazon DynamoDB",
    "ec2": "Amazon EC2",
    "ecr": "Amazon Elastic Container Registry",
    "ecs": "Amazon Elastic Container Service",
    "eks": "Amazon Elastic Kubernetes Service",
    "iam": "AWS Identity and Access Management",
    "kms": "AWS Key Management Service",
    "lambda": "AWS Lambda",
    "logs": "Amazon CloudWatch Logs",
    "organizations": "AWS Organizations",
    "rds": "Amazon RDS",
    "route53": "Amazon Route 53",
    "s3": "Amazon S3",
    "secretsmanager": "AWS Secrets Manager",
    "sns": "Amazon SNS",
    "sqs": "Amazon SQS",
    "ssm": "AWS Systems Manager",
    "sts": "AWS Security Token Service",
}
#: Services whose actions are tracked (ACTION_LEVEL): the ones this server serves and audits.
TRACKED = ("iam", "sts")
_GRANULARITIES = ("SERVICE_LEVEL", "ACTION_LEVEL")


def _statements(document: str) -> list[dict[str, Any]]:
    try:
        doc = json.loads(document)
    except ValueError:
        return []
    stmts = doc.get("Statement", []) if isinstance(doc, dict) else []
    return [s for s in (stmts if isinstance(stmts, list) else [stmts]) if isinstance(s, dict)]


def _as_list(value: Any) -> list[str]:
    return [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]


def granted_patterns(documents: Iterable[str]) -> list[str]:
    """The action patterns the Allow statements of ``documents`` name (``*`` for a NotAction)."""
    out: list[str] = []
    for doc in documents:
        for stmt in _statements(doc):
            if stmt.get("Effect") != "Allow":
                continue
            out += ["*"] if "NotAction" in stmt else _as_list(stmt.get("Action"))
    return out


def granted_services(patterns: Iterable[str]) -> set[str]:
    namespaces: set[str] = set()
    for pattern in patterns:
        prefix = pattern.split(":", 1)[0].lower()
        if ":" not in pattern:
            namespaces |= {ns for ns in SERVICE_NAMES if compile_glob(pattern, ignore_case=True).match(ns)}
        elif "*" in prefix or "?" in prefix:
            namespaces |= {ns for ns in SERVICE_NAMES if compile_glob(prefix, ignore_case=True).match(ns)}
        elif prefix:
            namespaces.add(prefix)
    return namespaces


def _job_id() -> str:
    return str(uuid.uuid4())


class AccessAdvisorActions(IamBase):
    settings: Any

    def _audit_folder(self) -> Path | None:
        settings = getattr(self, "settings", None)
        if settings is None or not getattr(settings, "audit", False):
            return None
        return Path(settings.data_dir) / "audit"

    def _operations(self, namespace: str) -> list[str]:
        from opensts.protocol.model import load_service

        return sorted(self.spec.operations) if namespace == "iam" else sorted(load_service("sts").operations)

    # -- the entity of a job ------------------------------------------------------------------
    def _entity_of(self, info: RequestInfo, arn: str) -> tuple[list[str], list[dict[str, Any]]]:
        """(its policy documents, the entities whose calls count: EntityInfo dicts)."""
        caller = self.caller(info)
        prefix = f"arn:{caller.partition}:iam::{caller.account_id}:"
        missing = self.no_such(f"The entity with ARN {arn} does not exist.")
        if not arn.startswith(prefix):
            if arn.startswith(f"arn:{caller.partition}:iam::aws:policy/"):
                policy = self.repo.get_policy(arn)
                if policy is None:
                    raise missing
                return self._policy_entity(info, arn)
            raise self.invalid(f"ARN {arn} is not valid.") if not arn.startswith("arn:") else missing
        resource = arn[len(prefix):]
        kind, _, rest = resource.partition("/")
        name = rest.rsplit("/", 1)[-1]
        if kind == "user":
            user = self.repo.get_user_by_name(caller.account_id, name)
            if user is None or self.user_arn(info, user) != arn:
                raise missing
            docs, _ = self.authorizer.user_policies(user.id)  # its groups' included
            return list(docs), [_entity("USER", arn, user.name, user.id, user.path)]
        if kind == "role":
            role = self.repo.get_role(caller.account_id, name)
            if role is None or self.role_arn(info, role) != arn:
                raise missing
            docs, _ = self.authorizer.role_policies(role.id)
            return list(docs), [_entity("ROLE", arn, role.name, role.id, role.path)]
        if kind == "policy":
            policy = self.repo.get_policy(arn)
            if policy is None:
                raise missing
            return self._policy_entity(info, arn)
        if kind == "group":
            group = self.repo.get_group(caller.account_id, name)
            if group is None or self.arn(info, f"group{group.path}{group.name}") != arn:
                raise missing
            docs = [*self.repo.list_group_policies(group.id).values(),
                    *(doc for _, doc in self.repo.attached_documents("group", group.id))]
            members = self.repo.group_members(group.id)
            return docs, [_entity("USER", self.user_arn(info, u), u.name, u.id, u.path) for u in members]
        raise self.invalid(f"ARN {arn} is not valid.")

    def _policy_entity(self, info: RequestInfo, arn: str) -> tuple[list[str], list[dict[str, Any]]]:
        doc = self.repo.default_policy_document(arn)
        entities: list[dict[str, Any]] = []
        account = self.caller(info).account_id
        for kind, entity_id in policy_attachment_entities(self.repo, arn):
            if kind == "user":
                user = self.repo.get_user(entity_id)
                if user is not None and user.account_id == account:
                    entities.append(_entity("USER", self.user_arn(info, user), user.name, user.id, user.path))
            elif kind == "role":
                role = self.repo.get_role_by_id(entity_id)
                if role is not None and role.account_id == account:
                    entities.append(_entity("ROLE", self.role_arn(info, role), role.name, role.id, role.path))
        return ([doc] if doc else []), entities

    # -- service last accessed -----------------------------------------------------------------
    @action("GenerateServiceLastAccessedDetails")
    def generate_service_last_accessed(self, info: RequestInfo, params: Params) -> Result:
        arn = params["Arn"]
        self.authorize(info, "GenerateServiceLastAccessedDetails", arn)
        granularity = params.get("Granularity") or "SERVICE_LEVEL"
        docs, entities = self._entity_of(info, arn)
        patterns = granted_patterns(docs)
        namespaces = granted_services(patterns)
        by_entity = {e["Arn"]: e for e in entities}
        activity = [a for a in account_activity(self._audit_folder(), [self.caller(info).account_id])
                    if a.entity_arn in by_entity and a.namespace in namespaces]
        services = [self._service_row(ns, patterns, activity, granularity) for ns in sorted(namespaces)]
        per_entity = {
            ns: [{"EntityInfo": by_entity[e], **({"LastAuthenticated": last} if last else {})}
                 for e, last in _entity_last(activity, ns, list(by_entity))]
            for ns in namespaces
        }
        now = int(info.epoch)
        job_id = _job_id()
        self.repo.save_report_job(job_id, self.caller(info).account_id, "SERVICE", granularity, arn, now, now,
                                  {"services": services, "entities": per_entity})
        return {"JobId": job_id}

    def _service_row(self, namespace: str, patterns: list[str], activity: list[Activity],
                     granularity: str) -> dict[str, Any]:
        mine = [a for a in activity if a.namespace == namespace]
        row: dict[str, Any] = {"ServiceName": SERVICE_NAMES.get(namespace, namespace), "ServiceNamespace": namespace,
                               "TotalAuthenticatedEntities": len({a.entity_arn for a in mine})}
        if mine:
            latest = max(mine, key=lambda a: a.last)
            row.update(LastAuthenticated=latest.last, LastAuthenticatedEntity=latest.entity_arn,
                       LastAuthenticatedRegion=latest.region)
        if granularity == "ACTION_LEVEL" and namespace in TRACKED:
            globs = [compile_glob(p, ignore_case=True) for p in patterns]
            tracked = []
            for op in self._operations(namespace):
                if not any(g.match(f"{namespace}:{op}") for g in globs):
                    continue
                used = [a for a in mine if a.action == op]
                item: dict[str, Any] = {"ActionName": op}
                if used:
                    latest = max(used, key=lambda a: a.last)
                    item.update(LastAccessedEntity=latest.entity_arn, LastAccessedTime=latest.last,
                                LastAccessedRegion=latest.region)
                tracked.append(item)
            row["TrackedActionsLastAccessed"] = tracked
        return row

    def _job(self, info: RequestInfo, job_id: str, kind: str) -> Any:
        row = self.repo.report_job(job_id)
        if row is None or row.account_id != self.caller(info).account_id or row.kind != kind:
            raise self.no_such(f"No such job: {job_id}" if kind == "SERVICE" else f"Job {job_id} not found.")
        return row

    @action("GetServiceLastAccessedDetails")
    def get_service_last_accessed(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "GetServiceLastAccessedDetails", "*")
        job = self._job(info, params["JobId"], "SERVICE")
        result = json.loads(job.result)
        rows = [_times(r) for r in result["services"]]
        chunk, extra = page(rows, params)
        return {"JobStatus": "COMPLETED", "JobType": job.granularity, "JobCreationDate": utc(job.created_at),
                "JobCompletionDate": utc(job.completed_at), "ServicesLastAccessed": chunk, **extra}

    @action("GetServiceLastAccessedDetailsWithEntities")
    def get_service_last_accessed_entities(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "GetServiceLastAccessedDetailsWithEntities", "*")
        job = self._job(info, params["JobId"], "SERVICE")
        namespace = params["ServiceNamespace"]
        entities = json.loads(job.result)["entities"]
        if namespace not in entities:
            raise self.invalid(f"The service namespace {namespace} is not valid for this job.")
        rows = [{**e, **({"LastAuthenticated": utc(e["LastAuthenticated"])} if "LastAuthenticated" in e else {})}
                for e in entities[namespace]]
        chunk, extra = page(rows, params)
        return {"JobStatus": "COMPLETED", "JobCreationDate": utc(job.created_at),
                "JobCompletionDate": utc(job.completed_at), "EntityDetailsList": chunk, **extra}

    # -- Organizations access report -------------------------------------------------------------
    @action("GenerateOrganizationsAccessReport")
    def generate_organizations_access_report(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "GenerateOrganizationsAccessReport", "*")
        path = params["EntityPath"].rstrip("/")
        now = int(info.epoch)
        result = self._organizations_report(info, path, params.get("OrganizationsPolicyId"))
        job_id = _job_id()
        self.repo.save_report_job(job_id, self.caller(info).account_id, "ORGANIZATIONS", "SERVICE_LEVEL",
                                  path, now, now, result)
        return {"JobId": job_id}

    def _organizations_report(self, info: RequestInfo, path: str, policy_id: str | None) -> dict[str, Any]:
        """The report, or {"error": …}: AWS answers such jobs FAILED with ErrorDetails."""
        caller = self.caller(info)
        org = self.repo.organization_of(caller.account_id)
        if org is None:
            return {"error": {"Code": "AWSOrganizationsNotInUseException",
                              "Message": "Your account is not a member of an organization."}}
        if org.management_account_id != caller.account_id:
            return {"error": {"Code": "AccessDeniedException",
                              "Message": "You don't have permissions to access this resource."}}
        accounts = [org.management_account_id, *(m.account_id for m in self.repo.member_accounts(org.id))]
        paths = {a: org_path(self.repo, a) + a for a in accounts}
        chosen = [a for a in accounts if paths[a] == path or paths[a].startswith(path + "/")]
        if not path.startswith(f"{org.id}/{org.root_id}") or not chosen:
            return {"error": {"Code": "EntityNotFound",
                              "Message": f"The entity path {path} does not exist in your organization."}}
        content = policy_content(self.repo, policy_id or FULL_AWS_ACCESS_ID)
        if content is None:
            return {"error": {"Code": "PolicyNotFoundException",
                              "Message": f"Policy {policy_id} does not exist in your organization."}}
        accessible = granted_services(granted_patterns([content]))
        activity = [a for a in account_activity(self._audit_folder(), chosen) if a.namespace in accessible]
        details = []
        for namespace in sorted({a.namespace for a in activity}):
            mine = [a for a in activity if a.namespace == namespace]
            latest = max(mine, key=lambda a: a.last)
            details.append({"ServiceName": SERVICE_NAMES.get(namespace, namespace), "ServiceNamespace": namespace,
                            "Region": latest.region, "EntityPath": paths[latest.account_id],
                            "LastAuthenticatedTime": latest.last,
                            "TotalAuthenticatedEntities": len({a.entity_arn for a in mine})})
        never = [{"ServiceName": SERVICE_NAMES.get(ns, ns), "ServiceNamespace": ns}
                 for ns in sorted(accessible - {d["ServiceNamespace"] for d in details})]
        return {"details": details + never, "accessible": len(accessible), "not_accessed": len(never)}

    @action("GetOrganizationsAccessReport")
    def get_organizations_access_report(self, info: RequestInfo, params: Params) -> Result:
        self.authorize(info, "GetOrganizationsAccessReport", "*")
        job = self._job(info, params["JobId"], "ORGANIZATIONS")
        result = json.loads(job.result)
        out: Result = {"JobCreationDate": utc(job.created_at), "JobCompletionDate": utc(job.completed_at)}
        if "error" in result:
            return {"JobStatus": "FAILED", **out, "ErrorDetails": result["error"]}
        rows = _sorted_details(result["details"], params.get("SortKey"))
        chunk, extra = page([_times(r) for r in rows], params)
        return {"JobStatus": "COMPLETED", **out, "NumberOfServicesAccessible": result["accessible"],
                "NumberOfServicesNotAccessed": result["not_accessed"], "AccessDetails": chunk, **extra}


def _entity(kind: str, arn: str, name: str, entity_id: str, path: str) -> dict[str, Any]:
    return {"Arn": arn, "Name": name, "Type": kind, "Id": entity_id, "Path": path}


def _entity_last(activity: list[Activity], namespace: str, arns: list[str]) -> list[tuple[str, int | None]]:
    last: dict[str, int] = {}
    for a in activity:
        if a.namespace == namespace and a.last > last.get(a.entity_arn, -1):
            last[a.entity_arn] = a.last
    return [(arn, last.get(arn)) for arn in arns]


_TIME_FIELDS = ("LastAuthenticated", "LastAccessedTime", "LastAuthenticatedTime")


def _times(row: dict[str, Any]) -> dict[str, Any]:
    """Epoch seconds kept in the job's JSON → datetimes for the renderer (nested actions too)."""
    out = {k: (utc(v) if k in _TIME_FIELDS else v) for k, v in row.items()}
    if "TrackedActionsLastAccessed" in out:
        out["TrackedActionsLastAccessed"] = [_times(a) for a in out["TrackedActionsLastAccessed"]]
    return out


def _sorted_details(rows: list[dict[str, Any]], key: str | None) -> list[dict[str, Any]]:
    if key in ("SERVICE_NAMESPACE_DESCENDING",):
        return sorted(rows, key=lambda r: r["ServiceNamespace"], reverse=True)
    if key in ("LAST_AUTHENTICATED_TIME_ASCENDING", "LAST_AUTHENTICATED_TIME_DESCENDING"):
        reverse = key.endswith("DESCENDING")
        return sorted(rows, key=lambda r: (r.get("LastAuthenticatedTime") or 0, r["ServiceNamespace"]),
                      reverse=reverse)
    return sorted(rows, key=lambda r: r["ServiceNamespace"])
