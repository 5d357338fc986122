"""Decoding YAML nodes into the typed model, with Cerbos's field rules and protovalidate checks.

The decoder is generic: what each message holds is in :mod:`chamberlain.policy.spec`. It accepts
JSON names and proto names like Cerbos, records every field's position under its proto path, and
collects every problem as an :class:`Issue`.
"""

from __future__ import annotations

import builtins
import datetime as dt
import difflib
import json
import re
from typing import Any

import yaml

from chamberlain.policy import model as m
from chamberlain.policy.errors import Issue
from chamberlain.policy.source import (
    BOOL_TAG,
    FLOAT_TAG,
    INT_TAG,
    NULL_TAG,
    STR_TAG,
    TIMESTAMP_TAG,
    Document,
    Position,
    go_int,
    item_position,
    key_path,
    merged_items,
    node_position,
    read_documents,
)
from chamberlain.policy.spec import MESSAGE_RULES, REQUIRED_ONEOFS, SPECS, F, json_name
from chamberlain.policy.timestamp import parse_rfc3339

PARSE = "parse error"
VALIDATION = "validation error"

_FIELD_NUMBERS: dict[int, dict[str, int]] = {}
_FIELDS: dict[int, tuple[F, ...]] = {}


def _fields(spec: dict[str, F]) -> tuple[F, ...]:
    """A message's fields, each once, in declaration order."""
    fields = _FIELDS.get(id(spec))
    if fields is None:  # the specs are module constants: their ids stay theirs
        fields = _FIELDS[id(spec)] = tuple({f.name: f for f in spec.values()}.values())
    return fields


def _field_number(spec: dict[str, F], f: F) -> int:
    """Where ``f`` comes in its message's declaration: protovalidate checks fields in that order."""
    numbers = _FIELD_NUMBERS.get(id(spec))
    if numbers is None:
        numbers = _FIELD_NUMBERS[id(spec)] = {g.name: i for i, g in enumerate(_fields(spec))}
    return numbers[f.name]


# Python attribute names that differ from proto names.
_ATTR = {"import": "imports"}

_MATCH_OPS = ("all", "any", "none", "expr")
_NOWHERE = Position(0, 0, "")
_SCALAR_TYPES = {NULL_TAG: "Null", BOOL_TAG: "Bool", INT_TAG: "Integer", FLOAT_TAG: "Float"}
# What Cerbos says when a field of these kinds holds a mapping or a list.
_NOT_SCALAR = {
    "bool": "expected boolean value got {}",
    "timestamp": "expected string got {}",
    "uint64": "unexpected {}",
}
_DELIMITERS = "-_ \t\n\r"
_CACHE: dict[str, re.Pattern[str]] = {}


def _regex(pattern: str) -> re.Pattern[str]:
    if (compiled := _CACHE.get(pattern)) is None:
        compiled = _CACHE[pattern] = re.compile(pattern, re.ASCII)  # RE2's \w is ASCII-only
    return compiled


def _go_type(node: yaml.Node) -> str:
    """The type goccy/go-yaml (Cerbos's YAML parser) gives a node, as Cerbos's errors name it."""
    if isinstance(node, yaml.MappingNode):
        return "Mapping"
    if isinstance(node, yaml.SequenceNode):
        return "Sequence"
    if node.tag == FLOAT_TAG and node.value.lower().lstrip("+-") in (".inf", ".nan"):
        return "Infinity" if "inf" in node.value.lower() else "Nan"
    if node.tag == STR_TAG and node.style in ("|", ">"):
        return "Literal"
    return _SCALAR_TYPES.get(node.tag, "String")


def go_quote(s: str) -> str:
    """A string quoted as Go's ``%q`` prints it (for the printable text names hold)."""
    return json.dumps(s, ensure_ascii=False)


def field_path(proto_path: str) -> str:
    """A proto path as Cerbos prints it in a violation: go-strcase's ``LowerCamelCase`` of the whole
    text, map keys included (``resources["john_leave_request"].kind`` gives
    ``resources["johnLeaveRequest"].kind``)."""
    text = proto_path.strip()
    out: list[str] = []
    for i, ch in enumerate(text):
        if ch in _DELIMITERS:
            continue
        prev = text[i - 1] if i else ""
        nxt = text[i + 1] if i + 1 < len(text) else ""
        out.append(_camel_char(prev, ch, nxt))
    return "".join(out)


