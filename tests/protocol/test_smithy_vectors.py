"""Smithy awsQuery protocol tests (smithy-aws-protocol-tests/model/awsQuery), server side.

The test service ``aws.protocoltests.query`` is transcribed below into a botocore-style model and
compiled with the same ``compile_service`` used for STS/IAM.

* ``@httpRequestTests``: the exact body is fed through ``parse_form`` + ``OperationSpec.parse`` and must
  give the test's ``params``.
* ``@httpResponseTests``: we render the test's ``params``; botocore's query parser (built on the same
  model) must read back those params, and must read the *smithy* body to the same params — i.e. our
  bytes are equivalent to the official ones for a client.

Cases that do not apply to a server (documented, not run):

* ``QueryProtocolIdempotencyTokenAutoFill`` / ``…IsSet`` — ``appliesTo: client``: filling an idempotency
  token is the client's job (the ``IsSet`` body still parses like any string; covered by ``token`` below).
* ``QueryXmlEmptyBlobs`` / ``QueryXmlEmptySelfClosedBlobs`` — ``appliesTo: client``: tolerating empty/
  self-closed elements when *reading* XML.
* ``QueryComplexError`` — error structures with extra members (``TopLevel``, ``Nested``): STS and IAM
  errors carry only ``Message`` and ``ServiceError`` has no extra fields, so we never emit such errors.
* ``QueryXmlNamespaces`` — ``@xmlNamespace`` on nested members: no STS/IAM shape has it; we render without
  nested ``xmlns`` attributes, which clients ignore (checked below without the traits).
* ``QueryNoInputAndNoOutput`` (response) — makes no assertion on the body.
"""

from __future__ import annotations

import base64
import datetime as dt
import math

import pytest
from botocore.model import ServiceModel
from botocore.parsers import create_parser

from opensts.protocol.errors import ServiceError
from opensts.protocol.form import parse_form
from opensts.protocol.model import compile_service
from opensts.protocol.render import render_error

