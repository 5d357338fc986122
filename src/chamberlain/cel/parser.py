"""Parse CEL text into the typed syntax tree of :mod:`chamberlain.cel.ast`.

The grammar (``grammar.lark``) is LALR(1) with lark's contextual lexer. :class:`_Builder` is
attached to the parser, so each AST node is made when its rule is reduced: there is no parse
tree, and nothing recurses over the input, whatever its shape.

Behaviour follows cel-go's parser:

* ``-`` directly before an int or double literal folds into it, so ``-9223372036854775808``
  parses; ``-(1)`` stays a call. Repeated unary operators collapse by parity: ``--a`` and
  ``!!a`` are ``a``, ``---a`` is ``-a``.
* ``&&`` and ``||`` chains become balanced trees (depth log₂ n, so the compiler's recursion stays
  shallow; CEL's logical operators are commutative, so the shape does not change the result), split
  where cel-go splits them (``a && b && c`` is ``(a && b) && c``), since query plans show the shape.
* ``a.f(x)`` is ``Call("f", (x,), target=a)``, even for a namespace such as ``math.greatest``;
  ``f(x)`` has no target, ``.f(x)`` is ``Call(".f", ...)``; ``.a`` is ``Ident("a", absolute=True)``;
  ``.a.B{}`` has ``type_name`` ``".a.B"``. Macros stay calls.
* Limits: at most 100,000 code points; at most 250 levels of nested expressions (parentheses,
  call arguments, list/map/message elements, index expressions, ternary ``else`` branches:
  "expression recursion limit exceeded") and an AST at most 250 nodes high ("max recursion
  depth exceeded"). The second bound is what the compiler recurses over; it matches cel-go's own
  count for operator, select and index chains.

Positions (``pos``, 0-based code points): an operator's node sits at its operator token (``+``,
``?`` of a ternary, ``[`` of an index, the first ``!``/``-`` of a unary), a select at its ``.``,
a call at its function name, everything else (literals, identifiers, lists, maps, messages,
map entries, field initialisers) at its first character.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources
from typing import NamedTuple

import lark
from lark import Token
from lark.lexer import BasicLexer, LexerThread, PatternStr

from chamberlain.caches import BoundedCache, memoize
from chamberlain.cel.ast import (
    Call,
    Expr,
    FieldInit,
    Ident,
    ListExpr,
    Literal,
    MapEntry,
    MapExpr,
    Select,
    StructExpr,
)
from chamberlain.cel.errors import CompileError
from chamberlain.cel.values import INT64_MAX, UINT64_MAX, UInt

MAX_CODE_POINTS = 100_000
MAX_DEPTH = 250

KEYWORDS = frozenset({"true", "false", "null", "in"})
#: Names that may not be identifiers or global function names (they may be selectors, field names
#: and member function names).
RESERVED = frozenset(
    {"as", "break", "const", "continue", "else", "for", "function", "if", "import", "let", "loop"}
    | {"package", "namespace", "return", "var", "void", "while"}
)

_BINARY = {
    "||": "_||_",
    "&&": "_&&_",
    "<": "_<_",
    "<=": "_<=_",
    ">=": "_>=_",
    ">": "_>_",
    "==": "_==_",
    "!=": "_!=_",
    "in": "@in",
    "+": "_+_",
    "-": "_-_",
    "*": "_*_",
    "/": "_/_",
    "%": "_%_",
}


def parse(expression: str) -> Expr:
    """Parse CEL source text; raise :class:`CompileError` (and nothing else) if it is not valid CEL.

    Trees are immutable and cached by text: policy validation, variable ordering and the engine
    each ask for the same expressions, and lark's parse is the dearest step of compiling a policy.
    """
    if not isinstance(expression, str):
        raise CompileError(f"expression must be a string, not {type(expression).__name__}")
    return _parse_cached(expression)


@memoize(max_bytes=128 << 20, max_entries=65536, cost=lambda text, tree: 1024 + 40 * len(text))
def _parse_cached(expression: str) -> Expr:
    if len(expression) > MAX_CODE_POINTS:
        raise CompileError(
            f"expression of {len(expression)} code points exceeds the limit of {MAX_CODE_POINTS}"
        )
    try:
        if not expression.isascii():
            _check_encodable(expression)
        return _parse_by_shape(expression)
    except _Failure as failure:
        raise CompileError(failure.message, expression, failure.offset) from None
    except lark.UnexpectedInput as exc:
        message, offset = _describe_syntax_error(exc, expression)
        raise CompileError(message, expression, offset) from None
    except (RecursionError, MemoryError):
        raise CompileError("expression is too complex to parse", expression) from None
    except Exception as exc:  # a bug here must still surface as a compile error
        raise CompileError(f"internal parser error: {exc!r}", expression) from None


# --- expressions that differ only in their string literals -----------------------------------
#
# Generated and copied policies repeat one condition with other strings (``R.attr.status ==
# "DRAFT_7"``): lark's parse was half of checking such a condition. The text is lexed (a fraction of
# a parse), and when its tokens are those of an expression parsed before, its string and bytes
# literals aside, that tree is rebuilt with the new literals and every position moved to the new
# text's tokens: the tree the parser would build, since the builder looks at a literal's text only to
# decode it (decoded again here; a bad escape takes the full parse, which reports it).

_LITERALS = frozenset({"STRING", "BYTES"})


class _Shape(NamedTuple):
    tree: Expr
    starts: tuple[int, ...]  # where each token of the text it was parsed from starts


_SHAPES = BoundedCache(
    lambda key: None,  # filled by put() only
    max_bytes=32 << 20,
    max_entries=16384,
    cost=lambda key, shape: 1024 + 200 * len(shape.starts),
)


@functools.cache
def _lexer() -> BasicLexer:
    """The grammar's terminals as one lexer (the parser's contextual lexer needs a parser state)."""
    return BasicLexer(_lark().lexer_conf)


def _parse_by_shape(expression: str) -> Expr:
    try:
        tokens = list(LexerThread.from_text(_lexer(), expression).lex(None))
    except lark.LarkError:
        return _lark().parse(expression)  # which says what is wrong, as for any text
    key = (tuple(t.type for t in tokens), tuple("" if t.type in _LITERALS else str(t) for t in tokens))
    starts = tuple(t.start_pos for t in tokens)
    shape = _SHAPES.get(key)
    if shape is not None:
        try:
            return _moved(shape, tokens, starts)
        except _Failure:
            pass  # a literal with a bad escape: the full parse reports it
    tree = _lark().parse(expression)
    if any(t.type in _LITERALS for t in tokens) and _fits(tree, tokens, starts):
        _SHAPES.put(key, _Shape(tree, starts))
    return tree


def _moved(shape: _Shape, tokens: list[Token], starts: tuple[int, ...]) -> Expr:
    """``shape``'s tree for the text of ``tokens``: its positions and string literals replaced."""
    where = dict(zip(shape.starts, starts, strict=True))
    values = {
        old: _decode_quoted(t, t.start_pos)
        for old, t in zip(shape.starts, tokens, strict=True)
        if t.type in _LITERALS
    }
    return _move(shape.tree, where, values)


