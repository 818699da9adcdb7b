from __future__ import annotations

import orjson
import pytest

from opensts.audit.report.classify import classify_event, classify_host, fast_regional, regional_time_at
from opensts.audit.report.sdk import identify

from .conftest import event


@pytest.mark.parametrize("host,cls,region", [
    ("sts.amazonaws.com", "global", None),
    ("STS.AMAZONAWS.COM:443", "global", None),
    ("sts-global.eu-north-1.amazonaws.com", "global", "eu-north-1"),
    ("sts.us-west-2.amazonaws.com", "regional", "us-west-2"),
    ("sts-fips.us-east-1.amazonaws.com", "regional", "us-east-1"),
    ("sts.cn-north-1.amazonaws.com.cn", "regional", "cn-north-1"),
    ("sts.us-east-1.api.aws", "regional", "us-east-1"),
    ("vpce-0abc-xyz.sts.eu-west-1.vpce.amazonaws.com", "regional", "eu-west-1"),
    ("sts.example.internal", "unknown", None),
    ("", "unknown", None),
    (None, "unknown", None),
])
def test_host(host, cls, region):
    assert classify_host(host) == (cls, region)


def test_field_wins_over_host():
    assert classify_event(event(etype="regional", serving="us-east-1", host="sts.amazonaws.com"))[:2] == \
        ("regional", "us-east-1")
    assert classify_event(event(etype="global", serving="eu-north-1", host="sts.eu-north-1.amazonaws.com"))[:2] == \
        ("global", "eu-north-1")


def test_serving_region_fallbacks():
    assert classify_event(event(host="sts-global.eu-north-1.amazonaws.com"))[:2] == ("global", "eu-north-1")
    assert classify_event(event(host="sts.amazonaws.com"))[:2] == ("global", None)
    assert classify_event(event(etype="regional", region="ap-south-1"))[:2] == ("regional", "ap-south-1")
    assert classify_event(event())[:2] == ("unknown", None)


def test_stringified_nested_objects():
    rec = event(host="sts.amazonaws.com")
    rec["additionalEventData"] = orjson.dumps({"RequestDetails": {"endpointType": "regional"}}).decode()
    assert classify_event(rec)[0] == "regional"


def test_fast_regional_only_when_unambiguous():
    reg = orjson.dumps(event(etype="regional", serving="us-west-2", when="2025-01-02T03:04:05Z"))
    assert fast_regional(reg) == "2025-01-02T03:04:05Z"
    assert fast_regional(orjson.dumps(event(etype="global"))) is None
    assert fast_regional(orjson.dumps(event(host="sts.us-west-2.amazonaws.com"))) is None
    pretty = orjson.dumps(event(etype="regional"), option=orjson.OPT_INDENT_2)
    assert fast_regional(pretty) is None  # spaces: parsed normally instead


def test_regional_time_at_stays_inside_its_bounds():
    """The reader looks at pieces in place: a neighbour's fields must not leak into the verdict."""
    glob = orjson.dumps(event(etype="global", when="2025-01-01T00:00:00Z"))
    reg = orjson.dumps(event(etype="regional", when="2025-01-02T03:04:05Z"))
    buf = glob + b"," + reg
    assert regional_time_at(buf, 0, len(glob)) is None
    assert regional_time_at(buf, len(glob) + 1, len(buf)) == "2025-01-02T03:04:05Z"
    assert regional_time_at(buf, 0, len(buf)) is None  # two endpointType keys: ambiguous, parse it
    cut = reg.index(b'"endpointType"')
    assert regional_time_at(reg, 0, cut + 20) is None  # the value is cut off by the bound


def test_regional_time_at_refuses_glued_and_foreign_records():
    reg = orjson.dumps(event(etype="regional"))
    s3 = orjson.dumps(event(source="s3.amazonaws.com"))
    assert regional_time_at(s3 + reg, 0, len(s3) + len(reg)) is None  # second eventSource before
    assert regional_time_at(reg + s3, 0, len(s3) + len(reg)) is None  # and after
    other = orjson.dumps(event(source="s3.amazonaws.com", etype="regional"))
    assert regional_time_at(other, 0, len(other)) is None  # regional, but not STS
    untimed = reg.replace(b'"eventTime"', b'"eventTimeX"')
    assert regional_time_at(untimed, 0, len(untimed)) == ""


@pytest.mark.parametrize("ua,key,needle", [
    ("aws-cli/1.18.136 Python/3.8.0 Linux/5.4.0 botocore/1.17.59", "aws-cli v1", "AWS_STS_REGIONAL_ENDPOINTS=regional"),
    ("aws-cli/1.45.11 Python/3.11 Linux botocore/1.43.11", "aws-cli v1", "aws-global"),
    ("aws-cli/2.15.33 Python/3.11.8 Linux/6.1 exe/x86_64", "aws-cli v2", "August 2025"),
    ("Boto3/1.26.0 md/Botocore#1.29.0 ua/2.0 os/linux Botocore/1.29.0", "botocore", "1.40.0"),
    ("Boto3/1.40.5 md/Botocore#1.40.5 ua/2.0 Botocore/1.40.5", "botocore", "aws-global"),
    ("aws-sdk-go/1.44.0 (go1.19; linux; amd64)", "aws-sdk-go", "AWS_SDK_LOAD_CONFIG"),
    ("aws-sdk-go-v2/1.21.0 os/linux lang/go#1.21", "aws-sdk-go-v2", "aws-global"),
    ("aws-sdk-java/1.12.300 Linux/5.10 OpenJDK_64-Bit_Server_VM/11", "aws-sdk-java-v1", "withRegion"),
    ("aws-sdk-java/2.20.0 Linux/5.10 OpenJDK_64-Bit_Server_VM/17", "aws-sdk-java-v2", "AWS_GLOBAL"),
    ("aws-sdk-nodejs/2.1300.0 linux/v16.19.0", "aws-sdk-js-v2", "stsRegionalEndpoints"),
    ("aws-sdk-js/3.450.0 ua/2.0 os/linux lang/js", "aws-sdk-js-v3", "aws-global"),
    ("aws-sdk-ruby3/3.130.0 ruby/3.0.0 x86_64-linux aws-sdk-core/3.130.0", "aws-sdk-ruby", "sts_regional_endpoints"),
    ("aws-sdk-dotnet-coreclr/3.7.0 aws-sdk-dotnet-core/3.7.0 .NET_Core/6.0", "aws-sdk-dotnet", "StsRegionalEndpoints"),
    ("aws-sdk-php/3.250.0 OS/Linux/5.10 lang/php/8.1", "aws-sdk-php", "'sts_regional_endpoints' => 'regional'"),
    ("aws-sdk-cpp/1.11.0 Linux/5.10 x86_64 GCC/11", "aws-sdk-cpp", "regional"),
    ("aws-sdk-rust/0.56.1 os/linux lang/rust/1.72.0", "aws-sdk-rust", "aws-global"),
    ("APN/1.0 HashiCorp/1.0 Terraform/1.5.7 (+https://www.terraform.io) terraform-provider-aws/4.67.0 "
     "aws-sdk-go/1.44.260", "terraform", "sts_region"),
    ("aws-iam-authenticator/0.6.11", "aws-iam-authenticator", "kubeconfig"),
    ("ec2.amazonaws.com", "aws-internal", "nothing to change"),
    ("AWS Internal", "aws-internal", "nothing to change"),
    ("curl/8.0", "other", "unrecognised"),
])
def test_identify(ua, key, needle):
    sdk = identify(ua)
    assert sdk.key == key
    assert needle in sdk.advice
