"""The CEL strings extension, as cel-go's ``ext.Strings()`` (latest version).

Indexes count code points. ``format`` implements the clauses ``%s %d %f %e %b %x %X %o`` with
optional precision (``%.3f``) and ``%%``, following the cel-spec strings extension; its error
messages are those of the cel-spec conformance tests.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from typing import Any

from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.functions import function
from chamberlain.cel.golang import format_float_f as format_double_fixed
from chamberlain.cel.lib.time import format_duration, format_timestamp
from chamberlain.cel.runtime import key_text
from chamberlain.cel.values import CelType, Duration, Timestamp, UInt, no_such_overload, type_name

#: Go's ``unicode.IsSpace``: ASCII whitespace, NEL, NBSP and the Unicode space separators.
_WHITESPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_LOWER_ASCII = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
_UPPER_ASCII = {c: c - 32 for c in range(ord("a"), ord("z") + 1)}


def _require(name: str, args: tuple[Any, ...], types: tuple[type, ...]) -> None:
    if any(type(a) is not t for a, t in zip(args, types, strict=True)):
        raise no_such_overload(name, *args)


def _index_error(index: int) -> EvaluationError:
    return EvaluationError(f"index out of range: {index}")


@function("charAt", member=True)
def char_at(s: Any, index: Any) -> str:
    """``s.charAt(i)``: the code point at ``i``; ``''`` at ``size(s)``; an error beyond."""
    _require("charAt", (s, index), (str, int))
    if not 0 <= index <= len(s):
        raise _index_error(index)
    return s[index : index + 1]


@function("indexOf", member=True)
def index_of(s: Any, sub: Any) -> int:
    """``s.indexOf(sub)``: the first code-point index of ``sub``, or -1."""
    _require("indexOf", (s, sub), (str, str))
    return s.find(sub)


@function("indexOf", member=True)
def index_of_from(s: Any, sub: Any, offset: Any) -> int:
    """``s.indexOf(sub, offset)``: as ``indexOf`` searching from ``offset`` (-1 past the end)."""
    _require("indexOf", (s, sub, offset), (str, str, int))
    if offset < 0:
        raise _index_error(offset)
    if not sub:
        return min(offset, len(s))
    if offset >= len(s):
        return -1
    return s.find(sub, offset)


@function("lastIndexOf", member=True)
def last_index_of(s: Any, sub: Any) -> int:
    """``s.lastIndexOf(sub)``: the last code-point index of ``sub``, or -1."""
    _require("lastIndexOf", (s, sub), (str, str))
    return s.rfind(sub)


@function("lastIndexOf", member=True)
def last_index_of_from(s: Any, sub: Any, offset: Any) -> int:
    """``s.lastIndexOf(sub, offset)``: the last match starting at or before ``offset``."""
    _require("lastIndexOf", (s, sub, offset), (str, str, int))
    if offset < 0:
        raise _index_error(offset)
    if not sub:
        return min(offset, len(s))
    if offset >= len(s):  # cel-go: an offset at or past the end finds nothing
        return -1
    return s.rfind(sub, 0, offset + len(sub))


@function("lowerAscii", member=True)
def lower_ascii(s: Any) -> str:
    """``s.lowerAscii()``: ASCII letters lower-cased, others unchanged."""
    _require("lowerAscii", (s,), (str,))
    return s.translate(_LOWER_ASCII)


@function("upperAscii", member=True)
def upper_ascii(s: Any) -> str:
    """``s.upperAscii()``: ASCII letters upper-cased, others unchanged."""
    _require("upperAscii", (s,), (str,))
    return s.translate(_UPPER_ASCII)


@function("replace", member=True)
def replace(s: Any, old: Any, new: Any) -> str:
    """``s.replace(old, new)``: every occurrence replaced."""
    _require("replace", (s, old, new), (str, str, str))
    return s.replace(old, new)


@function("replace", member=True)
def replace_n(s: Any, old: Any, new: Any, limit: Any) -> str:
    """``s.replace(old, new, n)``: at most ``n`` replacements; all when ``n`` is negative."""
    _require("replace", (s, old, new, limit), (str, str, str, int))
    return s.replace(old, new, min(limit, sys.maxsize))


def _split(s: str, sep: str, limit: int) -> list[str]:
    if limit == 0:
        return []
    if sep:
        return s.split(sep, limit - 1 if limit > 0 else -1)
    chars = list(s)  # Go explodes into code points; the last piece keeps the rest
    if 0 < limit < len(chars):
        return [*chars[: limit - 1], "".join(chars[limit - 1 :])]
    return chars


@function("split", member=True)
def split(s: Any, sep: Any) -> list[str]:
    """``s.split(sep)``: the pieces between separators (code points for an empty ``sep``)."""
    _require("split", (s, sep), (str, str))
    return _split(s, sep, -1)


@function("split", member=True)
def split_n(s: Any, sep: Any, limit: Any) -> list[str]:
    """``s.split(sep, n)``: at most ``n`` pieces; none when 0; all when negative."""
    _require("split", (s, sep, limit), (str, str, int))
    return _split(s, sep, limit)


@function("substring", member=True)
def substring(s: Any, start: Any) -> str:
    """``s.substring(start)``: the code points from ``start`` to the end."""
    _require("substring", (s, start), (str, int))
    if not 0 <= start <= len(s):
        raise _index_error(start)
    return s[start:]


@function("substring", member=True)
def substring_range(s: Any, start: Any, end: Any) -> str:
    """``s.substring(start, end)``: code points ``[start, end)``."""
    _require("substring", (s, start, end), (str, int, int))
    if start > end:
        raise EvaluationError(f"invalid substring range. start: {start}, end: {end}")
    for index in (start, end):
        if not 0 <= index <= len(s):
            raise _index_error(index)
    return s[start:end]


@function("trim", member=True)
def trim(s: Any) -> str:
    """``s.trim()``: leading and trailing Unicode whitespace removed (not zero-width spaces)."""
    _require("trim", (s,), (str,))
    return s.strip(_WHITESPACE)


@function("reverse", member=True)
def reverse(s: Any) -> str:
    """``s.reverse()``: the code points in reverse order."""
    _require("reverse", (s,), (str,))
    return s[::-1]


def _is_string_list(items: Any) -> bool:
    """Whether cel-go's runtime dispatch takes ``items`` for a ``list(string)``: a list whose first
    element (if any) is a string; the others are checked by the function itself."""
    return type(items) in (list, tuple) and (not items or type(items[0]) is str)


def _join(items: list[Any] | tuple[Any, ...], sep: str) -> str:
    for item in items:
        if type(item) is not str:
            raise EvaluationError(f"join: invalid input: {'0' if item is None else key_text(item)}")
    return sep.join(items)


@function("join", member=True)
def join(items: Any) -> str:
    """``list.join()``: the strings concatenated."""
    if not _is_string_list(items):
        raise no_such_overload("join", items)
    return _join(items, "")


@function("join", member=True)
def join_with(items: Any, sep: Any) -> str:
    """``list.join(sep)``: the strings joined by ``sep``."""
    if not _is_string_list(items) or type(sep) is not str:
        raise no_such_overload("join", items, sep)
    return _join(items, sep)


#: Lone surrogates are not Unicode scalar values; cel-go replaces invalid code points with U+FFFD.
_SURROGATE = re.compile("[\ud800-\udfff]")
_QUOTE_ESCAPES = str.maketrans(
    {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
    | {"\\": "\\\\", '"': '\\"'}
)


@function("strings.quote")
def quote(s: Any) -> str:
    """``strings.quote(s)``: ``s`` in double quotes with escape sequences spelled out."""
    _require("strings.quote", (s,), (str,))
    return '"' + _SURROGATE.sub("\ufffd", s).translate(_QUOTE_ESCAPES) + '"'


# ---------------------------------------------------------------- format

#: The most digits ``%.Nf`` / ``%.Ne`` may ask for (cel-go's default limit).
MAX_PRECISION = 100
_DEFAULT_PRECISION = 6


def _clause_error(message: str, value: Any) -> EvaluationError:
    return EvaluationError(f"error during formatting: {message}, was given {type_name(value)}")


def _special_double(x: float) -> str | None:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return None


def _first(entry: tuple[str, str]) -> str:
    return entry[0]


def _format_string(value: Any) -> str:
    tv = type(value)
    if tv is str:
        return value
    if tv is bool:
        return "true" if value else "false"
    if tv is int or tv is UInt:
        return str(int(value))
    if tv is float:
        return _special_double(value) or format_double_fixed(value)
    if tv is bytes:
        return value.decode("utf-8", "replace")
    if value is None:
        return "null"
    if tv is Timestamp:
        return format_timestamp(value)
    if tv is Duration:
        return format_duration(value)
    if tv is CelType:
        return value.name
    if tv is list or tv is tuple:
        return "[" + ", ".join(_format_string(v) for v in value) + "]"
    if tv is dict:
        entries = sorted(((_format_string(k), _format_string(v)) for k, v in value.items()), key=_first)
        return "{" + ", ".join(f"{k}: {v}" for k, v in entries) + "}"
    raise _clause_error(
        "string clause can only be used on strings, bools, bytes, ints, doubles, maps, lists, types, "
        "durations, and timestamps",
        value,
    )


def _format_decimal(value: Any) -> str:
    tv = type(value)
    if tv is int or tv is UInt:
        return str(int(value))
    if tv is float:
        return _special_double(value) or format_double_fixed(value)
    raise _clause_error("decimal clause can only be used on ints, uints, and doubles", value)


def _float_clause(kind: str, precision: int, what: str) -> Callable[[Any], str]:
    def clause(value: Any) -> str:
        tv = type(value)
        if tv is int or tv is UInt:
            value = float(value)
        elif tv is not float:
            raise _clause_error(f"{what} clause can only be used on ints, uints, and doubles", value)
        return _special_double(value) or format(value, f".{precision}{kind}")

    return clause


def _format_binary(value: Any) -> str:
    tv = type(value)
    if tv is bool:
        return "1" if value else "0"
    if tv is int or tv is UInt:
        return format(int(value), "b")
    raise _clause_error("only ints, uints, and bools can be formatted as binary", value)


_HEX_ONLY = "only ints, uints, bytes, and strings can be formatted as hex"


def _hex_clause(upper: bool) -> Callable[[Any], str]:
    def clause(value: Any) -> str:
        tv = type(value)
        if tv is int or tv is UInt:
            text = format(int(value), "x")
        elif tv is str:
            text = value.encode("utf-8", "surrogatepass").hex()
        elif tv is bytes:
            text = value.hex()
        else:
            raise _clause_error(_HEX_ONLY, value)
        return text.upper() if upper else text

    return clause


def _format_octal(value: Any) -> str:
    if type(value) is int or type(value) is UInt:
        return format(int(value), "o")
    raise _clause_error("octal clause can only be used on ints and uints", value)


_SIMPLE_CLAUSES: dict[str, Callable[[Any], str]] = {
    "s": _format_string,
    "d": _format_decimal,
    "b": _format_binary,
    "x": _hex_clause(False),
    "X": _hex_clause(True),
    "o": _format_octal,
}


def _parse_error(reason: str) -> EvaluationError:
    return EvaluationError(f"could not parse formatting clause: {reason}")


def _parse_clause(text: str, pos: int) -> tuple[int, Callable[[Any], str]]:
    """The clause starting at ``text[pos]`` (just after ``%``): where it ends and its formatter."""
    precision = _DEFAULT_PRECISION
    if text[pos] == ".":
        end = pos + 1
        while end < len(text) and text[end].isascii() and text[end].isdigit():
            end += 1
        if end >= len(text):
            raise _parse_error("error while parsing precision: could not find end of precision specifier")
        if end == pos + 1:
            raise _parse_error(
                "error while parsing precision: error while converting precision to integer: "
                'strconv.Atoi: parsing "": invalid syntax'
            )
        precision = int(text[pos + 1 : end])
        if precision > MAX_PRECISION:
            raise _parse_error(
                f"error while parsing precision: precision {precision} exceeds maximum allowed precision "
                f"{MAX_PRECISION}"
            )
        pos = end
    verb = text[pos]
    if verb in _SIMPLE_CLAUSES:
        return pos + 1, _SIMPLE_CLAUSES[verb]
    if verb == "f":
        return pos + 1, _float_clause("f", precision, "fixed-point")
    if verb == "e":
        return pos + 1, _float_clause("e", precision, "scientific")
    raise _parse_error(f'unrecognized formatting clause "{verb}"')


_NUMBERS = frozenset({"int", "uint", "double"})
#: The argument types each clause takes (CEL type names, as cel-go prints them) and what it says of others.
_CLAUSE_TAKES: dict[str, tuple[frozenset[str], str]] = {
    "d": (_NUMBERS, "decimal clause can only be used on ints, uints, and doubles"),
    "f": (_NUMBERS, "fixed-point clause can only be used on ints, uints, and doubles"),
    "e": (_NUMBERS, "scientific clause can only be used on ints, uints, and doubles"),
    "x": (frozenset({"int", "uint", "bytes", "string"}), _HEX_ONLY),
    "X": (frozenset({"int", "uint", "bytes", "string"}), _HEX_ONLY),
    "o": (frozenset({"int", "uint"}), "octal clause can only be used on ints and uints"),
    "b": (frozenset({"int", "uint", "bool"}), "only ints, uints, and bools can be formatted as binary"),
}


def format_problem(template: str, arg_types: list[str | None]) -> str | None:
    """What cel-go's compile-time check says of ``"template".format([a, b])`` (a string literal on a list
    literal) whose arguments have these CEL types (None: dyn, which every clause takes); None if fine."""
    pos = used = 0
    while (percent := template.find("%", pos)) >= 0:
        if template.startswith("%%", percent):
            pos = percent + 2
            continue
        if percent + 1 >= len(template):
            return "unexpected end of string"
        try:
            pos, _ = _parse_clause(template, percent + 1)
        except EvaluationError as exc:
            return str(exc)
        if used >= len(arg_types):
            return f"index {used} out of range"
        takes, given = _CLAUSE_TAKES.get(template[pos - 1]), arg_types[used]
        if takes is not None and given is not None and given not in takes[0]:
            return f"error during formatting: {takes[1]}, was given {given}"
        used += 1
    if len(arg_types) > used:
        return f"too many arguments supplied to string.format (expected {used}, got {len(arg_types)})"
    return None


@function("format", member=True)
def string_format(template: Any, args: Any) -> str:
    """``template.format(args)``: printf-style substitution of the list ``args``."""
    if type(template) is not str or type(args) not in (list, tuple):
        raise no_such_overload("format", template, args)
    out: list[str] = []
    pos = 0
    arg_index = 0
    length = len(template)
    while pos < length:
        percent = template.find("%", pos)
        if percent < 0:
            out.append(template[pos:])
            break
        out.append(template[pos:percent])
        if template.startswith("%%", percent):
            out.append("%")
            pos = percent + 2
            continue
        if arg_index >= len(args):
            raise EvaluationError(f"index {arg_index} out of range")
        if percent + 1 >= length:
            raise EvaluationError("unexpected end of string")
        pos, formatter = _parse_clause(template, percent + 1)
        out.append(formatter(args[arg_index]))
        arg_index += 1
    return "".join(out)
