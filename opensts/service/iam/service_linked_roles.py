"""Service-linked roles: roles an AWS service creates for itself (CreateServiceLinkedRole), under
``/aws-service-role/SERVICE/``, named ``AWSServiceRoleFor<Name>[_SUFFIX]``, trusting only that
service. They are protected: their trust policy cannot change and DeleteRole refuses them
(``UnmodifiableEntity``); DeleteServiceLinkedRole deletes one and returns a deletion task whose
status GetServiceLinkedRoleDeletionStatus reports.
"""

from __future__ import annotations

import json
import re
import uuid

from opensts.protocol.errors import ServiceError
from opensts.service.context import RequestInfo
from opensts.service.iam._base import IamBase, Params, Result, action
from opensts.service.identifiers import new_unique_id
from opensts.store.iam_repository import RoleRecord
from opensts.store.repository import EntityAlreadyExists, StaleState

__all__ = ["ServiceLinkedRoleActions", "role_name_for", "SERVICE_ROLE_NAMES"]

#: Service principal → (the name after ``AWSServiceRoleFor``, whether CustomSuffix is accepted),
#: as AWS names them. Other ``*.amazonaws.com`` services: the PascalCase of the first label,
#: suffix accepted.
SERVICE_ROLE_NAMES: dict[str, tuple[str, bool]] = {
    "autoscaling.amazonaws.com": ("AutoScaling", True),
    "elasticbeanstalk.amazonaws.com": ("ElasticBeanstalk", True),
    "lex.amazonaws.com": ("LexBots", True),
    "lexv2.amazonaws.com": ("LexV2Bots", True),
    "ecs.amazonaws.com": ("ECS", False),
    "elasticloadbalancing.amazonaws.com": ("ElasticLoadBalancing", False),
    "es.amazonaws.com": ("AmazonElasticsearchService", False),
    "opensearchservice.amazonaws.com": ("AmazonOpenSearchService", False),
    "spot.amazonaws.com": ("EC2Spot", False),
    "spotfleet.amazonaws.com": ("EC2SpotFleet", False),
    "rds.amazonaws.com": ("RDS", False),
    "eks.amazonaws.com": ("AmazonEKS", False),
    "eks-nodegroup.amazonaws.com": ("AmazonEKSNodegroup", False),
    "eks-fargate.amazonaws.com": ("AmazonEKSForFargate", False),
    "organizations.amazonaws.com": ("Organizations", False),
    "support.amazonaws.com": ("Support", False),
    "trustedadvisor.amazonaws.com": ("TrustedAdvisor", False),
    "config.amazonaws.com": ("Config", False),
    "cloudtrail.amazonaws.com": ("CloudTrail", False),
    "guardduty.amazonaws.com": ("AmazonGuardDuty", False),
    "securityhub.amazonaws.com": ("SecurityHub", False),
    "sso.amazonaws.com": ("SSO", False),
    "access-analyzer.amazonaws.com": ("AccessAnalyzer", False),
    "inspector2.amazonaws.com": ("AmazonInspector2", False),
    "macie.amazonaws.com": ("AmazonMacie", False),
    "lakeformation.amazonaws.com": ("LakeFormationDataAccess", False),
    "replication.dynamodb.amazonaws.com": ("DynamoDBReplication", False),
    "dax.amazonaws.com": ("DAX", False),
    "elasticache.amazonaws.com": ("ElastiCache", False),
    "redshift.amazonaws.com": ("Redshift", False),
    "kafka.amazonaws.com": ("Kafka", False),
    "transitgateway.amazonaws.com": ("VPCTransitGateway", False),
    "globalaccelerator.amazonaws.com": ("GlobalAccelerator", False),
    "backup.amazonaws.com": ("Backup", False),
    "ssm.amazonaws.com": ("AmazonSSM", False),
    "apigateway.amazonaws.com": ("APIGateway", False),
    "elasticfilesystem.amazonaws.com": ("AmazonElasticFileSystem", False),
    "fsx.amazonaws.com": ("AmazonFSx", False),
    "batch.amazonaws.com": ("Batch", False),
    "compute-optimizer.amazonaws.com": ("ComputeOptimizer", False),
    "servicequotas.amazonaws.com": ("ServiceQuotas", False),
    "ecs.application-autoscaling.amazonaws.com": ("ApplicationAutoScaling_ECSService", False),
    "dynamodb.application-autoscaling.amazonaws.com": ("ApplicationAutoScaling_DynamoDBTable", False),
    "rds.application-autoscaling.amazonaws.com": ("ApplicationAutoScaling_RDSCluster", False),
    "ec2.application-autoscaling.amazonaws.com": ("ApplicationAutoScaling_EC2SpotFleetRequest", False),
    "member.org.stacksets.cloudformation.amazonaws.com": ("CloudFormationStackSetsOrgMember", False),
}

