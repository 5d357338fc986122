"""The CEL parser: literals, precedence, member syntax, errors, limits, and cel-spec's expressions."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chamberlain.cel.ast import (
    Call,
    Expr,
    FieldInit,
    Ident,
    ListExpr,
    Literal,
    MapEntry,
    MapExpr,
    Select,
    StructExpr,
)
from chamberlain.cel.errors import CompileError
from chamberlain.cel.parser import MAX_DEPTH, RESERVED, parse
from chamberlain.cel.values import UInt

CELSPEC_DIR = Path("/work/shared/conformance/cel-spec")


def value(expression: str):
    node = parse(expression)
    assert isinstance(node, Literal), node
    return node.value


def error(expression: str) -> CompileError:
    with pytest.raises(CompileError) as info:
        parse(expression)
    return info.value


def shape(node: Expr) -> str:
    """A compact rendering: calls as name(args), target.name(args) for member calls."""
    match node:
        case Literal(value=v):
            return repr(v)
        case Ident(name=name, absolute=absolute):
            return "." * absolute + name
        case Select(operand=operand, field=field, optional=optional):
            return f"{shape(operand)}.{'?' * optional}{field}"
        case Call(function=function, args=args, target=None):
            return f"{function}({', '.join(shape(a) for a in args)})"
        case Call(function=function, args=args, target=target):
            return f"{shape(target)}.{function}({', '.join(shape(a) for a in args)})"
        case ListExpr(elements=elements, optional_indices=optional):
            return "[" + ", ".join("?" * (i in optional) + shape(e) for i, e in enumerate(elements)) + "]"
        case MapExpr(entries=entries):
            return (
                "{" + ", ".join(f"{'?' * e.optional}{shape(e.key)}: {shape(e.value)}" for e in entries) + "}"
            )
        case StructExpr(type_name=name, fields=fields):
            return (
                name + "{" + ", ".join(f"{'?' * f.optional}{f.field}: {shape(f.value)}" for f in fields) + "}"
            )
    raise AssertionError(node)


def children(node: Expr) -> list[Expr]:
    match node:
        case Select(operand=operand):
            return [operand]
        case Call(args=args, target=target):
            return [*args] + ([target] if target is not None else [])
        case ListExpr(elements=elements):
            return list(elements)
        case MapExpr(entries=entries):
            return [x for e in entries for x in (e.key, e.value)]
        case StructExpr(fields=fields):
            return [f.value for f in fields]
    return []


def height(root: Expr) -> int:
    """The AST's height (a leaf is 0), computed without recursion."""
    best, stack = 0, [(root, 0)]
    while stack:
        node, depth = stack.pop()
        best = max(best, depth)
        stack.extend((child, depth + 1) for child in children(node))
    return best


# --- literals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("123", 123),
        ("007", 7),
        ("0x1F", 31),
        ("0xff", 255),
        ("-1", -1),
        ("-0x10", -16),
        ("9223372036854775807", 2**63 - 1),
        ("-9223372036854775808", -(2**63)),
        ("- 5", -5),
    ],
)
def test_int_literals(text, expected):
    result = value(text)
    assert result == expected and type(result) is int


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0u", 0), ("42u", 42), ("42U", 42), ("0x1Fu", 31), ("18446744073709551615u", 2**64 - 1)],
)
def test_uint_literals(text, expected):
    result = value(text)
    assert result == expected and type(result) is UInt


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.5", 1.5),
        ("0.0", 0.0),
        ("1e3", 1000.0),
        ("1E-3", 0.001),
        ("2.5e+2", 250.0),
        (".5", 0.5),
        (".5e1", 5.0),
        ("-1.5", -1.5),
        ("1.7976931348623157e308", 1.7976931348623157e308),
    ],
)
def test_double_literals(text, expected):
    result = value(text)
    assert result == expected and type(result) is float


