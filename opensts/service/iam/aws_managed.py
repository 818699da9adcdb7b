"""AWS managed policies that exist in every store (account None, ``arn:aws:iam::aws:policy/…``).

Small and accurate: the statements of the real policies (ReadOnlyAccess trimmed to the IAM, STS,
S3 and EC2 read actions, since the real one lists hundreds of services). Seeded idempotently
when the IAM service starts.
"""

from __future__ import annotations

import base64
import hashlib
import json

from opensts.store.repository import SqlRepository

__all__ = ["AWS_MANAGED_POLICIES", "ROOT_TASK_POLICY_ARNS", "seed_aws_managed_policies", "aws_policy_arn"]


def aws_policy_arn(name: str, path: str = "/") -> str:
    return f"arn:aws:iam::aws:policy{path}{name}"


def _doc(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=4)


def _allow(actions: object, **extra: object) -> dict[str, object]:
    return {"Effect": "Allow", "Action": actions, "Resource": "*", **extra}


ROOT_TASK_PATH = "/root-task/"

# name -> (path, description, document)
AWS_MANAGED_POLICIES: dict[str, tuple[str, str, str]] = {
    "AdministratorAccess": ("/", "Provides full access to AWS services and resources.", _doc(_allow("*"))),
    "PowerUserAccess": (
        "/",
        "Provides full access to AWS services and resources, but does not allow management of Users and groups.",
        _doc(
            {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"},
            _allow([
                "account:GetAccountInformation", "account:GetPrimaryEmail", "account:ListRegions",
                "iam:CreateServiceLinkedRole", "iam:DeleteServiceLinkedRole", "iam:ListRoles",
                "organizations:DescribeOrganization",
            ]),
        ),
    ),
    "ReadOnlyAccess": (
        "/",
        "Provides read-only access to AWS services and resources.",
        _doc(_allow([
            "ec2:Describe*", "ec2:Get*", "iam:Generate*", "iam:Get*", "iam:List*", "iam:Simulate*",
            "s3:Describe*", "s3:Get*", "s3:List*", "sts:GetAccessKeyInfo", "sts:GetCallerIdentity",
            "sts:GetSessionToken",
        ])),
    ),
    "IAMFullAccess": (
        "/",
        "Provides full access to IAM via the AWS Management Console.",
        _doc(_allow([
            "iam:*", "organizations:DescribeAccount", "organizations:DescribeOrganization",
            "organizations:DescribeOrganizationalUnit", "organizations:DescribePolicy",
            "organizations:ListChildren", "organizations:ListParents", "organizations:ListPoliciesForTarget",
            "organizations:ListRoots", "organizations:ListPolicies", "organizations:ListTargetsForPolicy",
        ])),
    ),
    "IAMReadOnlyAccess": (
        "/",
        "Provides read only access to IAM via the AWS Management Console.",
        _doc(_allow([
            "iam:GenerateCredentialReport", "iam:GenerateServiceLastAccessedDetails", "iam:Get*",
            "iam:List*", "iam:SimulateCustomPolicy", "iam:SimulatePrincipalPolicy",
        ])),
    ),
    "IAMUserChangePassword": (
        "/",
        "Provides the ability for an IAM user to change their own password.",
        _doc(
            {"Effect": "Allow", "Action": ["iam:ChangePassword"],
             "Resource": ["arn:aws:iam::*:user/${aws:username}"]},
            _allow(["iam:GetAccountPasswordPolicy"]),
        ),
    ),
    "AmazonS3FullAccess": (
        "/", "Provides full access to all buckets via the AWS Management Console.",
        _doc(_allow(["s3:*", "s3-object-lambda:*"])),
    ),
    "AmazonS3ReadOnlyAccess": (
        "/", "Provides read only access to all buckets via the AWS Management Console.",
        _doc(_allow(["s3:Get*", "s3:List*", "s3:Describe*", "s3-object-lambda:Get*", "s3-object-lambda:List*"])),
    ),
    "AWSDenyAll": ("/", "Denies all access.", _doc({"Effect": "Deny", "Action": "*", "Resource": "*"})),
    # The task policies of AssumeRoot (path /root-task/): a root session may do only these.
    "IAMAuditRootUserCredentials": (
        ROOT_TASK_PATH, "Audit the root user credentials of a member account.",
        _doc(_allow([
            "iam:GetAccountSummary", "iam:GetAccessKeyLastUsed", "iam:GetLoginProfile", "iam:GetUser",
            "iam:ListAccessKeys", "iam:ListMFADevices", "iam:ListSigningCertificates",
        ])),
    ),
    "IAMCreateRootUserPassword": (
        ROOT_TASK_PATH, "Allow the root user of a member account to recover its password.",
        _doc(_allow(["iam:CreateLoginProfile", "iam:GetLoginProfile", "iam:GetUser"])),
    ),
    "IAMDeleteRootUserCredentials": (
        ROOT_TASK_PATH, "Delete the root user credentials of a member account.",
        _doc(_allow([
            "iam:DeactivateMFADevice", "iam:DeleteAccessKey", "iam:DeleteLoginProfile",
            "iam:DeleteSigningCertificate", "iam:GetAccessKeyLastUsed", "iam:GetLoginProfile", "iam:GetUser",
            "iam:ListAccessKeys", "iam:ListMFADevices", "iam:ListSigningCertificates",
        ])),
    ),
    "S3UnlockBucketPolicy": (
        ROOT_TASK_PATH, "Delete a bucket policy that denies all principals access to the bucket.",
        _doc(_allow(["s3:DeleteBucketPolicy", "s3:GetBucketPolicy", "s3:ListAllMyBuckets"])),
    ),
    "SQSUnlockQueuePolicy": (
        ROOT_TASK_PATH, "Delete a queue policy that denies all principals access to the queue.",
        _doc(_allow(["sqs:GetQueueAttributes", "sqs:ListQueues", "sqs:SetQueueAttributes"])),
    ),
}

#: AssumeRoot's TaskPolicyArn must name one of these.
ROOT_TASK_POLICY_ARNS = frozenset(
    aws_policy_arn(name, path) for name, (path, _, _) in AWS_MANAGED_POLICIES.items() if path == ROOT_TASK_PATH
)

_KNOWN_IDS = {"AdministratorAccess": "ANPAIWMBCKSKIEE64ZLYK"}


def _policy_id(name: str) -> str:
    """Stable ids (the same in every store), in AWS's ANPA… format."""
    if name in _KNOWN_IDS:
        return _KNOWN_IDS[name]
    digest = hashlib.sha256(f"aws-managed:{name}".encode()).digest()
    return "ANPA" + base64.b32encode(digest).decode()[:17]


def seed_aws_managed_policies(repo: SqlRepository) -> int:
    """Create the AWS managed policies missing from the store; the number created."""
    created = 0
    for name, (path, description, document) in AWS_MANAGED_POLICIES.items():
        created += repo.ensure_aws_managed_policy(
            aws_policy_arn(name, path), _policy_id(name), name, path, document, description
        )
    return created