def _camel_char(prev: str, ch: str, nxt: str) -> str:
    """One character of go-strcase's camel case, decided by its neighbours (ASCII letters only)."""
    if prev and prev in _DELIMITERS:
        return ch.upper() if ch.isascii() else ch
    keep = (
        "a" <= prev <= "z"
        or ("A" <= prev <= "Z" and "A" <= ch <= "Z" and "a" <= nxt <= "z")  # the R of XRequestId
        or ("A" <= ch <= "Z" and "0" <= prev <= "9")
    )
    return ch if keep or not "A" <= ch <= "Z" else ch.lower()


def decode_message(cls: type, doc: Document, *, missing_at_parent: bool = True) -> tuple[Any, list[Issue]]:
    """Decode one document into a ``cls`` message (see :data:`~chamberlain.policy.spec.SPECS`) and its problems.

    A document that does not parse (unknown fields, wrong types) gives ``None`` and its parse
    problems; validation (patterns, required fields, list sizes) runs only on one that parsed, as in
    Cerbos. A missing required field is reported at its parent's position, or, with
    ``missing_at_parent=False``, without a position as Cerbos reports it.
    """
    decoder = _Decoder(doc, missing_at_parent)
    message = decoder.message(cls, doc.root, "$", "", node_position(doc.root, "$"))
    if decoder.parse_failed:
        return None, decoder.sorted_issues(PARSE)
    return message, decoder.sorted_issues()


def decode_policy(doc: Document) -> tuple[m.Policy | None, list[Issue]]:
    """Decode one document into a :class:`~chamberlain.policy.model.Policy` and its problems."""
    policy, issues = decode_message(m.Policy, doc)
    return policy, issues


def read_single(cls: type, file: str, data: bytes, what: str) -> tuple[Any, list[Issue]]:
    """The one ``cls`` message in ``file`` (``what`` it holds, for messages), and its problems.

    Problems are in Cerbos's order, a missing field without a position as Cerbos reports it. An
    empty file is an empty message, whose required fields are missing.
    """
    docs, issues = read_documents(file, data, what)
    if len(docs) + len(issues) > 1:
        message = f"more than one YAML document detected: {what} file holds a single document"
        return None, [Issue(file, PARSE, message)]
    if issues:
        return None, issues
    return decode_message(cls, docs[0] if docs else _empty(file), missing_at_parent=False)


def _empty(file: str) -> Document:
    return Document(file, yaml.compose("{}"), "{}")


