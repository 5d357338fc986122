"""The AuthZEN COAZ profile for MCP over real HTTP: ``/coaz/mcp/access/v1/evaluation`` decided with the MCP
gateway's policy names, strictly (a policy reading arguments the request did not carry denies)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.gateways.proxy.support import policies
from tests.server.support import REPO, ThreadServer

URL = "/coaz/mcp/access/v1/evaluation"
PAGE = REPO / "docs" / "guides" / "proxies.md"


def sample() -> dict:
    """The page's ``coaz-tools-call.json`` block."""
    found = re.search(
        r'```json title="coaz-tools-call.json"\n(.*?)```', PAGE.read_text(encoding="utf-8"), re.S
    )
    assert found is not None
    return json.loads(found.group(1))


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("coaz")
    with ThreadServer(policies(tmp), {"engine": {"strictEvaluation": True}}) as srv:
        yield srv


def ask(srv: ThreadServer, body: dict) -> httpx.Response:
    return httpx.post(srv.url + URL, json=body, timeout=10)


def call(tool: str, arguments: dict | None = None, **extra) -> dict:
    body = sample()
    body["resource"]["id"] = tool
    if arguments is None:
        del body["context"]["arguments"]
    else:
        body["context"]["arguments"] = arguments
    body.update(extra)
    return body


def test_the_documented_tool_call_is_allowed_with_its_arguments(strict):
    reply = ask(strict, sample())
    assert reply.status_code == 200 and reply.json() == {"decision": True}


def test_arguments_decide_a_guarding_deny(strict):
    reply = ask(strict, call("send_money", {"amount": 500, "to": "bob"}))
    assert reply.status_code == 200 and reply.json() == {"decision": False}


def test_a_policy_reading_arguments_the_request_did_not_carry_denies_with_the_reason(strict):
    reply = ask(strict, call("send_money"))
    assert reply.status_code == 200
    answer = reply.json()
    assert answer["decision"] is False and "R.attr.arguments" in answer["context"]["reason_admin"]["en"]


def test_tools_are_named_as_the_mcp_gateway_names_them(strict):
    assert ask(strict, call("search")).json() == {"decision": True}  # tools/call::search, no arguments needed
    assert ask(strict, call("delete_repo")).json() == {"decision": False}  # no rule allows it
    other_role = call("search")
    other_role["subject"]["properties"]["cerbos.roles"] = ["guest"]
    assert ask(strict, other_role).json() == {"decision": False}


def test_a_server_wide_method_is_decided_on_the_server(strict):
    body = {
        "subject": {"type": "identity", "id": "alice"},
        "action": {"name": "tools/list"},
        "resource": {"type": "mcp_server", "id": "payments"},
    }
    reply = ask(strict, body)
    assert reply.status_code == 200 and reply.json() == {"decision": False}  # no rule names tools/list


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b["resource"].pop("properties"), "resource.properties.server"),
        (lambda b: b["resource"].update(type="mcp_server"), "resource.type"),
        (lambda b: b["resource"].update(id="x" * 300), "resource.id"),
        (lambda b: b["resource"]["properties"].update(server=7), "resource.properties.server"),
        (lambda b: b["resource"]["properties"].update(server="a\nb"), "resource.properties.server"),
        (lambda b: b["context"].update(arguments=[1]), "context.arguments"),
        (lambda b: b["context"].update(agent={"id": 1}), "context.agent"),
        (lambda b: b["action"].update(name="ping"), "pass-through"),
        (lambda b: b["action"].update(name="notifications/cancelled"), "pass-through"),
        (lambda b: b["action"].update(name="Tools call"), "action.name"),
        (lambda b: b.pop("subject"), "subject"),
    ],
)
def test_malformed_requests_are_400s_naming_the_field(strict, change, field):
    body = sample()
    change(body)
    reply = ask(strict, body)
    assert reply.status_code == 400 and field in reply.json()["message"], reply.text


def test_arguments_for_a_method_without_them_are_a_400(strict):
    body = {
        "subject": {"type": "identity", "id": "alice"},
        "action": {"name": "resources/read"},
        "resource": {"type": "resource", "id": "file:///a", "properties": {"server": "payments"}},
        "context": {"arguments": {}},
    }
    reply = ask(strict, body)
    assert reply.status_code == 400 and "context.arguments" in reply.json()["message"]