S = {"type": "string"}
MODEL: dict = {
    "metadata": {
        "apiVersion": "2020-01-08",
        "endpointPrefix": "awsquery",
        "protocol": "query",
        "serviceId": "Query Protocol",
        "xmlNamespace": "https://example.com/",
    },
    "operations": {
        "SimpleInputParams": {"name": "SimpleInputParams", "input": {"shape": "SimpleInputParamsInput"}},
        "QueryTimestamps": {"name": "QueryTimestamps", "input": {"shape": "QueryTimestampsInput"}},
        "NestedStructures": {"name": "NestedStructures", "input": {"shape": "NestedStructuresInput"}},
        "QueryIdempotencyTokenAutoFill": {"name": "QueryIdempotencyTokenAutoFill", "input": {"shape": "TokenInput"}},
        "QueryLists": {"name": "QueryLists", "input": {"shape": "QueryListsInput"}},
        "NoInputAndNoOutput": {"name": "NoInputAndNoOutput"},
        "NoInputAndOutput": {
            "name": "NoInputAndOutput",
            "input": {"shape": "Empty"},
            "output": {"shape": "Empty", "resultWrapper": "NoInputAndOutputResult"},
        },
        "EmptyInputAndEmptyOutput": {
            "name": "EmptyInputAndEmptyOutput",
            "input": {"shape": "Empty"},
            "output": {"shape": "Empty", "resultWrapper": "EmptyInputAndEmptyOutputResult"},
        },
        "SimpleScalarXmlProperties": {
            "name": "SimpleScalarXmlProperties",
            "output": {"shape": "SimpleScalarXmlPropertiesOutput", "resultWrapper": "SimpleScalarXmlPropertiesResult"},
        },
        "XmlBlobs": {"name": "XmlBlobs", "output": {"shape": "XmlBlobsOutput", "resultWrapper": "XmlBlobsResult"}},
        "XmlTimestamps": {
            "name": "XmlTimestamps",
            "output": {"shape": "XmlTimestampsOutput", "resultWrapper": "XmlTimestampsResult"},
        },
        "XmlEnums": {"name": "XmlEnums", "output": {"shape": "XmlEnumsOutput", "resultWrapper": "XmlEnumsResult"}},
        "XmlIntEnums": {
            "name": "XmlIntEnums",
            "output": {"shape": "XmlIntEnumsOutput", "resultWrapper": "XmlIntEnumsResult"},
        },
        "RecursiveXmlShapes": {
            "name": "RecursiveXmlShapes",
            "output": {"shape": "RecursiveXmlShapesOutput", "resultWrapper": "RecursiveXmlShapesResult"},
        },
        "XmlNamespaces": {
            "name": "XmlNamespaces",
            "output": {"shape": "XmlNamespacesOutput", "resultWrapper": "XmlNamespacesResult"},
        },
        "IgnoresWrappingXmlName": {
            "name": "IgnoresWrappingXmlName",
            "output": {"shape": "IgnoresWrappingXmlNameOutput", "resultWrapper": "IgnoresWrappingXmlNameResult"},
        },
        "GreetingWithErrors": {
            "name": "GreetingWithErrors",
            "output": {"shape": "GreetingWithErrorsOutput", "resultWrapper": "GreetingWithErrorsResult"},
            "errors": [{"shape": "InvalidGreeting"}, {"shape": "CustomCodeError"}],
        },
    },
    "shapes": {
        "String": S,
        "Boolean": {"type": "boolean"},
        "Integer": {"type": "integer"},
        "Long": {"type": "long"},
        "Float": {"type": "float"},
        "Double": {"type": "double"},
        "Blob": {"type": "blob"},
        "Timestamp": {"type": "timestamp"},
        "EpochSeconds": {"type": "timestamp", "timestampFormat": "unixTimestamp"},
        "HttpDate": {"type": "timestamp", "timestampFormat": "rfc822"},
        "FooEnum": {"type": "string", "enum": ["Foo", "Baz", "Bar", "1", "0"]},
        "FooEnumList": {"type": "list", "member": {"shape": "FooEnum"}},
        "FooEnumMap": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "FooEnum"}},
        "IntegerEnum": {"type": "integer"},
        "IntegerEnumList": {"type": "list", "member": {"shape": "IntegerEnum"}},
        "IntegerEnumMap": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "IntegerEnum"}},
        "StringList": {"type": "list", "member": {"shape": "String"}},
        "FlatStringList": {"type": "list", "member": {"shape": "String"}, "flattened": True},
        "ListWithXmlName": {"type": "list", "member": {"shape": "String", "locationName": "item"}},
        "FlatListWithXmlName": {
            "type": "list", "member": {"shape": "String", "locationName": "Hi"}, "flattened": True,
        },
        "GreetingStruct": {"type": "structure", "members": {"hi": {"shape": "String"}}},
        "GreetingList": {"type": "list", "member": {"shape": "GreetingStruct"}},
        "Empty": {"type": "structure", "members": {}},
        "SimpleInputParamsInput": {
            "type": "structure",
            "members": {
                "Foo": {"shape": "String"}, "Bar": {"shape": "String"}, "Baz": {"shape": "Boolean"},
                "Bam": {"shape": "Integer"}, "FloatValue": {"shape": "Float"}, "Boo": {"shape": "Double"},
                "Qux": {"shape": "Blob"}, "FooEnum": {"shape": "FooEnum"}, "IntegerEnum": {"shape": "IntegerEnum"},
            },
        },
        "QueryTimestampsInput": {
            "type": "structure",
            "members": {
                "normalFormat": {"shape": "Timestamp"},
                "epochMember": {"shape": "EpochSeconds"},
                "epochTarget": {"shape": "EpochSeconds"},
            },
        },
        "NestedStructuresInput": {"type": "structure", "members": {"Nested": {"shape": "StructArg"}}},
        "StructArg": {
            "type": "structure",
            "members": {
                "StringArg": {"shape": "String"}, "OtherArg": {"shape": "Boolean"}, "RecursiveArg": {"shape": "StructArg"},
            },
        },
        "TokenInput": {"type": "structure", "members": {"token": {"shape": "String", "idempotencyToken": True}}},
        "NestedStructWithList": {"type": "structure", "members": {"ListArg": {"shape": "StringList"}}},
        "QueryListsInput": {
            "type": "structure",
            "members": {
                "ListArg": {"shape": "StringList"},
                "ComplexListArg": {"shape": "GreetingList"},
                "FlattenedListArg": {"shape": "FlatStringList"},
                "ListArgWithXmlNameMember": {"shape": "ListWithXmlName"},
                "FlattenedListArgWithXmlName": {"shape": "FlatListWithXmlName"},
                "NestedWithList": {"shape": "NestedStructWithList"},
            },
        },
        "SimpleScalarXmlPropertiesOutput": {
            "type": "structure",
            "members": {
                "stringValue": {"shape": "String"}, "emptyStringValue": {"shape": "String"},
                "trueBooleanValue": {"shape": "Boolean"}, "falseBooleanValue": {"shape": "Boolean"},
                "byteValue": {"shape": "Integer"}, "shortValue": {"shape": "Integer"},
                "integerValue": {"shape": "Integer"}, "longValue": {"shape": "Long"},
                "floatValue": {"shape": "Float"}, "doubleValue": {"shape": "Double", "locationName": "DoubleDribble"},
            },
        },
        "XmlBlobsOutput": {"type": "structure", "members": {"data": {"shape": "Blob"}}},
        "XmlTimestampsOutput": {
            "type": "structure",
            "members": {
                "normal": {"shape": "Timestamp"},
                "dateTime": {"shape": "Timestamp"},
                "dateTimeOnTarget": {"shape": "Timestamp"},
                "epochSeconds": {"shape": "EpochSeconds"},
                "epochSecondsOnTarget": {"shape": "EpochSeconds"},
                "httpDate": {"shape": "HttpDate"},
                "httpDateOnTarget": {"shape": "HttpDate"},
            },
        },
        "XmlEnumsOutput": {
            "type": "structure",
            "members": {
                "fooEnum1": {"shape": "FooEnum"}, "fooEnum2": {"shape": "FooEnum"}, "fooEnum3": {"shape": "FooEnum"},
                "fooEnumList": {"shape": "FooEnumList"}, "fooEnumSet": {"shape": "FooEnumList"},
                "fooEnumMap": {"shape": "FooEnumMap"},
            },
        },
        "XmlIntEnumsOutput": {
            "type": "structure",
            "members": {
                "intEnum1": {"shape": "IntegerEnum"}, "intEnum2": {"shape": "IntegerEnum"},
                "intEnum3": {"shape": "IntegerEnum"}, "intEnumList": {"shape": "IntegerEnumList"},
                "intEnumSet": {"shape": "IntegerEnumList"}, "intEnumMap": {"shape": "IntegerEnumMap"},
            },
        },
        "RecursiveXmlShapesOutput": {"type": "structure", "members": {"nested": {"shape": "Nested1"}}},
        "Nested1": {"type": "structure", "members": {"foo": {"shape": "String"}, "nested": {"shape": "Nested2"}}},
        "Nested2": {
            "type": "structure", "members": {"bar": {"shape": "String"}, "recursiveMember": {"shape": "Nested1"}},
        },
        "XmlNamespacesOutput": {"type": "structure", "members": {"nested": {"shape": "XmlNamespaceNested"}}},
        "XmlNamespaceNested": {
            "type": "structure", "members": {"foo": {"shape": "String"}, "values": {"shape": "StringList"}},
        },
        "IgnoresWrappingXmlNameOutput": {"type": "structure", "members": {"foo": {"shape": "String"}}},
        "GreetingWithErrorsOutput": {"type": "structure", "members": {"greeting": {"shape": "String"}}},
        "InvalidGreeting": {
            "type": "structure", "members": {"Message": {"shape": "String"}}, "error": {"senderFault": True},
            "exception": True,
        },
        "CustomCodeError": {
            "type": "structure",
            "members": {"Message": {"shape": "String"}},
            "error": {"code": "Customized", "httpStatusCode": 402, "senderFault": True},
            "exception": True,
        },
    },
}
SPEC = compile_service(MODEL, "awsquery")
BOTO = ServiceModel(MODEL, service_name="awsquery")

