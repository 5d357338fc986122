"""The public API: PDP.from_directory, is_allowed, check, check_resources, reload."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml

from chamberlain import PDP, PolicyError, Principal, RequestError, Resource
from tests.engine.test_engine import DERIVED, DOCUMENT

BROKEN = """
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: broken
  version: default
  rules:
    - actions: ["x"]
      effect: EFFECT_ALLOW
      roles: ["user"]
      condition:
        match:
          expr: "R.attr.a +"
"""


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    (tmp_path / "derived.yaml").write_text(DERIVED)
    (tmp_path / "document.yaml").write_text(DOCUMENT)
    return tmp_path


def test_is_allowed_and_check(policy_dir: Path):
    pdp = PDP.from_directory(policy_dir)
    alice = Principal("alice", roles={"user"}, attr={"level": 3})
    draft = Resource("document", "d1", attr={"owner": "alice", "status": "draft"})
    assert pdp.is_allowed(alice, draft, "edit")
    assert not pdp.is_allowed(
        alice, Resource("document", "d2", attr={"owner": "bob", "status": "draft"}), "edit"
    )
    result = pdp.check(
        alice, [draft, Resource("document", "d3", attr={"owner": "x", "status": "y"})], ["edit", "view:all"]
    )
    assert result.is_allowed("edit", 0) and not result.is_allowed("edit", 1)
    assert result[1].is_allowed("view:all")
    assert result[0].actions["edit"].rule == "owner-edits-drafts"
    assert "owner-edits-drafts" in result.explanation()


def test_a_default_deny_names_the_rules_it_tried(policy_dir: Path):
    pdp = PDP.from_directory(policy_dir)
    alice = Principal("alice", roles={"user"})
    text = str(
        pdp.check(alice, Resource("document", "d2", attr={"owner": "bob", "status": "draft"}), ["edit"])[
            0
        ].explain("edit")
    )
    assert text.startswith("edit: EFFECT_DENY by resource.document.vdefault no rule matched")
    assert "tried resource.document.vdefault rule 'owner-edits-drafts'" in text and "did not hold" in text


def test_check_resources_speaks_cerbos_json(policy_dir: Path):
    pdp = PDP.from_directory(policy_dir)
    request = {
        "requestId": "r-1",
        "includeMeta": True,
        "principal": {"id": "alice", "roles": ["user"]},
        "resources": [
            {
                "actions": ["edit", "delete"],
                "resource": {"kind": "document", "id": "d1", "attr": {"owner": "alice", "status": "draft"}},
            }
        ],
    }
    response = pdp.check_resources(request, now=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    assert response == {
        "requestId": "r-1",
        "results": [
            {
                "resource": {"id": "d1", "kind": "document"},
                "actions": {"edit": "EFFECT_ALLOW", "delete": "EFFECT_DENY"},
                "meta": {
                    "actions": {
                        "edit": {"matchedPolicy": "resource.document.vdefault"},
                        "delete": {"matchedPolicy": "resource.document.vdefault"},
                    },
                    "effectiveDerivedRoles": ["owner"],
                },
                "outputs": [
                    {
                        "src": "resource.document.vdefault#owner-edits-drafts",
                        "val": "edited by alice",
                        "action": "edit",
                    }
                ],
            }
        ],
    }


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        ({"resources": []}, "principal"),
        ({"principal": {"id": "a", "roles": "user"}, "resources": []}, "principal.roles"),
        ({"principal": {"id": "a", "roles": ["u"]}}, "resources"),
        (
            {
                "principal": {"id": "a", "roles": ["u"]},
                "resources": [{"actions": ["x"], "resource": {"id": "1"}}],
            },
            "resources[0].resource.kind",
        ),
        (
            {
                "principal": {"id": "a", "roles": ["u"]},
                "resources": [{"actions": [3], "resource": {"kind": "k", "id": "1"}}],
            },
            "resources[0].actions[0]",
        ),
    ],
)
def test_bad_requests_name_the_field(policy_dir: Path, request_body: dict, field: str):
    pdp = PDP.from_directory(policy_dir)
    with pytest.raises(RequestError) as info:
        pdp.check_resources(request_body)
    assert info.value.field == field


def test_from_directory_reports_file_and_line(tmp_path: Path):
    (tmp_path / "broken.yaml").write_text(BROKEN)
    with pytest.raises(PolicyError) as info:
        PDP.from_directory(tmp_path)
    assert "broken.yaml:" in str(info.value)


def test_reload_swaps_and_a_broken_set_keeps_the_old_one(policy_dir: Path):
    pdp = PDP.from_directory(policy_dir)
    alice = Principal("alice", ["user"])
    doc = Resource("document", "d1", attr={"owner": "bob", "status": "x"})
    assert not pdp.is_allowed(alice, doc, "delete")
    document = yaml.safe_load(DOCUMENT)
    delete = document["resourcePolicy"]["rules"][2]  # admins delete where R.attr.missing.size() > 0
    delete.update(roles=["user"], condition={"match": {"expr": "true"}})
    (policy_dir / "document.yaml").write_text(yaml.safe_dump(document))
    pdp.reload()
    assert pdp.is_allowed(alice, doc, "delete")
    (policy_dir / "broken.yaml").write_text(BROKEN)
    with pytest.raises(PolicyError):
        pdp.reload()
    assert pdp.is_allowed(alice, doc, "delete")  # the previous set still serves
    shutil.rmtree(policy_dir)


def test_results_have_a_readable_repr():
    from pathlib import Path

    from chamberlain import PDP, Principal, Resource

    pdp = PDP.from_directory(Path(__file__).resolve().parents[1] / "examples" / "policies")
    result = pdp.check(
        Principal("bob", ["finance_clerk"]),
        Resource("invoice", "i1", {"amount": 5, "status": "APPROVED", "currency": "EUR"}),
        ["view", "approve"],
    )
    # bob has no attributes: the derived roles' conditions on approve fail to evaluate (counted, not listed)
    assert repr(result) == "CheckResult([CheckOutput('i1': view=ALLOW, approve=DENY, evaluation_errors=1)])"
    assert repr(result[0].actions["view"]) == (
        "ActionEffect('EFFECT_ALLOW', policy='resource.invoice.vdefault', rule='staff-view')"
    )


def test_a_request_naming_actors_is_refused_not_decided_for_the_principal_alone() -> None:
    """``auxData.delegation`` names the agents acting for the principal; the server checks each of them
    (an agent never does more than itself). The embedded PDP dropped the chain and decided for the person
    alone: an agent without any roles was allowed what the person may do."""
    from tests.support.cerbos_server import REPO_ROOT

    pdp = PDP.from_directory(REPO_ROOT / "examples" / "policies")
    request = {
        "principal": {"id": "alice", "roles": ["finance_clerk"]},
        "resources": [
            {"resource": {"kind": "invoice", "id": "inv-1", "attr": {"amount": 10}}, "actions": ["view"]}
        ],
    }
    assert pdp.check_resources(request)["results"][0]["actions"] == {"view": "EFFECT_ALLOW"}
    delegated = {**request, "auxData": {"delegation": {"actors": [{"id": "rogue-agent"}]}}}
    with pytest.raises(RequestError, match=r"auxData\.delegation: this PDP does not check actor chains"):
        pdp.check_resources(delegated)
    plan = {"principal": request["principal"], "resource": {"kind": "invoice"}, "action": "view"}
    assert pdp.plan_resources(plan)["filter"] == {"kind": "KIND_ALWAYS_ALLOWED"}
    with pytest.raises(RequestError, match=r"auxData\.delegation: this PDP does not check actor chains"):
        pdp.plan_resources({**plan, "auxData": delegated["auxData"]})
