"""Attribute schemas: JSON Schemas under ``_schemas/``, referenced as ``cerbos:///path.json``."""

from __future__ import annotations

import decimal
import functools
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import referencing.exceptions
from referencing.jsonschema import DRAFT202012

from chamberlain import strictjson
from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.golang import format_float_g
from chamberlain.cel.lib.core import compile_regex
from chamberlain.files import FileRefused, read_bounded
from chamberlain.policy.schema_formats import FORMAT_CHECKER
from chamberlain.policy.source import MAX_FILE_BYTES

SCHEMAS_DIRECTORY = "_schemas"
_PREFIX = "cerbos:///"
# Relative references (``/address.json``, ``../common.json``) resolve against ``cerbos:///`` URLs as
# against any hierarchical URL; urllib only does that for the schemes it lists.
for _registry in (urllib.parse.uses_relative, urllib.parse.uses_netloc):
    if "cerbos" not in _registry:
        _registry.append("cerbos")


@dataclass(slots=True)
class SchemaStore:
    """The schemas of a policy directory by path relative to ``_schemas`` (``principal.json``)."""

    documents: dict[str, Any] = field(default_factory=dict)  # path -> parsed JSON
    problems: dict[str, str] = field(default_factory=dict)  # path -> why it does not parse
    _validators: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_directory(cls, root: Path) -> SchemaStore:
        """Read every ``.json`` file under ``root`` (hidden files and folders skipped)."""
        store = cls()
        if not root.is_dir():
            return store
        for path in sorted(root.rglob("*.json")):
            rel = path.relative_to(root)
            if any(part.startswith(".") for part in rel.parts) or path.is_dir():
                continue
            try:
                store.add(rel.as_posix(), read_bounded(path, MAX_FILE_BYTES, "schema file"))
            except FileRefused as exc:
                store.problems[rel.as_posix()] = f"schema _schemas/{rel.as_posix()}: {exc}"
        return store

    def add(self, path: str, data: bytes) -> None:
        try:
            self.documents[path] = strictjson.loads(data.removeprefix(b"\xef\xbb\xbf"))
        except strictjson.JSONError as exc:
            self.problems[path] = f"schema _schemas/{path} is not valid JSON: {exc.reason}"

    def problem(self, ref: str) -> str | None:
        """Why the schema ``ref`` cannot be used, or ``None`` when it loads and is a valid schema."""
        try:
            self.validator(ref)
        except SchemaLoadError as exc:
            return str(exc)
        return None

    def validator(self, ref: str) -> Any:
        """A ``jsonschema`` validator for ``ref`` (cached); raises :class:`SchemaLoadError`."""
        if (cached := self._validators.get(ref)) is not None:
            return cached
        schema = self._resolve(ref)
        self._check_references(ref, schema)
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        try:
            cls.check_schema(schema, format_checker=FORMAT_CHECKER)  # patterns are Go's (RE2) regexes
        except jsonschema.SchemaError as exc:
            raise SchemaLoadError(f"jsonschema {ref} compilation failed: {exc.message}") from None
        cls = _with_re2(cls)
        # `retrieve` and `ref` are attrs fields, which mypy sees without its attrs plugin's help here.
        registry: referencing.Registry = referencing.Registry(retrieve=self._retrieve)  # type: ignore[call-arg]
        if isinstance(schema, dict) and "$id" not in schema:
            schema = {"$id": ref.split("#", 1)[0], **schema}  # the base its relative $refs resolve against
        validator = cls(schema, registry=registry, format_checker=FORMAT_CHECKER)
        self._validators[ref] = validator
        return validator

    def validate_attributes(self, ref: str, attrs: Any) -> list[str]:
        """Every way ``attrs`` breaks the schema ``ref``: ``"path: message"`` strings, empty when valid."""
        try:
            errors = sorted(self.validator(ref).iter_errors(attrs), key=lambda e: list(e.absolute_path))
        except referencing.exceptions.Unresolvable as exc:
            return [f"schema {ref} has an unresolvable reference: {exc}"]
        return [f"{'/' + '/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]

    def _resolve(self, ref: str, referenced_by: str = "") -> Any:
        """The document ``ref`` names. Errors are worded as Cerbos words them ("schema X doesn't
        exist", "schema X referenced by Y doesn't exist"), X being what Cerbos would have opened."""
        parsed = urllib.parse.urlsplit(ref)
        if parsed.scheme in ("http", "https"):
            raise SchemaLoadError(
                f"schema {ref} is remote, which chamberlain does not support (it never fetches at run "
                f"time): copy it under {SCHEMAS_DIRECTORY}/ and refer to it as {_PREFIX}<path>"
            )
        if parsed.scheme != "cerbos":
            # Cerbos opens a bare path relative to its working directory and a file:// URL from
            # the local disk; chamberlain reads schemas only from _schemas/.
            where = parsed.path if parsed.scheme == "file" else ref
            if parsed.scheme == "file" and Path(where).exists():
                raise SchemaLoadError(
                    f"schema {ref}: file:// references are not supported; use {_PREFIX}<path>"
                )
            raise SchemaLoadError(_not_found(where, referenced_by))
        path = parsed.path.lstrip("/")
        if path in self.problems:
            raise SchemaLoadError(self.problems[path])
        if path not in self.documents:
            raise SchemaLoadError(_not_found(f"{SCHEMAS_DIRECTORY}/{path}", referenced_by))
        return self.documents[path]

    def _check_references(self, ref: str, schema: Any) -> None:
        """Resolve every ``$ref`` reachable from ``schema`` now, as Cerbos's schema compiler does,
        so that a missing one fails loading the schema rather than validating some request."""
        seen = {ref.split("#", 1)[0]}
        pending = [(ref, schema)]
        while pending:
            base, document = pending.pop()
            for target in _references(document):
                absolute = _join(base, target)
                if absolute in seen:
                    continue
                seen.add(absolute)
                pending.append((absolute, self._resolve(absolute, referenced_by=ref)))

    def _retrieve(self, uri: str) -> referencing.Resource:
        try:
            return referencing.Resource.from_contents(self._resolve(uri), default_specification=DRAFT202012)
        except SchemaLoadError as exc:
            raise referencing.exceptions.NoSuchResource(ref=uri) from exc  # type: ignore[call-arg]


def _re2_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    """``pattern``, matched as Cerbos's validator (Go's regexp) matches it: RE2, linear in the input.
    Python's ``re`` (jsonschema's default) backtracks: ``^(a+)+$`` takes minutes on 40 a's and a "!"."""
    if not validator.is_type(instance, "string"):
        return
    regex = _regex(pattern)
    if isinstance(regex, str):
        yield jsonschema.ValidationError(regex)
    elif regex.search(instance) is None:
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


def _re2_pattern_properties(validator: Any, patterns: Any, instance: Any, schema: Any) -> Any:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        regex = _regex(pattern)
        if isinstance(regex, str):
            yield jsonschema.ValidationError(regex)
            continue
        for key, value in instance.items():
            if regex.search(key) is not None:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _regex(pattern: str) -> Any:
    """The RE2 program, or why the pattern cannot be used (valid for Python's re but not for RE2, such as a
    lookahead: Go's regexp refuses it too)."""
    try:
        return compile_regex(pattern)
    except EvaluationError as exc:
        return f"pattern {pattern!r} cannot be used: {exc}"


#: Exact decimal arithmetic for the numeric keywords (enough digits for any double's shortest form).
_EXACT = decimal.Context(prec=1200, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


def _instance_number(value: Any) -> decimal.Decimal:
    """An attribute's number as Cerbos's validator reads it: the request's number is a double
    (``google.protobuf.Value``), turned into an exact rational through its shortest decimal form
    (``fmt.Sprint``): 19.99 is 1999/100, 9007199254740993 is 9007199254740992."""
    try:
        return decimal.Decimal(format_float_g(float(value)))
    except (OverflowError, decimal.InvalidOperation):
        return decimal.Decimal(value)


def _schema_number(value: Any) -> decimal.Decimal:
    """A schema's number as written (its shortest decimal form: 0.01 is 1/100)."""
    return decimal.Decimal(repr(value) if isinstance(value, float) else value)


def _numeric(name: str, holds: Any) -> Any:
    def keyword(validator: Any, bound: Any, instance: Any, schema: Any) -> Any:
        if not validator.is_type(instance, "number") or not validator.is_type(bound, "number"):
            return
        if not holds(_instance_number(instance), _schema_number(bound)):
            yield jsonschema.ValidationError(f"{instance!r} fails {name} {bound!r}")

    return keyword


def _multiple(value: decimal.Decimal, step: decimal.Decimal) -> bool:
    if step == 0:
        return True
    quotient = _EXACT.divide(value, step)
    return quotient == quotient.to_integral_value()


#: ``multipleOf`` and the bounds compared as Cerbos's validator compares them, exactly on decimals:
#: 19.99 is a multiple of 0.01 (binary doubles say 1998.9999999999998), and a request's integer past
#: 2**53 is the double it becomes on the way in.
_NUMERIC = {
    "multipleOf": _numeric("multipleOf", _multiple),
    "minimum": _numeric("minimum", lambda v, b: v >= b),
    "maximum": _numeric("maximum", lambda v, b: v <= b),
    "exclusiveMinimum": _numeric("exclusiveMinimum", lambda v, b: v > b),
    "exclusiveMaximum": _numeric("exclusiveMaximum", lambda v, b: v < b),
}


@functools.cache
def _with_re2(cls: Any) -> Any:
    keywords = {"pattern": _re2_pattern, "patternProperties": _re2_pattern_properties}
    if cls not in (jsonschema.Draft3Validator, jsonschema.Draft4Validator):  # boolean exclusive bounds
        keywords.update(_NUMERIC)
    return jsonschema.validators.extend(cls, keywords)


def _not_found(what: str, referenced_by: str) -> str:
    if referenced_by:
        return f"schema {what} referenced by {referenced_by} doesn't exist"
    return f"schema {what} doesn't exist"


def _references(document: Any) -> list[str]:
    """The ``$ref`` values of a schema document that point at another document (not ``#...``)."""
    found: list[str] = []
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            target = node.get("$ref")
            if isinstance(target, str) and not target.startswith("#"):
                found.append(target.split("#", 1)[0])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _join(base: str, target: str) -> str:
    """``target`` resolved against ``base`` (``/address.json`` next to ``cerbos:///x.json``)."""
    return urllib.parse.urljoin(base, target)


class SchemaLoadError(Exception):
    """A schema reference that does not resolve to a valid JSON Schema (reported as a policy issue)."""
