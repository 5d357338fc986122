"""The errors of delegation: a bad token, a refused exchange, an unusable configuration."""

from __future__ import annotations

from chamberlain.errors import Error


class DelegationError(Error):
    """Base class of every delegation error."""


class DelegationConfigError(DelegationError):
    """A ``chamberlain.delegation`` configuration that cannot be used; the message lists every problem.

    ``problems`` holds them one by one (each naming its key), for a caller that reports them together
    with its own.
    """

    def __init__(self, message: str, problems: tuple[str, ...] = ()):
        super().__init__(message)
        self.problems = problems or (message,)


class TokenError(DelegationError):
    """A token that does not verify: ``where`` names the token, the message says which claim or key."""

    def __init__(self, where: str, problem: str):
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}")


class DelegatedCheckError(DelegationError):
    """A check request whose delegation contradicts itself (its principal is not the token's ``sub``...)."""


class ExchangeError(DelegationError):
    """A refused token exchange, as RFC 6749 §5.2 / RFC 8693 §2.2.2 answer it."""

    def __init__(self, error: str, description: str, status: int = 400):
        self.error = error
        self.description = description
        self.status = status
        super().__init__(f"{error}: {description}")

    def body(self) -> dict[str, str]:
        """The JSON error response."""
        return {"error": self.error, "error_description": self.description}
