"""Expressions that differ only in their string literals share one parse (parser._SHAPES): the tree
rebuilt from a shape must be the tree a full parse builds, positions and decoded literals included."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from lark.lexer import LexerThread

from chamberlain.cel.errors import CompileError
from chamberlain.cel.parser import _SHAPES, _lexer, _parse_cached
from tests.cel.strategies import cel_expressions
from tests.cel.test_parser import CELSPEC_DIR, _celspec_exprs


def full_parse(text: str):
    """The tree (or the error) of a parse that cannot use a shape: the shape table emptied first."""
    _SHAPES.clear()
    try:
        return _parse_cached.__wrapped__(text)
    except CompileError as exc:
        return (exc.reason, exc.offset)


def shaped_parse(text: str):
    """The tree (or the error) of a parse of ``text`` that has not been parsed before (the text cache
    skipped), so a shape left by an earlier text of the same tokens is used."""
    try:
        return _parse_cached.__wrapped__(text)
    except CompileError as exc:
        return (exc.reason, exc.offset)


def with_other_literals(text: str, replace) -> str:
    """``text`` with each string and bytes literal replaced by ``replace(i, literal)`` (and spaces added
    around the other tokens, which moves every position after the first token)."""
    tokens = list(LexerThread.from_text(_lexer(), text).lex(None))
    out, end = [], 0
    for i, t in enumerate(tokens):
        out.append(text[end : t.start_pos])
        out.append(replace(i, str(t)) if t.type in ("STRING", "BYTES") else f" {t} ")
        end = t.end_pos
    out.append(text[end:])
    return "".join(out)


def compare(text: str, variant: str) -> bool:
    """Whether ``variant`` parsed from ``text``'s shape gives what its full parse gives (asserted), and
    whether a shape was there to use."""
    expected = full_parse(variant)
    full_parse(text)  # the shape table holds text's shape alone
    shaped = len(_SHAPES) == 1
    assert shaped_parse(variant) == expected, (text, variant)
    return shaped


def longer(i: int, literal: str) -> str:
    prefix = re.match(r"[bBrR]*", literal).group(0)
    quote = '"' if '"' not in literal[len(prefix) :] else "'"
    escape = "" if "r" in prefix.lower() else "\\t\\x41"
    return f"{prefix}{quote}changed #{i}: {escape}é{quote}"


def test_a_shape_gives_the_new_literals_at_the_new_positions():
    full_parse('R.attr.status == "DRAFT_7"')
    tree = shaped_parse('R.attr.status   ==   "a much longer literal" ')
    assert tree == full_parse('R.attr.status   ==   "a much longer literal" ')
    assert tree.pos == 16 and tree.args[1].pos == 21 and tree.args[1].value == "a much longer literal"


def test_a_bad_escape_in_a_shaped_text_is_reported_as_a_full_parse_reports_it():
    full_parse('R.attr.status == "fine"')
    assert len(_SHAPES) == 1
    got = shaped_parse('R.attr.status == "bad \\q escape"')
    assert got == full_parse('R.attr.status == "bad \\q escape"')
    assert got == ("Syntax error: invalid escape sequence '\\q'", 22)


@pytest.mark.skipif(not CELSPEC_DIR.is_dir(), reason="cel-spec conformance data not present")
def test_celspec_expressions_with_other_literals_parse_as_a_full_parse_does():
    compared = 0
    for _name, text, _ in _celspec_exprs():
        if '"' not in text and "'" not in text:
            continue
        variant = with_other_literals(text, longer)
        if variant == text:
            continue
        compared += compare(text, variant)
    assert compared > 900


@settings(max_examples=300, deadline=None)
@given(cel_expressions())
def test_random_expressions_with_other_literals_parse_as_a_full_parse_does(text):
    compare(text, with_other_literals(text, longer))
