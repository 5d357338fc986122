"""``chamberlain repl``: an interactive CEL shell for writing policy conditions, with Cerbos's REPL directives.

A line is a CEL expression (its value is printed and kept in ``_``) or a directive:
``:let NAME = EXPR``, ``:vars``, ``:load PATH``, ``:rules``, ``:exec #N``, ``:reset``, ``:help``, ``:quit``.
Cerbos's variables are predefined (``request``, ``R``, ``P``, ``V``, ``C``, ``G``, ``runtime``, ``now()``);
``:let`` of ``request``, ``P``, ``R``, ``V``, ``C`` or ``G`` takes JSON (or a CEL expression) and keeps
the others consistent (``P`` is ``request.principal``). ``:load`` reads a policy file: its rules and
derived roles with conditions become ``#1``, ``#2``...; its local variables and constants, and those
of export policies loaded before it, are evaluated into ``V`` and ``C``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chamberlain import safeyaml, strictjson
from chamberlain.cel import CelError, compile
from chamberlain.cel.jsonvalue import to_json
from chamberlain.engine.activation import RequestClock, VariablesMap, base_activation
from chamberlain.files import FileRefused, read_text_bounded

HELP = """\
Type a CEL expression to evaluate it; its value is kept in _.
Directives:
  :let NAME = EXPR   define a variable (request, P, R, V, C and G take JSON or CEL)
  :vars              show the variables
  :load PATH         load a policy file: its conditions, variables and constants
  :rules             show the loaded rules with their ids
  :exec #N           evaluate the condition of rule #N against the variables
  :reset             forget every variable and rule
  :help, :h          this text
  :quit, :q, :exit   leave (so does Ctrl-D)"""

MAX_POLICY_BYTES = 4 << 20
_LET = re.compile(r"let\s+([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.+)", re.DOTALL)
_SPECIAL = {
    "request",
    "request.principal",
    "request.resource",
    "P",
    "R",
    "V",
    "variables",
    "C",
    "constants",
    "G",
    "globals",
}


class ReplError(Exception):
    """A line that cannot be done; the message is printed and the shell goes on."""


@dataclass(frozen=True)
class LoadedRule:
    """A condition from a loaded policy: where it is and the ``condition.match`` tree."""

    origin: str
    match: Any
    variables: Mapping[str, str]
    constants: Mapping[str, Any]


class Repl:
    """The shell's state; :meth:`line` runs one line and returns what to print (``None``: quit)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.activation = base_activation(
            {"id": "", "roles": [], "attr": {}},
            {"kind": "", "id": "", "attr": {}},
            {},
            VariablesMap(),
            RequestClock(),
        )
        self.names: dict[str, Any] = {}
        self.rules: list[LoadedRule] = []
        self.exported_variables: dict[str, Mapping[str, str]] = {}
        self.exported_constants: dict[str, Mapping[str, Any]] = {}

    def line(self, text: str) -> str | None:
        text = text.strip()
        if not text or text.startswith("#"):
            return ""
        try:
            if text.startswith(":"):
                return self._directive(text[1:].strip())
            value = self._evaluate(text)
        except (ReplError, CelError) as exc:
            return f"error: {exc}"
        self.names["_"] = value
        return _show(value)

    def _directive(self, text: str) -> str | None:
        word, _, rest = text.partition(" ")
        rest = rest.strip()
        actions: dict[str, Callable[[], str | None]] = {
            "q": lambda: None,
            "quit": lambda: None,
            "exit": lambda: None,
            "h": lambda: HELP,
            "help": lambda: HELP,
            "reset": self._reset,
            "vars": self._vars,
            "rules": self._rules,
            "load": lambda: self._load(rest),
            "exec": lambda: self._exec(rest),
        }
        if word == "let":
            return self._let(text)
        if word not in actions:
            raise ReplError(f"unknown directive :{word} (:help lists them)")
        return actions[word]()

    def _reset(self) -> str:
        self.reset()
        return "variables and rules cleared"

    def _evaluate(self, expression: str) -> Any:
        return compile(expression).evaluate({**self.activation, **self.names})

    def _let(self, text: str) -> str:
        found = _LET.fullmatch(text)
        if found is None:
            raise ReplError("expected :let NAME = EXPR")
        name, expression = found.groups()
        if name in _SPECIAL:
            value = self._json_or_cel(expression)
            self._set_special(name, value)
        elif "." in name:
            raise ReplError(f"{name}: only request.principal and request.resource take a dotted name")
        else:
            value = self.names[name] = self._evaluate(expression)
        return f"{name} = {_show(value)}"

    def _json_or_cel(self, expression: str) -> Any:
        try:
            return strictjson.loads(expression)
        except strictjson.JSONError:
            return self._evaluate(expression)

    def _set_special(self, name: str, value: Any) -> None:
        act = self.activation
        request = act["request"]
        if name == "request":
            _mapping(name, value)
            self._set_special("P", value.get("principal", {}))
            self._set_special("R", value.get("resource", {}))
            aux = value.get("aux_data", value.get("auxData", {}))
            request["aux_data"] = request["auxData"] = aux
        elif name in ("P", "request.principal"):
            act["P"] = request["principal"] = {"id": "", "roles": [], "attr": {}, **_mapping(name, value)}
        elif name in ("R", "request.resource"):
            act["R"] = request["resource"] = {"kind": "", "id": "", "attr": {}, **_mapping(name, value)}
        else:
            spelled = {"V": "variables", "C": "constants", "G": "globals"}.get(name, name)
            short = {"variables": "V", "constants": "C", "globals": "G"}[spelled]
            act[spelled] = act[short] = VariablesMap(_mapping(name, value))

    def _vars(self) -> str:
        act = self.activation
        shown = {
            "request": act["request"],
            "V": dict(act["V"]),
            "C": dict(act["C"]),
            "G": dict(act["G"]),
            "runtime": act["runtime"],
            **self.names,
        }
        return "\n".join(f"{name} = {_show(value)}" for name, value in shown.items())

    def _load(self, path: str) -> str:
        if not path:
            raise ReplError("expected :load PATH")
        try:
            text = read_text_bounded(Path(path).expanduser(), MAX_POLICY_BYTES, "policy file")
            documents = [d for d in safeyaml.load_all(text, path) if d is not None]
        except (FileRefused, safeyaml.YAMLRefused, yaml.YAMLError) as exc:
            raise ReplError(f"cannot load {path}: {exc}") from None
        return "\n".join(f"loaded {path}: {self._load_document(_mapping(path, d), path)}" for d in documents)

    def _load_document(self, document: Mapping[str, Any], path: str) -> str:
        """Take in one policy document; says what it added."""
        for kind, exported in (
            ("exportVariables", self.exported_variables),
            ("exportConstants", self.exported_constants),
        ):
            if kind in document:
                spec = _mapping(kind, document[kind])
                exported[spec.get("name", "")] = dict(spec.get("definitions") or {})
                return f"{kind} {spec.get('name', '')!r} ({len(exported[spec.get('name', '')])} definitions)"
        for kind in ("resourcePolicy", "principalPolicy", "derivedRoles", "rolePolicy"):
            if kind in document:
                spec = _mapping(kind, document[kind])
                variables = self._imports(spec.get("variables"), self.exported_variables, "variables", path)
                variables.update(document.get("variables") or {})  # the deprecated top-level section
                constants = self._imports(spec.get("constants"), self.exported_constants, "constants", path)
                before = len(self.rules)
                for origin, match in _conditions(kind, spec):
                    self.rules.append(LoadedRule(f"{path}: {origin}", match, variables, constants))
                self._evaluate_definitions(variables, constants)
                if len(self.rules) == before:
                    return f"{kind}: no rule has a condition"
                return (
                    f"{kind}: rules #{before + 1} to #{len(self.rules)} have conditions (:rules lists them)"
                )
        raise ReplError(f"{path}: not a policy (no resourcePolicy, principalPolicy, derivedRoles, ...)")

    def _imports(
        self, section: Any, exported: Mapping[str, Mapping[str, Any]], what: str, path: str
    ) -> dict[str, Any]:
        section = section or {}
        out: dict[str, Any] = {}
        for name in section.get("import") or []:
            if name not in exported:
                raise ReplError(
                    f"{path}: {what} import {name!r} is not loaded: :load its export policy first"
                )
            out.update(exported[name])
        out.update(section.get("local") or {})
        return out

    def _evaluate_definitions(self, variables: Mapping[str, str], constants: Mapping[str, Any]) -> None:
        """``C`` from the constants, then ``V``: each variable once those it reads are known."""
        act = self.activation
        act["constants"] = act["C"] = VariablesMap({**act["C"], **constants})
        values: dict[str, Any] = dict(act["V"])
        pending = dict(variables)
        while pending:
            progress = False
            for name, expression in list(pending.items()):
                try:
                    values[name] = compile(str(expression)).evaluate(
                        {**act, "V": VariablesMap(values), "variables": VariablesMap(values)}
                    )
                except CelError:
                    continue
                del pending[name]
                progress = True
            if not progress:
                break  # the rest fail (or read what is not set yet): :vars leaves them out, :exec says why
        act["variables"] = act["V"] = VariablesMap(values)

    def _rules(self) -> str:
        if not self.rules:
            return "no rules loaded (:load PATH)"
        return "\n".join(f"#{i} {rule.origin}" for i, rule in enumerate(self.rules, 1))

    def _exec(self, reference: str) -> str:
        found = re.fullmatch(r"#?(\d+)", reference)
        if found is None or not 1 <= int(found.group(1)) <= len(self.rules):
            raise ReplError(f"expected :exec #N with N from 1 to {len(self.rules)} (:rules lists them)")
        rule = self.rules[int(found.group(1)) - 1]
        self._evaluate_definitions(rule.variables, rule.constants)
        return "\n".join(self._tree(rule.match, 0)[0])

    def _tree(self, node: Any, depth: int) -> tuple[list[str], bool | None]:
        """Lines showing each expression's value (or error) and what each all/any/none came to; and the
        node's value (None: an error)."""
        pad = "  " * depth
        if isinstance(node, Mapping) and "expr" in node:
            try:
                value = self._evaluate(str(node["expr"]))
            except CelError as exc:
                return [f"{pad}{node['expr']} -> error: {exc}"], None
            return [f"{pad}{node['expr']} -> {_show(value)}"], value if isinstance(value, bool) else None
        op = next((o for o in ("all", "any", "none") if isinstance(node, Mapping) and o in node), None)
        if op is None:
            return [f"{pad}unrecognised condition: {node!r}"], None
        lines: list[str] = []
        values = []
        for child in (node[op] or {}).get("of") or []:
            child_lines, value = self._tree(child, depth + 1)
            lines += child_lines
            values.append(value)
        result = _combine(op, values)
        return [f"{pad}[{op}] -> {'error' if result is None else _show(result)}", *lines], result


