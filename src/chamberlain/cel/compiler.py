"""Compile a CEL syntax tree into Python code objects.

Why a compiler: measured on this machine, a Python closure evaluates a typical Cerbos condition
in about 0.2 µs, Google's C++ CEL binding in 7.6 µs and the pure-Python cel-python interpreter
in 500 µs. Generating Python source and ``compile()``-ing it lets CPython's own bytecode do the
work, with no tree walk at evaluation time.

Every expression becomes two Python functions of the activation ``act``:

* the *fast* function uses Python's own operators where, for the operand types that make them
  succeed, they agree with CEL exactly (``x['f']`` only succeeds on a dict; ``a == b`` is used
  when both operands have the same simple type; ``and``/``or`` on operands known to be bools);
  anything else goes through the checked helpers of :mod:`chamberlain.cel.runtime`;
* the *exact* function routes every operator through those helpers and gives ``&&``, ``||``,
  ``?:`` and the macros CEL's error semantics (``false && error`` is false).

CEL is free of side effects, so :class:`Program` runs the fast function and, if it raises
anything at all, runs the exact one, whose result or error is the answer. The fast path never
returns a value the exact path would not.

Sub-expressions nested deeper than ``_HOIST_HEIGHT`` are moved into functions of their own so
that the generated source stays within CPython's parser limits for any expression the parser
accepts (nesting depth ≤ 250).
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

from chamberlain.caches import memoize
from chamberlain.cel import budget, comprehensions, functions, runtime
from chamberlain.cel.ast import Call, Expr, Ident, ListExpr, Literal, MapExpr, Select, StructExpr
from chamberlain.cel.errors import CompileError, EvaluationError
from chamberlain.cel.lib import hierarchy
from chamberlain.cel.values import TYPE_IDENTIFIERS, Duration, Timestamp, UInt

_HOIST_HEIGHT = 12
#: The only builtins generated code needs (``x.__class__ is bool`` style checks, ``exists_one``).
_BUILTINS = {
    "Exception": Exception,
    "bool": bool,
    "dict": dict,
    "list": list,
    "len": len,
    "sum": sum,
    "int": int,
    "float": float,
    "str": str,
    "bytes": bytes,
}
#: The names of the classes a constant operand can pin a fast-path check to.
_CLASS_NAMES = {
    int: "int",
    float: "float",
    str: "str",
    bytes: "bytes",
    bool: "bool",
    Timestamp: "_Timestamp",
    Duration: "_Duration",
}

#: Helpers the generated code calls, by the short name it uses.
_HELPERS: dict[str, Any] = {
    "_eq": runtime.equals,
    "_ne": runtime.not_equals,
    "_lt": runtime.less,
    "_le": runtime.less_equal,
    "_gt": runtime.greater,
    "_ge": runtime.greater_equal,
    "_add": runtime.add,
    "_sub": runtime.subtract,
    "_mul": runtime.multiply,
    "_div": runtime.divide,
    "_mod": runtime.modulo,
    "_neg": runtime.negate,
    "_not": runtime.logical_not,
    "_bool": runtime.require_bool,
    "_and": runtime.logical_and,
    "_or": runtime.logical_or,
    "_cond": runtime.conditional,
    "_index": runtime.index,
    "_opt_index": runtime.optional_index,
    "_select": runtime.select,
    "_opt_select": runtime.optional_select,
    "_opt_select_set": runtime.optional_select_set,
    "_has_set": runtime.has_set_field,
    "_has": runtime.has_field,
    "_in": runtime.contains,
    "_mkmap": runtime.make_map,
    "_mkmap_opt": runtime.make_map_optional,
    "_mklist_opt": runtime.make_list_optional,
    "_all": comprehensions.all_of,
    "_exists": comprehensions.exists,
    "_exists_one": comprehensions.exists_one,
    "_all2": comprehensions.all_of2,
    "_exists2": comprehensions.exists2,
    "_exists_one2": comprehensions.exists_one2,
    "_map": comprehensions.map_list,
    "_map_filter": comprehensions.map_filter,
    "_filter": comprehensions.filter_list,
    "_transform_list": comprehensions.transform_list,
    "_transform_map": comprehensions.transform_map,
    "_transform_map_entry": comprehensions.transform_map_entry,
    "_opt_map": comprehensions.optional_map,
    "_opt_flat_map": comprehensions.optional_flat_map,
    "_sort_by": comprehensions.sort_by,
    "_paced": budget.paced,
    "_opt_or": comprehensions.optional_or,
    "_opt_or_value": comprehensions.optional_or_value,
    "_SIMPLE": frozenset((str, int, UInt, float, bytes, bool)),
    "_ORDERED": runtime.ORDERED,
    "_LIST_OR_MAP": frozenset((list, tuple, dict)),
    "_STRINGS": frozenset((str,)),
    "_SIZED": frozenset((str, bytes, list, tuple, dict)),
    "_Timestamp": Timestamp,
    "_Duration": Duration,
}

_COMPARISONS = {"_<_": ("<", "_lt"), "_<=_": ("<=", "_le"), "_>_": (">", "_gt"), "_>=_": (">=", "_ge")}
_ARITHMETIC = {"_+_": "_add", "_-_": "_sub", "_*_": "_mul", "_/_": "_div", "_%_": "_mod"}

#: Functions known to return a bool (lets the fast path use Python's ``and``/``or`` on them).
_BOOL_FUNCTIONS = frozenset(
    (
        "contains",
        "startsWith",
        "endsWith",
        "matches",
        "hasIntersection",
        "has_intersection",
        "isSubset",
        "is_subset",
        "inIPAddrRange",
        *hierarchy.TESTS,
        "hasValue",
    )
)

# Static types the code generator tracks (None: unknown).
_BOOL, _STRING = "bool", "string"
_LITERAL_TYPES = {bool: _BOOL, str: _STRING, bytes: "bytes", type(None): "null", int: "int", float: "double"}
#: Static types for which Python's ``==`` is CEL's equality against any value.
_EXACT_EQ_TYPES = frozenset((_STRING, "bytes", "null"))

#: Values a literal can print as Python source; others become named constants.
_REPR_LITERALS = frozenset((bool, int, float, str, bytes, type(None)))
#: Literals the generated source names rather than spells: expressions that differ only in their
#: strings (a condition repeated with another status in each of 10,000 policies) then generate the
#: same source, compiled once (:func:`_code`).
_NAMED_LITERALS = frozenset((str, bytes))
_STATIC_TYPES = {UInt: "uint", Timestamp: "timestamp", Duration: "duration", **_LITERAL_TYPES}
#: Static types whose values' Python ordering is CEL's ordering (two of one type need no checks).
_ORDERED_STATIC = frozenset(("int", "uint", "double", _STRING, "bytes", _BOOL, "timestamp", "duration"))
#: String member functions whose Python method is CEL's function when both operands are strings.
_INLINE_STRING_METHODS = {
    "startsWith": "{a}.startswith({b})",
    "endsWith": "{a}.endswith({b})",
    "contains": "({b} in {a})",
}

_SINGLE_VAR_MACROS = {
    "all": "_all",
    "exists": "_exists",
    "exists_one": "_exists_one",
    "existsOne": "_exists_one",
}
_TWO_VAR_MACROS = {
    "all": "_all2",
    "exists": "_exists2",
    "exists_one": "_exists_one2",
    "existsOne": "_exists_one2",
}
_TRANSFORMS = {
    "transformList": "_transform_list",
    "transformMap": "_transform_map",
    "transformMapEntry": "_transform_map_entry",
}


#: The fields of ``request`` that are messages themselves (``request.principal.scope``).
_REQUEST_MESSAGES = frozenset(("principal", "resource", "aux_data", "auxData"))


@dataclass(frozen=True, slots=True)
class Options:
    """How names resolve: ``variables`` declared (None: resolved at run time), the ``container``.

    ``check=False`` (CEL's unchecked mode) turns an unknown function or a wrong number of
    arguments into an evaluation error instead of a compile error.
    """

    container: str = ""
    disable_macros: bool = False
    variables: frozenset[str] | None = None
    check: bool = True


_NOT_CONSTANT = object()


@dataclass(slots=True)
class _Code:
    text: str
    height: int = 1
    static_type: str | None = None
    #: The value, when the code is a compile-time constant (literals and folded calls).
    constant: Any = _NOT_CONSTANT
    #: For a macro run as a loop function: (its definition, statements that return the value).
    #: At the root of the fast function the statements replace the call (one call less).
    inline: tuple[str, list[str]] | None = None


@dataclass
class _Module:
    """The generated module: constants, hoisted functions and the entry point."""

    constants: dict[str, Any] = field(default_factory=dict)
    functions: list[str] = field(default_factory=list)
    counter: int = 0

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def constant(self, value: Any) -> str:
        name = self.fresh("_k")
        self.constants[name] = value
        return name


class _Generator:
    def __init__(
        self, source: str, options: Options, fast: bool, shared_paths: set[tuple[str, ...]] = frozenset()
    ):
        self.source = source
        self.options = options
        self.fast = fast
        self.module = _Module()
        self.scopes: list[tuple[str, str]] = []  # (CEL name, Python name), innermost last
        #: How often each variable path prefix is read (the fast path's first pass counts).
        self.path_counts: Counter[tuple[str, ...]] = Counter()
        #: Variable paths read once at the top of the fast function, and their local names.
        self.cached_paths: dict[tuple[str, ...], str] = {}
        self.prologue: list[str] = []
        for path in sorted(shared_paths, key=len):
            self.cache_path(path)

    # ------------------------------------------------------------------ entry point

    def generate(self, root: Expr) -> tuple[str, dict[str, Any]]:
        code = self.emit(root)
        if not self.fast:
            main = f"def _main(act):\n    return {code.text}\n"
        else:
            lines = [*self.prologue, f"return {code.text}"]
            if code.inline is not None:
                definition, loop_lines = code.inline
                self.module.functions.remove(definition)
                lines[-1:] = loop_lines
            # Anything the fast path raises hands the decision to the exact path (``_exact``).
            statements = "".join(f"        {line}\n" for line in lines)
            main = (
                f"def _main(act):\n    try:\n{statements}"
                "    except Exception:\n        pass\n    return _exact(act)\n"
            )
        return "\n".join([*self.module.functions, main]), self.module.constants

    def cache_path(self, path: tuple[str, ...]) -> None:
        """Read ``path`` (variable, field, ...) once into a local that every later use shares.

        Only the fast path does this: if a read fails (a missing key the expression would not
        have touched), the exact path, which reads nothing ahead, decides.
        """
        name = self.module.fresh("_p")
        base = self.path_code(path[:-1]) if len(path) > 1 else f"act[{path[0]!r}]"
        suffix = "" if len(path) == 1 else f"[{path[-1]!r}]"
        self.prologue.append(f"{name} = {base}{suffix}")
        self.cached_paths[path] = name
        self.scopes.append(("\x00path", name))  # passed on to hoisted functions like bound names

    def path_code(self, path: tuple[str, ...]) -> str:
        """Fast-path code reading a variable path, from the longest prefix already in a local."""
        for length in range(len(path), 0, -1):
            name = self.cached_paths.get(path[:length])
            if name is not None:
                return name + "".join(f"[{part!r}]" for part in path[length:])
        return f"act[{path[0]!r}]" + "".join(f"[{part!r}]" for part in path[1:])

    def error(self, message: str, node: Expr) -> CompileError:
        return CompileError(message, self.source, node.pos)

    # ------------------------------------------------------------------ dispatch

    def emit(self, node: Expr) -> _Code:
        if isinstance(node, Literal):
            return self.literal(node.value)
        if isinstance(node, Ident):
            return self.name_chain(node, [])
        if isinstance(node, Select):
            return self.select(node)
        if isinstance(node, Call):
            code = self.call(node)
        elif isinstance(node, ListExpr):
            code = self.list_literal(node)
        elif isinstance(node, MapExpr):
            code = self.map_literal(node)
        elif isinstance(node, StructExpr):
            raise self.error(
                f"not supported: constructing message '{node.type_name}' needs protobuf types", node
            )
        else:  # pragma: no cover - the parser builds only the nodes above
            raise self.error(f"unknown expression node {type(node).__name__}", node)
        return self.hoist(code) if code.height > _HOIST_HEIGHT else code

    def hoist(self, code: _Code) -> _Code:
        """Move ``code`` into a function of its own (bound variables become its parameters)."""
        name = self.module.fresh("_h")
        params = ", ".join(["act", *(py for _, py in self.scopes)])
        self.module.functions.append(f"def {name}({params}):\n    return {code.text}\n")
        return _Code(f"{name}({params})", 1, code.static_type)

    def children(self, nodes: Iterable[Expr]) -> tuple[list[str], int]:
        codes = [self.emit(n) for n in nodes]
        return [c.text for c in codes], max((c.height for c in codes), default=0)

    # ------------------------------------------------------------------ literals

    def literal(self, value: Any) -> _Code:
        static = _LITERAL_TYPES.get(type(value))
        if type(value) in _NAMED_LITERALS:  # a name, so that the source (and its code) is shared
            return _Code(self.module.constant(value), 1, static, value)
        if type(value) in _REPR_LITERALS and (type(value) is not float or math.isfinite(value)):
            return _Code(repr(value), 1, static, value)
        return _Code(self.module.constant(value), 1, static or _STATIC_TYPES.get(type(value)), value)

    def list_literal(self, node: ListExpr) -> _Code:
        items, height = self.children(node.elements)
        text = f"[{', '.join(items)}]"
        if node.optional_indices:
            text = f"_mklist_opt({text}, {tuple(node.optional_indices)!r})"
        return _Code(text, height + 1, "list")

    def map_literal(self, node: MapExpr) -> _Code:
        keys, key_height = self.children(e.key for e in node.entries)
        values, value_height = self.children(e.value for e in node.entries)
        height = max(key_height, value_height) + 1
        if any(e.optional for e in node.entries):
            entries = ", ".join(
                f"({k}, {v}, {e.optional})" for k, v, e in zip(keys, values, node.entries, strict=True)
            )
            return _Code(f"_mkmap_opt(({entries},))", height, "map")
        literal_keys = [e.key.value for e in node.entries if isinstance(e.key, Literal)]
        if len(set(literal_keys)) == len(node.entries) and all(type(k) is str for k in literal_keys):
            # Distinct string literal keys: a plain dict display is the map.
            pairs = ", ".join(f"{k}: {v}" for k, v in zip(keys, values, strict=True))
            return _Code(f"{{{pairs}}}", height, "map")
        entries = ", ".join(f"({k}, {v})" for k, v in zip(keys, values, strict=True))
        return _Code(f"_mkmap(({entries},))", height, "map")

    # ------------------------------------------------------------------ names and selection

    def bound(self, name: str) -> str | None:
        for cel_name, py_name in reversed(self.scopes):
            if cel_name == name:
                return py_name
        return None

    def select(self, node: Select) -> _Code:
        if node.optional:
            operand = self.emit(node.operand)
            helper = "_opt_select_set" if self.request_message(node.operand) else "_opt_select"
            return _Code(f"{helper}({operand.text}, {node.field!r})", operand.height + 1, "optional")
        parts: list[str] = [node.field]
        current: Expr = node.operand
        while isinstance(current, Select) and not current.optional:
            parts.append(current.field)
            current = current.operand
        parts.reverse()
        if isinstance(current, Ident):
            return self.name_chain(current, parts)
        code = self.emit(current)
        # A field of a literal (1.5.a) is always an error: written 1.5['a'], CPython warns at compile time.
        literal = isinstance(current, Literal)
        for part in parts:
            code = self.field_access(code, part, subscript=not literal)
        return code

    def field_access(self, code: _Code, field_name: str, *, subscript: bool = True) -> _Code:
        # Fast: Python's subscript succeeds only on a dict (lists, strings and the rest raise
        # TypeError for a str key), which is exactly CEL's map field selection.
        if self.fast and subscript:
            text = f"{code.text}[{field_name!r}]"
        else:
            text = f"_select({code.text}, {field_name!r})"
        code = _Code(text, code.height + 1)
        return self.hoist(code) if code.height > _HOIST_HEIGHT else code

    def name_chain(self, root: Ident, parts: list[str]) -> _Code:
        """An identifier followed by field selections: a bound variable, a (qualified) variable, or a type."""
        py_name = None if root.absolute else self.bound(root.name)
        if py_name is not None:
            code = _Code(py_name)
            remaining = parts
        else:
            code, remaining, variable = self.resolve_variable(root, parts)
            if self.fast and variable is not None:
                path = (variable, *remaining)
                self.path_counts.update(path[:length] for length in range(1, len(path) + 1))
                code = _Code(self.path_code(path), len(path))
                return self.hoist(code) if code.height > _HOIST_HEIGHT else code
        for part in remaining:
            code = self.field_access(code, part)
        return code

    def candidates(self, qualified: str, absolute: bool) -> list[str]:
        """Names ``qualified`` may stand for inside the container, most qualified first."""
        container = self.options.container
        if absolute or not container:
            return [qualified]
        segments = container.split(".")
        return [".".join([*segments[:i], qualified]) for i in range(len(segments), -1, -1)]

    def resolve_variable(self, root: Ident, parts: list[str]) -> tuple[_Code, list[str], str | None]:
        """The code for the variable a dotted name starts with, the fields left, and the variable's name."""
        names = [root.name, *parts]
        declared = self.options.variables
        for length in range(len(names), 0, -1):
            qualified = ".".join(names[:length])
            for candidate in self.candidates(qualified, root.absolute):
                if declared is not None and candidate in declared:
                    return _Code(f"act[{candidate!r}]"), names[length:], candidate
                if candidate in TYPE_IDENTIFIERS:
                    constant = TYPE_IDENTIFIERS[candidate]
                    return _Code(self.module.constant(constant), constant=constant), names[length:], None
        if declared is not None:
            raise self.error(self.undeclared(root.name), root)
        if self.fast and not self.options.container and not root.absolute:
            return _Code(f"act[{root.name!r}]"), parts, root.name
        # Resolved at run time against the activation's keys, the longest qualified name first.
        options = [
            (c, names[length:])
            for length in range(len(names), 0, -1)
            for c in self.candidates(".".join(names[:length]), root.absolute)
        ]
        resolver = self.module.constant(_runtime_resolver(options, root.name))
        return _Code(f"{resolver}(act)"), [], None

    # ------------------------------------------------------------------ calls and operators

    def call(self, node: Call) -> _Code:
        if not self.options.disable_macros:
            macro = self.macro(node)
            if macro is not None:
                return macro
        if node.target is None:
            operator = self.operator(node)
            if operator is not None:
                return operator
        return self.function_call(node)

    def operator(self, node: Call) -> _Code | None:
        name, args = node.function, node.args
        if name == "_&&_" or name == "_||_":
            return self.logical(node)
        if name == "_?_:_":
            return self.conditional(node)
        if name in ("_==_", "_!=_"):
            return self.equality(node)
        if name in _COMPARISONS:
            return self.comparison(node)
        if name == "@in":
            return self.membership(node)
        if name == "!_":
            operand = self.emit(args[0])
            if self.fast and operand.static_type == _BOOL:
                return _Code(f"(not {operand.text})", operand.height + 1, _BOOL)
            return _Code(f"_not({operand.text})", operand.height + 1, _BOOL)
        if name not in _ARITHMETIC and name not in ("-_", "_[_]", "_[?_]"):
            return None
        texts, height = self.children(args)
        if name in _ARITHMETIC:
            return _Code(f"{_ARITHMETIC[name]}({texts[0]}, {texts[1]})", height + 1)
        if name == "-_":
            return _Code(f"_neg({texts[0]})", height + 1)
        if name == "_[_]":
            return _Code(f"_index({texts[0]}, {texts[1]})", height + 1)
        return _Code(f"_opt_index({texts[0]}, {texts[1]})", height + 1, "optional")

    def flatten(self, node: Expr, name: str) -> list[Expr]:
        """The operands of a chain of one associative operator (``a && b && c``)."""
        operands: list[Expr] = []
        stack = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, Call) and current.function == name and current.target is None:
                stack.extend(reversed(current.args))
            else:
                operands.append(current)
        return operands

    def logical(self, node: Call) -> _Code:
        operands = [self.emit(o) for o in self.flatten(node, node.function)]
        height = max(o.height for o in operands) + 1
        if self.fast:
            joiner = " and " if node.function == "_&&_" else " or "
            return _Code(f"({joiner.join(self.as_bool(o) for o in operands)})", height, _BOOL)
        helper = "_and" if node.function == "_&&_" else "_or"
        thunks = ", ".join(self.thunk(o.text) for o in operands)
        return _Code(f"{helper}({thunks})", height, _BOOL)

    def thunk(self, text: str) -> str:
        return f"lambda: {text}"

    def named(self, text: str) -> tuple[str, str]:
        """A name for the value of ``text`` and the text that binds it (``text`` itself if a name)."""
        if text.isidentifier():  # a local already (a cached path, a loop variable): no temporary
            return text, text
        temp = self.module.fresh("_t")
        return temp, f"({temp} := {text})"

    def as_bool(self, code: _Code) -> str:
        """Fast-path text that yields ``code``'s value when it is a bool and raises otherwise."""
        if code.static_type == _BOOL:
            return code.text
        t, binding = self.named(code.text)
        return f"({t} if {binding}.__class__ is bool else _bool({t}))"

    def conditional(self, node: Call) -> _Code:
        condition, if_true, if_false = (self.emit(a) for a in node.args)
        height = max(condition.height, if_true.height, if_false.height) + 1
        static = if_true.static_type if if_true.static_type == if_false.static_type else None
        if self.fast:
            text = f"({if_true.text} if {self.as_bool(condition)} else {if_false.text})"
        else:
            text = f"_cond({condition.text}, {self.thunk(if_true.text)}, {self.thunk(if_false.text)})"
        return _Code(text, height, static)

    def equality(self, node: Call) -> _Code:
        left, right = (self.emit(a) for a in node.args)
        height = max(left.height, right.height) + 1
        negate = node.function == "_!=_"
        helper = "_ne" if negate else "_eq"
        op = "!=" if negate else "=="
        if not self.fast:
            return _Code(f"{helper}({left.text}, {right.text})", height, _BOOL)
        if left.static_type in _EXACT_EQ_TYPES or right.static_type in _EXACT_EQ_TYPES:
            return _Code(f"({left.text} {op} {right.text})", height, _BOOL)
        return _Code(self.same_class(left, right, "_SIMPLE", f"{{a}} {op} {{b}}", helper), height, _BOOL)

    def same_class(self, left: _Code, right: _Code, classes: str, python: str, helper: str) -> str:
        """Fast-path text: ``python`` when both operands have one class of ``classes``, else ``helper(a, b)``.

        A constant operand needs no temporary and pins the class to check.
        """
        for constant_side, other in ((right, left), (left, right)):
            name = _CLASS_NAMES.get(type(constant_side.constant))
            if name is not None and type(constant_side.constant) in _HELPERS[classes]:
                t, binding = self.named(other.text)
                a, b = (t, constant_side.text) if constant_side is right else (constant_side.text, t)
                expression = python.format(a=a, b=b)
                return f"(({expression}) if {binding}.__class__ is {name} else {helper}({a}, {b}))"
        (a, bind_a), (b, bind_b) = self.named(left.text), self.named(right.text)
        expression = python.format(a=a, b=b)
        if classes == "_STRINGS":
            same = f"{bind_a}.__class__ is {bind_b}.__class__ is str"
        else:  # strings first: the common case (``R.attr.owner == P.id``) is decided by identity tests
            c = self.module.fresh("_t")
            same = f"({c} := {bind_a}.__class__) is {bind_b}.__class__ and ({c} is str or {c} in {classes})"
        return f"(({expression}) if {same} else {helper}({a}, {b}))"

    def string_method(self, function: str, python: str, target: _Code, arg: _Code, fn: str) -> str:
        """Fast-path text of ``target.function(arg)`` for a string method, ``python`` in general.

        A constant prefix or suffix has cheaper forms than the method call (which in CPython 3.11
        parses its arguments as a tuple): ``s.startsWith(p)`` is ``p <= s < q``, ``q`` being ``p``
        with its last character incremented (``s`` starts with ``p`` exactly when it sorts from
        ``p`` up to, not including, ``q``); ``s.endsWith(x)`` is ``s[-len(x):] == x``.
        """
        constant = arg.constant
        if type(constant) is str and constant:
            if function == "startsWith" and constant[-1] != chr(sys.maxunicode):
                successor = repr(constant[:-1] + chr(ord(constant[-1]) + 1))
                python = "{b} <= {a} < " + successor.replace("{", "{{").replace("}", "}}")
            elif function == "endsWith":
                python = f"{{a}}[{self.module.constant(slice(-len(constant), None))}] == {{b}}"
        return self.same_class(target, arg, "_STRINGS", python, fn)

    def comparison(self, node: Call) -> _Code:
        left, right = (self.emit(a) for a in node.args)
        height = max(left.height, right.height) + 1
        op, helper = _COMPARISONS[node.function]
        if not self.fast:
            return _Code(f"{helper}({left.text}, {right.text})", height, _BOOL)
        if left.static_type == right.static_type and left.static_type in _ORDERED_STATIC:
            return _Code(f"({left.text} {op} {right.text})", height, _BOOL)
        return _Code(self.same_class(left, right, "_ORDERED", f"{{a}} {op} {{b}}", helper), height, _BOOL)

    def membership(self, node: Call) -> _Code:
        element_node, container_node = node.args
        element, container = self.emit(element_node), self.emit(container_node)
        height = max(element.height, container.height) + 1
        if self.fast and _is_string_list_literal(container_node):
            # Python's `in` over string constants compares with ==, which is CEL's equality for a
            # string; anything else is in no list of string constants (cel-go looks a constant
            # list's members up by value, so a SPIFFE trust domain equal to "a.io" is not in ["a.io"]).
            constants = tuple(e.value for e in container_node.elements)
            e, binding = self.named(element.text)
            text = f"({binding}.__class__ is str and {e} in {self.module.constant(constants)})"
            return _Code(text, height, _BOOL)
        if self.fast and element.static_type == _STRING:
            c, binding = self.named(container.text)
            text = f"(({element.text} in {c}) if {binding}.__class__ in _LIST_OR_MAP else _in({element.text}, {c}))"
            return _Code(text, height, _BOOL)
        return _Code(f"_in({element.text}, {container.text})", height, _BOOL)

    def function_call(self, node: Call) -> _Code:
        qualified = None if node.target is None else self.qualified_name(node.target)
        if qualified is not None:
            overloads = functions.lookup(f"{qualified}.{node.function}")
            if overloads is not None:
                return self.invoke(node, overloads, node.args, member=False)
        if qualified == "cel" and node.function in ("index", "iterVar", "accuVar"):
            return self.block_reference(node)
        overloads = functions.lookup(node.function)
        args = node.args if node.target is None else (node.target, *node.args)
        if overloads is None:
            return self.unresolved(self.undeclared(node.function), node, args)
        return self.invoke(node, overloads, args, member=node.target is not None)

    def undeclared(self, name: str) -> str:
        """cel-go's words for a name nothing declares."""
        return f"undeclared reference to '{name}' (in container '{self.options.container}')"

    def unresolved(self, message: str, node: Call, args: tuple[Expr, ...]) -> _Code:
        """A call that names no known overload: a compile error, or in unchecked mode an evaluation error."""
        if self.options.check:
            raise self.error(message, node)
        texts, height = self.children(args)
        raiser = self.module.constant(_raiser(message))
        return _Code(f"{raiser}({', '.join(texts)})", height + 1)

    def block_reference(self, node: Call) -> _Code:
        """``cel.index(i)`` / ``cel.iterVar(d, i)`` / ``cel.accuVar(d, i)``: names bound by ``cel.block``."""
        py_name = self.bound(_block_name(node))
        if py_name is None:
            raise self.error(f"cel.{node.function}: no such binding in scope", node)
        return _Code(py_name)

    def qualified_name(self, target: Expr) -> str | None:
        """``a.b`` for a target written as a dotted name that no variable or bound name claims."""
        parts: list[str] = []
        while isinstance(target, Select) and not target.optional:
            parts.append(target.field)
            target = target.operand
        if not isinstance(target, Ident) or self.bound(target.name) is not None:
            return None
        declared = self.options.variables
        if declared is not None and target.name in declared:
            return None
        return ".".join([target.name, *reversed(parts)])

    def invoke(
        self, node: Call, overloads: functions.Overloads, args: tuple[Expr, ...], member: bool
    ) -> _Code:
        arity = len(args) - (1 if member else 0)
        impl = overloads.lookup(member, arity)
        if impl is None:
            style = "member " if member else ""
            message = (
                f"found no matching overload for {style}function '{node.function}' with {arity} argument(s)"
            )
            return self.unresolved(message, node, args)
        codes = [self.emit(a) for a in args]
        height = max((c.height for c in codes), default=0) + 1
        if not impl.needs_activation and all(c.constant is not _NOT_CONSTANT for c in codes):
            folded = _fold(impl.fn, [c.constant for c in codes])
            if folded is not _NOT_CONSTANT:
                return self.literal(folded)
        fn = self.module.constant(impl.fn)
        texts = [c.text for c in codes]
        static = impl.result_type or (_BOOL if node.function in _BOOL_FUNCTIONS else None)
        if self.fast and impl.str_cache is not None and len(codes) == 1 and not impl.needs_activation:
            # A string argument (timestamp("..."), hierarchy("a.b")) costs one dict lookup.
            (t, binding), cache = self.named(texts[0]), self.module.constant(impl.str_cache)
            return _Code(f"({cache}[{t}] if {binding}.__class__ is str else {fn}({t}))", height, static)
        inline = _INLINE_STRING_METHODS.get(node.function) if member and len(codes) == 2 else None
        if self.fast and inline is not None:
            return _Code(self.string_method(node.function, inline, codes[0], codes[1], fn), height, static)
        if self.fast and node.function == "size" and len(codes) == 1:
            t, binding = self.named(texts[0])
            return _Code(f"(len({t}) if {binding}.__class__ in _SIZED else {fn}({t}))", height)
        if impl.needs_activation:
            texts.insert(0, "act")
        return _Code(f"{fn}({', '.join(texts)})", height, static)

    # ------------------------------------------------------------------ macros

    def macro(self, node: Call) -> _Code | None:
        name, args, target = node.function, node.args, node.target
        if target is None:
            if name == "has" and len(args) == 1:
                return self.has_macro(node)
            return None
        if name == "block" and len(args) == 2 and self.qualified_name(target) == "cel":
            return self.block(node)
        if name == "bind" and len(args) == 3 and self.qualified_name(target) == "cel":
            return self.comprehension("", None, args[:1], [args[1]], args[2], call="bind")
        if name in _SINGLE_VAR_MACROS and len(args) == 2:
            return self.comprehension(_SINGLE_VAR_MACROS[name], target, args[:1], [], args[1])
        if name in _TWO_VAR_MACROS and len(args) == 3:
            return self.comprehension(_TWO_VAR_MACROS[name], target, args[:2], [], args[2])
        if name == "map" and len(args) in (2, 3):
            if len(args) == 3:
                return self.comprehension("_map_filter", target, args[:1], [], args[1], extra=args[2])
            return self.comprehension("_map", target, args[:1], [], args[1])
        if name == "filter" and len(args) == 2:
            return self.comprehension("_filter", target, args[:1], [], args[1])
        if name in _TRANSFORMS and len(args) in (3, 4):
            if len(args) == 4:  # (k, v, predicate, transform): the helper takes transform, predicate
                return self.comprehension(_TRANSFORMS[name], target, args[:2], [], args[3], extra=args[2])
            return self.comprehension(_TRANSFORMS[name], target, args[:2], [], args[2])
        if name in ("optMap", "optFlatMap") and len(args) == 2:
            helper = "_opt_map" if name == "optMap" else "_opt_flat_map"
            return self.comprehension(helper, target, args[:1], [], args[1])
        if name in ("or", "orValue") and len(args) == 1:  # lazy in their argument, as in cel-go
            helper = "_opt_or" if name == "or" else "_opt_or_value"
            return self.comprehension(helper, target, (), [], args[0])
        if name == "sortBy" and len(args) == 2:
            return self.comprehension("_sort_by", target, args[:1], [], args[1])
        return None

    def block(self, node: Call) -> _Code:
        """``cel.block([e0, e1, ...], body)``: slot i is ``cel.index(i)``, visible to later slots and the body."""
        slots, body = node.args
        if not isinstance(slots, ListExpr) or slots.optional_indices:
            raise self.error("cel.block: the first argument must be a list of expressions", slots)
        opened = 0
        prefix, suffix, height = "", "", 0
        try:
            for position, slot in enumerate(slots.elements):
                code = self.emit(slot)
                py_name = self.module.fresh("_b")
                prefix += f"(lambda {py_name}: "
                suffix = f")({code.text})" + suffix
                height = max(height, code.height)
                self.scopes.append((f"@index{position}", py_name))
                opened += 1
            body_code = self.emit(body)
        finally:
            del self.scopes[len(self.scopes) - opened :]
        height = max(height, body_code.height) + len(slots.elements)
        return _Code(prefix + body_code.text + suffix, height, body_code.static_type)

    def loop(
        self, helper: str, var: str, outer_params: str, range_code: _Code, body: _Code, extra: _Code | None
    ) -> _Code:
        """A fast-path function running a single-variable macro as a Python loop over a list or map.

        It raises (handing over to the exact path) on anything but a list or map to iterate, or a
        predicate that is not a bool: the exact path then applies CEL's error rules.
        """
        name = self.module.fresh("_c")
        r = self.module.fresh("_r")
        predicate = self.as_bool(body)
        # Lists first: the common case is decided by one identity test.
        lines = [
            f"if {r}.__class__ is not list and {r}.__class__ not in _LIST_OR_MAP:",
            "    raise TypeError",
            f"if len({r}) > {budget.SHORT}:",  # a long loop reads the clock (chamberlain.cel.budget)
            f"    {r} = _paced(act, {r})",
        ]
        if helper == "_all":
            lines += [f"for {var} in {r}:", f"    if not {predicate}:", "        return False", "return True"]
        elif helper == "_exists":
            lines += [f"for {var} in {r}:", f"    if {predicate}:", "        return True", "return False"]
        elif helper == "_exists_one":
            lines.append(f"return sum(1 for {var} in {r} if {predicate}) == 1")
        elif helper == "_filter":
            lines.append(f"return [{var} for {var} in {r} if {predicate}]")
        elif helper == "_map":
            lines.append(f"return [{body.text} for {var} in {r}]")
        else:  # _map_filter: body is the predicate, extra the transform
            lines.append(f"return [{extra.text} for {var} in {r} if {predicate}]")
        definition = f"def {name}({outer_params}, {r}):\n" + "".join(f"    {line}\n" for line in lines)
        self.module.functions.append(definition)
        height = max(range_code.height, body.height, extra.height if extra else 0) + 1
        return _Code(
            f"{name}({outer_params}, {range_code.text})",
            height,
            loop_static(helper),
            inline=(definition, [f"{r} = {range_code.text}", *lines]),
        )

    def request_message(self, node: Expr) -> bool:
        """Whether ``node`` is one of Cerbos's request messages (``P``, ``R``, ``request`` and its
        ``principal``, ``resource`` and ``auxData``), whose fields have protobuf presence: ``has(P.scope)``
        is false for an empty scope, ``has(R.attr)`` for no attributes."""
        declared = self.options.variables
        if declared is None or "request" not in declared or "P" not in declared:
            return False
        if isinstance(node, Ident):
            return not node.absolute and node.name in ("P", "R", "request") and self.bound(node.name) is None
        return (
            isinstance(node, Select)
            and not node.optional
            and node.field in _REQUEST_MESSAGES
            and isinstance(node.operand, Ident)
            and not node.operand.absolute
            and node.operand.name == "request"
            and self.bound("request") is None
        )

    def has_macro(self, node: Call) -> _Code:
        arg = node.args[0]
        if not isinstance(arg, Select) or arg.optional:
            raise self.error("invalid argument to has() macro", arg)  # cel-go's words
        operand = self.emit(arg.operand)
        if self.request_message(arg.operand):
            return _Code(f"_has_set({operand.text}, {arg.field!r})", operand.height + 1, _BOOL)
        if self.fast:
            t, binding = self.named(operand.text)
            text = f"(({arg.field!r} in {t}) if {binding}.__class__ is dict else _has({t}, {arg.field!r}))"
        else:
            text = f"_has({operand.text}, {arg.field!r})"
        return _Code(text, operand.height + 1, _BOOL)

    def comprehension(
        self,
        helper: str,
        target: Expr | None,
        variables: tuple[Expr, ...],
        inits: list[Expr],
        body: Expr,
        extra: Expr | None = None,
        call: str = "",
    ) -> _Code:
        """``helper(target, lambda vars: body[, lambda vars: extra])``, or ``cel.bind`` as a lambda call."""
        names = []
        for variable in variables:
            if isinstance(variable, Call) and self.qualified_name(variable.target) == "cel":
                names.append(_block_name(variable))  # cel.iterVar(d, i) as written by cel.block optimizers
                continue
            if not isinstance(variable, Ident) or variable.absolute:
                raise self.error("argument must be a simple name", variable)
            names.append(variable.name)
        if len(set(names)) != len(names):
            raise self.error(f"duplicate variable name '{names[0]}'", variables[1])
        heights = []
        range_text = ""
        range_code = None
        if target is not None:
            range_code = self.emit(target)
            range_text, heights = range_code.text, [range_code.height]
        init_texts, init_height = self.children(inits)
        outer_params = ", ".join(["act", *(py for _, py in self.scopes)])
        py_names = [self.module.fresh(f"_v{_sanitize(n)}_") for n in names]
        self.scopes.extend(zip(names, py_names, strict=True))
        try:
            body_code = self.emit(body)
            extra_code = self.emit(extra) if extra is not None else None
        finally:
            del self.scopes[len(self.scopes) - len(names) :]
        params = ", ".join(py_names)
        heights += [init_height, body_code.height, extra_code.height if extra_code else 0]
        height = max(heights) + 1
        if call == "bind":
            return _Code(
                f"(lambda {params}: {body_code.text})({init_texts[0]})", height, body_code.static_type
            )
        if self.fast and helper in _LOOPS and len(names) == 1 and range_code is not None:
            return self.loop(helper, py_names[0], outer_params, range_code, body_code, extra_code)
        lambdas = [f"lambda {params}: {body_code.text}"]
        if extra_code is not None:
            lambdas.append(f"lambda {params}: {extra_code.text}")
        static = (
            _BOOL
            if helper in ("_all", "_exists", "_exists_one", "_all2", "_exists2", "_exists_one2")
            else None
        )
        args = (
            ", ".join(["act", range_text, *lambdas])
            if helper in _PACED_HELPERS
            else f"{range_text}, {', '.join(lambdas)}"
        )
        return _Code(f"{helper}({args})", height, static)


