"""Loading policy directories and documents: the model, the index, and every kind of bad input."""

from pathlib import Path

import pytest

from chamberlain import Error
from chamberlain.policy import MAX_FILE_BYTES, PolicyError, load_directory, load_documents, scope_chain

STORE = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "cerbos" / "store"

RESOURCE = """\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: invoice
  version: default
  importDerivedRoles: [owners]
  rules:
    - actions: ["view", "pay"]
      effect: EFFECT_ALLOW
      derivedRoles: [owner]
      name: owner-can-pay
      condition:
        match:
          all:
            of:
              - expr: request.resource.attr.amount < 100
              - expr: V.small
      output:
        when:
          ruleActivated: '"paid"'
  variables:
    local:
      small: request.resource.attr.amount < 10
"""
DERIVED = """\
apiVersion: api.cerbos.dev/v1
derivedRoles:
  name: owners
  definitions:
    - name: owner
      parentRoles: [user]
      condition:
        match:
          expr: request.resource.attr.owner == request.principal.id
"""


def errors_of(files, **kwargs):
    with pytest.raises(PolicyError) as info:
        load_documents(files, **kwargs)
    return info.value.errors


def test_cerbos_test_store_loads_without_errors():
    policies = load_directory(STORE)
    assert len(policies) == 59
    assert policies.disabled == ["resource_policies/disabled_policy_01.yaml"]
    files = {p.file for p in policies}
    assert not any(
        "testdata" in f or f.endswith("_test.yaml") or "/." in f or f.startswith(".") for f in files
    )
    assert "principal.json" in policies.schemas.documents


def test_typed_model_keeps_positions():
    policies = load_documents({"invoice.yaml": RESOURCE, "owners.yaml": DERIVED})
    policy = policies.get("resource", "invoice")
    assert policy is not None and policy.key == "resource.invoice.vdefault"
    rule = policy.resource_policy.rules[0]
    assert rule.actions == ("view", "pay") and rule.effect == "EFFECT_ALLOW"
    assert rule.condition.match.op == "all"
    assert [m.expr for m in rule.condition.match.of] == ["request.resource.attr.amount < 100", "V.small"]
    assert rule.output.rule_activated == '"paid"'
    assert (rule.pos.line, rule.pos.column, rule.pos.path) == (7, 14, "$.resourcePolicy.rules[0]")
    expr = rule.condition.match.of[1]
    assert (expr.pos.line, expr.pos.path) == (16, "$.resourcePolicy.rules[0].condition.match.all.of[1].expr")
    assert policies.derived_roles["owners"].derived_roles.definitions[0].parent_roles == ("user",)


def test_scope_chain_and_index():
    assert scope_chain("a.b.c") == ["a.b.c", "a.b", "a", ""]
    assert scope_chain("") == [""]
    policies = load_directory(STORE)
    chain = policies.chain("resource", "leave_request", "default", "acme.hr.uk.brighton.kemptown")
    assert [p.scope for p in chain] == [
        "acme.hr.uk.brighton.kemptown",
        "acme.hr.uk.brighton",
        "acme.hr.uk",
        "acme.hr",
        "acme",
        "",
    ]


def test_every_error_of_a_directory_together():
    broken = {
        "a.yaml": "apiVersion: api.cerbos.dev/v1\nresourcePolicy:\n  resource: x\n  version: default\n  rulez: []\n",
        "b.yaml": "apiVersion: api.cerbos.dev/v1\nresourcePolicy: [1, 2\n",
        "c.yaml": "- just\n- a list\n",
        "d.yaml": "apiVersion: api.cerbos.dev/v1\nprincipalPolicy:\n  principal: bob\n  version: default\n  rules:\n    - resource: doc\n      actions:\n        - action: view\n          effect: ALLOW\n",
    }
    errors = errors_of(broken)
    by_file = {e.file: e for e in errors}
    assert set(by_file) == {"a.yaml", "b.yaml", "c.yaml", "d.yaml"}
    a = by_file["a.yaml"]
    assert (a.line, a.column, a.path) == (5, 3, "$.resourcePolicy.rulez")
    assert 'unknown field "rulez"' in a.message and '"rules"' in a.message
    assert (
        by_file["b.yaml"].kind == "parse error" and by_file["b.yaml"].line == 2
    )  # where the "[" opened, not the end of the file
    assert "not valid YAML or JSON" in by_file["c.yaml"].message
    d = by_file["d.yaml"]
    assert "invalid enum value" in d.message and d.path == "$.principalPolicy.rules[0].actions[0].effect"
    assert issubclass(PolicyError, Error)


