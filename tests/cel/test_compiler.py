"""The compiler: CEL semantics through both generated paths, error rules, limits and names."""

from __future__ import annotations

import datetime as dt
import math
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chamberlain.cel import CompileError, EvaluationError, UInt, compile
from chamberlain.cel.compiler import Options, build
from chamberlain.cel.parser import parse
from chamberlain.cel.values import Timestamp

ACT = {
    "request": {
        "principal": {"id": "alice", "roles": ["finance"], "attr": {"department": "engineering", "level": 3}},
        "resource": {
            "kind": "invoice",
            "id": "inv-1",
            "attr": {"owner": "alice", "status": "DRAFT", "amount": 99.5},
        },
    },
    "xs": [1, 2, 3],
    "m": {"a": 1, "b": {"c": True}},
    "flag": True,
    "s": "hello",
}


class _FellBack(Exception):
    """Raised where the fast path would hand over to the exact path."""


def _no_fallback(_activation):
    raise _FellBack


def both_paths(expression: str, activation=ACT):
    """(fast, exact) outcomes: ("value", v), ("error", name), or ("fell back", None) for the fast path."""
    tree = parse(expression)
    options = Options()
    fast, _ = build(tree, expression, options, fast=True, exact=_no_fallback)
    exact, _ = build(tree, expression, options, fast=False)
    outcomes = []
    for path in (fast, exact):
        try:
            outcomes.append(("value", path(activation)))
        except _FellBack:
            outcomes.append(("fell back", None))
        except Exception as exc:
            outcomes.append(("error", type(exc).__name__))
    return outcomes


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (
            'request.resource.attr.owner == request.principal.id && request.resource.attr.status in ["DRAFT", "PENDING"]',
            True,
        ),
        ("1 == 1.0 && 1 == 1u && 1u == 1.0", True),
        ("true == 1", False),
        ("[1, 2] == [1.0, 2u]", True),
        ("[true] == [1]", False),
        ("{'a': 1} == {'a': 1.0}", True),
        ("{1: 'x'}[1u] == 'x' && {1: 'x'}[1.0] == 'x'", True),
        ("1 < 1.5 && 2u > 1 && -1 < 0u", True),
        ("'a' < 'b' && b'a' < b'b' && false < true", True),
        ("double('NaN') == double('NaN')", False),
        ("[double('NaN')] == [double('NaN')]", False),
        ("2 in [1, 2.0]", True),
        ("'b' in {'a': 1, 'b': 2}", True),
        ("'b' in ['a']", False),
        ("xs.all(x, x > 0) && xs.exists(x, x == 2) && xs.exists_one(x, x > 2)", True),
        ("xs.map(x, x * 2) == [2, 4, 6]", True),
        ("xs.map(x, x > 1, x * 10) == [20, 30]", True),
        ("xs.filter(x, x % 2 == 1) == [1, 3]", True),
        ("has(m.a) && !has(m.z) && has(m.b.c)", True),
        ("m.b.c ? 'yes' : 'no'", "yes"),
        ("cel.bind(y, 10, y * y)", 100),
        ("[1, 2].all(i, v, v > i)", True),
        ("{'a': 1}.transformMap(k, v, v + 1) == {'a': 2}", True),
        ("7 / 2 == 3 && -7 / 2 == -3 && 7 % -3 == 1 && -7 % 3 == -1", True),
        ("5u / 2u", UInt(2)),
        ("1.0 / 0.0", math.inf),
        ("[1] + [2, 3]", [1, 2, 3]),
        ("'ab' + 'c'", "abc"),
        ("!flag || s == 'hello'", True),
        ("xs[0] + xs[2]", 4),
    ],
)
def test_values_agree_on_both_paths(expression, expected):
    (fast_kind, fast_value), (exact_kind, exact_value) = both_paths(expression)
    assert exact_kind == "value" and exact_value == expected and type(exact_value) is type(expected)
    assert fast_kind in ("value", "fell back")
    if fast_kind == "value":
        assert fast_value == expected and type(fast_value) is type(expected)
    assert compile(expression).evaluate(ACT) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("false && 1 / 0 == 1", False),
        ("1 / 0 == 1 && false", False),
        ("true || m.missing", True),
        ("m.missing || true", True),
        ("xs.all(x, 1 / (x - 1) > 0 && false)", False),
        ("[0, 1].exists(x, 1 / x == 1)", True),
        ("m.missing == 1 ? 1 : 2", None),
    ],
)
def test_errors_are_absorbed_only_where_cel_says(expression, expected):
    program = compile(expression)
    if expected is None:
        with pytest.raises(EvaluationError):
            program.evaluate(ACT)
    else:
        assert program.evaluate(ACT) is expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("9223372036854775807 + 1", "overflow"),
        ("-9223372036854775808 - 1", "overflow"),
        ("-(-9223372036854775808)", "overflow"),
        ("-9223372036854775808 / -1", "overflow"),
        ("18446744073709551615u + 1u", "overflow"),
        ("0u - 1u", "overflow"),
        ("1 / 0", "division by zero"),
        ("1 % 0", "modulus by zero"),
        ("m.nope", "no such key"),
        ("xs[3]", "index out of bounds"),
        ("xs[-1]", "index out of bounds"),
        ("1 + 1.0", "no such overload"),
        ("1 + true", "no such overload"),
        ("'a' < 1", "no such overload"),
        ("[1] < [2]", "no such overload"),
        ("'ab' in 'abc'", "no such overload"),
        ("flag && 1", "no such overload"),
        ("nothere", "undeclared reference"),
        ("{1: 'a', 1u: 'b'}", "repeated key"),  # cel-go keeps both entries, which a dict cannot
        ("s[0]", "no such key: 0"),  # cel-go: a value without entries has no key 0
    ],
)
def test_errors_are_evaluation_errors(expression, message):
    with pytest.raises(EvaluationError, match=message):
        compile(expression).evaluate(ACT)


