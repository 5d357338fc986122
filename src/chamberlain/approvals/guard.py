"""Where a check meets approvals: open a request for an action that needs one, or lift its rule once.

After the engine has decided (:meth:`ApprovalGuard.apply`):

- an action DENIED by a rule whose ``output.when.ruleActivated`` is a map with the key ``approval`` gets
  the approval request (created, or the live one for the same action digest) in that rule's output:
  ``{"approval": {..., "id": "apr_...", "state": "PENDING"}}``;
- a check naming an approval (``auxData.approval.id``, ``approval_id=``) whose digest is the approved
  one, still in its execution window, unused, its session still active, is decided again with that rule
  (and only that rule) lifted; if that allows it, the approval is spent (atomically, once) and the action
  is allowed. Anything else keeps the DENY, with the reason in an output whose ``src`` is
  ``chamberlain.approval#<check>`` (unknown, binding, state, session, used, store).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

from chamberlain.approvals.digest import action_digest, policy_hash, readable
from chamberlain.approvals.errors import ApprovalNotFound, InvalidApproval, TooManyRequests
from chamberlain.approvals.model import APPROVAL_ID, APPROVED, parse_spec
from chamberlain.approvals.store import ApprovalStore
from chamberlain.engine.request import CheckInput
from chamberlain.engine.request_validation import RequestError
from chamberlain.engine.result import CheckOutput, OutputEntry
from chamberlain.policy.model import EFFECT_DENY
from chamberlain.sessions.errors import SessionError
from chamberlain.sessions.model import ACTIVE
from chamberlain.store.errors import StoreError

DENIED_POLICY = "chamberlain.approval"
USED_SRC = f"{DENIED_POLICY}#used"  # the output of an action an approval was spent on


class Spent(NamedTuple):
    """An approval spent on ``action`` of the check's input at ``position``."""

    position: int
    action: str
    approval_id: str


FIELD = "approval"
MAX_DIFFERENCES = 5
#: Decides one action of an input again with DENY rules lifted.
Recheck = Callable[[CheckInput, str, frozenset[str]], CheckOutput]


def read_approval_id(request: Mapping[str, Any]) -> str:
    """``auxData.approval.id`` of a CheckResources-shaped request ("" when absent); raises RequestError (400)."""
    aux = request.get("auxData")
    if type(aux) is not dict or FIELD not in aux:
        return ""
    value = aux[FIELD]
    if not isinstance(value, Mapping) or set(value) - {"id"}:
        raise RequestError("auxData.approval", 'expected an object {"id": "apr_..."}')
    return approval_id_of(value.get("id"), "auxData.approval.id")


def approval_id_of(value: Any, path: str) -> str:
    """A well-formed approval id (``apr_`` and 26 ULID characters); raises RequestError otherwise."""
    if not isinstance(value, str) or not APPROVAL_ID.match(value):
        raise RequestError(
            path, f"expected an approval id such as apr_01J...(26 characters), got {repr(value)[:80]}"
        )
    return value


