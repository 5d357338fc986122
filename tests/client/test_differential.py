"""Code written against the embedded PDP runs against ``chamberlain.Client`` unchanged and gets the same answers.

The same policies are served by a real ``chamberlain serve`` process on loopback (and by the real
Cerbos server); hypothesis draws CheckResources requests from the names and values the policies
mention; each is decided by the embedded PDP, by ``Client`` and by ``AsyncClient``, through the
object API (``check``, ``is_allowed``) and the JSON API (``check_resources``), and every effect,
deciding policy and scope, output, derived role and validation error must agree.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chamberlain import PDP, AsyncClient, Client, Principal
from chamberlain.engine.wire import json_number, parse_check_resources
from chamberlain.pdp import CheckResult
from tests.server.support import STORE, serve_process
from tests.support.cerbos_requests import RequestStrategies, _normalise_value, normalise_response
from tests.support.cerbos_server import REPO_ROOT, ServerFactory, against_cerbos
from tests.support.policy_vocab import load_vocabulary

pytest_plugins = ["tests.support.fixtures"]

EXAMPLES = REPO_ROOT / "examples" / "policies"
TARGETS = {"examples": (EXAMPLES, {}), "store": (STORE, {"environment": "test"})}
EXAMPLES_PER_TARGET = 60


@dataclass
class Peer:
    pdp: PDP
    client: Client
    url: str
    requests: st.SearchStrategy[dict[str, Any]]


def _serve_args(directory: Path, globals_: dict[str, str]) -> list[str]:
    args = ["--policies", str(directory), "--set", "chamberlain.logLevel=warning"]
    for name, value in globals_.items():
        args += ["--set", f"engine.globals.{name}={value}"]
    return args


@pytest.fixture(scope="module", params=sorted(TARGETS))
def served(request: pytest.FixtureRequest) -> Iterator[Peer]:
    directory, globals_ = TARGETS[request.param]
    if not directory.is_dir():
        pytest.skip(f"{directory} is missing")
    with serve_process(*_serve_args(directory, globals_)) as (_, url), Client(url) as client:
        pdp = PDP.from_directory(directory, globals=globals_)
        yield Peer(pdp, client, url, RequestStrategies(load_vocabulary(directory)).request())


def decisions(result: CheckResult) -> list[dict[str, Any]]:
    """What a check result says, comparable across embedded and remote results."""
    out = []
    for o in result.outputs:
        out.append(
            {
                "resource": o.resource_id,
                "actions": {a: (e.effect, e.policy, e.scope) for a, e in o.actions.items()},
                "derived": sorted(o.effective_derived_roles),
                "validation": sorted((e.path, e.message, e.source) for e in o.validation_errors),
                "outputs": sorted(
                    (
                        json.dumps(_normalise_value(json_number(x.val), _now()), sort_keys=True),
                        x.src,
                        x.action,
                        x.error,
                    )
                    for x in o.outputs
                ),
            }
        )
    return out


def _now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)


def _objects(request: dict[str, Any]) -> tuple[Any, list[Any], tuple[str, ...]]:
    """The request as objects: its principal, its resources and the first entry's actions."""
    inputs, _ = parse_check_resources(json.loads(json.dumps(request)), None)
    return inputs[0].principal, [i.resource for i in inputs], inputs[0].actions


SETTINGS = against_cerbos(EXAMPLES_PER_TARGET)


@SETTINGS
@given(data=st.data())
def test_client_decides_as_the_embedded_pdp(served: Peer, data: st.DataObject) -> None:
    request = data.draw(served.requests, label="request")
    principal, resources, actions = _objects(request)
    embedded = served.pdp.check(principal, resources, actions)
    remote = served.client.check(principal, resources, actions)
    assert remote.reason == ""
    assert decisions(remote) == decisions(embedded)
    for resource in resources:
        for action in actions:
            assert served.client.is_allowed(principal, resource, action) == served.pdp.is_allowed(
                principal, resource, action
            )
    # The JSON API: the same response, but for the server's call id.
    answer = served.client.check_resources(json.loads(json.dumps(request)))
    assert answer.pop("cerbosCallId")
    assert normalise_response(answer) == normalise_response(served.pdp.check_resources(request))


@SETTINGS
@given(data=st.data())
def test_async_client_decides_as_the_embedded_pdp(served: Peer, data: st.DataObject) -> None:
    request = data.draw(served.requests, label="request")
    principal, resources, actions = _objects(request)

    async def remote() -> CheckResult:
        async with AsyncClient(served.url) as client:
            return await client.check(principal, resources, actions)

    assert decisions(asyncio.run(remote())) == decisions(served.pdp.check(principal, resources, actions))


@settings(
    max_examples=EXAMPLES_PER_TARGET,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_client_against_real_cerbos_decides_as_the_embedded_pdp(
    cerbos_servers: ServerFactory, data: st.DataObject
) -> None:
    """The client speaks Cerbos's API: pointed at the real Cerbos it answers what the embedded PDP answers."""
    server = cerbos_servers(EXAMPLES)
    request = data.draw(_EXAMPLE_REQUESTS, label="request")
    principal, resources, actions = _objects(request)
    with Client(server.url) as client:
        remote = client.check(principal, resources, actions)
    assert remote.reason == ""
    assert decisions(remote) == decisions(_EXAMPLES_PDP.check(principal, resources, actions))


_EXAMPLE_REQUESTS = RequestStrategies(load_vocabulary(EXAMPLES)).request()
_EXAMPLES_PDP = PDP.from_directory(EXAMPLES)


PLANS = [
    (Principal("alice", ["finance_clerk"]), "invoice", "pay", {}),
    (Principal("alice", ["finance_clerk"]), "invoice", ["view", "pay"], {"currency": "EUR"}),
    (
        Principal("agent-7", ["agent"], {"delegator": {"id": "alice", "roles": ["finance_clerk"]}}),
        "invoice",
        "pay",
        {},
    ),
    (Principal("eve", ["visitor"]), "invoice", "pay", {}),
    (Principal("dev", ["developer"]), "mcp_server", "tools/call::read_file", {"projectRoot": "/src"}),
]


@pytest.fixture(scope="module")
def examples_client() -> Iterator[Client]:
    with serve_process(*_serve_args(EXAMPLES, {})) as (_, url), Client(url) as client:
        yield client


@pytest.mark.parametrize(("principal", "kind", "action", "known"), PLANS)
def test_client_plans_as_the_embedded_pdp(
    examples_client: Client, principal: Principal, kind: str, action: Any, known: dict[str, Any]
) -> None:
    remote = examples_client.plan(principal, kind, action, resource_attr=known)
    embedded = _EXAMPLES_PDP.plan(principal, kind, action, resource_attr=known)
    assert (remote.kind, remote.filter_json(), remote.actions) == (
        embedded.kind,
        embedded.filter_json(),
        embedded.actions,
    )
    assert remote.filter_debug == embedded.filter_debug and remote.notes == []


def test_an_unreachable_pdp_plans_always_denied() -> None:
    from chamberlain import Retry

    with Client("http://127.0.0.1:9", retry=Retry(attempts=1)) as client:
        plan = client.plan(Principal("alice", ["finance_clerk"]), "invoice", "pay")
    assert plan.always_denied and "unreachable" in plan.notes[0]