def test_negative_zero_double_keeps_its_sign():
    assert math.copysign(1, value("-0.0")) == -1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("9223372036854775808", "invalid int literal"),
        ("-9223372036854775809", "invalid int literal"),
        ("0x8000000000000000", "invalid int literal"),
        ("--9223372036854775808", "invalid int literal"),
        ("-(9223372036854775808)", "invalid int literal"),
        ("[9223372036854775808]", "invalid int literal"),
        ("18446744073709551616u", "invalid uint literal"),
        ("1e999", "invalid double literal"),
        ("1.", "Syntax error"),
        ("0X1F", "Syntax error"),
        ("1.5u", "Syntax error"),
    ],
)
def test_literal_errors(text, message):
    assert message in error(text).reason


def test_bool_and_null():
    assert value("true") is True
    assert value("false") is False
    assert value("null") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('""', ""),
        ("''", ""),
        ("'\"\"'", '""'),
        ("'''x''x'''", "x''x"),
        ('"""a"b"""', 'a"b'),
        ('"\\""', '"'),
        ('"\\\\"', "\\"),
        ('r"\\\\"', "\\\\"),
        ("r'\\n'", "\\n"),
        ('R"\\d+"', "\\d+"),
        ("r'''a\\'''", "a\\"),
        ('"\\a\\b\\f\\n\\r\\t\\v"', "\a\b\f\n\r\t\v"),
        ("'\\\\ \\? \\\" \\' \\`'", "\\ ? \" ' `"),
        ('"\\303\\277"', "Ã¿"),
        ('"\\377"', "ÿ"),
        ('"\\000"', "\x00"),
        ('"\\xFF"', "ÿ"),
        ('"\\X4a"', "J"),
        ('"\\u00e9\\u4e2D"', "é中"),
        ('"\\U0001F62C"', "😬"),
        ('"\\U0010FFFF"', "\U0010ffff"),
        ('"ÿ ünïcödé 😀"', "ÿ ünïcödé 😀"),
        ('"""line1\nline2"""', "line1\nline2"),
        ("'''a\r\nb\rc'''", "a\nb\nc"),
        ("r'''a\r\nb'''", "a\nb"),
        ('"""a\\"""b"""', 'a"""b'),
    ],
)
def test_string_literals(text, expected):
    result = value(text)
    assert result == expected and type(result) is str


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('b"abc"', b"abc"),
        ("B'abc'", b"abc"),
        ('b"ÿ"', b"\xc3\xbf"),
        ('b"\\303\\277"', b"\xc3\xbf"),
        ('b"\\377"', b"\xff"),
        ('b"\\xff\\X00"', b"\xff\x00"),
        ('b"\\a\\n\\\\\\?"', b"\a\n\\?"),
        ("b'''a\nb'''", b"a\nb"),
        ('br"\\x00"', b"\\x00"),
        ("bR'\\377'", b"\\377"),
        ('Br"""a\\b"""', b"a\\b"),
        ('BR"\\u0041"', b"\\u0041"),
        ("b''", b""),
    ],
)
def test_bytes_literals(text, expected):
    result = value(text)
    assert result == expected and type(result) is bytes


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ('"\\s"', "invalid escape sequence '\\s'", 2),
        ('"ab\\"', "unterminated string literal", 1),
        ('"\\x4"', "invalid escape sequence '\\x'", 2),
        ('"\\u12"', "invalid escape sequence '\\u'", 2),
        ('"\\400"', "invalid escape sequence '\\4'", 2),
        ('"\\08"', "invalid escape sequence '\\0'", 2),
        ('"\\uD83D\\uDE03"', "invalid unicode code point", 2),
        ('"\\UD83DDE03"', "invalid unicode code point", 2),
        ('"\\U00110000"', "invalid unicode code point", 2),
        ('b"\\u0041"', "not allowed in bytes", 3),
        ('b"\\U00000041"', "not allowed in bytes", 3),
        ('"a\nb"', "unterminated string literal", 1),
        ("'a\rb'", "unterminated string literal", 1),
        ("'''abc", "unterminated string literal", 3),
        ("x + 'abc", "unterminated string literal", 5),
    ],
)
def test_string_errors(text, message, column):
    err = error(text)
    assert message in err.reason
    assert (err.line, err.column) == (1, column)


