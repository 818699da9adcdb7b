"""Instance profiles and service-linked roles with real clients (boto3 and the AWS CLI): AWS's
shapes, errors and limits, authorization by identity policy, cross-account isolation, and the
one-role limit under concurrency."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.clients.iam_support import allow, aws_cli, client_for, error, new_account, user_client
from tests.clients.iam_support import admin_key, iam, other_iam  # noqa: F401  (fixtures)
from tests.conftest import Server

ACCOUNT = "731500000001"
OTHER = "731500000002"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})



# -- instance profiles -------------------------------------------------------------------------------
def test_instance_profile_lifecycle(iam: Any) -> None:
    made = iam.create_instance_profile(InstanceProfileName="web", Path="/app/",
                                       Tags=[{"Key": "env", "Value": "prod"}])["InstanceProfile"]
    assert re.fullmatch(r"AIPA[A-Z2-7]{17}", made["InstanceProfileId"])
    assert made["Arn"] == f"arn:aws:iam::{ACCOUNT}:instance-profile/app/web"
    assert (made["Path"], made["Roles"], made["Tags"]) == ("/app/", [], [{"Key": "env", "Value": "prod"}])
    iam.create_role(RoleName="web-role", AssumeRolePolicyDocument=TRUST)
    iam.add_role_to_instance_profile(InstanceProfileName="web", RoleName="web-role")
    got = iam.get_instance_profile(InstanceProfileName="WEB")["InstanceProfile"]  # names are case-insensitive
    assert [r["RoleName"] for r in got["Roles"]] == ["web-role"]
    assert got["Roles"][0]["AssumeRolePolicyDocument"] == json.loads(TRUST)
    listed = iam.list_instance_profiles_for_role(RoleName="web-role")["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in listed] == ["web"]
    assert [p["InstanceProfileName"] for p in iam.list_instance_profiles(PathPrefix="/app/")["InstanceProfiles"]] == ["web"]
    assert iam.list_instance_profiles(PathPrefix="/none/")["InstanceProfiles"] == []

    with pytest.raises(ClientError) as exc:
        iam.create_instance_profile(InstanceProfileName="Web")
    assert error(exc) == ("EntityAlreadyExists", 409, "Instance Profile Web already exists.")
    with pytest.raises(ClientError) as exc:
        iam.delete_instance_profile(InstanceProfileName="web")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete entity, must remove roles from instance profile first.")
    with pytest.raises(ClientError) as exc:  # as on AWS: a role in a profile cannot be deleted
        iam.delete_role(RoleName="web-role")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete entity, must remove roles from instance profile first.")

    iam.remove_role_from_instance_profile(InstanceProfileName="web", RoleName="web-role")
    with pytest.raises(ClientError) as exc:
        iam.remove_role_from_instance_profile(InstanceProfileName="web", RoleName="web-role")
    assert error(exc)[:2] == ("NoSuchEntity", 404)
    assert iam.list_instance_profiles_for_role(RoleName="web-role")["InstanceProfiles"] == []
    iam.delete_instance_profile(InstanceProfileName="web")
    iam.delete_role(RoleName="web-role")
    with pytest.raises(ClientError) as exc:
        iam.get_instance_profile(InstanceProfileName="web")
    assert error(exc) == ("NoSuchEntity", 404, "Instance Profile web cannot be found.")


def test_one_role_per_profile(iam: Any) -> None:
    iam.create_instance_profile(InstanceProfileName="one")
    for name in ("r1", "r2"):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
    iam.add_role_to_instance_profile(InstanceProfileName="one", RoleName="r1")
    for role in ("r2", "r1"):  # another role, or the same one again
        with pytest.raises(ClientError) as exc:
            iam.add_role_to_instance_profile(InstanceProfileName="one", RoleName=role)
        assert error(exc) == ("LimitExceeded", 409, "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
    with pytest.raises(ClientError) as exc:
        iam.add_role_to_instance_profile(InstanceProfileName="one", RoleName="nobody")
    assert error(exc) == ("NoSuchEntity", 404, "The role with name nobody cannot be found.")
    with pytest.raises(ClientError) as exc:
        iam.add_role_to_instance_profile(InstanceProfileName="nothing", RoleName="r2")
    assert error(exc) == ("NoSuchEntity", 404, "Instance Profile nothing cannot be found.")


def test_one_role_per_profile_under_concurrency(iam: Any) -> None:
    iam.create_instance_profile(InstanceProfileName="race")
    names = [f"race{i}" for i in range(8)]
    for name in names:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
    barrier, outcomes = threading.Barrier(len(names)), []

    def add(name: str) -> None:
        barrier.wait()
        try:
            iam.add_role_to_instance_profile(InstanceProfileName="race", RoleName=name)
            outcomes.append("ok")
        except ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])

    threads = [threading.Thread(target=add, args=(n,)) for n in names]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert sorted(outcomes) == ["LimitExceeded"] * 7 + ["ok"]
    assert len(iam.get_instance_profile(InstanceProfileName="race")["InstanceProfile"]["Roles"]) == 1


def test_instance_profile_tags_and_limit(iam: Any) -> None:
    iam.create_instance_profile(InstanceProfileName="tagged")
    iam.tag_instance_profile(InstanceProfileName="tagged", Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    with pytest.raises(ClientError) as exc:
        iam.tag_instance_profile(InstanceProfileName="tagged", Tags=[{"Key": "one-more", "Value": "v"}])
    assert error(exc) == ("LimitExceeded", 409, "The number of tags has reached the maximum limit.")
    iam.tag_instance_profile(InstanceProfileName="tagged", Tags=[{"Key": "K0", "Value": "new"}])  # overwrite: fine
    page = iam.list_instance_profile_tags(InstanceProfileName="tagged", MaxItems=10)
    assert page["IsTruncated"] and len(page["Tags"]) == 10
    iam.untag_instance_profile(InstanceProfileName="tagged", TagKeys=[f"k{i}" for i in range(1, 50)])
    assert iam.list_instance_profile_tags(InstanceProfileName="tagged")["Tags"] == [{"Key": "K0", "Value": "new"}]
    with pytest.raises(ClientError) as exc:
        iam.create_instance_profile(InstanceProfileName="dup", Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}])
    assert error(exc)[:2] == ("InvalidInput", 400)


def test_list_instance_profiles_pages(iam: Any) -> None:
    for i in range(5):
        iam.create_instance_profile(InstanceProfileName=f"pg{i}", Path="/paged/")
    first = iam.list_instance_profiles(PathPrefix="/paged/", MaxItems=2)
    assert first["IsTruncated"] and len(first["InstanceProfiles"]) == 2
    paginator = iam.get_paginator("list_instance_profiles")
    names = [p["InstanceProfileName"] for page in paginator.paginate(PathPrefix="/paged/", PaginationConfig={"PageSize": 2})
             for p in page["InstanceProfiles"]]
    assert names == [f"pg{i}" for i in range(5)]


def test_instance_profiles_need_permission(server: Server, iam: Any) -> None:
    nobody = user_client(server, iam, "ip-nobody")
    with pytest.raises(ClientError) as exc:
        nobody.create_instance_profile(InstanceProfileName="denied")
    assert error(exc)[:2] == ("AccessDenied", 403)
    assert f"iam:CreateInstanceProfile on resource: arn:aws:iam::{ACCOUNT}:instance-profile/denied" in error(exc)[2]
    with pytest.raises(ClientError) as exc:  # denied before revealing whether it exists
        nobody.get_instance_profile(InstanceProfileName="absent")
    assert error(exc)[:2] == ("AccessDenied", 403)
    maker = user_client(server, iam, "ip-maker", allow("iam:CreateInstanceProfile", "iam:AddRoleToInstanceProfile",
                                                       "iam:GetInstanceProfile"))
    maker.create_instance_profile(InstanceProfileName="mine")
    iam.create_role(RoleName="precious", AssumeRolePolicyDocument=TRUST)
    with pytest.raises(ClientError) as exc:  # adding a role hands it out: iam:PassRole on it is needed too
        maker.add_role_to_instance_profile(InstanceProfileName="mine", RoleName="precious")
    assert error(exc)[:2] == ("AccessDenied", 403) and "iam:PassRole" in error(exc)[2]


def test_tags_in_decisions(server: Server, iam: Any) -> None:
    """aws:RequestTag / aws:TagKeys on create and tag, aws:ResourceTag on the profile's own tags."""
    iam.create_instance_profile(InstanceProfileName="team-web", Tags=[{"Key": "team", "Value": "web"}])
    iam.create_instance_profile(InstanceProfileName="team-db", Tags=[{"Key": "team", "Value": "db"}])
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:GetInstanceProfile", "Resource": "*",
         "Condition": {"StringEquals": {"aws:ResourceTag/team": "web"}}},
        {"Effect": "Allow", "Action": ["iam:CreateInstanceProfile", "iam:TagInstanceProfile"], "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestTag/team": "web"},
                       "ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}}]}
    web = user_client(server, iam, "ip-web", policy)
    assert web.get_instance_profile(InstanceProfileName="team-web")["InstanceProfile"]["InstanceProfileName"] == "team-web"
    with pytest.raises(ClientError) as exc:
        web.get_instance_profile(InstanceProfileName="team-db")
    assert error(exc)[:2] == ("AccessDenied", 403)
    web.create_instance_profile(InstanceProfileName="team-web-2", Tags=[{"Key": "team", "Value": "web"}])
    for tags in ([{"Key": "team", "Value": "db"}], [{"Key": "team", "Value": "web"}, {"Key": "cost", "Value": "1"}]):
        with pytest.raises(ClientError) as exc:
            web.create_instance_profile(InstanceProfileName="team-other", Tags=tags)
        assert error(exc)[:2] == ("AccessDenied", 403)
    with pytest.raises(ClientError) as exc:
        web.tag_instance_profile(InstanceProfileName="team-db", Tags=[{"Key": "team", "Value": "db"}])
    assert error(exc)[:2] == ("AccessDenied", 403)


