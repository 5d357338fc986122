"""Hypothesis strategies producing random, well-formed CEL source text for the differential test.

Generation is type-directed (each sub-expression is built to have a chosen CEL type) so most
expressions evaluate to a value, but it deliberately reaches the error paths too: int64/uint64
overflow, division and modulo by zero, missing map keys, out-of-range list indexes, failed
conversions, and (rarely) operands of the wrong type. Everything is built from literals, so the
activation is empty.

Some inputs are left out because Google's C++ CEL (the oracle) and cel-go (what Cerbos runs, and
what chamberlain follows) legitimately disagree on them; each exclusion says why where it is made.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1

INT, UINT, DOUBLE, STRING, BOOL, LIST, MAP = "int", "uint", "double", "string", "bool", "list", "map"
SCALARS = (INT, UINT, DOUBLE, STRING, BOOL)
#: Types a list element or map value may have (nested collections included).
ELEMENT_TYPES = (*SCALARS, LIST, MAP)
#: Map key types. Maps never mix int and uint keys: C++ CEL collapses `{1: 'a', 1u: 'b'}` into one
#: entry while cel-go keeps both, and the oracle hands map keys back without their int/uint type.
KEY_TYPES = (INT, UINT, STRING, BOOL)

MAX_DEPTH = 3

_INT_EDGES = [
    INT64_MIN,
    INT64_MIN + 1,
    INT64_MAX,
    INT64_MAX - 1,
    -1,
    0,
    1,
    2,
    -(2**31),
    2**31,
    2**32,
    3037000500,
]
_UINT_EDGES = [0, 1, 2, UINT64_MAX, UINT64_MAX - 1, 2**63, 2**63 - 1, 2**32]
_DOUBLE_EDGES = [
    0.0,
    -0.0,
    0.5,
    -0.5,
    1.5,
    2.0**63,
    -(2.0**63),
    2.0**64,
    1e300,
    -1e300,
    5e-324,
    123456789.0,
    1e21,
]
#: Strings that exercise int()/uint()/double() parsing. Left out because C++ CEL and cel-go differ:
#: whitespace (C++ trims it, Go's strconv rejects it, hence no space in _TEXT_ALPHABET either), "+1"
#: (uint: C++ accepts, Go's ParseUint rejects), "-nan" (C++ accepts, Go's ParseFloat rejects), hex
#: such as "0x10" or "0x1p-2" (double: C++ reads "0x10" as 16, Go requires the p exponent),
#: overflowing decimals such as "1e400" (double: C++ gives inf, cel-go reports Go's ErrRange) and
#: digit separators such as "1_000" (double: Go accepts underscores between digits, C++ does not;
#: hence no "_" in _TEXT_ALPHABET either). tests/cel/test_cerbos_binary.py checks these against Cerbos.
_NUMERIC_STRINGS = [
    "0",
    "1",
    "-1",
    "-0",
    "42",
    "1.5",
    "-2.5",
    ".5",
    "5.",
    "1e5",
    "1E-3",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "010",
    "٣",
    "\uff11",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "1e-400",
    "",
    "abc",
    "true",
]
_TEXT_ALPHABET = "abcAB~-.01eé€😀"
_VARIABLES = ("v0", "v1", "v2")


def _int_lit(n: int) -> str:
    return f"({n})" if n < 0 else str(n)


def _double_lit(x: float) -> str:
    text = repr(x)
    if "e" not in text and "." not in text:
        text += ".0"
    return f"({text})" if text.startswith("-") else text


def _string_lit(s: str) -> str:
    # JSON string escapes (\" \\ \n \uXXXX) are all valid CEL escapes.
    return json.dumps(s, ensure_ascii=False)


_int_values = st.one_of(
    st.sampled_from(_INT_EDGES), st.integers(-100, 100), st.integers(INT64_MIN, INT64_MAX)
)
_uint_values = st.one_of(st.sampled_from(_UINT_EDGES), st.integers(0, 100), st.integers(0, UINT64_MAX))
_double_values = st.one_of(
    st.sampled_from(_DOUBLE_EDGES),
    st.integers(-100, 100).map(float),
    st.floats(allow_nan=False, allow_infinity=False),
)
_text_values = st.one_of(st.text(_TEXT_ALPHABET, max_size=5), st.sampled_from(_NUMERIC_STRINGS))

_LITERALS: dict[str, st.SearchStrategy[str]] = {
    INT: _int_values.map(_int_lit),
    UINT: _uint_values.map(lambda n: f"{n}u"),
    DOUBLE: st.one_of(
        _double_values.map(_double_lit),
        st.sampled_from(['double("NaN")', 'double("inf")', 'double("-inf")']),
    ),
    STRING: _text_values.map(_string_lit),
    BOOL: st.sampled_from(["true", "false"]),
}


class _Gen:
    """Draws one expression of a requested type; `scope` maps comprehension variables to their types."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]):
        self.draw = draw

    def choice(self, options: list[Callable[[], str]]) -> str:
        return self.draw(st.sampled_from(options))()

    def expr(self, t: str, depth: int, scope: dict[str, str]) -> str:
        variables = [name for name, vt in scope.items() if vt == t]
        if depth <= 0 or self.draw(st.integers(0, 3)) == 0:
            if variables and self.draw(st.booleans()):
                return self.draw(st.sampled_from(variables))
            return self.leaf(t, scope)
        return getattr(self, t)(depth - 1, scope)

    def leaf(self, t: str, scope: dict[str, str]) -> str:
        if t == LIST:
            return self.list_literal(0, scope)
        if t == MAP:
            return self.map_literal(0, scope)
        return self.draw(_LITERALS[t])

    def any_type(self) -> str:
        return self.draw(st.sampled_from(ELEMENT_TYPES))

    # -- generic forms, shared by every type ----------------------------------------------------------
    def common(self, t: str, d: int, scope: dict[str, str]) -> list[Callable[[], str]]:
        """Forms that can produce a value of any type: ternary, list index, map lookup."""
        return [
            lambda: f"({self.expr(BOOL, d, scope)} ? {self.expr(t, d, scope)} : {self.expr(t, d, scope)})",
            lambda: self.list_index(t, d, scope),
            lambda: self.map_lookup(t, d, scope),
        ]

    def present(self, options: list[str]) -> bool:
        """Whether a lookup should hit an existing element (3 times in 4, so most lookups succeed)."""
        return bool(options) and self.draw(st.integers(0, 3)) > 0

    def list_index(self, t: str, d: int, scope: dict[str, str]) -> str:
        items = self.list_items(d, scope, t)
        literal = "[" + ", ".join(items) + "]"
        if self.present(items):
            return f"{literal}[{self.draw(st.integers(0, len(items) - 1))}]"
        if self.draw(st.booleans()):
            return f"{literal}[{_int_lit(self.draw(st.integers(-1, len(items) + 1)))}]"
        return f"{literal}[{self.expr(INT, d, scope)}]"

    def map_lookup(self, t: str, d: int, scope: dict[str, str]) -> str:
        key_type = self.draw(st.sampled_from(KEY_TYPES))
        keys, literal = self.map_items(d, scope, key_type, t)
        if self.present(keys):
            key = self.draw(st.sampled_from(keys))
        elif self.draw(st.booleans()):
            key = self.draw(self.key_literal(key_type))
        else:
            key = self.expr(key_type, d, scope)
        if key_type == STRING and key in ("'a'", "'b'", "'c'") and self.draw(st.booleans()):
            return f"{literal}.{key[1]}"  # field selection on a map
        return f"{literal}[{key}]"

    def list_items(self, d: int, scope: dict[str, str], elem: str) -> list[str]:
        return [self.expr(elem, d - 1, scope) for _ in range(self.draw(st.integers(0, 3)))]

    def list_literal(self, d: int, scope: dict[str, str], elem: str | None = None) -> str:
        elem = elem or self.draw(st.sampled_from(SCALARS))
        return "[" + ", ".join(self.list_items(d, scope, elem)) + "]"

    def map_items(self, d: int, scope: dict[str, str], key: str, value: str) -> tuple[list[str], str]:
        """A map literal's (unique, literal) keys and its source text."""
        # Unique literal keys keep the map well formed (a duplicate key is an error in both engines).
        keys = self.draw(st.lists(self.key_literal(key), max_size=3, unique=True))
        return keys, "{" + ", ".join(f"{k}: {self.expr(value, d - 1, scope)}" for k in keys) + "}"

    def map_literal(
        self, d: int, scope: dict[str, str], key: str | None = None, value: str | None = None
    ) -> str:
        key = key or self.draw(st.sampled_from(KEY_TYPES))
        return self.map_items(d, scope, key, value or self.draw(st.sampled_from(SCALARS)))[1]

    @staticmethod
    def key_literal(key: str) -> st.SearchStrategy[str]:
        if key == INT:
            return st.integers(-3, 3).map(_int_lit)
        if key == UINT:
            return st.integers(0, 3).map(lambda n: f"{n}u")
        if key == STRING:
            return st.sampled_from(["'a'", "'b'", "'c'", "''", "'é'"])
        return st.sampled_from(["true", "false"])

    # -- one method per type ----------------------------------------------------------------------------
    def int(self, d: int, s: dict[str, str]) -> str:
        return self.choice(
            [
                lambda: (
                    f"({self.expr(INT, d, s)} {self.draw(st.sampled_from('+-*/%'))} {self.expr(INT, d, s)})"
                ),
                lambda: f"-{self.expr(INT, d, s)}",
                lambda: f"size({self.expr(self.draw(st.sampled_from([STRING, LIST, MAP])), d, s)})",
                lambda: f"int({self.expr(self.draw(st.sampled_from([UINT, DOUBLE, STRING, INT])), d, s)})",
                *self.common(INT, d, s),
            ]
        )

    def uint(self, d: int, s: dict[str, str]) -> str:
        return self.choice(
            [
                lambda: (
                    f"({self.expr(UINT, d, s)} {self.draw(st.sampled_from('+-*/%'))} {self.expr(UINT, d, s)})"
                ),
                lambda: f"uint({self.expr(self.draw(st.sampled_from([INT, DOUBLE, STRING, UINT])), d, s)})",
                *self.common(UINT, d, s),
            ]
        )

    def double(self, d: int, s: dict[str, str]) -> str:
        return self.choice(
            [
                lambda: (
                    f"({self.expr(DOUBLE, d, s)} {self.draw(st.sampled_from('+-*/'))} {self.expr(DOUBLE, d, s)})"
                ),
                lambda: f"-{self.expr(DOUBLE, d, s)}",
                lambda: f"double({self.expr(self.draw(st.sampled_from([INT, UINT, STRING, DOUBLE])), d, s)})",
                *self.common(DOUBLE, d, s),
            ]
        )

    def string(self, d: int, s: dict[str, str]) -> str:
        return self.choice(
            [
                lambda: f"({self.expr(STRING, d, s)} + {self.expr(STRING, d, s)})",
                lambda: f"string({self.expr(self.draw(st.sampled_from([INT, UINT, BOOL, STRING])), d, s)})",
                # Only finite literals: string() of NaN/infinity is "nan"/"inf" in C++ but "NaN"/"+Inf" in Go.
                lambda: f"string({self.draw(_double_values.map(_double_lit))})",
                *self.common(STRING, d, s),
            ]
        )

    def bool(self, d: int, s: dict[str, str]) -> str:
        return self.choice(
            [
                lambda: self.comparison(d, s),
                lambda: self.comparison(d, s),
                lambda: (
                    f"({self.expr(BOOL, d, s)} {self.draw(st.sampled_from(['&&', '||']))} {self.expr(BOOL, d, s)})"
                ),
                # Logical operators with a non-bool operand: an error unless the other side decides.
                lambda: (
                    f"({self.expr(BOOL, d, s)} {self.draw(st.sampled_from(['&&', '||']))} {self.expr(INT, d, s)})"
                ),
                lambda: f"!{self.expr(BOOL, d, s)}",
                lambda: self.membership(d, s),
                lambda: (
                    f"{self.expr(STRING, d, s)}.{self.draw(st.sampled_from(['contains', 'startsWith', 'endsWith']))}"
                    f"({self.expr(STRING, d, s)})"
                ),
                lambda: self.quantifier(d, s),
                *self.common(BOOL, d, s),
            ]
        )

    def list(self, d: int, s: dict[str, str]) -> str:
        return self.choice(
            [
                lambda: self.list_literal(d, s, self.any_type()),
                lambda: f"({self.expr(LIST, d, s)} + {self.expr(LIST, d, s)})",
                lambda: self.transform(d, s),
                lambda: f"({self.expr(BOOL, d, s)} ? {self.expr(LIST, d, s)} : {self.expr(LIST, d, s)})",
            ]
        )

    def map(self, d: int, s: dict[str, str]) -> str:
        return self.choice(
            [
                lambda: self.map_literal(d, s, value=self.any_type()),
                lambda: f"({self.expr(BOOL, d, s)} ? {self.expr(MAP, d, s)} : {self.expr(MAP, d, s)})",
            ]
        )

    # -- compound forms -------------------------------------------------------------------------------
    def comparison(self, d: int, s: dict[str, str]) -> str:
        op = self.draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        numeric = [INT, UINT, DOUBLE]
        left = self.draw(st.sampled_from([*SCALARS, *numeric, LIST, MAP]))
        # Mostly comparable operands (numbers compare across types); sometimes any type at all.
        if left in numeric:
            right = self.draw(st.sampled_from(numeric))
        elif self.draw(st.integers(0, 4)) == 0:
            right = self.any_type()
        else:
            right = left
        return f"({self.expr(left, d, s)} {op} {self.expr(right, d, s)})"

    def membership(self, d: int, s: dict[str, str]) -> str:
        t = self.draw(st.sampled_from(SCALARS))
        if self.draw(st.booleans()):
            return f"({self.expr(t, d, s)} in {self.list_literal(d, s, self.draw(st.sampled_from([t, *SCALARS])))})"
        key = self.draw(st.sampled_from(KEY_TYPES))
        return f"({self.expr(key, d, s)} in {self.map_literal(d, s, key)})"

    def iteration(self, d: int, s: dict[str, str], maps: bool) -> tuple[str, str, dict[str, str]]:
        """A range (list literal, or map literal iterated by key) plus the variable and the inner scope."""
        var = _VARIABLES[min(len(s), len(_VARIABLES) - 1)]
        if maps and self.draw(st.integers(0, 3)) == 0:
            key = self.draw(st.sampled_from(KEY_TYPES))
            return self.map_literal(d, s, key), var, {**s, var: key}
        elem = self.draw(st.sampled_from(SCALARS))
        return self.list_literal(d, s, elem), var, {**s, var: elem}

    def quantifier(self, d: int, s: dict[str, str]) -> str:
        target, var, inner = self.iteration(d, s, maps=True)
        macro = self.draw(st.sampled_from(["all", "exists", "exists_one"]))
        return f"{target}.{macro}({var}, {self.expr(BOOL, d, inner)})"

    def transform(self, d: int, s: dict[str, str]) -> str:
        # Lists only: map iteration order is unspecified (C++ CEL uses hash order), so the order of
        # the list that map()/filter() build from a map differs between implementations.
        target, var, inner = self.iteration(d, s, maps=False)
        out = self.draw(st.sampled_from(SCALARS))
        return self.choice(
            [
                lambda: f"{target}.map({var}, {self.expr(out, d, inner)})",
                lambda: f"{target}.map({var}, {self.expr(BOOL, d, inner)}, {self.expr(out, d, inner)})",
                lambda: f"{target}.filter({var}, {self.expr(BOOL, d, inner)})",
            ]
        )


@st.composite
def cel_expressions(draw: Callable[[st.SearchStrategy[Any]], Any], depth: int = MAX_DEPTH) -> str:
    """A random CEL expression (source text) of a random type, built from literals only."""
    gen = _Gen(draw)
    return gen.expr(draw(st.sampled_from(ELEMENT_TYPES)), depth, {})