E = dt.timezone.utc

REQUEST_TESTS = [
    ("QuerySimpleInputParamsStrings", "Action=SimpleInputParams&Version=2020-01-08&Foo=val1&Bar=val2",
     {"Foo": "val1", "Bar": "val2"}),
    ("QuerySimpleInputParamsStringAndBooleanTrue", "Action=SimpleInputParams&Version=2020-01-08&Foo=val1&Baz=true",
     {"Foo": "val1", "Baz": True}),
    ("QuerySimpleInputParamsStringsAndBooleanFalse", "Action=SimpleInputParams&Version=2020-01-08&Baz=false",
     {"Baz": False}),
    ("QuerySimpleInputParamsInteger", "Action=SimpleInputParams&Version=2020-01-08&Bam=10", {"Bam": 10}),
    ("QuerySimpleInputParamsFloat", "Action=SimpleInputParams&Version=2020-01-08&Boo=10.8", {"Boo": 10.8}),
    ("QuerySimpleInputParamsBlob", "Action=SimpleInputParams&Version=2020-01-08&Qux=dmFsdWU%3D", {"Qux": b"value"}),
    ("QueryEnums", "Action=SimpleInputParams&Version=2020-01-08&FooEnum=Foo", {"FooEnum": "Foo"}),
    ("QueryIntEnums", "Action=SimpleInputParams&Version=2020-01-08&IntegerEnum=1", {"IntegerEnum": 1}),
    ("AwsQuerySupportsInfinityFloatInputs",
     "Action=SimpleInputParams&Version=2020-01-08&FloatValue=Infinity&Boo=Infinity",
     {"FloatValue": math.inf, "Boo": math.inf}),
    ("AwsQuerySupportsNegativeInfinityFloatInputs",
     "Action=SimpleInputParams&Version=2020-01-08&FloatValue=-Infinity&Boo=-Infinity",
     {"FloatValue": -math.inf, "Boo": -math.inf}),
    ("QueryTimestampsInput",
     "Action=QueryTimestamps&Version=2020-01-08&normalFormat=2015-01-25T08%3A00%3A00Z&epochMember=1422172800&epochTarget=1422172800",
     {k: dt.datetime.fromtimestamp(1422172800, E) for k in ("normalFormat", "epochMember", "epochTarget")}),
    ("NestedStructures",
     "Action=NestedStructures&Version=2020-01-08&Nested.StringArg=foo&Nested.OtherArg=true&Nested.RecursiveArg.StringArg=baz",
     {"Nested": {"StringArg": "foo", "OtherArg": True, "RecursiveArg": {"StringArg": "baz"}}}),
    ("QueryProtocolIdempotencyTokenAutoFillIsSet",
     "Action=QueryIdempotencyTokenAutoFill&Version=2020-01-08&token=00000000-0000-4000-8000-000000000123",
     {"token": "00000000-0000-4000-8000-000000000123"}),
    ("QueryLists",
     "Action=QueryLists&Version=2020-01-08&ListArg.member.1=foo&ListArg.member.2=bar&ListArg.member.3=baz&ComplexListArg.member.1.hi=hello&ComplexListArg.member.2.hi=hola",
     {"ListArg": ["foo", "bar", "baz"], "ComplexListArg": [{"hi": "hello"}, {"hi": "hola"}]}),
    ("EmptyQueryLists", "Action=QueryLists&Version=2020-01-08&ListArg=", {"ListArg": []}),
    ("FlattenedQueryLists", "Action=QueryLists&Version=2020-01-08&FlattenedListArg.1=A&FlattenedListArg.2=B",
     {"FlattenedListArg": ["A", "B"]}),
    ("QueryListArgWithXmlNameMember",
     "Action=QueryLists&Version=2020-01-08&ListArgWithXmlNameMember.item.1=A&ListArgWithXmlNameMember.item.2=B",
     {"ListArgWithXmlNameMember": ["A", "B"]}),
    ("QueryFlattenedListArgWithXmlName", "Action=QueryLists&Version=2020-01-08&Hi.1=A&Hi.2=B",
     {"FlattenedListArgWithXmlName": ["A", "B"]}),
    ("QueryNestedStructWithList",
     "Action=QueryLists&Version=2020-01-08&NestedWithList.ListArg.member.1=A&NestedWithList.ListArg.member.2=B",
     {"NestedWithList": {"ListArg": ["A", "B"]}}),
    ("QueryNoInputAndNoOutput", "Action=NoInputAndNoOutput&Version=2020-01-08", {}),
    ("QueryNoInputAndOutput", "Action=NoInputAndOutput&Version=2020-01-08", {}),
    ("QueryEmptyInputAndEmptyOutput", "Action=EmptyInputAndEmptyOutput&Version=2020-01-08", {}),
]