def test_instance_profiles_are_per_account(iam: Any, other_iam: Any) -> None:
    iam.create_instance_profile(InstanceProfileName="private")
    with pytest.raises(ClientError) as exc:
        other_iam.get_instance_profile(InstanceProfileName="private")
    assert error(exc)[:2] == ("NoSuchEntity", 404)
    assert "private" not in [p["InstanceProfileName"] for p in other_iam.list_instance_profiles()["InstanceProfiles"]]
    other_iam.create_instance_profile(InstanceProfileName="private")  # the name is free there


def test_account_summary_counts_instance_profiles(iam: Any, other_iam: Any) -> None:
    before = other_iam.get_account_summary()["SummaryMap"]["InstanceProfiles"]
    other_iam.create_instance_profile(InstanceProfileName="counted")
    assert other_iam.get_account_summary()["SummaryMap"]["InstanceProfiles"] == before + 1


# -- service-linked roles -----------------------------------------------------------------------------
def test_service_linked_role(iam: Any) -> None:
    role = iam.create_service_linked_role(AWSServiceName="elasticbeanstalk.amazonaws.com",
                                          Description="for Beanstalk")["Role"]
    assert role["RoleName"] == "AWSServiceRoleForElasticBeanstalk"
    assert role["Path"] == "/aws-service-role/elasticbeanstalk.amazonaws.com/"
    assert role["Arn"] == (f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/elasticbeanstalk.amazonaws.com/"
                           "AWSServiceRoleForElasticBeanstalk")
    assert role["Description"] == "for Beanstalk"
    trust = role["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": ["elasticbeanstalk.amazonaws.com"]}
    assert iam.get_role(RoleName="AWSServiceRoleForElasticBeanstalk")["Role"]["RoleId"] == role["RoleId"]

    with pytest.raises(ClientError) as exc:
        iam.create_service_linked_role(AWSServiceName="elasticbeanstalk.amazonaws.com")
    assert error(exc) == ("InvalidInput", 400, "Service role name AWSServiceRoleForElasticBeanstalk has been taken "
                                               "in this account, please try a different suffix.")
    suffixed = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com", CustomSuffix="fleet")["Role"]
    assert suffixed["RoleName"] == "AWSServiceRoleForAutoScaling_fleet"
    with pytest.raises(ClientError) as exc:
        iam.create_service_linked_role(AWSServiceName="es.amazonaws.com", CustomSuffix="x")
    assert error(exc) == ("InvalidInput", 400, "Custom suffix is not allowed for es.amazonaws.com")
    assert iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")["Role"]["RoleName"] == "AWSServiceRoleForECS"
    with pytest.raises(ClientError) as exc:
        iam.create_service_linked_role(AWSServiceName="not-a-service")
    assert error(exc)[:2] == ("InvalidInput", 400)

    protected = ("Cannot perform the operation on the protected role 'AWSServiceRoleForElasticBeanstalk' - this "
                 "role is only modifiable by AWS")
    attempts = [
        lambda: iam.update_assume_role_policy(RoleName="AWSServiceRoleForElasticBeanstalk", PolicyDocument=TRUST),
        lambda: iam.delete_role(RoleName="AWSServiceRoleForElasticBeanstalk"),
        lambda: iam.put_role_policy(RoleName="AWSServiceRoleForElasticBeanstalk", PolicyName="p",
                                    PolicyDocument=json.dumps(allow("s3:*"))),
    ]
    for attempt in attempts:
        with pytest.raises(ClientError) as exc:
            attempt()
        assert error(exc) == ("UnmodifiableEntity", 400, protected)

    task = iam.delete_service_linked_role(RoleName="AWSServiceRoleForElasticBeanstalk")["DeletionTaskId"]
    assert re.fullmatch(r"task/aws-service-role/elasticbeanstalk\.amazonaws\.com/AWSServiceRoleForElasticBeanstalk/"
                        r"[0-9a-f-]{36}", task)
    assert iam.get_service_linked_role_deletion_status(DeletionTaskId=task)["Status"] == "SUCCEEDED"
    with pytest.raises(ClientError) as exc:
        iam.get_role(RoleName="AWSServiceRoleForElasticBeanstalk")
    assert error(exc)[:2] == ("NoSuchEntity", 404)
    unknown = task[:-36] + "00000000-0000-0000-0000-000000000000"
    with pytest.raises(ClientError) as exc:
        iam.get_service_linked_role_deletion_status(DeletionTaskId=unknown)
    assert error(exc)[:2] == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        iam.get_service_linked_role_deletion_status(DeletionTaskId="garbage")
    assert error(exc)[:2] == ("InvalidInput", 400)
    iam.create_role(RoleName="plain", AssumeRolePolicyDocument=TRUST)
    with pytest.raises(ClientError) as exc:
        iam.delete_service_linked_role(RoleName="plain")
    assert error(exc)[:2] == ("InvalidInput", 400)


