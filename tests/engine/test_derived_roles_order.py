"""``effectiveDerivedRoles``: the set Cerbos gives, always in one order (sorted by name), whatever the
order of the definitions, of the imports and of the scopes that activated them."""

from __future__ import annotations

import json

import httpx

from chamberlain import PDP
from tests.support.cerbos_server import ServerFactory

pytest_plugins = ["tests.support.fixtures"]

ROLES = """apiVersion: api.cerbos.dev/v1
derivedRoles:
  name: {name}
  definitions:
{definitions}"""
POLICY = """apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: doc
  version: default
  importDerivedRoles: [zz_roles, aa_roles]
  rules:
    - actions: [view]
      effect: EFFECT_ALLOW
      derivedRoles: [{roles}]
"""
NAMES = {"zz_roles": ["zulu", "mike", "alpha"], "aa_roles": ["yankee", "bravo", "kilo"]}


def test_effective_derived_roles_are_cerbos_s_set_in_sorted_order(
    tmp_path, cerbos_servers: ServerFactory
) -> None:
    for file, names in NAMES.items():
        definitions = "".join(f"    - name: {n}\n      parentRoles: [user]\n" for n in names)
        (tmp_path / f"{file}.yaml").write_text(ROLES.format(name=file, definitions=definitions))
    (tmp_path / "doc.yaml").write_text(POLICY.format(roles=", ".join(n for ns in NAMES.values() for n in ns)))
    request = {
        "includeMeta": True,
        "principal": {"id": "u", "roles": ["user"]},
        "resources": [{"actions": ["view"], "resource": {"kind": "doc", "id": "1"}}],
    }
    cerbos = httpx.post(
        cerbos_servers(tmp_path).url + "/api/check/resources", json=request, timeout=30
    ).json()
    theirs = cerbos["results"][0]["meta"]["effectiveDerivedRoles"]
    pdp = PDP.from_directory(tmp_path)
    answers = [
        pdp.check_resources(json.loads(json.dumps(request)))["results"][0]["meta"]["effectiveDerivedRoles"]
        for _ in range(3)
    ]
    assert set(answers[0]) == set(theirs) == {n for ns in NAMES.values() for n in ns}
    assert answers == [sorted(theirs)] * 3