def _fits(tree: Expr, tokens: list[Token], starts: tuple[int, ...]) -> bool:
    """Whether ``tree`` is rebuilt exactly from its own tokens: every node at a token's start (the
    parser's contextual lexer cut the text as the plain lexer does), each literal decoded alike."""
    try:
        return _moved(_Shape(tree, starts), tokens, starts) == tree
    except (KeyError, _Failure):
        return False


def _move(node: Expr, where: dict[int, int], values: dict[int, object]) -> Expr:
    pos = where[node.pos]
    kind = type(node)
    if kind is Literal:
        assert isinstance(node, Literal)
        return Literal(pos, values.get(node.pos, node.value))
    if kind is Ident:
        assert isinstance(node, Ident)
        return Ident(pos, node.name, node.absolute)
    if kind is Select:
        assert isinstance(node, Select)
        return Select(pos, _move(node.operand, where, values), node.field, node.optional)
    if kind is Call:
        assert isinstance(node, Call)
        args = tuple([_move(a, where, values) for a in node.args])
        target = None if node.target is None else _move(node.target, where, values)
        return Call(pos, node.function, args, target)
    if kind is ListExpr:
        assert isinstance(node, ListExpr)
        elements = tuple([_move(e, where, values) for e in node.elements])
        return ListExpr(pos, elements, node.optional_indices)
    if kind is MapExpr:
        assert isinstance(node, MapExpr)
        entries = tuple(
            [
                MapEntry(where[e.pos], _move(e.key, where, values), _move(e.value, where, values), e.optional)
                for e in node.entries
            ]
        )
        return MapExpr(pos, entries)
    assert isinstance(node, StructExpr), node
    fields = tuple(
        [FieldInit(where[f.pos], f.field, _move(f.value, where, values), f.optional) for f in node.fields]
    )
    return StructExpr(pos, node.type_name, fields)


