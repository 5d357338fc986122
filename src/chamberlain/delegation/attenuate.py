"""Checks that know the chain: an agent never does more than the person it acts for, nor than itself.

A delegated check ALLOWs an action only if all of these hold, tried in this order (the first that
fails is named as the one that denied):

1. ``audience``: the token's ``aud`` names this service (one of ``audiences``);
2. ``scope``: the token holds the scope the action needs (:class:`~chamberlain.delegation.scopes.ScopeMapping`);
3. ``subject``: the person (the request's principal, who must be the token's ``sub``) is allowed;
4. every actor, first delegate to current, is allowed with its own roles and attributes (from the
   agents registry, else from its ``act`` entry); an actor with no roles is denied.

Every party is checked with ``request.aux_data.delegation`` set (:mod:`~chamberlain.delegation.variable`).
Without a token (actors named by the caller) there is no audience or scope to check.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from chamberlain.delegation.chain import Actor, Chain
from chamberlain.delegation.errors import DelegatedCheckError
from chamberlain.delegation.identity import Identity, same_party
from chamberlain.delegation.registry import AgentRegistry
from chamberlain.delegation.scopes import ScopeMapping
from chamberlain.delegation.tokens import DelegationToken
from chamberlain.delegation.variable import SOURCE_REQUEST, SOURCE_TOKEN, delegation_variable
from chamberlain.engine import (
    EFFECT_ALLOW,
    EFFECT_DENY,
    ActionEffect,
    AuxData,
    CheckInput,
    CheckOutput,
    Engine,
    Principal,
    Resource,
)
from chamberlain.engine.jwt_claims import as_conditions_read

AUDIENCE_RULE = "chamberlain.delegation#audience"
SCOPE_RULE = "chamberlain.delegation#scope"
_NO_CLAIMS: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Delegation:
    """The chain a check is decided with: from a verified token, or actors the caller names."""

    chain: Chain
    subject: str | None = None  # the token's sub; None when the caller names the actors
    scopes: tuple[str, ...] | None = None  # None: not bounded (no token)
    audience: tuple[str, ...] | None = None  # None: not checked (no token)
    issuer: str = ""
    sid: str = ""
    jti: str = ""
    claims: Mapping[str, Any] = field(default_factory=lambda: _NO_CLAIMS)
    source: str = SOURCE_REQUEST
    subject_issuer: str = ""  # the issuer vouching for the subject (a token's sub_id), "" when unknown

    @classmethod
    def from_token(cls, token: DelegationToken) -> Delegation:
        return cls(
            token.chain,
            token.subject,
            token.scopes,
            token.audience,
            token.issuer,
            token.sid,
            token.jti,
            as_conditions_read(token.claims),  # read by conditions only, as request.aux_data.jwt
            SOURCE_TOKEN,
            token.subject_issuer,
        )

    @classmethod
    def from_actors(cls, actors: Sequence[Actor], scopes: Sequence[str] | None = None) -> Delegation:
        """Actors named by a caller without tokens, current first."""
        return cls(Chain(tuple(actors)), scopes=tuple(scopes) if scopes is not None else None)


@dataclass(frozen=True, slots=True)
class PartyDecision:
    """One party's decision on one action; ``effect`` is None when the party could not be checked."""

    label: str  # "subject alice", "actor 2 tool-agent"
    roles: tuple[str, ...]
    effect: ActionEffect | None
    output: CheckOutput | None
    problem: str = ""
    current: bool = False  # the current actor (the one presenting the token)

    @property
    def allowed(self) -> bool:
        return self.effect is not None and self.effect.allowed

    def describe(self) -> str:
        """``actor 2 tool-agent (current; roles tool_agent)``."""
        facts = ["current"] if self.current else []
        if self.roles:
            facts.append(f"roles {', '.join(self.roles)}")
        return f"{self.label} ({'; '.join(facts)})" if facts else self.label

    def denial(self) -> str:
        """Who denied, and by which policy and rule."""
        if self.effect is None:
            return f"{self.label} ({self.problem})"
        rule = f"rule {self.effect.rule!r}" if self.effect.rule else "no rule matched"
        return f"{self.label} ({self.effect.policy} {rule})"

    def explain(self, action: str) -> list[str]:
        if self.effect is None or self.output is None:
            return [f"{self.describe()}: {EFFECT_DENY}: {self.problem}"]
        first, *rest = str(self.output.explain(action)).splitlines()
        return [f"{self.describe()}: {first.split(': ', 1)[1]}", *rest]


@dataclass(frozen=True, slots=True)
class DelegatedDecision:
    """The attenuated decision on one action and why: ``denied_by`` names who or what denied."""

    action: str
    effect: ActionEffect
    denied_by: str
    required_scope: str
    checks: tuple[str, ...]  # the audience and scope lines
    parties: tuple[PartyDecision, ...]

    @property
    def allowed(self) -> bool:
        return self.effect.effect == EFFECT_ALLOW


