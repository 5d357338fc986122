"""``chamberlain token``: exchange tokens at a running server, inspect a token, rotate the signing key.

The main CLI registers it with ``app.add_typer(token_app, name="token")``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from chamberlain.delegation.errors import DelegationError
from chamberlain.delegation.exchange import ACCESS_TOKEN, GRANT_TYPE
from chamberlain.delegation.keys import KEY_FILE_NAME, SIGNING_ALGORITHMS, rotate
from chamberlain.delegation.service import JWKS_PATH, TOKEN_PATH
from chamberlain.delegation.tokens import DelegationToken, Verifier, peek
from chamberlain.delegation.trust import StaticKeys, load_jwks_file, parse_jwks
from chamberlain.durations import parse_duration
from chamberlain.exits import FAILED, fail
from chamberlain.files import MAX_CONFIG_BYTES, FileRefused, read_text_bounded
from chamberlain.text import printable

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Delegation tokens: RFC 8693 exchange, inspection, signing-key rotation.",
)
DEFAULT_SERVER = "http://127.0.0.1:3592"
DEFAULT_KEY_FILE = Path(".chamberlain") / KEY_FILE_NAME


def _token_arg(value: str) -> str:
    """A token given inline, as ``@path`` (read from a file) or ``-`` (stdin)."""
    if value == "-":
        return sys.stdin.read().strip()
    if value.startswith("@"):
        try:
            return read_text_bounded(value[1:], MAX_CONFIG_BYTES, "token file").strip()
        except FileRefused as exc:
            fail(f"cannot read token file {value[1:]}: {exc}")
    return value.strip()


def _http(url: str, data: bytes | None = None) -> tuple[int, Any]:
    """One request to the server the user named; JSON answer (error statuses too)."""
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        fail(f"cannot reach {url}: {getattr(exc, 'reason', exc)}")
    try:
        return status, json.loads(body)
    except ValueError:
        fail(f"{url} answered {status} with a body that is not JSON")


@app.command("exchange")
def exchange_command(
    subject_token: Annotated[str, typer.Option(help="The subject token (inline, @file or - for stdin).")],
    actor_token: Annotated[str, typer.Option(help="The actor's own token (inline, @file or -).")],
    audience: Annotated[list[str], typer.Option(help="Audience of the new token (repeatable).")] = [],  # noqa: B006
    resource: Annotated[list[str], typer.Option(help="Resource URI, RFC 8707 (repeatable).")] = [],  # noqa: B006
    scope: Annotated[str | None, typer.Option(help="Space-separated scopes to ask for.")] = None,
    subject_token_type: Annotated[str, typer.Option(help="Type URN of the subject token.")] = ACCESS_TOKEN,
    actor_token_type: Annotated[str, typer.Option(help="Type URN of the actor token.")] = ACCESS_TOKEN,
    requested_token_type: Annotated[str | None, typer.Option(help="Type URN of the token wanted.")] = None,
    server: Annotated[str, typer.Option(help="The chamberlain server.")] = DEFAULT_SERVER,
    token_only: Annotated[bool, typer.Option("--token-only", help="Print only the access token.")] = False,
) -> None:
    """Exchange a subject token for a delegation token at a chamberlain server (RFC 8693)."""
    form: list[tuple[str, str]] = [
        ("grant_type", GRANT_TYPE),
        ("subject_token", _token_arg(subject_token)),
        ("subject_token_type", subject_token_type),
        ("actor_token", _token_arg(actor_token)),
        ("actor_token_type", actor_token_type),
        *(("audience", a) for a in audience),
        *(("resource", r) for r in resource),
    ]
    if scope:
        form.append(("scope", scope))
    if requested_token_type:
        form.append(("requested_token_type", requested_token_type))
    status, body = _http(server.rstrip("/") + TOKEN_PATH, urllib.parse.urlencode(form).encode())
    if status != 200 or not isinstance(body, dict) or "access_token" not in body:
        error = body.get("error", "error") if isinstance(body, dict) else "error"
        description = body.get("error_description", "") if isinstance(body, dict) else ""
        typer.echo(printable(f"refused ({status}): {error}: {description}"), err=True)
        raise typer.Exit(1)
    typer.echo(body["access_token"] if token_only else json.dumps(body, indent=2))


def _keys(jwks: Path | None, key_file: Path | None, server: str | None) -> tuple[StaticKeys, str]:
    if sum(x is not None for x in (jwks, key_file, server)) > 1:
        fail("give one of --jwks, --key-file and --server")
    if server is not None:
        status, body = _http(server.rstrip("/") + JWKS_PATH)
        if status != 200:
            fail(f"{server}{JWKS_PATH} answered {status}")
        return parse_jwks(body, f"{server}{JWKS_PATH}"), f"{server}{JWKS_PATH}"
    path = jwks or key_file or DEFAULT_KEY_FILE
    if not path.is_file():
        fail(f"no key set at {path}: pass --jwks FILE, --key-file FILE or --server URL")
    return load_jwks_file(path, "--jwks" if jwks else "--key-file"), str(path)


def _when(epoch: int, now: float) -> str:
    stamp = dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    left = int(epoch - now)
    span = f"{abs(left) // 60}m {abs(left) % 60}s"
    return f"{stamp} ({'in ' + span if left > 0 else span + ' ago'})"


def _shown(value: object) -> str:
    """A claim as rich shows it: control characters escaped, ``[`` not read as markup."""
    return escape(printable(value))


def render(token: DelegationToken, source: str, now: float) -> Tree:
    """The token as a tree: its facts, then the subject and each delegate in order, current last."""
    tree = Tree(f"[bold]delegation token[/bold] verified with key {_shown(token.kid)} from {_shown(source)}")
    tree.add(f"issuer: {_shown(token.issuer)}")
    tree.add(f"audience: {_shown(', '.join(token.audience))}")
    tree.add(f"scope: {_shown(' '.join(token.scopes) or '(none)')}")
    tree.add(f"expires: {_when(token.expires_at, now)}")
    tree.add(
        f"issued: {_when(token.issued_at, now)}, jti {_shown(token.jti)}"
        + (f", sid {_shown(token.sid)}" if token.sid else "")
    )
    node = tree.add(f"[bold]{_shown(token.subject)}[/bold] (subject)")
    actors = list(reversed(token.chain.actors))
    for i, actor in enumerate(actors, 1):
        facts = [f"actor {i}" + (", current" if i == len(actors) else "")]
        if actor.roles:
            facts.append(f"roles {', '.join(actor.roles)}")
        if actor.issuer:
            facts.append(f"iss {actor.issuer}")
        node = node.add(f"[bold]{_shown(actor.id)}[/bold] ({_shown('; '.join(facts))})")
    return tree


@app.command("inspect")
def inspect_command(
    token: Annotated[str, typer.Argument(help="The token (inline, @file or - for stdin).")],
    jwks: Annotated[Path | None, typer.Option(help="chamberlain's JWK Set (a file).")] = None,
    key_file: Annotated[
        Path | None, typer.Option(help=f"chamberlain's signing key file (default {DEFAULT_KEY_FILE}).")
    ] = None,
    server: Annotated[str | None, typer.Option(help="Read the JWK Set from this chamberlain server.")] = None,
    issuer: Annotated[
        str | None, typer.Option(help="The issuer the token must have (default: its own iss).")
    ] = None,
    audience: Annotated[str | None, typer.Option(help="An audience the token must name.")] = None,
) -> None:
    """Verify a chamberlain token, then print its actor chain with scopes, audience and expiry.

    Exit 2 when the argument is not a JWT at all, 1 when it is one that does not verify (another
    issuer's token, a bad signature, expired, the wrong audience).
    """
    text = _token_arg(token)
    try:
        header, claims = peek(text, "token")
    except DelegationError as exc:
        fail(f"not a chamberlain token: {exc}")
    keys, source = _keys(jwks, key_file, server)
    kid = header.get("kid")
    if not isinstance(kid, str) or keys.find(kid) is None:
        fail(
            f"not a chamberlain token: it is signed with key {printable(kid)!r} by issuer "
            f"{printable(claims.get('iss'))!r}, and {source} has no such key (chamberlain's keys: "
            f"{', '.join(keys.kids()) or 'none'}); to read another issuer's token pass its key set with --jwks",
            FAILED,
        )
    try:
        claimed = issuer or str(claims.get("iss") or "")
        verified = Verifier(claimed or "?", keys).verify(text, audience=audience)
    except DelegationError as exc:
        fail(f"not verified: {exc}", FAILED)
    # piped output (a file, another program) is not wrapped at 80 columns
    Console(width=None if sys.stdout.isatty() else 400).print(render(verified, source, time.time()))


@app.command("rotate-key")
def rotate_key_command(
    key_file: Annotated[Path, typer.Option(help="The signing key file (signingKeyFile).")] = DEFAULT_KEY_FILE,
    algorithm: Annotated[str, typer.Option(help="EdDSA or ES256.")] = "EdDSA",
    publish_for: Annotated[
        str, typer.Option(help="How long the old key stays published (maxTokenLifetime).")
    ] = "15m",
) -> None:
    """Make a new signing key; the old one stays in the JWKS until the tokens it signed have expired."""
    if algorithm not in SIGNING_ALGORITHMS:
        fail(f"--algorithm must be one of {', '.join(SIGNING_ALGORITHMS)}")
    try:
        key = rotate(key_file, algorithm, parse_duration(publish_for))
    except (DelegationError, ValueError) as exc:
        fail(str(exc))
    typer.echo(f"new signing key {key.kid} ({key.alg}) in {key_file}")