def test_service_linked_role_tasks_are_per_account(iam: Any, other_iam: Any) -> None:
    iam.create_service_linked_role(AWSServiceName="rds.amazonaws.com")
    task = iam.delete_service_linked_role(RoleName="AWSServiceRoleForRDS")["DeletionTaskId"]
    with pytest.raises(ClientError) as exc:
        other_iam.get_service_linked_role_deletion_status(DeletionTaskId=task)
    assert error(exc)[:2] == ("NoSuchEntity", 404)


def test_service_linked_role_needs_permission(server: Server, iam: Any) -> None:
    nobody = user_client(server, iam, "slr-nobody")
    with pytest.raises(ClientError) as exc:
        nobody.create_service_linked_role(AWSServiceName="spot.amazonaws.com")
    assert error(exc)[:2] == ("AccessDenied", 403)
    assert "role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot" in error(exc)[2]
    only_asg = user_client(server, iam, "slr-asg", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "iam:CreateServiceLinkedRole", "Resource": "*",
        "Condition": {"StringEquals": {"iam:AWSServiceName": "autoscaling.amazonaws.com"}}}]})
    only_asg.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com", CustomSuffix="asg-only")
    with pytest.raises(ClientError) as exc:  # iam:AWSServiceName names the service in the decision
        only_asg.create_service_linked_role(AWSServiceName="spot.amazonaws.com")
    assert error(exc)[:2] == ("AccessDenied", 403)


