"""The server stays responsive while a costly check runs: the check moves off the event loop (to a worker
thread) once it has run for ``chamberlain.limits.eventLoopSlice``, or at once when its body is larger than
``chamberlain.limits.largeRequestBytes``; it still ends at ``evaluationTimeout`` with every undecided action
denied. Ordering is asserted, never timing: health answers while the slow check is still in flight."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from tests.engine.test_evaluation_budget import POLICY
from tests.server.support import ThreadServer

N = 20_000  # the pair loop of "share": 400 million string concatenations, minutes without a budget


def slow_body() -> bytes:
    return json.dumps(
        {
            "principal": {"id": "alice", "roles": ["user"], "attr": {"tags": [f"p{i}" for i in range(N)]}},
            "resources": [
                {
                    "actions": ["view", "share"],
                    "resource": {"kind": "doc", "id": "d1", "attr": {"tags": [f"r{i}" for i in range(N)]}},
                }
            ],
        }
    ).encode()


def fast_body() -> bytes:
    return json.dumps(
        {
            "principal": {"id": "bob", "roles": ["user"], "attr": {"tags": ["a"]}},
            "resources": [
                {"actions": ["edit"], "resource": {"kind": "doc", "id": "d2", "attr": {"tags": ["a"]}}}
            ],
        }
    ).encode()


@pytest.fixture(scope="module")
def policies(tmp_path_factory):
    folder = tmp_path_factory.mktemp("policies")
    (folder / "doc.yaml").write_text(POLICY)
    return folder


def _in_flight(url: str, body: bytes) -> tuple[threading.Thread, dict]:
    answer: dict = {}

    def run() -> None:
        reply = httpx.post(f"{url}/api/check/resources", content=body, timeout=120)
        answer["status"], answer["json"] = reply.status_code, reply.json()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, answer


@pytest.mark.parametrize("large", [64 << 10, 64 << 20], ids=["large-body-to-worker", "preempted-on-the-loop"])
def test_health_and_fast_checks_answer_while_a_slow_check_runs(policies, large):
    limits = {"evaluationTimeout": "5s", "eventLoopSlice": "10ms", "largeRequestBytes": large}
    with ThreadServer(policies, {"chamberlain": {"limits": limits, "audit": {"enabled": False}}}) as srv:
        slow, answer = _in_flight(srv.url, slow_body())
        # the slow check is running: every one of these answers before it ends
        seen = 0
        while slow.is_alive() and seen < 5:
            assert httpx.get(f"{srv.url}/_cerbos/health", timeout=120).json()["status"] == "SERVING"
            reply = httpx.post(f"{srv.url}/api/check/resources", content=fast_body(), timeout=120).json()
            assert reply["results"][0]["actions"] == {
                "edit": "EFFECT_DENY"
            }  # shared tag "a": the guard holds
            seen += 1 if slow.is_alive() else 0
        assert seen == 5, "health and fast checks waited for the slow check"
        slow.join()
    assert answer["status"] == 200
    result = answer["json"]["results"][0]
    assert result["actions"] == {
        "view": "EFFECT_ALLOW",
        "share": "EFFECT_DENY",
    }  # cut off by the budget: denied


def test_the_limits_have_defaults():
    from chamberlain.server.config import load_config

    c = load_config(None, env={})
    assert c.engine_options["evaluation_timeout"] == 1.0
    assert (c.event_loop_slice, c.large_request_bytes, c.worker_threads) == (0.01, 65536, 4)


PLAN_POLICY = """\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: doc
  version: default
  rules:
    - actions: ["view"]
      effect: EFFECT_ALLOW
      roles: ["user"]
      condition:
        match:
          all:
            of:
              - expr: P.attr.a.all(x, P.attr.a.all(y, P.attr.a.all(z, x + y + z >= 0.0)))
              - expr: R.attr.owner == P.id
