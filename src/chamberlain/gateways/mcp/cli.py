"""``chamberlain mcp-proxy``: put chamberlain between an agent and its MCP servers.

```sh
chamberlain mcp-proxy --policies DIR --principal ID --roles a,b [--name NAME] -- COMMAND ARGS...
chamberlain mcp-proxy --config gateway.yaml [--http 127.0.0.1:8808]
```

The flags build the same configuration a ``--config`` file holds (flags win over the file), so
there is one set of rules and one set of error messages for both.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from chamberlain import safeyaml
from chamberlain.errors import Error
from chamberlain.exits import fail
from chamberlain.extras import MissingExtra, needs

#: ``-- COMMAND ARGS`` reach the command untouched (its own flags are not ours).
CONTEXT_SETTINGS = {"allow_interspersed_args": False}


def _first_error(exc: BaseException) -> BaseException:
    """The first chamberlain error inside (possibly nested) exception groups, else ``exc``."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _first_error(inner)
            if isinstance(found, Error | OSError):
                return found
    return exc


def _attributes(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            fail(
                f"--attr {item!r}: expected KEY=VALUE (the value is read as YAML), for example team=payments"
            )
        try:
            out[key] = safeyaml.load(text, f"--attr {key}") if text else ""
        except (yaml.YAMLError, safeyaml.YAMLRefused) as exc:
            fail(f"--attr {item!r}: the value is not valid YAML: {exc}")
    return out


def build_settings(
    config: Path | None,
    *,
    policies: Path | None,
    principal: str | None,
    roles: str | None,
    attr: list[str],
    name: str | None,
    resource_kind: str | None,
    audit_db: str | None,
    state_dir: Path | None,
    http: str | None,
    command: list[str],
) -> tuple[dict[str, Any], Path]:
    """The configuration mapping (the file's, then the flags over it) and the folder paths are relative to."""
    from chamberlain.gateways.mcp.config import load_config

    settings = load_config(config) if config is not None else {}
    base = config.parent if config is not None else Path.cwd()
    if policies is not None:
        settings["policies"] = str(policies.resolve())
    if state_dir is not None:
        settings["stateDir"] = str(state_dir.resolve())
    if audit_db is not None:
        settings.setdefault("audit", {})["db"] = audit_db
    if principal is not None:
        settings["principal"] = {
            "id": principal,
            "roles": [r for r in (roles or "").split(",") if r],
            "attr": _attributes(attr),
        }
    elif roles or attr:
        fail("--roles and --attr describe --principal: give --principal ID too")
    if http is not None:
        settings.setdefault("downstream", {}).update(transport="http", listen=http)
    if command:
        upstream: dict[str, Any] = {"name": name or Path(command[0]).name, "command": command}
        if resource_kind is not None:
            upstream["resourceKind"] = resource_kind
        settings["upstreams"] = [*(settings.get("upstreams") or []), upstream]
    elif name is not None or resource_kind is not None:
        fail("--name and --resource-kind describe the command after --: give -- COMMAND ARGS too")
    return settings, base


def mcp_proxy(
    command: Annotated[
        list[str] | None, typer.Argument(help="After --: the stdio MCP server to wrap, with its arguments.")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="A gateway configuration file (YAML): several upstreams, a token."),
    ] = None,
    policies: Annotated[Path | None, typer.Option("--policies", help="The policy directory.")] = None,
    principal: Annotated[
        str | None, typer.Option("--principal", help="Who the agent acts as (principal id).")
    ] = None,
    roles: Annotated[
        str | None, typer.Option("--roles", help="The principal's roles, comma-separated.")
    ] = None,
    attr: Annotated[
        list[str], typer.Option("--attr", help="A principal attribute KEY=VALUE (YAML value; repeatable).")
    ] = [],  # noqa: B006
    name: Annotated[
        str | None,
        typer.Option("--name", help="The wrapped server's name (default: the command's base name)."),
    ] = None,
    resource_kind: Annotated[
        str | None,
        typer.Option("--resource-kind", help="The wrapped server's resource kind (default mcp_server)."),
    ] = None,
    audit_db: Annotated[
        str | None, typer.Option("--audit-db", help="Decision log URL: sqlite:///PATH or postgresql://...")
    ] = None,
    state_dir: Annotated[
        Path | None, typer.Option("--state-dir", help="State folder (default ./.chamberlain).")
    ] = None,
    http: Annotated[
        str | None,
        typer.Option("--http", help="Serve streamable HTTP on host:port instead of stdio (needs auth)."),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
    log_format: Annotated[
        str,
        typer.Option("--log-format", help="auto (text on a terminal, JSON lines otherwise), json or text."),
    ] = "auto",
) -> None:
    """Check every MCP tool call against policy, with its arguments, before it reaches the server."""
    try:
        with needs("mcp", "chamberlain mcp-proxy"):
            import anyio

            from chamberlain.gateways.mcp.config import parse_config
            from chamberlain.gateways.mcp.run import serve
    except MissingExtra as exc:
        fail(str(exc))

    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        fail(f"--log-level {log_level!r}: use debug, info, warning or error")
    from chamberlain.server.logs import FORMATS, setup_logging

    if log_format not in FORMATS:
        fail(f"--log-format {log_format!r}: use {', '.join(FORMATS)}")
    setup_logging(log_level, log_format)  # the same lines as chamberlain serve
    try:
        settings, base = build_settings(
            config,
            policies=policies,
            principal=principal,
            roles=roles,
            attr=attr,
            name=name,
            resource_kind=resource_kind,
            audit_db=audit_db,
            state_dir=state_dir,
            http=http,
            command=list(command or []),
        )
        gateway_config = parse_config(settings, base_dir=base)
        if not gateway_config.policies.is_dir():
            fail(f"policy directory {gateway_config.policies} does not exist: pass --policies DIR")
        anyio.run(serve, gateway_config, backend_options={"use_uvloop": True})
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except BaseException as exc:
        found = _first_error(exc)
        if isinstance(found, Error):
            fail(str(found))
        if isinstance(found, OSError):
            fail(f"cannot serve: {found}")
        raise


def register(app: typer.Typer) -> None:
    """Add ``mcp-proxy`` to the ``chamberlain`` command."""
    app.command("mcp-proxy", context_settings=CONTEXT_SETTINGS)(mcp_proxy)


def main() -> None:
    """``python -m chamberlain.gateways.mcp``: the command on its own."""
    standalone = typer.Typer(add_completion=False)
    standalone.command(context_settings=CONTEXT_SETTINGS)(mcp_proxy)
    standalone(prog_name=os.environ.get("CHAMBERLAIN_PROG", "chamberlain mcp-proxy"))
