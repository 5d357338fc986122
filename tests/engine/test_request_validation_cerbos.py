"""Every entry point refuses what the real Cerbos server refuses, with its message.

The same bad CheckResources requests go to Cerbos 0.55 (HTTP), to chamberlain's server, to
``PDP.check_resources`` and to ``chamberlain check``; the equivalent ``Principal``/``Resource``
constructions and ``PDP.check`` calls are refused with the same words. Rule violations
(``validation error: principal.roles: repeated value ...``, the request limits) are Cerbos's
messages exactly. Structural problems are protojson's words (``unknown field "attrs"``,
``invalid value for string field roles: null``) with the field's path where Cerbos gives a
position in the JSON text, which a dict handed to the embedded API does not have
(docs/reference/python-api.md).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from chamberlain import PDP, AuxData, InvalidRequest, Principal, RequestLimits, Resource
from chamberlain.cli import app
from chamberlain.engine.request_validation import RequestError
from tests.server.support import STORE, ThreadServer
from tests.support.cerbos_server import ServerFactory

pytest_plugins = ["tests.support.fixtures"]

P = {"id": "john", "roles": ["employee"]}
R = {"kind": "leave_request", "id": "X"}


def _request(**fields: Any) -> dict[str, Any]:
    return {"principal": P, "resources": [{"actions": ["view"], "resource": R}], **fields}


def _entry(actions: list[str] | None = None, **resource: Any) -> dict[str, Any]:
    return {
        "resources": [{"actions": ["view"] if actions is None else actions, "resource": {**R, **resource}}]
    }


CASES: dict[str, dict[str, Any]] = {
    "duplicate_roles": _request(principal={"id": "a", "roles": ["x", "x"]}),
    "duplicate_actions": _request(**_entry(["a", "a"])),
    "jwt_and_jwts": _request(auxData={"jwt": {"token": "t"}, "jwts": {"k": {"token": "u"}}}),
    "scope_with_two_dots": _request(principal={**P, "scope": "a..b"}),
    "scope_with_leading_dot": _request(**_entry(scope=".a")),
    "policy_version_with_space": _request(principal={**P, "policyVersion": "a b"}),
    "empty_resource_id": _request(**_entry(id="")),
    "empty_attribute_key": _request(principal={**P, "attr": {"": 1}}),
    "empty_resource_attribute_key": _request(**_entry(attr={"": 1})),
    "misspelled_attrs": _request(principal={**P, "attrs": {"department": "x"}}),
    "misspelled_resource_attrs": _request(**_entry(attrs={})),
    "unknown_top_field": _request(principals=[P]),
    "unknown_aux_data_field": _request(auxData={"foo": 1}),
    "claims_for_a_jwt": _request(auxData={"jwt": {"sub": "x"}}),
    "roles_as_a_string": _request(principal={**P, "roles": "finance_clerk"}),
    "null_role": _request(principal={**P, "roles": [None]}),
    "empty_role": _request(principal={**P, "roles": [""]}),
    "no_actions": _request(**_entry([])),
    "empty_action": _request(**_entry([""])),
    "too_many_resources": _request(
        resources=[{"actions": ["a"], "resource": {**R, "id": str(i)}} for i in range(51)]
    ),
    "too_many_actions": _request(**_entry([f"a{i}" for i in range(51)])),
    "several_violations": _request(principal={"id": "", "roles": []}),
    "attr_as_a_list": _request(principal={**P, "attr": [1]}),
    "number_as_id": _request(principal={**P, "id": 5}),
}

_POSITION = re.compile(r"^proto:\s\((line \d+:\d+)\): |^proto:\ssyntax error \(line \d+:\d+\): ")


@pytest.fixture(scope="module")
def cerbos_messages(cerbos_servers: ServerFactory) -> dict[str, str]:
    server = cerbos_servers(STORE)
    messages = {}
    for name, body in CASES.items():
        reply = httpx.post(server.url + "/api/check/resources", json=body, timeout=30)
        assert reply.status_code == 400, (name, reply.text)
        messages[name] = reply.json()["message"]
    return messages


@pytest.fixture(scope="module")
def our_server():
    with ThreadServer(STORE, {"chamberlain": {"logLevel": "error"}}) as server:
        yield server.url


@pytest.fixture(scope="module")
def pdp() -> PDP:
    return PDP.from_directory(STORE)


def _says_what_cerbos_says(cerbos: str, ours: str) -> bool:
    """Rule violations word for word; a protojson error's words, its JSON position aside."""
    match = _POSITION.match(cerbos)
    if match is None:
        return ours == cerbos
    words = cerbos[match.end() :]
    if words.startswith("unexpected token"):  # a JSON syntax error in Go's decoder: ours names the field
        return ours.startswith("invalid value for ")
    if words.startswith("invalid value for string field "):
        field, value = words.removeprefix("invalid value for string field ").split(": ")
        return bool(re.fullmatch(rf"invalid value for string field \S*\b{field}(\[\d+\])?: {value}", ours))
    return ours.startswith(words)


def _pdp_message(pdp: PDP, body: dict[str, Any]) -> str:
    with pytest.raises(InvalidRequest) as raised:
        pdp.check_resources(json.loads(json.dumps(body)))
    return str(raised.value)


@pytest.mark.parametrize("name", CASES)
def test_every_entry_point_refuses_with_cerbos_message(
    name: str, cerbos_messages: dict[str, str], our_server: str, pdp: PDP, tmp_path: Path
) -> None:
    cerbos = cerbos_messages[name]
    embedded = _pdp_message(pdp, CASES[name])
    assert _says_what_cerbos_says(cerbos, embedded), (cerbos, embedded)
    served = httpx.post(our_server + "/api/check/resources", json=CASES[name], timeout=30)
    assert served.status_code == 400 and served.json()["message"] == embedded
    request = tmp_path / "request.json"
    request.write_text(json.dumps(CASES[name]))
    done = CliRunner().invoke(app, ["check", "--policies", str(STORE), "--request", str(request)])
    assert done.exit_code == 2 and done.output == f"error: {embedded}\n"


