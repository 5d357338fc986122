"""``chamberlain approvals``: list and show approval requests (deciding is for people, over the admin API).

Works on the database itself (``--db``, the decision log's: approvals live there); a request found past
its time is marked EXPIRED, and that transition is recorded in the decision log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from chamberlain.exits import fail as _fail
from chamberlain.sessions.cli import DEFAULT_DB, Db, Json, Key, _show, logged_store

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="List and show approval requests (people decide them over the admin API).",
)


@contextlib.contextmanager
def _store(db: str, key: Any) -> Iterator[Any]:
    from chamberlain.approvals.store import ApprovalStore
    from chamberlain.approvals.transitions import recorder

    with logged_store(db, key, ApprovalStore.open, recorder, "approvals") as store:
        yield store


@app.command("list")
def list_command(
    state: Annotated[str, typer.Option("--state", help="PENDING, APPROVED, DENIED, EXPIRED or USED.")] = "",
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many.")] = 100,
    db: Db = DEFAULT_DB,
    key: Key = None,
    as_json: Json = False,
) -> None:
    """The requests, oldest first: id, state, the action, who may approve."""
    with _store(db, key) as store:
        found, _ = store.list(state.upper(), limit=limit)
    if as_json:
        _show({"approvals": [a.to_json() for a in found]}, True)
        return
    for a in found:
        action = a.action
        resource = action.get("resource", {})
        typer.echo(
            f"{a.id}  {a.state:<8} {action.get('principal', {}).get('id')} {action.get('action')} "
            f"{resource.get('kind')}:{resource.get('id')}  approvers {', '.join(a.spec.approvers)}"
        )


@app.command("show")
def show_command(approval_id: str, db: Db = DEFAULT_DB, key: Key = None, as_json: Json = False) -> None:
    """One request: the full action, its digest, and every decision with the approver's identity."""
    from chamberlain.approvals.model import APPROVAL_ID

    if not APPROVAL_ID.match(approval_id):
        _fail(f"{approval_id[:80]!r} is not an approval id (apr_ and 26 characters)")
    with _store(db, key) as store:
        found = store.get(approval_id)
    _show(found.to_json(), as_json)
