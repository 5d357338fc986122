"""The vault map's promise, checked against the real check: NEVER never allows, ALWAYS always allows.

Over the example policies (lenient and strict evaluation), Cerbos's conformance store and its
query-planner policies, hypothesis draws a subject the way the map has it — a bare role (its id
and attributes unknown to the map), a derived role held through one of its parents, a principal
with known roles but unknown attributes, an agent with known attributes, a delegation chain of two
of them — a resource target and action of the map, then a concrete principal (random id and
attributes where the map had them symbolic), resource attributes and aux data. ``engine.check``
decides at the map's instant: where the map says NEVER it must deny, where it says ALWAYS it must
allow (for a derived role: ALWAYS only, since the parent role may be allowed on its own).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis import target as steer

from chamberlain import PDP
from chamberlain.analysis import Access, Target, policy_subjects, policy_targets
from chamberlain.analysis.subjects import (
    ANY_ROLE,
    DERIVED_ROLE,
    ROLE,
    Subject,
    agent_subject,
    chain_subject,
    principal_subject,
)
from chamberlain.analysis.vault import subject_access
from chamberlain.cel.values import Timestamp
from chamberlain.engine import AuxData, CheckInput, Principal, Resource
from tests.cel.conformance import data_dir
from tests.support.cerbos_requests import RequestStrategies, _paths_tree
from tests.support.policy_vocab import load_vocabulary

REPO = Path(__file__).resolve().parents[2]
GLOBALS = {"environment": "test"}
SETS = {
    "examples": (REPO / "examples" / "policies", {}),
    "examples-strict": (REPO / "examples" / "policies", {"strict_evaluation": True}),
    "store": (data_dir() / "cerbos" / "store", {"globals": GLOBALS}),
    "query_planner": (data_dir() / "cerbos" / "query_planner" / "policies", {"globals": GLOBALS}),
}
EXAMPLES = int(os.environ.get("CHAMBERLAIN_VAULT_EXAMPLES", "150"))
NOW = Timestamp.now()


@dataclass(repr=False)
class PolicySetUnderTest:
    pdp: PDP
    strategies: RequestStrategies
    roles: list[Subject]
    derived: list[Subject]
    targets: list[Target]
    principal_ids: list[str]
    principal_attr: st.SearchStrategy[dict[str, Any]]
    resource_attr: st.SearchStrategy[dict[str, Any]]

    def __repr__(self) -> str:  # hypothesis prints the fixture with a failure: keep it short
        return f"PolicySetUnderTest({self.pdp.directory})"


@pytest.fixture(scope="module", params=sorted(SETS))
def policy_set(request: pytest.FixtureRequest) -> Iterator[PolicySetUnderTest]:
    directory, options = SETS[request.param]
    if not directory.is_dir():
        pytest.fail(f"{directory} is missing: the conformance data is required")
    pdp = PDP.from_directory(directory, **options)
    subjects = policy_subjects(pdp.policies)
    vocab = load_vocabulary(directory)
    strategies = RequestStrategies(vocab)
    yield PolicySetUnderTest(
        pdp,
        strategies,
        [s for s in subjects if s.kind == ROLE],
        [s for s in subjects if s.kind == DERIVED_ROLE],
        policy_targets(pdp.policies),
        sorted(vocab.principal_ids) or ["nobody"],
        _structured(strategies, _paths_tree(vocab.principal_paths)),
        st.one_of(_structured(strategies, _paths_tree(vocab.resource_paths)), strategies.resource_attr),
    )


def _structured(s: RequestStrategies, tree: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Attributes shaped as the policies read them (maps mostly maps, ``roles`` lists of role names)."""
    optional = {}
    for key, children in tree.items():
        if children:
            optional[key] = st.one_of(*[_structured(s, children)] * 4, s.leaf)
        else:
            optional[key] = s.role_list if key.lower().endswith("roles") else s.leaf
    return st.fixed_dictionaries({}, optional=optional)


