"""The agents registry (``agentsFile``): each agent's roles and attributes, kept by the operator.

```yaml
agents:
  planner-agent:
    issuer: https://idp.example      # optional: the entry applies only to tokens of this issuer
    roles: [planner_agent]
    attr: {team: finance}
```

An actor listed here is checked with these roles and attributes, whatever its ``act`` entry carries
(the registry is the operator's current word); an actor not listed uses its ``act`` entry. Agents are
(issuer, id) pairs: with several trusted issuers every entry must name its ``issuer``, or one
issuer's agent would get the roles meant for another's agent of the same name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from chamberlain import safeyaml
from chamberlain.files import MAX_CONFIG_BYTES, FileRefused, read_text_bounded

_NO_ATTR: Mapping[str, Any] = MappingProxyType({})
_ENTRY_KEYS = frozenset({"issuer", "roles", "attr"})


@dataclass(frozen=True, slots=True)
class Agent:
    """One registry entry."""

    id: str
    roles: tuple[str, ...]
    attr: Mapping[str, Any] = field(default_factory=lambda: _NO_ATTR)
    issuer: str = ""


class AgentRegistry:
    """Agents by id; :meth:`lookup` honours an entry's ``issuer``."""

    __slots__ = ("_agents",)

    def __init__(self, agents: Mapping[str, Agent] | None = None):
        self._agents = dict(agents or {})

    def lookup(self, agent_id: str, issuer: str | None) -> Agent | None:
        """The entry for ``agent_id``, unless it is bound to another issuer than ``issuer``.

        ``issuer`` None (actors a caller names, with no token to take an issuer from) matches any.
        """
        agent = self._agents.get(agent_id)
        if agent is None or (agent.issuer and issuer is not None and agent.issuer != issuer):
            return None
        return agent

    def __len__(self) -> int:
        return len(self._agents)

    def agents(self) -> list[Agent]:
        """Every entry, sorted by id."""
        return [self._agents[k] for k in sorted(self._agents)]

    def unbound(self) -> list[str]:
        """Ids of the entries that name no issuer (they apply to an agent of that id from any issuer)."""
        return sorted(a.id for a in self._agents.values() if not a.issuer)


def load_registry(path: Path, where: str, problems: list[str]) -> AgentRegistry:
    """Read an agents file (YAML or JSON); each problem is appended to ``problems``."""
    try:
        data = safeyaml.load(read_text_bounded(path, MAX_CONFIG_BYTES, "agents file"), str(path))
    except (FileRefused, safeyaml.YAMLRefused) as exc:
        problems.append(f"{where}: cannot read {path}: {exc}")
        return AgentRegistry()
    except yaml.YAMLError as exc:
        problems.append(f"{where}: {path} is not valid YAML: {exc}")
        return AgentRegistry()
    entries = data.get("agents") if isinstance(data, Mapping) else None
    if not isinstance(entries, Mapping):
        problems.append(f"{where}: {path} must hold a mapping `agents: {{<id>: {{roles: [...]}}}}`")
        return AgentRegistry()
    agents = {}
    for agent_id, entry in entries.items():
        at = f"{where}: {path}: agents.{agent_id}"
        if not isinstance(entry, Mapping):
            problems.append(f"{at}: expected a mapping with roles")
            continue
        unknown = sorted(set(entry) - _ENTRY_KEYS)
        roles, attr, issuer = entry.get("roles"), entry.get("attr") or {}, entry.get("issuer") or ""
        if unknown:
            problems.append(
                f"{at}: unknown keys {', '.join(map(str, unknown))} (allowed: issuer, roles, attr)"
            )
        elif not isinstance(roles, list) or not roles or not all(isinstance(r, str) and r for r in roles):
            problems.append(f"{at}.roles: expected a non-empty list of role names")
        elif not isinstance(attr, Mapping) or not isinstance(issuer, str):
            problems.append(f"{at}: attr must be a mapping and issuer a string")
        else:
            agents[str(agent_id)] = Agent(str(agent_id), tuple(roles), MappingProxyType(dict(attr)), issuer)
    return AgentRegistry(agents)