def test_validation_rules_of_policy_proto():
    text = "apiVersion: api.cerbos.dev/v1\nresourcePolicy:\n  resource: 'x*'\n  version: \"1.0\"\n  rules:\n    - actions: []\n      effect: EFFECT_ALLOW\n      roles: [a]\n"
    messages = [e.message for e in errors_of({"p.yaml": text})]
    assert any(m.startswith("resourcePolicy.resource: does not match regex pattern") for m in messages)
    assert any(m.startswith("resourcePolicy.version: does not match") for m in messages)
    assert any(m.startswith("resourcePolicy.rules[0].actions: value is required") for m in messages)


def test_duplicates():
    two_rules = RESOURCE.replace(
        "  variables:",
        "    - actions: [x]\n      effect: EFFECT_DENY\n      roles: [a]\n      name: owner-can-pay\n  variables:",
    )
    errors = errors_of({"invoice.yaml": two_rules, "owners.yaml": DERIVED, "again.yaml": DERIVED})
    messages = " | ".join(e.message for e in errors)
    assert 'duplicate rule name "owner-can-pay"' in messages
    assert "'derived_roles.owners' is already defined in" in messages


def test_undefined_references_and_cycles():
    text = RESOURCE.replace(
        "small: request.resource.attr.amount < 10", "small: V.big\n      big: V.small && C.nope"
    )
    text = text.replace("importDerivedRoles: [owners]", "importDerivedRoles: [nobody]")
    kinds = {e.kind for e in errors_of({"invoice.yaml": text})}
    assert {
        "import not found",
        "unknown derived role",
        "cyclical variable definitions",
        "undefined constant",
    } <= kinds


def test_huge_files_and_non_utf8_are_reported_not_raised():
    huge = b"#" * (MAX_FILE_BYTES + 1)
    errors = errors_of({"big.yaml": huge, "bin.yaml": b"\xff\xfe\x00bad"})
    assert {e.file for e in errors} == {"big.yaml", "bin.yaml"}
    assert "MiB limit" in next(e.message for e in errors if e.file == "big.yaml")


def test_one_document_per_file_and_json():
    """Cerbos 0.55 refuses a file of two documents (a `null` one counts); comment-only ones are skipped."""
    for second in (DERIVED, "~\n", "{}\n"):
        errors = errors_of({"both.yaml": RESOURCE + "---\n" + second})
        assert [(e.file, e.kind, e.line) for e in errors] == [("both.yaml", "parse error", 0)]
        assert errors[0].message.startswith("more than one YAML document detected")
    policies = load_documents({"one.yaml": "# header\n---\n" + DERIVED + "---\n# footer\n"})
    assert {p.kind for p in policies} == {"derived_roles"}
    json_policy = '{"apiVersion": "api.cerbos.dev/v1", "derivedRoles": {"name": "owners", "definitions": [{"name": "owner", "parentRoles": ["user"]}]}}'
    assert len(load_documents({"owners.json": json_policy})) == 1


def test_disabled_policies_are_skipped():
    policies = load_documents(
        {
            "d.yaml": "apiVersion: api.cerbos.dev/v1\ndisabled: true\nresourcePolicy:\n  resource: x\n  version: default\n"
        }
    )
    assert len(policies) == 0 and policies.disabled == ["d.yaml"]


def test_schemas_and_attribute_validation():
    policies = load_directory(STORE)
    ref = "cerbos:///principal.json"
    good = {"department": "marketing", "geography": "GB", "team": "design"}
    assert policies.validate_attributes(ref, good) == []
    problems = policies.validate_attributes(ref, {**good, "department": "sales"})
    assert problems and problems[0].startswith("/department:")
    bad_ref = RESOURCE.replace(
        "  variables:", "  schemas:\n    principalSchema:\n      ref: cerbos:///missing.json\n  variables:"
    )
    errors = errors_of({"invoice.yaml": bad_ref, "owners.yaml": DERIVED}, schemas={})
    assert errors[0].kind == "invalid schema" and "doesn't exist" in errors[0].message


def test_directory_walk_rules(tmp_path):
    (tmp_path / "_schemas").mkdir()
    (tmp_path / "_schemas" / "s.json").write_text('{"type": "object"}')
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.yaml").write_text("not: a policy")
    (tmp_path / "testdata").mkdir()
    (tmp_path / "testdata" / "x.yaml").write_text("not: a policy")
    (tmp_path / "owners_test.yaml").write_text("name: a test suite")
    (tmp_path / "readme.txt").write_text("ignored")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "owners.yml").write_text(DERIVED)
    policies = load_directory(tmp_path)
    assert [p.file for p in policies] == ["sub/owners.yml"]
    assert "s.json" in policies.schemas.documents
