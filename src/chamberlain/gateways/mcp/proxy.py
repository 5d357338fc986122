"""The gateway as an MCP server (the official SDK's low-level ``Server``) in front of its upstreams.

Each request the agent sends is authorized before anything is forwarded:

- ``tools/call``: routed by name, its arguments checked against the tool's input schema, then
  decided (``tools/call::<tool>``); a denial is a tool result with ``isError: true`` naming the
  policy and rule (or the check) that denied; only an ALLOW is forwarded.
- ``tools/list``, ``prompts/list``, ``resources/list``, ``resources/templates/list``: only what
  ``tools/list::<tool>``, ``prompts/get::<prompt>`` and ``resources/read::<uri>`` allow is listed (a
  template's URI is its ``uriTemplate``).
- ``prompts/get``, ``resources/read``: decided like tool calls; a denial is a JSON-RPC error
  (their results have no error flag) with the same explanation.

The SDK answers malformed JSON-RPC, unknown methods and params of the wrong type with JSON-RPC
errors before a handler runs; unknown tools, arguments that do not fit the schema and failing
upstreams are JSON-RPC errors from here. Nothing reaches an upstream before its ALLOW is durable in
the decision log (``sync``); with ``audit.forwardWhileRecording`` an allowed tool call is forwarded
while the log's writer commits its entry, and its result is withheld if the entry fails.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from importlib.metadata import version
from typing import Any, TypeVar

import anyio
import mcp_types as types
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, SERVER_INFO_META_KEY
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from chamberlain.approvals.errors import ApprovalError
from chamberlain.approvals.guard import FIELD as APPROVAL
from chamberlain.approvals.model import APPROVED, PENDING, SUBJECT
from chamberlain.exact import inexact
from chamberlain.gateways.mcp import mapping
from chamberlain.gateways.mcp.arguments import ArgumentChecker
from chamberlain.gateways.mcp.catalog import Catalog, Entry, definition_digest
from chamberlain.gateways.mcp.config import GatewayConfig
from chamberlain.gateways.mcp.decide import Decider, Decision, arguments_digest, pending_approval, waiting_for
from chamberlain.gateways.mcp.errors import IdentityError, UpstreamError
from chamberlain.gateways.mcp.identity import Caller, Identities
from chamberlain.gateways.mcp.sessions import GatewaySessions
from chamberlain.gateways.mcp.upstream import Upstream
from chamberlain.gateways.mcp.uris import canonical_uri
from chamberlain.gateways.proxy.routing import Unmapped
from chamberlain.pdp import PDP
from chamberlain.sessions.errors import SessionError
from chamberlain.sessions.model import SESSION_ID
from chamberlain.store.errors import StoreError
from chamberlain.store.owned import Busy

LOGGER = logging.getLogger("chamberlain.gateways.mcp")
#: The JSON-RPC code of a refused request (as cerbos-fastmcp answers): no identity, or a denial.
UNAUTHORIZED = -32010
#: Where the streamable HTTP layer leaves the verified token (see :mod:`chamberlain.gateways.mcp.http`).
TOKEN_SCOPE_KEY = "chamberlain.delegation"
SESSION_HEADER = "mcp-session-id"
PROTOCOL_VERSION_HEADER = "mcp-protocol-version"
#: Who reports the outcome of an approved call, in the approval's record and the decision log.
OUTCOME_BY = "mcp-gateway"
#: Seconds between looks at an approval a held call waits for.
HOLD_POLL = 0.25
#: Seconds the gateway waits for the client to answer an approval elicitation.
ELICIT_TIMEOUT = 60.0
#: Seconds an InputRequired state stays good for its retry.
STATE_TTL = 600
_T = TypeVar("_T")


def _without_upstream_stamp(result: _T) -> _T:
    """Drop the upstream's ``serverInfo`` stamp so the gateway's own is the one the agent sees."""
    if isinstance(result, dict):
        meta = result.get("_meta")
        if isinstance(meta, dict) and SERVER_INFO_META_KEY in meta:
            rest = {k: v for k, v in meta.items() if k != SERVER_INFO_META_KEY}
            return {**{k: v for k, v in result.items() if k != "_meta"}, **({"_meta": rest} if rest else {})}  # type: ignore[return-value]
        return result
    meta = getattr(result, "meta", None)
    if isinstance(meta, dict) and SERVER_INFO_META_KEY in meta:
        rest = {k: v for k, v in meta.items() if k != SERVER_INFO_META_KEY}
        return result.model_copy(update={"meta": rest or None})  # type: ignore[attr-defined,no-any-return]
    return result


def _private(result: types.ReadResourceResult) -> types.ReadResourceResult:
    """A forwarded read, cacheable only by the caller it was decided for (SEP-2549 ``cacheScope: private``): the
    upstream may mark it ``public`` (it serves every reader alike), but the gateway decides each read per caller,
    and a client sharing public entries across its users would serve one caller's allowed read to another."""
    if result.cache_scope == "private":
        return result
    return result.model_copy(update={"cache_scope": "private"})


