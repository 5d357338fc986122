"""Hypothesis strategies for Cerbos CheckResources requests over a policy vocabulary, and response comparison."""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

from tests.support.policy_vocab import Vocabulary

_EXTRA_IDS = ("alice", "bob", "john", "agent-7", "r1")
_WILDCARD_FILLERS = ("public", "x", "git_commit", "read_file")
_NOISE_KEYS = ("noise", "zz")
#: Characters this Python's Unicode database assigns (14.0 on 3.11). Go's (Cerbos's) is 15.0: it quotes the
#: characters added since as printable in messages, Python escapes them (a known difference,
#: docs/correctness.md); unassigned in both, a character is escaped alike.
_ASSIGNED = st.characters(exclude_categories=("Cn", "Cs"))  # and no lone surrogates, as st.text
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _paths_tree(paths: set[tuple[str, ...]]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for segment in path:
            node = node.setdefault(segment, {})
    return tree


def _number_pool(numbers: set[float]) -> list[float | int]:
    pool: set[float | int] = set()
    for n in numbers:
        pool.update({n, n + 1, n - 1, n / 2})
        if n == int(n):
            pool.add(int(n))
    return sorted(pool, key=float)


class RequestStrategies:
    """Strategies drawing principals, resources and whole requests that reach a vocabulary's rules."""

    def __init__(self, vocab: Vocabulary, *, max_resources: int = 6):
        self.vocab = vocab
        self.ids = sorted(vocab.principal_ids | set(_EXTRA_IDS))
        self.roles = [*sorted(vocab.roles), "visitor"]
        strings = sorted(vocab.strings | set(self.ids) | set(self.roles))
        word = st.sampled_from(strings)
        scalar = st.one_of(
            word,
            word,
            st.sampled_from(_number_pool(vocab.numbers) or [0]),
            st.booleans(),
            st.integers(-3, 30000),
            st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False),
            st.text(_ASSIGNED, max_size=6),
            st.lists(word, min_size=2, max_size=3).map("".join),
            st.lists(word, min_size=2, max_size=3).map("/".join),
            st.none(),
        )
        self.leaf = st.one_of(
            scalar,
            scalar,
            st.sampled_from(self.ids),
            st.lists(scalar, max_size=3),
            st.dictionaries(word, scalar, max_size=2),
        )
        # An attribute named like `roles` mostly holds role names (e.g. an agent's delegator's roles).
        self.role_list = st.one_of(st.lists(st.sampled_from(self.roles), max_size=3), self.leaf)
        self.max_resources = max_resources
        self.principal_attr = self._attr(_paths_tree(vocab.principal_paths))
        self.resource_attr = self._attr(_paths_tree(vocab.resource_paths))

    def _attr(self, tree: Mapping[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
        optional = {key: self._node(key, children) for key, children in tree.items()}
        optional.update({key: self.leaf for key in _NOISE_KEYS})
        return st.fixed_dictionaries({}, optional=optional)

    def _node(self, key: str, children: Mapping[str, Any]) -> st.SearchStrategy[Any]:
        if not children:
            return self.role_list if key.lower().endswith("roles") else self.leaf
        return st.one_of(self._attr(children), self._attr(children), self._attr(children), self.leaf)

    def scope(self) -> st.SearchStrategy[str]:
        """A scope the policies use, sometimes one level deeper (to exercise fall-through)."""
        scope = st.sampled_from(sorted(self.vocab.scopes))
        deeper = st.tuples(scope, st.sampled_from(["x", "uk", "hr"])).map(
            lambda t: ".".join(p for p in t if p)
        )
        return st.one_of(scope, scope, scope, deeper)

    def action(self, kind: str = "") -> st.SearchStrategy[str]:
        """An action: mostly one the kind's rules name (wildcards filled in), sometimes any other."""
        own = self._concrete(self.vocab.kind_actions.get(kind, set()))
        anything = self._concrete(self.vocab.actions)
        return st.one_of(own, own, anything) if kind in self.vocab.kind_actions else anything

    @staticmethod
    def _concrete(actions: set[str]) -> st.SearchStrategy[str]:
        concrete = sorted(actions - {"*"}) or ["nope"]
        patterns = [a for a in concrete if "*" in a]
        filled = st.tuples(st.sampled_from(patterns or ["*"]), st.sampled_from(_WILDCARD_FILLERS)).map(
            lambda t: t[0].replace("*", t[1])
        )
        plain = [a for a in concrete if "*" not in a] or ["nope"]
        return st.one_of(st.sampled_from(plain), st.sampled_from(plain), filled, st.just("nope"))

    def request(self) -> st.SearchStrategy[dict[str, Any]]:
        """A CheckResources request (``includeMeta`` on) with 1 to ``max_resources`` resources.

        Each request has a focus kind: its principal's roles and most of its resources are drawn
        towards that kind's rules, so that rules, conditions and outputs are actually reached.
        """
        return _request(self)


@st.composite
def _request(draw: st.DrawFn, s: RequestStrategies) -> dict[str, Any]:
    focus = draw(st.sampled_from(sorted(s.vocab.kinds)))
    any_kind = st.sampled_from(sorted(s.vocab.kinds))
    entry = _resource_entry(s, st.one_of(st.just(focus), any_kind))
    fixtures = [r for r in s.vocab.resource_fixtures if r.get("kind") in s.vocab.kind_actions]
    if fixtures:  # a third of the resources are test fixtures, whole or with one attribute changed
        entry = st.one_of(entry, entry, _fixture_entry(s, fixtures))
    principal = _principal(s, sorted(s.vocab.kind_roles.get(focus[0], ())))
    if s.vocab.principal_fixtures:
        principal = st.one_of(principal, principal, _fixture(s, s.vocab.principal_fixtures))
    return {
        "requestId": "differential",
        "includeMeta": True,
        "principal": draw(principal),
        "resources": draw(st.lists(entry, min_size=1, max_size=s.max_resources)),
    }


@st.composite
def _fixture(draw: st.DrawFn, s: RequestStrategies, fixtures: list[dict[str, Any]]) -> dict[str, Any]:
    """A test fixture's principal or resource, sometimes with one attribute dropped or redrawn."""
    fixture = copy.deepcopy(draw(st.sampled_from(fixtures)))
    attr = fixture.get("attr")
    if isinstance(attr, dict) and attr and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(attr)))
        if draw(st.booleans()):
            del attr[key]
        else:
            attr[key] = draw(s.leaf)
    return fixture


