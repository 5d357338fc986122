"""CEL, the Common Expression Language, compiled to Python code.

    >>> from chamberlain import cel
    >>> program = cel.compile('request.principal.id == "alice" && size(request.resource.attr.tags) > 1')
    >>> program.evaluate({"request": {...}})

``compile`` parses once per distinct text (cached) and generates Python code objects;
``Program.evaluate`` takes and returns plain Python values (see :mod:`chamberlain.cel.values`)
and raises :class:`EvaluationError` for every CEL error, never any other exception.
"""

from __future__ import annotations

from chamberlain.cel.errors import CelError, CompileError, EvaluationError
from chamberlain.cel.program import Program, compile
from chamberlain.cel.values import CelType, Duration, Optional, Timestamp, UInt

__all__ = [
    "CelError",
    "CelType",
    "CompileError",
    "Duration",
    "EvaluationError",
    "Optional",
    "Program",
    "Timestamp",
    "UInt",
    "compile",
]
