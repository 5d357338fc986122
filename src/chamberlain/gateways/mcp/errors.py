"""The errors of the MCP gateway: an unusable configuration, an upstream that fails, a refused identity."""

from __future__ import annotations

from chamberlain.errors import Error


class GatewayError(Error):
    """Base class of every MCP gateway error."""


class GatewayConfigError(GatewayError):
    """A gateway configuration that cannot be used; ``problems`` lists each one, naming its key."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()):
        super().__init__(message)
        self.problems = problems or (message,)


class UpstreamError(GatewayError):
    """An upstream MCP server that cannot answer (not started, died, timed out); ``code`` is JSON-RPC's."""

    def __init__(self, upstream: str, problem: str, code: int):
        self.upstream = upstream
        self.problem = problem
        self.code = code
        super().__init__(f"upstream {upstream!r}: {problem}")


class IdentityError(GatewayError):
    """A caller whose identity cannot be established (no token, a token that does not verify, revoked)."""