@st.composite
def _fixture_entry(draw: st.DrawFn, s: RequestStrategies, fixtures: list[dict[str, Any]]) -> dict[str, Any]:
    resource = draw(_fixture(s, fixtures))
    actions = draw(st.lists(s.action(resource["kind"]), min_size=1, max_size=4, unique=True))
    return {"actions": actions, "resource": resource}


@st.composite
def _principal(draw: st.DrawFn, s: RequestStrategies, focus_roles: list[str]) -> dict[str, Any]:
    role = st.one_of(st.sampled_from(focus_roles or s.roles), st.sampled_from(s.roles))
    principal: dict[str, Any] = {
        "id": draw(st.sampled_from(s.ids)),
        "roles": draw(st.lists(role, min_size=1, max_size=3, unique=True)),
        "attr": draw(s.principal_attr),
    }
    if draw(st.integers(0, 4)) == 0:
        principal["policyVersion"] = draw(st.sampled_from(sorted(s.vocab.versions)))
    if draw(st.integers(0, 3)) == 0:
        principal["scope"] = draw(s.scope())
    return principal


@st.composite
def _resource_entry(
    draw: st.DrawFn, s: RequestStrategies, kinds: st.SearchStrategy[tuple[str, str, str]]
) -> dict[str, Any]:
    kind, version, scope = draw(kinds)
    resource: dict[str, Any] = {
        "kind": kind,
        "id": draw(st.sampled_from(s.ids)),
        "attr": draw(s.resource_attr),
    }
    if version != "default" or draw(st.booleans()):
        resource["policyVersion"] = version
    if scope or draw(st.integers(0, 3)) == 0:
        resource["scope"] = draw(st.one_of(st.just(scope), s.scope()))
    actions = draw(st.lists(s.action(kind), min_size=1, max_size=4, unique=True))
    return {"actions": actions, "resource": resource}


def _normalise_value(value: Any, now: dt.datetime) -> Any:
    """Output values: timestamps within minutes of now (from ``now()``) compare equal."""
    if isinstance(value, dict):
        return {k: _normalise_value(v, now) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise_value(v, now) for v in value]
    if isinstance(value, str) and _TIMESTAMP.match(value):
        try:
            stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if abs((stamp - now).total_seconds()) < 300:
            return "<now>"
    return value


_ADDITIONAL = re.compile(r"^additionalProperties (.*) not allowed$")


def _normalise_validation_error(error: Mapping[str, Any]) -> dict[str, Any]:
    """A validation error, the property names of ``additionalProperties ... not allowed`` sorted (Cerbos
    lists them in Go map order); the errors of a result are compared as a set for the same reason."""
    error = dict(error)
    names = _ADDITIONAL.match(error.get("message", ""))
    if names:
        error["message"] = "additionalProperties " + ", ".join(sorted(names[1].split(", "))) + " not allowed"
    return error


def normalise_response(response: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The comparable part of a CheckResources response: results, outputs in a stable order."""
    import json

    now = dt.datetime.now(dt.UTC)
    results = []
    for result in response.get("results", []):
        result = dict(result)
        outputs = [_normalise_value(o, now) for o in result.get("outputs", [])]
        result["outputs"] = sorted(outputs, key=lambda o: json.dumps(o, sort_keys=True))
        meta = dict(result.get("meta") or {})
        if "effectiveDerivedRoles" in meta:
            meta["effectiveDerivedRoles"] = sorted(meta["effectiveDerivedRoles"])
        result["meta"] = meta
        result["validationErrors"] = sorted(
            (_normalise_validation_error(e) for e in result.get("validationErrors") or []),
            key=lambda e: json.dumps(e, sort_keys=True),
        )
        results.append(result)
    return results