class _Failure(Exception):
    """Raised by the builder; :func:`parse` turns it into a :class:`CompileError`."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.message = message
        self.offset = offset


class _W(NamedTuple):
    """A built node with what its parents need to know about it."""

    node: Expr
    start: int  # offset of its first character
    height: int  # AST height: 0 for a leaf
    nesting: int  # nested `expr` rules below it (cel-go's parser recursion count)
    pending: int = -1  # offset of a literal 9223372036854775808 still waiting for a minus sign
    qualified: str | None = None  # "a.b.c" when it is a plain (qualified) name
    number: bool = False  # an unsigned int or double literal, straight from its token


def _make(node: Expr, start: int, operands: Sequence[_W] = (), nested: Sequence[_W] = ()) -> _W:
    """Wrap ``node``; ``nested`` are the children that cel-go parses as a nested ``expr``."""
    height = 1 + max([c.height for c in operands] + [c.height for c in nested], default=-1)
    nesting = max([c.nesting for c in operands] + [c.nesting + 1 for c in nested], default=0)
    pending = next((c.pending for c in (*operands, *nested) if c.pending >= 0), -1)
    _check_depth(height, nesting, node.pos)
    return _W(node, start, height, nesting, pending)


def _check_depth(height: int, nesting: int, offset: int) -> None:
    if nesting >= MAX_DEPTH:  # the enclosing top-level `expr` adds one more
        raise _Failure(f"expression recursion limit exceeded: {MAX_DEPTH}", offset)
    if height > MAX_DEPTH:
        raise _Failure(f"max recursion depth exceeded: {MAX_DEPTH}", offset)


def _leaf(node: Expr, **flags) -> _W:
    return _W(node, node.pos, 0, 0, **flags)


def _call(function: str, pos: int, start: int, operands: Sequence[_W], nested: Sequence[_W] = ()) -> _W:
    args = tuple(c.node for c in (*operands, *nested))
    return _make(Call(pos, function, args), start, operands, nested)


def _name(token: Token) -> str:
    """A selector or field name: an identifier other than a keyword, or a `quoted` name."""
    if token.type == "ESC_IDENT":
        return str(token[1:-1])
    if token in KEYWORDS:
        raise _Failure(f"Syntax error: unexpected keyword '{token}'", token.start_pos)
    return str(token)


def _identifier(token: Token) -> str:
    """An identifier or global function name: neither a keyword nor a reserved word."""
    if token in KEYWORDS:
        raise _Failure(f"Syntax error: unexpected keyword '{token}'", token.start_pos)
    if token in RESERVED:
        raise _Failure(f"reserved identifier: {token}", token.start_pos)
    return str(token)


def _optional_groups(children: Sequence, size: int) -> list[tuple[Token | None, list]]:
    """Split ``[?] x1 .. xsize, [?] x1 .. xsize, ...`` into (question-mark token or None, items)."""
    groups = []
    i = 0
    while i < len(children):
        mark = None
        if isinstance(children[i], Token) and children[i].type == "QMARK":
            mark = children[i]
            i += 1
        groups.append((mark, list(children[i : i + size])))
        i += size
    return groups


class _Builder(lark.Transformer):
    """Builds the AST while lark parses: one method per aliased grammar rule."""

    def start(self, children):
        (root,) = children
        if root.pending >= 0:
            raise _Failure("invalid int literal", root.pending)
        return root.node

    def ternary(self, children):
        cond, mark, then, otherwise = children
        return _call("_?_:_", mark.start_pos, cond.start, (cond, then), (otherwise,))

    def or_expr(self, children):
        return _balance(children)

    and_expr = or_expr

    def binary(self, children):
        left, op, right = children
        return _call(_BINARY[op], op.start_pos, left.start, (left, right))

    def logical_not(self, children):
        *ops, operand = children
        if len(ops) % 2 == 0:
            return operand._replace(qualified=None, number=False)
        return _call("!_", ops[0].start_pos, ops[0].start_pos, (operand,))

    def negative_number(self, children):
        minus, token = children
        number = self.int_literal([token]) if token.type == "INT" else self.float_literal([token])
        return self.negate([minus, number])

    def negate(self, children):
        *ops, operand = children
        pos = ops[0].start_pos
        if len(ops) == 1 and operand.number:  # a negative literal, as in cel-go
            value = -operand.node.value
            return _leaf(Literal(pos, value))
        if len(ops) % 2 == 0:
            return operand._replace(qualified=None, number=False)
        return _call("-_", pos, pos, (operand,))

    def select(self, children):
        operand, dot, field = children
        name = _name(field)
        built = _make(Select(dot.start_pos, operand.node, name), operand.start, (operand,))
        if operand.qualified is not None and field.type == "IDENT":
            return built._replace(qualified=f"{operand.qualified}.{name}")
        return built

    def opt_select(self, children):
        operand, dot, _mark, field = children
        return _make(Select(dot.start_pos, operand.node, _name(field), True), operand.start, (operand,))

    def member_call(self, children):
        target, _dot, name, *args = children
        node = Call(name.start_pos, _name(name), tuple(a.node for a in args), target.node)
        return _make(node, target.start, (target,), args)

    def index(self, children):
        operand, bracket, *rest = children
        function = "_[?_]" if len(rest) == 2 else "_[_]"
        return _call(function, bracket.start_pos, operand.start, (operand,), (rest[-1],))

    opt_index = index

    def struct(self, children):
        type_name, brace, *rest = children
        if type_name.qualified is None:
            raise _Failure(
                "Syntax error: unexpected '{', a message type name must precede it", brace.start_pos
            )
        fields, values = [], []
        for mark, (field, value) in _optional_groups(rest, 2):
            pos = (mark or field).start_pos
            fields.append(FieldInit(pos, _name(field), value.node, mark is not None))
            values.append(value)
        node = StructExpr(type_name.start, type_name.qualified, tuple(fields))
        return _make(node, type_name.start, (), values)

    def ident(self, children):
        *dot, name = children
        pos = (dot[0] if dot else name).start_pos
        text = _identifier(name)
        return _leaf(Ident(pos, text, bool(dot)), qualified=("." if dot else "") + text)

    def global_call(self, children):
        dot = children[0] if children[0].type == "DOT" else None
        name, *args = children[1:] if dot else children
        pos = (dot or name).start_pos
        function = ("." if dot else "") + _identifier(name)
        return _make(Call(pos, function, tuple(a.node for a in args)), pos, (), args)

    def paren(self, children):
        (inner,) = children
        _check_depth(inner.height, inner.nesting + 1, inner.start)
        return inner._replace(nesting=inner.nesting + 1, qualified=None, number=False)

    def list(self, children):
        bracket, *rest = children
        elements, optional = [], []
        for i, (mark, (element,)) in enumerate(_optional_groups(rest, 1)):
            elements.append(element)
            if mark is not None:
                optional.append(i)
        node = ListExpr(bracket.start_pos, tuple(e.node for e in elements), tuple(optional))
        return _make(node, bracket.start_pos, (), elements)

    def map(self, children):
        brace, *rest = children
        entries, parts = [], []
        for mark, (key, value) in _optional_groups(rest, 2):
            pos = mark.start_pos if mark is not None else key.start
            entries.append(MapEntry(pos, key.node, value.node, mark is not None))
            parts += (key, value)
        return _make(MapExpr(brace.start_pos, tuple(entries)), brace.start_pos, (), parts)

    def int_literal(self, children):
        (token,) = children
        value = int(token[2:], 16) if token.startswith("0x") else int(token)
        if value > INT64_MAX + 1:
            raise _Failure("invalid int literal", token.start_pos)
        pending = token.start_pos if value > INT64_MAX else -1  # valid only as -9223372036854775808
        return _leaf(Literal(token.start_pos, value), pending=pending, number=True)

    def uint_literal(self, children):
        (token,) = children
        digits = token[:-1]
        value = int(digits[2:], 16) if digits.startswith("0x") else int(digits)
        if value > UINT64_MAX:
            raise _Failure("invalid uint literal", token.start_pos)
        return _leaf(Literal(token.start_pos, UInt(value)))

    def float_literal(self, children):
        (token,) = children
        value = float(token)
        if value == float("inf"):
            raise _Failure("invalid double literal", token.start_pos)
        return _leaf(Literal(token.start_pos, value), number=True)

    def string_literal(self, children):
        (token,) = children
        return _leaf(Literal(token.start_pos, _decode_quoted(token, token.start_pos)))

    bytes_literal = string_literal

    def true_literal(self, children):
        return _leaf(Literal(children[0].start_pos, True))

    def false_literal(self, children):
        return _leaf(Literal(children[0].start_pos, False))

    def null_literal(self, children):
        return _leaf(Literal(children[0].start_pos, None))


def _balance(children: Sequence) -> _W:
    """``t0 op t1 op t2 ...`` (all the same logical operator) as a balanced tree of calls."""
    terms, ops = children[0::2], children[1::2]

    def build(lo: int, hi: int) -> _W:
        if lo == hi:
            return terms[lo]
        mid = (lo + hi) // 2 + 1  # where cel-go splits: query plans show the tree's shape
        left, right = build(lo, mid - 1), build(mid, hi)
        op = ops[mid - 1]
        return _call(_BINARY[op], op.start_pos, left.start, (left, right))

    return build(0, len(terms) - 1)


# --- string and bytes literals ---------------------------------------------------------------

_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "?": "?",
    '"': '"',
    "'": "'",
    "`": "`",
}
_HEX = frozenset("0123456789abcdefABCDEF")


def _normalize_newlines(text: str) -> str:
    """cel-go reads CR LF and a lone CR inside string literals as LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _decode_quoted(text: str, offset: int) -> str | bytes:
    """The value of a STRING or BYTES token: prefixes, quotes and escapes removed."""
    is_bytes = text[0] in "bB"
    i = 1 if is_bytes else 0
    raw = text[i] in "rR"
    i += raw
    quote = 3 if text.startswith(('"""', "'''"), i) else 1
    body = text[i + quote : len(text) - quote]
    if raw or "\\" not in body:
        value = _normalize_newlines(body)
        return value.encode() if is_bytes else value
    return _unescape(body, is_bytes, offset + i + quote)