@dataclass(slots=True)
class DelegatedOutput:
    """The decisions on one resource; ``output`` is the combined engine output (for Cerbos's response)."""

    resource: Resource
    decisions: dict[str, DelegatedDecision]
    output: CheckOutput

    def explanation(self, path: str, header: str) -> str:
        lines = [f"{self.resource.id} ({self.resource.kind}):"]
        for d in self.decisions.values():
            verdict = "" if d.allowed else f": denied by {d.denied_by}"
            lines.append(f"{d.action}: {d.effect.effect} for {path}{header}{verdict}")
            lines.extend(f"    {line}" for line in d.checks)
            for party in d.parties:
                lines.extend(f"    {line}" for line in party.explain(d.action))
        return "\n".join(lines)


@dataclass(slots=True)
class DelegatedCheckResult:
    """The attenuated decisions of one check, one :class:`DelegatedOutput` per resource."""

    outputs: list[DelegatedOutput]
    delegation: Delegation
    subject: Principal
    actors: tuple[Actor, ...]  # resolved (registry applied), current first
    #: The auxiliary data every party was checked with (``delegation`` set: the chain with each
    #: actor's roles and attributes, the scopes): what the decision log keeps so the call can be replayed.
    aux_data: AuxData | None = None

    def is_allowed(self, action: str, index: int = 0) -> bool:
        decision = self.outputs[index].decisions.get(action)
        return decision is not None and decision.allowed

    @property
    def path(self) -> str:
        """``alice -> planner-agent -> tool-agent``: the person, then each delegate in order."""
        return " -> ".join([self.subject.id, *(a.id for a in reversed(self.actors))])

    def explanation(self) -> str:
        d = self.delegation
        facts = [f"token jti {d.jti}" if d.jti else "actors named by the request, no token"]
        if d.audience is not None:
            facts.append(f"aud {', '.join(d.audience)}")
        if d.scopes is not None:
            facts.append(f"scope {' '.join(d.scopes) or '(none)'}")
        header = f" ({'; '.join(facts)})"
        return "\n\n".join(o.explanation(self.path, header) for o in self.outputs)


def resolve_actors(chain: Chain, registry: AgentRegistry, *, from_token: bool) -> tuple[Actor, ...]:
    """Each actor with the registry's roles and attributes where it lists the actor.

    Actors from a token match issuer-bound entries by their ``iss``; actors a caller names without
    an ``iss`` match any entry of their id.
    """
    out = []
    for actor in chain.actors:
        agent = registry.lookup(actor.id, actor.issuer if from_token or actor.issuer else None)
        out.append(Actor(actor.id, actor.issuer, agent.roles, agent.attr) if agent is not None else actor)
    return tuple(out)


def _labels(actors: Sequence[Actor]) -> list[str]:
    """Actors (current first) numbered in delegation order: 1 is the first delegate."""
    return [f"actor {len(actors) - i} {a.id}" for i, a in enumerate(actors)]