def test_rb_prefix_is_not_a_bytes_literal():
    # langdef: BYTES_LIT ::= [bB] STRING_LIT, so the raw marker comes second (as in cel-go).
    assert "Syntax error" in error("rb'abc'").reason


# --- operators -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a + b * c", "_+_(a, _*_(b, c))"),
        ("(a + b) * c", "_*_(_+_(a, b), c)"),
        ("a - b - c", "_-_(_-_(a, b), c)"),
        ("a / b % c * d", "_*_(_%_(_/_(a, b), c), d)"),
        ("a < b == c", "_==_(_<_(a, b), c)"),
        ("a <= b != c >= d > e", "_>_(_>=_(_!=_(_<=_(a, b), c), d), e)"),
        ("a in b", "@in(a, b)"),
        ("a + 1 in b && c", "_&&_(@in(_+_(a, 1), b), c)"),
        ("a || b && c", "_||_(a, _&&_(b, c))"),
        ("a && b || c && d", "_||_(_&&_(a, b), _&&_(c, d))"),
        ("a ? b : c", "_?_:_(a, b, c)"),
        ("a ? b : c ? d : e", "_?_:_(a, b, _?_:_(c, d, e))"),
        ("a || b ? c + d : e && f", "_?_:_(_||_(a, b), _+_(c, d), _&&_(e, f))"),
        ("!a", "!_(a)"),
        ("!!a", "a"),
        ("!!!a", "!_(a)"),
        ("-a", "-_(a)"),
        ("--a", "a"),
        ("---a", "-_(a)"),
        ("-a.b", "-_(a.b)"),
        ("!a[0]", "!_(_[_](a, 0))"),
        ("-a * b", "_*_(-_(a), b)"),
        ("4--4", "_-_(4, -4)"),
        ("4 - -4.5", "_-_(4, -4.5)"),
        ("a-1", "_-_(a, 1)"),
        ("-(1)", "-_(1)"),
        ("--1", "1"),
        ("---1", "-_(1)"),
        ("-1u", "-_(UInt(1))"),
        ("-'a'", "-_('a')"),
        ("!true", "!_(True)"),
    ],
)
def test_precedence_and_associativity(text, expected):
    assert shape(parse(text)) == expected


def test_unary_operators_do_not_mix_without_parentheses():
    # langdef: Unary = Member | "!" {"!"} Member | "-" {"-"} Member
    for text in ("!-a", "-!a", "!--1"):
        assert "Syntax error" in error(text).reason
    assert shape(parse("!(-a)")) == "!_(-_(a))"
    # ... but a signed number is a literal, as in cel-go's grammar
    assert shape(parse("!-1")) == "!_(-1)"
    assert shape(parse("!!-2.5")) == "-2.5"
    assert shape(parse("!-9223372036854775808")) == "!_(-9223372036854775808)"


def test_long_logical_chains_are_balanced():
    node = parse(" || ".join(f"x{i}" for i in range(1000)))
    assert height(node) == math.ceil(math.log2(1000))
    names = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Call):
            assert current.function == "_||_"
            stack.extend(reversed(current.args))
        else:
            names.append(current.name)
    assert names == [f"x{i}" for i in range(1000)]  # term order is kept