def test_arguments_holding_an_integer_policies_would_read_as_another_are_a_400(tmp_path):
    """Policies read numbers as doubles (as Cerbos does): ``to`` 9007199254740993 was decided as 9007199254740992,
    the one account the rule allows, and the gateway asking then sent the server the integer it had."""
    folder = policies(tmp_path)
    policy = folder / "resource_policies" / "mcp_server.yaml"
    policy.write_text(
        policy.read_text()
        + """    - name: payroll-account-only
      actions: ["tools/call::transfer"]
      effect: EFFECT_ALLOW
      roles: ["finance_clerk"]
      condition:
        match:
          expr: R.attr.arguments.to == 9007199254740992
"""
    )
    with ThreadServer(folder, {"engine": {"strictEvaluation": True}}) as srv:
        assert ask(srv, call("transfer", {"to": 2**53})).json() == {"decision": True}
        for arguments, where in [
            ({"to": 2**53 + 1}, "context.arguments.to"),
            ({"to": 2**64 + 1}, "context.arguments.to"),
            ({"to": 2**53, "x": [2**60]}, "context.arguments.x[0]"),
        ]:
            reply = ask(srv, call("transfer", arguments))
            assert reply.status_code == 400, reply.text
            assert f"{where}: " in reply.json()["message"] and "beyond ±2^53" in reply.json()["message"], (
                reply.text
            )
        # Keys that differ only in case: a server reading names without regard to case may take either.
        reply = ask(srv, call("transfer", {"to": 2**53, "TO": 1}))
        assert reply.status_code == 400, reply.text
        assert "keys 'to' and 'TO' differ only in case" in reply.json()["message"], reply.text


def test_a_tool_name_a_lenient_server_reads_as_a_denied_tool_is_not_allowed(tmp_path):
    """``tools/call::*`` allowed, ``tools/call::delete_repo`` denied: ``Delete_Repo``, ``delete_repo `` and a
    fullwidth form were allowed as tools no DENY names, while a server matching names without regard to case,
    trimming or normalising them ran delete_repo."""
    folder = policies(tmp_path)
    (folder / "resource_policies" / "mcp_server.yaml").write_text(
        """apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: mcp_server
  version: default
  rules:
    - actions: ["tools/call::*"]
      effect: EFFECT_ALLOW
      roles: ["finance_clerk"]
    - actions: ["tools/call::delete_repo"]
      effect: EFFECT_DENY
      roles: ["*"]
"""
    )
    with ThreadServer(folder, {"engine": {"strictEvaluation": True}}) as srv:
        assert ask(srv, call("search")).json() == {"decision": True}
        assert ask(srv, call("delete_repo")).json() == {"decision": False}
        for name, why in [
            ("Delete_Repo", "differs only in case from 'tools/call::delete_repo'"),
            ("delete_repo ", "has surrounding spaces"),
            ("\uff44elete_repo", "is not in Unicode normal form NFKC ('delete_repo')"),
        ]:
            answer = ask(srv, call(name)).json()
            assert answer["decision"] is False, (name, answer)
            assert why in answer["context"]["reason_admin"]["en"], (name, answer)


def test_without_strict_evaluation_a_conditional_deny_is_never_skipped(tmp_path):
    with ThreadServer(policies(tmp_path), {"engine": {"strictEvaluation": False}}) as srv:
        answer = ask(srv, call("send_money", {"amount": 20})).json()
        assert answer["decision"] is False and "strictEvaluation" in answer["context"]["reason_admin"]["en"]
        assert ask(srv, call("search")).json() == {"decision": True}


def test_a_decision_is_recorded_under_the_coaz_enforcement_point(strict):
    body = call("git_status")
    body["subject"]["id"] = "coaz-recorded"
    assert ask(strict, body).json() == {"decision": True}
    db = f"sqlite:///{strict.state_dir / 'decisions.db'}"
    found = subprocess.run(
        [
            str(Path(sys.executable).parent / "chamberlain"),
            "audit",
            "search",
            "--db",
            db,
            "--principal",
            "coaz-recorded",
            "--json",
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    [entry] = [json.loads(line) for line in found.stdout.splitlines()]
    assert (entry["point"], entry["action"], entry["effect"]) == (
        "http:authzen-mcp",
        "tools/call::git_status",
        "EFFECT_ALLOW",
    )
    resource = entry["resource"]
    assert (resource["kind"], resource["id"]) == ("mcp_server", "payments")
