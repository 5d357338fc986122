"""Differential test: chamberlain and the real Cerbos server decide the same random requests alike.

The real Cerbos (npm ``@cerbos/cerbos-linux-x64``, see tests/support/cerbos_server.py) serves the
conformance store and the example policies from disk; hypothesis draws principals and resources
from the names and values those policies mention (plus noise), sends each CheckResources request to
both, and every effect, output, matched policy/scope and effective derived role must agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chamberlain import PDP
from chamberlain.engine.wire import parse_check_resources
from tests.cel.conformance import data_dir
from tests.support.cerbos_requests import RequestStrategies, normalise_response
from tests.support.cerbos_server import REPO_ROOT, CerbosServer, ServerFactory
from tests.support.policy_vocab import load_vocabulary

pytest_plugins = ["tests.support.fixtures"]

STORE = data_dir() / "cerbos" / "store"
EXAMPLES = REPO_ROOT / "examples" / "policies"
GLOBALS = {"environment": "test"}


@dataclass(frozen=True)
class Target:
    """A policy directory under one engine configuration (Cerbos's spelling and chamberlain's)."""

    directory: Path
    cerbos_engine: dict[str, Any]
    pdp_options: dict[str, Any]


TARGETS = {
    "store": Target(STORE, {"globals": GLOBALS}, {"globals": GLOBALS}),
    "store-lenient": Target(
        STORE,
        {"globals": GLOBALS, "lenientScopeSearch": True},
        {"globals": GLOBALS, "lenient_scope_search": True},
    ),
    "store-strict": Target(
        STORE,
        {"globals": GLOBALS, "strictEvaluation": True},
        {"globals": GLOBALS, "strict_evaluation": True},
    ),
    "examples": Target(EXAMPLES, {}, {}),
}


@dataclass
class Oracle:
    server: CerbosServer
    client: httpx.Client
    pdp: PDP
    requests: st.SearchStrategy[dict[str, Any]]


@pytest.fixture(scope="module", params=sorted(TARGETS))
def oracle(request: pytest.FixtureRequest, cerbos_servers: ServerFactory) -> Iterator[Oracle]:
    target = TARGETS[request.param]
    if not target.directory.is_dir():
        pytest.skip(f"{target.directory} is missing")
    server = cerbos_servers(target.directory, engine=target.cerbos_engine)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        pdp = PDP.from_directory(target.directory, **target.pdp_options)
        yield Oracle(server, client, pdp, RequestStrategies(load_vocabulary(target.directory)).request())


def _disagreement(request: dict[str, Any], cerbos: dict[str, Any], ours: dict[str, Any]) -> str:
    def dump(value: Any) -> str:
        return json.dumps(value, indent=1, sort_keys=True)

    return f"request:\n{dump(request)}\nCerbos:\n{dump(cerbos)}\nchamberlain:\n{dump(ours)}"


@settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(data=st.data())
def test_same_decisions_as_cerbos(oracle: Oracle, data: st.DataObject) -> None:
    request = data.draw(oracle.requests, label="request")
    reply = oracle.client.post("/api/check/resources", json=request)
    assert reply.status_code == 200, f"Cerbos refused the request ({reply.status_code}): {reply.text}"
    cerbos = reply.json()
    ours = oracle.pdp.check_resources(json.loads(json.dumps(request)))
    assert normalise_response(ours) == normalise_response(cerbos), _disagreement(request, cerbos, ours)
    # The fast path (PDP.is_allowed) gives every action the same effect.
    inputs, _ = parse_check_resources(json.loads(json.dumps(request)), None)
    for inp, result in zip(inputs, cerbos["results"], strict=True):
        for action, effect in result["actions"].items():
            fast = oracle.pdp.engine.decide(inp.principal, inp.resource, action, inp.aux_data)
            assert fast.effect == effect, (action, _disagreement(request, cerbos, ours))