@pytest.mark.parametrize(
    "activation", [{}, {"m": None}, {"m": [1]}, {"m": "text"}, {"m": object()}, {"m": {1, 2}}]
)
def test_odd_activations_give_evaluation_errors_only(activation):
    with pytest.raises(EvaluationError):
        compile("m.a.b + 1 > m.c").evaluate(activation)


def test_unknown_function_fails_at_compile_time_with_position():
    with pytest.raises(CompileError) as info:
        compile("1 + \n  nosuch(2)")
    assert info.value.line == 2 and info.value.column == 3
    assert "nosuch" in str(info.value) and "^" in str(info.value)


def test_wrong_arity_is_a_compile_error():
    with pytest.raises(CompileError, match="overload"):
        compile("'a'.startsWith()")


def test_declared_variables_resolve_at_compile_time():
    program = compile("a.b.c + 1", variables={"a.b", "x"})
    assert program.evaluate({"a.b": {"c": 1}}) == 2
    with pytest.raises(CompileError, match="undeclared reference to 'y'"):
        compile("y + 1", variables={"x"})


def test_container_resolution_prefers_the_most_qualified_name():
    program = compile("x", container="com.example")
    assert program.evaluate({"com.example.x": 1, "x": 2}) == 1
    assert program.evaluate({"x": 2}) == 2


def test_type_identifiers_and_type_function():
    assert compile("type(1) == int && type(1u) == uint && type('a') == string").evaluate({}) is True
    assert compile("type(type(1)) == type").evaluate({}) is True


def test_compile_is_cached_by_text():
    assert compile("1 + 2") is compile("1 + 2")


def test_deep_nesting_within_the_limit_compiles_and_evaluates():
    depth = 240
    assert compile("(" * depth + "1" + ")" * depth).evaluate({}) == 1
    chain = " && ".join(["true"] * 240)
    assert compile(chain).evaluate({}) is True
    nested_calls = "size(" * 120 + "'abc'" + ")" * 120
    with pytest.raises(EvaluationError):  # size(int) has no overload; the point is no crash
        compile(nested_calls).evaluate({})
    nested_lists = "[" * 200 + "1" + "]" * 200
    assert compile(f"size({nested_lists})").evaluate({}) == 1


def test_deeply_nested_comprehensions_keep_their_variables():
    expression = "[[1, 2], [3]].map(a, a.map(b, [10].map(c, a.size() * 100 + b * c)))"
    assert compile(expression).evaluate({}) == [[[210], [220]], [[130]]]


def test_shadowing_in_nested_comprehensions():
    assert compile("[1, 2].map(x, [10].map(x, x + 1))").evaluate({}) == [[11], [11]]