@st.composite
def _hop(draw: st.DrawFn, s: PolicySetUnderTest, kind: str) -> tuple[Subject, Principal]:
    """A subject of the map (its roles mostly ones the kind's rules name) and a principal it stands for."""
    attr = draw(st.one_of(s.principal_attr, s.principal_attr, s.strategies.principal_attr))
    named = sorted(set(s.strategies.vocab.kind_roles.get(kind, ())) & {r.name for r in s.roles})
    roles = [r.name for r in s.roles] or ["visitor"]
    if named and draw(st.integers(0, 2)) > 0:
        roles = named
    choice = draw(st.integers(0, 3 if s.derived else 2))
    if choice == 0:  # a bare role: any id (no principal policy of its own), any attributes
        role = draw(st.sampled_from(roles))
        pid = draw(st.sampled_from(["alice", "bob", "agent-7"]).filter(lambda p: p not in s.principal_ids))
        return Subject(ROLE, role, (role,)), Principal(pid, (role,), attr)
    pid = draw(st.sampled_from([*s.principal_ids, "alice"]))
    held = tuple(draw(st.lists(st.sampled_from(roles), min_size=1, max_size=2, unique=True)))
    if choice == 1:  # a logged principal: roles known, attributes not
        return principal_subject(pid, held), Principal(pid, held, attr)
    if choice == 2:  # a registry agent: roles and attributes known
        return agent_subject(pid, held, attr), Principal(pid, held, attr)
    derived = draw(st.sampled_from(s.derived))
    parent = draw(st.sampled_from(derived.roles))
    parent = "anyone" if parent == ANY_ROLE else parent
    return derived, Principal(draw(st.sampled_from(["alice", "bob"])), (parent,), attr)


@st.composite
def _case(draw: st.DrawFn, s: PolicySetUnderTest) -> tuple[Any, ...]:
    target = draw(st.sampled_from([t for t in s.targets if t.actions]))
    action = draw(st.sampled_from(target.actions))
    if draw(st.integers(0, 4)) == 0:
        hops = [draw(_hop(s, target.kind).filter(lambda h: h[0].kind != DERIVED_ROLE)) for _ in range(2)]
        subject = chain_subject(hops[0][0], [hops[1][0]])
        principals = [p for _, p in hops]
    else:
        subject, principal = draw(_hop(s, target.kind))
        principals = [principal]
    resource = Resource(
        target.kind,
        draw(st.sampled_from(["r1", *s.principal_ids])),
        draw(s.resource_attr),
        target.version,
        target.scope,
    )
    jwt = draw(st.one_of(st.just({}), s.strategies.principal_attr))
    return subject, principals, target, action, resource, AuxData(jwt=jwt)


_COMPARISONS = {"eq", "ne", "lt", "le", "gt", "ge"}


def _hints(engine: Any, kind: str, action: str, target: Target, role: str) -> dict[str, list[Any]]:
    """Values the condition of a role's fully symbolic plan compares attributes with (a generator aid
    only: the verdict is the check's). ``{"R.attr.status": ["PAID", ...], "P.attr.delegator.roles": [[...]]}``."""
    from chamberlain.analysis.vault import SYMBOLIC_ALL
    from chamberlain.engine.planner import Expression, PlanError, PlanInput, Value, Variable, plan_resources

    inp = PlanInput(
        Principal("hint", (role,)),
        kind,
        (action,),
        policy_version=target.version,
        scope=target.scope,
        symbolic=SYMBOLIC_ALL,
    )
    try:
        plan = plan_resources(engine, inp, NOW)
    except PlanError:
        return {}
    found: dict[str, list[Any]] = {}

    def walk(o: Any) -> None:
        if not isinstance(o, Expression):
            return
        args = o.operands
        unwrapped = [
            a.operands[0] if isinstance(a, Expression) and a.operator in ("double", "int") else a
            for a in args
        ]
        if len(args) == 2 and o.operator in _COMPARISONS | {"in"}:
            a, b = unwrapped
            if isinstance(a, Variable) and isinstance(b, Value):
                values = b.value if o.operator == "in" and isinstance(b.value, list) else [b.value]
                for v in values:
                    found.setdefault(a.name, []).extend(
                        [v, v + 1, v - 1] if isinstance(v, int | float) and not isinstance(v, bool) else [v]
                    )
            elif isinstance(a, Value) and isinstance(b, Variable):
                found.setdefault(b.name, []).append([a.value] if o.operator == "in" else a.value)
        for arg in args:
            walk(arg)

    if plan.condition is not None:
        walk(plan.condition)
    return found