def _unescape(body: str, is_bytes: bool, offset: int) -> str | bytes:
    """Decode the escapes of a literal's body; ``offset`` is where the body starts in the source."""
    out: list[str] | bytearray = bytearray() if is_bytes else []

    def emit_text(text: str) -> None:
        text = _normalize_newlines(text)
        if is_bytes:
            out.extend(text.encode())
        else:
            out.append(text)

    i = 0
    while (j := body.find("\\", i)) >= 0:
        emit_text(body[i:j])
        code, i = _escape(body, j, is_bytes, offset)
        if is_bytes:  # \x and octal escapes are octets; \u and \U are refused above
            out.append(code)
        else:
            out.append(chr(code))
    emit_text(body[i:])
    return bytes(out) if is_bytes else "".join(out)


def _escape(body: str, j: int, is_bytes: bool, offset: int) -> tuple[int, int]:
    """Decode the escape sequence at ``body[j]`` (a backslash): its code, and where the rest begins."""
    kind = body[j + 1]
    if kind in _SIMPLE_ESCAPES:
        return ord(_SIMPLE_ESCAPES[kind]), j + 2
    if kind in "xXuU" or kind in "0123":
        if kind in "0123":
            digits, base = body[j + 1 : j + 4], 8
            valid = len(digits) == 3 and all(d in "01234567" for d in digits)
        else:
            width = {"x": 2, "X": 2, "u": 4, "U": 8}[kind]
            digits, base = body[j + 2 : j + 2 + width], 16
            valid = len(digits) == width and all(d in _HEX for d in digits)
        if not valid:
            raise _Failure(f"Syntax error: invalid escape sequence '\\{kind}'", offset + j)
        if is_bytes and kind in "uU":
            raise _Failure(f"Syntax error: '\\{kind}' escapes are not allowed in bytes literals", offset + j)
        code = int(digits, base)
        if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            raise _Failure("Syntax error: invalid unicode code point in escape sequence", offset + j)
        return code, j + (4 if base == 8 else 2 + len(digits))
    shown = kind if kind.isprintable() else repr(kind)[1:-1]
    raise _Failure(f"Syntax error: invalid escape sequence '\\{shown}'", offset + j)


