"""Cerbos ``CheckResources`` requests that carry delegation, decided with attenuation.

A request is delegated when ``auxData.jwt.token`` is a token chamberlain issued (its ``iss`` is
chamberlain's issuer), or when it has the extension field ``auxData.delegation`` (for callers
without tokens), which names the actors, current first:

```json
"auxData": {"delegation": {"actors": [{"id": "tool-agent", "roles": ["tool_agent"], "attr": {}},
                                      {"id": "planner-agent"}],
                           "scopes": ["payments:write"]}}
```

An actor without ``roles`` takes them from the agents registry; ``scopes`` is optional (without it
no scope is checked). The response is Cerbos's, with the combined effects, plus a ``delegation``
field (chamberlain's extension): subject, actors, depth and, per resource and action, who denied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from chamberlain.approvals.guard import Spent, read_approval_id
from chamberlain.cel.values import Timestamp
from chamberlain.delegation.attenuate import DelegatedCheckResult, Delegation
from chamberlain.delegation.chain import Actor
from chamberlain.delegation.errors import TokenError
from chamberlain.delegation.service import TokenService
from chamberlain.delegation.tokens import peek
from chamberlain.engine import CheckInput, CheckOutput
from chamberlain.engine.request_validation import RequestError
from chamberlain.engine.wire import JWTVerifier, check_resources_response, parse_check_resources

FIELD = "delegation"


def _aux(request: Mapping[str, Any]) -> Mapping[str, Any] | None:
    aux = request.get("auxData", request.get("aux_data"))
    return aux if isinstance(aux, Mapping) else None


def chamberlain_token(request: Mapping[str, Any], issuer: str) -> str | None:
    """``auxData.jwt.token`` when chamberlain issued it (read unverified: it is verified later)."""
    aux = _aux(request)
    jwt = aux.get("jwt") if aux is not None else None
    token = jwt.get("token") if isinstance(jwt, Mapping) else None
    if not isinstance(token, str):
        return None
    try:
        _, claims = peek(token, "auxData.jwt.token")
    except TokenError:
        return None  # not a JWT: the ordinary auxData verification reports it
    return token if claims.get("iss") == issuer else None


def token_claims(request: Mapping[str, Any], issuer: str) -> Mapping[str, Any] | None:
    """The claims of a chamberlain token in ``auxData.jwt`` (unverified: the check verifies it), or None."""
    token = chamberlain_token(request, issuer)
    return peek(token, "auxData.jwt.token")[1] if token is not None else None


def is_delegated(request: Mapping[str, Any], issuer: str) -> bool:
    """Whether :func:`check_resources` decides this request (else the plain PDP does)."""
    aux = _aux(request)
    return aux is not None and (FIELD in aux or chamberlain_token(request, issuer) is not None)


def named_delegation(value: Any) -> Delegation:
    """The ``auxData.delegation`` extension (``{"actors": [...], "scopes": [...]}``) as a delegation; raises
    :class:`RequestError` naming the field that is wrong."""
    path = f"auxData.{FIELD}"
    if not isinstance(value, Mapping):
        raise RequestError(path, "expected an object with actors")
    unknown = sorted(set(value) - {"actors", "scopes"})
    if unknown:
        raise RequestError(path, f"unknown fields {', '.join(unknown)} (allowed: actors, scopes)")
    actors = value.get("actors")
    if not isinstance(actors, list) or not actors:
        raise RequestError(f"{path}.actors", "expected a non-empty list of actors, current first")
    parsed = []
    for i, entry in enumerate(actors):
        at = f"{path}.actors[{i}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str) or not entry["id"]:
            raise RequestError(at, "expected an object with a non-empty id")
        roles, attr, issuer = entry.get("roles", []), entry.get("attr", {}), entry.get("iss", "")
        if not isinstance(roles, list) or not all(isinstance(r, str) and r for r in roles):
            raise RequestError(f"{at}.roles", "expected a list of non-empty strings")
        if not isinstance(attr, Mapping) or not isinstance(issuer, str):
            raise RequestError(at, "attr must be an object and iss a string")
        parsed.append(Actor(entry["id"], issuer, tuple(roles), MappingProxyType(dict(attr))))
    scopes = value.get("scopes")
    if scopes is not None and (not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes)):
        raise RequestError(f"{path}.scopes", "expected a list of strings")
    return Delegation.from_actors(parsed, scopes)


def summary(result: DelegatedCheckResult, outputs: Sequence[CheckOutput], *, explain: bool) -> dict[str, Any]:
    """The response's ``delegation`` field (effects as ``outputs`` finally hold them)."""
    d = result.delegation
    out: dict[str, Any] = {
        "subject": result.subject.id,
        **({"subjectIssuer": d.subject_issuer} if d.subject_issuer else {}),
        "actors": [a.id for a in result.actors],
        "depth": len(result.actors),
        "source": d.source,
        "results": [
            {
                "resourceId": o.resource.id,
                "actions": {
                    a: {
                        "effect": final.actions[a].effect,
                        **({"deniedBy": dec.denied_by} if dec.denied_by else {}),
                    }
                    for a, dec in o.decisions.items()
                },
            }
            for o, final in zip(result.outputs, outputs, strict=True)
        ],
    }
    if d.jti:
        out["jti"] = d.jti
    if explain:
        out["explanation"] = result.explanation()
    return out