# --- members, calls, aggregates --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a.b.c", "a.b.c"),
        ("a.b[c].d", "_[_](a.b, c).d"),
        ("f(x)", "f(x)"),
        ("f()", "f()"),
        ("f(x, y, z)", "f(x, y, z)"),
        ("a.f(x)", "a.f(x)"),
        ("a.b.f()", "a.b.f()"),
        ("math.greatest(1, 2)", "math.greatest(1, 2)"),
        ("size(a).f(b)[0]", "_[_](size(a).f(b), 0)"),
        ("has(a.b)", "has(a.b)"),
        ("l.all(x, x > 0)", "l.all(x, _>_(x, 0))"),
        ("cel.bind(x, 1, x + 1)", "cel.bind(x, 1, _+_(x, 1))"),
        ("[1, 2].exists(x, x == 2)", "[1, 2].exists(x, _==_(x, 2))"),
        (".a", ".a"),
        (".a.b", ".a.b"),
        (".f(1)", ".f(1)"),
        ("a.?b", "a.?b"),
        ("a.?b.c", "a.?b.c"),
        ("a[?b]", "_[?_](a, b)"),
        ("a[?0][1]", "_[_](_[?_](a, 0), 1)"),
        ("[a, ?b, c]", "[a, ?b, c]"),
        ("[]", "[]"),
        ("[1,]", "[1]"),
        ("[,]", "[]"),
        ("{}", "{}"),
        ("{'a': 1, 2: [3],}", "{'a': 1, 2: [3]}"),
        ("{?k: v, 'x': y}", "{?k: v, 'x': y}"),
        ("{a ? b : c: d}", "{_?_:_(a, b, c): d}"),
        ("Msg{}", "Msg{}"),
        ("a.b.Type{f: 1, ?g: 2,}", "a.b.Type{f: 1, ?g: 2}"),
        (".a.b.Type{f: x}", ".a.b.Type{f: x}"),
        ("T{f: T{g: 1}}.f.g", "T{f: T{g: 1}}.f.g"),
        ("T{as: 1, if: 2, while: 3}", "T{as: 1, if: 2, while: 3}"),
        ("T{`in`: true}.`in`", "T{in: True}.in"),
        ("m.`content-type`", "m.content-type"),
        ("m.`foo.bar/baz qux`", "m.foo.bar/baz qux"),
        ("a.as", "a.as"),
        ("a.package()", "a.package()"),
        ("a . b ( c )", "a.b(c)"),
    ],
)
def test_members_calls_and_aggregates(text, expected):
    assert shape(parse(text)) == expected


def test_node_types_and_fields():
    node = parse("a.b.T{?f: 1}")
    assert node == StructExpr(0, "a.b.T", (FieldInit(6, "f", Literal(10, 1), True),))
    assert parse("{?1: 2}") == MapExpr(0, (MapEntry(1, Literal(2, 1), Literal(5, 2), True),))
    assert parse("[a, ?b]") == ListExpr(0, (Ident(1, "a"), Ident(5, "b")), (1,))
    assert parse(".x") == Ident(0, "x", absolute=True)
    assert parse("a.?b") == Select(1, Ident(0, "a"), "b", optional=True)
    for name in (n for node in (parse("a.b(c)"), parse("T{f: 1}")) for n in _names(node)):
        assert type(name) is str  # not lark tokens


def _names(node: Expr) -> list[object]:
    match node:
        case Call(function=f, target=target):
            return [f, *(_names(target) if target is not None else [])]
        case Ident(name=n):
            return [n]
        case StructExpr(type_name=t, fields=fields):
            return [t, *(f.field for f in fields)]
    return []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("f(a,)", "Syntax error: unexpected ')'"),  # langdef: no trailing comma in argument lists
        ("(a){}", "Syntax error: unexpected '{'"),
        ("a.f(){}", "Syntax error: unexpected '{'"),
        ("a.?b.T{}", "Syntax error: unexpected '{'"),
        ("a.`b`()", "Syntax error"),
        ("`a`", "Syntax error"),
        ("T{f: 1, f2}", "Syntax error"),
        ("[?]", "Syntax error"),
        ("a.?", "Syntax error"),
        ("a[]", "Syntax error"),
        ("{1}", "Syntax error"),
        ("{:1}", "Syntax error"),
    ],
)
def test_member_and_aggregate_errors(text, message):
    assert message in error(text).reason


# --- keywords and reserved words -------------------------------------------------------------

