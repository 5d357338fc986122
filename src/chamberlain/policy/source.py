"""Reading YAML/JSON policy files into position-carrying YAML nodes (libyaml when available).

Positions follow Cerbos (goccy/go-yaml): 1-based line and column of a node's first character
(the opening quote of a quoted string), and for a block mapping that is a list item, the column
of its first ``:``. Paths are YAML paths as Cerbos prints them: ``$.resourcePolicy.rules[0].name``.

A document's cost is bounded before anything walks it: composing shares an aliased node, but every
walk expands it again, so a 600-byte file of nested aliases is hundreds of millions of nodes (the
"billion laughs"): :func:`chamberlain.safeyaml.graph_problem` refuses such a document first. The
composed tree's size is bounded by :data:`MAX_FILE_BYTES`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from chamberlain.caches import memoize
from chamberlain.policy.errors import Issue
from chamberlain.safeyaml import graph_problem, syntax_error

#: Far above any real policy file (they are kilobytes). Composing costs about 150 bytes of memory and a
#: few microseconds per node, and a node can take 2 bytes of text, so this bounds one file's load.
MAX_FILE_BYTES = 2 * 1024 * 1024


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

NULL_TAG = "tag:yaml.org,2002:null"
STR_TAG = "tag:yaml.org,2002:str"
BOOL_TAG = "tag:yaml.org,2002:bool"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
MERGE_TAG = "tag:yaml.org,2002:merge"


@memoize(max_bytes=4 << 20, max_entries=4096)
def _path_key(key: str) -> str:
    if _NEEDS_QUOTES.search(key):
        return "'" + key.replace("'", "\\'") + "'"
    return key


_NEEDS_QUOTES = re.compile(r"[.\[\]'\" ]|^\$")


@dataclass(frozen=True, slots=True)
class Position:
    """Where a node is: 1-based ``line`` and ``column`` and its YAML ``path``."""

    line: int
    column: int
    path: str

    def __str__(self) -> str:
        return f"{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document of a file: its root node and the full text (to locate ``:`` tokens)."""

    file: str
    root: yaml.Node
    text: str


def read_documents(file: str, data: bytes, what: str = "a policy") -> tuple[list[Document], list[Issue]]:
    """Split ``data`` (the contents of ``file``, ``what`` the file holds) into YAML documents, or say
    why it cannot be read. Like Cerbos, a file holds one document (and any comment-only ones)."""
    if len(data) > MAX_FILE_BYTES:
        limit = MAX_FILE_BYTES // (1024 * 1024)
        return [], [
            Issue(
                file,
                "parse error",
                f"file is {len(data)} bytes, over the {limit} MiB limit for {what} file: split it into smaller files",
            )
        ]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [
            Issue(file, "parse error", f"file is not UTF-8 text (byte {exc.start}): save it as UTF-8")
        ]
    if not text.strip():
        return [], []
    try:
        roots = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        retried = _with_surrogate_pairs(text)
        if retried is None:
            # where the mistake starts, not where parsing stopped
            line, column, problem = syntax_error(text, exc)
            return [], [Issue(file, "parse error", f"invalid YAML: {problem}", line, column, "$")]
        roots = retried
    except yaml.YAMLError as exc:  # reader errors: control characters and the like
        return [], [Issue(file, "parse error", f"invalid YAML: {exc}", 1, 1, "$")]
    if sum(not _blank(root) for root in roots) > 1:
        message = f"more than one YAML document detected: {what} file holds a single document"
        return [], [Issue(file, "parse error", message)]
    docs: list[Document] = []
    issues: list[Issue] = []
    for root in roots:
        cycle = graph_problem(root) if root is not None else None
        if cycle:
            where, message = cycle
            pos = node_position(where, "$")
            issues.append(Issue(file, "parse error", message, pos.line, pos.column, "$"))
            continue
        if root is None or (
            isinstance(root, yaml.ScalarNode) and root.tag == NULL_TAG and root.value in ("", "~", "null")
        ):
            continue  # empty or comment-only document
        if not isinstance(root, yaml.MappingNode):
            pos = node_position(root, "$")
            issues.append(
                Issue(
                    file,
                    "parse error",
                    f"invalid document: contents are not valid YAML or JSON: {what} is a mapping of fields",
                    pos.line,
                    pos.column,
                    "$",
                )
            )
            continue
        go_tags(root)
        docs.append(Document(file, root, text))
    return docs, issues


