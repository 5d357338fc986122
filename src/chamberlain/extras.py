"""The optional parts of chamberlain and the error that names the one to install.

``pip install chamberlain`` is the embedded engine (:class:`chamberlain.PDP`, policies, CEL, the decision
log, the ``chamberlain`` command's offline tools); the rest comes as extras (pyproject.toml):
``chamberlain[server]`` for ``chamberlain serve``, ``chamberlain[mcp]`` for ``chamberlain mcp-proxy``,
``chamberlain[postgres]`` for state on PostgreSQL, ``chamberlain[client]`` for :class:`chamberlain.Client`.
Code that needs an extra imports its modules inside :func:`needs`, so a missing one is a
:class:`MissingExtra` that says what to install, not a bare ``ModuleNotFoundError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from chamberlain.errors import Error

#: The top-level modules each extra brings (those chamberlain imports itself).
MODULES: dict[str, frozenset[str]] = {
    "server": frozenset(
        {"uvicorn", "starlette", "prometheus_client", "jinja2", "bcrypt", "httpx", "grpc", "opentelemetry"}
    ),
    "mcp": frozenset({"mcp", "uvicorn", "starlette", "httpx", "anyio", "pydantic"}),
    "postgres": frozenset({"psycopg"}),
    "client": frozenset({"httpx"}),
    "grpc": frozenset({"cerbos", "grpc", "grpc_health", "google"}),
    "sqlalchemy": frozenset({"sqlalchemy"}),
    "langchain": frozenset({"langchain_core", "langgraph"}),
    "openai-agents": frozenset({"agents"}),
    "pydantic-ai": frozenset({"pydantic_ai", "pydantic"}),
    "fastapi": frozenset({"fastapi", "starlette"}),
}


class MissingExtra(Error, ImportError):
    """A feature whose optional dependencies are not installed; the message names the extra."""

    def __init__(self, what: str, extra: str, module: str):
        super().__init__(
            f"{what} needs the {extra!r} extra ({module} is not installed): "
            f"pip install 'chamberlain[{extra}]'"
        )
        self.extra = extra
        self.module = module


def install_hint(extra: str) -> str:
    """The command that installs ``extra``."""
    return f"pip install 'chamberlain[{extra}]'"


def _top(exc: ModuleNotFoundError) -> str:
    return (exc.name or "").partition(".")[0]


@contextmanager
def needs(extra: str, what: str) -> Iterator[None]:
    """Run the imports of ``what`` (e.g. ``"chamberlain serve"``): a module of ``extra`` that is missing
    raises :class:`MissingExtra`; any other missing module is a bug and propagates unchanged."""
    try:
        yield
    except MissingExtra as exc:  # from a `needs` inside: the outer `what` is what the user asked for
        raise MissingExtra(
            what, extra if exc.module.partition(".")[0] in MODULES[extra] else exc.extra, exc.module
        ) from None
    except ModuleNotFoundError as exc:
        if _top(exc) in MODULES[extra]:
            raise MissingExtra(what, extra, exc.name or "") from None
        raise


def explain(exc: ModuleNotFoundError, what: str) -> MissingExtra | None:
    """The :class:`MissingExtra` for a module one of the extras brings, else None (the first extra
    listing the module: ``httpx`` outside :func:`needs` is the server's)."""
    for extra, modules in MODULES.items():
        if _top(exc) in modules:
            return MissingExtra(what, extra, exc.name or "")
    return None