RESERVED_WORDS = [  # langdef's list
    *("as", "break", "const", "continue", "else", "for", "function", "if", "import", "let", "loop"),
    *("package", "namespace", "return", "var", "void", "while"),
]


def test_reserved_words_match_the_language_definition():
    assert set(RESERVED_WORDS) == RESERVED


@pytest.mark.parametrize("word", RESERVED_WORDS)
def test_reserved_words_are_not_identifiers(word):
    for text in (word, f"{word}(1)", f".{word}", f"x + {word}"):
        assert error(text).reason == f"reserved identifier: {word}"
    # ... but are fine as selectors, member function names and field names
    assert shape(parse(f"a.{word}")) == f"a.{word}"
    assert shape(parse(f"a.{word}()")) == f"a.{word}()"
    assert shape(parse(f"T{{{word}: 1}}")) == f"T{{{word}: 1}}"


@pytest.mark.parametrize("word", ["true", "false", "null", "in"])
def test_keywords_are_not_names(word):
    for text in (f"a.{word}", f"a.{word}()", f"T{{{word}: 1}}", f"a.?{word}"):
        assert "Syntax error" in error(text).reason
    assert shape(parse(f"a.`{word}`")) == f"a.{word}"


def test_keyword_prefixes_are_identifiers():
    assert shape(parse("index + trueish + nullable + in_x + asx")) == (
        "_+_(_+_(_+_(_+_(index, trueish), nullable), in_x), asx)"
    )
    assert shape(parse("r + b + br")) == "_+_(_+_(r, b), br)"
    assert shape(parse("bytes(x)")) == "bytes(x)"
    assert "unexpected keyword 'in'" in error("in").reason


# --- whitespace, comments, positions ---------------------------------------------------------


def test_whitespace_and_comments():
    text = "a // first\n\t+\r\n b\f// trailing comment"
    assert shape(parse(text)) == "_+_(a, b)"
    assert shape(parse("// leading\n1")) == "1"
    assert "Syntax error" in error("a +\v b").reason  # \v is not CEL whitespace
    assert "Syntax error" in error("a\u00a0+ b").reason


def test_positions():
    node = parse("ab + f(c).d[e] ? x : -y")
    assert isinstance(node, Call) and node.pos == 15  # the '?'
    plus = node.args[0]
    assert plus.pos == 3 and plus.args[0].pos == 0
    index = plus.args[1]
    assert index.function == "_[_]" and index.pos == 11
    select = index.args[0]
    assert isinstance(select, Select) and select.pos == 9  # the '.'
    assert select.operand.pos == 5  # call at its name
    assert node.args[2].pos == 21  # '-'
    assert parse("a.size()").pos == 2
    assert parse("  [1]").pos == 2
    assert parse("x\n  .y").pos == 4
    assert parse("-5").pos == 0
    assert parse("'é' + 'ü'").args[1].pos == 6  # code points, not bytes


@pytest.mark.parametrize(
    ("text", "reason", "line", "column"),
    [
        ("1 + )", "Syntax error: unexpected ')', expected an expression", 1, 5),
        ("(1 + 2", "Syntax error: unexpected end of expression, expected ')'", 1, 7),
        ("1 +", "Syntax error: unexpected end of expression, expected an expression", 1, 4),
        ("", "Syntax error: unexpected end of expression, expected an expression", 1, 1),
        ("a b", "Syntax error: unexpected 'b'", 1, 3),
        ("a &\n b", "Syntax error: unexpected character '&'", 1, 3),
        ("x == 1 &&\n  y ==== 2", "Syntax error: unexpected '=='", 2, 7),
        ("a.b.\n  1", "Syntax error: unexpected '1'", 2, 3),
        ("f(1, 2", "Syntax error: unexpected end of expression, expected ',' or ')'", 1, 7),
        ("[1, 2", "Syntax error: unexpected end of expression, expected ',' or ']'", 1, 6),
        ("a.b(", "Syntax error: unexpected end of expression", 1, 5),
        ("a # b", "Syntax error: unexpected character '#'", 1, 3),
    ],
)
def test_syntax_error_positions(text, reason, line, column):
    err = error(text)
    assert err.reason.startswith(reason), err.reason
    assert (err.line, err.column) == (line, column)


