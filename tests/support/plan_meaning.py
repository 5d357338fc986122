"""What a PlanResources filter means: its condition written back as CEL and evaluated on a resource.

Two plans may be shaped differently (operand order, duplicates, ``if`` kept or folded) and still
select the same resources; the differential tests compare them by evaluating both on many resources
(:func:`allows`). Numbers are written as the wire carries them (``google.protobuf.Value`` holds
doubles, so an integral number becomes an int literal in both plans alike), a call is written
global when CEL has a global overload of that arity and as a method on its first operand otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from chamberlain import cel
from chamberlain.cel import functions
from chamberlain.engine.planner.nodes import HOLDS
from chamberlain.engine.planner.plan import QueryPlan
from chamberlain.engine.request import Principal

_INFIX = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "in": "in"}
_INFIX.update({"add": "+", "sub": "-", "mult": "*", "div": "/", "mod": "%"})
_RENAMED = {"math.@max": "math.greatest", "math.@min": "math.least"}
_MACROS = {"all", "exists", "exists_one", "filter", "map", "transformList", "transformMap", "sortBy"}


def to_cel(operand: Mapping[str, Any]) -> str:
    """A plan operand (Cerbos's JSON) as CEL source text."""
    if "value" in operand:
        return _literal(operand["value"])
    if "variable" in operand:
        return str(operand["variable"])
    expr = operand["expression"]
    op, args = expr["operator"], expr.get("operands") or []
    if op in ("and", "or"):
        return "(" + (" && " if op == "and" else " || ").join(to_cel(a) for a in args) + ")"
    if op == "not":
        return f"!({to_cel(args[0])})"
    if op in _INFIX:
        return f"({to_cel(args[0])} {_INFIX[op]} {to_cel(args[1])})"
    if op == "if":
        return f"({to_cel(args[0])} ? {to_cel(args[1])} : {to_cel(args[2])})"
    if op == "index":
        return f"({to_cel(args[0])})[{to_cel(args[1])}]"
    if op == "list":
        return "[" + ", ".join(to_cel(a) for a in args) + "]"
    if op == "struct":
        entries = (a["expression"]["operands"] for a in args)
        return "{" + ", ".join(f"{to_cel(k)}: {to_cel(v)}" for k, v in entries) + "}"
    if op == "get-field":
        return f"({to_cel(args[0])}).{args[1]['variable']}"
    if op == "_?._":  # an optional selection (a.?b), which chamberlain plans and Cerbos fails to
        return f"({to_cel(args[0])}).?{args[1]['value']}"
    if op == "has":
        inner = to_cel(args[0])
        return f"has({inner})"
    if op in _MACROS:
        return _macro(op, args)
    return _call(_RENAMED.get(op, op), [to_cel(a) for a in args])


def unresolved(operand: Mapping[str, Any], bound: frozenset[str] = frozenset()) -> set[str]:
    """The variables a plan names that no resource provides (``constants.ranks`` left by Cerbos's
    planner): such a plan cannot be evaluated on resources alone."""
    if "variable" in operand:
        name = str(operand["variable"])
        return set() if name.split(".")[0] in bound | {"request"} else {name}
    expr = operand.get("expression")
    if expr is None:
        return set()
    args = expr.get("operands") or []
    if expr["operator"] == "get-field":  # (get-field x name): the name is a field, not a variable
        args = args[:1]
    if expr["operator"] == "lambda":
        bound = bound | {a["variable"] for a in args[1:] if "variable" in a}
    return set().union(*(unresolved(a, bound) for a in args))


def _macro(op: str, args: list[Any]) -> str:
    parts = args[1]["expression"]["operands"]
    names = [p["variable"] for p in parts if "variable" in p and p is not parts[0]]
    bodies = [to_cel(p) for p in parts[: len(parts) - len(names)]]
    name = {"exists_one": "exists_one", "transformList": "map"}.get(op, op)
    return f"({to_cel(args[0])}).{name}({', '.join([*names, *bodies])})"


#: The optional type's methods, which the compiler reads without a registered overload.
_OPTIONAL_METHODS = frozenset(("or", "orValue", "hasValue", "value", "optMap", "optFlatMap"))


def _call(name: str, args: list[str]) -> str:
    overloads = functions.lookup(name)
    if overloads is None and name in _OPTIONAL_METHODS:
        return f"({args[0]}).{name}({', '.join(args[1:])})"
    if overloads is None or len(args) in overloads.global_impls or -1 in overloads.global_impls:
        return f"{name}({', '.join(args)})"
    return f"({args[0]}).{name}({', '.join(args[1:])})"


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() and abs(value) < 2**63 else repr(float(value))
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def allows(
    plan_filter: Mapping[str, Any], resource: Mapping[str, Any], principal: Mapping[str, Any] | None = None
) -> bool:
    """Whether a PlanResources ``filter`` selects ``resource`` (``{"kind", "id", "attr", ...}``).

    ``principal``: the plan request's (its JSON form). Cerbos's planner, and chamberlain's after it,
    leaves ``request.principal`` in a plan where it is an index key of an unknown attribute
    (``R.attr.members[P.id]``): a reader of the plan evaluates it with the principal it planned for.
    """
    kind = plan_filter["kind"]
    if kind != "KIND_CONDITIONAL":
        return kind == "KIND_ALWAYS_ALLOWED"
    return _holds(plan_filter["condition"], _activation(resource, principal))


def exactly_allows(
    plan: QueryPlan, resource: Mapping[str, Any], principal: Mapping[str, Any] | None = None
) -> bool:
    """Whether chamberlain's plan selects ``resource`` as its translators read it: each policy
    condition (``chamberlain.holds``) counts as false when it fails, as the check counts it."""
    condition = plan.exact_condition
    if condition is None:
        return plan.always_allowed
    return _exact(condition.to_json(), _activation(resource, principal))


def _activation(resource: Mapping[str, Any], principal: Mapping[str, Any] | None) -> dict[str, Any]:
    request: dict[str, Any] = {"resource": dict(resource)}
    if principal is not None:
        request["principal"] = Principal(
            principal["id"],
            principal.get("roles") or (),
            principal.get("attr"),
            scope=principal.get("scope", ""),
        ).cel()
    return {"request": request}


def _exact(operand: Mapping[str, Any], activation: Mapping[str, Any]) -> bool:
    expr = operand.get("expression")
    if expr is None or expr["operator"] not in ("and", "or", "not"):
        return _holds(expr["operands"][0] if expr and expr["operator"] == HOLDS else operand, activation)
    results = (_exact(o, activation) for o in expr["operands"])
    if expr["operator"] == "and":
        return all(results)
    return any(results) if expr["operator"] == "or" else not next(results)


def _holds(condition: Mapping[str, Any], activation: Mapping[str, Any]) -> bool:
    program = cel.compile(to_cel(condition))
    try:
        return program.evaluate(activation) is True
    except cel.EvaluationError:
        return False


def target_params(targets: Mapping[str, Any], known: Mapping[str, str]) -> list[Any]:
    """The names of ``targets`` as fixture params, those with a known disagreement (name -> reason, each
    listed in docs/correctness.md) as expected failures, not strict: Hypothesis may not draw the
    failing request in a run."""
    return [
        pytest.param(t, marks=pytest.mark.xfail(reason=known[t], strict=False)) if t in known else t
        for t in sorted(targets)
    ]
