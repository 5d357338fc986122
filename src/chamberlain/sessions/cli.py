"""``chamberlain session``: open, show, list, revoke, suspend and resume sessions, and lock agents, subjects, roots or tools.

Works on the database itself (``--db``, the decision log's: sessions live there) and records every
transition in the decision log, naming ``--by`` as who caused it.
"""

from __future__ import annotations

import contextlib
import getpass
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from chamberlain.errors import Error
from chamberlain.exits import fail as _fail

DEFAULT_DB = "sqlite:///.chamberlain/decisions.db"
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Open, show, list and revoke agent sessions; lock agents, subjects, roots and tools.",
)
Db = Annotated[
    str,
    typer.Option(
        "--db", help="The decision log's database (env CHAMBERLAIN_AUDIT_DB).", envvar="CHAMBERLAIN_AUDIT_DB"
    ),
]
Key = Annotated[
    Path | None, typer.Option("--key", help="The decision log's signing key (default: beside a SQLite log).")
]
By = Annotated[
    str,
    typer.Option(
        "--by", help="Who does this (recorded in the decision log; default cli:USER, the login name)."
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _by(by: str) -> str:
    if by:
        return by
    with contextlib.suppress(Exception):
        return f"cli:{getpass.getuser()}"
    return "cli"


@contextlib.contextmanager
def _store(db: str, key: Path | None) -> Iterator[Any]:
    """The session store on ``db``, its transitions recorded in the decision log there."""
    from chamberlain.sessions.store import SessionStore
    from chamberlain.sessions.transitions import recorder

    with logged_store(db, key, SessionStore.open, recorder, "sessions") as store:
        yield store


@contextlib.contextmanager
def logged_store(db: str, key: Path | None, open_store: Any, recorder: Any, what: str) -> Iterator[Any]:
    """``open_store(db, on_transition=...)``, its transitions recorded in the decision log on ``db``;
    errors end the command with their message."""
    from chamberlain.audit.log import DecisionLog, LogOptions
    from chamberlain.audit.write import recording
    from chamberlain.audit.write.ids import new_call_id
    from chamberlain.cel.values import Timestamp

    try:
        log = DecisionLog.open(db, LogOptions(key_file=key, create_key=False))
    except Error as exc:
        _fail(
            f"{exc} ({what} live in the decision log's database: start the server once, or name --db and --key)"
        )

    def record(inputs: Any, outputs: Any, *, point: str) -> str:
        # Nanoseconds since the epoch, as the PDP passes them.
        return (
            recording.submit(
                log,
                inputs,
                outputs,
                when=int(Timestamp.now()),
                call_id=new_call_id(),
                point=point,
            )
            .wait()
            .reason()
        )

    try:
        store = open_store(db, on_transition=recorder(record))
    except Error as exc:
        log.close()
        _fail(str(exc))
    try:
        yield store
    except Error as exc:
        _fail(str(exc))
    finally:
        store.close()
        log.close()


def _show(value: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(value, indent=2, ensure_ascii=False))
        return
    for name, item in value.items():
        if item in (None, [], {}, ""):
            continue
        shown = json.dumps(item, ensure_ascii=False) if isinstance(item, list | dict) else item
        typer.echo(f"{name}: {shown}")


def _json_option(values: list[str], option: str) -> list[Any]:
    found = []
    for text in values:
        try:
            found.append(json.loads(text))
        except ValueError as exc:
            _fail(f"{option} {text[:80]!r}: not JSON ({exc})")
    return found


@app.command("open")
def open_command(
    subject: Annotated[str, typer.Option("--subject", help="The person the agent acts for.")],
    agent: Annotated[str, typer.Option("--agent", help="The agent (the checks' principal.id).")],
    ttl: Annotated[str | None, typer.Option("--ttl", help="How long the session lives (10m, 1h).")] = None,
    idle_timeout: Annotated[
        str | None, typer.Option("--idle-timeout", help="Expire after this long unused (0s: never).")
    ] = None,
    budget: Annotated[
        list[str] | None,
        typer.Option("--budget", help='A budget as JSON: {"name","kind","actions","limit","cost"}.'),
    ] = None,
    rate_limit: Annotated[
        list[str] | None,
        typer.Option("--rate-limit", help='A rate limit as JSON: {"kind","actions","max","per"}.'),
    ] = None,
    chain: Annotated[
        list[str] | None,
        typer.Option("--chain", help="The delegation chain, current agent first (repeatable)."),
    ] = None,
    metadata: Annotated[
        str | None, typer.Option("--metadata", help="Metadata as a JSON object (purpose, ticket...).")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="The server's configuration (its session defaults and maxima)."),
    ] = None,
    db: Db = DEFAULT_DB,
    key: Key = None,
    by: By = "",
    as_json: Json = False,
) -> None:
    """Open a session for AGENT acting for SUBJECT; prints its id."""
    from chamberlain.server.sessions_api import session_json
    from chamberlain.sessions.settings import SessionSettings, parse_spec

    body: dict[str, Any] = {"subject": subject, "agent": agent}
    for name, value in (("ttl", ttl), ("idleTimeout", idle_timeout)):
        if value is not None:
            body[name] = value
    if budget:
        body["budgets"] = _json_option(budget, "--budget")
    if rate_limit:
        body["rateLimits"] = _json_option(rate_limit, "--rate-limit")
    if chain:
        body["chain"] = chain
    if metadata is not None:
        body["metadata"] = _json_option([metadata], "--metadata")[0]
    settings = SessionSettings()
    if config is not None:
        from chamberlain.server.config import load_config

        try:
            settings = load_config(config).sessions or settings
        except Error as exc:
            _fail(str(exc))
    try:
        spec = parse_spec(body, settings)
    except Error as exc:
        _fail(str(exc))
    with _store(db, key) as store:
        opened = store.open_session(spec, by=_by(by))
    if as_json:
        _show(session_json(opened), True)
    else:
        typer.echo(opened.id)


@app.command("show")
def show_command(
    session_id: Annotated[str, typer.Argument(help="The session id (ses_...).")],
    db: Db = DEFAULT_DB,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """A session: state, who, until when, budgets used."""
    from chamberlain.server.sessions_api import session_json

    with _store(db, key) as store:
        found = store.get(session_id)
    _show(session_json(found), as_json)


@app.command("list")
def list_command(
    state: Annotated[str, typer.Option("--state", help="ACTIVE, SUSPENDED, EXPIRED or REVOKED.")] = "",
    agent: Annotated[str, typer.Option("--agent")] = "",
    subject: Annotated[str, typer.Option("--subject")] = "",
    after: Annotated[str, typer.Option("--after", help="The previous page's last id.")] = "",
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 100,
    db: Db = DEFAULT_DB,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """Sessions in opening order, one a line (id, state, agent, subject, expiry)."""
    from chamberlain.server.sessions_api import session_json
    from chamberlain.sessions.times import rfc3339

    with _store(db, key) as store:
        found, cursor = store.list(state.upper(), agent=agent, subject=subject, after=after, limit=limit)
    if as_json:
        _show({"sessions": [session_json(s) for s in found], "next": cursor or None}, True)
        return
    for s in found:
        typer.echo(f"{s.id}  {s.state:<8} {s.agent}  for {s.subject}  until {rfc3339(s.expires_at)}")
    if cursor:
        typer.echo(f"more: --after {cursor}")


@app.command("revoke")
def revoke_command(
    session_id: Annotated[
        str | None, typer.Argument(help="The session to revoke (or --agent / --subject).")
    ] = None,
    agent: Annotated[str, typer.Option("--agent", help="Revoke every active session of this agent.")] = "",
    subject: Annotated[
        str, typer.Option("--subject", help="Revoke every active session of this subject.")
    ] = "",
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    db: Db = DEFAULT_DB,
    key: Key = None,
    by: By = "",
) -> None:
    """Revoke a session, or every session of an agent or subject: their next check is denied."""
    if sum(bool(x) for x in (session_id, agent, subject)) != 1:
        _fail("name what to revoke: a session id, or exactly one of --agent ID or --subject ID")
    with _store(db, key) as store:
        if session_id:
            found = store.revoke(session_id, by=_by(by), reason=reason)
            typer.echo(f"{found.id} {found.state}")
            return
        ids = store.revoke_all(by=_by(by), reason=reason, agent=agent, subject=subject)
    typer.echo(f"revoked {len(ids)} session{'s' if len(ids) != 1 else ''}")
    for i in ids:
        typer.echo(i)


def _move(session_id: str, reason: str, db: str, key: Path | None, by: str, resume: bool) -> None:
    with _store(db, key) as store:
        move = store.resume if resume else store.suspend
        found = move(session_id, by=_by(by), reason=reason)
    typer.echo(f"{found.id} {found.state}")


@app.command("suspend")
def suspend_command(
    session_id: Annotated[str, typer.Argument(help="The session to suspend.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    db: Db = DEFAULT_DB,
    key: Key = None,
    by: By = "",
) -> None:
    """Suspend a session: its checks are denied until it is resumed (its ttl still runs)."""
    _move(session_id, reason, db, key, by, resume=False)


@app.command("resume")
def resume_command(
    session_id: Annotated[str, typer.Argument(help="The suspended session to resume.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    db: Db = DEFAULT_DB,
    key: Key = None,
    by: By = "",
) -> None:
    """Resume a suspended session (its idle timeout starts again)."""
    _move(session_id, reason, db, key, by, resume=True)


@app.command("lock")
def lock_command(
    target: Annotated[str, typer.Argument(help="agent, subject, root or tool.")],
    value: Annotated[str, typer.Argument(help="Its id (the tool's name for a tool).")],
    reason: Annotated[str, typer.Option("--reason")] = "",
    ttl: Annotated[str | None, typer.Option("--ttl", help="Lift the lock by itself after this long.")] = None,
    db: Db = DEFAULT_DB,
    key: Key = None,
    by: By = "",
) -> None:
    """Lock an agent, subject, delegation root or tool: no new session, check or token exchange for it."""
    from chamberlain.sessions.model import duration
    from chamberlain.sessions.settings import ABSOLUTE_MAX_SECONDS

    try:
        seconds = duration(ttl, "--ttl", ABSOLUTE_MAX_SECONDS) if ttl is not None else None
    except Error as exc:
        _fail(str(exc))
    with _store(db, key) as store:
        lock = store.add_lock(target, value, by=_by(by), reason=reason, ttl=seconds)
    typer.echo(lock.id)


@app.command("unlock")
def unlock_command(
    lock_id: Annotated[str, typer.Argument(help="The lock id (lck_...).")],
    db: Db = DEFAULT_DB,
    key: Key = None,
    by: By = "",
) -> None:
    """Lift a lock."""
    with _store(db, key) as store:
        lock = store.remove_lock(lock_id, by=_by(by))
    typer.echo(f"unlocked {lock.target} {lock.value}")


@app.command("locks")
def locks_command(db: Db = DEFAULT_DB, key: Key = None, as_json: Json = False) -> None:
    """The locks in force."""
    with _store(db, key) as store:
        found = store.locks()
    if as_json:
        _show({"locks": [lock.to_json() for lock in found]}, True)
        return
    for lock in found:
        until = lock.to_json()["expiresAt"] or "lifted"
        typer.echo(
            f"{lock.id}  {lock.target} {lock.value}  by {lock.created_by}  until {until}  {lock.reason}"
        )