def test_error_renders_the_line_with_a_caret():
    err = error("a &&\n  b +* c")
    assert (
        str(err)
        == "Syntax error: unexpected '*', expected an expression at line 2, column 6\n |   b +* c\n |      ^"
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*"ab1.(){}[]?:,!-+*<=>&|'\"\\`rx_ \n\t0u", "in", "//"])).map("".join))
def test_any_text_parses_or_raises_compile_error(text):
    try:
        parse(text)
    except CompileError:
        pass


def test_non_string_input_is_a_compile_error():
    with pytest.raises(CompileError):
        parse(b"1")  # type: ignore[arg-type]
    assert "invalid code point" in error("'\ud800'").reason


# --- limits ----------------------------------------------------------------------------------


def nested(template: str, depth: int, leaf: str = "1") -> str:
    """``template`` holds ``@`` where the next level goes, e.g. ``"(@)"``."""
    before, after = template.split("@")
    return before * depth + leaf + after * depth


# cel-go's two limits: an expression nested inside 250 others, or operator/select/index chains
# longer than 250, fail; one level less parses.
@pytest.mark.parametrize(
    ("template", "allowed", "message"),
    [
        ("(@)", MAX_DEPTH - 1, "expression recursion limit exceeded: 250"),
        ("[@]", MAX_DEPTH - 1, "expression recursion limit exceeded: 250"),
        ("{1: @}", MAX_DEPTH - 1, "expression recursion limit exceeded: 250"),
        ("{@: 1}", MAX_DEPTH - 1, "expression recursion limit exceeded: 250"),
        ("f(@)", MAX_DEPTH - 1, "expression recursion limit exceeded: 250"),
        ("x.f(@)", MAX_DEPTH - 1, "expression recursion limit exceeded: 250"),
        ("T{f: @}", MAX_DEPTH - 1, "expression recursion limit exceeded: 250"),
        ("a[@]", MAX_DEPTH - 1, "expression recursion limit exceeded: 250"),
        ("true ? 1 : @", MAX_DEPTH - 1, "expression recursion limit exceeded: 250"),
    ],
)
def test_nesting_limit(template, allowed, message):
    assert parse(nested(template, allowed)) is not None
    assert error(nested(template, allowed + 1)).reason == message


@pytest.mark.parametrize(
    ("separator", "build"),
    [
        (" + ", lambda n: " + ".join(["1"] * (n + 1))),
        (" * ", lambda n: " * ".join(["2"] * (n + 1))),
        (" < ", lambda n: " < ".join(["1"] * (n + 1))),
        (".", lambda n: "a" + ".b" * n),
        ("[0]", lambda n: "a" + "[0]" * n),
        (".f()", lambda n: "a" + ".f()" * n),
    ],
)
def test_chain_limit(separator, build):
    node = parse(build(MAX_DEPTH))
    assert height(node) == MAX_DEPTH
    assert error(build(MAX_DEPTH + 1)).reason == "max recursion depth exceeded: 250"


def test_every_accepted_ast_is_at_most_250_high():
    # Stricter than cel-go, which counts neither unary operators nor parentheses here.
    assert height(parse(nested("-(@)", 200, "a" + ".b" * 50))) == MAX_DEPTH
    assert error(nested("-(@)", 200, "a" + ".b" * 51)).reason == "max recursion depth exceeded: 250"


@pytest.mark.parametrize("template", ["(@)", "[@]", "f(@)", "{1: @}", "!(@)", "a[@]"])
def test_ten_thousand_levels_fail_fast(template):
    assert "recursion" in error(nested(template, 10_000)).reason


def test_unbalanced_deep_input_fails_fast():
    assert "Syntax error" in error("(" * 50_000).reason


