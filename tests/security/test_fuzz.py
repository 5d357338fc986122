"""Fuzzing what chamberlain reads from outside: the request decoder (the server's own handlers), the policy
decoder, the CEL parser and compiler, and the MCP message path. Every input ends in a result or in one of
the documented errors (chamberlain.Error and its subclasses: a 4xx, a PolicyError, a CompileError, a
JSON-RPC error), never in anything else, and within bounded time per input (hypothesis's deadline, far
above what any input needs: it only catches runaway cost such as exponential blow-ups).

The short runs are part of ``make test``; ``make test-slow`` runs the ``slow`` variants with many more
examples.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chamberlain import PDP, Principal, Resource
from chamberlain.cel import CelError, compile
from chamberlain.cel.parser import parse
from chamberlain.errors import Error
from chamberlain.gateways.mcp.decide import arguments_digest
from chamberlain.gateways.mcp.mapping import action
from chamberlain.gateways.mcp.stdio import accept_line
from chamberlain.policy import PolicyError, load_documents
from chamberlain.server import authzen_api, cerbos_api
from chamberlain.server.config import load_config
from chamberlain.server.http import ApiError
from chamberlain.server.state import ServerState
from tests.cel.strategies import cel_expressions

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "policies"
SHORT = {"max_examples": 60}
LONG = {"max_examples": 3000}
#: Per input; far above any real input's cost (milliseconds). Exceeding it means a runaway.
DEADLINE = dt.timedelta(seconds=10)
COMMON = {
    "deadline": DEADLINE,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
}


def fuzz(runs: dict[str, Any]) -> Any:
    return settings(**COMMON, **runs)


# -- values ------------------------------------------------------------------------------------------------
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(["", "*", "a:b", "..", "\u202e", "\n", "x" * 300]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=10), inner, max_size=6)
    ),
    max_leaves=40,
)

GOOD_CHECK = {
    "requestId": "r",
    "principal": {"id": "alice", "roles": ["finance_clerk"], "attr": {}},
    "resources": [
        {
            "actions": ["view", "pay"],
            "resource": {"kind": "invoice", "id": "i1", "attr": {"amount": 10, "status": "APPROVED"}},
        }
    ],
}


def _places(node: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key) of a JSON document."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        out.append((node, key))
        _places(value, out)
    return out


@st.composite
def mutated(draw: Any, document: Any) -> Any:
    """``document`` with a few values replaced by arbitrary JSON (keys kept, so the decoder goes deep)."""
    doc = json.loads(json.dumps(document))
    for _ in range(draw(st.integers(0, 4))):
        places = _places(doc, [])
        if not places:
            break
        container, key = draw(st.sampled_from(places))
        container[key] = draw(json_values)
    return doc


def raw_bodies(document: Any) -> st.SearchStrategy[bytes]:
    """JSON bodies: mutated documents, arbitrary JSON, deep nesting, repeated keys, and bytes."""
    deep = st.integers(1, 3000).map(lambda n: ("[" * n + "]" * n).encode())
    duplicate = st.just(
        b'{"principal": {"id": "a", "roles": ["x"]}, "principal": {"id": "b", "roles": ["y"]}}'
    )
    encoded = st.one_of(mutated(document), json_values).map(lambda v: json.dumps(v).encode())
    return st.one_of(encoded, encoded, deep, duplicate, st.binary(max_size=200))


# -- the request decoder: the server's handlers, in process ----------------------------------------------
@pytest.fixture(scope="module")
def state(tmp_path_factory):
    config = load_config(
        None,
        overrides={
            "storage": {"disk": {"directory": str(EXAMPLES), "watchForChanges": False}},
            "chamberlain": {
                "stateDir": str(tmp_path_factory.mktemp("state")),
                "audit": {"enabled": False},
                "logLevel": "error",
            },
        },
        env={},
    )
    server_state = ServerState(config)
    yield server_state
    server_state.close()


def _handled(handler: Any, state: ServerState, body: bytes) -> None:
    try:
        result = handler(state, body, "call")
    except (ApiError, Error):  # a 4xx the server answers with Cerbos's error body
        return
    assert isinstance(result, dict)
    orjson.dumps(result)  # what the app sends: must encode


def check_request_property(state: ServerState, body: bytes) -> None:
    _handled(cerbos_api.check_resources, state, body)


def authzen_property(state: ServerState, body: bytes) -> None:
    _handled(authzen_api.evaluation, state, body)
    _handled(authzen_api.evaluations, state, body)


AZ = {
    "subject": {"type": "user", "id": "alice", "properties": {"cerbos.roles": ["finance_clerk"]}},
    "resource": {"type": "invoice", "id": "i1", "properties": {"amount": 5}},
    "action": {"name": "view"},
    "evaluations": [{"action": {"name": "pay"}}],
}


@fuzz(SHORT)
@given(body=raw_bodies(GOOD_CHECK))
def test_fuzz_check_resources(state, body):
    check_request_property(state, body)


@fuzz(SHORT)
@given(body=raw_bodies(AZ))
def test_fuzz_authzen(state, body):
    authzen_property(state, body)


@pytest.mark.slow
@fuzz(LONG)
@given(body=raw_bodies(GOOD_CHECK))
def test_fuzz_check_resources_long(state, body):
    check_request_property(state, body)


@pytest.mark.slow
@fuzz(LONG)
@given(body=raw_bodies(AZ))
def test_fuzz_authzen_long(state, body):
    authzen_property(state, body)


# -- the policy decoder ------------------------------------------------------------------------------------
POLICIES = [yaml.safe_load(p.read_text()) for p in sorted((EXAMPLES / "resource_policies").glob("*.yaml"))]


def yaml_texts() -> st.SearchStrategy[str]:
    documents = (
        st.sampled_from(POLICIES).flatmap(mutated).map(lambda d: yaml.safe_dump(d, allow_unicode=True))
    )
    anchors = st.integers(1, 12).map(
        lambda n: (
            "a: &a [x, x]\n"
            + "".join(
                f"b{i}: &b{i} [*{'a' if i == 0 else f'b{i - 1}'}, *{'a' if i == 0 else f'b{i - 1}'}]\n"
                for i in range(n)
            )
        )
    )
    return st.one_of(documents, documents, st.text(max_size=300), anchors)


def policy_property(text: str) -> None:
    try:
        load_documents({"fuzz.yaml": text})
    except PolicyError as exc:
        assert exc.errors or str(exc)


@fuzz(SHORT)
@given(text=yaml_texts())
def test_fuzz_policy_decoder(text):
    policy_property(text)


@pytest.mark.slow
@fuzz(LONG)
@given(text=yaml_texts())
def test_fuzz_policy_decoder_long(text):
    policy_property(text)


# -- the CEL parser and compiler ---------------------------------------------------------------------------
CEL_FRAGMENTS = [
    "R.attr.tags.exists(t, t in P.attr.tags)",
    "a.b.c",
    "1 + ",
    "[1, 2][",
    "{'a': 1}.a",
    "has(",
    "x.all(i, x.all(j, i < j))",
    "'\\u00e9'",
    "b'\\xff'",
    "0x7fffffffffffffff",
    "-9223372036854775808",
    "lists.range(5)",
    "timestamp('2024-01-01T00:00:00Z')",
    "!" * 30,
    "(" * 60,
    "cel.bind(x, 1, x)",
]


def cel_texts() -> st.SearchStrategy[str]:
    spliced = st.lists(st.sampled_from(CEL_FRAGMENTS), min_size=1, max_size=4).map(" ".join)
    return st.one_of(cel_expressions(), spliced, st.text(max_size=120))


def cel_property(text: str) -> None:
    try:
        parse(text)
        program = compile(text)
    except CelError:
        return
    try:
        program.evaluate(
            {"R": {"attr": {"tags": list(range(50))}}, "P": {"attr": {"tags": [3]}}, "x": [1, 2, 3]}
        )
    except CelError:
        pass


@fuzz(SHORT)
@given(text=cel_texts())
def test_fuzz_cel(text):
    cel_property(text)


@pytest.mark.slow
@fuzz(LONG)
@given(text=cel_texts())
def test_fuzz_cel_long(text):
    cel_property(text)


# -- the MCP message path: a wire line, then the decision on a tool call -----------------------------------
@pytest.fixture(scope="module")
def pdp():
    return PDP.from_directory(EXAMPLES)


CALL = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {"name": "write_file", "arguments": {"path": "/repo/src/a.py", "text": "x"}},
}


def mcp_lines() -> st.SearchStrategy[bytes]:
    return st.one_of(raw_bodies(CALL), st.binary(max_size=100)).map(lambda b: b.replace(b"\n", b" "))


def mcp_property(pdp: PDP, line: bytes) -> None:
    message, refusal = accept_line(line)
    if message is None:
        assert refusal is not None
        answer = json.loads(refusal)
        assert answer["error"]["code"] in (-32700, -32600)
        return
    root = message.root if hasattr(message, "root") else message
    params = getattr(root, "params", None)
    if getattr(root, "method", None) != "tools/call" or not isinstance(params, dict):
        return
    name, arguments = params.get("name"), params.get("arguments")
    if not isinstance(name, str) or not isinstance(arguments, dict):
        return
    arguments_digest(arguments)
    resource = Resource(
        "mcp_server",
        "fs",
        attr={"server": "fs", "method": "tools/call", "arguments": arguments, "projectRoot": "/repo"},
    )
    try:
        result = pdp.check(Principal("erin", roles={"developer"}), resource, [action("tools/call", name)])
    except Error:
        return
    result.explanation()


@fuzz(SHORT)
@given(line=mcp_lines())
def test_fuzz_mcp_messages(pdp, line):
    mcp_property(pdp, line)


@pytest.mark.slow
@fuzz(LONG)
@given(line=mcp_lines())
def test_fuzz_mcp_messages_long(pdp, line):
    mcp_property(pdp, line)