def _check_encodable(expression: str) -> None:
    """Reject lone surrogates (a Python ``str`` may hold them; CEL text is valid Unicode)."""
    try:
        expression.encode()
    except UnicodeEncodeError as exc:
        raise _Failure("Syntax error: invalid code point in expression", exc.start) from None


# --- syntax errors ---------------------------------------------------------------------------

#: Terminals that can begin an expression; an "expected" set holding these reads "an expression".
_EXPRESSION_START = frozenset(
    {"IDENT", "INT", "UINT", "FLOAT", "STRING", "BYTES", "TRUE", "FALSE", "NULL"}
    | {"DOT", "LSQB", "LBRACE", "_LPAR", "BANG", "MINUS"}
)
_CLOSERS = frozenset({"_RPAR", "_RSQB", "_RBRACE", "_COMMA", "_COLON"})
_MAX_EXPECTED_SHOWN = 6
_TERMINAL_NAMES = {
    "IDENT": "an identifier",
    "ESC_IDENT": "a `quoted` name",
    "INT": "a number",
    "UINT": "a number",
    "FLOAT": "a number",
    "STRING": "a string",
    "BYTES": "a bytes literal",
}


def _describe_syntax_error(exc: lark.UnexpectedInput, expression: str) -> tuple[str, int]:
    if isinstance(exc, lark.UnexpectedCharacters):
        char = expression[exc.pos_in_stream] if exc.pos_in_stream < len(expression) else ""
        if char in "\"'":
            return "Syntax error: unterminated string literal", exc.pos_in_stream
        shown = char if char.isprintable() else repr(char)[1:-1]
        return f"Syntax error: unexpected character '{shown}'", exc.pos_in_stream
    if isinstance(exc, lark.UnexpectedToken):
        token = exc.token
        expected = _describe_expected(_acceptable(exc))
        if token.type == "$END":
            offset = token.end_pos if token.end_pos is not None else len(expression)
            return f"Syntax error: unexpected end of expression{expected}", offset
        return f"Syntax error: unexpected {_show(token)}{expected}", token.start_pos
    offset = getattr(exc, "pos_in_stream", None) or len(expression)
    return "Syntax error: unexpected end of expression", offset