_SERVICE = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+amazonaws\.com\Z", re.ASCII)
_TASK = re.compile(r"^task/aws-service-role/[^/]+/[^/]+/[0-9a-f-]{36}\Z", re.ASCII)
#: Where every service-linked role lives (CreateServiceLinkedRole: ``/aws-service-role/SERVICE/``).
SERVICE_ROLE_PATH = "/aws-service-role/"
MAX_ROLE_NAME = 64


def _invalid(message: str) -> ServiceError:
    """InvalidInput where the operation's model does not list it (AWS answers it anyway)."""
    return ServiceError(message, code="InvalidInput", status=400)


def role_name_for(service: str, suffix: str | None) -> str:
    """AWS's role name for ``service`` (InvalidInput for a service name that is none, or a
    suffix the service refuses)."""
    known = SERVICE_ROLE_NAMES.get(service)
    if known is None:
        if not _SERVICE.match(service):
            raise _invalid(f"Service name {service} is not a valid AWS service principal.")
        first = service.split(".")[0]
        known = ("".join(part[:1].upper() + part[1:] for part in first.split("-")), True)
    base, suffix_ok = known
    name = f"AWSServiceRoleFor{base}"
    if suffix is not None:
        if not suffix_ok:
            raise _invalid(f"Custom suffix is not allowed for {service}")
        name = f"{name}_{suffix}"
    if len(name) > MAX_ROLE_NAME:
        raise _invalid(f"The role name {name} is longer than {MAX_ROLE_NAME} characters; use a shorter suffix.")
    return name


def trust_policy(service: str) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": [service]}, "Action": ["sts:AssumeRole"]}],
    })


class ServiceLinkedRoleActions(IamBase):
    def refuse_service_linked(self, role: RoleRecord) -> None:
        """UnmodifiableEntity for a service-linked role (its trust policy, its deletion through
        DeleteRole, its boundary: only its service may change them). Only a role under
        ``/aws-service-role/`` can be one (CreateServiceLinkedRole puts it there and a role's path
        never changes), so the store is asked only about those."""
        if role.path.startswith(SERVICE_ROLE_PATH) and self.repo.service_linked_service(role.id) is not None:
            raise self.err("UnmodifiableEntity", f"Cannot perform the operation on the protected role "
                                                 f"'{role.name}' - this role is only modifiable by AWS")

    @action("CreateServiceLinkedRole")
    def create_service_linked_role(self, info: RequestInfo, params: Params) -> Result:
        service = params["AWSServiceName"]
        name = role_name_for(service, params.get("CustomSuffix"))
        path = f"{SERVICE_ROLE_PATH}{service}/"
        # iam:AWSServiceName lets a policy allow service-linked roles of chosen services only.
        self.authorizer.authorize(info, "iam:CreateServiceLinkedRole", self.arn(info, f"role{path}{name}"),
                                  {"iam:AWSServiceName": service})
        account = self.caller(info).account_id
        taken = f"Service role name {name} has been taken in this account, please try a different suffix."
        if self.repo.get_role(account, name) is not None:
            raise _invalid(taken)
        try:
            self.repo.create_service_linked_role(new_unique_id("AROA"), account, name, path, trust_policy(service),
                                                 params.get("Description"), service)
        except EntityAlreadyExists:
            raise _invalid(taken) from None
        self.written()
        result = self.role_result(info, self.find_role(info, name))
        result.pop("RoleLastUsed", None)
        return {"Role": result}

    @action("DeleteServiceLinkedRole")
    def delete_service_linked_role(self, info: RequestInfo, params: Params) -> Result:
        role = self.authorized_role(info, params, "DeleteServiceLinkedRole")
        service = self.repo.service_linked_service(role.id)
        if service is None:
            raise _invalid(f"Role {role.name} is not a service-linked role.")
        if self.repo.instance_profiles_for_role(role.id):
            raise self.err("LimitExceeded", "Cannot delete entity, must remove roles from instance profile first.")
        task = f"task/aws-service-role/{service}/{role.name}/{uuid.uuid4()}"
        try:
            self.repo.delete_service_linked_role(role.id, role.account_id, task)
        except StaleState:
            raise self.err("LimitExceeded", "Cannot delete entity, must remove roles from instance profile first.") from None
        self.written()
        return {"DeletionTaskId": task}

    @action("GetServiceLinkedRoleDeletionStatus")
    def get_service_linked_role_deletion_status(self, info: RequestInfo, params: Params) -> Result:
        task_id = params["DeletionTaskId"]
        self.authorize(info, "GetServiceLinkedRoleDeletionStatus", "*")
        if not _TASK.match(task_id):
            raise self.invalid(f"Invalid deletion task id: {task_id}")
        found = self.repo.service_linked_role_deletion(task_id)
        if found is None or found[0] != self.caller(info).account_id:
            raise self.no_such(f"Deletion task {task_id} cannot be found.")
        return {"Status": found[1]}
