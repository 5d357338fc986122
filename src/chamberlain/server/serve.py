"""Run the server: uvicorn (default) or granian, with graceful shutdown and connection timeouts.

Timeouts follow Cerbos's ``server.advanced.http`` keys: ``readHeaderTimeout`` closes a connection
whose request headers have not all arrived in time (slow clients), ``readTimeout`` bounds reading
the body (answered 408), ``idleTimeout`` closes idle keep-alive connections. A request line and
headers over ``chamberlain.limits.maxHeaderBytes`` are answered 431 and the connection closed, as
Go's server (Cerbos) does past its 1 MB: httptools would otherwise buffer a header of any size. SIGINT/SIGTERM stop
accepting connections, let in-flight requests finish (at most ``chamberlain.shutdownTimeout``),
then stop the policy watcher.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any, cast

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from chamberlain.audit.log import PROCESS
from chamberlain.server.app import App, create_app
from chamberlain.server.coalesce import CoalescingTransport
from chamberlain.server.config import Config, load_config
from chamberlain.server.logs import LOGGER, setup_logging

_ARGS_ENV = "CHAMBERLAIN_SERVE_ARGS"


_TOO_LARGE = "request header fields too large (chamberlain.limits.maxHeaderBytes)"


class _HeadersTooLarge(Exception):
    """Raised from the parser's callback to stop the request before it reaches the app."""