def test_aws_cli_instance_profile_and_service_linked_role(server: Server, admin_key: dict[str, str], iam: Any) -> None:
    iam.create_role(RoleName="cli-ip-role", AssumeRolePolicyDocument=TRUST)
    made = aws_cli(server, admin_key, "create-instance-profile", "--instance-profile-name", "cli-ip")
    assert made["InstanceProfile"]["InstanceProfileName"] == "cli-ip"
    aws_cli(server, admin_key, "add-role-to-instance-profile", "--instance-profile-name", "cli-ip",
            "--role-name", "cli-ip-role")
    got = aws_cli(server, admin_key, "get-instance-profile", "--instance-profile-name", "cli-ip")
    assert [r["RoleName"] for r in got["InstanceProfile"]["Roles"]] == ["cli-ip-role"]
    failed = aws_cli(server, admin_key, "delete-instance-profile", "--instance-profile-name", "cli-ip", check=False)
    assert failed.returncode != 0 and "DeleteConflict" in failed.stderr
    slr = aws_cli(server, admin_key, "create-service-linked-role", "--aws-service-name",
                  "elasticloadbalancing.amazonaws.com")
    assert slr["Role"]["RoleName"] == "AWSServiceRoleForElasticLoadBalancing"
    task = aws_cli(server, admin_key, "delete-service-linked-role", "--role-name",
                   "AWSServiceRoleForElasticLoadBalancing")["DeletionTaskId"]
    status = aws_cli(server, admin_key, "get-service-linked-role-deletion-status", "--deletion-task-id", task)
    assert status["Status"] == "SUCCEEDED"