def test_fast_path_never_disagrees_with_exact_path_on_conformance_expressions():
    """Over every applicable cel-spec expression: where the fast path returns, the exact path agrees."""
    from tests.cel.conformance import data_dir, require_data
    from tests.cel.conformance.celspec import load_cases, same_value

    directory = data_dir() / "cel-spec"
    require_data(directory, "cel-spec")
    compared = 0
    for case in load_cases(directory):
        if case.not_applicable:
            continue
        options = Options(case.container, case.disable_macros, case.variables, case.variables is not None)
        try:
            tree = parse(case.expr)
            fast, _ = build(tree, case.expr, options, fast=True, exact=_no_fallback)
            exact, _ = build(tree, case.expr, options, fast=False)
        except CompileError:
            continue
        try:
            fast_value = fast(case.bindings)
        except Exception:
            continue  # an error or a fallback: the exact path decides, nothing to compare
        exact_value = exact(case.bindings)
        assert same_value(exact_value, fast_value), (case.name, fast_value, exact_value)
        compared += 1
    assert compared > 1000


STRINGS = [
    "",
    "a",
    "ab",
    "abc",
    "abd",
    "ab\x00",
    "ac",
    "b",
    "aa",
    "ab\U0010ffff",
    "\U0010ffff",
    "é",
    "ab" * 3,
]


@pytest.mark.parametrize("affix", ["a", "ab", "ab\U0010ffff", "\U0010ffff", "é", "", "{a}", "'\""])
@pytest.mark.parametrize("function", ["startsWith", "endsWith", "contains"])
def test_string_methods_with_a_constant_argument_agree_with_python(function, affix):
    python = {"startsWith": str.startswith, "endsWith": str.endswith, "contains": str.__contains__}[function]
    expression = f"s.{function}({affix!r})"
    for text in [*STRINGS, affix, affix + "x", "x" + affix]:
        (fast_kind, fast_value), (_, exact_value) = both_paths(expression, {"s": text})
        assert fast_kind == "value" and fast_value is exact_value is python(text, affix), text
    for odd in (1, None, ["a"], b"a"):
        (fast_kind, _), (exact_kind, _) = both_paths(expression, {"s": odd})
        assert fast_kind == "fell back" and exact_kind == "error"


class _Text(str):
    """A str subclass: not a CEL string, so the string functions must refuse it on both paths."""


@pytest.mark.parametrize(
    "expression",
    ["s.startsWith('a')", "s.endsWith('a')", "s.contains('a')", "xs.exists(x, x.startsWith('a'))"],
)
def test_string_methods_refuse_str_subclasses_on_both_paths(expression):
    activation = {"s": _Text("abc"), "xs": [_Text("abc")]}
    (fast_kind, _), (exact_kind, _) = both_paths(expression, activation)
    assert fast_kind == "fell back" and exact_kind == "error"


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("xs.exists_one(x, x > 2)", True),
        ("xs.exists(x, x > 2)", True),
        ("xs.all(x, x > 0)", True),
        ("xs.filter(x, x > 1)", [2, 3]),
        ("xs.map(x, x + 1)", [2, 3, 4]),
        ("m.exists(k, k == 'b')", True),
        ("s.startsWith('he') && s.endsWith('lo') && s.contains('ll')", True),
        ("timestamp('2024-01-02T00:00:00Z') > timestamp(request.resource.attr.status + '') ", None),
        ("duration('1h') > duration('1m')", True),
        ("hierarchy('a.b').ancestorOf(hierarchy(request.resource.attr.owner + '.x.y'))", False),
    ],
)
def test_fast_path_decides_common_expressions_itself(expression, expected):
    """No fallback to the exact path where the fast one can decide (a missing builtin would)."""
    (fast_kind, fast_value), (exact_kind, exact_value) = both_paths(expression)
    if expected is None:  # an error: the exact path decides
        assert fast_kind == "fell back" and exact_kind == "error"
        return
    assert fast_kind == "value" and fast_value == expected == exact_value


def test_a_root_macro_runs_inline_in_the_fast_function():
    program = compile("xs.exists(x, x > 1)")
    program.warm_up()
    assert "def _c" not in program.fast_source and "for " in program.fast_source
    assert program.evaluate(ACT) is True
    assert program.evaluate({"xs": {2: "a"}}) is True
    assert program.evaluate({"xs": []}) is False
    for bad in ({"xs": "text"}, {"xs": [1, "a"]}, {}):
        with pytest.raises(EvaluationError):
            program.evaluate(bad)
    assert compile("xs.exists(x, x == 'a')").evaluate({"xs": [1, "a"]}) is True


