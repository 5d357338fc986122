"""One way to ask a PDP from application code, whichever it is: an embedded :class:`~chamberlain.PDP`, a
:class:`~chamberlain.Client` or an :class:`~chamberlain.AsyncClient`; and a denial in words.

The delegation, session and approval set with :func:`chamberlain.acting_for` go with every check: a
remote PDP receives them in ``auxData``; an embedded one records the session and approval with the
decision. An embedded PDP does not verify delegation tokens (the token service does, in the
server): a check made under a delegation against one is denied, saying so; give the guards the
in-process :class:`~chamberlain.delegation.TokenService` instead (it decides with its PDP and
attenuates by the chain, recording in the PDP's decision log).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from chamberlain.approvals.guard import approval_id_of
from chamberlain.client.context import current
from chamberlain.client.wire import UNAVAILABLE_POLICY, RemoteCheckResult
from chamberlain.delegation import Delegation, TokenService, cerbos_check
from chamberlain.delegation.cerbos_check import named_delegation
from chamberlain.delegation.variable import SOURCE_TOKEN
from chamberlain.engine import CheckInput, Principal, Resource
from chamberlain.engine.request import EMPTY_AUX
from chamberlain.engine.request_validation import RequestError
from chamberlain.engine.result import ActionEffect, CheckOutput
from chamberlain.pdp import PDP, CheckResult
from chamberlain.policy.model import EFFECT_DENY
from chamberlain.sessions.guard import SessionRef, session_id_of
from chamberlain.sessions.join import join, token_sid
from chamberlain.sessions.model import SESSION_ID

#: The ``matchedPolicy`` of a check an embedded PDP cannot make (a delegation it cannot verify).
NO_DELEGATION_POLICY = "chamberlain.embedded_without_delegation"
EMBEDDED_DELEGATION = (
    "an embedded PDP does not verify delegation tokens or actor chains: decide with the "
    "in-process chamberlain.delegation.TokenService, or through chamberlain.Client against "
    "a server with chamberlain.delegation"
)


def _embedded(
    pdp: PDP, principal: Principal, resource: Resource, actions: Sequence[str], point: str
) -> CheckResult:
    acting = current()
    if acting.token or acting.delegation is not None:
        return undecided(resource, actions, EMBEDDED_DELEGATION, NO_DELEGATION_POLICY)
    return pdp.check(
        principal,
        resource,
        list(actions),
        session_id=acting.session_id,
        approval_id=acting.approval_id,
        point=point,
    )


def _delegated(
    tokens: TokenService, principal: Principal, resource: Resource, actions: Sequence[str], point: str
) -> CheckResult:
    """An attenuated check by an in-process token service (every party of the chain must allow), in the
    session the token belongs to (its ``sid``) or ``acting_for`` names, with the approval it names, as the
    server decides one; recorded in its PDP's decision log when it has one.

    A token's session is the kill switch: without joining it here, a token whose session was revoked,
    suspended, expired or locked (or whose budgets were spent) went on being allowed in-process."""
    acting = current()
    if acting.token:
        delegation = Delegation.from_token(tokens.verifier.verify(acting.token, audience=None, where="token"))
    else:
        delegation = named_delegation(acting.delegation)
    pdp = tokens.pdp
    sessions = getattr(pdp, "sessions", None)
    approvals = getattr(pdp, "approvals", None)
    approval_id = acting.approval_id
    if approval_id and approvals is not None:  # without approvals it is a label, as on a PDP
        approval_id_of(approval_id, "approval_id")
    sid = token_sid({"sid": delegation.sid}) if delegation.source == SOURCE_TOKEN else ""
    session_id = acting.session_id or sid
    if sid and session_id != sid:
        raise RequestError("session_id", f"names session {session_id} but the token belongs to session {sid}")
    joined = None
    if session_id and (sessions is not None or SESSION_ID.match(session_id)):
        source = "the token's sid" if sid else "session_id"
        joined = join(sessions, SessionRef(session_id_of(session_id, "session_id"), False, source))
    inputs = [CheckInput(principal, resource, tuple(actions), EMPTY_AUX, "", session_id, (), approval_id)]
    decided = cerbos_check.decide_inputs(
        tokens, inputs, {"delegation": delegation}, joined, approvals, approval_id
    )
    out = decided.outputs[0]
    summary = cerbos_check.summary(decided.result, [out], explain=False)
    record = getattr(pdp, "record", None)
    log_error = ""
    if record is not None:
        entry = CheckInput(
            principal, resource, tuple(actions), EMPTY_AUX, "", out.session_id, out.actor_chain, approval_id
        )
        log_error = record([entry], [out], point=point)
    response: dict[str, Any] = {"delegation": summary}
    if decided.session is not None:
        response["chamberlain"] = {"session": decided.session}
    return RemoteCheckResult([out], response=response, log_error=log_error)


def _route(decider: Any, principal: Principal, resource: Resource, actions: Sequence[str], point: str) -> Any:
    """Decide in place (a PDP, a token service), or return what the client gives (a result or an awaitable)."""
    if isinstance(decider, TokenService):
        acting = current()
        if acting.token or acting.delegation is not None:
            return _delegated(decider, principal, resource, actions, point)
        decider = decider.pdp
    if isinstance(decider, PDP):
        return _embedded(decider, principal, resource, actions, point)
    return decider.check(principal, resource, list(actions))


def undecided(
    resource: Resource, actions: Sequence[str], reason: str, policy: str = UNAVAILABLE_POLICY
) -> RemoteCheckResult:
    """Every action denied without a decision, ``reason`` saying why."""
    outputs = [CheckOutput("", resource.id, {a: ActionEffect(EFFECT_DENY, policy) for a in actions})]
    return RemoteCheckResult(outputs, error=reason)


def check(
    decider: Any, principal: Principal, resource: Resource, actions: Sequence[str], *, point: str = "sdk"
) -> CheckResult:
    """Decide ``actions`` on ``resource`` with a PDP or a Client (an AsyncClient needs :func:`check_async`)."""
    result = _route(decider, principal, resource, actions, point)
    if inspect.isawaitable(result):
        result.close()  # type: ignore[attr-defined]
        raise TypeError("an AsyncClient cannot decide in synchronous code: use chamberlain.Client here")
    return result


async def check_async(
    decider: Any, principal: Principal, resource: Resource, actions: Sequence[str], *, point: str = "sdk"
) -> CheckResult:
    """:func:`check` from a coroutine (an AsyncClient is awaited; a PDP decides in microseconds, in place)."""
    result = _route(decider, principal, resource, actions, point)
    return await result if inspect.isawaitable(result) else result


def denied_by(result: CheckResult, action: str, index: int = 0) -> str:
    """Who or what denied ``action``: the policy and rule, a delegation party, or why there was no decision."""
    if isinstance(result, RemoteCheckResult):
        who = result.denied_by(action, index)
        effect = result[index].actions.get(action)
        return who if effect is None or who != effect.policy else _basis(effect)
    if result.log_error:
        return f"the decision log could not record the decision ({result.log_error})"
    effect = result[index].actions.get(action)
    if effect is None:
        return f"no decision for {action}"
    if effect.rule:
        return _basis(effect)
    tried = [
        f"rule {t.rule!r}: {'its condition did not hold' if t.satisfied is False else 'its condition failed'}"
        for t in result[index].explain(action).evaluated
        if t.effect == "EFFECT_ALLOW" and not t.satisfied
    ]
    return _basis(effect) + (f" ({'; '.join(tried)})" if tried else "")


def _basis(effect: ActionEffect) -> str:
    if effect.rule:
        return f"{effect.policy}, rule {effect.rule!r}"
    return (
        f"{effect.policy}: no rule allowed it (default deny)" if effect.policy else "no policy (default deny)"
    )


def outputs_of(result: CheckResult, action: str, index: int = 0) -> list[Any]:
    """The policy outputs for ``action`` (say, ``{"approval": "required", "id": ...}``)."""
    return [o.val for o in result[index].outputs if o.action == action and not o.error]