def _block_name(node: Call) -> str:
    """The scope name of ``cel.index(i)`` / ``cel.iterVar(d, i)`` / ``cel.accuVar(d, i)``."""
    values = [a.value for a in node.args if isinstance(a, Literal) and type(a.value) is int]
    if len(values) != len(node.args) or not values:
        raise CompileError(f"cel.{node.function}: arguments must be integer literals")
    return "@" + node.function + ":".join(map(str, values))


def _raiser(message: str):
    def raise_error(*_args: Any) -> Any:
        raise EvaluationError(message)

    return raise_error


#: Comprehension helpers that iterate (they take the activation first, whose budget long loops charge).
_PACED_HELPERS = frozenset(
    (
        "_all",
        "_exists",
        "_exists_one",
        "_all2",
        "_exists2",
        "_exists_one2",
        "_map",
        "_map_filter",
        "_filter",
        "_transform_list",
        "_transform_map",
        "_transform_map_entry",
        "_sort_by",
    )
)
#: Macros the fast path runs as plain Python loops.
_LOOPS = frozenset(("_all", "_exists", "_exists_one", "_filter", "_map", "_map_filter"))


def loop_static(helper: str) -> str | None:
    return _BOOL if helper in ("_all", "_exists", "_exists_one") else None


def _fold(fn: Any, args: list[Any]) -> Any:
    """``fn(*args)`` computed now, for a call on constants; not folded if it fails or builds a container."""
    try:
        value = fn(*args)
    except Exception:
        return _NOT_CONSTANT  # the error, if any, is raised at evaluation time as usual
    if type(value) in (list, tuple, dict):  # shared mutable results could leak out to callers
        return _NOT_CONSTANT
    return value


