"""Cerbos's gRPC API (``cerbos.svc.v1.CerbosService``), gRPC health and Envoy's ext_authz ``Check``.

Served by ``chamberlain serve`` when ``server.grpcListenAddr`` is set (docs/reference/grpc.md).
Needs the ``grpc`` extra (the generated Cerbos, Envoy and health modules).
"""

from __future__ import annotations

from chamberlain.server.grpc.server import GrpcServer

__all__ = ["GrpcServer"]