class _Decoder:
    def __init__(self, doc: Document, missing_at_parent: bool = True):
        self.doc = doc
        self.missing_at_parent = missing_at_parent
        self.issues: list[tuple[Issue, tuple[int, ...]]] = []  # with the field order of its path
        self.positions: dict[str, Position] = {}
        self.key_positions: dict[str, Position] = {}
        self.order: dict[str, tuple[int, ...]] = {}  # proto path -> field numbers and indexes on the way
        self.parse_failed = False

    def sorted_issues(self, kind: str = "") -> list[Issue]:
        """The problems in Cerbos's order: by position, then those without one in field order."""
        found = [(issue, order) for issue, order in self.issues if not kind or issue.kind == kind]
        found.sort(
            key=lambda pair: (
                (0, pair[0].line, pair[0].column, pair[0].path, pair[1])
                if pair[0].line
                else (1, 0, 0, "", pair[1])
            )
        )
        return [issue for issue, _ in found]

    # -- problems ---------------------------------------------------------------------------------

    def parse_error(self, node: yaml.Node, ypath: str, message: str) -> None:
        pos = item_position(node, ypath, self.doc.text)  # a block mapping is where its first ":" is
        self.parse_failed = True
        self.issues.append((Issue(self.doc.file, PARSE, message, pos.line, pos.column, ypath), ()))

    def violation(self, ppath: str, message: str, fallback: Position) -> None:
        pos = self.positions.get(ppath) or (fallback if self.missing_at_parent else _NOWHERE)
        issue = Issue(
            self.doc.file, VALIDATION, f"{field_path(ppath)}: {message}", pos.line, pos.column, pos.path
        )
        self.issues.append((issue, self.order.get(ppath, ())))

    # -- messages ---------------------------------------------------------------------------------

    def message(self, cls: type, node: yaml.Node, ypath: str, ppath: str, pos: Position) -> Any:
        if cls is m.Match:
            return self.match(node, ypath, ppath, pos)
        if not isinstance(node, yaml.MappingNode):
            self.parse_error(node, ypath, f"expected object got {_go_type(node)}")
            return None
        spec = SPECS[cls]
        values: dict[str, Any] = {"pos": pos}
        seen: dict[str, yaml.Node] = {}
        oneofs: dict[str, yaml.Node] = {}
        for key, value in merged_items(node):
            f = self.member(spec, key, ypath, seen, oneofs)
            if f is None:
                continue
            child_ypath = key_path(ypath, key.value)
            child_ppath = f"{ppath}.{f.name}" if ppath else f.name
            key_pos = self.positions[child_ppath] = node_position(key, child_ypath)
            self.order[child_ppath] = (*self.order.get(ppath, ()), _field_number(spec, f))
            decoded = self.field(f, value, child_ypath, child_ppath, key_pos)
            if decoded is not None:
                values[_ATTR.get(f.name, f.name)] = decoded
        self.check_oneof(cls, spec, seen, ppath, pos)
        if not self.parse_failed:
            self.check_required(spec, seen, ppath, pos)
        if cls is m.Policy:
            values.update(file=self.doc.file, positions=self.positions, key_positions=self.key_positions)
        decoded_message = cls(**values)
        if not self.parse_failed:
            self.check_rules(cls, decoded_message, ppath, pos)
        return decoded_message

    def member(
        self,
        spec: dict[str, F],
        key: yaml.Node,
        ypath: str,
        seen: dict[str, yaml.Node],
        oneofs: dict[str, yaml.Node],
    ) -> F | None:
        """The field ``key`` names, or ``None`` (and a parse error) if it cannot be set."""
        if not isinstance(key, yaml.ScalarNode):
            self.parse_error(key, ypath, f"unexpected key type {_go_type(key)}: field names are strings")
            return None
        child_ypath = key_path(ypath, key.value)
        f = spec.get(key.value)
        if f is None:
            self.parse_error(key, child_ypath, self.unknown_field(key.value, spec))
            return None
        if f.name in seen:
            self.parse_error(
                key,
                child_ypath,
                f"duplicate field definition: previous definition at [{node_position(seen[f.name], '')}]",
            )
            return None
        seen[f.name] = key
        if f.oneof:
            if f.oneof in oneofs:
                self.parse_error(
                    key,
                    child_ypath,
                    f"invalid value: oneof field is already set at [{node_position(oneofs[f.oneof], '')}]: set only one of them",
                )
                return None
            oneofs[f.oneof] = key
        return f

    def check_oneof(
        self, cls: type, spec: dict[str, F], seen: dict[str, yaml.Node], ppath: str, pos: Position
    ) -> None:
        group = REQUIRED_ONEOFS.get(cls)
        if group and group not in {spec[n].oneof for n in seen}:
            if ppath:
                self.violation(ppath, "exactly one field is required in oneof", pos)
            else:
                self.missing_policy_type(pos)

    def check_rules(self, cls: type, decoded: Any, ppath: str, pos: Position) -> None:
        for rule in MESSAGE_RULES.get(cls, ()):
            if not rule.holds(decoded):
                self.violation(ppath, rule.message, pos)

    def missing_policy_type(self, pos: Position) -> None:
        kinds = ", ".join(json_name(n) for n in m.KIND_BY_FIELD)
        self.issues.append(
            (
                Issue(
                    self.doc.file,
                    VALIDATION,
                    f"policy type is missing: the document needs exactly one of {kinds}",
                    pos.line,
                    pos.column,
                    "$",
                ),
                (),
            )
        )

    def unknown_field(self, name: str, spec: dict[str, F]) -> str:
        valid = sorted({json_name(f.name) if f.name != "json_schema" else "$schema" for f in spec.values()})
        close = difflib.get_close_matches(name, valid, n=1)
        hint = f'did you mean "{close[0]}"?' if close else f"valid fields: {', '.join(valid)}"
        return f'unknown field "{name}": {hint}'

    def check_required(
        self, spec: dict[str, F], seen: dict[str, yaml.Node], ppath: str, pos: Position
    ) -> None:
        for f in _fields(spec):
            if f.required and f.name not in seen:
                child = f"{ppath}.{f.name}" if ppath else f.name
                self.order[child] = (*self.order.get(ppath, ()), _field_number(spec, f))
                self.violation(child, "value is required", pos)

    def match(self, node: yaml.Node, ypath: str, ppath: str, pos: Position) -> m.Match | None:
        if not isinstance(node, yaml.MappingNode):
            self.parse_error(node, ypath, f"expected object got {_go_type(node)}")
            return None
        found: m.Match | None = None
        for key, value in merged_items(node):
            name = key.value if isinstance(key, yaml.ScalarNode) else ""
            child_ypath = key_path(ypath, name)
            if name not in _MATCH_OPS:
                self.parse_error(
                    key, child_ypath, f'unknown field "{name}": a match is one of expr, all, any, none'
                )
                continue
            if found is not None:
                self.parse_error(
                    key,
                    child_ypath,
                    f"invalid value: oneof field is already set at [{found.pos}]: use all/any/none to combine expressions",
                )
                continue
            child_ppath = f"{ppath}.{name}"
            key_pos = node_position(key, child_ypath)
            self.positions[child_ppath] = key_pos
            if name == "expr":
                found = m.Match("expr", self.string(value, child_ypath), (), key_pos)
            else:
                found = m.Match(name, "", self.match_list(value, child_ypath, child_ppath, key_pos), key_pos)
        if found is None and not self.parse_failed:
            self.violation(ppath, "exactly one field is required in oneof", pos)
        return found

    def match_list(self, node: yaml.Node, ypath: str, ppath: str, pos: Position) -> tuple[m.Match, ...]:
        if not isinstance(node, yaml.MappingNode):
            self.parse_error(
                node, ypath, f"expected object got {_go_type(node)}: write of: and a list of matches"
            )
            return ()
        items = merged_items(node)
        of_node = None
        for key, value in items:
            if key.value != "of":
                self.parse_error(
                    key, key_path(ypath, str(key.value)), f'unknown field "{key.value}": expected "of"'
                )
            else:
                of_node = (key, value)
        if of_node is None:
            if not self.parse_failed:
                self.violation(f"{ppath}.of", "value is required", pos)
            return ()
        key, value = of_node
        of_ypath, of_ppath = key_path(ypath, "of"), f"{ppath}.of"
        self.positions[of_ppath] = node_position(key, of_ypath)
        if not isinstance(value, yaml.SequenceNode):
            self.parse_error(value, of_ypath, f"expected sequence got {_go_type(value)}")
            return ()
        if not value.value and not self.parse_failed:
            self.violation(of_ppath, "value is required", pos)
        out = []
        for i, item in enumerate(value.value):
            ip, yp = f"{of_ppath}[{i}]", f"{of_ypath}[{i}]"
            ipos = self.positions[ip] = item_position(item, yp, self.doc.text)
            if (sub := self.match(item, yp, ip, ipos)) is not None:
                out.append(sub)
        return tuple(out)

    # -- fields -----------------------------------------------------------------------------------

    def field(self, f: F, node: yaml.Node, ypath: str, ppath: str, pos: Position) -> Any:
        kind = f.kind
        if kind == "msg":
            return self.message(f.target, node, ypath, ppath, pos)
        if kind == "list_msg" or kind == "list_str":
            return self.list(f, node, ypath, ppath, pos)
        if kind == "map":
            return self.map(f, node, ypath, ppath, pos)
        value = self.scalar(f, node, ypath)
        if value is not None and not self.parse_failed:
            self.check_scalar(f, value, ppath, pos)
        return value

    def scalar(self, f: F, node: yaml.Node, ypath: str) -> Any:
        kind = f.kind
        if kind == "str":
            return self.string(node, ypath)
        if kind == "value":
            return self.value(node, ypath)
        if not isinstance(node, yaml.ScalarNode):
            if kind == "enum":
                self.parse_error(node, ypath, f"invalid enum value: {_enum_hint(f)}")
            else:
                self.parse_error(node, ypath, _NOT_SCALAR[kind].format(_go_type(node)))
            return None
        if kind == "bool":
            if node.tag != BOOL_TAG:
                self.parse_error(
                    node, ypath, f"expected boolean value got {_go_type(node)}: use true or false"
                )
                return None
            return node.value.lower() == "true"
        if kind == "enum":
            return self.enum(f, node, ypath)
        if kind == "timestamp":
            return self.timestamp(node, ypath)
        try:  # uint64
            number = int(node.value.strip())
            if number < 0:
                raise ValueError
            return number
        except ValueError:
            self.parse_error(
                node, ypath, f"invalid integer value {go_quote(node.value)}: expected an unsigned integer"
            )
            return None

    def enum(self, f: F, node: yaml.ScalarNode, ypath: str) -> str | None:
        names: tuple[str, ...] = f.target
        if node.tag == NULL_TAG:
            return names[0]
        if node.tag == INT_TAG:
            number = int(node.value)
            return names[number] if 0 <= number < len(names) else str(number)
        if node.value in names:
            return str(node.value)
        self.parse_error(node, ypath, f"invalid enum value {go_quote(node.value)}: {_enum_hint(f)}")
        return None

    def timestamp(self, node: yaml.ScalarNode, ypath: str) -> dt.datetime | None:
        """A ``google.protobuf.Timestamp``: an RFC 3339 string, read as Go reads it."""
        if node.tag not in (STR_TAG, TIMESTAMP_TAG):
            self.parse_error(
                node,
                ypath,
                f'expected string got {_go_type(node)}: write an RFC 3339 time, as in "2024-01-31T09:30:00Z"',
            )
            return None
        try:
            return parse_rfc3339(node.value)
        except ValueError as exc:
            self.parse_error(node, ypath, f"invalid timestamp value {go_quote(node.value)}: {exc}")
            return None

    def string(self, node: yaml.Node, ypath: str) -> str:
        if isinstance(node, yaml.ScalarNode):
            tag = node.tag
            if tag == NULL_TAG:
                return ""
            if tag == INT_TAG:  # Cerbos reads the number: 017 is "15", 0x10 "16", +1 "1"
                return str(go_int(node.value))
            if tag == FLOAT_TAG:
                self.parse_error(node, ypath, f"expected string value got {_go_type(node)}: quote it")
                return ""
            return str(node.value)
        self.parse_error(
            node, ypath, f"expected string value got {_go_type(node)}: quote it or use a block scalar (|-)"
        )
        return ""

    def value(self, node: yaml.Node, ypath: str) -> Any:
        """A ``google.protobuf.Value``: numbers become floats, as in Cerbos."""
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key, item in merged_items(node):
                if not isinstance(key, yaml.ScalarNode) or key.tag != STR_TAG:  # 1:, true:, null: too
                    self.parse_error(key, ypath, f"unexpected key type {_go_type(key)}: keys must be strings")
                    continue
                out[key.value] = self.value(item, key_path(ypath, key.value))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, f"{ypath}[{i}]") for i, item in enumerate(node.value)]
        tag = node.tag
        if tag == NULL_TAG:
            return None
        if tag == BOOL_TAG:
            return node.value.lower() == "true"
        if tag == FLOAT_TAG and node.value.lstrip("-")[1:].lower() in ("inf", "nan"):
            # google.protobuf.Value has no infinity or NaN: Cerbos refuses the file
            self.parse_error(node, ypath, f"unexpected {_go_type(node)}")
            return None
        if tag in (INT_TAG, FLOAT_TAG):
            try:
                return _number(node.value, tag == INT_TAG)
            except ValueError:
                return node.value
        return node.value

    def list(self, f: F, node: yaml.Node, ypath: str, ppath: str, pos: Position) -> tuple[Any, ...] | None:
        if not isinstance(node, yaml.SequenceNode):
            if isinstance(node, yaml.ScalarNode) and node.tag == NULL_TAG:
                items: list[yaml.Node] = []
            else:
                self.parse_error(node, ypath, f"expected sequence got {_go_type(node)}")
                return None
        else:
            items = node.value
        out = []
        order = self.order.get(ppath, ())
        for i, item in enumerate(items):
            ip, yp = f"{ppath}[{i}]", f"{ypath}[{i}]"
            ipos = self.positions[ip] = item_position(item, yp, self.doc.text)
            self.order[ip] = (*order, i)
            if f.kind == "list_msg":
                decoded = self.message(f.target, item, yp, ip, ipos)
            elif isinstance(item, yaml.ScalarNode):
                decoded = self.string(item, yp)
            else:
                self.parse_error(item, yp, f"expected string value got {_go_type(item)}")
                continue
            if decoded is not None:
                out.append(decoded)
        if not self.parse_failed:
            self.check_list(f, out, ppath, pos)
        return tuple(out)

    def map(self, f: F, node: yaml.Node, ypath: str, ppath: str, pos: Position) -> dict[str, Any] | None:
        if not isinstance(node, yaml.MappingNode):
            if isinstance(node, yaml.ScalarNode) and node.tag == NULL_TAG:
                return {}
            self.parse_error(node, ypath, f"expected map got {_go_type(node)}")
            return None
        assert f.value is not None, f"map field {f.name} does not describe its values"
        out: dict[str, Any] = {}
        names: set[str] = set()
        order = self.order.get(ppath, ())
        for key, value in merged_items(node):
            if not isinstance(key, yaml.ScalarNode):
                self.parse_error(key, ypath, f"expected string got {_go_type(key)}")
                continue
            name = key.value
            yp, ip = key_path(ypath, name), f"{ppath}[{go_quote(name)}]"
            if name in names:
                self.parse_error(key, yp, f"duplicate key {go_quote(name)}: define it once")
                continue
            names.add(name)
            self.key_positions[ip] = node_position(key, yp)
            value_pos = self.positions[ip] = node_position(value, yp)
            self.order[ip] = (*order, len(names))
            decoded = self.field(f.value, value, yp, ip, value_pos)
            if decoded is not None or f.value.kind == "value":  # a Value may be null
                out[name] = decoded
        if not self.parse_failed:
            self.check_map(f, out, ppath, pos)
        return out

    # -- protovalidate constraints ----------------------------------------------------------------

    def check_scalar(self, f: F, value: Any, ppath: str, pos: Position) -> None:
        if f.kind == "enum":
            number = f.target.index(value) if value in f.target else -1
            if f.required and number == 0:
                self.violation(ppath, "value is required", pos)
            elif f.enum_in and number not in f.enum_in:
                allowed = ", ".join(sorted(f.target[i] for i in f.enum_in))
                self.violation(ppath, f"must be one of [{allowed}]", pos)  # Cerbos's wording for enum `in`
            return
        if not isinstance(value, str):
            return
        if f.const and value != f.const:
            self.violation(ppath, f"must equal `{f.const}`", pos)
        elif f.required and value == "":
            self.violation(ppath, "value is required", pos)
        elif f.min_len and len(value) < f.min_len:
            self.violation(ppath, f"must be at least {f.min_len} characters", pos)
        elif f.pattern and not _regex(f.pattern).search(value):
            self.violation(ppath, f"does not match regex pattern `{f.pattern}`", pos)

    def check_list(self, f: F, items: builtins.list[Any], ppath: str, pos: Position) -> None:
        if f.required and not items:
            self.violation(ppath, "value is required", pos)
        elif f.min_items and len(items) < f.min_items:
            self.violation(ppath, f"value must contain at least {f.min_items} item(s)", pos)
        if f.unique and len(set(items)) != len(items):
            self.violation(ppath, "repeated value must contain unique items", pos)
        for i, item in enumerate(items):
            if not isinstance(item, str):
                continue
            if f.item_min_len and len(item) < f.item_min_len:
                self.violation(f"{ppath}[{i}]", f"must be at least {f.item_min_len} characters", pos)
            elif f.item_pattern and not _regex(f.item_pattern).search(item):
                self.violation(f"{ppath}[{i}]", f"does not match regex pattern `{f.item_pattern}`", pos)

    def check_map(self, f: F, entries: dict[str, Any], ppath: str, pos: Position) -> None:
        if f.required and not entries:
            self.violation(ppath, "value is required", pos)
        for name in entries:
            if len(name) < f.key_min_len:
                self.violation(
                    f"{ppath}[{go_quote(name)}]", f"must be at least {f.key_min_len} characters", pos
                )


def _enum_hint(f: F) -> str:
    names: tuple[str, ...] = f.target
    allowed = [names[i] for i in f.enum_in] if f.enum_in else names[1:]
    return f"use one of {', '.join(allowed)}"


def _number(text: str, integer: bool) -> float:
    """A YAML number as the float Cerbos's ``google.protobuf.Value`` holds."""
    if integer:
        return float(go_int(text))
    text = text.replace("_", "")
    special = {".nan": "nan", ".inf": "inf", "+.inf": "inf", "-.inf": "-inf"}
    return float(special.get(text.lower(), text))