def _acceptable(exc: lark.UnexpectedToken) -> set[str]:
    """The terminals the parser would have taken at the error (after any pending reductions)."""
    try:
        return set(exc.interactive_parser.accepts())
    except Exception:  # no interactive parser for this error: use lark's rougher set
        return set(exc.expected)


def _show(token: Token) -> str:
    text = str(token)
    if len(text) > 24:
        text = text[:21] + "…"
    return text if token.type in ("STRING", "BYTES", "ESC_IDENT") else f"'{text}'"


def _describe_expected(names: set[str]) -> str:
    """ ", expected X, Y or Z" for a short list of what could come next, else ""."""
    words = []
    names = set(names) - {"$END"}
    if "INT" in names and "IDENT" in names:
        words.append("an expression")
        names -= _EXPRESSION_START
    elif names & _CLOSERS:  # what must come to finish a construct, not what else could follow
        names &= _CLOSERS
    terminals = {t.name: t for t in _lark().terminals}
    for name in sorted(names):
        if name in _TERMINAL_NAMES:
            words.append(_TERMINAL_NAMES[name])
        elif name in terminals and isinstance(terminals[name].pattern, PatternStr):
            words.append(f"'{terminals[name].pattern.value}'")
    words = list(dict.fromkeys(words))
    if not words or len(words) > _MAX_EXPECTED_SHOWN:
        return ""
    return ", expected " + (words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1])


@functools.cache
def _lark() -> lark.Lark:
    grammar = resources.files("chamberlain.cel").joinpath("grammar.lark").read_text(encoding="utf-8")
    return lark.Lark(grammar, parser="lalr", lexer="contextual", transformer=_Builder())
