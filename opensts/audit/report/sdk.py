"""User agent → SDK or tool, and the one setting to change so it stops calling the global endpoint.

Facts (sts-api.md §5.6, design/ecosystem.md §a, AWS SDKs and Tools Reference Guide "AWS STS Regional
endpoints"): the setting is ``sts_regional_endpoints = regional`` in ``~/.aws/config`` or
``AWS_STS_REGIONAL_ENDPOINTS=regional``; botocore 1.40.0 (boto3 1.40.0, AWS CLI v1 1.42.0), AWS CLI v2,
PHP, C++, .NET and Tools for PowerShell switched their default to ``regional`` on 2025-07-31; Go v2,
Java 2.x, JS v3, Rust (all majors after July 2022) were regional from the start, so a global call from
them means an explicit choice: Region ``aws-global`` or an endpoint of ``https://sts.amazonaws.com``.
Go v1 and JS v2 read ``sts_regional_endpoints`` from the config file only with
``AWS_SDK_LOAD_CONFIG=1``; the environment variable always works.
"""

from __future__ import annotations

import re
from functools import lru_cache

from opensts.frozen import frozen

__all__ = ["Sdk", "identify"]

ENV = "AWS_STS_REGIONAL_ENDPOINTS=regional"
CFG = "sts_regional_endpoints = regional in ~/.aws/config"
SET = f"set {ENV} (or {CFG})"
EXPLICIT = ("regional is already the default, so the global endpoint was chosen explicitly: look for "
            "Region aws-global, an endpoint of https://sts.amazonaws.com (--endpoint-url, endpoint_url, "
            "AWS_ENDPOINT_URL_STS) or sts_regional_endpoints/AWS_STS_REGIONAL_ENDPOINTS=legacy, and use a "
            "real Region")


@frozen
class Sdk:
    """A recognised client: ``key`` groups versions (``botocore``), ``label`` names this version."""

    key: str
    label: str
    advice: str


def _ver(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    parts = []
    for piece in text.split(".")[:3]:
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group()))
    return tuple(parts)


def _find(pattern: str, ua: str) -> str | None:
    m = re.search(pattern, ua, re.IGNORECASE)
    return m.group(1) if m else None


def _botocore_advice(version: tuple[int, ...], upgrade: str) -> str:
    if version and version >= (1, 40, 0):
        return EXPLICIT
    return f"{SET}, or upgrade to {upgrade}, whose default is regional"


def _cli(ua: str) -> Sdk | None:
    v = _find(r"\baws-cli/(\d[\w.]*)", ua)
    if v is None:
        return None
    if v.startswith("1."):
        bc = _find(r"\bbotocore[/#](\d[\w.]*)", ua)
        cli_new = _ver(v) >= (1, 42, 0)
        bc_new = _ver(bc) >= (1, 40, 0) if bc else cli_new
        advice = EXPLICIT if bc_new else f"{SET}, or upgrade to aws-cli >= 1.42.0 (botocore >= 1.40.0), whose default is regional"
        return Sdk("aws-cli v1", f"aws-cli {v}" + (f" (botocore {bc})" if bc else ""), advice)
    if v.startswith("2."):
        return Sdk("aws-cli v2", f"aws-cli {v}",
                   f"{SET}, or upgrade AWS CLI v2 to a release from August 2025 or later (default regional); "
                   "if already current: " + EXPLICIT)
    return Sdk("aws-cli", f"aws-cli {v}", SET)


