"""Every operation in botocore's IAM model (and STS's) is answered: none says NotImplemented.

Each operation is called once, signed by boto3, with the smallest input the model accepts (its
required members only, each the shortest value its constraints allow, from ``_SAMPLES`` where a
pattern needs a specific shape). Any answer passes but NotImplemented (501) and InternalFailure
(500); and the model's own ValidationError fails too: it would mean the call never reached its
handler (the input generator is wrong), so the test would prove nothing for that operation. The server is this
module's own, so the state the calls change touches no other test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore import xform_name
from botocore.exceptions import ClientError
from botocore.model import Shape

from tests.conftest import Server, start_server, stop_server

_POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'
_SAMPLES: dict[str, Any] = {
    "arnType": "arn:aws:iam::111122223333:policy/nothing-here",
    "roleArnType": "arn:aws:iam::111122223333:role/nothing-here",
    "jobIDType": "00000000-0000-4000-8000-000000000000",
    "accountAliasType": "an-alias",
    "organizationsEntityPathType": "o-abcdefghij/r-abcd",
    "policyDocumentType": _POLICY,
    "sessionPolicyDocumentType": _POLICY,
    "policyVersionIdType": "v1",
    "authenticationCodeType": "123456",
    "accountPropertyKeyType": "Key",
    "notificationChannelType": "channel",
    "serviceNamespaceType": "iam",
    "SAMLMetadataDocumentType": "<EntityDescriptor>" + " " * 1000 + "</EntityDescriptor>",
    "OpenIDConnectProviderUrlType": "https://idp.example.com",
    "thumbprintType": "a" * 40,
    "serviceName": "elasticbeanstalk.amazonaws.com",
    "ActionNameType": "s3:GetObject",
    "encodingType": "SSH",
    "urlType": "https://idp.example.com",
    "tradeInTokenType": "dt-" + "x" * 40,
    "SAMLAssertionType": "x" * 4,
    "clientTokenType": "x" * 4,
    "roleSessionNameType": "session",
    "userNameType": "nobody",
    "existingUserNameType": "nobody",
    "jwtAlgorithmType": "RS256",  # documented (RS256, ES384), not an enum in the model
}
#: Where one shape name means different things per API: STS's ARNs name roles.
_STS_SAMPLES = {"arnType": "arn:aws:iam::111122223333:role/nothing-here"}


def _value(shape: Shape, samples: dict[str, Any] = _SAMPLES, *, top: bool = False) -> Any:
    sample = samples.get(shape.name, _SAMPLES.get(shape.name))
    if sample is not None:
        return sample
    meta = shape.metadata
    if shape.type_name == "structure":
        # an empty structure is not sent at all: a required one gets its first member
        names = shape.required_members or ([] if top else list(shape.members)[:1])
        return {name: _value(shape.members[name], samples) for name in names}
    if shape.type_name == "list":
        return [_value(shape.member, samples) for _ in range(max(meta.get("min", 0), 1))]
    if shape.type_name == "map":
        return {_value(shape.key, samples): _value(shape.value, samples)}
    if shape.type_name == "string":
        if shape.enum:
            return shape.enum[0]
        return "a" * max(int(meta.get("min", 1)), 1)
    if shape.type_name in ("integer", "long"):
        return int(meta.get("min", 1))
    if shape.type_name == "boolean":
        return False
    if shape.type_name == "blob":
        return b"x" * max(int(meta.get("min", 1)), 1)
    raise AssertionError(f"no sample for {shape.name} ({shape.type_name})")


def _operations(service: str) -> list[str]:
    return list(botocore.session.get_session().get_service_model(service).operation_names)


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("every-operation"))
    yield srv
    stop_server(srv)


def _call(server: Server, service: str, operation: str) -> tuple[str, str]:
    client = server.client(service)
    model = client.meta.service_model.operation_model(operation)
    samples = _STS_SAMPLES if service == "sts" else _SAMPLES
    params = _value(model.input_shape, samples, top=True) if model.input_shape is not None else {}
    try:
        getattr(client, xform_name(operation))(**params)
    except ClientError as exc:
        return str(exc.response["Error"]["Code"]), str(exc.response["Error"].get("Message", ""))
    return "OK", ""


def _refused_by_the_model(code: str, message: str) -> bool:
    """The model's own input check answered (the handler never ran); a handler's ValidationError
    (a rule of its own) means the call got there."""
    return code == "ValidationError" and "validation error" in message and "detected" in message


def test_the_models_are_the_whole_apis() -> None:
    assert len(_operations("iam")) == 181
    assert "GetDelegatedAccessToken" in _operations("sts")


@pytest.mark.parametrize("operation", _operations("iam"))
def test_every_iam_operation_answers(own_server: Server, operation: str) -> None:
    code, message = _call(own_server, "iam", operation)
    assert code not in ("NotImplemented", "InternalFailure", "ServiceFailure"), f"{operation}: {code}"
    assert not _refused_by_the_model(code, message), f"{operation}: {message}; fix _SAMPLES"


@pytest.mark.parametrize("operation", _operations("sts"))
def test_every_sts_operation_answers(own_server: Server, operation: str) -> None:
    code, message = _call(own_server, "sts", operation)
    assert code not in ("NotImplemented", "InternalFailure"), f"{operation}: {code}"
    assert not _refused_by_the_model(code, message), f"{operation}: {message}; fix _SAMPLES"


def test_unique_job_ids_are_well_formed() -> None:  # the sample job id is a real UUID's shape
    assert str(uuid.UUID(_SAMPLES["jobIDType"])) == _SAMPLES["jobIDType"]