@pytest.mark.parametrize("case_id,body,expected", REQUEST_TESTS, ids=[c[0] for c in REQUEST_TESTS])
def test_request(case_id: str, body: str, expected: dict) -> None:
    form = parse_form(body.encode())
    op = SPEC.operation(form["Action"], form["Version"])
    assert op.parse(form) == expected


def test_request_nan_floats() -> None:  # AwsQuerySupportsNaNFloatInputs (NaN != NaN, compared separately)
    form = parse_form(b"Action=SimpleInputParams&Version=2020-01-08&FloatValue=NaN&Boo=NaN")
    out = SPEC.operations["SimpleInputParams"].parse(form)
    assert math.isnan(out["FloatValue"]) and math.isnan(out["Boo"])


T = 1398796238
TS = dt.datetime.fromtimestamp(T, E)
RESPONSE_TESTS = [
    ("QuerySimpleScalarProperties", "SimpleScalarXmlProperties",
     {"stringValue": "string", "emptyStringValue": "", "trueBooleanValue": True, "falseBooleanValue": False,
      "byteValue": 1, "shortValue": 2, "integerValue": 3, "longValue": 4, "floatValue": 5.5, "doubleValue": 6.5},
     """<SimpleScalarXmlPropertiesResponse xmlns="https://example.com/"><SimpleScalarXmlPropertiesResult>
        <stringValue>string</stringValue><emptyStringValue/><trueBooleanValue>true</trueBooleanValue>
        <falseBooleanValue>false</falseBooleanValue><byteValue>1</byteValue><shortValue>2</shortValue>
        <integerValue>3</integerValue><longValue>4</longValue><floatValue>5.5</floatValue>
        <DoubleDribble>6.5</DoubleDribble></SimpleScalarXmlPropertiesResult></SimpleScalarXmlPropertiesResponse>"""),
    ("AwsQuerySupportsInfinityFloatOutputs", "SimpleScalarXmlProperties",
     {"floatValue": math.inf, "doubleValue": math.inf},
     """<SimpleScalarXmlPropertiesResponse xmlns="https://example.com/"><SimpleScalarXmlPropertiesResult>
        <floatValue>Infinity</floatValue><DoubleDribble>Infinity</DoubleDribble>
        </SimpleScalarXmlPropertiesResult></SimpleScalarXmlPropertiesResponse>"""),
    ("AwsQuerySupportsNegativeInfinityFloatOutputs", "SimpleScalarXmlProperties",
     {"floatValue": -math.inf, "doubleValue": -math.inf},
     """<SimpleScalarXmlPropertiesResponse xmlns="https://example.com/"><SimpleScalarXmlPropertiesResult>
        <floatValue>-Infinity</floatValue><DoubleDribble>-Infinity</DoubleDribble>
        </SimpleScalarXmlPropertiesResult></SimpleScalarXmlPropertiesResponse>"""),
    ("QueryXmlBlobs", "XmlBlobs", {"data": b"value"},
     """<XmlBlobsResponse xmlns="https://example.com/"><XmlBlobsResult><data>dmFsdWU=</data></XmlBlobsResult>
        </XmlBlobsResponse>"""),
    ("QueryXmlTimestamps", "XmlTimestamps", {"normal": TS},
     "<XmlTimestampsResponse><XmlTimestampsResult><normal>2014-04-29T18:30:38Z</normal></XmlTimestampsResult></XmlTimestampsResponse>"),
    ("QueryXmlTimestampsWithDateTimeFormat", "XmlTimestamps", {"dateTime": TS},
     "<XmlTimestampsResponse><XmlTimestampsResult><dateTime>2014-04-29T18:30:38Z</dateTime></XmlTimestampsResult></XmlTimestampsResponse>"),
    ("QueryXmlTimestampsWithDateTimeOnTargetFormat", "XmlTimestamps", {"dateTimeOnTarget": TS},
     "<XmlTimestampsResponse><XmlTimestampsResult><dateTimeOnTarget>2014-04-29T18:30:38Z</dateTimeOnTarget></XmlTimestampsResult></XmlTimestampsResponse>"),
    ("QueryXmlTimestampsWithEpochSecondsFormat", "XmlTimestamps", {"epochSeconds": TS},
     "<XmlTimestampsResponse><XmlTimestampsResult><epochSeconds>1398796238</epochSeconds></XmlTimestampsResult></XmlTimestampsResponse>"),
    ("QueryXmlTimestampsWithEpochSecondsOnTargetFormat", "XmlTimestamps", {"epochSecondsOnTarget": TS},
     "<XmlTimestampsResponse><XmlTimestampsResult><epochSecondsOnTarget>1398796238</epochSecondsOnTarget></XmlTimestampsResult></XmlTimestampsResponse>"),
    ("QueryXmlTimestampsWithHttpDateFormat", "XmlTimestamps", {"httpDate": TS},
     "<XmlTimestampsResponse><XmlTimestampsResult><httpDate>Tue, 29 Apr 2014 18:30:38 GMT</httpDate></XmlTimestampsResult></XmlTimestampsResponse>"),
    ("QueryXmlTimestampsWithHttpDateOnTargetFormat", "XmlTimestamps", {"httpDateOnTarget": TS},
     "<XmlTimestampsResponse><XmlTimestampsResult><httpDateOnTarget>Tue, 29 Apr 2014 18:30:38 GMT</httpDateOnTarget></XmlTimestampsResult></XmlTimestampsResponse>"),
    ("QueryXmlEnums", "XmlEnums",
     {"fooEnum1": "Foo", "fooEnum2": "0", "fooEnum3": "1", "fooEnumList": ["Foo", "0"], "fooEnumSet": ["Foo", "0"],
      "fooEnumMap": {"hi": "Foo", "zero": "0"}},
     """<XmlEnumsResponse><XmlEnumsResult><fooEnum1>Foo</fooEnum1><fooEnum2>0</fooEnum2><fooEnum3>1</fooEnum3>
        <fooEnumList><member>Foo</member><member>0</member></fooEnumList>
        <fooEnumSet><member>Foo</member><member>0</member></fooEnumSet>
        <fooEnumMap><entry><key>hi</key><value>Foo</value></entry><entry><key>zero</key><value>0</value></entry></fooEnumMap>
        </XmlEnumsResult></XmlEnumsResponse>"""),
    ("QueryXmlIntEnums", "XmlIntEnums",
     {"intEnum1": 1, "intEnum2": 2, "intEnum3": 3, "intEnumList": [1, 2], "intEnumSet": [1, 2],
      "intEnumMap": {"a": 1, "b": 2}},
     """<XmlIntEnumsResponse><XmlIntEnumsResult><intEnum1>1</intEnum1><intEnum2>2</intEnum2><intEnum3>3</intEnum3>
        <intEnumList><member>1</member><member>2</member></intEnumList>
        <intEnumSet><member>1</member><member>2</member></intEnumSet>
        <intEnumMap><entry><key>a</key><value>1</value></entry><entry><key>b</key><value>2</value></entry></intEnumMap>
        </XmlIntEnumsResult></XmlIntEnumsResponse>"""),
    ("QueryRecursiveShapes", "RecursiveXmlShapes",
     {"nested": {"foo": "Foo1", "nested": {"bar": "Bar1", "recursiveMember": {"foo": "Foo2", "nested": {"bar": "Bar2"}}}}},
     """<RecursiveXmlShapesResponse><RecursiveXmlShapesResult><nested><foo>Foo1</foo><nested><bar>Bar1</bar>
        <recursiveMember><foo>Foo2</foo><nested><bar>Bar2</bar></nested></recursiveMember></nested></nested>
        </RecursiveXmlShapesResult></RecursiveXmlShapesResponse>"""),
    ("QueryXmlNamespaces", "XmlNamespaces", {"nested": {"foo": "Foo", "values": ["Bar", "Baz"]}},
     """<XmlNamespacesResponse xmlns="https://example.com/"><XmlNamespacesResult><nested>
        <foo xmlns:baz="http://baz.com">Foo</foo><values xmlns="http://qux.com">
        <member xmlns="http://bux.com">Bar</member><member xmlns="http://bux.com">Baz</member></values>
        </nested></XmlNamespacesResult></XmlNamespacesResponse>"""),
    ("QueryIgnoresWrappingXmlName", "IgnoresWrappingXmlName", {"foo": "bar"},
     "<IgnoresWrappingXmlNameResponse><IgnoresWrappingXmlNameResult><foo>bar</foo></IgnoresWrappingXmlNameResult></IgnoresWrappingXmlNameResponse>"),
    ("QueryGreetingWithErrors", "GreetingWithErrors", {"greeting": "Hello"},
     "<GreetingWithErrorsResponse><GreetingWithErrorsResult><greeting>Hello</greeting></GreetingWithErrorsResult></GreetingWithErrorsResponse>"),
    ("QueryNoInputAndOutput", "NoInputAndOutput", {}, None),
    ("QueryEmptyInputAndEmptyOutput", "EmptyInputAndEmptyOutput", {}, None),
    ("QueryNoInputAndNoOutputWithResponseMetadata", "NoInputAndNoOutput", {},
     "<NoInputAndNoOutputResponse><ResponseMetadata><RequestId>abc-123</RequestId></ResponseMetadata></NoInputAndNoOutputResponse>"),
]


