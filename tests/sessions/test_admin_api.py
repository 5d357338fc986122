"""The sessions' admin handlers, called as the admin dispatcher calls them (an authenticated AdminRequest)."""

from __future__ import annotations

import json

import pytest

from chamberlain.server.admin import AdminRequest, AdminResponse, Caller
from chamberlain.server.config import load_config
from chamberlain.server.http import ApiError
from chamberlain.server.sessions_api import ROUTES
from chamberlain.server.state import ServerState

OPERATOR = Caller("operator", ("admin",))
HANDLERS = {(r.method, r.path): r.handler for r in ROUTES}


@pytest.fixture
def state(policies, tmp_path):
    config = load_config(
        None,
        env={},
        overrides={
            "storage": {"disk": {"directory": str(policies), "watchForChanges": False}},
            "chamberlain": {
                "stateDir": str(tmp_path / "state"),
                "logLevel": "warning",
                "sessions": {"defaults": {"ttl": "30m"}, "maxima": {"ttl": "2h"}},
            },
        },
    )
    found = ServerState(config)
    yield found
    found.close()


def call(state, method, path, body=None, query=b"", caller=OPERATOR, **params):
    handler = HANDLERS[(method, path)]
    raw = json.dumps(body).encode() if body is not None else b""
    try:
        answer = handler(AdminRequest(state, caller, method, params, query, raw, {}, "call-1"))
    except ApiError as refused:  # what the server answers with it
        return refused.status, json.loads(refused.body())
    if isinstance(answer, AdminResponse):
        return answer.status, answer.body
    return 200, answer


OPEN = {
    "subject": "alice",
    "agent": "agent-7",
    "ttl": "10m",
    "idleTimeout": "2m",
    "budgets": [
        {"name": "payments", "kind": "invoice", "actions": ["pay"], "limit": 1000, "cost": "R.attr.amount"}
    ],
    "rateLimits": [{"kind": "invoice", "actions": ["*"], "max": 10, "per": "1m"}],
    "metadata": {"purpose": "pay bills"},
}


def test_open_show_list_and_revoke(state):
    status, opened = call(state, "POST", "/api/sessions", OPEN)
    assert status == 201 and opened["state"] == "ACTIVE" and opened["id"].startswith("ses_")
    assert opened["expiresAt"].endswith("Z") and opened["openedBy"] == "operator"
    status, shown = call(state, "GET", "/api/sessions/{id}", id=opened["id"])
    assert shown["budgets"] == [
        {
            "name": "payments",
            "kind": "invoice",
            "actions": ["pay"],
            "limit": 1000,
            "cost": "R.attr.amount",
            "used": 0,
            "remaining": 1000,
        }
    ]
    call(state, "POST", "/api/sessions", {"subject": "bob", "agent": "agent-8"})
    status, page = call(state, "GET", "/api/sessions", query=b"state=ACTIVE&limit=1")
    assert [s["id"] for s in page["sessions"]] == [opened["id"]] and page["next"] == opened["id"]
    status, rest = call(state, "GET", "/api/sessions", query=f"state=ACTIVE&after={page['next']}".encode())
    assert [s["agent"] for s in rest["sessions"]] == ["agent-8"] and rest["next"] is None
    status, revoked = call(state, "POST", "/api/sessions/{id}/revoke", {"reason": "done"}, id=opened["id"])
    assert (status, revoked["state"], revoked["endedBy"], revoked["endReason"]) == (
        200,
        "REVOKED",
        "operator",
        "done",
    )


def test_defaults_and_maxima_apply(state):
    status, opened = call(state, "POST", "/api/sessions", {"subject": "alice", "agent": "agent-7"})
    assert status == 201 and opened["idleTimeout"] == "900s"
    status, error = call(state, "POST", "/api/sessions", {**OPEN, "ttl": "3h"})
    assert status == 400 and error["message"] == "ttl: '3h' is longer than the allowed maximum of 7200s"