def _place(
    attrs: dict[str, Any], prefix: str, hints: dict[str, list[Any]], picks: list[int]
) -> dict[str, Any]:
    """``attrs`` with each hinted path under ``prefix`` (``request.resource.attr.``) set to a picked value."""
    out = dict(attrs)
    for (name, values), pick in zip(sorted(hints.items()), picks, strict=False):
        if not name.startswith(prefix) or pick < 0:
            continue
        node = out
        parts = name[len(prefix) :].split(".")
        for part in parts[:-1]:
            child = node.get(part)
            node[part] = child = dict(child) if isinstance(child, dict) else {}
            node = child
        node[parts[-1]] = values[pick % len(values)]
    return out


def _known(subject: Subject, principals: list[Principal]) -> Subject:
    """``subject`` with the attributes it knows (an agent's) set to its principal's, hop by hop."""
    if subject.chain:
        hops = [_known(hop, [p]) for hop, p in zip(subject.chain, principals, strict=True)]
        return chain_subject(hops[0], hops[1:])
    if subject.attr is None:
        return subject
    return agent_subject(subject.name, subject.roles, dict(principals[0].attr))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_never_denies_and_always_allows(policy_set: PolicySetUnderTest, data: st.DataObject) -> None:
    subject, principals, target, action, resource, aux = data.draw(_case(policy_set))
    role = principals[-1].roles[0]
    hints = _hints(policy_set.pdp.engine, target.kind, action, target, role)
    if hints and data.draw(st.integers(0, 3)) > 0:  # attributes the policies compare with
        picks = data.draw(st.lists(st.integers(-1, 8), min_size=len(hints), max_size=len(hints)))
        resource = Resource(
            resource.kind,
            resource.id,
            _place(dict(resource.attr), "request.resource.attr.", hints, picks),
            resource.policy_version,
            resource.scope,
        )
        principals = [
            Principal(
                p.id,
                p.roles,
                _place(dict(p.attr), "request.principal.attr.", hints, picks),
                p.policy_version,
                p.scope,
            )
            for p in principals
        ]
        subject = _known(subject, principals)
    access, conditions = subject_access(policy_set.pdp.engine, subject, target, action, NOW)
    engine = policy_set.pdp.engine
    effects = [
        engine.check([CheckInput(p, resource, (action,), aux)], NOW)[0].actions[action].effect
        for p in principals
    ]
    allowed = all(e == "EFFECT_ALLOW" for e in effects)
    # Allowed checks where the map has a condition are the rare, telling ones: steer towards them.
    steer(float(allowed) + 2.0 * float(allowed and access is not Access.ALWAYS))
    event(f"{subject.kind}: map {access.value}, check {'allows' if allowed else 'denies'}")
    where = (
        f"{subject.label} {action} {target.label}: map {access.value} {conditions}, check {effects} for "
        f"{[(p.id, p.roles, dict(p.attr)) for p in principals]} on {dict(resource.attr)} aux {dict(aux.jwt)}"
    )
    if access is Access.ALWAYS:
        assert allowed, where
    elif access is Access.NEVER and subject.kind != DERIVED_ROLE:
        assert not allowed, where