_RULES: list[tuple[str, str, str, str]] = [
    # (regex with the version as group 1, key, label prefix, advice); first match wins
    (r"\bterraform-provider-aws/(\d[\w.]*)", "terraform", "terraform-provider-aws",
     "set the provider's sts_region (and region) arguments, remove endpoints { sts = \"https://sts.amazonaws.com\" } "
     f"from provider and S3-backend blocks, and {ENV} in the environment that runs Terraform; upgrade the provider"),
    (r"\bTerraform/(\d[\w.]*)", "terraform", "Terraform",
     f"set the AWS provider's sts_region argument and {ENV} in the environment that runs Terraform"),
    (r"\baws-iam-authenticator/(\d[\w.]*)", "aws-iam-authenticator", "aws-iam-authenticator",
     f"EKS tokens presign GetCallerIdentity for the endpoint the client picks: set {ENV} (and AWS_REGION) in the "
     "kubeconfig user's env: block, and upgrade aws-iam-authenticator / use a current `aws eks get-token`"),
    (r"\bkubectl/(\S*)", "kubectl", "kubectl",
     f"the exec credential plugin (aws eks get-token or aws-iam-authenticator) builds the token: set {ENV} and "
     "AWS_REGION in the kubeconfig user's env: block and upgrade the plugin"),
    (r"\bVault/(\d[\w.]*)", "vault", "HashiCorp Vault",
     "Vault's AWS auth/secrets engines default to the global endpoint: configure sts_endpoint = "
     "https://sts.REGION.amazonaws.com and sts_region = REGION"),
    (r"\baws-sdk-go-v2/(\d[\w.]*)", "aws-sdk-go-v2", "aws-sdk-go-v2", EXPLICIT),
    (r"\baws-sdk-go/(\d[\w.]*)", "aws-sdk-go", "aws-sdk-go (v1)",
     f"set {ENV} (the config-file key sts_regional_endpoints is read only with AWS_SDK_LOAD_CONFIG=1) or "
     "aws.Config{STSRegionalEndpoint: endpoints.RegionalSTSEndpoint}; better, migrate to aws-sdk-go-v2 "
     "(regional by default; v1 is out of support since 2025-07-31)"),
    (r"\baws-sdk-java/(2\.[\w.]*)", "aws-sdk-java-v2", "aws-sdk-java", EXPLICIT + " (Region.AWS_GLOBAL, endpointOverride)"),
    (r"\baws-sdk-java/(1\.[\w.]*)", "aws-sdk-java-v1", "aws-sdk-java",
     f"{SET} and build the STS client with an explicit Region "
     "(AWSSecurityTokenServiceClientBuilder.standard().withRegion(...)); better, migrate to Java 2.x (regional by default)"),
    (r"\baws-sdk-js/(3\.[\w.]*)", "aws-sdk-js-v3", "aws-sdk-js", EXPLICIT + " (region 'aws-global', useGlobalEndpoint)"),
    (r"\baws-sdk-(?:nodejs|js)/(2\.[\w.]*)", "aws-sdk-js-v2", "aws-sdk-js",
     f"set {ENV} or new AWS.STS({{stsRegionalEndpoints: 'regional'}}) (the config-file key is read only with "
     "AWS_SDK_LOAD_CONFIG=1); better, migrate to v3 (regional by default)"),
    (r"\baws-sdk-ruby\d?/(\d[\w.]*)", "aws-sdk-ruby", "aws-sdk-ruby",
     f"{SET} or Aws::STS::Client.new(sts_regional_endpoints: 'regional'); upgrade aws-sdk-core"),
    (r"\bAWSPowerShell[\w.]*/(\d[\w.]*)", "aws-tools-powershell", "AWS Tools for PowerShell",
     f"{SET}, or upgrade to a release from August 2025 or later (default regional)"),
    (r"\baws-sdk-dotnet[\w-]*/(\d[\w.]*)", "aws-sdk-dotnet", "aws-sdk-dotnet",
     f"{SET} or AWSConfigs.StsRegionalEndpoints = StsRegionalEndpointsValue.Regional, or upgrade to a release "
     "from August 2025 or later (default regional)"),
    (r"\baws-sdk-php/(\d[\w.]*)", "aws-sdk-php", "aws-sdk-php",
     f"{SET} or the client option 'sts_regional_endpoints' => 'regional', or upgrade to a release from August "
     "2025 or later (default regional)"),
    (r"\baws-sdk-cpp/(\d[\w.]*)", "aws-sdk-cpp", "aws-sdk-cpp",
     f"{SET}, or upgrade to a release from August 2025 or later (default regional)"),
    (r"\baws-sdk-rust/(\d[\w.]*)", "aws-sdk-rust", "aws-sdk-rust", EXPLICIT),
    (r"\baws-sdk-kotlin/(\d[\w.]*)", "aws-sdk-kotlin", "aws-sdk-kotlin", EXPLICIT),
    (r"\baws-sdk-swift/(\d[\w.]*)", "aws-sdk-swift", "aws-sdk-swift", EXPLICIT),
]
_COMPILED = [(re.compile(p, re.IGNORECASE), key, label, advice) for p, key, label, advice in _RULES]
_BOTO = re.compile(r"\bBoto3/(\d[\w.]*)", re.IGNORECASE)
_BOTOCORE = re.compile(r"\bbotocore[/#](\d[\w.]*)", re.IGNORECASE)
_AWS_INTERNAL = re.compile(r"^(AWS Internal|[\w.-]+\.amazonaws\.com(\.cn)?)$", re.IGNORECASE)
UNRECOGNISED = ("unrecognised client: give it a Region and the endpoint https://sts.REGION.amazonaws.com "
                f"({ENV} for tools built on an AWS SDK)")


@lru_cache(maxsize=8192)
def identify(user_agent: str | None) -> Sdk:
    """The SDK or tool behind a CloudTrail ``userAgent`` and what to change (cached per distinct UA)."""
    ua = (user_agent or "").strip()
    if not ua:
        return Sdk("none", "(no user agent)", UNRECOGNISED)
    if _AWS_INTERNAL.match(ua):
        return Sdk("aws-internal", ua, "called by an AWS service on your behalf: nothing to change")
    for rx, key, label, advice in _COMPILED[:5]:  # tools first: their UAs also name the SDK they embed
        m = rx.search(ua)
        if m:
            return Sdk(key, f"{label} {m.group(1)}".strip(), advice)
    cli = _cli(ua)
    if cli is not None:
        return cli
    boto3 = _BOTO.search(ua)
    botocore = _BOTOCORE.search(ua)
    if boto3 or botocore:
        bc = botocore.group(1) if botocore else None
        version = _ver(bc) if bc else _ver(boto3.group(1) if boto3 else None)
        label = (f"boto3 {boto3.group(1)}" if boto3 else "botocore") + (f" (botocore {bc})" if boto3 and bc else f" {bc}" if bc else "")
        return Sdk("botocore", label, _botocore_advice(version, "boto3/botocore >= 1.40.0"))
    for rx, key, label, advice in _COMPILED[5:]:
        m = rx.search(ua)
        if m:
            return Sdk(key, f"{label} {m.group(1)}", advice)
    return Sdk("other", ua[:60], UNRECOGNISED)
