"""Differential test: chamberlain and the real Cerbos server answer the same random requests alike.

The real Cerbos (npm ``@cerbos/cerbos-linux-x64``, see tests/support/cerbos_server.py) serves every
policy set of the conformance data and the examples from disk, with schema enforcement ``none``,
``warn`` and ``reject`` (and the store with lenient scope search and strict evaluation); hypothesis
draws principals and resources from the names and values those policies mention (plus noise), sends
each CheckResources request to both, and the whole responses must agree: effects, outputs and their
errors, validation errors, matched policies and scopes, effective derived roles (as a set: Cerbos's
order comes from Go maps). 100 requests per target here (300 to 500 per set; the real-world sets'
``warn`` targets, whose effects are those of ``none``, only in ``make test-slow``), 3,000 in
``make test-slow``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chamberlain import PDP
from chamberlain.engine.wire import parse_check_resources
from tests.cel.conformance import data_dir
from tests.support.cerbos_requests import RequestStrategies, normalise_response
from tests.support.cerbos_server import REPO_ROOT, CerbosServer, ServerFactory, against_cerbos
from tests.support.policy_vocab import load_vocabulary

pytest_plugins = ["tests.support.fixtures"]

CONFORMANCE = data_dir() / "cerbos"
REALWORLD = Path(__file__).with_name("realworld")
#: Every policy set of the conformance data and the examples (examples/delegation reads chamberlain's
#: auxData.delegation extension, which Cerbos refuses to compile: see docs/correctness.md), and the
#: sets written the way production teams write policies (tests/engine/realworld/, one domain each).
SETS = {
    "store": CONFORMANCE / "store",
    "query_planner": CONFORMANCE / "query_planner" / "policies",
    "examples": REPO_ROOT / "examples" / "policies",
    **{f"realworld_{d.name}": d for d in sorted(REALWORLD.iterdir()) if d.is_dir()},
}
GLOBALS = {"environment": "test"}
ENFORCEMENTS = ("none", "warn", "reject")


@dataclass(frozen=True)
class Target:
    """A policy directory under one engine configuration (Cerbos's spelling and chamberlain's)."""

    directory: Path
    cerbos_engine: dict[str, Any]
    pdp_options: dict[str, Any]
    schema_enforcement: str = "none"


def _targets() -> dict[str, Target]:
    targets = {
        f"{name}-{enforcement}": Target(directory, {"globals": GLOBALS}, {"globals": GLOBALS}, enforcement)
        for name, directory in SETS.items()
        for enforcement in ENFORCEMENTS
    }
    store = SETS["store"]
    targets["store-lenient"] = Target(
        store,
        {"globals": GLOBALS, "lenientScopeSearch": True},
        {"globals": GLOBALS, "lenient_scope_search": True},
    )
    targets["store-strict"] = Target(
        store, {"globals": GLOBALS, "strictEvaluation": True}, {"globals": GLOBALS, "strict_evaluation": True}
    )
    return targets


TARGETS = _targets()
#: The targets of the quick run: all but the real-world sets' ``warn`` (its effects are ``none``'s, its
#: validation errors ``reject``'s), to keep ``make test`` within a minute of what it was.
QUICK_TARGETS = sorted(t for t in TARGETS if not (t.startswith("realworld_") and t.endswith("-warn")))


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
    server = cerbos_servers(
        target.directory, engine=target.cerbos_engine, schema_enforcement=target.schema_enforcement
    )
    with httpx.Client(base_url=server.url, timeout=10) as client:
        pdp = PDP.from_directory(
            target.directory, schema_enforcement=target.schema_enforcement, **target.pdp_options
        )
        yield Oracle(server, client, pdp, RequestStrategies(load_vocabulary(target.directory)).request())


def _disagreement(request: dict[str, Any], cerbos: dict[str, Any], ours: dict[str, Any]) -> str:
    def dump(value: Any) -> str:
        return json.dumps(value, indent=1, sort_keys=True)

    return f"request:\n{dump(request)}\nCerbos:\n{dump(cerbos)}\nchamberlain:\n{dump(ours)}"


def _effect_alone(oracle: Oracle, request: dict[str, Any], index: int, action: str) -> str:
    """Cerbos's effect for one action of one resource of ``request``, asked alone."""
    alone = {**request, "resources": [{**request["resources"][index], "actions": [action]}]}
    reply = oracle.client.post("/api/check/resources", json=alone)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["results"][0]["actions"][action])


def _same_whole_response(oracle: Oracle, request: dict[str, Any]) -> None:
    """Effects, outputs (with their errors), validation errors, matched policies and scopes, the
    request id, and effective derived roles as a set: Cerbos's response and chamberlain's agree."""
    reply = oracle.client.post("/api/check/resources", json=request)
    assert reply.status_code == 200, f"Cerbos refused the request ({reply.status_code}): {reply.text}"
    cerbos = reply.json()
    ours = oracle.pdp.check_resources(json.loads(json.dumps(request)))
    assert {k: v for k, v in cerbos.items() if k not in ("results", "cerbosCallId")} == {
        k: v for k, v in ours.items() if k != "results"
    }, _disagreement(request, cerbos, ours)
    assert normalise_response(ours) == normalise_response(cerbos), _disagreement(request, cerbos, ours)
    # The fast path (PDP.is_allowed) gives every action the same effect, or, where the request's
    # other actions change it (a schema's ignoreWhen skips validation only when every action of the
    # request is listed), the effect Cerbos gives that one action asked alone.
    inputs, _ = parse_check_resources(json.loads(json.dumps(request)), None)
    for i, (inp, result) in enumerate(zip(inputs, cerbos["results"], strict=True)):
        for action, effect in result["actions"].items():
            fast = oracle.pdp.engine.decide(inp.principal, inp.resource, action, inp.aux_data)
            if fast.effect != effect and len(result["actions"]) > 1:
                effect = _effect_alone(oracle, request, i, action)
            assert fast.effect == effect, (action, _disagreement(request, cerbos, ours))


@pytest.mark.parametrize("oracle", QUICK_TARGETS, indirect=True)
@against_cerbos(100)
@given(data=st.data())
def test_same_responses_as_cerbos(oracle: Oracle, data: st.DataObject) -> None:
    _same_whole_response(oracle, data.draw(oracle.requests, label="request"))


@pytest.mark.slow
@against_cerbos(3000)
@given(data=st.data())
def test_same_responses_as_cerbos_many(oracle: Oracle, data: st.DataObject) -> None:
    _same_whole_response(oracle, data.draw(oracle.requests, label="request"))
