"""One MCP server behind the gateway: a connection kept open by its own task, reconnected when lost.

The official ``mcp`` client talks to the server: a stdio server is spawned as a subprocess on the
gateway's own pipes (:mod:`chamberlain.gateways.mcp.pipes`; its stderr goes to the gateway's), which
also carry the fast path's raw tool calls (:meth:`Upstream.call_tool_raw`); a streamable HTTP server
is reached at its URL. Every failure
becomes an :class:`~chamberlain.gateways.mcp.errors.UpstreamError` with a JSON-RPC code: the
connection closed (``-32000``), the call timed out (``-32001``), or the server answered an error
(its own code). A lost connection is re-established in the background, with back-off; the call
that found it lost is never retried (a tool call may not be idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any, TypeVar

import anyio
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, INTERNAL_ERROR, REQUEST_TIMEOUT
from pydantic import TypeAdapter

from chamberlain.gateways.mcp.config import UpstreamConfig
from chamberlain.gateways.mcp.errors import UpstreamError
from chamberlain.gateways.mcp.pipes import ChannelClosed, Pipes, spawn

LOGGER = logging.getLogger("chamberlain.gateways.mcp")
_BACKOFF = (0.1, 0.5, 1.0, 2.0, 5.0)
_T = TypeVar("_T")
#: Results forwarded as the server sent them: the proxy does not re-validate what the agent's client will.
_RAW: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])
# What a broken pipe, a dead process or an unreachable HTTP server surfaces as, besides MCPError.
_TRANSPORT_ERRORS = (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError)


def _describe(exc: BaseException) -> str:
    """One line for an exception, unwrapping exception groups to their first cause."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, MCPError):
        return exc.error.message
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Upstream:
    """A named MCP server and the live connection to it (``await start(task_group)`` first)."""

    def __init__(self, config: UpstreamConfig):
        self.config = config
        self.name = config.name
        self.tools: list[types.Tool] = []
        self.prompts: list[types.Prompt] = []
        self.resources: list[types.Resource] = []
        self.templates: list[types.ResourceTemplate] = []
        self.generation = 0  # bumped each time the lists are loaded
        self.problem = "not connected yet"
        self._client: Client | None = None
        #: The raw side channel of a connected stdio server (None: HTTP, or not connected).
        self._pipes: Pipes | None = None
        self._opened: Pipes | None = None
        self._lost = anyio.Event()
        self._stopping = False

    @property
    def available(self) -> bool:
        return self._client is not None

    @property
    def raw(self) -> bool:
        """Whether the fast path can relay a call raw (a connected stdio server)."""
        return self._client is not None and self._pipes is not None and not self._pipes.closed

    def _opening(self, pipes: Pipes) -> None:
        self._opened = pipes

    def _transport(self) -> AbstractAsyncContextManager[Any]:
        c = self.config
        if c.command:
            params = StdioServerParameters(
                command=c.command[0], args=list(c.command[1:]), env=dict(c.env) or None, cwd=c.cwd
            )
            return spawn(params, self._opening)
        http = create_mcp_http_client(headers=dict(c.headers) or None)
        return streamable_http_client(c.url, http_client=http)

    async def start(self, tg: anyio.abc.TaskGroup) -> None:
        """Connect and load the server's lists; raises :class:`UpstreamError` when it cannot."""
        await tg.start(self._run)

    async def stop(self) -> None:
        self._stopping = True
        self._lost.set()

    async def _run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Hold the connection open until it is lost, then reconnect (the client lives in this one task)."""
        started, attempt = False, 0
        while not self._stopping:
            try:
                async with AsyncExitStack() as stack:
                    client = Client(
                        self._transport(), read_timeout_seconds=self.config.connect_timeout, cache=None
                    )
                    await stack.enter_async_context(client)
                    await self._load(client)
                    self._client, self._lost, attempt = client, anyio.Event(), 0
                    self._pipes = self._opened
                    LOGGER.info("upstream %s connected (%d tools)", self.name, len(self.tools))
                    if not started:
                        started = True
                        task_status.started()
                    await self._lost.wait()
            except Exception as exc:
                self.problem = f"could not connect: {self._connect_problem(exc)}"
                if not started:
                    raise UpstreamError(self.name, self.problem, CONNECTION_CLOSED) from None
                LOGGER.warning("upstream %s: %s", self.name, self.problem)
            finally:
                self._client = self._pipes = self._opened = None
            if not self._stopping:
                await anyio.sleep(_BACKOFF[min(attempt, len(_BACKOFF) - 1)])
                attempt += 1

    def _connect_problem(self, exc: BaseException) -> str:
        while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
        if isinstance(exc, FileNotFoundError) and self.config.command:
            return f"the command was not found: {self.config.command[0]}"
        if isinstance(exc, MCPError) and exc.code == CONNECTION_CLOSED:
            return "the server closed the connection before the MCP handshake finished (did it exit? see its stderr)"
        return _describe(exc)

    async def _load(self, client: Client) -> None:
        """The server's tools, prompts, resources and templates (every page)."""
        caps = client.server_capabilities
        self.tools = await _all_pages(lambda cursor: client.list_tools(cursor=cursor), "tools")
        if caps.prompts is not None:
            self.prompts = await _all_pages(lambda c: client.list_prompts(cursor=c), "prompts")
        if caps.resources is not None:
            self.resources = await _all_pages(lambda c: client.list_resources(cursor=c), "resources")
            self.templates = await _all_pages(
                lambda c: client.list_resource_templates(cursor=c), "resource_templates"
            )
        self.generation += 1

    async def refresh(self) -> None:
        """Load the lists again (after ``list_changed``, or before answering a list)."""
        await self._call(self._load)

    async def call_tool(self, name: str, arguments: dict[str, Any] | None) -> dict[str, Any]:
        """The server's ``tools/call`` result as it sent it (a JSON object, validated by the SDK once)."""
        request = types.CallToolRequest(params=types.CallToolRequestParams(name=name, arguments=arguments))

        async def call(client: Client) -> dict[str, Any]:
            result = await client.session.send_request(
                request, _RAW, request_read_timeout_seconds=self.config.call_timeout
            )
            return self._complete(result)

        return await self._call(call)

    async def call_tool_raw(self, name: str, arguments: dict[str, Any] | None) -> dict[str, Any]:
        """:meth:`call_tool` over the raw side channel (the same request, outcome and errors, without the SDK
        session); only while :attr:`raw`."""
        pipes = self._pipes
        if pipes is None or self._client is None:
            raise UpstreamError(
                self.name,
                f"not available ({self.problem}); the gateway reconnects in the background, try again shortly",
                CONNECTION_CLOSED,
            )
        params: dict[str, Any] = {"name": name}
        if arguments is not None:
            params["arguments"] = arguments
        try:
            answer = await pipes.request("tools/call", params, self.config.call_timeout)
        except ChannelClosed:
            raise self._closed() from None
        except TimeoutError:
            raise self._timed_out() from None
        except OSError as exc:
            raise self._lose(f"the connection failed: {_describe(exc)}") from None
        error = answer.get("error")
        if error is not None:
            code = error.get("code") if isinstance(error, dict) else None
            message = error.get("message") if isinstance(error, dict) else None
            if not isinstance(code, int) or isinstance(code, bool) or not isinstance(message, str):
                raise UpstreamError(self.name, "the call failed: a malformed error response", INTERNAL_ERROR)
            raise UpstreamError(self.name, message, code)
        result = answer.get("result")
        if not isinstance(result, dict):
            raise UpstreamError(
                self.name, "the call failed: a response without a result object", INTERNAL_ERROR
            )
        return self._complete(result)

    def _complete(self, result: dict[str, Any]) -> dict[str, Any]:
        """A tools/call result the gateway can forward (not a request for input)."""
        if result.get("resultType", "complete") != "complete":
            raise UpstreamError(
                self.name,
                "the server asked for input (elicitation or sampling), which the gateway does not relay",
                INTERNAL_ERROR,
            )
        return result

    async def get_prompt(self, name: str, arguments: dict[str, str] | None) -> types.GetPromptResult:
        return await self._call(lambda client: client.get_prompt(name, arguments))

    async def read_resource(self, uri: str) -> types.ReadResourceResult:
        return await self._call(lambda client: client.read_resource(uri))

    async def _call(self, fn: Callable[[Client], Awaitable[_T]]) -> _T:
        client = self._client
        if client is None:
            raise UpstreamError(
                self.name,
                f"not available ({self.problem}); the gateway reconnects in the "
                "background, try again shortly",
                CONNECTION_CLOSED,
            )
        try:
            with anyio.fail_after(self.config.call_timeout + 1):  # the SDK's own timeout fires first
                return await fn(client)
        except UpstreamError:
            raise
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                raise self._closed() from None
            if exc.code == REQUEST_TIMEOUT:
                raise self._timed_out() from None
            raise UpstreamError(self.name, exc.error.message, exc.code) from None
        except TimeoutError:
            raise self._timed_out() from None
        except _TRANSPORT_ERRORS as exc:
            raise self._lose(f"the connection failed: {_describe(exc)}") from None
        except Exception as exc:  # a result the SDK could not parse, a transport bug
            LOGGER.warning("upstream %s: %s", self.name, _describe(exc))
            raise UpstreamError(self.name, f"the call failed: {_describe(exc)}", INTERNAL_ERROR) from None

    def _timed_out(self) -> UpstreamError:
        return UpstreamError(
            self.name, f"no answer within callTimeout ({self.config.call_timeout:g}s)", REQUEST_TIMEOUT
        )

    def _closed(self) -> UpstreamError:
        return self._lose("the connection closed (the server exited or hung up)")

    def _lose(self, problem: str) -> UpstreamError:
        self.problem = problem
        self._client = None
        self._lost.set()
        LOGGER.warning("upstream %s: %s; reconnecting", self.name, problem)
        return UpstreamError(
            self.name, f"{problem}; the gateway reconnects in the background", CONNECTION_CLOSED
        )


async def _all_pages(
    fetch: Callable[[str | None], Awaitable[Any]], field: str, limit: int = 100
) -> list[Any]:
    """Every item of a paginated list (at most ``limit`` pages, so a server that never ends cannot hang us)."""
    items: list[Any] = []
    cursor = None
    for _ in range(limit):
        page = await fetch(cursor)
        items.extend(getattr(page, field))
        cursor = page.next_cursor
        if not cursor:
            break
    return items
