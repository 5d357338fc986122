"""SQL constructs whose exact form depends on the database (compiled per dialect).

* :class:`StringMatch` — CEL's ``contains`` / ``startsWith`` / ``endsWith``, case-sensitive and
  with no wildcard characters: on SQLite with ``instr``/``substr`` (SQLite's ``LIKE`` ignores ASCII
  case and ``PRAGMA case_sensitive_like`` is per connection, so it cannot be relied on); elsewhere
  (PostgreSQL) as ``LIKE … ESCAPE '\\'`` with ``\\``, ``%`` and ``_`` escaped in the needle, also
  when the needle is a column (nested ``replace``). PostgreSQL's ``LIKE`` is case-sensitive.
* :class:`CodePointOrder` — a string operand compared in code-point order, as CEL compares
  strings: ``COLLATE "C"`` on PostgreSQL, ``COLLATE BINARY`` on SQLite (whatever collation the
  column was declared with).
* :class:`ExactText` — a string compared for equality code point by code point, whatever the
  column's collation: ``COLLATE BINARY`` on SQLite, ``COLLATE "C"`` on PostgreSQL (a column with a
  nondeterministic collation, case-insensitive say, would otherwise widen the match).
  :class:`ExactMatch` keeps the comparison under the column's own collation beside it on
  PostgreSQL, so that the column's index stays usable.
* :class:`TextLength` — CEL's ``size`` of a string: ``length``, except that on SQLite (whose
  ``length`` stops at the first NUL character) a string holding NUL has no length (NULL: an error,
  the row is never returned). :class:`TextAfter` — what follows a string's first ``n`` characters,
  NULs included (SQLite: as bytes).
* :class:`NotNaN` — TRUE unless a double expression is NaN (NULL where it is NULL), to AND with a
  numeric comparison: PostgreSQL orders NaN above every number and makes it equal to itself, where
  CEL's comparisons with NaN are all false (``!=`` true). SQLite stores NaN as NULL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Double,
    Integer,
    LargeBinary,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement

ESCAPE = "\\"


def escape_like(text: str) -> str:
    """A literal needle for ``LIKE … ESCAPE '\\'``: the escape character, ``%`` and ``_`` escaped."""
    return text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")


class StringMatch(ColumnElement[bool]):
    """``haystack.<how>(needle)`` where ``how`` is ``contains``, ``startsWith`` or ``endsWith``."""

    # Statements holding it are compiled each time rather than cached: its SQL depends on the
    # needle's value (escaped into the LIKE pattern at compile time).
    inherit_cache = False
    type = Boolean()

    def __init__(self, how: str, haystack: ColumnElement[Any], needle: ColumnElement[Any] | str):
        if how not in ("contains", "startsWith", "endsWith"):
            raise ValueError(how)
        self.how = how
        self.haystack = haystack
        self.needle = needle


def _bytes(expr: Any) -> Any:
    """``CAST(expr AS BLOB)``: SQLite's ``length`` and ``substr`` then count bytes, NUL characters included
    (on text they stop at the first NUL). A prefix or suffix of the bytes is one of the code points."""
    return cast(expr, LargeBinary())


@compiles(StringMatch, "sqlite")
def _match_sqlite(element: StringMatch, compiler: Any, **kw: Any) -> str:
    n = element.needle
    needle = literal(n, String()) if isinstance(n, str) else n
    if element.how == "contains":
        expr = func.instr(element.haystack, needle) > 0  # instr reads the whole text, NULs included
    else:
        h, n_ = _bytes(element.haystack), _bytes(needle)
        start = 1 if element.how == "startsWith" else func.length(h) - func.length(n_) + 1
        # substr of an empty blob is NULL: an empty needle is a prefix and suffix of every value
        part = or_(func.length(n_) == 0, func.substr(h, start, func.length(n_)) == n_)
        expr = and_(func.length(h) >= func.length(n_), part)
    return compiler.process(expr.self_group(), **kw)  # (a AND b): NOT, IS NULL and = 0 apply to both


@compiles(StringMatch)
def _match_like(element: StringMatch, compiler: Any, **kw: Any) -> str:
    h, n = element.haystack, element.needle
    if compiler.dialect.name == "postgresql":
        # code point by code point: a nondeterministic collation would make LIKE ignore case (or
        # PostgreSQL refuse LIKE and replace() on the column)
        h = h.collate("C")
        n = n if isinstance(n, str) else n.collate("C")
    if isinstance(n, str):
        escaped: Any = literal(escape_like(n), String())
    else:
        escaped = func.replace(
            func.replace(func.replace(n, ESCAPE, ESCAPE * 2), "%", ESCAPE + "%"), "_", ESCAPE + "_"
        )
    if element.how == "contains":
        pattern = literal("%", String()) + escaped + literal("%", String())
    elif element.how == "startsWith":
        pattern = escaped + literal("%", String())
    else:
        pattern = literal("%", String()) + escaped
    return compiler.process(h.like(pattern, escape=ESCAPE), **kw)


class CodePointOrder(ColumnElement[Any]):
    """A string expression compared in code-point order (CEL's string order)."""

    inherit_cache = False

    def __init__(self, expr: ColumnElement[Any]):
        self.expr = expr
        self.type = expr.type


class ExactText(ColumnElement[Any]):
    """A string compared for equality code point by code point: ``COLLATE BINARY`` on SQLite (a
    ``NOCASE`` column would otherwise widen the match), ``COLLATE "C"`` on PostgreSQL (a
    nondeterministic collation would)."""

    inherit_cache = False

    def __init__(self, expr: ColumnElement[Any]):
        self.expr = expr
        self.type = expr.type


@compiles(ExactText, "sqlite")
def _exact_sqlite(element: ExactText, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.expr.collate("BINARY"), **kw)


@compiles(ExactText, "postgresql")
def _exact_postgresql(element: ExactText, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.expr.collate("C"), **kw)


@compiles(ExactText)
def _exact_default(element: ExactText, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.expr, **kw)


class ExactMatch(ColumnElement[bool]):
    """``exact`` (a comparison of :class:`ExactText`), with ``plain`` (the same comparison under the
    column's collation, which ``exact`` implies) before it on PostgreSQL: there the column's index
    finds the rows, ``exact`` keeps the right ones. Both are NULL exactly where the column is."""

    inherit_cache = False
    type = Boolean()

    def __init__(self, plain: ColumnElement[Any], exact: ColumnElement[Any]):
        self.plain = plain
        self.exact = exact


@compiles(ExactMatch, "postgresql")
def _exact_match_postgresql(element: ExactMatch, compiler: Any, **kw: Any) -> str:
    return compiler.process(and_(element.plain, element.exact).self_group(), **kw)  # (a AND b): NOT may apply


@compiles(ExactMatch)
def _exact_match_default(element: ExactMatch, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.exact, **kw)


@compiles(CodePointOrder, "postgresql")
def _order_postgresql(element: CodePointOrder, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.expr.collate("C"), **kw)


@compiles(CodePointOrder, "sqlite")
def _order_sqlite(element: CodePointOrder, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.expr.collate("BINARY"), **kw)


@compiles(CodePointOrder)
def _order_default(element: CodePointOrder, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.expr, **kw)


class NotNaN(ColumnElement[bool]):
    """``expr`` (a number) is not NaN: ``expr <> 'NaN'`` on PostgreSQL, TRUE elsewhere."""

    inherit_cache = False
    type = Boolean()

    def __init__(self, expr: ColumnElement[Any]):
        self.expr = expr


@compiles(NotNaN, "postgresql")
def _not_nan_postgresql(element: NotNaN, compiler: Any, **kw: Any) -> str:
    return compiler.process((element.expr != cast(literal("NaN", String()), Double())).self_group(), **kw)


@compiles(NotNaN)
def _not_nan_default(element: NotNaN, compiler: Any, **kw: Any) -> str:
    return compiler.process(true(), **kw)


class TextLength(ColumnElement[Any]):
    """``size(expr)`` of a string: its number of code points; NULL (an error) on SQLite for a string
    holding a NUL character, which SQLite's ``length`` does not count past."""

    inherit_cache = False
    type = Integer()

    def __init__(self, expr: ColumnElement[Any]):
        self.expr = expr


@compiles(TextLength, "sqlite")
def _length_sqlite(element: TextLength, compiler: Any, **kw: Any) -> str:
    x = element.expr
    return compiler.process(case((func.instr(x, func.char(0)) > 0, null()), else_=func.length(x)), **kw)


@compiles(TextLength)
def _length_default(element: TextLength, compiler: Any, **kw: Any) -> str:
    return compiler.process(func.length(element.expr), **kw)


class TextAfter(ColumnElement[Any]):
    """What follows the prefix ``prefix`` (known to be there) of ``expr``, to search for a character:
    ``substr`` past it, on SQLite over the bytes (its ``substr`` of text stops at a NUL)."""

    inherit_cache = False

    def __init__(self, expr: ColumnElement[Any], prefix: str):
        self.expr = expr
        self.prefix = prefix
        self.type = expr.type


@compiles(TextAfter, "sqlite")
def _after_sqlite(element: TextAfter, compiler: Any, **kw: Any) -> str:
    prefix = _bytes(literal(element.prefix, String()))
    return compiler.process(func.substr(_bytes(element.expr), func.length(prefix) + 1), **kw)


@compiles(TextAfter)
def _after_default(element: TextAfter, compiler: Any, **kw: Any) -> str:
    return compiler.process(func.substr(element.expr, len(element.prefix) + 1), **kw)
