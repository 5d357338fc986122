"""What a policy directory talks about: kinds, versions, scopes, roles, actions, attribute paths, literals.

Read straight from the YAML (not through chamberlain), so that the differential test's inputs do not
depend on the code under test. Used to draw requests that reach the policies' rules and conditions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_ATTR = re.compile(r"\b(R|P|request\.resource|request\.principal)\.attr((?:\.[A-Za-z_]\w*)+)(\s*\()?")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'')
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_EXPR_KEYS = {"expr", "ruleActivated", "conditionNotMet"}


@dataclass
class Vocabulary:
    """Names and values mentioned by a policy directory (sets, sorted by :meth:`freeze`)."""

    kinds: set[tuple[str, str, str]] = field(default_factory=set)  # (kind, version, scope)
    kind_actions: dict[str, set[str]] = field(default_factory=dict)  # actions the rules of a kind name
    kind_roles: dict[str, set[str]] = field(default_factory=dict)  # roles the rules of a kind name
    principal_ids: set[str] = field(default_factory=set)
    roles: set[str] = field(default_factory=set)
    actions: set[str] = field(default_factory=set)
    scopes: set[str] = field(default_factory=set)
    versions: set[str] = field(default_factory=set)
    resource_paths: set[tuple[str, ...]] = field(default_factory=set)
    principal_paths: set[tuple[str, ...]] = field(default_factory=set)
    strings: set[str] = field(default_factory=set)
    numbers: set[float] = field(default_factory=set)
    #: The principals and resources of the test fixtures, whole: attribute sets whose values relate
    #: to each other (an owner's id, a manager's org path) as the policies' conditions expect.
    principal_fixtures: list[dict[str, Any]] = field(default_factory=list)
    resource_fixtures: list[dict[str, Any]] = field(default_factory=list)


def _policy_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).parts
        if path.suffix not in {".yaml", ".yml", ".json"} or not path.is_file():
            continue
        if any(p.startswith((".", "_")) or p == "testdata" for p in rel) or path.stem.endswith("_test"):
            continue
        yield path


def _walk_strings(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk_strings(v, str(k))
    elif isinstance(node, list):
        for v in node:
            yield from _walk_strings(v, key)
    elif isinstance(node, str):
        yield key, node


def _add_expression(vocab: Vocabulary, expr: str) -> None:
    for m in _ATTR.finditer(expr):
        segments = tuple(m.group(2).lstrip(".").split("."))
        if m.group(3):  # the last segment is a method call (`.startsWith(`), not an attribute
            segments = segments[:-1]
        if segments:
            target = (
                vocab.resource_paths if m.group(1) in {"R", "request.resource"} else vocab.principal_paths
            )
            target.add(segments)
    for m in _STRING.finditer(expr):
        vocab.strings.add(m.group(1) if m.group(1) is not None else m.group(2))
    for m in _NUMBER.finditer(_STRING.sub('""', expr)):
        vocab.numbers.add(float(m.group(0)))


def _add_actions(vocab: Vocabulary, kind: str, actions: list[str]) -> None:
    vocab.actions.update(actions)
    vocab.kind_actions.setdefault(kind, set()).update(actions)


def _add_rules(vocab: Vocabulary, kind: str, rules: list[dict[str, Any]]) -> None:
    for rule in rules or []:
        _add_actions(vocab, kind, rule.get("actions") or [])
        vocab.roles.update(rule.get("roles") or [])
        vocab.kind_roles.setdefault(kind, set()).update(rule.get("roles") or [])


def _add_constants(vocab: Vocabulary, value: Any) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _add_constants(vocab, v)
    elif isinstance(value, list):
        for v in value:
            _add_constants(vocab, v)
    elif isinstance(value, str):
        vocab.strings.add(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        vocab.numbers.add(float(value))


def _add_document(vocab: Vocabulary, doc: dict[str, Any]) -> None:
    for key, text in _walk_strings(doc):
        if key in _EXPR_KEYS or "attr" in text:
            _add_expression(vocab, text)
    if rp := doc.get("resourcePolicy"):
        version, scope = str(rp.get("version", "default")), rp.get("scope", "")
        vocab.kinds.add((rp["resource"], version, scope))
        vocab.versions.add(version)
        vocab.scopes.add(scope)
        _add_rules(vocab, rp["resource"], rp.get("rules"))
    if pp := doc.get("principalPolicy"):
        vocab.principal_ids.add(str(pp["principal"]))
        vocab.versions.add(str(pp.get("version", "default")))
        vocab.scopes.add(pp.get("scope", ""))
        for rule in pp.get("rules") or []:
            vocab.kinds.add((rule["resource"], str(pp.get("version", "default")), pp.get("scope", "")))
            _add_actions(vocab, rule["resource"], [a["action"] for a in rule.get("actions") or []])
    if role := doc.get("rolePolicy"):
        vocab.roles.add(role["role"])
        vocab.roles.update(role.get("parentRoles") or [])
        vocab.scopes.add(role.get("scope", ""))
        for rule in role.get("rules") or []:
            vocab.kinds.add((rule["resource"], str(role.get("version", "default")), role.get("scope", "")))
            _add_actions(vocab, rule["resource"], rule.get("allowActions") or [])
            vocab.kind_roles.setdefault(rule["resource"], set()).add(role["role"])
    if dr := doc.get("derivedRoles"):
        for definition in dr.get("definitions") or []:
            vocab.roles.update(definition.get("parentRoles") or [])
    for key in ("exportConstants",):
        if ec := doc.get(key):
            _add_constants(vocab, ec.get("definitions"))
    for block in (doc.get("constants"), (doc.get("resourcePolicy") or {}).get("constants")):
        if isinstance(block, dict):
            _add_constants(vocab, block.get("local"))


def _documents(path: Path) -> list[Any]:
    text = path.read_text()
    return list(yaml.safe_load_all(text)) if path.suffix != ".json" else [yaml.safe_load(text)]


def _fixture_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.suffix in {".yaml", ".yml", ".json"} and (
            path.stem.endswith("_test") or "testdata" in path.relative_to(root).parts
        ):
            yield path


def load_vocabulary(root: Path) -> Vocabulary:
    """Collect the vocabulary of every policy under ``root``, plus the values its test fixtures use."""
    vocab = Vocabulary()
    for path in _policy_files(root):
        for doc in _documents(path):
            if isinstance(doc, dict):
                _add_document(vocab, doc)
    for path in _fixture_files(root):
        for doc in _documents(path):
            for key, whole in (
                ("principals", vocab.principal_fixtures),
                ("resources", vocab.resource_fixtures),
            ):
                for fixture in ((doc or {}).get(key) or {}).values() if isinstance(doc, dict) else ():
                    if isinstance(fixture, dict):
                        _add_constants(vocab, fixture.get("attr"))
                        whole.append(json.loads(json.dumps(fixture, default=str)))
    vocab.kinds = {k for k in vocab.kinds if "*" not in k[0]}
    vocab.roles.discard("*")
    return vocab
