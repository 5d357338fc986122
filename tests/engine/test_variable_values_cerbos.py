"""Variables hold what Cerbos holds: each variable's value in its Go native form, adapted back.

Cerbos keeps an evaluated variable as ``ref.Val.Value()``, so what later expressions (conditions,
outputs, other variables, derived roles) read as ``V.x`` is not always the value the expression gave:
a top-level ``hierarchy`` becomes its list of levels (``V.h.size()`` and ``V.h[0]`` work,
``V.h.ancestorOf(...)`` is ``no such overload``, ``"a" in V.h`` holds), a type value becomes its name
and an optional its value or ``null``; a hierarchy inside a list or map stays one. Found by the
real-world HR policy set (tests/engine/realworld/hr), whose derived roles read a hierarchy through an
exported variable. The real Cerbos server answers the same requests as chamberlain, whole responses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from chamberlain import PDP
from tests.support.cerbos_requests import normalise_response
from tests.support.cerbos_server import ServerFactory

pytest_plugins = ["tests.support.fixtures"]

DERIVED_ROLES = """\
apiVersion: api.cerbos.dev/v1
derivedRoles:
  name: units
  variables:
    local:
      unit: hierarchy(P.attr.unit)
  definitions:
    - name: two_levels
      parentRoles: ["user"]
      condition:
        match:
          expr: V.unit.size() == 2
    - name: above
      parentRoles: ["user"]
      condition:
        match:
          expr: V.unit.ancestorOf(hierarchy(R.attr.unit))
    - name: listed
      parentRoles: ["user"]
      condition:
        match:
          expr: V.unit == P.attr.unit.split(".")
