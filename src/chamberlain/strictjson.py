"""JSON from outside, read within bounds: nesting depth limited, duplicate keys refused.

Every JSON document chamberlain accepts from a client (request bodies, MCP messages, token
claims, CLI inputs) goes through :func:`loads`:

* orjson parses it (strict RFC 8259: no NaN, no lone surrogates, UTF-8 only), so values are exactly
  what the rest of chamberlain has always seen;
* nesting deeper than ``max_depth`` is refused (:class:`DepthError`) before anything recursive
  walks it: Python's own recursion limit would otherwise turn a deep document into a 500;
* a key repeated in one object is refused (:class:`DuplicateKeyError`), as Cerbos's protojson does
  (``duplicate field "principal"``): "last one wins" lets a proxy that reads the first occurrence
  and chamberlain, which would read the last, disagree about who is asking.

Duplicates cannot be seen in orjson's result. Most documents are cleared without a second parse: in a
document without a backslash every string reads as it is written, so the colons outside strings (the
text's colons minus those inside the parsed strings) are exactly the keys written; when that equals the
number of keys orjson kept, none was repeated (1.9 instead of 4.1 µs for an MCP ``tools/call``). The
others (an escape anywhere, or more keys written than kept) get a second pass with the standard
library's scanner, which looks at each object's key list (the value hooks are no-ops, nothing is built).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import orjson

from chamberlain.errors import Error

#: The default nesting limit (objects and arrays, the document itself is level 1). Cerbos allows
#: 10,000; real attributes rarely nest 10 deep, and the limit keeps every recursive walk (CEL
#: conversion, canonical JSON for the decision log, JSON Schema) far from Python's recursion limit.
MAX_DEPTH = 64


class JSONError(Error, ValueError):
    """A JSON document that is not accepted; ``reason`` says why, without the ``invalid JSON:`` prefix."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"invalid JSON: {reason}")


class DepthError(JSONError):
    """Nested more than the limit."""


class DuplicateKeyError(JSONError):
    """A key repeated in one object; ``path`` leads from the document to that object (keys and indexes)."""

    def __init__(self, key: str, path: tuple[str | int, ...]):
        self.key = key
        self.path = path
        super().__init__(f'duplicate field "{key}"')


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``data``; raise :class:`JSONError` (or a subclass) naming what is wrong."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):
            raise DepthError(f"nested more than {max_depth} levels deep") from None
        raise JSONError(str(exc)) from None
    check_depth(value, data, max_depth)
    _check_duplicates(data, value)
    return value


def check_depth(value: Any, text: bytes | str | None = None, max_depth: int = MAX_DEPTH) -> None:
    """Raise :class:`DepthError` when ``value`` nests objects and arrays more than ``max_depth`` deep.

    ``text``, the document ``value`` was parsed from, lets the common case skip the walk: a document
    with no more brackets than the limit cannot nest deeper than it.
    """
    if text is not None:
        opening = (b"{", b"[") if isinstance(text, bytes) else ("{", "[")
        if text.count(opening[0]) + text.count(opening[1]) <= max_depth:  # type: ignore[arg-type]
            return
    stack = [(value, 1)]
    while stack:  # iterative: the walk itself must not recurse
        node, depth = stack.pop()
        children = node.values() if type(node) is dict else node if type(node) is list else ()
        for child in children:
            if type(child) is dict or type(child) is list:
                if depth >= max_depth:
                    raise DepthError(f"nested more than {max_depth} levels deep")
                stack.append((child, depth + 1))


class _Duplicate(Exception):
    def __init__(self, key: str, keys: frozenset[str]):
        self.key = key
        self.keys = keys


def _unique_keys(pairs: list[tuple[str, Any]]) -> None:
    if len(pairs) > 1:
        keys = {k for k, _ in pairs}
        if len(keys) != len(pairs):
            seen: set[str] = set()
            for k, _ in pairs:
                if k in seen:
                    raise _Duplicate(k, frozenset(keys))
                seen.add(k)


def _nothing(_text: str) -> None:
    return None


_SCANNER = json.JSONDecoder(
    object_pairs_hook=_unique_keys, parse_float=_nothing, parse_int=_nothing, parse_constant=_nothing
)


def _check_duplicates(data: bytes | str, value: Any) -> None:
    if type(value) is not dict and type(value) is not list:
        return
    if _keys_as_written(data, value):
        return
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    try:
        _SCANNER.decode(text)
    except _Duplicate as dup:
        raise DuplicateKeyError(dup.key, _path_of(value, dup.keys) or ()) from None


def _keys_as_written(data: bytes | str, value: Any) -> bool:
    """Whether ``data`` (which parsed to ``value``) provably writes each key once (see the module docstring):
    no backslash, and its colons outside strings number the keys kept. False: the scanner must look."""
    if isinstance(data, bytes):
        if b"\\" in data:
            return False
        structural = data.count(b":")
    else:
        if "\\" in data:
            return False
        structural = data.count(":")
    kept = 0
    stack = [value]
    pop, push = stack.pop, stack.append
    while stack:  # iterative, as check_depth: containers only are pushed
        node = pop()
        items = node
        if type(node) is dict:
            kept += len(node)
            for key in node:
                structural -= key.count(":")
            items = node.values()
        for item in items:
            kind = type(item)
            if kind is str:
                structural -= item.count(":")
            elif kind is dict or kind is list:
                push(item)
    return structural == kept


def _path_of(value: Any, keys: frozenset[str]) -> tuple[str | int, ...] | None:
    """The path to the first object (in document order) whose keys are ``keys``: where the duplicate was."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if type(node) is dict:
            if node.keys() == keys:
                return path
            stack.extend((v, (*path, k)) for k, v in reversed(node.items()))
        elif type(node) is list:
            stack.extend((v, (*path, i)) for i, v in reversed(list(enumerate(node))))
    return None


def non_finite(value: Any, where: str = "", depth: int = 0) -> tuple[str, float] | None:
    """The path (``a.b[0]``, after ``where``) and value of the first float in ``value`` that is inf or nan, or
    None: JSON holds no such number, and orjson writes it as ``null``, so what is decided on would not be what
    the caller holds. Containers deeper than 256 levels are not entered (orjson refuses them itself)."""
    if isinstance(value, float):
        return None if math.isfinite(value) else (where, value)
    if depth < 256 and isinstance(value, Mapping):
        items: Any = ((f"{where}.{k}" if where else str(k), v) for k, v in value.items())
    elif depth < 256 and isinstance(value, list | tuple):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for path, item in items:
        found = non_finite(item, path, depth + 1)
        if found is not None:
            return found
    return None