def test_a_misspelled_field_is_an_error_naming_it(pdp: PDP) -> None:
    """Before, ``attrs`` was dropped silently and the action denied for want of attributes."""
    message = _pdp_message(pdp, CASES["misspelled_attrs"])
    assert message == 'unknown field "attrs" in principal'


# -- the constructors and PDP.check: the same words, the path of what is built -----------------------

CONSTRUCTED = {
    "duplicate_roles": lambda: Principal("a", ["x", "x"]),
    "scope_with_two_dots": lambda: Principal("john", ["employee"], scope="a..b"),
    "scope_with_leading_dot": lambda: Resource("leave_request", "X", scope=".a"),
    "policy_version_with_space": lambda: Principal("john", ["employee"], policy_version="a b"),
    "empty_resource_id": lambda: Resource("leave_request", ""),
    "empty_attribute_key": lambda: Principal("john", ["employee"], attr={"": 1}),
    "empty_resource_attribute_key": lambda: Resource("leave_request", "X", attr={"": 1}),
    "null_role": lambda: Principal("john", [None]),  # type: ignore[list-item]
    "empty_role": lambda: Principal("john", [""]),
    "several_violations": lambda: Principal("", []),
    "number_as_id": lambda: Principal(5, ["employee"]),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("name", CONSTRUCTED)
def test_constructors_refuse_what_the_server_refuses(name: str, cerbos_messages: dict[str, str]) -> None:
    with pytest.raises(InvalidRequest) as raised:
        CONSTRUCTED[name]()
    cerbos = cerbos_messages[name].replace("resources[0].resource", "resource")
    assert _says_what_cerbos_says(cerbos, str(raised.value)), (cerbos, str(raised.value))


def test_a_string_of_roles_is_not_a_set_of_letters() -> None:
    with pytest.raises(
        InvalidRequest, match=r'^invalid value for list field principal\.roles: "finance_clerk"$'
    ):
        Principal("alice", roles="finance_clerk")
    assert Principal("alice", roles=iter(["a", "b"])).roles == ("a", "b")  # any other iterable is fine
    assert Principal("alice", roles={"b", "a"}).roles == ("a", "b")


def test_check_refuses_dicts_strings_duplicates_and_limits(pdp: PDP, cerbos_messages: dict[str, str]) -> None:
    alice, doc = Principal("john", ["employee"]), Resource("leave_request", "X")
    with pytest.raises(InvalidRequest, match=r"^principal: expected a Principal, got dict"):
        pdp.check({"id": "john", "roles": ["employee"]}, doc, ["view"])  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match=r"^resources\[1\]: expected a Resource, got dict"):
        pdp.check(alice, [doc, {"kind": "leave_request", "id": "Y"}], ["view"])  # type: ignore[list-item]
    with pytest.raises(InvalidRequest, match=r"^aux_data: expected an AuxData, got dict"):
        pdp.check(alice, doc, ["view"], aux_data={"jwt": {}})  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match=r"^principal: expected a Principal"):
        pdp.is_allowed({"id": "john"}, doc, "view")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match=r"^invalid value for list field actions: \"view\"$"):
        pdp.check(alice, doc, "view")
    for name, actions in (("duplicate_actions", ["a", "a"]), ("no_actions", []), ("empty_action", [""])):
        with pytest.raises(InvalidRequest) as raised:
            pdp.check(alice, doc, actions)
        assert str(raised.value) == cerbos_messages[name].replace("resources[0].actions", "actions")
    with pytest.raises(InvalidRequest) as raised:
        pdp.check(alice, [Resource("leave_request", str(i)) for i in range(51)], ["view"])
    assert str(raised.value) == cerbos_messages["too_many_resources"]
    with pytest.raises(InvalidRequest) as raised:
        pdp.check(alice, doc, [f"a{i}" for i in range(51)])
    assert str(raised.value) == cerbos_messages["too_many_actions"]
    assert pdp.check(alice, doc, ["view"], aux_data=AuxData()).outputs[0].actions["view"].effect


def test_limits_are_the_pdp_s_own(tmp_path: Path) -> None:
    """``limits`` (the server's ``server.requestLimits``) bound every check of the embedded PDP."""
    pdp = PDP.from_directory(
        STORE, limits=RequestLimits(max_resources_per_request=2, max_actions_per_resource=1)
    )
    with pytest.raises(InvalidRequest, match=r"^number of actions \(2\) exceeds configured limit \(1\)$"):
        pdp.check(Principal("john", ["employee"]), Resource("leave_request", "X"), ["a", "b"])
    with pytest.raises(
        InvalidRequest, match=r"^number of resources in batch \(3\) exceeds configured limit \(2\)$"
    ):
        pdp.check_resources(
            {
                "principal": P,
                "resources": [{"actions": ["a"], "resource": {**R, "id": str(i)}} for i in range(3)],
            }
        )


def test_chamberlain_extensions_of_aux_data_are_accepted(pdp: PDP) -> None:
    """``auxData.delegation`` and ``auxData.session`` are chamberlain's (the server accepts them too); a plain
    PDP validates a chain of actors, then refuses to decide it for the principal alone."""
    response = pdp.check_resources(_request(auxData={"session": {"id": "ses_01J00000000000000000000000"}}))
    assert response["results"][0]["actions"]["view"]
    with pytest.raises(RequestError, match="does not check actor chains"):
        pdp.check_resources(_request(auxData={"delegation": {"actors": [{"id": "a"}]}}))