"""

#: name -> (variable expression, output reading it)
VARIABLES = {
    "h": ("hierarchy(R.attr.unit)", "V.h"),
    "h_size": ("V.h.size()", "V.h_size"),
    "h_first": ("V.h[0]", "V.h_first"),
    "h_in": ('"acme" in V.h', "V.h_in"),
    "h_method": ('V.h.ancestorOf(hierarchy("acme.eng.platform.x"))', "V.h_method"),
    "h_equal": ("V.h == hierarchy(R.attr.unit)", "V.h_equal"),
    "h_list": ('[hierarchy("a.b")]', 'V.h_list[0].ancestorOf(hierarchy("a.b.c"))'),
    "h_map": ('{"k": hierarchy("a.b")}', 'V.h_map.k.ancestorOf(hierarchy("a.b.c"))'),
    "t": ("type(1)", "V.t"),
    "t_is_name": ('V.t == "int"', "V.t_is_name"),
    "o": ("optional.of(2)", "V.o + 1"),
    "none": ("optional.none()", "V.none"),
    "stamp": ('timestamp("2024-01-01T00:00:00Z")', 'V.stamp + duration("1h")'),
    # A SPIFFE ID or trust domain has no way back from its Go value: reading the variable fails.
    "sid": ('spiffeID("spiffe://acme.io/ns/" + R.attr.unit)', "V.sid.path()"),
    "sid_use": ('V.sid == "spiffe://acme.io/ns/acme"', "V.sid_use"),
    "sid_has": ("has(V.sid) && has(V.td)", "V.sid_has"),
    "td": ('spiffeTrustDomain("acme.io")', "V.td.name()"),
    "osid": ('optional.of(spiffeID("spiffe://acme.io/x"))', "V.osid"),
    "sid_list": ('[spiffeID("spiffe://acme.io/x")]', "V.sid_list[0].path()"),
    # td.id() is the trust domain itself in Cerbos 0.55 (declared a string): it equals the name too.
    "td_id": ('spiffeTrustDomain("acme.io").id()', "V.td_id"),
    "td_id_name": ('spiffeTrustDomain("acme.io").id() == "acme.io"', "V.td_id_name"),
    "td_id_out": ("true", 'spiffeTrustDomain("acme.io").id()'),
    "td_id_size": ("true", 'spiffeTrustDomain("acme.io").id().size()'),
    "td_string": ("true", 'string(dyn(spiffeTrustDomain("acme.io")))'),
    "td_order": ("true", 'dyn(spiffeTrustDomain("a.io")) < "b.io"'),
    "sid_text": ("true", 'dyn(spiffeID("spiffe://acme.io/x")) == "spiffe://acme.io/x"'),
    "sid_int": ("true", 'dyn(spiffeID("spiffe://acme.io/x")) == 1'),
}


def _resource_policy() -> str:
    local = "".join(f"      {name}: '{expr}'\n" for name, (expr, _) in VARIABLES.items())
    rules = "".join(
        f"    - name: {name}\n"
        '      actions: ["read"]\n'
        "      effect: EFFECT_ALLOW\n"
        '      roles: ["*"]\n'
        f"      output:\n        when:\n          ruleActivated: '{output}'\n"
        for name, (_, output) in VARIABLES.items()
    )
    return (
        "apiVersion: api.cerbos.dev/v1\n"
        "resourcePolicy:\n"
        "  resource: unit\n"
        "  version: default\n"
        '  importDerivedRoles: ["units"]\n'
        f"  variables:\n    local:\n{local}"
        "  rules:\n"
        f"{rules}"
        "    - name: by-derived-role\n"
        '      actions: ["manage"]\n'
        "      effect: EFFECT_ALLOW\n"
        '      derivedRoles: ["two_levels", "above", "listed"]\n'
        "    - name: by-hierarchy-method\n"
        '      actions: ["audit"]\n'
        "      effect: EFFECT_ALLOW\n"
        '      roles: ["*"]\n'
        "      condition:\n"
        "        match:\n"
        '          expr: V.h.descendentOf(hierarchy("acme"))\n'
    )


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("variable_values")
    (root / "units.yaml").write_text(DERIVED_ROLES)
    (root / "unit.yaml").write_text(_resource_policy())
    return root


def _request(principal_unit: str, resource_unit: str) -> dict[str, Any]:
    return {
        "requestId": "variables",
        "includeMeta": True,
        "principal": {"id": "p", "roles": ["user"], "attr": {"unit": principal_unit}},
        "resources": [
            {
                "actions": ["read", "manage", "audit", "attest"],
                "resource": {"kind": "unit", "id": "1", "attr": {"unit": resource_unit}},
            }
        ],
    }


@pytest.mark.parametrize(
    ("principal_unit", "resource_unit"),
    [("acme.eng", "acme.eng.platform"), ("acme", "acme"), ("globex.hr", "acme.eng")],
)
def test_variables_read_as_cerbos_reads_them(
    policies: Path, cerbos_servers: ServerFactory, principal_unit: str, resource_unit: str
) -> None:
    request = _request(principal_unit, resource_unit)
    theirs = httpx.post(
        cerbos_servers(policies).url + "/api/check/resources", json=request, timeout=30
    ).json()
    ours = PDP.from_directory(policies).check_resources(json.loads(json.dumps(request)))
    assert normalise_response(ours) == normalise_response(theirs)


def test_a_hierarchy_variable_is_a_list_of_levels(policies: Path) -> None:
    """The behaviour the differential test pins, spelled out: a hierarchy read through ``V`` is a
    list (size, index and ``in`` work on it, its methods do not; no derived role needing them holds)."""
    result = PDP.from_directory(policies).check_resources(_request("acme.eng", "acme.eng.platform"))
    (entry,) = result["results"]
    outputs = {o["src"].split("#")[1]: o.get("val", o.get("error")) for o in entry["outputs"]}
    assert outputs["h"] == ["acme", "eng", "platform"]
    assert outputs["h_size"] == 3
    assert outputs["h_in"] is True
    assert outputs["h_method"] == "undefined field 'h_method'"  # no such overload: left unset
    assert outputs["h_list"] is True  # a hierarchy inside a list stays one
    assert outputs["t"] == "int"
    assert entry["actions"]["audit"] == "EFFECT_DENY"


def test_a_spiffe_variable_cannot_be_read(policies: Path) -> None:
    """Cerbos cannot adapt a SPIFFE ID or trust domain back from its Go value: every read of such a
    variable is an error (a condition on it is false), though ``has()`` sees it; inside a list it
    stays readable. ``td.id()`` is the trust domain itself, equal to its name as to its ID."""
    result = PDP.from_directory(policies).check_resources(_request("acme.eng", "acme.eng.platform"))
    (entry,) = result["results"]
    outputs = {o["src"].split("#")[1]: o.get("val", o.get("error")) for o in entry["outputs"]}
    assert (
        outputs["sid"]
        == "unsupported conversion to ref.Val: (spiffeid.ID)spiffe://acme.io/ns/acme.eng.platform"
    )
    assert outputs["td"] == "unsupported conversion to ref.Val: (spiffeid.TrustDomain)acme.io"
    assert outputs["sid_use"] == "undefined field 'sid_use'"
    assert outputs["sid_has"] is True
    assert outputs["sid_list"] == "/x"
    assert outputs["td_id_name"] is True
    assert outputs["td_id_out"] == "unsupported native conversion from SPIFFETrustDomain to '*structpb.Value'"
    assert outputs["sid_text"] is True
    assert entry["actions"]["attest"] == "EFFECT_DENY"
    assert sorted(entry["meta"]["effectiveDerivedRoles"]) == ["listed", "two_levels"]