def _conditions(kind: str, spec: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(where, condition.match) of every rule, derived role or principal-policy action with a condition."""
    if kind == "derivedRoles":
        for definition in spec.get("definitions") or []:
            if (definition.get("condition") or {}).get("match") is not None:
                yield f"derived role {definition.get('name')!r}", definition["condition"]["match"]
        return
    for index, rule in enumerate(spec.get("rules") or []):
        inner = rule.get("actions") if kind == "principalPolicy" else [rule]
        for action in inner or []:
            match = (action.get("condition") or {}).get("match")
            if match is not None:
                name = action.get("name") or f"rules[{index}]"
                yield f"rule {name!r} ({action.get('effect', '')})", match


def _combine(op: str, values: list[bool | None]) -> bool | None:
    """all/any/none over the children's values; an error decides only where no other value does."""
    if op == "any":
        return True if True in values else (None if None in values else False)
    if op == "all":
        return False if False in values else (None if None in values else True)
    return False if True in values else (None if None in values else True)


def _mapping(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ReplError(f"{name} must be a JSON object, got {type(value).__name__}")
    return dict(value)


def _show(value: Any) -> str:
    try:
        return json.dumps(to_json(value), ensure_ascii=False)
    except (TypeError, ValueError, CelError):
        return repr(value)


def run(read: Callable[[str], str], write: Callable[[str], None], interactive: bool) -> None:
    """Read lines with ``read(prompt)`` until EOF or :quit, writing each answer with ``write``."""
    repl = Repl()
    if interactive:
        write("chamberlain REPL: a CEL expression, or :help. Ctrl-D quits.")
    while True:
        try:
            text = read("> " if interactive else "")
        except EOFError:
            return
        answer = repl.line(text)
        if answer is None:
            return
        if answer:
            write(answer)


__all__ = ["HELP", "Repl", "ReplError", "run"]
