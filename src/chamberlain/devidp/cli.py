"""``chamberlain dev``: development tools. NOT FOR PRODUCTION.

```sh
chamberlain dev idp init [DIR]                      # key, JWKS, people and agents, a chamberlain config
chamberlain dev idp token alice --out alice.jwt     # a person's token
chamberlain dev idp token planner-agent --agent     # an agent's own (actor) token
chamberlain dev idp serve                           # a minimal OpenID Connect provider on loopback
```

The main CLI registers it with ``app.add_typer(dev_app, name="dev")``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from chamberlain.devidp.errors import DevIdpError
from chamberlain.devidp.provider import DEFAULT_DIR, MARKER
from chamberlain.durations import parse_duration
from chamberlain.exits import fail

WARNING = "NOT FOR PRODUCTION: anyone with the key file can sign any identity."
app = typer.Typer(add_completion=False, no_args_is_help=True, help=f"Development tools. {WARNING}")
idp_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help=(
        "A development identity provider: signed test tokens for people and agents, the JWKS and a "
        f"chamberlain config that trusts it, and a minimal OpenID Connect provider. {WARNING}"
    ),
)
app.add_typer(idp_app, name="idp")

DirOption = Annotated[
    Path, typer.Option("--dir", help="The dev IdP directory (written by `chamberlain dev idp init`).")
]


def _attributes(items: list[str]) -> dict[str, Any]:
    """``--attr k=v``: the value as JSON when it parses (numbers, true, lists), else as text."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            fail(f"--attr {item!r}: expected NAME=VALUE, for example department=finance")
        try:
            out[key] = json.loads(text)
        except ValueError:
            out[key] = text
    return out


@idp_app.command("init")
def init_command(
    directory: Annotated[Path, typer.Argument(help="Where to write the files.")] = DEFAULT_DIR,
    issuer: Annotated[
        str | None,
        typer.Option(help="The issuer URL (iss); `serve` listens there. Default http://127.0.0.1:3599."),
    ] = None,
    algorithm: Annotated[
        str | None, typer.Option(help="Signing algorithm of a new key: EdDSA (default) or ES256.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing signing key.")] = False,
) -> None:
    """Create the dev IdP's directory: signing key, JWKS, people and agents, a chamberlain config.

    Idempotent: files that exist are kept (the key is replaced only with --force). NOT FOR PRODUCTION.
    """
    from chamberlain.devidp.layout import CONFIG_FILE, init_directory

    try:
        report = init_directory(directory, issuer=issuer, algorithm=algorithm, force=force)
    except DevIdpError as exc:
        fail(str(exc))
    for line in report:
        typer.echo(line)
    typer.echo(
        f"{MARKER}. Next: chamberlain dev idp token alice --out alice.jwt; "
        f"chamberlain serve --config {directory / CONFIG_FILE}"
    )


@idp_app.command("token")
def token_command(
    subject: Annotated[str, typer.Argument(help="A person or (with --agent) an agent of identities.yaml.")],
    directory: DirOption = DEFAULT_DIR,
    agent: Annotated[
        bool, typer.Option("--agent", help="An agent's own token (the actor token of an exchange).")
    ] = False,
    roles: Annotated[
        str | None, typer.Option(help="Comma-separated roles, instead of those in identities.yaml.")
    ] = None,
    attr: Annotated[list[str], typer.Option("--attr", help="A claim NAME=VALUE (repeatable).")] = [],  # noqa: B006
    audience: Annotated[str | None, typer.Option(help="aud (default: idp.yaml's audience).")] = None,
    ttl: Annotated[
        str | None, typer.Option(help="Lifetime, e.g. 15m (default: idp.yaml's; at most 24h).")
    ] = None,
    sid: Annotated[str | None, typer.Option(help="A session id (claim sid).")] = None,
    scope: Annotated[str | None, typer.Option(help="Space-separated scopes (claim scope).")] = None,
    may_act: Annotated[
        list[str],
        typer.Option("--may-act", help="An agent that may act for this person (claim may_act; repeatable)."),
    ] = [],  # noqa: B006
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the token to this file (mode 0600).")
    ] = None,
) -> None:
    """Print a signed JWT for a person, or for an agent (--agent). NOT FOR PRODUCTION.

    Roles and attributes come from identities.yaml; --roles replaces the roles, --attr adds claims.
    """
    from chamberlain.devidp.provider import DevIdp

    try:
        lifetime = parse_duration(ttl, positive=True) if ttl is not None else None
    except ValueError as exc:
        fail(f"--ttl: {exc}")
    role_list = None if roles is None else [r.strip() for r in roles.split(",") if r.strip()]
    try:
        minted = DevIdp.load(directory).access_token(
            subject,
            agent=agent,
            roles=role_list,
            attributes=_attributes(attr),
            audience=audience,
            ttl=lifetime,
            sid=sid or "",
            scope=scope or "",
            may_act=may_act,
        )
    except DevIdpError as exc:
        fail(str(exc))
    if out is None:
        typer.echo(minted.token)
        return
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(minted.token + "\n")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")
    claims = minted.claims
    typer.echo(
        f"{out}: {'agent' if agent else 'person'} {subject}, roles {', '.join(claims['roles']) or '(none)'}, "
        f"aud {claims['aud']}, expires in {(claims['exp'] - claims['iat']) // 60}m ({MARKER})",
        err=True,
    )


@idp_app.command("serve")
def serve_command(
    directory: DirOption = DEFAULT_DIR,
    http: Annotated[
        str | None, typer.Option("--http", help="Listen address host:port (default: the issuer's).")
    ] = None,
    allow_non_loopback: Annotated[
        bool,
        typer.Option(
            "--allow-non-loopback", help="Allow listening beyond this machine (still not for production)."
        ),
    ] = False,
) -> None:
    """Serve a minimal OpenID Connect provider (authorization code + PKCE). NOT FOR PRODUCTION."""
    from urllib.parse import urlparse

    from chamberlain.config_values import listen_address
    from chamberlain.devidp.oidc import is_loopback, run
    from chamberlain.devidp.provider import DevIdp

    try:
        idp = DevIdp.load(directory)
    except DevIdpError as exc:
        fail(str(exc))
    issuer = urlparse(idp.issuer)
    own = f"{issuer.hostname}:{issuer.port or (443 if issuer.scheme == 'https' else 80)}"
    address = http or own
    try:
        host, port = listen_address(address)
    except ValueError as exc:
        fail(f"--http: {exc}")
    if (host, port) != listen_address(own):
        typer.echo(
            f"warning: listening on {address}, but tokens and discovery name the issuer {idp.issuer}: "
            "clients must reach this server there (a proxy, say)",
            err=True,
        )
    if not is_loopback(host) and not allow_non_loopback:
        fail(
            f"{host or 'all interfaces'} is not a loopback address: the dev IdP logs anyone in as anyone. "
            "Pass --allow-non-loopback if you mean it (and never in production)."
        )
    try:
        run(idp, host, port)
    except OSError as exc:
        fail(f"cannot listen on {address}: {exc.strerror or exc}")