def _sanitize(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def _is_string_list_literal(node: Expr) -> bool:
    return (
        isinstance(node, ListExpr)
        and not node.optional_indices
        and all(isinstance(e, Literal) and type(e.value) is str for e in node.elements)
    )


def _runtime_resolver(options: list[tuple[str, list[str]]], root: str):
    """Resolve a dotted name against the activation's keys (no declarations were given)."""

    def resolve(act: Any) -> Any:
        for name, rest in options:
            if name in act:
                value = act[name]
                for part in rest:
                    value = runtime.select(value, part)
                return value
            if name in TYPE_IDENTIFIERS:
                value = TYPE_IDENTIFIERS[name]
                for part in rest:
                    value = runtime.select(value, part)
                return value
        raise EvaluationError(f"undeclared reference to '{root}'")

    return resolve


def generate(root: Expr, source: str, options: Options, fast: bool) -> tuple[str, dict[str, Any]]:
    """Python source of a module defining ``_main(act)``, and the constants it refers to.

    The fast path takes two passes: the first counts how often each variable path is read, the
    second reads the shared ones once, at the top (``request.resource.attr`` in three places
    becomes one local).
    """
    if not fast:
        return _Generator(source, options, fast).generate(root)
    counting = _Generator(source, options, fast)
    counting.generate(root)
    return _Generator(source, options, fast, _shared_paths(counting.path_counts)).generate(root)


def _shared_paths(counts: Counter[tuple[str, ...]]) -> set[tuple[str, ...]]:
    """Paths read at least twice, leaving out those only ever read on the way to one longer path."""
    shared = set()
    for path, count in counts.items():
        if count < 2:
            continue
        extensions = [c for p, c in counts.items() if len(p) == len(path) + 1 and p[: len(path)] == path]
        if count not in extensions:
            shared.add(path)
    return shared


def build(root: Expr, source: str, options: Options, fast: bool, exact: Any = None):
    """Compile ``root`` to a Python function of the activation.

    The fast function falls back to ``exact`` (the exact path's function) when it raises.
    """
    python_source, constants = generate(root, source, options, fast)
    namespace: dict[str, Any] = {"__builtins__": _BUILTINS, **_HELPERS, **constants, "_exact": exact}
    exec(_code(python_source), namespace)
    return namespace["_main"], python_source


# A code object is immutable and reads its constants from the namespace it is run in: one compile
# serves every expression generating the same source. compile() was a seventh of loading a policy set.
@memoize(max_bytes=64 << 20, max_entries=16384, cost=lambda source, code: 1024 + 8 * len(source))
def _code(python_source: str) -> CodeType:
    return compile(python_source, "<cel>", "exec")