#: goccy/go-yaml's (Cerbos's YAML parser's) plain scalars, where they differ from PyYAML's YAML 1.1:
#: only ``true``/``false`` are booleans (``yes``, ``no``, ``on``, ``off`` are strings), an integer may
#: be octal with a leading ``0`` or ``0o``, hex and binary prefixes are lower case, a float needs its
#: dot (``1e3`` is a string, ``-.5`` a float), and explicit tags (``!!str 123``) change nothing.
_GO_NULL = frozenset(("", "~", "null", "Null", "NULL"))
_GO_BOOL = frozenset(("true", "True", "TRUE", "false", "False", "FALSE"))
_GO_INT = re.compile(r"[-+]?(?:0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+|0[0-7_]*|[1-9][0-9_]*)\Z")
_GO_FLOAT = re.compile(
    r"[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?\Z"
    r"|-?\.(?:inf|Inf|INF)\Z|\.(?:nan|NaN|NAN)\Z"
)
_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1


def go_int(text: str) -> int:
    """An integer as goccy/go-yaml reads it (``017`` and ``0o17`` are 15); ValueError if it is not one."""
    digits = text.replace("_", "")
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("+-")
    if digits[:2] in ("0x", "0o", "0b"):
        number = int(digits[2:], {"x": 16, "o": 8, "b": 2}[digits[1]])
    elif len(digits) > 1 and digits[0] == "0":
        number = int(digits[1:], 8)
    else:
        number = int(digits)
    return sign * number


def _go_tag(node: yaml.ScalarNode) -> str:
    if node.style:  # quoted or a block scalar (plain: None, or "" from libyaml)
        return STR_TAG
    text = node.value
    if text in _GO_NULL:
        return NULL_TAG
    if text in _GO_BOOL:
        return BOOL_TAG
    if _GO_INT.match(text):
        try:
            number = go_int(text)
        except ValueError:
            return STR_TAG
        return INT_TAG if _INT64_MIN <= number <= _UINT64_MAX else STR_TAG
    if _GO_FLOAT.match(text):
        return FLOAT_TAG
    return STR_TAG


def go_tags(root: yaml.Node) -> None:
    """Re-tag every scalar of ``root`` as goccy/go-yaml resolves it (merge keys stay merge keys)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            if node.tag != MERGE_TAG:
                node.tag = _go_tag(node)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append(key)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


#: A UTF-16 surrogate pair escaped as JSON writes a character past U+FFFF (``"\\ud83d\\ude00"``), after
#: an even number of backslashes (so the first backslash escapes nothing but the ``u``).
_SURROGATE_PAIR = re.compile(
    r"(?<!\\)((?:\\\\)*)\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"
)


def _with_surrogate_pairs(text: str) -> list[Any] | None:
    """The documents of ``text`` with escaped surrogate pairs read as their characters, as Cerbos's
    parser reads them (libyaml refuses any surrogate escape); None if that does not make it parse."""
    if not _SURROGATE_PAIR.search(text):
        return None

    def character(match: re.Match[str]) -> str:
        high, low = int(match.group(2), 16), int(match.group(3), 16)
        return match.group(1) + chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))

    try:
        return list(yaml.compose_all(_SURROGATE_PAIR.sub(character, text), Loader=_Loader))
    except yaml.YAMLError:
        return None


def _blank(root: yaml.Node | None) -> bool:
    """A document with no content (empty or comments only): Cerbos does not count it."""
    return root is None or (isinstance(root, yaml.ScalarNode) and root.tag == NULL_TAG and root.value == "")


def node_position(node: yaml.Node, path: str) -> Position:
    """The position of a scalar, flow collection or key node (its first character)."""
    mark = node.start_mark
    return Position(mark.line + 1, mark.column + 1, path)


def item_position(node: yaml.Node, path: str, text: str) -> Position:
    """The position Cerbos gives a list item: for a block mapping, its first ``:`` token."""
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        key = node.value[0][0]
        colon = text.find(":", key.end_mark.index)
        if colon >= 0:
            line_start = text.rfind("\n", 0, colon) + 1
            line = key.end_mark.line + text.count("\n", key.end_mark.index, colon)  # counted from the key
            return Position(line + 1, colon - line_start + 1, path)
    return node_position(node, path)


def key_path(parent: str, key: str) -> str:
    """The YAML path of ``key`` under ``parent``, quoting keys that contain path syntax."""
    return f"{parent}.{_path_key(key)}"


def merged_items(node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
    """The key/value pairs of a mapping with ``<<`` merge keys resolved (explicit keys win)."""
    if MERGE_TAG not in [k.tag for k, _ in node.value]:
        return list(node.value)
    merged: list[tuple[yaml.Node, yaml.Node]] = []
    own: list[tuple[yaml.Node, yaml.Node]] = []
    for key, value in node.value:
        if key.tag != MERGE_TAG:
            own.append((key, value))
            continue
        sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
        for source in sources:
            if isinstance(source, yaml.MappingNode):
                merged.extend(merged_items(source))
    names = {k.value for k, _ in own if isinstance(k, yaml.ScalarNode)}
    return [(k, v) for k, v in merged if k.value not in names] + own
