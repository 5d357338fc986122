"""The gRPC listener: grpcio's asyncio server, on the HTTP server's event loop (so it shares ServerState).

Opened only when ``server.grpcListenAddr`` is set. TLS when ``server.tls`` is configured (the same
certificate as HTTPS, reloaded when its files change, client certificates required with ``caCert``).
Requests are bounded by ``server.advanced.grpc.maxRecvMsgSizeBytes`` (RESOURCE_EXHAUSTED past it) and
metadata by ``chamberlain.limits.maxHeaderBytes``. Stopping lets calls in flight finish for at most
``chamberlain.shutdownTimeout``.
"""

from __future__ import annotations

import os

import grpc

from chamberlain.files import MAX_CONFIG_BYTES, FileRefused, read_bounded
from chamberlain.server.admin.dispatch import AdminSurface
from chamberlain.server.grpc import cerbos_service
from chamberlain.server.grpc.health import Health
from chamberlain.server.grpc.stubs import health_pb2_grpc
from chamberlain.server.logs import LOGGER
from chamberlain.server.state import ServerState
from chamberlain.server.tls import TLSError, TLSFiles, build_context, files_signature


class GrpcServer:
    """``cerbos.svc.v1.CerbosService``, health and (with gateway routes) Envoy's ``Authorization``."""

    def __init__(self, state: ServerState, admin: AdminSurface | None = None):
        self.state = state
        self.admin = admin  # the HTTP server's admin surface: CerbosAdminService's audit listing when enabled
        self.server: grpc.aio.Server | None = None
        self.port = 0
        self.health: Health | None = None

    async def start(self) -> GrpcServer:
        """Bind ``server.grpcListenAddr`` and serve; raises when the address cannot be bound."""
        config = self.state.config
        assert config.grpc_listen is not None
        host, port = config.grpc_listen
        options = [
            ("grpc.max_receive_message_length", config.max_body_bytes),
            ("grpc.max_metadata_size", config.max_header_bytes),
            ("grpc.absolute_max_metadata_size", config.max_header_bytes),
            ("grpc.so_reuseport", 0),  # a port in use is an error, not a second listener
        ]
        server = grpc.aio.server(options=options)
        services = [cerbos_service.SERVICE]
        server.add_generic_rpc_handlers((cerbos_service.CerbosService(self.state).handlers(),))
        proxy = getattr(self.state, "proxy", None)
        if proxy is not None:
            from chamberlain.server.grpc import envoy

            server.add_generic_rpc_handlers((envoy.AuthorizationService(self.state, proxy).handlers(),))
            services.append(envoy.SERVICE)
        if self.admin is not None and self.admin.policies is not None:
            from chamberlain.server.grpc import admin_audit

            server.add_generic_rpc_handlers(
                (admin_audit.AdminAuditService(self.state, self.admin).handlers(),)
            )
            services.append(admin_audit.SERVICE)
        self.health = Health(self.state, services)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            if config.tls is not None:
                self.port = server.add_secure_port(address, _credentials(config.tls))
            else:
                self.port = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise OSError(f"server.grpcListenAddr {address}: cannot listen: {exc}") from None
        await server.start()
        await self.health.serving()
        self.server = server
        LOGGER.info(
            "chamberlain gRPC listening",
            extra={"address": f"{host}:{self.port}", "tls": config.tls is not None, "services": services},
        )
        return self

    async def stop(self, grace: float) -> None:
        """Refuse new calls, let those in flight finish for at most ``grace`` seconds."""
        server, self.server = self.server, None
        if server is None:
            return
        if self.health is not None:
            await self.health.stopping()
        await server.stop(grace)


def _credentials(files: TLSFiles) -> grpc.ServerCredentials:
    """Server credentials whose certificate is reloaded (at the next handshake) when its files change."""
    stamp = files_signature(files)
    initial = _certificates(files)

    def fetch() -> grpc.ServerCertificateConfiguration | None:
        nonlocal stamp
        now = files_signature(files)
        if now == stamp:
            return None
        try:
            build_context(files)  # the same checks as at start: a half-written file keeps the last good one
            found = _certificates(files)
        except (TLSError, FileRefused, OSError) as exc:
            LOGGER.error(
                "gRPC TLS reload failed; the last good certificate keeps serving", extra={"error": str(exc)}
            )
            return None
        stamp = now
        LOGGER.info("gRPC TLS certificate reloaded", extra={"cert": str(files.cert_file)})
        return found

    return grpc.dynamic_ssl_server_credentials(
        initial, fetch, require_client_authentication=files.ca_file is not None
    )


def _certificates(files: TLSFiles) -> grpc.ServerCertificateConfiguration:
    def read(path: os.PathLike[str]) -> bytes:
        return read_bounded(path, MAX_CONFIG_BYTES, "TLS file")

    ca = read(files.ca_file) if files.ca_file is not None else None
    return grpc.ssl_server_certificate_configuration([(read(files.key_file), read(files.cert_file))], ca)