"""


def test_a_query_plan_is_bounded_by_the_budget_too(tmp_path):
    """The planner folds what it knows (the principal's attributes): 64 million iterations are cut off by
    evaluationTimeout and answered 504 (no plan rather than a plan cut short), and the server keeps serving."""
    (tmp_path / "doc.yaml").write_text(PLAN_POLICY)
    body = {
        "requestId": "p",
        "action": "view",
        "resource": {"kind": "doc"},
        "principal": {"id": "alice", "roles": ["user"], "attr": {"a": list(range(400))}},
    }
    with ThreadServer(
        tmp_path, {"chamberlain": {"limits": {"evaluationTimeout": "200ms"}, "audit": {"enabled": False}}}
    ) as srv:
        reply = httpx.post(f"{srv.url}/api/plan/resources", json=body, timeout=120)
        assert reply.status_code == 504, reply.text
        assert "chamberlain.limits.evaluationTimeout" in reply.json()["message"]
        small = {**body, "principal": {**body["principal"], "attr": {"a": [1, 2]}}}
        plan = httpx.post(f"{srv.url}/api/plan/resources", json=small, timeout=120).json()
        assert plan["filter"]["kind"] == "KIND_CONDITIONAL"


SHORT_INNER_POLICY = PLAN_POLICY.replace(
    "P.attr.a.all(x, P.attr.a.all(y, P.attr.a.all(z, x + y + z >= 0.0)))",
    "P.attr.a.exists(x, P.attr.b.exists(y, R.attr.z == x + y))",
)


def test_a_query_plan_of_many_short_loops_is_bounded_by_the_budget(tmp_path):
    """A long loop whose body is a short (unpaced) loop: the planner built the long loop's items first,
    reading the clock only then, so 40,000 bodies of 16 iterations (seconds, on the event loop) ran
    past a 200 ms evaluationTimeout and answered a plan. Cut off: 504."""
    (tmp_path / "doc.yaml").write_text(SHORT_INNER_POLICY)
    body = {
        "requestId": "p",
        "action": "view",
        "resource": {"kind": "doc"},
        "principal": {
            "id": "alice",
            "roles": ["user"],
            "attr": {"a": [f"a{i}" for i in range(40_000)], "b": [f"b{i}" for i in range(16)]},
        },
    }
    with ThreadServer(
        tmp_path, {"chamberlain": {"limits": {"evaluationTimeout": "200ms"}, "audit": {"enabled": False}}}
    ) as srv:
        reply = httpx.post(f"{srv.url}/api/plan/resources", json=body, timeout=120)
        assert reply.status_code == 504, reply.text[:300]
        small = {**body, "principal": {**body["principal"], "attr": {"a": ["a"], "b": ["b"]}}}
        plan = httpx.post(f"{srv.url}/api/plan/resources", json=small, timeout=120).json()
        assert plan["filter"]["kind"] == "KIND_CONDITIONAL"


def test_health_answers_while_a_slow_query_plan_runs(tmp_path):
    """A plan folded on the event loop held it for all of evaluationTimeout (checks move to a worker after
    eventLoopSlice; plans did not): a few concurrent plans kept health and every check waiting. A plan
    past eventLoopSlice now continues on a worker thread, within the same budget."""
    (tmp_path / "doc.yaml").write_text(PLAN_POLICY)
    body = {
        "requestId": "p",
        "action": "view",
        "resource": {"kind": "doc"},
        "principal": {"id": "alice", "roles": ["user"], "attr": {"a": list(range(400))}},
    }
    limits = {"evaluationTimeout": "5s", "eventLoopSlice": "10ms"}
    with ThreadServer(tmp_path, {"chamberlain": {"limits": limits, "audit": {"enabled": False}}}) as srv:
        answer: dict = {}

        def run() -> None:
            answer["status"] = httpx.post(f"{srv.url}/api/plan/resources", json=body, timeout=120).status_code

        slow = threading.Thread(target=run)
        slow.start()
        seen = 0
        while slow.is_alive() and seen < 5:
            assert httpx.get(f"{srv.url}/_cerbos/health", timeout=120).json()["status"] == "SERVING"
            seen += 1 if slow.is_alive() else 0
        assert seen == 5, "health waited for the slow plan"
        slow.join()
    assert answer["status"] == 504  # cut off by the budget, on the worker
