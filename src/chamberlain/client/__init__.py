"""The SDK's remote side: :class:`Client` and :class:`AsyncClient` (the embedded PDP's methods over HTTP) and
:func:`acting_for` (the delegation, session and approval a block of code acts under)."""

from chamberlain.extras import needs

with needs("client", "chamberlain.Client"):
    from chamberlain.client.client import AsyncClient, Client
    from chamberlain.client.context import Acting, acting_for, current
    from chamberlain.client.transport import RejectedRequest, Retry
    from chamberlain.client.wire import NotSupported, PDPUnavailable, RemoteCheckResult

__all__ = [
    "Acting",
    "AsyncClient",
    "Client",
    "NotSupported",
    "PDPUnavailable",
    "RejectedRequest",
    "RemoteCheckResult",
    "Retry",
    "acting_for",
    "current",
]