def test_revoke_every_session_of_an_agent_and_lock_it(state):
    ids = [
        call(state, "POST", "/api/sessions", {"subject": s, "agent": "agent-7"})[1]["id"]
        for s in ("alice", "bob")
    ]
    status, answer = call(
        state, "POST", "/api/sessions/revoke", {"agent": "agent-7", "reason": "compromised"}
    )
    assert sorted(answer["revoked"]) == sorted(ids)
    status, lock = call(
        state, "POST", "/api/locks", {"target": "agent", "value": "agent-7", "reason": "compromised"}
    )
    assert status == 201 and lock["id"].startswith("lck_")
    status, error = call(state, "POST", "/api/sessions", {"subject": "alice", "agent": "agent-7"})
    assert status == 409 and "agent 'agent-7' is locked" in error["message"]
    assert call(state, "GET", "/api/locks")[1]["locks"] == [lock]
    assert call(state, "DELETE", "/api/locks/{id}", id=lock["id"])[0] == 200
    assert call(state, "POST", "/api/sessions", {"subject": "alice", "agent": "agent-7"})[0] == 201


def test_settle_adds_the_actual_cost(state):
    opened = call(state, "POST", "/api/sessions", OPEN)[1]
    status, settled = call(
        state, "POST", "/api/sessions/{id}/settle", {"budget": "payments", "amount": 250}, id=opened["id"]
    )
    assert status == 200 and settled["budgets"][0]["used"] == 250


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {
                **OPEN,
                "budgets": [
                    {
                        "name": "p",
                        "kind": "invoice",
                        "actions": ["pay"],
                        "limit": 5,
                        "cost": "R.attr.amount +",
                    }
                ],
            },
            "budgets[0].cost: 'R.attr.amount +' is not a valid CEL expression",
        ),
        (
            {**OPEN, "budgets": [{"name": "p", "kind": "invoice", "actions": ["pay"], "limit": -1}]},
            "budgets[0].limit: must not be negative, got -1",
        ),
        (
            {**OPEN, "rateLimits": [{"kind": "invoice", "actions": ["pay"], "max": 0, "per": "1m"}]},
            "rateLimits[0].max: expected an integer between 1 and 100000, got 0",
        ),
        (
            {**OPEN, "rateLimits": [{"kind": "invoice", "actions": ["pay"], "max": 3, "per": "forever"}]},
            "rateLimits[0].per: expected a duration such as 30s, 500ms or 1m, got 'forever'",
        ),
        ({**OPEN, "idleTimeout": "-5s"}, "idleTimeout: expected a duration"),
        ({**OPEN, "agent": ""}, "agent: expected a non-empty string"),
        ({**OPEN, "colour": "red"}, "session: unknown field 'colour'"),
        (
            {**OPEN, "budgets": [OPEN["budgets"][0], OPEN["budgets"][0]]},
            "budgets[1].name: budget 'payments' is named twice",
        ),
    ],
)
def test_bad_input_is_a_clear_400(state, body, message):
    status, error = call(state, "POST", "/api/sessions", body)
    assert status == 400 and error["message"].startswith(message), error


def test_unknown_and_malformed_ids(state):
    status, error = call(state, "GET", "/api/sessions/{id}", id="ses_00000000000000000000000000")
    assert (status, error["message"]) == (404, "no session ses_00000000000000000000000000")
    status, error = call(state, "GET", "/api/sessions/{id}", id="revoke")
    assert (status, error["message"]) == (400, "path: 'revoke' is not a session id")
    status, error = call(state, "GET", "/api/sessions", query=b"state=GONE")
    assert status == 400 and "state: expected one of ACTIVE, SUSPENDED, EXPIRED, REVOKED" in error["message"]
    status, error = call(state, "POST", "/api/sessions", None)
    assert status == 400
    handler = HANDLERS[("POST", "/api/sessions")]
    with pytest.raises(ApiError) as refused:
        handler(AdminRequest(state, OPERATOR, "POST", {}, b"", b"{not json", {}, "c"))
    assert refused.value.status == 400 and refused.value.message.startswith("request body: invalid JSON")


def test_a_token_caller_is_named_with_its_issuer(state):
    caller = Caller("carol", ("admin",), via="jwt", issuer="https://idp.example")
    status, opened = call(state, "POST", "/api/sessions", OPEN, caller=caller)
    assert status == 201 and opened["openedBy"] == "carol (https://idp.example)"
