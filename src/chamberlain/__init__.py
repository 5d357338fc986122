"""chamberlain: authorization for AI agents.

>>> from chamberlain import PDP, Principal, Resource
>>> pdp = PDP.from_directory("policies/")
>>> pdp.is_allowed(Principal("alice", roles={"finance"}), Resource("invoice", "inv-1"), "pay")

The CEL compiler lives in :mod:`chamberlain.cel`, policies in :mod:`chamberlain.policy`, the
engine in :mod:`chamberlain.engine`.
"""

from chamberlain.engine import AuxData, EngineOptions, Principal, Resource
from chamberlain.errors import Error
from chamberlain.pdp import PDP, CheckResult, InvalidRequest, RequestError, RequestLimits
from chamberlain.policy import PolicyError

__all__ = [
    "PDP",
    "AuxData",
    "CheckResult",
    "EngineOptions",
    "Error",
    "InvalidRequest",
    "PolicyError",
    "Principal",
    "RequestError",
    "RequestLimits",
    "Resource",
]
__version__ = "0.1.0"