def test_long_unary_runs_collapse():
    assert shape(parse("!" * 20_001 + "a")) == "!_(a)"
    assert shape(parse("-" * 20_000 + "a")) == "a"


def test_size_limit():
    err = error("1 + " * 250_000 + "1")
    assert err.reason == "expression of 1000001 code points exceeds the limit of 100000"
    assert parse("'" + "x" * 99_998 + "'") == Literal(0, "x" * 99_998)
    assert "exceeds the limit" in error("'" + "x" * 99_999 + "'").reason


def test_wide_expressions_within_the_size_limit():
    node = parse(" && ".join(f"x{i} == {i}" for i in range(5_000)))
    assert height(node) <= 15
    assert isinstance(parse("[" + ", ".join(["1"] * 30_000) + "]"), ListExpr)


# --- cel-spec conformance expressions --------------------------------------------------------

_TEXTPROTO_STRING = r""""(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'"""
_FIELD = re.compile(
    rf"(?:^[ \t]*(expr)|\b(string_value|bytes_value)):\s*((?:(?:{_TEXTPROTO_STRING})\s*)+)", re.M
)


_TEXTPROTO_ESCAPE = re.compile(
    r"\\(?:([0-7]{1,3})|[xX]([0-9a-fA-F]{1,2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|(.))"
)
_TEXTPROTO_SIMPLE = {"n": 10, "t": 9, "r": 13, "a": 7, "b": 8, "f": 12, "v": 11}


def _textproto_bytes(pieces: str) -> bytes:
    """The bytes of adjacent protobuf text-format string literals (C-style escapes)."""
    out = bytearray()
    for literal in re.finditer(_TEXTPROTO_STRING, pieces):
        body, i = literal.group(0)[1:-1], 0
        for m in _TEXTPROTO_ESCAPE.finditer(body):
            out += body[i : m.start()].encode()
            octal, hex2, u4, u8, char = m.groups()
            if octal or hex2:
                out.append(int(octal, 8) if octal else int(hex2, 16))
            elif u4 or u8:
                out += chr(int(u4 or u8, 16)).encode()
            else:
                out.append(_TEXTPROTO_SIMPLE.get(char, ord(char)))
            i = m.end()
        out += body[i:].encode()
    return bytes(out)


def _celspec_exprs() -> list[tuple[str, str, object]]:
    """(file, expr, expected literal value or None) for every test in cel-spec's textprotos."""
    found = []
    for path in sorted(CELSPEC_DIR.glob("*.textproto")):
        fields = [
            (m.group(1) or m.group(2), _textproto_bytes(m.group(3)))
            for m in _FIELD.finditer(path.read_text())
        ]
        for i, (kind, raw) in enumerate(fields):
            if kind != "expr":
                continue
            following = fields[i + 1] if i + 1 < len(fields) else None
            expected: object = None
            if following and following[0] == "string_value":
                expected = following[1].decode()
            elif following and following[0] == "bytes_value":
                expected = following[1]
            found.append((path.name, raw.decode(), expected))
    return found


@pytest.mark.skipif(not CELSPEC_DIR.is_dir(), reason="cel-spec conformance data not present")
def test_every_celspec_expression_parses():
    # No case in cel-spec's simple tests expects a syntax error (none of their eval_error
    # messages is about parsing), so every expression must parse.
    cases = _celspec_exprs()
    failures = []
    for name, text, _ in cases:
        try:
            parse(text)
        except CompileError as err:
            failures.append(f"{name}: {text!r}: {err.reason}")
    assert len(cases) > 2400
    assert not failures, "\n".join(failures)


@pytest.mark.skipif(not CELSPEC_DIR.is_dir(), reason="cel-spec conformance data not present")
def test_celspec_string_and_bytes_literal_values():
    checked = 0
    for name, text, expected in _celspec_exprs():
        if name != "parse.textproto" or expected is None:
            continue
        node = parse(text)
        if isinstance(node, Literal):
            assert node.value == expected, text
            checked += 1
    assert checked > 140
