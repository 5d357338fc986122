"""Running the gateway: open the PDP and its decision log, connect the upstreams, serve the agent.

>>> anyio.run(serve, parse_config(load_config(Path("gateway.yaml")), base_dir=Path(".")))

Over stdio the gateway is one agent session (its id, printed on stderr at start, is the session id of
every decision: a chamberlain session ``ses_...`` unless ``sessions.enabled`` is false); over
streamable HTTP a token's session is its own (:mod:`chamberlain.gateways.mcp.sessions`). The PDP's decision log is closed
(and its final head signed) when the gateway stops.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

import anyio
import uvicorn

from chamberlain.approvals.guard import ApprovalGuard
from chamberlain.approvals.store import ApprovalStore
from chamberlain.approvals.transitions import recorder as approval_recorder
from chamberlain.approvals.webhooks import Notifier, also
from chamberlain.audit.log import LogOptions, default_key_file
from chamberlain.audit.write.ids import new_call_id
from chamberlain.gateways.mcp.config import STDIO, GatewayConfig
from chamberlain.gateways.mcp.fast import FastPath
from chamberlain.gateways.mcp.http import create_app
from chamberlain.gateways.mcp.identity import Identities
from chamberlain.gateways.mcp.proxy import Gateway
from chamberlain.gateways.mcp.sessions import GatewaySessions
from chamberlain.gateways.mcp.stdio import stdio_streams
from chamberlain.gateways.mcp.upstream import Upstream
from chamberlain.pdp import PDP
from chamberlain.sessions.store import SessionStore
from chamberlain.sessions.transitions import recorder
from chamberlain.store import parse_url

LOGGER = logging.getLogger("chamberlain.gateways.mcp")


def open_pdp(config: GatewayConfig) -> PDP:
    """The PDP over ``config.policies`` with its decision log (``sync``: every decision durable first)."""
    key_file = config.audit_key_file or default_key_file(parse_url(config.audit_db), config.state_dir)
    options = LogOptions(durability="sync", write_timeout=config.write_timeout, key_file=key_file)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    return PDP.from_directory(config.policies, audit=config.audit_db, audit_options=options)


async def serve(config: GatewayConfig, *, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until the agent disconnects (stdio) or the process is stopped (HTTP).

    ``on_ready`` is called with the session id (stdio) or the endpoint URL (HTTP) once serving.
    Raises ``PolicyError``, ``GatewayConfigError`` or ``UpstreamError`` when it cannot start.
    """
    pdp = open_pdp(config)
    sessions = None
    try:
        sessions = open_sessions(config, pdp)
        identities = Identities(config)
        upstreams = [Upstream(c) for c in config.upstreams]
        async with anyio.create_task_group() as tg:
            try:
                for upstream in upstreams:
                    await upstream.start(tg)
                await _serve(config, pdp, upstreams, identities, on_ready, sessions)
            finally:
                for upstream in upstreams:
                    await upstream.stop()
    finally:
        if sessions is not None:
            sessions.close()
        pdp.close()


def open_sessions(config: GatewayConfig, pdp: PDP) -> GatewaySessions | None:
    """The agents' sessions in ``sessions.db`` (the decision log's database), transitions in the log."""
    if config.sessions is None:
        return None
    store = SessionStore.for_settings(config.sessions_db, config.sessions, on_transition=recorder(pdp.record))
    found = GatewaySessions(store, config.sessions, config.session_subject)
    if config.approvals is not None:  # in the same database: the server's approvers decide them
        try:
            approvals = ApprovalStore.open(
                config.sessions_db,
                execution_window=config.approvals.execution_window,
                request_limit=config.approvals.request_limit,
                on_transition=approval_recorder(pdp.record),
            )
        except BaseException:
            store.close()
            raise
        found.approvals = ApprovalGuard(approvals, config.approvals.default_ttl, store)
        if config.approvals.webhooks:
            found.notifier = Notifier(config.approvals.webhooks)
            approvals.on_transition = also(approvals.on_transition, found.notifier.on_transition)
    return found


async def _serve(
    config: GatewayConfig,
    pdp: PDP,
    upstreams: list[Upstream],
    identities: Identities,
    on_ready: Callable[[str], None] | None,
    sessions: GatewaySessions | None = None,
) -> None:
    if config.transport == STDIO:
        gateway = Gateway(
            config, pdp, upstreams, identities, local_session=f"mcp-{new_call_id()}", sessions=sessions
        )
        session = gateway.start_session() if sessions is not None else gateway.local_session
        server = gateway.server()
        LOGGER.info(
            "MCP gateway on stdio, session %s, upstreams %s", session, ", ".join(u.name for u in upstreams)
        )
        print(f"chamberlain mcp-proxy: session {session}", file=sys.stderr, flush=True)
        async with stdio_streams(FastPath(gateway, server)) as (read, write):
            if on_ready is not None:
                on_ready(session)
            await server.run(read, write, server.create_initialization_options())
        return
    from chamberlain.server.serve import header_timeout_protocol  # the server's, for HTTP only

    app = create_app(
        Gateway(config, pdp, upstreams, identities, sessions=sessions).server(), config, identities
    )
    http = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            # slow clients: headers within downstream.readHeaderTimeout (and at most 64 KiB), else closed
            http=header_timeout_protocol(config.read_header_timeout),
        )
    )

    async def announce() -> None:
        while not http.started:
            if http.should_exit:
                return
            await anyio.sleep(0.02)
        url = f"http://{config.host}:{config.port}{config.path}"
        LOGGER.info(
            "chamberlain mcp-proxy listening on %s", url, extra={"url": url}
        )  # bound: started is set after
        if on_ready is not None:
            on_ready(url)

    async with anyio.create_task_group() as tg:
        tg.start_soon(announce)
        await http.serve()
        tg.cancel_scope.cancel()
