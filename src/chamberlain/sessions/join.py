"""Where a check meets its session: find the reference, show the session to the engine, enforce after.

Used by every entry point (the embedded PDP, the server's Cerbos and AuthZEN APIs, delegated checks)
so that a session is joined the same way everywhere:

>>> joined = join(guard, ref)                  # before deciding: reads the session once
>>> inputs = joined.inputs(inputs)            # conditions see request.aux_data.session
>>> outputs = engine.check(inputs, when)
>>> record = joined.enforce(inputs, outputs, when)   # binds, charges or denies; the response's reason
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from chamberlain.engine.request import CheckInput
from chamberlain.engine.request_validation import RequestError
from chamberlain.engine.result import CheckOutput
from chamberlain.sessions.guard import (
    STORE_UNAVAILABLE,
    Binding,
    SessionGuard,
    SessionRef,
    deny_every,
    read_ref,
)
from chamberlain.sessions.model import SESSION_ID, Session
from chamberlain.sessions.store import Held
from chamberlain.store.errors import StoreError

NOT_ENABLED = (
    "this decision point has no session store (server: chamberlain.sessions.enabled; "
    "embedded: PDP.from_directory(..., sessions=URL)), so no session can be checked"
)


@dataclass(frozen=True, slots=True)
class Joined:
    """A check's session, read before deciding."""

    guard: SessionGuard | None
    ref: SessionRef
    found: Session | StoreError | None
    hold: Held | None = None  # the transaction it was read in (:func:`join_held`): charged within it

    def inputs(self, inputs: Sequence[CheckInput]) -> list[CheckInput]:
        """``inputs`` with the session in their aux data and its id as their session id."""
        view = self.guard.view(self.found) if self.guard is not None else None
        return [inp.in_session(self.ref.id, view) for inp in inputs]

    def enforce(self, inputs: Sequence[CheckInput], outputs: list[CheckOutput], when: Any) -> dict[str, Any]:
        """Apply the session to the decided outputs (in place); the response's ``chamberlain.session`` record."""
        for out in outputs:
            out.session_id = self.ref.id
        if self.guard is None:
            return deny_every(self.ref, outputs, "store", NOT_ENABLED)
        return self.guard.enforce(self.ref, self.found, inputs, outputs, when, self.hold)


def gate(guard: SessionGuard | None, ref: SessionRef, agent: str) -> str:
    """Why a request of ``agent`` that spends nothing (a query plan) may not go on in the session ("": it may)."""
    if guard is None:
        return NOT_ENABLED
    try:
        charged = guard.store.charge(ref.id, Binding((agent,), None).why_not, [], preview=True)
    except StoreError as exc:
        return f"{STORE_UNAVAILABLE}: {exc}"
    return charged.denial


def worth_telling(record: dict[str, Any] | None) -> bool:
    """Whether a response carries the session's record (``chamberlain.session``): when the session denied
    or refused something, or the check was a preview. An answer the session did not change stays
    exactly Cerbos's."""
    return record is not None and ("denied" in record or "refused" in record or bool(record.get("preview")))


def plan_note(ref: SessionRef, denied: str) -> dict[str, Any]:
    """A plan response's ``chamberlain.session``: which session, and why the plan was denied in it."""
    return {"id": ref.id, "source": ref.source, **({"denied": denied, "check": "session"} if denied else {})}


def join(guard: SessionGuard | None, ref: SessionRef) -> Joined:
    """Read the session ``ref`` names (nothing to read without a guard: every action will be denied)."""
    return Joined(guard, ref, guard.load(ref) if guard is not None else None)


@contextmanager
def join_held(guard: SessionGuard, ref: SessionRef, *, durable: bool = False) -> Iterator[Joined]:
    """:func:`join` and :meth:`Joined.enforce` in one transaction of the session store (one read of the
    session, its row held from the read to the charge): decide and enforce inside. A store that cannot
    begin yields the error (every action is denied); one that cannot commit raises StoreError, and
    whatever the decision was must then be denied (nothing was charged). ``durable``: see
    :meth:`~chamberlain.sessions.store.SessionStore.held`."""
    with contextlib.ExitStack() as stack:
        try:
            hold = stack.enter_context(guard.store.held(ref.id, preview=ref.preview, durable=durable))
        except StoreError as exc:
            yield Joined(guard, ref, exc)
        else:
            yield Joined(guard, ref, hold.session, hold)


def token_sid(claims: Mapping[str, Any] | None) -> str:
    """The chamberlain session a token's claims name (``sid`` of the form ``ses_...``), else "".

    An identity provider's ``sid`` names its own login session, not one of chamberlain's: it is kept
    as information (in the token and the log) and joins nothing.
    """
    sid = claims.get("sid") if claims is not None else None
    return sid if isinstance(sid, str) and SESSION_ID.match(sid) else ""


def request_ref(request: Mapping[str, Any], sid: str = "") -> SessionRef | None:
    """The session a request names: ``auxData.session`` or a chamberlain token's ``sid`` (both: the same one)."""
    aux = request.get("auxData")
    if (
        not sid
        and (aux is None or (type(aux) is dict and "session" not in aux))
        and "aux_data" not in request
    ):
        return None  # the common case, kept cheap: no session named
    ref = read_ref(request)
    if sid:
        if ref is not None and ref.id != sid:
            raise RequestError(
                "auxData.session.id", f"names session {ref.id} but the token belongs to session {sid}"
            )
        return ref if ref is not None else SessionRef(sid, False, "the token's sid")
    return ref
