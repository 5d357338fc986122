"""chamberlain: authorization for AI agents.

>>> from chamberlain import PDP, Principal, Resource
>>> pdp = PDP.from_directory("policies/")
>>> pdp.is_allowed(Principal("alice", roles={"finance"}), Resource("invoice", "inv-1"), "pay")

The same methods against a remote PDP: ``chamberlain.Client(url)`` / ``chamberlain.AsyncClient(url)``
(:mod:`chamberlain.client`, imported on first use); ``chamberlain.acting_for(token)`` sets the
delegation, session and approval checks in a block carry.

The CEL compiler lives in :mod:`chamberlain.cel`, policies in :mod:`chamberlain.policy`, the
engine in :mod:`chamberlain.engine`.
"""

from chamberlain.engine import AuxData, EngineOptions, Principal, Resource
from chamberlain.errors import Error
from chamberlain.pdp import PDP, CheckResult, RequestError
from chamberlain.policy import PolicyError

_CLIENT_NAMES = frozenset({"AsyncClient", "Client", "PDPUnavailable", "Retry", "acting_for"})


def __getattr__(name: str) -> object:
    """The client's names, imported when first used (``import chamberlain`` stays free of httpx)."""
    if name in _CLIENT_NAMES:
        from chamberlain import client

        return getattr(client, name)
    raise AttributeError(f"module 'chamberlain' has no attribute {name!r}")


__all__ = [
    "PDP",
    "AsyncClient",
    "AuxData",
    "CheckResult",
    "Client",
    "EngineOptions",
    "Error",
    "PDPUnavailable",
    "PolicyError",
    "Principal",
    "RequestError",
    "Resource",
    "Retry",
    "acting_for",
]
__version__ = "0.1.0"