class ApprovalGuard:
    """Applies approvals in ``store`` to decided checks; ``sessions`` (a SessionStore) tells whether an
    approval's session is still active."""

    def __init__(self, store: ApprovalStore, default_ttl: float = 900.0, sessions: Any = None):
        self.store = store
        self.default_ttl = default_ttl
        self.sessions = sessions

    def apply(
        self,
        engine: Any,
        inputs: Sequence[CheckInput],
        outputs: list[CheckOutput],
        when: Any,
        recheck: Recheck | None = None,
    ) -> list[Spent]:
        """Open requests for, or lift with a named approval, the actions denied for want of approval (in place);
        returns the approvals this spent, for :meth:`keep_unspent` once the session has had its say.

        ``recheck(input, action, lifted)`` decides one action again with rules lifted (default: the engine's
        ``check_one``; a delegated check passes its own, which decides every party of the chain again).
        """
        if recheck is None:

            def recheck(inp: CheckInput, action: str, lifted: frozenset[str]) -> CheckOutput:
                output: CheckOutput = engine.check_one(replace(inp, actions=(action,)), when, lifted=lifted)
                return output

        for inp, out in zip(inputs, outputs, strict=True):
            for action, effect in list(out.actions.items()):
                if effect.effect != EFFECT_DENY or effect.row is None:
                    continue
                src = effect.row.policy.rule_fqn(effect.row.name)
                index = next(
                    (
                        i
                        for i, o in enumerate(out.outputs)
                        if o.src == src and o.action == action and isinstance(o.val, dict) and FIELD in o.val
                    ),
                    None,
                )
                if index is not None:
                    self._needs_approval(recheck, inp, out, action, effect.row.policy, index)
        return [
            Spent(i, o.action, inp.approval_id)
            for i, (inp, out) in enumerate(zip(inputs, outputs, strict=True))
            for o in out.outputs
            if o.src == USED_SRC and out.actions[o.action].allowed  # a refused retry's "used" stays denied
        ]

    def _needs_approval(
        self, recheck: Recheck, inp: CheckInput, out: CheckOutput, action: str, policy: Any, index: int
    ) -> None:
        given = out.outputs[index]
        asked = given.val[FIELD]
        try:
            spec = parse_spec(asked, self.default_ttl, f"{given.src} output approval")
        except InvalidApproval as exc:  # the rule's DENY stands; say why no request could be opened
            out.outputs[index] = replace(
                given, val={**given.val, FIELD: {**_map(asked), "state": "INVALID", "error": str(exc)}}
            )
            return
        shown = readable(inp, action)
        phash = policy_hash(policy)
        digest = action_digest(shown, phash, inp.session_id)
        if inp.approval_id and self._lift(recheck, inp, out, action, given.src, digest, shown):
            return
        requester = inp.actor_chain[0] if inp.actor_chain else inp.principal.id  # the agent, when one acts
        try:
            approval = self.store.request(digest, given.src, phash, shown, spec, inp.session_id, by=requester)
        except TooManyRequests as exc:
            out.outputs[index] = replace(
                given, val={**given.val, FIELD: {**asked, "state": "LIMITED", "error": str(exc)}}
            )
            return
        except StoreError as exc:
            out.outputs[index] = replace(
                given,
                val={
                    **given.val,
                    FIELD: {**asked, "state": "UNAVAILABLE", "error": f"approval store: {exc}"},
                },
            )
            return
        out.outputs[index] = replace(
            given, val={**given.val, FIELD: {**asked, "id": approval.id, "state": approval.state}}
        )

    def _lift(
        self,
        recheck: Recheck,
        inp: CheckInput,
        out: CheckOutput,
        action: str,
        rule: str,
        digest: str,
        shown: dict[str, Any],
    ) -> bool:
        """Try the named approval; True when the action has been decided with the rule lifted."""
        approval_id = inp.approval_id
        try:
            found = self.store.get(approval_id)
        except ApprovalNotFound:
            return _refuse(out, action, "unknown", f"no approval {approval_id}")
        except StoreError as exc:
            return _refuse(out, action, "store", f"approval store unavailable: {exc}")
        if found.digest != digest or found.rule != rule:
            changed = ", ".join(differences(found.action, shown)) or "the policy or the session"
            return _refuse(
                out,
                action,
                "binding",
                f"approval {approval_id} was given for another action "
                f"(changed: {changed}); an approval is good only for the exact action approved",
            )
        if found.state != APPROVED:
            return _refuse(out, action, "state", f"approval {approval_id} is {found.state}, not APPROVED")
        why = self._session_over(found.session_id)
        if why:
            return _refuse(out, action, "session", f"approval {approval_id}: {why}")
        decided = recheck(inp, action, frozenset({rule}))
        effect = decided.actions[action]
        if effect.allowed:
            try:
                spent = self.store.use(approval_id, digest)
            except StoreError as exc:
                return _refuse(out, action, "store", f"approval store unavailable: {exc}")
            if not spent:
                return _refuse(
                    out,
                    action,
                    "used",
                    f"approval {approval_id} has been used (or has just expired): "
                    "an approval allows its action once",
                )
        approvers = ", ".join(d.approver for d in found.decisions if d.decision == "APPROVE")
        note = f"approval {approval_id} (approved by {approvers}) lifted rule {rule}" + (
            "" if effect.allowed else f"; still denied by {effect.policy} rule {effect.rule!r}"
        )
        out.actions[action] = effect
        out.outputs = [o for o in out.outputs if o.action != action] + decided.outputs
        out.outputs.append(
            OutputEntry(USED_SRC if effect.allowed else f"{DENIED_POLICY}#lifted", action, note)
        )
        return True

    def keep_unspent(self, spent: Sequence[Spent], outputs: list[CheckOutput]) -> None:
        """Give back each approval :meth:`apply` spent (``spent``) on an action its session then denied (the
        output says so): the action did not happen, so its approval stands for the retry. Called after the
        session's enforcement, the only denial that can follow a lifted rule."""
        for position, action, approval_id in spent:
            out = outputs[position]
            effect = out.actions.get(action)
            if effect is None or effect.allowed:
                continue
            why = f"the session denied {action} after the approval lifted its rule"
            try:
                kept = self.store.restore(approval_id, why)
            except StoreError as exc:
                note = f"approval {approval_id} stays used: the store could not give it back ({exc})"
            else:
                note = (
                    f"approval {approval_id} not spent: {why}"
                    if kept
                    else f"approval {approval_id} stays used: it could not be given back"
                )
            out.outputs.append(OutputEntry(f"{DENIED_POLICY}#kept", action, note))

    def _session_over(self, session_id: str) -> str:
        if not session_id:
            return ""
        if self.sessions is None:
            return f"its session {session_id} cannot be checked (no session store)"
        try:
            session = self.sessions.get(session_id)
        except StoreError as exc:
            return f"session store unavailable: {exc}"
        except SessionError:
            return f"its session {session_id} is unknown"
        return "" if session.state == ACTIVE else f"its session {session_id} is {session.state}"


def _map(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {"value": value}


def _refuse(out: CheckOutput, action: str, check: str, reason: str) -> bool:
    """Keep the DENY and say why the named approval did not lift it; False: a request is still shown."""
    out.outputs.append(OutputEntry(f"{DENIED_POLICY}#{check}", action, reason))
    return False


def differences(before: Any, after: Any, path: str = "") -> list[str]:
    """The paths (``resource.attr.amount``) where two readable actions differ, at most a few."""
    return list(_walk(before, after, path))[:MAX_DIFFERENCES]


def _walk(before: Any, after: Any, path: str) -> Iterator[str]:
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in sorted(set(before) | set(after)):
            yield from _walk(before.get(key), after.get(key), f"{path}.{key}" if path else str(key))
    elif before != after:
        yield path or "the action"
