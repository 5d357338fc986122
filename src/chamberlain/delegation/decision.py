"""The exchange as a policy decision: may this actor act for this subject, toward what, with what?

The engine is asked: principal = the actor (roles and attributes from the agents registry or its
token), resource ``delegation`` with id = the subject, action ``exchange``, and

=====================  ================================================================
``R.attr.claims``      the subject token's claims
``R.attr.audience``    the requested audiences (``audience`` and ``resource`` parameters)
``R.attr.scopes``      the requested scopes (``[]`` when the request names none)
``R.attr.chain``       the actors so far, current first: ``[{id, iss, roles, attr}]``
``R.attr.depth``       how many actors so far (0 for a person's own token)
``R.attr.issuer``      the subject token's issuer
=====================  ================================================================

plus ``request.aux_data.jwt`` (the subject token's claims) and ``request.aux_data.delegation`` (the
chain so far). No policy for ``delegation`` means no exchange. The rule that allows grants what
its output names and nothing else: ``{"audiences": [...], "scopes": [...]}`` (an ALLOW without
that output grants no audience, so the exchange fails with ``invalid_target``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chamberlain.delegation.chain import Actor
from chamberlain.delegation.errors import ExchangeError
from chamberlain.engine import AuxData, CheckInput, CheckOutput, Engine, Principal, Resource
from chamberlain.engine.names import NO_MATCH
from chamberlain.engine.wire import json_number

EXCHANGE_KIND = "delegation"
EXCHANGE_ACTION = "exchange"


@dataclass(frozen=True, slots=True)
class Grant:
    """What the allowing rule granted, and which rule it was (``policy#rule``)."""

    audiences: frozenset[str]
    scopes: frozenset[str]
    rule: str


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _rule_outputs(out: CheckOutput, src: str) -> list[Any]:
    return [o.val for o in out.outputs if o.action == EXCHANGE_ACTION and o.src == src and not o.error]


#: Records an exchange's decision in the decision log; returns why it could not ("" when it did).
Recorder = Callable[[Sequence[CheckInput], list[CheckOutput]], str]


def decide_exchange(
    engine: Engine,
    actor: Actor,
    subject: str,
    attr: Mapping[str, Any],
    aux: AuxData,
    now: dt.datetime,
    record: Recorder | None = None,
) -> Grant:
    """Ask the policies; a refusal is an ``invalid_request`` naming the deciding rule (RFC 8693 §2.2.2).

    ``record``: the decision goes into the decision log first; when it cannot, the exchange is refused.
    """
    if not actor.roles:
        raise ExchangeError(
            "invalid_request",
            f"actor {actor.id!r} has no roles: list it in the agents registry (agentsFile) "
            "or have its issuer put a roles claim in its token",
        )
    principal = Principal(actor.id, actor.roles, actor.attr)
    resource = Resource(EXCHANGE_KIND, subject, attr)
    chain = tuple(a.get("id", "") for a in attr.get("chain", ()))
    inputs = [CheckInput(principal, resource, (EXCHANGE_ACTION,), aux, actor_chain=chain)]
    [out] = engine.check(inputs, now)
    if record is not None:
        problem = record(inputs, [out])
        if problem:
            raise ExchangeError(
                "temporarily_unavailable", f"the exchange was not decided: {problem}", status=503
            )
    effect = out.actions[EXCHANGE_ACTION]
    if effect.policy == NO_MATCH:
        raise ExchangeError(
            "invalid_request",
            f"no policy decides exchanges: add a resource policy for kind {EXCHANGE_KIND!r} "
            "with an 'exchange' rule (no policy, no exchange)",
        )
    row = effect.row
    src = row.policy.rule_fqn(row.name) if row is not None else effect.policy
    if not effect.allowed:
        why = f"rule {row.name!r}" if row is not None else "no rule allowed it"
        said = "".join(f"; {json.dumps(json_number(v), sort_keys=True)}" for v in _rule_outputs(out, src))
        raise ExchangeError(
            "invalid_request",
            f"the exchange policy refused: actor {actor.id!r} (roles {', '.join(actor.roles)}) may not act "
            f"for {subject!r}: {effect.policy} {why}{said}",
        )
    audiences: set[str] = set()
    scopes: set[str] = set()
    for value in _rule_outputs(out, src):
        if isinstance(value, Mapping):
            audiences.update(_strings(value.get("audiences")))
            scopes.update(_strings(value.get("scopes")))
    return Grant(frozenset(audiences), frozenset(scopes), src)
