"""The policy decision point: load and compile a policy directory once, then decide checks.

>>> from chamberlain import PDP, Principal, Resource
>>> pdp = PDP.from_directory("policies/")
>>> pdp.is_allowed(Principal("alice", roles={"finance"}), Resource("invoice", "inv-1"), "pay")

With ``audit="sqlite:///decisions.db"`` (or a ``postgresql://`` URL) every decided action is
recorded in the tamper-evident decision log after deciding; ``pdp.close()`` flushes it.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from chamberlain.approvals.guard import ApprovalGuard, approval_id_of, read_approval_id
from chamberlain.approvals.store import ApprovalStore
from chamberlain.audit.log import DecisionLog, LogOptions
from chamberlain.audit.write import recording
from chamberlain.audit.write.ids import new_call_id
from chamberlain.cel import budget
from chamberlain.cel.values import Timestamp
from chamberlain.engine import (
    AuxData,
    CheckInput,
    CheckOutput,
    Engine,
    EngineOptions,
    Principal,
    Resource,
    compile_policies,
)
from chamberlain.engine.planner import PlanError, PlanInput, QueryPlan, plan_resources
from chamberlain.engine.planner.wire import parse_plan_resources, plan_response
from chamberlain.engine.request import EMPTY_AUX
from chamberlain.engine.request_validation import InvalidRequest, RequestError, RequestLimits, check_actions
from chamberlain.engine.wire import JWTVerifier, check_resources_response, parse_check_resources
from chamberlain.gcpause import paused
from chamberlain.policy import PolicySet, load_directory
from chamberlain.sessions.guard import SessionGuard, SessionRef, session_id_of
from chamberlain.sessions.join import Joined, gate, join, plan_note, request_ref, worth_telling
from chamberlain.sessions.model import SESSION_ID
from chamberlain.sessions.store import SessionStore
from chamberlain.store import sqlite_url
from chamberlain.text import printable

__all__ = ["PDP", "CheckResult", "InvalidRequest", "RequestError", "RequestLimits"]


_FROM_CONFIG = object()  # PDP.from_config's default: the decision log the configuration names


class CheckResult:
    """The decisions of one :meth:`PDP.check` call: one :class:`CheckOutput` per resource.

    ``log_error``: why the decision log could not record the check (every action is then denied);
    ``session``: what the session the check named made of it (``denied``/``check``, ``refused``, ``budgets``).
    """

    __slots__ = ("log_error", "outputs", "session")

    def __init__(
        self, outputs: list[CheckOutput], log_error: str = "", session: dict[str, Any] | None = None
    ):
        self.outputs = outputs
        self.log_error = log_error
        self.session = session

    def __iter__(self):
        return iter(self.outputs)

    def __len__(self) -> int:
        return len(self.outputs)

    def __getitem__(self, index: int) -> CheckOutput:
        return self.outputs[index]

    def is_allowed(self, action: str, index: int = 0) -> bool:
        """Whether ``action`` is allowed on the ``index``-th resource."""
        return self.outputs[index].is_allowed(action)

    def explanation(self) -> str:
        return "\n\n".join(f"{printable(o.resource_id)}:\n{o.explanation()}" for o in self.outputs)

    def __repr__(self) -> str:
        error = f", log_error={self.log_error!r}" if self.log_error else ""
        return f"CheckResult({self.outputs!r}{error})"


def _refuse_actors(request: Mapping[str, Any]) -> None:
    """Refuse a request naming actors (``auxData.delegation``): decided for the principal alone, the actors'
    own limits would be dropped and the agents would get everything the principal may do."""
    aux = request.get("auxData", request.get("aux_data"))
    if isinstance(aux, Mapping) and "delegation" in aux:
        raise RequestError(
            "auxData.delegation",
            "this PDP does not check actor chains, and deciding for the principal alone would give the "
            "agents everything it may do: decide delegated checks with chamberlain.delegation.TokenService "
            "(or a chamberlain server)",
        )


class PDP:
    """A compiled policy set and the options to decide with; :meth:`reload` swaps in a new one."""

    def __init__(
        self,
        policies: PolicySet,
        options: EngineOptions | None = None,
        *,
        directory: str | os.PathLike[str] | None = None,
        verify_jwt: JWTVerifier | None = None,
        audit: DecisionLog | None = None,
        sessions: SessionGuard | None = None,
        limits: RequestLimits | None = None,
    ):
        self.options = options or EngineOptions()
        self.limits = limits or RequestLimits()
        self.sessions = sessions
        self.approvals: ApprovalGuard | None = None
        self.directory = Path(directory) if directory is not None else None
        self.verify_jwt = verify_jwt
        self._engine: Engine = compile_policies(policies, self.options)
        self._lock = threading.Lock()
        self.log = audit

    @classmethod
    def from_directory(
        cls,
        path: str | os.PathLike[str],
        *,
        verify_jwt: JWTVerifier | None = None,
        audit: str | os.PathLike[str] | DecisionLog | None = None,
        audit_options: LogOptions | None = None,
        sessions: str | SessionStore | None = None,
        limits: RequestLimits | None = None,
        **options: Any,
    ) -> PDP:
        """Load, validate and compile ``path``; raises ``PolicyError`` listing every problem (file:line).

        ``options`` are :class:`~chamberlain.engine.EngineOptions` fields (``default_policy_version``,
        ``default_scope``, ``lenient_scope_search``, ``strict_evaluation``, ``globals``,
        ``schema_enforcement``). ``verify_jwt`` turns ``auxData.jwt.token`` into claims.
        ``audit``: a decision log URL (``sqlite:///PATH``, ``postgresql://...``), a file path (SQLite)
        or an open :class:`~chamberlain.audit.DecisionLog`; ``audit_options`` tune it (durability, ...).
        ``sessions``: a session store URL (usually the decision log's) or an open
        :class:`~chamberlain.sessions.SessionStore`; checks can then name sessions (``session_id=``).
        ``limits``: the request limits every check is held to (Cerbos's ``server.requestLimits``,
        default 50 resources per request and 50 actions per resource).
        """
        engine_options = EngineOptions(**options)
        with paused():  # loading and compiling under one pause: see chamberlain.gcpause
            policies = load_directory(path)
            log = _open_log(audit, audit_options)
            store = None
            try:
                store = SessionStore.open(sessions) if isinstance(sessions, str) else sessions
                pdp = cls(
                    policies, engine_options, directory=path, verify_jwt=verify_jwt, audit=log, limits=limits
                )
            except BaseException:
                if log is not None and not isinstance(audit, DecisionLog):
                    log.close()
                if store is not None and isinstance(sessions, str):
                    store.close()
                raise
        if store is not None:
            pdp.use_sessions(store)
        return pdp

    def use_sessions(self, store: SessionStore) -> None:
        """Check sessions in ``store``; its transitions are recorded in this PDP's decision log."""
        from chamberlain.sessions.transitions import recorder

        if store.on_transition is None and self.log is not None:
            store.on_transition = recorder(self.record)
        self.sessions = SessionGuard(store, self._engine.globals)
        if self.approvals is not None:
            self.approvals.sessions = store

    def use_approvals(self, store: ApprovalStore, default_ttl: float = 900.0) -> None:
        """Open and honour approval requests in ``store`` (its transitions go to this PDP's decision log)."""
        from chamberlain.approvals.transitions import recorder

        if store.on_transition is None and self.log is not None:
            store.on_transition = recorder(self.record)
        sessions = self.sessions.store if self.sessions is not None else None
        self.approvals = ApprovalGuard(store, default_ttl, sessions)

    @classmethod
    def from_config(
        cls,
        config: str | os.PathLike[str] | Any,
        *,
        overrides: Mapping[str, Any] | None = None,
        audit: DecisionLog | object | None = _FROM_CONFIG,
        sessions: SessionStore | object | None = _FROM_CONFIG,
    ) -> PDP:
        """The PDP ``chamberlain serve --config`` builds: from a Cerbos-format configuration file (or a
        loaded :class:`~chamberlain.server.Config`), read by the server's own loader.

        Takes ``storage.disk.directory``, ``engine.*`` (default version and scope, lenient scope search,
        strict evaluation, globals), ``schema.enforcement``, ``auxData.jwt`` (key sets, skew, disabled
        verification), ``server.requestLimits`` and ``chamberlain.limits.evaluationTimeout``; with
        ``chamberlain.audit`` on, the decision log it names (pass ``audit`` to use an open log instead),
        and with ``chamberlain.sessions`` on, the session store in its database (or ``sessions``).
        ``overrides`` are keys as ``chamberlain serve --set`` gives them (``{"engine": {...}}``).
        Raises ``ConfigError`` (every invalid value) or ``PolicyError``.
        """
        from chamberlain.server.auxdata import JWTVerifier as ConfigVerifier
        from chamberlain.server.config import Config, load_config

        settings = config if isinstance(config, Config) else load_config(config, overrides=overrides)
        log = audit
        if log is _FROM_CONFIG:
            found = settings.decision_log
            log = DecisionLog.open(found.url, found.options) if found is not None else None
        try:
            if sessions is _FROM_CONFIG:
                url = settings.sessions_url if settings.sessions is not None else None
                sessions = (
                    SessionStore.for_settings(url, settings.sessions)  # type: ignore[arg-type]
                    if url is not None
                    else None
                )
            return cls.from_directory(
                settings.policy_dir,
                verify_jwt=ConfigVerifier(settings),
                audit=log,  # type: ignore[arg-type]
                sessions=sessions,
                limits=settings.request_limits,  # type: ignore[arg-type]
                **settings.engine_options,
            )
        except BaseException:
            if audit is _FROM_CONFIG and log is not None:
                log.close()  # type: ignore[union-attr]
            raise

    def close(self) -> None:
        """Flush and close the decision log (a no-op without one); raises if entries could not be written."""
        if self.log is not None:
            log, self.log = self.log, None
            log.close()

    def __enter__(self) -> PDP:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def policies(self) -> PolicySet:
        return self._engine.policies

    def reload(self) -> None:
        """Compile the directory again and swap atomically; on error the old set keeps serving."""
        if self.directory is None:
            raise RuntimeError("this PDP was not loaded from a directory")
        with self._lock:
            with paused():  # see chamberlain.gcpause
                engine = compile_policies(load_directory(self.directory), self.options)  # raises PolicyError
            self._engine = engine
            if self.sessions is not None:
                self.sessions.globals = engine.globals

    # -- decisions --------------------------------------------------------------------------------

    def is_allowed(
        self, principal: Principal, resource: Resource, action: str, *, aux_data: AuxData | None = None
    ) -> bool:
        """Whether ``principal`` may do ``action`` on ``resource`` (recorded when there is a decision log)."""
        # Exact types first, the isinstance checks only for anything else: this is the embedded hot path.
        if type(principal) is not Principal or type(resource) is not Resource or aux_data is not None:
            _check_types(principal, (resource,), aux_data)
        if (type(action) is not str and not isinstance(action, str)) or not action:
            raise InvalidRequest(f"action: expected a non-empty string, got {action!r}", "action")
        if self.log is not None:
            return self.check(principal, resource, [action], aux_data=aux_data).is_allowed(action)
        return (
            self._engine.walked(principal, resource, action, aux_data or EMPTY_AUX).effect == "EFFECT_ALLOW"
        )

    def check(
        self,
        principal: Principal,
        resources: Resource | Iterable[Resource],
        actions: Sequence[str],
        *,
        aux_data: AuxData | None = None,
        request_id: str = "",
        now: dt.datetime | None = None,
        session_id: str = "",
        actor_chain: Sequence[str] = (),
        approval_id: str = "",
        call_id: str = "",
        point: str = "embedded",
        preview: bool = False,
    ) -> CheckResult:
        """Decide ``actions`` on each resource; the result explains every decision.

        With a decision log, ``call_id`` (default: a new ULID) and ``point`` (the enforcement point)
        go into the entries; in ``sync`` durability the call returns once they are durable.
        ``session_id`` names the session the check belongs to (``ses_...``): it must be live, bound to
        this principal (or ``actor_chain[0]``) and within its budgets, else every action is denied
        (``result.session`` says why); ``preview`` checks without spending. Without a session store, a
        ``session_id`` that is not of that form is only a label recorded in the log (as before 0.x).
        ``approval_id`` names the approval a retried action uses (``apr_...``, with approvals on: see
        :meth:`use_approvals`; without them it is a label recorded in the log).
        Bad input raises :class:`InvalidRequest` with the Cerbos server's message (see
        :mod:`chamberlain.engine.request_validation`): objects that are not a ``Principal``/``Resource``,
        a string for the actions, duplicate or empty actions, more than :attr:`limits` allow.
        """
        resources = (
            [resources] if isinstance(resources, Resource) else list(_iterable(resources, "resources"))
        )
        _check_types(principal, resources, aux_data)
        actions = check_actions(actions, len(resources), self.limits)
        aux = aux_data or EMPTY_AUX
        if approval_id and self.approvals is not None:  # without approvals it is a label, as session ids are
            approval_id_of(approval_id, "approval_id")
        inputs = [
            CheckInput(
                principal, r, tuple(actions), aux, request_id, session_id, tuple(actor_chain), approval_id
            )
            for r in resources
        ]
        when = _instant(now)
        joined = None
        if session_id and (self.sessions is not None or SESSION_ID.match(session_id)):
            joined = join(
                self.sessions, SessionRef(session_id_of(session_id, "session_id"), preview, "session_id")
            )
            inputs = joined.inputs(inputs)
        outputs = self._engine.check(inputs, when)
        spent = (
            self.approvals.apply(self._engine, inputs, outputs, when) if self.approvals is not None else []
        )
        record = joined.enforce(inputs, outputs, when) if joined is not None else None
        if spent and self.approvals is not None:
            self.approvals.keep_unspent(spent, outputs)
        if self.log is None:
            return CheckResult(outputs, session=record)
        pending = recording.submit(
            self.log, inputs, outputs, when=int(when), call_id=call_id or new_call_id(), point=point
        ).wait()
        return CheckResult(pending.outputs, pending.reason(), record)

    def record(
        self,
        inputs: Sequence[CheckInput],
        outputs: list[CheckOutput],
        *,
        point: str,
        now: dt.datetime | None = None,
        call_id: str = "",
    ) -> str:
        """Record decisions made outside :meth:`check` (the token exchange, a gateway) in the decision log.

        Waits as :meth:`check` does; returns why the log could not record them ("" when it did, or
        when there is no log), in which case every action of ``outputs`` has been turned into a DENY.
        """
        if self.log is None:
            return ""
        pending = recording.submit(
            self.log, inputs, outputs, when=int(_instant(now)), call_id=call_id or new_call_id(), point=point
        ).wait()
        return pending.reason()

    def plan(
        self,
        principal: Principal,
        kind: str,
        action: str | Sequence[str],
        *,
        resource_attr: Mapping[str, Any] | None = None,
        aux_data: AuxData | None = None,
        scope: str = "",
        policy_version: str = "",
        now: dt.datetime | None = None,
        request_id: str = "",
        call_id: str = "",
        point: str = "embedded",
        annotate: Any = None,
    ) -> QueryPlan:
        """Which resources of ``kind`` may ``principal`` do ``action`` on (every one of several actions).

        Returns a :class:`~chamberlain.engine.planner.QueryPlan`: ``ALWAYS_ALLOWED``,
        ``ALWAYS_DENIED``, or ``CONDITIONAL`` with the condition (Cerbos's operand tree) over the
        resource attributes not given in ``resource_attr``. With a decision log the plan is recorded
        (``annotate(plan)`` may add fields to the record); if it cannot be, the plan is ALWAYS_DENIED.
        """
        _check_types(principal, (), aux_data)
        actions = check_actions((action,) if isinstance(action, str) else action, 1, self.limits)
        inp = PlanInput(
            principal,
            kind,
            actions,
            dict(resource_attr or {}),
            policy_version,
            scope,
            aux_data or EMPTY_AUX,
            request_id,
        )
        return self._plan(inp, now, call_id, point, annotate=annotate)

    def filter(
        self, statement: Any, principal: Principal, action: str | Sequence[str], **options: Any
    ) -> Any:
        """``statement`` (a SQLAlchemy ``Select``) restricted to the rows ``principal`` may ``action``.

        Plans, translates exactly and records the plan with a digest of the SQL (see
        :func:`chamberlain.integrations.sqlalchemy.authorize` for the options and the typed outcome).
        Needs the ``chamberlain[sqlalchemy]`` extra.
        """
        from chamberlain.integrations.sqlalchemy import authorize

        return authorize(self, statement, principal, action, **options).statement

    def plan_resources(
        self,
        request: Mapping[str, Any],
        *,
        now: dt.datetime | None = None,
        call_id: str = "",
        point: str = "embedded",
    ) -> dict[str, Any]:
        """Cerbos PlanResources: request JSON (as a dict) in, response JSON (as a dict) out."""
        parsed = parse_plan_resources(request, self.verify_jwt)  # validated as the server validates it
        _refuse_actors(request)
        ref = request_ref(request)  # a plan in a session: the session must be live; it spends nothing
        denied = gate(self.sessions, ref, parsed.input.principal.id) if ref is not None else ""
        plan = self._plan(parsed.input, now, call_id, point, request=request, denied=denied)
        response = plan_response(plan, include_meta=parsed.include_meta, single_action=parsed.single_action)
        if plan.log_error:
            response[recording.REASON_KEY] = {"decisionLog": plan.log_error}
        if denied:
            response.setdefault(recording.REASON_KEY, {})["session"] = plan_note(ref, denied)
        return response

    def _bounded_plan(self, inp: PlanInput, when: Timestamp) -> QueryPlan:
        """The plan of ``inp`` folded within ``evaluation_timeout`` (one budget for the whole plan: without
        it each loop started its own); past it a :class:`PlanError` naming the option, no plan."""
        timeout = self._engine.options.evaluation_timeout
        with budget.limit(budget.Budget(timeout)):
            try:
                return plan_resources(self._engine, inp, when)
            except budget.EvaluationTimeout:
                raise PlanError(
                    f"the query plan's conditions ran past {timeout:g} s (evaluation_timeout): no plan"
                ) from None

    def _plan(
        self,
        inp: PlanInput,
        now: dt.datetime | None,
        call_id: str,
        point: str,
        *,
        request: Mapping[str, Any] | None = None,
        annotate: Any = None,
        denied: str = "",
    ) -> QueryPlan:
        from chamberlain import plan_log  # the decision log's side of plans (imports the audit package)

        when = _instant(now)
        plan = self._bounded_plan(inp, when)
        if denied:  # the session the request names is over, locked or not the caller's
            plan_log.deny_plan(plan)
        if self.log is None:
            if annotate is not None:
                annotate(plan)
            return plan
        extra, failure = {}, None
        if annotate is not None:
            try:
                extra = dict(annotate(plan) or {})
            except Exception as exc:
                extra, failure = {"error": str(exc)}, exc
        pending = plan_log.submit(
            self.log,
            inp,
            plan,
            when=when,
            call_id=call_id or new_call_id(),
            point=point,
            request=request,
            extra=extra,
        ).wait()
        if pending.error is not None:
            plan = plan_log.deny_unrecorded(plan, pending.reason())
        if failure is not None:
            raise failure
        return plan

    def check_resources(
        self,
        request: Mapping[str, Any],
        *,
        now: dt.datetime | None = None,
        call_id: str = "",
        point: str = "embedded",
    ) -> dict[str, Any]:
        """Cerbos CheckResources: request JSON (as a dict) in, response JSON (as a dict) out."""
        return self.respond(self.start_check_resources(request, now=now, call_id=call_id, point=point).wait())

    def start_check_resources(
        self,
        request: Mapping[str, Any],
        *,
        now: dt.datetime | None = None,
        call_id: str = "",
        point: str = "embedded",
        loop: Any = None,
        validated: bool = False,
    ) -> recording.PendingCheck:
        """Decide a CheckResources request and submit its entries; :meth:`respond` once it is settled.

        ``loop``: the running event loop, when the caller will await ``PendingCheck.wait_async``.
        The request is validated as the Cerbos server validates it (within :attr:`limits`), raising
        :class:`InvalidRequest` with its message, unless the caller did that already (``validated``).
        """
        inputs, include_meta = parse_check_resources(
            request, self.verify_jwt, self.limits, validated=validated
        )
        _refuse_actors(request)
        approval_id = read_approval_id(request)
        if approval_id:
            inputs = [replace(i, approval_id=approval_id) for i in inputs]
        ref = request_ref(request)
        joined: Joined | None = join(self.sessions, ref) if ref is not None else None
        if joined is not None:
            inputs = joined.inputs(inputs)
        when = _instant(now)
        outputs = self._engine.check(inputs, when)
        spent = (
            self.approvals.apply(self._engine, inputs, outputs, when) if self.approvals is not None else []
        )
        record = joined.enforce(inputs, outputs, when) if joined is not None else None
        if spent and self.approvals is not None:
            self.approvals.keep_unspent(spent, outputs)
        if self.log is not None and not call_id:
            call_id = new_call_id()
        pending = recording.submit(
            self.log,
            inputs,
            outputs,
            when=int(when),
            call_id=call_id,
            point=point,
            request=request,
            loop=loop,
        )
        pending.include_meta = include_meta
        if worth_telling(record):
            pending.notes["session"] = record
        return pending

    def respond(self, pending: recording.PendingCheck) -> dict[str, Any]:
        """The CheckResources response of a settled :meth:`start_check_resources`."""
        inputs = pending.inputs
        request_id = inputs[0].request_id if inputs else ""
        response = check_resources_response(request_id, list(inputs), pending.outputs, pending.include_meta)
        return pending.annotate(response)


def _iterable(value: Any, field: str) -> Iterable[Any]:
    if isinstance(value, str | bytes | Mapping) or not hasattr(value, "__iter__"):
        raise InvalidRequest(
            f"{field}: expected a Resource or a list of them, got {type(value).__name__}", field
        )
    return value


def _check_types(principal: Any, resources: Iterable[Any], aux_data: Any) -> None:
    """The embedded API takes objects: a request's JSON (a dict) goes to :meth:`PDP.check_resources`."""
    if not isinstance(principal, Principal):
        raise InvalidRequest(
            f"principal: expected a Principal, got {type(principal).__name__}: build one with "
            "Principal(id, roles=[...], attr={...}) (Cerbos JSON goes to check_resources)",
            "principal",
        )
    for i, resource in enumerate(resources):
        if not isinstance(resource, Resource):
            raise InvalidRequest(
                f"resources[{i}]: expected a Resource, got {type(resource).__name__}: build one "
                "with Resource(kind, id, attr={...}) (Cerbos JSON goes to check_resources)",
                f"resources[{i}]",
            )
    if aux_data is not None and not isinstance(aux_data, AuxData):
        raise InvalidRequest(
            f"aux_data: expected an AuxData, got {type(aux_data).__name__}: build one with "
            "AuxData(jwt={...claims}, jwts={...})",
            "aux_data",
        )


def _instant(now: dt.datetime | None) -> Timestamp:
    """The instant of a check: ``now``, else the system clock's, to the nanosecond as Cerbos reads it
    (``now()`` and the decision log, which takes nanoseconds as an ``int``, see the same instant)."""
    return Timestamp.from_datetime(now.astimezone(dt.UTC)) if now is not None else Timestamp.now()


def _open_log(
    audit: str | os.PathLike[str] | DecisionLog | None, options: LogOptions | None
) -> DecisionLog | None:
    if audit is None or isinstance(audit, DecisionLog):
        return audit
    url = audit if isinstance(audit, str) else sqlite_url(os.fspath(audit))
    return DecisionLog.open(url, options)
