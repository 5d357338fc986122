"""Policies sharing a scope, one stating ``REQUIRE_PARENTAL_CONSENT_FOR_ALLOWS``, the others none.

Cerbos 0.55 keeps one scope permission per scope name, for resource and principal policies of every
kind, and lets Go map order decide whose is stored: with a principal policy in the scope, or a
resource policy of another kind that states no permission, the request below is allowed by some
server starts and denied by others (docs/correctness.md, known differences). chamberlain applies the
permission a policy states, whatever the load order: the scope's ALLOW needs its parent's, which
does not come.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chamberlain import PDP

ROOT = """\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: record
  version: default
  rules:
    - actions: ["view"]
      effect: EFFECT_ALLOW
      roles: ["boss"]
"""
SCOPED = """\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: record
  version: default
  scope: acme
  scopePermissions: SCOPE_PERMISSIONS_REQUIRE_PARENTAL_CONSENT_FOR_ALLOWS
  rules:
    - actions: ["view"]
      effect: EFFECT_ALLOW
      roles: ["*"]
"""
OTHER_KIND = """\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: {kind}
  version: default
  scope: {scope}
  rules:
    - actions: ["view"]
      effect: EFFECT_ALLOW
      roles: ["*"]
"""
PRINCIPAL = """\
apiVersion: api.cerbos.dev/v1
principalPolicy:
  principal: zed
  version: default
  scope: {scope}
  rules:
    - resource: other
      actions:
        - action: x
          effect: EFFECT_DENY
"""


#: the other policies of the scope, named to load before and after the one stating the permission
NEIGHBOURS = {
    "alone": {},
    "principal policy": {
        "zed.yaml": PRINCIPAL.format(scope='""'),
        "zed_acme.yaml": PRINCIPAL.format(scope="acme"),
    },
    "other kind, loaded first": {
        "a.yaml": OTHER_KIND.format(kind="aardvark", scope='""'),
        "a_acme.yaml": OTHER_KIND.format(kind="aardvark", scope="acme"),
    },
    "other kind, loaded last": {
        "z.yaml": OTHER_KIND.format(kind="zebra", scope='""'),
        "z_acme.yaml": OTHER_KIND.format(kind="zebra", scope="acme"),
    },
}


@pytest.mark.parametrize("neighbours", sorted(NEIGHBOURS))
def test_the_stated_permission_applies(tmp_path: Path, neighbours: str) -> None:
    (tmp_path / "record.yaml").write_text(ROOT)
    (tmp_path / "record_acme.yaml").write_text(SCOPED)
    for name, text in NEIGHBOURS[neighbours].items():
        (tmp_path / name).write_text(text)
    response = PDP.from_directory(tmp_path).check_resources(
        {
            "requestId": "1",
            "includeMeta": True,
            "principal": {"id": "hana", "roles": ["employee"]},
            "resources": [{"actions": ["view"], "resource": {"kind": "record", "id": "1", "scope": "acme"}}],
        }
    )
    (result,) = response["results"]
    assert result["actions"] == {"view": "EFFECT_DENY"}
    assert result["meta"]["actions"]["view"] == {"matchedPolicy": "resource.record.vdefault/acme"}
