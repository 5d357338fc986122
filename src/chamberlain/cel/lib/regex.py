"""cel-go's ``ext.Regex``: ``regex.replace``, ``regex.extract`` and ``regex.extractAll`` (RE2 syntax).

Matching runs on UTF-8 bytes and iterates over matches as Go's ``regexp`` does: after an empty
match the search moves on one character, and an empty match right after a previous match is
skipped (so ``regex.replace("abxd", "x*", "-")`` is ``-a-b-d-``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from chamberlain.caches import memoize
from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.functions import function
from chamberlain.cel.golang import compile_regexp
from chamberlain.cel.lib.core import regex_cost
from chamberlain.cel.values import OPTIONAL_NONE, Optional, no_such_overload

_Span = tuple[int, int]


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogatepass")


@memoize(max_bytes=64 << 20, max_entries=512, cost=regex_cost)
def compile_regex(pattern: str) -> Any:
    """The compiled RE2 program for ``pattern`` (cached); an EvaluationError (in Go's words) if it is invalid."""
    return compile_regexp(_utf8(pattern))


def _char_width(data: bytes, pos: int) -> int:
    lead = data[pos]
    if lead < 0x80:
        return 1
    return 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4


def _matches(regex: Any, data: bytes) -> Iterator[list[_Span]]:
    """Go's ``FindAll...SubmatchIndex``: every match's spans (group 0 first; ``(-1, -1)`` if unset)."""
    pos, previous_end, end = 0, -1, len(data)
    while pos <= end:
        match = regex.search(data, pos)
        if match is None:
            return
        start, stop = match.span()
        accept = True
        if stop == pos:  # an empty match
            accept = start != previous_end
            pos += _char_width(data, pos) if pos < end else 1
        else:
            pos = stop
        previous_end = stop
        if accept:
            yield [match.span(i) for i in range(regex.groups + 1)]


def _group(data: bytes, span: _Span) -> bytes:
    return data[span[0] : span[1]] if span[0] >= 0 else b""


def _strings(name: str, *args: Any) -> None:
    if not all(type(a) is str for a in args):
        raise no_such_overload(name, *args)


def _parse_replacement(replacement: str, groups: int) -> list[bytes | int]:
    """``replacement`` as literal parts and group numbers: ``\\1`` is group 1, ``\\\\`` a backslash."""
    parts: list[bytes | int] = []
    literal: list[str] = []
    chars = iter(replacement)
    for c in chars:
        if c != "\\":
            literal.append(c)
            continue
        following = next(chars, None)
        if following is None:
            raise EvaluationError(f"invalid replacement string: '{replacement}' \\ not allowed at end")
        if following == "\\":
            literal.append("\\")
            continue
        if not ("0" <= following <= "9"):
            raise EvaluationError(
                f"invalid replacement string: '{replacement}' \\ must be followed by a digit or \\"
            )
        group = int(following)
        if group > groups:
            raise EvaluationError(
                f"replacement string references group {group} but regex has only {groups} group(s)"
            )
        parts.extend((_utf8("".join(literal)), group))
        literal = []
    parts.append(_utf8("".join(literal)))
    return parts


@function("regex.replace")
def replace(target: Any, pattern: Any, replacement: Any) -> str:
    """``regex.replace(s, re, repl)``: every match of ``re`` replaced (``\\N`` refers to group N)."""
    _strings("regex.replace", target, pattern, replacement)
    return _replace(target, pattern, replacement, -1)


@function("regex.replace")
def replace_n(target: Any, pattern: Any, replacement: Any, count: Any) -> str:
    """``regex.replace(s, re, repl, n)``: the first ``n`` matches replaced (all when ``n < 0``)."""
    if type(count) is not int:
        raise no_such_overload("regex.replace", target, pattern, replacement, count)
    _strings("regex.replace", target, pattern, replacement)
    return _replace(target, pattern, replacement, count)


def _replace(target: str, pattern: str, replacement: str, count: int) -> str:
    if count == 0:
        return target
    regex = compile_regex(pattern)
    data = _utf8(target)
    out: list[bytes] = []
    template: list[bytes | int] | None = None
    last = 0
    for done, spans in enumerate(_matches(regex, data)):
        if done == count:
            break
        if template is None:
            template = _parse_replacement(replacement, regex.groups)
        out.append(data[last : spans[0][0]])
        out.extend(p if isinstance(p, bytes) else _group(data, spans[p]) for p in template)
        last = spans[0][1]
    out.append(data[last:])
    return _text(b"".join(out))


def _single_group_regex(pattern: str) -> Any:
    regex = compile_regex(pattern)
    if regex.groups > 1:
        raise EvaluationError(
            f"regular expression has more than one capturing group: {json.dumps(pattern, ensure_ascii=False)}"
        )
    return regex


@function("regex.extract")
def extract(target: Any, pattern: Any) -> Optional:
    """``regex.extract(s, re)``: the first match (or its one group); none if absent or empty group."""
    _strings("regex.extract", target, pattern)
    regex = _single_group_regex(pattern)
    data = _utf8(target)
    match = regex.search(data)
    if match is None:
        return OPTIONAL_NONE
    if regex.groups == 1:
        group = _group(data, match.span(1))
        return Optional(_text(group)) if group else OPTIONAL_NONE
    return Optional(_text(_group(data, match.span())))


@function("regex.extractAll")
def extract_all(target: Any, pattern: Any) -> list[str]:
    """``regex.extractAll(s, re)``: every match (or its one group, skipping empty ones)."""
    _strings("regex.extractAll", target, pattern)
    regex = _single_group_regex(pattern)
    data = _utf8(target)
    if regex.groups == 0:
        return [_text(_group(data, spans[0])) for spans in _matches(regex, data)]
    groups = (_group(data, spans[1]) for spans in _matches(regex, data))
    return [_text(g) for g in groups if g]