def _parse(op_name: str, body: bytes, status: int = 200) -> dict:
    model = BOTO.operation_model(op_name)
    out = create_parser("query").parse({"body": body, "headers": {}, "status_code": status}, model.output_shape)
    out.pop("ResponseMetadata", None)
    return out


@pytest.mark.parametrize("case_id,op_name,params,smithy_body", RESPONSE_TESTS, ids=[c[0] for c in RESPONSE_TESTS])
def test_response(case_id: str, op_name: str, params: dict, smithy_body: str | None) -> None:
    ours = SPEC.operations[op_name].render(params, "abc-123")
    assert ours.startswith(f'<{op_name}Response xmlns="https://example.com/">'.encode())
    assert b"<ResponseMetadata><RequestId>abc-123</RequestId></ResponseMetadata>" in ours
    assert _parse(op_name, ours) == params
    if smithy_body is not None:
        assert _parse(op_name, smithy_body.encode()) == _parse(op_name, ours)


def test_response_nan_floats() -> None:  # AwsQuerySupportsNaNFloatOutputs
    body = SPEC.operations["SimpleScalarXmlProperties"].render({"floatValue": math.nan, "doubleValue": math.nan}, "r")
    assert b"<floatValue>NaN</floatValue><DoubleDribble>NaN</DoubleDribble>" in body
    out = _parse("SimpleScalarXmlProperties", body)
    assert math.isnan(out["floatValue"]) and math.isnan(out["doubleValue"])


@pytest.mark.parametrize(
    "case_id,err,status,code",
    [
        ("QueryInvalidGreetingError", SPEC.modelled_error("InvalidGreeting", "Hi"), 400, "InvalidGreeting"),
        ("QueryCustomizedError", SPEC.modelled_error("CustomCodeError", "Hi"), 402, "Customized"),
    ],
)
def test_error_response(case_id: str, err: ServiceError, status: int, code: str) -> None:
    assert (err.status, err.code, err.error_type) == (status, code, "Sender")
    body = render_error(err, "foo-id", xmlns=SPEC.xmlns)
    model = BOTO.operation_model("GreetingWithErrors")
    out = create_parser("query").parse({"body": body, "headers": {}, "status_code": status}, model.output_shape)
    assert out["Error"] == {"Code": code, "Message": "Hi", "Type": "Sender"}
    assert out["ResponseMetadata"]["RequestId"] == "foo-id"
    assert SPEC.operations["GreetingWithErrors"].errors[code].status == status


def test_blob_base64_roundtrip() -> None:
    raw = base64.b64encode(b"\x00\xffbinary").decode()
    out = SPEC.operations["SimpleInputParams"].parse({"Qux": raw})
    assert out == {"Qux": b"\x00\xffbinary"}