def check_delegated(
    engine: Engine,
    principal: Principal,
    entries: Sequence[tuple[Resource, Sequence[str]]],
    delegation: Delegation,
    *,
    audiences: Collection[str],
    scope_mapping: ScopeMapping,
    registry: AgentRegistry,
    aux_data: AuxData | None = None,
    request_id: str = "",
    now: dt.datetime | None = None,
    session_id: str = "",
    approval_id: str = "",
    lifted: frozenset[str] = frozenset(),
) -> DelegatedCheckResult:
    """Decide each ``(resource, actions)`` for ``principal`` acting through ``delegation``'s chain.

    Raises :class:`DelegatedCheckError` when the principal is not the token's ``sub``. A Cerbos principal id
    carries no issuer, so it matches the token's ``sub`` whichever trusted issuer vouched for it; the pair
    is in ``request.aux_data.delegation.subject.iss`` for policies, in the response and in the log.
    """
    if delegation.subject is not None and not same_party(
        Identity(principal.id), Identity(delegation.subject, delegation.subject_issuer)
    ):
        raise DelegatedCheckError(
            f"principal.id {principal.id!r} contradicts the delegation token's sub {delegation.subject!r}: "
            "a delegation token is only good for the person it was issued for"
        )
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    actors = resolve_actors(delegation.chain, registry, from_token=delegation.source == SOURCE_TOKEN)
    chain = Chain(actors)
    subject_view = {
        "id": principal.id,
        "iss": delegation.subject_issuer,
        "roles": list(principal.roles),
        "attr": dict(principal.attr),
    }
    variable = delegation_variable(
        subject=subject_view,
        chain=chain,
        scopes=delegation.scopes,
        audience=delegation.audience,
        issuer=delegation.issuer,
        source=delegation.source,
        sid=delegation.sid,
        jti=delegation.jti,
    )
    caller = aux_data or AuxData()
    aux = AuxData(
        jwt=delegation.claims or caller.jwt, jwts=caller.jwts, delegation=variable, session=caller.session
    )
    ids = chain.ids

    def run(party: Principal) -> list[CheckOutput]:
        inputs = [
            CheckInput(party, r, tuple(a), aux, request_id, session_id or delegation.sid, ids, approval_id)
            for r, a in entries
        ]
        return engine.check(inputs, when, lifted)

    subject_outputs = run(principal)
    actor_outputs: list[list[CheckOutput] | None] = [
        run(Principal(a.id, a.roles, a.attr, principal.policy_version, principal.scope)) if a.roles else None
        for a in actors
    ]
    audience_ok = delegation.audience is None or bool(set(delegation.audience) & set(audiences))
    # the actors in delegation order (first delegate first), each with its outputs per resource
    rows = list(zip(reversed(actors), reversed(_labels(actors)), reversed(actor_outputs), strict=True))
    outputs = []
    for index, (resource, actions) in enumerate(entries):
        subject_out = subject_outputs[index]
        per_actor = [(actor, label, outs[index] if outs is not None else None) for actor, label, outs in rows]
        decisions = {}
        for action in dict.fromkeys(actions):
            subject = PartyDecision(
                f"subject {principal.id}", principal.roles, subject_out.actions[action], subject_out
            )
            parties = [
                subject,
                *(_party(a, label, out, action, a is actors[0]) for a, label, out in per_actor),
            ]
            decisions[action] = _decide(
                action, resource, delegation, audience_ok, audiences, scope_mapping, parties
            )
        party_outputs = [subject_out, *(out for _, _, out in per_actor if out is not None)]
        combined = _combined(
            subject_out, party_outputs, decisions, ids, session_id or delegation.sid, approval_id
        )
        outputs.append(DelegatedOutput(resource, decisions, combined))
    return DelegatedCheckResult(outputs, delegation, principal, actors, aux)


def _combined(
    subject: CheckOutput,
    parties: list[CheckOutput],
    decisions: Mapping[str, DelegatedDecision],
    chain: tuple[str, ...],
    session_id: str,
    approval_id: str,
) -> CheckOutput:
    """One engine output for the resource: the attenuated effects, the subject's derived roles and
    errors, every party's outputs, and the chain (what Cerbos's response and the decision log need)."""
    return CheckOutput(
        subject.request_id,
        subject.resource_id,
        {a: d.effect for a, d in decisions.items()},
        effective_derived_roles=subject.effective_derived_roles,
        validation_errors=subject.validation_errors,
        outputs=[o for out in parties for o in out.outputs],
        evaluation_errors=subject.evaluation_errors,
        session_id=session_id,
        actor_chain=chain,
        approval_id=approval_id,
    )


def _party(actor: Actor, label: str, out: CheckOutput | None, action: str, current: bool) -> PartyDecision:
    if out is None:
        return PartyDecision(
            label, (), None, None, "no roles: none in its act entry or the agents registry", current
        )
    return PartyDecision(label, actor.roles, out.actions[action], out, current=current)


def _decide(
    action: str,
    resource: Resource,
    delegation: Delegation,
    audience_ok: bool,
    audiences: Collection[str],
    scope_mapping: ScopeMapping,
    parties: list[PartyDecision],
) -> DelegatedDecision:
    scope = scope_mapping.required(resource.kind, action)
    checks = []
    denied_by, effect = "", None
    if delegation.audience is not None:
        state = "held" if audience_ok else "did not hold"
        checks.append(
            f"audience: the token's aud {list(delegation.audience)} names this service "
            f"({' or '.join(sorted(audiences))}) -> {state}"
        )
        if not audience_ok:
            denied_by, effect = "audience", ActionEffect(EFFECT_DENY, AUDIENCE_RULE)
    if delegation.scopes is not None:
        held = scope in delegation.scopes
        checks.append(
            f"scope: {scope} required, the token has {list(delegation.scopes)} -> "
            f"{'held' if held else 'did not hold'}"
        )
        if not held and effect is None:
            denied_by, effect = "scope", ActionEffect(EFFECT_DENY, SCOPE_RULE)
    if effect is None:
        denier = next((party for party in parties if not party.allowed), None)
        if denier is not None:
            denied_by, effect = denier.denial(), denier.effect or ActionEffect(EFFECT_DENY)
    if effect is None:
        effect = parties[0].effect
    assert effect is not None
    return DelegatedDecision(action, effect, denied_by, scope, tuple(checks), tuple(parties))
