"""Exactness on real policies: the example policies, Cerbos's query-planner conformance policies and
the planner shapes of tests/engine/plan_shapes/.

For each policy directory, plans are drawn for principals (roles and attributes from the
vocabulary the policies mention, tests/support/policy_vocab.py), kinds and actions; every
conditional plan gets a table whose columns are the attributes its condition reads, typed from how
the condition uses them (compared with a number: a double column; with a string, or as a string
function's operand: text; alone as a condition: boolean; the range of a quantifier, ``in`` or
``size``: a related table). Hypothesis fills the tables (NULLs, empty strings, ``%``/``_``, mixed
case, unicode and the policies' own literals) and the filter must return exactly the rows
``pdp.check`` allows, on SQLite and PostgreSQL. Plans whose translation is refused are counted by
operator (the refusal is the exact answer: it never widens), and printed.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chamberlain import PDP, Principal
from chamberlain.engine.planner import Expression, Operand, PlanError, Value, Variable
from chamberlain.integrations.sqlalchemy import EXPLICIT, OMITTED, UntranslatableFilter, where_clause
from tests.cel.conformance import data_dir
from tests.integrations.exactness import Harness, build_schema, database, examples
from tests.support.cerbos_server import REPO_ROOT
from tests.support.policy_vocab import load_vocabulary

TARGETS = {
    "examples": (REPO_ROOT / "examples" / "policies", {}),
    "query_planner": (data_dir() / "cerbos" / "query_planner" / "policies", {"environment": "test"}),
    # derived roles on P and R, lists, hierarchies, string functions, comprehensions, scopes, DENYs
    "plan_shapes": (REPO_ROOT / "tests" / "engine" / "plan_shapes", {}),
}
PREFIX = "request.resource.attr."
_STRINGY = {"contains", "startsWith", "endsWith", "size", "hierarchy", "matches", "lowerAscii", "upperAscii"}
_COLLECTION = {"exists", "all", "exists_one", "filter", "map", "hasIntersection", "isSubset"}
TALLY: Counter[str] = Counter()


def _types(
    op: Operand, out: dict[str, str], parent: str = "", position: int = 0, siblings: tuple = ()
) -> None:
    """Infer a column type for each resource attribute from how the condition uses it."""
    if isinstance(op, Variable):
        if not op.name.startswith(PREFIX):
            return
        name = op.name[len(PREFIX) :]
        if (parent in _COLLECTION and position == 0) or (parent == "in" and position == 1):
            out[name] = "list"
        elif parent in _STRINGY:
            out.setdefault(name, "string")
        elif parent in ("double", "int"):
            out.setdefault(name, "number")
        elif parent == "timestamp":
            out.setdefault(name, "timestamp")
        elif parent in ("and", "or", "not", "if", "chamberlain.holds") and not (parent == "if" and position):
            out.setdefault(name, "bool")
        else:
            others = [s for s in siblings if isinstance(s, Value)]
            value = others[0].value if others else None
            if isinstance(value, bool):
                out.setdefault(name, "bool")
            elif isinstance(value, int | float) or (
                isinstance(value, list) and value and isinstance(value[0], int | float)
            ):
                out.setdefault(name, "number")
            else:
                out.setdefault(name, "string")
        return
    if isinstance(op, Expression):
        for i, o in enumerate(op.operands):
            _types(o, out, op.operator, i, op.operands)


_SQL = {
    "string": sa.String(),
    "number": sa.Double(),
    "bool": sa.Boolean(),
    "timestamp": sa.DateTime(timezone=True),
}


@functools.cache
def _pdp(target: str) -> PDP:
    directory, globals_ = TARGETS[target]
    return PDP.from_directory(directory, globals=globals_)


@functools.cache
def conditional_plans(target: str) -> list[tuple[Principal, str, str, dict[str, str]]]:
    """(principal, kind, action, attribute types) for the plans of the target that are conditional."""
    directory, _ = TARGETS[target]
    vocab = load_vocabulary(directory)
    pdp = _pdp(target)
    found: dict[str, tuple[Principal, str, str, dict[str, str]]] = {}
    principal_attr = _principal_attr(vocab)
    for kind, _version, scope in sorted(vocab.kinds):
        if scope:
            continue
        roles = sorted(set(vocab.kind_roles.get(kind, ())) - {"*"}) or sorted(vocab.roles)[:3]
        for pid in sorted(vocab.principal_ids | {"alice"})[:6]:
            for role in roles[:6]:
                principal = Principal(pid, [role], principal_attr)
                for action in sorted(a for a in vocab.kind_actions.get(kind, ()) if "*" not in a):
                    try:
                        plan = pdp.plan(principal, kind, action)
                    except PlanError:
                        continue  # a condition the planner (and Cerbos) cannot plan for this principal
                    if plan.condition is None:
                        continue
                    types: dict[str, str] = {}
                    _types(plan.exact_condition or plan.condition, types)
                    key = plan.filter_debug
                    if types and key not in found:
                        found[key] = (principal, kind, action, types)
    return [found[k] for k in sorted(found)]


def _principal_attr(vocab: Any) -> dict[str, Any]:
    """Principal attributes that satisfy what the policies compare them with, where one can tell."""
    attr: dict[str, Any] = {}
    for path in sorted(vocab.principal_paths):
        node = attr
        for part in path[:-1]:
            node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else {}
        leaf = path[-1]
        if leaf.endswith(("s", "roles", "Roles")):
            node.setdefault(leaf, sorted(vocab.strings)[:3])
        else:
            node.setdefault(leaf, sorted(vocab.strings)[0] if vocab.strings else "x")
    return attr


def _values(kind: str, vocab_strings: list[str]) -> st.SearchStrategy[Any]:
    strings = st.one_of(
        st.sampled_from([*vocab_strings, "", "%", "_", "A", "é"]), st.text("aA%_.é", max_size=3)
    )
    if kind == "number":
        return (
            st.none()
            | st.sampled_from([0.0, 1.0, 2.0, 100.0, 999.0, 1000.0, 1000.5, 5000.0])
            | st.floats(-1e4, 1e4, allow_nan=False)
        )
    if kind == "bool":
        return st.none() | st.booleans()
    if kind == "timestamp":
        return st.none() | st.datetimes(
            min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2030, 1, 1)
        ).map(lambda d: d.replace(tzinfo=dt.UTC))
    return st.none() | strings


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_policies_filters_are_exact(target: str, dialect: str) -> None:
    directory, _ = TARGETS[target]
    if not directory.is_dir():
        pytest.skip(f"{directory} is missing")
    plans = conditional_plans(target)
    assert plans, "no conditional plan found"
    vocab_strings = sorted(load_vocabulary(directory).strings)[:40]
    pdp = _pdp(target)
    with database(dialect) as engine:

        @settings(
            max_examples=examples(40),
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(data=st.data())
        def run(data: st.DataObject) -> None:
            principal, kind, action, types = data.draw(st.sampled_from(plans), label="plan")
            null = data.draw(st.sampled_from([EXPLICIT, OMITTED]), label="null")
            scalars = {a: _SQL[t] for a, t in types.items() if t != "list"}
            lists = [a for a, t in types.items() if t == "list"]
            schema = build_schema(
                scalars, lists, table=f"t_{abs(hash(json.dumps(sorted(types.items())))) % 10**8}"
            )
            harness = Harness(pdp, schema, engine, kind=kind, null=null)
            schema.metadata.drop_all(engine)
            harness.create()
            rows = []
            for i in range(data.draw(st.integers(1, 8), label="rows")):
                rows.append(
                    {"id": i + 1, **{a: data.draw(_values(types[a], vocab_strings)) for a in scalars}}
                )
            children = {
                r["id"]: {
                    a: data.draw(st.lists(st.none() | st.sampled_from(vocab_strings or ["x"]), max_size=3))
                    for a in lists
                }
                for r in rows
            }
            harness.verify(principal, [action], rows, children)
            TALLY.update(f"refused {k.split(': ')[1]}" for k in harness.refused)
            TALLY["compared"] += sum(harness.checked.values())

        run()
    print(f"{target}/{dialect}: {len(plans)} conditional plans; {dict(TALLY)}")
    TALLY.clear()


def test_refusals_name_operator_and_attribute() -> None:
    """A refused shape says which operator, on which attribute (never a wider filter)."""
    condition = Expression("matches", (Variable("request.resource.attr.name"), Value("^a.*")))
    with pytest.raises(UntranslatableFilter, match=r"'matches' on request\.resource\.attr\.name"):
        where_clause(condition, {"request.resource.attr.name": sa.column("name", sa.String())})


def test_a_plan_naming_the_principal_needs_it() -> None:
    """``P.attr.orgs[R.attr.org]``: the planner leaves the principal's map indexed by a column; the WHERE
    clause reads it from ``principal=`` (a CASE over its entries), and without it refuses, saying so."""
    condition = Expression(
        "eq",
        (
            Expression(
                "index", (Variable("request.principal.attr.orgs"), Variable("request.resource.attr.org"))
            ),
            Value("admin"),
        ),
    )
    columns = {"request.resource.attr.org": sa.column("org", sa.String())}
    with pytest.raises(UntranslatableFilter, match=r"names the principal: pass principal="):
        where_clause(condition, columns)
    alice = Principal("alice", ["user"], {"orgs": {"acme": "admin", "globex": "member"}})
    sql = str(
        where_clause(condition, columns, principal=alice).compile(compile_kwargs={"literal_binds": True})
    )
    assert "'acme'" in sql and "'globex'" in sql and "ELSE NULL" in sql
    with pytest.raises(UntranslatableFilter, match=r"the principal has no such attribute"):
        where_clause(condition, columns, principal=Principal("bob", ["user"]))
