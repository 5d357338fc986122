"""Differential test: chamberlain's CEL against Google's C++ CEL (cel-expr-python) on random expressions.

Both must produce the same value, type-exactly (int, uint, double and bool are distinct; NaN equals
NaN; lists and maps compared recursively), or both must fail; error messages need not match.

The oracle runs with type checking disabled (`compile(..., disable_check=True)`): chamberlain, like
Cerbos's conditions over `dyn` request data, resolves overloads at run time, and the C++ runtime
then applies heterogeneous equality and cross-type numeric comparison (`1 == 1.0`, `1u < 2.5`),
which Cerbos enables with `CrossTypeNumericComparisons`. With the checker on, the C++ side would
reject those statically.

Profiles: CEL_DIFF_PROFILE=ci (default: 600 derandomized examples, reproducible in CI) or
CEL_DIFF_PROFILE=thorough (20,000 random examples, to run by hand).
"""

from __future__ import annotations

import math
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from chamberlain.cel import CompileError, EvaluationError, compile
from chamberlain.cel.values import UInt
from tests.cel.strategies import cel_expressions

gcel = pytest.importorskip("cel_expr_python.cel", reason="cel-expr-python (the oracle) is not installed")

_PROFILES = {
    "ci": settings(max_examples=600, deadline=None, derandomize=True, database=None),
    "thorough": settings(max_examples=20_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]),
}
_SETTINGS = _PROFILES[os.environ.get("CEL_DIFF_PROFILE", "ci")]

ERROR = ("error",)
_ORACLE_ENV = gcel.NewEnv()


def _double(x: float) -> tuple[str, Any]:
    return ("double", "nan" if math.isnan(x) else x)


def _key(k: Any) -> tuple[str, Any]:
    # The oracle returns map keys as plain Python values (a uint key comes back as int), so keys are
    # compared by value; the generator never mixes int and uint keys in one map.
    if isinstance(k, bool):
        return ("bool", k)
    if isinstance(k, int):
        return ("num", int(k))
    return (type(k).__name__, k)


def canonical(value: Any) -> tuple[Any, ...]:
    """A chamberlain result as a hashable, type-tagged tree."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, UInt):
        return ("uint", int(value))
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return _double(value)
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, bytes | bytearray):
        return ("bytes", bytes(value))
    if value is None:
        return ("null",)
    if isinstance(value, list | tuple):
        return ("list", tuple(canonical(v) for v in value))
    if isinstance(value, dict):
        return ("map", frozenset((_key(k), canonical(v)) for k, v in value.items()))
    return ("other", repr(value))


def oracle_canonical(value: Any) -> tuple[Any, ...]:
    """A cel-expr-python `Value` (or nested list/map item accessor) as the same tagged tree."""
    kind = value.type().name()
    raw = value.value()
    simple = {"BOOL": "bool", "INT": "int", "UINT": "uint", "STRING": "string"}
    if kind in simple:
        return (simple[kind], raw)
    if kind == "DOUBLE":
        return _double(raw)
    if kind == "BYTES":
        return ("bytes", bytes(raw))
    if kind == "NULL":
        return ("null",)
    if kind.startswith("LIST"):
        return ("list", tuple(oracle_canonical(v) for v in raw))
    if kind.startswith("MAP"):
        return ("map", frozenset((_key(k), oracle_canonical(v)) for k, v in raw.items()))
    if kind == "ERROR":
        return ERROR
    return ("other", f"{kind}:{raw!r}")


def run_chamberlain(expression: str) -> tuple[Any, ...]:
    """Chamberlain's result; CEL errors map to ERROR, any other exception propagates (a bug)."""
    try:
        return canonical(compile(expression).evaluate({}))
    except (CompileError, EvaluationError):
        return ERROR


def run_oracle(expression: str) -> tuple[Any, ...]:
    """The C++ CEL result; it reports parse errors (and duplicate map keys) by raising RuntimeError."""
    try:
        return oracle_canonical(_ORACLE_ENV.compile(expression, disable_check=True).eval())
    except RuntimeError:
        return ERROR


@_SETTINGS
@given(cel_expressions())
def test_chamberlain_agrees_with_cpp_cel(expression: str) -> None:
    ours = run_chamberlain(expression)
    theirs = run_oracle(expression)
    assert ours == theirs, f"{expression}\n  chamberlain: {ours}\n  cel-cpp:     {theirs}"


@pytest.mark.parametrize(
    "expression",
    [
        "9223372036854775807 + 1",
        "-9223372036854775808 / -1",
        "-(-9223372036854775808)",
        "0u - 1u",
        "1 / 0",
        "1 % 0",
        "{'a': 1}['b']",
        "[1][1]",
        "1 == 1.0 && 1u == 1 && 1 < 1.5 && 2u > 1",
        # Mixed int/double comparison converts the int to double (cel-go's compareDoubleInt does too).
        "9007199254740993 == 9007199254740992.0",
        "9223372036854775807 == 9223372036854775808.0",
        "18446744073709551615u == 18446744073709551616.0",
        "[1, 2.0, 3u] == [1u, 2, 3.0]",
        "double('NaN') == double('NaN')",
        "[double('NaN')]",
        "1/0 == 1 || true",
        "false && 1/0 == 1",
        "[0, 1].exists(x, 1 / x == 1)",
        "[1, 2].all(x, x / 0 == 1)",
        "int(9223372036854775807.0)",
        "uint(-1)",
        "string(123456789.0)",
        "string(1e-05)",
        "int('1_000')",
        "int('٣')",
        "size('héllo😀')",
        "{'a': [1u, 2.5], 'b': {true: null}}",
    ],
)
def test_fixed_cases_agree(expression: str) -> None:
    """Hand-picked edge cases, so the most important ones run whatever hypothesis draws."""
    assert run_chamberlain(expression) == run_oracle(expression)
