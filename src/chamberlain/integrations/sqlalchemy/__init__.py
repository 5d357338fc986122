"""Query plans as SQLAlchemy 2 queries: the rows a principal may act on, exactly.

Two ways in:

* :func:`get_query` — the API of Cerbos's ``cerbos-sqlalchemy`` adapter (same keywords and
  defaults), for a PlanResources response from the Cerbos SDK, its JSON as a dict, or a
  chamberlain :class:`~chamberlain.engine.planner.QueryPlan`. Switching is changing the import.
* :func:`authorize` (and :meth:`chamberlain.PDP.filter`) — plan and translate in one step:
  ``pdp.filter(select(Invoice), principal, "read")`` returns the statement restricted to the
  allowed rows; :func:`authorize` returns the typed outcome (:class:`Allow`, :class:`Deny` or
  :class:`Filter`), never a bare boolean.

The translation is exact (:mod:`.translate`): a row is returned if and only if checking it with
``pdp.check`` would allow the action, given how the application turns a row into attributes: each
mapped column is the attribute, and a NULL column is sent as an explicit ``null``
(``"explicit"``, the default) or left out (``"omitted"``), per attribute if need be. What cannot
be translated exactly raises :class:`UntranslatableFilter` (naming the operator and attribute).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chamberlain.extras import needs

with needs("sqlalchemy", "chamberlain.integrations.sqlalchemy"):
    from sqlalchemy import Select, false, select
    from sqlalchemy.sql.elements import ColumnElement

from chamberlain.client.context import current
from chamberlain.engine.planner import (
    KIND_ALWAYS_ALLOWED,
    KIND_ALWAYS_DENIED,
    KIND_CONDITIONAL,
    Operand,
    PlanFormatError,
    QueryPlan,
    from_json,
)
from chamberlain.integrations.sqlalchemy.translate import (
    EXPLICIT,
    OMITTED,
    Relation,
    Translator,
    UntranslatableFilter,
)
from chamberlain.plan_log import deny_plan

LOGGER = logging.getLogger("chamberlain.integrations")
#: Why a filter planned under a delegation reads nothing (an embedded PDP does not attenuate by a chain).
EMBEDDED_PLAN = (
    "an embedded PDP does not attenuate query plans by an actor chain: under acting_for a delegation, "
    "the filter reads nothing (decide each row with the in-process TokenService, or plan without the delegation)"
)

__all__ = [
    "EXPLICIT",
    "OMITTED",
    "Allow",
    "Deny",
    "Filter",
    "PlanFormatError",
    "Relation",
    "UntranslatableFilter",
    "authorize",
    "default_attr_map",
    "get_query",
    "where_clause",
]

OperatorFnMap = Mapping[str, Callable[..., Any]]


@dataclass(frozen=True)
class Allow:
    """Every row may be read: ``statement`` is the query unchanged."""

    statement: Select[Any]
    plan: QueryPlan | None = None


@dataclass(frozen=True)
class Deny:
    """No row may be read: ``statement`` selects nothing (``WHERE false``)."""

    statement: Select[Any]
    plan: QueryPlan | None = None


@dataclass(frozen=True)
class Filter:
    """Only the rows matching ``where`` may be read; ``statement`` is the query restricted to them."""

    statement: Select[Any]
    where: ColumnElement[bool]
    plan: QueryPlan | None = None


Outcome = Allow | Deny | Filter


def get_query(
    query_plan: Any,
    table: Any,
    attr_map: Mapping[str, Any],
    table_mapping: Sequence[tuple[Any, Any]] | None = None,
    operator_override_fns: OperatorFnMap | None = None,
    null_attribute_representation: str = EXPLICIT,
    attribute_null_representation: Mapping[str, str] | None = None,
    *,
    principal: Any = None,
) -> Select[Any]:
    """``cerbos-sqlalchemy``'s ``get_query``: ``select(table)`` restricted by the plan.

    ``attr_map``: ``"request.resource.attr.<name>"`` (or ``request.resource.id``) to a column, or to
    a :class:`Relation` for a collection. ``table_mapping``: ``[(Table2, join_condition)]`` for
    columns of other tables (joined with ``LEFT OUTER JOIN``: a row without its related row stays,
    its attributes NULL). ``operator_override_fns``: ``{"in": lambda column, value: ...}`` — the
    caller's SQL for an operator (its NULL behaviour is the caller's responsibility).
    ``null_attribute_representation`` / ``attribute_null_representation``: how a NULL column
    reaches the check, for all attributes / per attribute. ``principal`` (chamberlain's, keyword only):
    the :class:`~chamberlain.Principal` the plan was made for, for plans that name it.
    """
    kind, condition, doubles = _read_plan(query_plan)
    statement = select(table)
    for joined, on in table_mapping or ():
        statement = statement.join(joined, on, isouter=True)
    if kind == KIND_ALWAYS_ALLOWED:
        return statement
    if kind == KIND_ALWAYS_DENIED:
        return statement.where(false())
    assert condition is not None
    translator = Translator(
        attr_map,
        default_null=null_attribute_representation,
        null_by_attribute=attribute_null_representation,
        overrides=operator_override_fns,
        doubles=doubles,
        principal=principal.cel() if principal is not None else None,
    )
    return statement.where(translator.condition(condition))


def where_clause(
    condition: Operand,
    attr_map: Mapping[str, Any],
    *,
    null: str = EXPLICIT,
    null_by_attribute: Mapping[str, str] | None = None,
    operator_override_fns: OperatorFnMap | None = None,
    principal: Any = None,
) -> ColumnElement[bool]:
    """A conditional plan's condition as a WHERE clause (exact; raises :class:`UntranslatableFilter`).

    ``principal``: the principal the plan was made for (a :class:`~chamberlain.Principal`), for plans that
    name it (``P.attr.orgs[R.attr.org]``: an index the planner could not resolve)."""
    translator = Translator(
        attr_map,
        default_null=null,
        null_by_attribute=null_by_attribute,
        overrides=operator_override_fns,
        principal=principal.cel() if principal is not None else None,
    )
    return translator.condition(condition)


def authorize(
    pdp: Any,
    statement: Select[Any],
    principal: Any,
    action: str | Sequence[str],
    *,
    kind: str | None = None,
    attr_map: Mapping[str, Any] | None = None,
    null: str = EXPLICIT,
    null_by_attribute: Mapping[str, str] | None = None,
    resource_attr: Mapping[str, Any] | None = None,
    aux_data: Any = None,
    scope: str = "",
    policy_version: str = "",
    dialect: Any = None,
    point: str = "sqlalchemy",
) -> Outcome:
    """Plan ``action`` on the statement's resources and restrict the statement to the allowed rows.

    ``kind``: the resource kind (default: the name of the statement's first table). ``attr_map``
    (default: every column of that table as ``request.resource.attr.<column key>``, its primary key
    as ``request.resource.id``). The plan is recorded in the PDP's decision log with a digest of the
    SQL (compiled for ``dialect``, default SQLAlchemy's generic one).
    """
    if pdp.options.strict_evaluation:
        raise UntranslatableFilter(
            "strict evaluation",
            "",
            "under strict evaluation a condition that fails on a row "
            "denies the whole action, which a row filter cannot express",
        )
    resource_table = _first_table(statement)
    kind = kind or resource_table.name
    mapping = attr_map if attr_map is not None else default_attr_map(resource_table)
    built: dict[str, Outcome] = {}
    acting = current()
    # An embedded PDP cannot attenuate by an actor chain: a plan for the principal alone would give the
    # agent acting for them every row they may read. Nothing is read, as a check under a delegation is
    # denied (chamberlain.integrations.decide) and the server refuses a delegated plan.
    refused = EMBEDDED_PLAN if bool(acting.token) or acting.delegation is not None else ""
    if not refused and acting.session_id:
        refused = _session_refusal(pdp, acting.session_id, principal)

    def translate(plan: QueryPlan) -> dict[str, Any]:
        if refused:
            deny_plan(plan)
            LOGGER.warning("sqlalchemy filter denied: %s", refused)
        if plan.kind.value == KIND_ALWAYS_ALLOWED:
            outcome: Outcome = Allow(statement, plan)
        elif plan.kind.value == KIND_ALWAYS_DENIED:
            outcome = Deny(statement.where(false()), plan)
        else:
            condition = plan.exact_condition or plan.condition
            assert condition is not None
            where = where_clause(
                condition, mapping, null=null, null_by_attribute=null_by_attribute, principal=principal
            )
            outcome = Filter(statement.where(where), where, plan)
        built["outcome"] = outcome
        return sql_record(outcome.statement, dialect)

    plan = pdp.plan(
        principal,
        kind,
        action,
        resource_attr=resource_attr,
        aux_data=aux_data,
        scope=scope,
        policy_version=policy_version,
        point=point,
        annotate=translate,
    )
    outcome = built["outcome"]
    if plan.kind.value == KIND_ALWAYS_DENIED and not isinstance(outcome, Deny):
        return Deny(statement.where(false()), plan)  # the decision log could not record the plan
    return outcome


def _session_refusal(pdp: Any, session_id: str, principal: Any) -> str:
    """Why a filter in the session ``acting_for`` names may not read ("": it may): a plan spends nothing,
    but the session must be live, unlocked and the principal's, as the server gates a plan in a session."""
    from chamberlain.sessions.guard import SessionRef
    from chamberlain.sessions.join import gate
    from chamberlain.sessions.model import SESSION_ID

    sessions = getattr(pdp, "sessions", None)
    if sessions is None and not SESSION_ID.match(session_id):
        return ""  # without a session store, an id that is not a session's is a label (as PDP.check takes it)
    if not SESSION_ID.match(session_id):
        return f"session_id {session_id[:80]!r} is not a session id (ses_...)"
    return gate(sessions, SessionRef(session_id, True, "session_id"), principal.id)


def sql_record(statement: Select[Any], dialect: Any = None) -> dict[str, Any]:
    """The SQL's digest for the decision log: SHA-256 of the statement with its values inlined."""
    try:
        text = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    except Exception:  # values without a literal form: the statement with its parameters
        compiled = statement.compile(dialect=dialect)
        text = f"{compiled} {sorted(compiled.params.items(), key=str)!r}"
    name = dialect.name if dialect is not None else "default"
    return {"dialect": name, "sql_digest": hashlib.sha256(text.encode("utf-8")).hexdigest()}


def default_attr_map(table: Any) -> dict[str, Any]:
    """Every column as ``request.resource.attr.<key>``; a single-column primary key also as ``request.resource.id``."""
    mapping = {f"request.resource.attr.{column.key}": column for column in table.columns}
    primary = list(table.primary_key.columns)
    if len(primary) == 1:
        mapping["request.resource.id"] = primary[0]
    return mapping


def _first_table(statement: Select[Any]) -> Any:
    froms = statement.get_final_froms()
    if not froms:
        raise ValueError("the statement selects from no table")
    table = froms[0]
    while hasattr(table, "left"):  # a join: its leftmost table
        table = table.left
    return table


def _read_plan(plan: Any) -> tuple[str, Operand | None, bool]:
    """(kind, condition, numbers-may-be-doubles) from a QueryPlan, an SDK response or its JSON."""
    if isinstance(plan, QueryPlan):
        return plan.kind.value, plan.exact_condition or plan.condition, False
    data = plan
    if hasattr(data, "to_dict"):  # the Cerbos SDK's dataclass_json objects
        data = data.to_dict()
    elif hasattr(data, "DESCRIPTOR"):  # a protobuf message (the gRPC SDK)
        from google.protobuf.json_format import MessageToDict

        data = MessageToDict(data)
    if not isinstance(data, Mapping):
        raise PlanFormatError(f"expected a PlanResources response, got {type(plan).__name__}")
    filter_ = data.get("filter", data)
    if not isinstance(filter_, Mapping):
        raise PlanFormatError("filter: expected an object")
    kind = filter_.get("kind")
    if hasattr(kind, "value"):
        kind = kind.value
    if kind not in (KIND_ALWAYS_ALLOWED, KIND_ALWAYS_DENIED, KIND_CONDITIONAL):
        raise PlanFormatError(f"filter.kind: unknown kind {kind!r}")
    if kind != KIND_CONDITIONAL:
        return kind, None, True
    condition = filter_.get("condition")
    if condition is None:
        raise PlanFormatError("filter.condition: missing for KIND_CONDITIONAL")
    return kind, from_json(condition, "filter.condition"), True
