"""``grpc.health.v1.Health`` answered from the server's own health (as ``GET /_cerbos/health``).

NOT_SERVING while the decision log is unavailable in ``sync`` durability (every check would be
denied); the overall server ("") and every served service are known names, any other is NOT_FOUND.
"""

from __future__ import annotations

from typing import Any

import grpc

from chamberlain.server import cerbos_api
from chamberlain.server.grpc.stubs import health, health_pb2
from chamberlain.server.state import ServerState

_Status = health_pb2.HealthCheckResponse


class Health(health.aio.HealthServicer):  # type: ignore[misc]
    """Check computes the status now; Watch streams the statuses set at start and stop."""

    def __init__(self, state: ServerState, services: list[str]):
        super().__init__()
        self.state = state
        self.services = ["", *services]

    async def serving(self) -> None:
        for name in self.services:
            await self.set(name, _Status.SERVING)

    async def stopping(self) -> None:
        await self.enter_graceful_shutdown()

    async def Check(self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext) -> Any:
        if request.service not in self.services:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        try:
            cerbos_api.health(self.state, b"", "")
        except cerbos_api.NotServing:
            return _Status(status=_Status.NOT_SERVING)
        return _Status(status=_Status.SERVING)
