"""The people and agents of the development identity provider (``identities.yaml``).

```yaml
people:
  alice: {roles: [finance_clerk], attr: {name: Alice, email: alice@example.com}}
agents:
  invoice-assistant: {roles: [invoice_assistant]}
```

A person's roles become the ``roles`` claim of their tokens and each attribute a claim of its name.
The ``agents`` part is chamberlain's agents registry format
(:mod:`chamberlain.delegation.registry`), read by the registry's own loader, so
``chamberlain.delegation.agentsFile`` can name this file as it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from chamberlain.delegation.registry import Agent, AgentRegistry, load_registry
from chamberlain.devidp.errors import DevIdpError
from chamberlain.devidp.yamlfile import read_yaml

FILE_NAME = "identities.yaml"
MAX_ID_CHARS = 255
#: Claims the dev IdP sets itself: an attribute may not take their names.
RESERVED_CLAIMS = frozenset(
    {
        "iss",
        "sub",
        "aud",
        "exp",
        "nbf",
        "iat",
        "jti",
        "client_id",
        "scope",
        "roles",
        "act",
        "may_act",
        "sid",
        "azp",
        "nonce",
        "auth_time",
        "at_hash",
        "c_hash",
        "cnf",
        "typ",
        "chamberlain_dev_idp",
    }
)
_PERSON_KEYS = frozenset({"roles", "attr"})

DEFAULT_TEXT = """\
# People and agents of the development identity provider (`chamberlain dev idp`). NOT FOR PRODUCTION.
#
# People log in at the dev IdP's login page (`chamberlain dev idp serve`) or get a token with
# `chamberlain dev idp token NAME`: their roles become the `roles` claim, each attribute a claim of
# its name. Agents get actor tokens with `chamberlain dev idp token NAME --agent`. The `agents` part is
# chamberlain's agents registry format: chamberlain.delegation.agentsFile names this file as it is.
# The names match the roles of examples/policies.
people:
  alice: {roles: [finance_clerk], attr: {name: Alice, email: alice@example.com, department: finance}}
  bob: {roles: [finance_manager], attr: {name: Bob, email: bob@example.com, department: finance}}
  carol: {roles: [finance_manager], attr: {name: Carol, email: carol@example.com, department: finance}}
  dave: {roles: [auditor], attr: {name: Dave, email: dave@example.com, department: audit}}
  erin: {roles: [developer], attr: {name: Erin, email: erin@example.com, department: engineering}}
agents:
  invoice-assistant: {roles: [invoice_assistant]}
  planner-agent: {roles: [planner_agent], attr: {team: finance}}
  tool-agent: {roles: [tool_agent]}
"""


@dataclass(frozen=True, slots=True)
class Person:
    """A person who can log in: roles and attributes (claims)."""

    id: str
    roles: tuple[str, ...]
    attr: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class Identities:
    """The people (in file order) and the agents registry of ``identities.yaml``."""

    people: Mapping[str, Person]
    agents: AgentRegistry
    agent_ids: frozenset[str]

    def agent(self, agent_id: str) -> Agent | None:
        return self.agents.lookup(agent_id, None)


def check_id(value: Any, where: str) -> str:
    """A person's or agent's id: a non-empty printable string of at most 255 characters."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS or not value.isprintable():
        raise DevIdpError(
            f"{where}: an id is a printable string of 1 to {MAX_ID_CHARS} characters, got {value!r}"
        )
    return value


def check_attributes(attr: Any, where: str) -> dict[str, Any]:
    """Attributes become claims: names not taken by the dev IdP's own claims, values JSON."""
    if not isinstance(attr, Mapping):
        raise DevIdpError(f"{where}: expected a mapping of attribute names to values")
    for name, value in attr.items():
        if not isinstance(name, str) or not name:
            raise DevIdpError(f"{where}: attribute names are non-empty strings, got {name!r}")
        if name in RESERVED_CLAIMS:
            raise DevIdpError(
                f"{where}.{name}: {name} is a claim the dev IdP sets itself; name the attribute otherwise"
            )
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise DevIdpError(
                f"{where}.{name}: the value must be JSON (text, number, bool, list, map)"
            ) from None
    return dict(attr)


def check_roles(roles: Any, where: str) -> tuple[str, ...]:
    if not isinstance(roles, list) or not all(isinstance(r, str) and r for r in roles):
        raise DevIdpError(f"{where}: expected a list of role names")
    return tuple(roles)


def _person(person_id: Any, entry: Any, where: str) -> Person:
    check_id(person_id, where)
    if not isinstance(entry, Mapping):
        raise DevIdpError(f"{where}: expected a mapping with roles (and attr)")
    unknown = sorted(str(k) for k in set(entry) - _PERSON_KEYS)
    if unknown:
        raise DevIdpError(f"{where}: unknown keys {', '.join(unknown)} (allowed: roles, attr)")
    roles = check_roles(entry.get("roles", []), f"{where}.roles")
    attr = check_attributes(entry.get("attr") or {}, f"{where}.attr")
    return Person(person_id, roles, MappingProxyType(attr))


def load_identities(path: Path) -> Identities:
    """Read ``identities.yaml``; raises :class:`DevIdpError` listing every problem."""
    data = read_yaml(path)
    if not isinstance(data, Mapping) or not isinstance(data.get("people", {}), Mapping):
        raise DevIdpError(f"{path}: expected a mapping with `people:` and `agents:`")
    unknown = sorted(str(k) for k in set(data) - {"people", "agents"})
    problems = [f"{path}: unknown keys {', '.join(unknown)} (allowed: people, agents)"] if unknown else []
    people: dict[str, Person] = {}
    for person_id, entry in (data.get("people") or {}).items():
        try:
            people[person_id] = _person(person_id, entry, f"{path}: people.{person_id}")
        except DevIdpError as exc:
            problems.append(str(exc))
    agents = load_registry(path, "agents", problems) if data.get("agents") else AgentRegistry()
    listed = data.get("agents")
    agent_ids = frozenset(str(a) for a in listed) if isinstance(listed, Mapping) else frozenset()
    for agent_id in sorted(agent_ids):
        try:
            check_id(agent_id, f"{path}: agents.{agent_id}")
        except DevIdpError as exc:
            problems.append(str(exc))
    problems += [
        f"{path}: {name} is listed both as a person and as an agent"
        for name in sorted(agent_ids & set(people))
    ]
    if problems:
        raise DevIdpError("invalid identities file:\n" + "\n".join(f"  - {p}" for p in problems))
    return Identities(MappingProxyType(people), agents, agent_ids)