def _error_result(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)


def _upstream_error(exc: UpstreamError) -> MCPError:
    return MCPError(code=exc.code, message=str(exc))


class Gateway:
    """Authorizes and forwards MCP requests; :meth:`server` is the SDK server to run on a transport."""

    def __init__(
        self,
        config: GatewayConfig,
        pdp: PDP,
        upstreams: Sequence[Upstream],
        identities: Identities,
        *,
        local_session: str = "",
        sessions: GatewaySessions | None = None,
    ):
        """``local_session``: the session id of a stdio gateway (one connection per process);
        ``sessions``: the agents' sessions (None: sessions are off, ``local_session`` is a label)."""
        self.config = config
        self.upstreams = list(upstreams)
        self.catalog = Catalog(self.upstreams, config.tool_names)
        self.identities = identities
        self.sessions = sessions
        self.decider = Decider(
            pdp,
            config.auth,
            config.audiences,
            sessions.guard if sessions is not None else None,
            sessions.approvals if sessions is not None else None,
        )
        self.arguments = ArgumentChecker()
        self._state_key = secrets.token_bytes(32)  # signs InputRequired states (a retry on this process)
        self.local_session = local_session

    # -- who and where --------------------------------------------------------------------------

    def caller(self, ctx: ServerRequestContext[Any, Any]) -> Caller:
        """The caller of this request: the HTTP layer's verified token, else the local identity."""
        request = ctx.request
        if request is None or not hasattr(request, "scope"):
            return self.local_caller()
        token = request.scope.get(TOKEN_SCOPE_KEY)
        if token is None:
            raise IdentityError("the request carries no verified delegation token")
        if self.sessions is not None:  # the token names the session, never the protocol's Mcp-Session-Id
            return self._in_session(self.identities.caller(token, ""))
        # The Mcp-Session-Id labels the request's session only where the SDK checked that the session is this
        # credential's (a request it routes as 2025: MCP-Protocol-Version absent or a handshake version); a
        # 2026-07-28 request opens none, and the SDK ignores the header there: a caller naming another's session
        # would have its decisions logged in that session.
        version = request.headers.get(PROTOCOL_VERSION_HEADER)
        checked = version is None or version in HANDSHAKE_PROTOCOL_VERSIONS
        return self.identities.caller(token, request.headers.get(SESSION_HEADER, "") if checked else "")

    def local_caller(self) -> Caller:
        """The stdio agent (the configured principal or token), in its session."""
        return self._in_session(self.identities.local(self.local_session))

    def _in_session(self, caller: Caller) -> Caller:
        """``caller`` in its chamberlain session (opened if need be; raises IdentityError when refused)."""
        if self.sessions is None:
            return caller
        if caller.delegation is not None:
            return replace(caller, session_id=self.sessions.for_token(caller.delegation))
        if not SESSION_ID.match(self.local_session):  # none could be opened at start (a lock): try again
            self.local_session = self.sessions.local(caller.principal.id)
        return replace(caller, session_id=self.local_session)

    def start_session(self) -> str:
        """Open the stdio agent's session now (its id; "" when refused, e.g. locked: every call says why)."""
        try:
            self._in_session(self.identities.local(self.local_session))
        except IdentityError as exc:
            LOGGER.warning("%s", exc)
            return ""
        return self.local_session

    def _caller_or_error(self, ctx: ServerRequestContext[Any, Any]) -> Caller:
        try:
            return self.caller(ctx)
        except IdentityError as exc:
            raise MCPError(
                code=UNAUTHORIZED, message=f"chamberlain could not establish who is calling: {exc}"
            ) from None

    async def _decide(
        self,
        caller: Caller,
        upstream: Upstream,
        method: str,
        actions: Sequence[str],
        mcp: dict[str, Any],
        preview: bool = False,
        settle: bool = True,
        **attr: Any,
    ) -> Decision:
        """Decide ``actions``; a ``preview`` (list filtering) spends nothing of the session's budgets;
        ``settle=False``: the caller waits for the log (:meth:`Decision.settle`) itself."""
        resource = mapping.resource(upstream.config, method, **attr)
        return await self.decider.decide(
            caller,
            resource,
            actions,
            point=f"mcp:{upstream.name}",
            mcp={"method": method, "server": upstream.name, **mcp},
            preview=preview,
            settle=settle,
        )

    async def _decide_named(
        self,
        caller: Caller,
        entry: Entry[Any],
        method: str,
        action: str,
        arguments: dict[str, Any],
        name_attr: str,
        settle: bool = True,
        **extra: Any,
    ) -> Decision:
        """Decide a call of a named tool or prompt, its arguments in ``R.attr.arguments`` and their digest logged
        (``extra``: more resource attributes)."""
        mcp = {"name": entry.name, "arguments_digest": arguments_digest(arguments)}
        attr = {"arguments": arguments, name_attr: entry.name, **extra}
        return await self._decide(caller, entry.upstream, method, [action], mcp, settle=settle, **attr)

    async def _refresh(self, upstreams: Iterable[Upstream]) -> None:
        """Reload the upstreams' lists (concurrently); one that fails keeps the lists it had."""

        async def one(upstream: Upstream) -> None:
            try:
                await upstream.refresh()
            except UpstreamError as exc:
                LOGGER.info("%s (its last lists are used)", exc)

        async with anyio.create_task_group() as tg:
            for upstream in upstreams:
                if upstream.available:
                    tg.start_soon(one, upstream)

    async def _visible(
        self,
        caller: Caller,
        entries: Iterable[Entry[Any]],
        method: str,
        check: str,
        key: Callable[[Entry[Any]], str],
    ) -> list[Entry[Any]]:
        """The entries whose ``check::<key>`` action is allowed: one decision per upstream."""
        by_upstream: dict[str, list[Entry[Any]]] = {}
        for entry in entries:
            by_upstream.setdefault(entry.upstream.name, []).append(entry)
        visible = []
        for group in by_upstream.values():
            actions = [mapping.action(check, key(e)) for e in group]
            decision = await self._decide(
                caller, group[0].upstream, method, actions, {}, preview=True, arguments={}
            )
            visible.extend(e for e, a in zip(group, actions, strict=True) if decision.allowed(a))
        return visible

    # -- handlers ---------------------------------------------------------------------------------

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        caller = self._caller_or_error(ctx)
        await self._refresh(self.upstreams)
        entries = await self._visible(
            caller, self.catalog.tools(), mapping.TOOLS_LIST, mapping.TOOLS_LIST, lambda e: e.name
        )
        return types.ListToolsResult(tools=[e.shown() for e in entries])

    async def _tool(self, name: str) -> Entry[Any]:
        entry = self.catalog.tool(name)
        if entry is None:  # a tool added since the lists were loaded?
            await self._refresh(self.upstreams)
            entry = self.catalog.tool(name)
        if entry is None:
            raise MCPError(
                code=INVALID_PARAMS,
                message=f"unknown tool {name!r}: the gateway's tools are "
                f"{self.catalog.names(self.catalog.tools())}",
            )
        return entry

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult | dict[str, Any]:
        return await self.decide_and_call(
            params, lambda: self.caller(ctx), lambda *ask: self._elicit(ctx, *ask), raw=False
        )

    async def decide_and_call(
        self,
        params: types.CallToolRequestParams,
        who: Callable[[], Caller],
        elicit: Callable[..., Awaitable[types.InputRequiredResult | None]],
        *,
        raw: bool,
    ) -> types.CallToolResult | types.InputRequiredResult | dict[str, Any]:
        """A ``tools/call``: the SDK server's handler (:meth:`call_tool`) and the fast path's
        (:mod:`chamberlain.gateways.mcp.fast`, ``raw``: relayed over the upstream's raw channel) alike."""
        entry = await self._tool(params.name)
        arguments = mapping.arguments_of(params.arguments)
        problem = self.arguments.problem(params.name, entry.item.input_schema, arguments)
        if problem:
            raise MCPError(code=INVALID_PARAMS, message=problem)
        action = mapping.action(mapping.TOOLS_CALL, entry.name)
        try:
            caller = who()
        except IdentityError as exc:
            return _error_result(
                f"chamberlain could not establish who is calling, so the call was not made: {exc}"
            )
        # The log's promise by default: nothing is forwarded before the ALLOW is durable. Opted in, the call is
        # forwarded while the writer makes the entry durable and the result waits for it (measured: the sync
        # entry's wait was ~0.5 ms of the 1.9 ms the gateway added per call, then spent beside the tool's).
        overlap = self.config.forward_while_recording
        # The tool as listed is part of what is decided (an approval is bound to it): see _forward_tool.
        defined = definition_digest(entry.item)
        decision = await self._decide_named(
            caller,
            entry,
            mapping.TOOLS_CALL,
            action,
            arguments,
            "tool_name",
            settle=not overlap,
            tool_digest=defined,
        )
        if decision.allowed(action):
            return await self._forward_tool(decision, entry, action, arguments, caller, raw)
        await decision.settle()
        held = pending_approval(decision.outputs.get(action, ()))
        if held:
            ask = await elicit(decision.outputs.get(action, ()), params, held)
            if ask is not None:
                return ask
        if held and self.config.approval_hold:
            decided = await self._hold(held)
            if decided == APPROVED:  # the same call, decided again, finds the approval by its digest
                decision = await self._decide_named(
                    caller, entry, mapping.TOOLS_CALL, action, arguments, "tool_name", tool_digest=defined
                )
            elif decided:
                lines = decision.denial(action, f"{action} on {entry.upstream.name}", caller).split("\n")
                ended = f"Approval {held} is {decided}: the call was not made."
                text = "\n".join(ended if line.startswith("Waiting for approval") else line for line in lines)
                return _error_result(text)
        if not decision.allowed(action):
            return _error_result(decision.denial(action, f"{action} on {entry.upstream.name}", caller))
        return await self._forward_tool(decision, entry, action, arguments, caller, raw)

    async def _forward_tool(
        self,
        decision: Decision,
        entry: Entry[Any],
        action: str,
        arguments: dict[str, Any],
        caller: Caller,
        raw: bool = False,
    ) -> types.CallToolResult | dict[str, Any]:
        """Forward an allowed call; its result is answered once the decision is durable (withheld, as an
        error result, when the log could not record it: the tool has run, so the agent is told so)."""
        send = entry.upstream.call_tool_raw if raw else entry.upstream.call_tool
        changed = await self._changed_since(entry, decision.used_approval) if decision.used_approval else ""
        if changed:
            await decision.settle()
            await self._outcome(decision.used_approval, "FAILED", changed)
            return _error_result(
                f"chamberlain did not make the call of {action} on {entry.upstream.name} for {caller.describe()}: "
                f"{changed}. Retry the call to ask for a new approval of the tool as it is now."
            )
        try:
            result = _without_upstream_stamp(await self._forward(lambda: send(entry.name, arguments)))
        except MCPError as exc:
            await decision.settle()
            await self._outcome(
                decision.used_approval, "FAILED", f"the server answered error {exc.error.code}"
            )
            raise
        await decision.settle()
        if decision.log_error:
            await self._outcome(
                decision.used_approval, "FAILED", "the decision log could not record the call"
            )
            return _error_result(
                f"chamberlain withheld the result of {action} on {entry.upstream.name} for {caller.describe()}: "
                f"the call was made, but its decision could not be recorded.\nDenied because {decision.log_error}.\n"
                f"Decision {decision.call_id} ({action}) is not in the decision log."
            )
        stopped = await self._stopped_meanwhile(caller, entry.name)
        if stopped:
            await self._outcome(decision.used_approval, "FAILED", f"result withheld: {stopped}")
            return _error_result(
                f"chamberlain withheld the result of {action} on {entry.upstream.name} for {caller.describe()}: "
                f"the call was made, but the session was stopped while it ran: {stopped}."
            )
        failed = isinstance(result, types.CallToolResult) and result.is_error
        await self._outcome(
            decision.used_approval,
            "FAILED" if failed else "SUCCEEDED",
            "the tool reported an error" if failed else "",
        )
        return result

    async def _changed_since(self, entry: Entry[Any], approval_id: str) -> str:
        """Why the call of ``entry``, which spends ``approval_id``, is not made ("" when it may be): the upstream
        now lists the tool otherwise, or not at all, or cannot say (its lists are reloaded first: a server may
        change a tool under its name between an approval and its use)."""
        try:
            await entry.upstream.refresh()
        except UpstreamError as exc:
            return (
                f"the server's tools could not be listed to confirm that the tool is still the one approval "
                f"{approval_id} was given for ({exc})"
            )
        now = next((t for t in entry.upstream.tools if t.name == entry.name), None)
        if now is None or definition_digest(now) != definition_digest(entry.item):
            return (
                f"the server changed the tool since approval {approval_id} was given for it (its description, "
                "schema or annotations are not those approved)"
            )
        return ""

    async def _stopped_meanwhile(self, caller: Caller, tool: str) -> str:
        """Why ``caller``'s session may act no more now that its call of ``tool`` (or its prompt or resource read: a
        ``tool`` lock covers every ``<method>::<name>``) has answered ("" while it may):
        the kill switch (a revoke, a suspension, a lock, one on the tool too) reaches a call in flight. A store
        that cannot say is a reason too (fail closed)."""
        if self.sessions is None or not SESSION_ID.match(caller.session_id):
            return ""
        store = self.sessions.store

        def ask() -> str:
            return store.stopped(caller.session_id, (tool,))

        try:
            if store.waitless:  # a local SQLite read, on the loop when the connection is free (no thread hop)
                try:
                    with store.without_waiting():
                        return ask()
                except Busy:
                    pass
            return await anyio.to_thread.run_sync(ask)
        except (SessionError, StoreError) as exc:
            return f"the session store could not say whether session {caller.session_id} goes on ({exc})"

    async def _withhold_if_stopped(self, caller: Caller, action: str, upstream: str) -> None:
        """Raise the JSON-RPC error withholding a prompt or a resource read when the caller's session was stopped
        while the upstream answered (the kill switch reaches a read in flight as it reaches a tool call)."""
        stopped = await self._stopped_meanwhile(caller, action.split("::", 1)[1])  # a tool lock covers it too
        if stopped:
            raise MCPError(
                code=UNAUTHORIZED,
                message=f"chamberlain withheld the result of {action} on {upstream} for {caller.describe()}: "
                f"the request was made, but the session was stopped while it ran: {stopped}.",
            )

    def _elicitation(self, outputs: Sequence[Any], capability: Any) -> types.ElicitRequestParams | None:
        """What to ask the user about an action held for approval: for a rule asking the user's own consent,
        a URL elicitation opening the console's approvals page (the person signs in there and decides);
        otherwise a message naming who must approve. The client's answer approves nothing."""
        asked = next(
            (v[APPROVAL] for v in outputs if isinstance(v, dict) and isinstance(v.get(APPROVAL), dict)), None
        )
        if capability is None or asked is None:
            return None
        approval_id, message = str(asked.get("id")), waiting_for(outputs)
        if SUBJECT in asked.get("approvers", []) and capability.url is not None and self.config.console_url:
            return types.ElicitRequestURLParams(
                message=f"{message} Open the page and sign in to decide.",
                url=f"{self.config.console_url}/approvals#{approval_id}",
                elicitation_id=approval_id,
            )
        if capability.form is not None:
            return types.ElicitRequestFormParams(
                message=message, requested_schema={"type": "object", "properties": {}}
            )
        return None

    async def _elicit(
        self,
        ctx: ServerRequestContext[Any, Any],
        outputs: Sequence[Any],
        params: types.CallToolRequestParams,
        held: str,
    ) -> types.InputRequiredResult | None:
        """Tell the user of an action held for approval through MCP elicitation, where the client supports it:
        a server-initiated request on 2025-11-25 sessions; on 2026-07-28 sessions an InputRequired result
        (answered once: its retry carries the state this gateway signed, and is decided as usual)."""
        session = ctx.session
        capabilities = session.client_capabilities
        ask = self._elicitation(outputs, capabilities.elicitation if capabilities is not None else None)
        if ask is None:
            return None
        if not session.can_send_request:
            if params.request_state is not None and self._state_of(params.request_state) == held:
                return None  # the retry: the user has been told
            return types.InputRequiredResult(
                input_requests={"approval": types.ElicitRequest(params=ask)},
                request_state=self._sign_state(held),
            )
        try:
            with anyio.fail_after(ELICIT_TIMEOUT):
                if isinstance(ask, types.ElicitRequestURLParams):
                    await session.elicit_url(ask.message, ask.url, ask.elicitation_id)
                else:
                    await session.elicit_form(ask.message, {"type": "object", "properties": {}})
        except Exception as exc:  # the elicitation only informs: the decision stands whatever the client does
            LOGGER.info("approval elicitation not answered", extra={"approval": held, "error": repr(exc)})
        return None

    def _sign_state(self, approval_id: str) -> str:
        """The InputRequired state: the approval and an expiry, MACed with this process's key."""
        body = f"{approval_id}.{int(time.time()) + STATE_TTL}"
        mac = hmac.new(self._state_key, body.encode(), hashlib.sha256).hexdigest()
        return f"{body}.{mac}"

    def _state_of(self, state: str) -> str:
        """The approval a state this gateway signed names ("" when forged, foreign or expired)."""
        body, _, mac = state.rpartition(".")
        expected = hmac.new(self._state_key, body.encode(), hashlib.sha256).hexdigest()
        approval_id, _, until = body.partition(".")
        if not hmac.compare_digest(mac, expected) or not until.isdigit() or int(until) < time.time():
            return ""
        return approval_id

    async def _hold(self, approval_id: str) -> str:
        """Wait up to ``approvals.holdFor`` for the approval to be decided: its state once it is not PENDING
        any more, or "" when the time is up (or the store cannot say)."""
        approvals = self.sessions.approvals if self.sessions is not None else None
        if approvals is None:
            return ""
        deadline = anyio.current_time() + self.config.approval_hold
        while anyio.current_time() < deadline:
            await anyio.sleep(min(HOLD_POLL, max(0.0, deadline - anyio.current_time())))
            try:
                state = (await anyio.to_thread.run_sync(approvals.store.get, approval_id)).state
            except (ApprovalError, StoreError):
                return ""
            if state != PENDING:
                return state
        return ""

    async def _outcome(self, approval_id: str, outcome: str, detail: str) -> None:
        """Record what became of an approved call (a failure to record is logged: the call has happened);
        nothing for a call that spent no approval."""
        approvals = self.sessions.approvals if self.sessions is not None else None
        if approvals is None or not approval_id:
            return
        try:
            await anyio.to_thread.run_sync(
                lambda: approvals.store.record_outcome(approval_id, outcome, detail, by=OUTCOME_BY)
            )
        except (ApprovalError, StoreError) as exc:
            LOGGER.error(
                "the outcome of an approved call could not be recorded",
                extra={"approval": approval_id, "error": str(exc)},
            )

    async def _forward(self, call: Callable[[], Awaitable[_T]]) -> _T:
        try:
            return await call()
        except UpstreamError as exc:
            raise _upstream_error(exc) from None

    async def list_prompts(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        caller = self._caller_or_error(ctx)
        await self._refresh(u for u in self.upstreams if u.prompts)
        entries = await self._visible(
            caller, self.catalog.prompts(), "prompts/list", mapping.PROMPTS_GET, lambda e: e.name
        )
        return types.ListPromptsResult(prompts=[e.shown() for e in entries])

    async def get_prompt(
        self, ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        entry = self.catalog.prompt(params.name)
        if entry is None:
            raise MCPError(
                code=INVALID_PARAMS,
                message=f"unknown prompt {params.name!r}: the gateway's prompts "
                f"are {self.catalog.names(self.catalog.prompts())}",
            )
        caller = self._caller_or_error(ctx)
        arguments = dict(params.arguments or {})
        problem = inexact(params.name, arguments, "prompt")  # string values: two names differing in case
        if problem:
            raise MCPError(code=INVALID_PARAMS, message=problem)
        action = mapping.action(mapping.PROMPTS_GET, entry.name)
        decision = await self._decide_named(
            caller, entry, mapping.PROMPTS_GET, action, arguments, "prompt_name"
        )
        if not decision.allowed(action):
            raise MCPError(
                code=UNAUTHORIZED,
                message=decision.denial(action, f"{action} on {entry.upstream.name}", caller),
            )
        result = await self._forward(lambda: entry.upstream.get_prompt(entry.name, arguments))
        await self._withhold_if_stopped(caller, action, entry.upstream.name)
        return _without_upstream_stamp(result)

    async def list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        visible = await self._readable(ctx, "resources/list", "resources", lambda r: str(r.uri))
        return types.ListResourcesResult(resources=visible)

    async def list_resource_templates(
        self,
        ctx: ServerRequestContext[Any, Any],
        params: types.PaginatedRequestParams | None,
    ) -> types.ListResourceTemplatesResult:
        visible = await self._readable(ctx, "resources/templates/list", "templates", lambda t: t.uri_template)
        return types.ListResourceTemplatesResult(resource_templates=visible)

    async def _readable(
        self, ctx: ServerRequestContext[Any, Any], method: str, items_of: str, uri: Callable[[Any], str]
    ) -> list[Any]:
        """The upstreams' resources or templates (``items_of``) whose ``resources/read::<uri>`` is allowed:
        a template's URI is its ``uriTemplate``. One listed by two upstreams is the first's (as
        ``resources/read`` reads it)."""
        caller = self._caller_or_error(ctx)
        serving = [u for u in self.upstreams if u.resources or u.templates]
        await self._refresh(serving)
        by_uri: dict[str, Entry[Any]] = {}
        for upstream in serving:
            for item in getattr(upstream, items_of):
                by_uri.setdefault(uri(item), Entry(uri(item), upstream, item))
        visible = await self._visible(
            caller, list(by_uri.values()), method, mapping.RESOURCES_READ, lambda e: e.exposed
        )
        return [e.item for e in visible]

    async def read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        upstream = self.catalog.resource_upstream(uri)
        if upstream is None:
            raise MCPError(code=INVALID_PARAMS, message=f"unknown resource {uri!r}: no upstream lists it")
        if self.catalog.listing(uri) is None:
            _templated_uri(uri)
        caller = self._caller_or_error(ctx)
        action = mapping.action(mapping.RESOURCES_READ, uri)
        decision = await self._decide(
            caller, upstream, mapping.RESOURCES_READ, [action], {"name": uri}, arguments={}, uri=uri
        )
        if not decision.allowed(action):
            raise MCPError(
                code=UNAUTHORIZED, message=decision.denial(action, f"{action} on {upstream.name}", caller)
            )
        result = await self._forward(lambda: upstream.read_resource(uri))
        await self._withhold_if_stopped(caller, action, upstream.name)
        return _private(_without_upstream_stamp(result))

    # -- the server -------------------------------------------------------------------------------

    def server(self) -> Server[Any]:
        """The SDK server: tools always; prompts and resources when an upstream has them."""
        prompts = any(u.prompts for u in self.upstreams)
        resources = any(u.resources or u.templates for u in self.upstreams)
        server: Server[Any] = Server(
            "chamberlain-mcp-gateway",
            version=version("chamberlain"),
            instructions="Every tool call is checked against policy by chamberlain before it runs; a denied "
            "call returns an error result that names the policy and rule that denied it.",
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
            on_list_prompts=self.list_prompts if prompts else None,
            on_get_prompt=self.get_prompt if prompts else None,
            on_list_resources=self.list_resources if resources else None,
            on_list_resource_templates=self.list_resource_templates if resources else None,
            on_read_resource=self.read_resource if resources else None,
        )
        # Instead of the SDK's OpenTelemetry span per message (a cost on every call, unused here): say
        # which parameter has the wrong shape, where the SDK answers "Invalid request parameters".
        server.middleware = [_shape_of_params]
        return server


def _templated_uri(uri: str) -> None:
    """Refuse (-32602) a URI no upstream lists (one for its templates) that is not in one spelling
    (:func:`~chamberlain.gateways.mcp.uris.canonical_uri`): the upstream might read another resource."""
    try:
        canonical_uri(uri)
    except Unmapped as exc:
        raise MCPError(
            code=INVALID_PARAMS,
            message=f"resources/read: the URI {uri!r} is refused: {exc}; the upstream might read "
            "another resource than the one decided on",
        ) from None


#: method -> (parameter, the JSON type it must have, what it is), for the requests the gateway decides.
_SHAPES: dict[str, tuple[tuple[str, type, str], ...]] = {
    "tools/call": (
        ("name", str, "the tool's name"),
        ("arguments", dict, "an object of the tool's arguments"),
    ),
    "prompts/get": (("name", str, "the prompt's name"), ("arguments", dict, "an object of string arguments")),
    "resources/read": (("uri", str, "the resource's URI"),),
}
_JSON_TYPES = {
    str: "a string",
    dict: "an object",
    list: "an array",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


async def _shape_of_params(ctx: ServerRequestContext[Any, Any], call_next: Any) -> Any:
    """A JSON-RPC error naming the parameter of the wrong shape, before the SDK validates it."""
    shapes = _SHAPES.get(ctx.method)
    if shapes is not None and ctx.request_id is not None:
        params = ctx.params
        if not isinstance(params, dict):
            raise MCPError(
                code=INVALID_PARAMS,
                message=f"{ctx.method}: params must be an object, got "
                f"{_JSON_TYPES.get(type(params), type(params).__name__)}",
            )
        for name, kind, what in shapes:
            value = params.get(name)
            required = name != "arguments"
            if (value is None and required) or (value is not None and not isinstance(value, kind)):
                got = "nothing" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)
                raise MCPError(
                    code=INVALID_PARAMS, message=f"{ctx.method}: params.{name} must be {what}, got {got}"
                )
    return await call_next(ctx)
