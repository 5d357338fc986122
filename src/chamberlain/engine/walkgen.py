"""One role's walk through the scopes, generated as Python code for the fast path.

The check (``check.py``) walks, for each role, the scopes from the request's up to the root and
the rule rows of each scope in order. That walk is generic Python: loops over steps and rows,
attribute reads and branches that depend only on the plan, never on the request. For the fast
path (``PDP.is_allowed``: only the effect, no trace, outputs, strict evaluation or derived-role
tracking) this module unrolls the walk of one role group into straight-line code, the way the
CEL compiler turns an expression into code: each row's tests become direct calls, its effect a
``return`` or an assignment, each scope's permissions a line. Measured on the engine benchmark,
the generated walk takes about half the time of the generic loop.

The generated function takes the check's state and returns a :class:`WalkResult` exactly as the
generic group walk does; tests compare the two on every conformance case.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, NamedTuple

from chamberlain.cel import EvaluationError
from chamberlain.engine.conditions import Condition, program
from chamberlain.engine.ruletable import OVERRIDE_PARENT, REQUIRE_PARENTAL_CONSENT, Row
from chamberlain.policy.model import EFFECT_ALLOW, EFFECT_DENY

NO_MATCH_EFFECT = "EFFECT_NO_MATCH"


class WalkResult(NamedTuple):
    """What one role's walk through the scopes found.

    ``effect``: ``EFFECT_ALLOW``, ``EFFECT_DENY``, or :data:`NO_MATCH_EFFECT` (no rule decided);
    ``policy``/``scope``: the policy key and scope to report; ``row``: the deciding row, if any.
    """

    effect: str
    policy: str
    scope: str
    row: Row | None


GroupWalk = Callable[[Any], WalkResult]
# One scope of a role's walk: the scope, its rows for the action and role (in order), its permissions.
Step = tuple[str, tuple[Row, ...], str | None]


def generate(
    policy_key: str, steps: Sequence[Step], shared_keys: Collection[Any], no_match_for_scope_permissions: str
) -> GroupWalk:
    """The walk of one role group as a function of the state (see the module docstring).

    Rows whose evaluation key occurs in ``shared_keys`` (another group of the plan evaluates the
    same condition) go through the state's per-check cache; the others are tested inline.
    """
    names: dict[str, Any] = {
        "NM": NO_MATCH_EFFECT,
        "ALLOW": EFFECT_ALLOW,
        "DENY": EFFECT_DENY,
        "NMFSP": no_match_for_scope_permissions,
        "EvaluationError": EvaluationError,
        "W": WalkResult,
        "new": tuple.__new__,
    }  # new(W, (...)): W without its Python-level __new__

    def const(prefix: str, value: Any) -> str:
        name = f"{prefix}{len(names)}"
        names[name] = value
        return name

    lines = ["def walk(state):", "    allow_row = None", f"    policy = {policy_key!r}", "    scope_hit = ''"]
    for scope, rows, permissions in steps:
        for row in rows:
            effect_code = _effect_code(row, scope, const)
            if effect_code is None:
                continue  # a row without effect changes nothing the fast path returns
            row_name = const("R", row)
            indent = "    "
            if row.eval_key in shared_keys:
                lines.append(f"{indent}if state.satisfied({row_name}):")
                indent += "    "
            else:
                for test, params in _tests(row):
                    params_name = const("P", params)
                    lines.append(
                        f"{indent}if state.params is not {params_name}: state.use_params({params_name})"
                    )
                    lines.extend(indent + line for line in _test_code(test, const))
                    indent += "    "
            lines.extend(indent + line for line in effect_code.format(row=row_name).split("\n"))
        if permissions == REQUIRE_PARENTAL_CONSENT:
            lines.append("    allow_row = None")
        elif permissions == OVERRIDE_PARENT:
            lines.append(
                f"    if allow_row is not None: return new(W, (ALLOW, policy, {scope!r}, allow_row))"
            )
    lines.append("    return new(W, (NM, policy, scope_hit, None))")
    namespace = dict(names)
    exec(compile("\n".join(lines), f"<walk {policy_key}>", "exec"), namespace)
    return namespace["walk"]


def _test_code(condition: Condition, const: Callable[[str, Any], str]) -> list[str]:
    """Lines that test a condition and open a block run when it holds.

    A single expression calls its CEL program directly (its error handling as in
    ``conditions._expression``); a tree of ``all``/``any``/``none`` calls the compiled condition.
    """
    match = condition.match
    if match is None or match.op != "expr":
        return [f"if {const('T', condition.test)}(state):"]
    text = const("X", match.expr)
    prog = program(match.expr)
    prog.warm_up()  # so that the generated call goes straight to the fast function
    return [
        "try:",
        f"    ok = {const('E', prog.evaluate)}(state.activation) is True",
        "except EvaluationError as exc:",
        f"    state.failed({text}, exc)",
        "    ok = False",
        "if ok:",
    ]


def _tests(row: Row) -> list[tuple[Condition, Any]]:
    """The row's tests in Cerbos's order (derived role condition first) with the params they read."""
    tests = []
    if row.derived_role_test is not None:
        tests.append((row.derived_role.condition, row.derived_role.params))  # type: ignore[union-attr]
    if row.condition is not None:
        tests.append((row.condition, row.params))
    return tests


def _effect_code(row: Row, scope: str, const: Callable[[str, Any], str]) -> str | None:
    """What a satisfied row does to the walk (``{row}`` stands for the row's name)."""
    if row.effect == EFFECT_ALLOW:
        return "if allow_row is None: allow_row = {row}"
    if row.effect == EFFECT_DENY:
        policy = const("K", row.policy.key) if row.from_role_policy else "policy"
        return f"return new(W, (DENY, {policy}, {scope!r}, {{row}}))"
    if row.no_match_for_scope_permissions:
        return f"policy = NMFSP\nscope_hit = {scope!r}"
    return None