@dataclass(frozen=True, slots=True)
class DelegatedCheck:
    """A decided delegated request: engine-shaped ``inputs`` and combined ``outputs`` (with the actor
    chain, for the decision log), and the attenuated ``result`` with its explanation."""

    inputs: list[CheckInput]
    outputs: list[CheckOutput]
    result: DelegatedCheckResult
    include_meta: bool
    session: dict[str, Any] | None = None  # what the session the check named made of it

    def response(self, outputs: Sequence[CheckOutput] | None = None) -> dict[str, Any]:
        """Cerbos's response JSON plus ``delegation``; ``outputs`` replace the decided ones (say, when
        the decision log denied everything because it could not record them)."""
        final = list(outputs if outputs is not None else self.outputs)
        response = check_resources_response(self.inputs[0].request_id, self.inputs, final, self.include_meta)
        response[FIELD] = summary(self.result, final, explain=self.include_meta)
        return response


def decide_check_resources(
    service: TokenService,
    request: Mapping[str, Any],
    verify_jwt: JWTVerifier | None = None,
    session: Any = None,
    approvals: Any = None,
    *,
    validated: bool = False,
) -> DelegatedCheck | None:
    """Decide a delegated CheckResources request; None when it carries no delegation.

    ``session``: the :class:`~chamberlain.sessions.join.Joined` session the request names (its
    conditions see it; the decided actions are then bound to it, charged or denied).

    ``approvals``: the :class:`~chamberlain.approvals.ApprovalGuard` that opens approval requests for the
    chain's action and lifts an approved rule for every party of the chain (``auxData.approval.id``).

    ``verify_jwt`` verifies the request's other tokens (``auxData.jwts``) as the server does.
    The request is validated as the Cerbos server validates it unless the caller did (``validated``).
    Raises :class:`RequestError`, :class:`TokenError` or ``DelegatedCheckError`` (all HTTP 400).
    """
    aux = _aux(request)
    if aux is None:
        return None
    token = chamberlain_token(request, service.config.issuer)
    named = aux.get(FIELD)
    if token is None and named is None:
        return None
    if token is not None and named is not None:
        raise RequestError(
            f"auxData.{FIELD}", "give a chamberlain token (auxData.jwt) or the actors, not both"
        )
    approval_id = read_approval_id(request)
    rest = {k: v for k, v in aux.items() if k != FIELD and not (token is not None and k == "jwt")}
    plain = {k: v for k, v in request.items() if k not in ("auxData", "aux_data")}
    inputs, include_meta = parse_check_resources({**plain, "auxData": rest}, verify_jwt, validated=validated)
    via: dict[str, Any] = {"token": token} if token is not None else {"delegation": named_delegation(named)}
    return decide_inputs(service, inputs, via, session, approvals, approval_id, include_meta=include_meta)


def decide_inputs(
    service: TokenService,
    inputs: Sequence[CheckInput],
    via: Mapping[str, Any],
    session: Any = None,
    approvals: Any = None,
    approval_id: str = "",
    *,
    include_meta: bool = False,
) -> DelegatedCheck:
    """Decide parsed check ``inputs`` (one principal) through ``via`` (``{"token": ...}`` or ``{"delegation":
    ...}``) as :func:`decide_check_resources` does: attenuated by the chain, then the approval named lifts
    its rule once, then the session (``session``: the :class:`~chamberlain.sessions.join.Joined` session)
    binds, charges or denies. Every enforcement point deciding delegated checks goes through here, so none
    skips the session's kill switch or budgets."""
    if session is not None:
        inputs = session.inputs(inputs)
    first = inputs[0]
    entries = [(i.resource, i.actions) for i in inputs]
    common: dict[str, Any] = {
        "aux_data": first.aux_data,
        "request_id": first.request_id,
        "session_id": first.session_id,
    }
    result = service.check(first.principal, entries, **via, **common)
    outputs = [o.output for o in result.outputs]
    # Logged with the aux data the parties were checked with: the chain's roles and scopes make the
    # call replayable (chamberlain analyze impact).
    checked_aux = result.aux_data
    chained = [
        replace(i, actor_chain=o.actor_chain, session_id=o.session_id, aux_data=checked_aux or i.aux_data)
        for i, o in zip(inputs, outputs, strict=True)
    ]
    now = Timestamp.now()
    spent: list[Spent] = []
    if approvals is not None:

        def recheck(inp: CheckInput, action: str, lifted: frozenset[str]) -> CheckOutput:
            again = service.check(
                first.principal, [(inp.resource, (action,))], **via, **common, lifted=lifted
            )
            return again.outputs[0].output

        chained = [replace(i, approval_id=approval_id) for i in chained] if approval_id else chained
        spent = approvals.apply(service.engine, chained, outputs, now, recheck)
    record = session.enforce(chained, outputs, now) if session is not None else None
    if approvals is not None and spent:
        approvals.keep_unspent(spent, outputs)
    return DelegatedCheck(chained, outputs, result, include_meta, record)


def check_resources(
    service: TokenService, request: Mapping[str, Any], verify_jwt: JWTVerifier | None = None
) -> dict[str, Any] | None:
    """The response of :func:`decide_check_resources`, or None when the request carries no delegation.

    The request is decided as the server decides it: in the session its token's ``sid`` (or
    ``auxData.session``) names, in the session store of the service's PDP, and with the approval
    ``auxData.approval`` names when that PDP has approvals (without a session store, a check naming a
    session is denied, as the server denies it)."""
    from chamberlain.sessions.join import join, request_ref, token_sid

    pdp = getattr(service, "pdp", None)
    session = None
    if is_delegated(request, service.config.issuer):
        ref = request_ref(request, token_sid(token_claims(request, service.config.issuer)))
        session = join(getattr(pdp, "sessions", None), ref) if ref is not None else None
    decided = decide_check_resources(service, request, verify_jwt, session, getattr(pdp, "approvals", None))
    return decided.response() if decided is not None else None