@pytest.mark.parametrize(
    ("expression", "activation", "expected"),
    [
        ("timestamp(t) < timestamp('2024-01-01T00:00:00Z')", {"t": "2023-12-31T23:59:59Z"}, True),
        (
            "timestamp(t) >= timestamp(u)",
            {"t": "2024-01-01T01:00:00+01:00", "u": "2024-01-01T00:00:00Z"},
            True,
        ),
        ("timestamp(t) > timestamp(u)", {"t": 10, "u": "1970-01-01T00:00:09Z"}, True),
        ("duration(d) <= duration('1h')", {"d": "59m"}, True),
        (
            "timestamp(t) < d",
            {
                "t": "2024-01-01T00:00:00Z",
                "d": Timestamp.from_datetime(dt.datetime(2025, 1, 1, tzinfo=dt.UTC)),
            },
            True,
        ),
        (
            "d > timestamp('2024-01-01T00:00:00Z')",
            {"d": Timestamp.from_datetime(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))},
            True,
        ),
        ("d > timestamp('2024-01-01T00:00:00Z')", {"d": "2025-01-01T00:00:00Z"}, None),
        ("timestamp(t) < duration('1h')", {"t": "2024-01-01T00:00:00Z"}, None),
        ("timestamp(t) < timestamp('2024-01-01T00:00:00Z')", {"t": "yesterday"}, None),
    ],
)
def test_timestamp_and_duration_comparisons(expression, activation, expected):
    (fast_kind, fast_value), (exact_kind, exact_value) = both_paths(expression, activation)
    if expected is None:
        assert fast_kind == "fell back" and exact_kind == "error"
    else:
        assert fast_kind == "value" and fast_value is exact_value is expected


_EDGE_TEXT = st.text(alphabet="ab\x00\x7f\U0010ffff", max_size=4)


@settings(max_examples=300, deadline=None)
@given(text=_EDGE_TEXT, affix=_EDGE_TEXT)
def test_constant_prefix_and_suffix_forms_match_python(text, affix):
    for function, python in (("startsWith", str.startswith), ("endsWith", str.endswith)):
        (fast_kind, fast_value), _ = both_paths(f"s.{function}({affix!r})", {"s": text})
        assert fast_kind == "value" and fast_value is python(text, affix)


def test_a_repeated_map_key_keeps_the_last_value_as_in_cel_go():
    assert compile("{'a': 1, 'a': 2}").evaluate({}) == {"a": 2}
    assert compile("{k: 1, 'a': 2}['a']").evaluate({"k": "a"}) == 2


def test_expressions_differing_in_their_strings_share_their_compiled_code():
    """Strings are names in the generated source: one code object serves both programs."""
    first, second = (compile(f"request.resource.attr.status == {word!r}") for word in ("DRAFT_1", "DRAFT_22"))
    first.warm_up()
    second.warm_up()
    assert first.exact_source == second.exact_source and first.fast_source == second.fast_source
    assert first.evaluate.__code__ is second.evaluate.__code__ and first.evaluate is not second.evaluate
    act = {"request": {"resource": {"attr": {"status": "DRAFT_22"}}}}
    assert (first.evaluate(act), second.evaluate(act)) == (False, True)


@pytest.mark.parametrize(
    "template",
    [
        "s == {}",
        "s.startsWith({}) || s.endsWith({})",
        "s in [{}, 'x'] && {{{}: 1}}[s] == 1",
        "bytes(s) == b{}",
        "s.matches('^' + {} + '$')",
    ],
)
def test_programs_of_the_same_shape_keep_their_own_strings(template):
    words = ("hello", "a much longer word")
    first, second = (compile(template.format(*[repr(w)] * template.count("{}"))) for w in words)
    for word, expected in zip(words, [(True, False), (False, True)], strict=True):
        act = {**ACT, "s": word}
        assert (first.evaluate(act), second.evaluate(act)) == expected  # the fast path
        assert (first._exact(act), second._exact(act)) == expected  # the exact path


@pytest.mark.parametrize("expression", ["1.5.a", "1.5.a.b", "true.a", "null.a", "2.a"])
def test_a_field_of_a_literal_is_an_error_without_a_compile_time_warning(expression):
    """The planner puts known attributes into a plan as literals (``R.attr.x.y`` with x = 1.5 is
    ``1.5.y``); spelt ``1.5['y']`` in the generated source, CPython warned (a SyntaxError under -W error)."""
    program = compile(expression)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SyntaxWarning)
        program.warm_up()
    assert program.fast_source is not None and "_select(" in program.fast_source
    with pytest.raises(EvaluationError, match="no such key: a"):
        program.evaluate({})
