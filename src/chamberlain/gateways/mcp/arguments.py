"""A tool call's arguments checked against the tool's input schema before they are decided on.

Policies read ``R.attr.arguments``; checking the shape first means a condition never meets a
string where the tool declares an object, and the agent learns which argument was wrong. The formats
a schema declares are checked too (``date-time``, ``date``, ``uuid``, ``email``, ``uri``, ... as
chamberlain checks them in policy schemas, :mod:`chamberlain.policy.schema_formats`): a server reading
its arguments leniently (pydantic reads ``"1900000000"`` as a date-time, Unix seconds) would otherwise
act on a value a condition could not read (``timestamp()`` fails, so a DENY on it does not apply).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError, best_match

from chamberlain.exact import inexact
from chamberlain.policy.schema_formats import FORMAT_CHECKER

LOGGER = logging.getLogger("chamberlain.gateways.mcp")


class ArgumentChecker:
    """Validators compiled once per tool schema (keyed by the schema object the upstream listed)."""

    def __init__(self) -> None:
        self._validators: dict[int, tuple[Mapping[str, Any], Any]] = {}

    def _validator(self, schema: Mapping[str, Any]) -> Any:
        cached = self._validators.get(id(schema))
        if cached is not None and cached[0] is schema:
            return cached[1]
        cls = jsonschema.validators.validator_for(schema)
        try:
            cls.check_schema(schema)
            validator = cls(schema, format_checker=FORMAT_CHECKER)
        except SchemaError as exc:
            LOGGER.warning(
                "a tool's input schema is not valid JSON Schema (%s); its arguments are not checked",
                exc.message,
            )
            validator = None
        if len(self._validators) > 4096:
            self._validators.clear()
        self._validators[id(schema)] = (schema, validator)
        return validator

    def problem(self, tool: str, schema: Mapping[str, Any] | None, arguments: Mapping[str, Any]) -> str:
        """Why ``arguments`` do not fit ``tool``'s input schema, or hold a number policies cannot read
        exactly (:func:`inexact_integer`), or ``""``."""
        validator = self._validator(schema) if schema else None
        if validator is None:
            return inexact(tool, arguments)
        error = best_match(validator.iter_errors(dict(arguments)))
        if error is None:
            return inexact(tool, arguments)
        where = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        return f"the arguments of tool {tool!r} do not match its input schema: at arguments{where}: {error.message}"
