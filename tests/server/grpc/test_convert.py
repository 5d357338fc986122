"""chamberlain.server.grpc.convert maps messages exactly as google.protobuf.json_format does (MessageToDict,
integral Value numbers as integers; ParseDict ignoring unknown fields), on generated requests and answers."""

from __future__ import annotations

import math

import pytest
from cerbos.request.v1 import request_pb2
from cerbos.response.v1 import response_pb2
from google.protobuf import json_format, struct_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from chamberlain.engine.wire import json_number
from chamberlain.server.grpc import convert
from chamberlain.server.http import ApiError

KEYS = st.text(max_size=6)
SCALARS = (
    st.none()
    | st.booleans()
    | st.text(max_size=8)
    | st.integers(-(2**70), 2**70).map(float)
    | st.floats(allow_nan=False, allow_infinity=False)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=12,
)
ATTRS = st.dictionaries(KEYS, VALUES, max_size=4)
NAMES = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)


@st.composite
def check_requests(draw: st.DrawFn) -> dict:
    request = {
        "principal": {
            "id": draw(NAMES),
            "roles": draw(st.lists(NAMES, max_size=3)),
            "attr": draw(ATTRS),
            "policyVersion": draw(NAMES),
            "scope": draw(NAMES),
        },
        "resources": [
            {
                "actions": draw(st.lists(NAMES, max_size=3)),
                "resource": {"kind": draw(NAMES), "id": draw(NAMES), "attr": draw(ATTRS)},
            }
            for _ in range(draw(st.integers(0, 3)))
        ],
    }
    if draw(st.booleans()):
        request["requestId"], request["includeMeta"] = draw(NAMES), draw(st.booleans())
    if draw(st.booleans()):
        request["auxData"] = {"jwt": {"token": draw(NAMES), "keySetId": draw(NAMES)}}
    if draw(st.booleans()):
        request["requestContext"] = {"annotations": draw(ATTRS)}
    return request


@given(check_requests())
@settings(max_examples=150, deadline=None)
def test_requests_as_json_format_maps_them(data):
    message = json_format.ParseDict(data, request_pb2.CheckResourcesRequest())
    assert convert.to_json(message) == json_number(json_format.MessageToDict(message))


@st.composite
def answers(draw: st.DrawFn) -> dict:
    effects = st.sampled_from(["EFFECT_ALLOW", "EFFECT_DENY", "EFFECT_NO_MATCH"])
    results = [
        {
            "resource": {"id": draw(NAMES), "kind": draw(NAMES), "policyVersion": draw(NAMES)},
            "actions": draw(st.dictionaries(NAMES, effects, max_size=3)),
            "validationErrors": [
                {
                    "path": draw(NAMES),
                    "message": draw(NAMES),
                    "source": draw(st.sampled_from(["SOURCE_PRINCIPAL", "SOURCE_RESOURCE"])),
                }
            ],
            "meta": {
                "actions": {"a": {"matchedPolicy": draw(NAMES), "matchedScope": draw(NAMES)}},
                "effectiveDerivedRoles": draw(st.lists(NAMES, max_size=2)),
            },
            "outputs": [{"src": draw(NAMES), "val": json_number(draw(VALUES)), "action": draw(NAMES)}],
        }
        for _ in range(draw(st.integers(0, 2)))
    ]
    return {
        "requestId": draw(NAMES),
        "results": results,
        "cerbosCallId": draw(NAMES),
        "chamberlain": {"x": 1},
    }


@given(answers())
@settings(max_examples=150, deadline=None)
def test_answers_as_json_format_parses_them(answer):
    message, extras = convert.from_json(answer, response_pb2.CheckResourcesResponse())
    expected = json_format.ParseDict(
        answer, response_pb2.CheckResourcesResponse(), ignore_unknown_fields=True
    )
    assert message == expected and extras == {"chamberlain": {"x": 1}}


def test_plan_answers_with_nested_expressions():
    operand = {"variable": "request.resource.attr.x"}
    answer = {
        "requestId": "p",
        "action": "view",
        "resourceKind": "k",
        "filter": {
            "kind": "KIND_CONDITIONAL",
            "condition": {
                "expression": {
                    "operator": "and",
                    "operands": [
                        {"expression": {"operator": "eq", "operands": [operand, {"value": 1}]}},
                        {"value": {"a": [None, True, {}]}},
                        {"value": []},
                    ],
                }
            },
        },
        "meta": {"filterDebug": "(and ...)", "matchedScopes": {"view": ""}},
        "cerbosCallId": "c",
    }
    message, _ = convert.from_json(answer, response_pb2.PlanResourcesResponse())
    assert message == json_format.ParseDict(answer, response_pb2.PlanResourcesResponse())
    assert convert.to_json(message) == json_number(json_format.MessageToDict(message))


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_numbers_json_cannot_hold_are_invalid_argument(number):
    message = request_pb2.CheckResourcesRequest()
    message.principal.attr["x"].CopyFrom(struct_pb2.Value(number_value=number))
    with pytest.raises(ApiError) as raised:
        convert.to_json(message)
    assert raised.value.code == 3 and "NaN and Infinity" in raised.value.message