def header_timeout_protocol(seconds: float, max_header_bytes: int = 65536) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, closing connections that do not deliver headers in ``seconds`` and
    answering 431 to headers over ``max_header_bytes`` (counted as they arrive, a read chunk of slack)."""

    class HeaderTimeoutProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None
        _in_headers = True
        _received = 0  # bytes received while the headers were incomplete (what the parser buffers)
        _parsed = 0  # bytes of the request line and the headers parsed so far
        _too_large = False

        def data_received(self, data: bytes) -> None:
            if self._in_headers:
                self._received += len(data)
            super().data_received(data)
            if self._in_headers and self._received > max_header_bytes and not self.transport.is_closing():
                self._too_large = True
                self.send_400_response(_TOO_LARGE)

        def on_url(self, url: bytes) -> None:
            self._parsed += len(url)
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._parsed += len(name) + len(value) + 4
            super().on_header(name, value)

        def send_400_response(self, msg: str) -> None:
            """uvicorn's answer to a parser error; 431 when the error is headers over the limit."""
            if not self._too_large:
                super().send_400_response(msg)
                return
            self._disarm()
            LOGGER.info(
                "refused request headers over the limit",
                extra={"client": self.client, "maxHeaderBytes": max_header_bytes},
            )
            body = _TOO_LARGE.encode()
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                b"content-type: text/plain; charset=utf-8\r\n"
                b"content-length: " + str(len(body)).encode() + b"\r\n"
                b"connection: close\r\n\r\n" + body
            )
            self.transport.close()

        def _arm(self) -> None:
            if self._header_timer is None and seconds > 0:
                self._header_timer = self.loop.call_later(seconds, self._header_timeout)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timeout(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                LOGGER.info(
                    "closing a connection that sent no complete request headers in time",
                    extra={"client": self.client, "readHeaderTimeout": seconds},
                )
                self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            coalescing = CoalescingTransport(transport, asyncio.get_running_loop())
            super().connection_made(cast(asyncio.Transport, coalescing))
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_headers, self._received, self._parsed = True, 0, 0
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            self._in_headers = False
            if self._parsed > max_header_bytes:
                self._too_large = True
                raise _HeadersTooLarge  # uvicorn answers a parser error with send_400_response: 431
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderTimeoutProtocol


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that calls ``on_listening`` once its socket is bound and listening."""

    def __init__(self, config: uvicorn.Config, on_listening: Callable[[], None] | None):
        super().__init__(config)
        self.on_listening = on_listening

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)  # binds, or exits saying why
        if self.started and self.on_listening is not None:
            self.on_listening()


def uvicorn_server(
    app: App, config: Config, on_listening: Callable[[], None] | None = None
) -> uvicorn.Server:
    """A configured (not yet started) uvicorn server for ``app``; ``on_listening`` runs once it is bound."""
    uv = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        loop="uvloop",
        http=header_timeout_protocol(config.read_header_timeout, config.max_header_bytes),
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_keep_alive=max(1, int(config.idle_timeout)),
        timeout_graceful_shutdown=config.shutdown_timeout,
        server_header=False,
        date_header=False,
        # scope["client"] is the socket's peer, never rewritten from X-Forwarded-For (uvicorn's default for
        # 127.0.0.1): chamberlain.gateway.trustedProxies and the admin sign-in limits judge the real peer.
        proxy_headers=False,
        # HTTPS: the app's reloading context (chamberlain.server.tls explains why not ssl_certfile).
        ssl_context_factory=(lambda _config, _default: app.tls.listening) if app.tls is not None else None,
    )
    return _AnnouncingServer(uv, on_listening)


def serve(config: Config) -> None:
    """Load the policies, print where the server listens, and serve until SIGINT/SIGTERM."""
    setup_logging(config.log_level, config.log_format)
    for warning in config.warnings:
        LOGGER.warning(warning)
    if config.http_server == "granian":
        _serve_granian(config)
        return
    if config.processes > 1:
        from chamberlain.server.processes import serve_processes

        sys.exit(serve_processes(config))
    app = create_app(config)
    relay_promptly(config)
    # uvicorn re-raises the stop signal once it has shut down gracefully: make that a clean exit.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, exit_cleanly)
    listening = {"url": config.url, "policies": str(config.policy_dir)}
    uvicorn_server(
        app, config, on_listening=lambda: LOGGER.info("chamberlain listening", extra=listening)
    ).run()


#: The interpreter's switch interval when the decision log has a writer process (Python's default: 5 ms).
RELAY_SWITCH_INTERVAL = 0.0005


def relay_promptly(config: Config) -> None:
    """With a writer process, let other threads take the interpreter lock within 0.5 ms.

    Why: the writer thread relays what the event loop does not send itself (checks decided on worker
    threads), and while the loop decides it waits for the lock up to the switch interval, the writer
    process and the callers with it. Measured (1 resource x 3 actions, 16 connections): +17 % checks/s
    with 0.5 ms when the writer thread relayed everything, still +8 % since the loop sends its own
    batches; at 64 connections 0.2 ms gave 9 % less than 0.5 ms; with the writer thread (which does the
    log's work itself, holding the lock) any lower interval cost more than it gave. This process is the
    server's own, so the setting is its to make (not create_app's: tests serve apps inside their own
    process).
    """
    log = config.decision_log
    if log is not None and log.options.writer == PROCESS:
        sys.setswitchinterval(RELAY_SWITCH_INTERVAL)


def exit_cleanly(signum: int, frame: object) -> None:
    """A stop signal's handler once uvicorn has shut down gracefully: exit with status 0."""
    raise SystemExit(0)


def _serve_granian(config: Config) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    os.environ[_ARGS_ENV] = json.dumps({"raw": plain(config.raw)})
    # granian binds in its own process and has no hook: say it is starting, not that it listens.
    LOGGER.info(
        "chamberlain starting (granian)", extra={"url": config.url, "policies": str(config.policy_dir)}
    )
    Granian(
        "chamberlain.server.serve:granian_app",
        address=config.host,
        port=config.port,
        interface=Interfaces.ASGI,
        factory=True,
        http="1",
        workers=1,
        log_enabled=False,
    ).serve()


def plain(value: Any) -> Any:
    """``value`` (a configuration's raw mapping) with plain dicts and lists only, for JSON."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def granian_app() -> App:
    """Factory granian imports in its worker: the configuration travels in an environment variable."""
    args = json.loads(os.environ[_ARGS_ENV])
    config = load_config(None, overrides=args["raw"], env={})
    setup_logging(config.log_level, config.log_format)
    app = create_app(config)
    relay_promptly(config)
    return app
