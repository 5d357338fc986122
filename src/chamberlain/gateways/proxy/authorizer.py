"""The one :class:`~chamberlain.gateways.proxy.contract.ProxyAuthorizer`: a proxy's request, decided and recorded.

1. The principal: a bearer token in ``Authorization``, verified: a token chamberlain issued (its chain
   and session decide with it), or one signed by a key of ``auxData.jwt.keySets``. None or a bad one: 401.
2. The resource and action: ``chamberlain.gateway.mcp.paths`` by the MCP headers, else the first route of
   ``chamberlain.gateway.routes`` (:mod:`.routing`). Nothing matches: 403.
3. The decision: a Cerbos ``CheckResources`` request through the server's own path
   (:mod:`chamberlain.server.decide`): attenuation over the chain, the session, the decision log.
4. The answer: 200 with the upstream headers, or 403 with a body that explains (never 5xx; any error denies).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import orjson

from chamberlain import strictjson
from chamberlain.bearer import BearerError, bearer_token
from chamberlain.delegation.errors import DelegationError
from chamberlain.delegation.tokens import peek
from chamberlain.engine.request_validation import InvalidRequest, validate_check_resources
from chamberlain.engine.result import EFFECT_ALLOW
from chamberlain.engine.wire import RequestError
from chamberlain.errors import Error
from chamberlain.gateways.proxy.contract import ProxyAnswer, ProxyRequest
from chamberlain.gateways.proxy.mcp_headers import map_mcp, other_spelling, unsupplied
from chamberlain.gateways.proxy.routing import Mapped, Unmapped, case_variant, map_request
from chamberlain.gateways.proxy.settings import GatewaySettings
from chamberlain.server import decide
from chamberlain.server.http import new_call_id
from chamberlain.server.state import ServerState

LOGGER = logging.getLogger("chamberlain.gateways.proxy")
_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in '%"\\')
_JSON = {"content-type": "application/json"}


class Unauthorized(Exception):
    """No usable credentials: a 401 (``error`` is RFC 6750's, "" when no token was sent)."""

    def __init__(self, message: str, error: str = "invalid_token"):
        super().__init__(message)
        self.error = error


def header_value(value: str) -> str:
    """``value`` safe in an HTTP header (anything outside printable ASCII percent-encoded)."""
    return quote(value, safe=_SAFE)[:1024]


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a verified token names: subject, roles, the actor chain (current first) and the token itself."""

    subject: str
    roles: list[str]
    actors: tuple[str, ...]
    token: str
    attr: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return self.subject + (f" via {' > '.join(reversed(self.actors))}" if self.actors else "")


class Authorizer:
    """Decides proxy requests with the server's PDP, token service, sessions and decision log."""

    def __init__(self, state: ServerState, settings: GatewaySettings):
        self.state = state
        self.settings = settings
        if state.config.key_sets and not settings.audiences:
            LOGGER.warning(
                "chamberlain.gateway.principal.audiences is empty: the gateway accepts a token of "
                "auxData.jwt.keySets whatever service it was issued for (its aud is not checked, as in "
                "Cerbos); list the audiences this gateway's tokens name"
            )

    async def authorize(self, request: ProxyRequest) -> ProxyAnswer:
        """Never raises: a problem is a 401 or a 403 (an unexpected one is logged and denied)."""
        call_id = new_call_id()
        try:
            return await self._authorize(request, call_id)
        except Unauthorized as exc:
            return self._unauthorized(str(exc), exc.error, call_id)
        except Unmapped as exc:
            return self._forbidden(str(exc), call_id)
        except Exception as exc:  # fail closed, whatever it was
            if isinstance(exc, Error):
                LOGGER.warning("proxy check denied", extra={"callId": call_id, "error": str(exc)})
            else:
                LOGGER.exception("proxy check failed", extra={"callId": call_id})
            return self._forbidden(_reason(exc), call_id)

    async def _authorize(self, request: ProxyRequest, call_id: str) -> ProxyAnswer:
        identity = self.identify(request.headers.get("authorization"))
        mapped = self.map(request)
        check = {
            "requestId": call_id,
            "principal": {
                "id": identity.subject,
                "roles": identity.roles,
                **({"attr": dict(identity.attr)} if identity.attr else {}),
            },
            "resources": [
                {
                    "resource": {"kind": mapped.kind, "id": mapped.id, "attr": mapped.attr},
                    "actions": [mapped.action],
                }
            ],
            "auxData": {"jwt": {"token": identity.token}},
            "includeMeta": self.settings.detailed_denials,
        }
        try:
            validate_check_resources(check, self.state.config.request_limits)
        except InvalidRequest as exc:
            raise Unmapped(f"the mapped check is not valid: {exc}") from None
        checks = [decide.start(self.state, check, call_id, f"proxy:{request.proxy}")]
        answer = decide.settle(self.state, checks, lambda responses: responses[0])
        response = answer if type(answer) is dict else await answer  # type: ignore[misc]
        pending = checks[0].pending  # settled: a check moved to a worker thread is replaced by its result
        return self._answer(response, mapped, identity, call_id, pending.log_index if pending else None)

    def identify(self, authorization: str | None) -> Identity:
        """The verified principal of an ``Authorization`` header; raises :class:`Unauthorized`."""
        if authorization is None:
            raise Unauthorized("no bearer token in Authorization", error="")
        try:
            token = bearer_token(authorization)
        except BearerError as exc:
            problem = "Authorization is not 'Bearer <token>'" if exc.missing else str(exc)
            raise Unauthorized(problem, error="invalid_request") from None
        state = self.state
        try:
            _, claims = peek(token, "Authorization")
        except DelegationError:
            raise Unauthorized("the bearer token is not a JWT") from None
        tokens = state.tokens
        actors: tuple[str, ...] = ()
        try:
            if tokens is not None and claims.get("iss") == tokens.config.issuer:
                verified = tokens.verifier.verify(token, audience=None, where="Authorization")
                claims, actors = dict(verified.claims), verified.chain.ids
                vouched = verified.subject_issuer
            elif state.config.key_sets and not state.config.jwt_disable_verification:
                assert state.pdp.verify_jwt is not None
                claims = dict(state.pdp.verify_jwt({"token": token}))
                _check_audience(claims, self.settings.audiences)
                _check_no_actor(claims)
                issuer = claims.get("iss")
                vouched = issuer if isinstance(issuer, str) else ""
            else:
                raise Unauthorized(
                    "the token's issuer is not trusted (chamberlain's own, or auxData.jwt.keySets)"
                )
        except (DelegationError, RequestError) as exc:
            raise Unauthorized(f"the bearer token does not verify: {exc}") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise Unauthorized("the bearer token has no subject (sub)")
        known = self.settings.subjects.get(subject)
        if known is not None and known.issuer and known.issuer != vouched:
            known = None  # another issuer's subject of that name: not the person configured
        roles = claims.get(self.settings.roles_claim)
        if not (isinstance(roles, list) and roles and all(isinstance(r, str) and r for r in roles)):
            roles = list(known.roles if known is not None else self.settings.default_roles)
        if not roles:
            raise Unauthorized(
                f"the bearer token names no roles ({self.settings.roles_claim}), and neither "
                "chamberlain.gateway.principal.subjects nor defaultRoles give any"
            )
        return Identity(subject, roles, actors, token, known.attr if known is not None else {})

    def map(self, request: ProxyRequest) -> Mapped:
        """The check ``request`` stands for; raises :class:`Unmapped`."""
        s = self.settings
        depth = self.state.config.max_json_depth
        if request.path in s.mcp_paths:
            body = None
            if request.body is not None and not request.body_truncated and request.body.strip():
                try:
                    body = strictjson.loads(request.body, max_depth=depth)
                except strictjson.JSONError as exc:
                    raise Unmapped(f"the MCP request body is not JSON: {exc}") from None
            mapped = map_mcp(request.headers, request.host or "mcp", s.mcp_kind, body)
            engine = self.state.pdp.engine
            problem = unsupplied(engine, mapped.kind, mapped.action, set(mapped.attr))
            name = request.headers.get("mcp-name")
            if not problem and name is not None and mapped.action != mapped.attr["method"]:
                problem = other_spelling(engine, mapped.kind, mapped.action, name)
            if problem:
                raise Unmapped(problem)
            return mapped
        mapped = map_request(request, s.routes, depth)
        if mapped.action_params:
            named = case_variant(self.state.pdp.engine, mapped.kind, mapped.action)
            if named:
                params = ", ".join(f"{{{name}}}" for name, _ in mapped.action_params)
                raise Unmapped(
                    f"the action {mapped.action!r}, made from path parameter {params}, differs only in case "
                    f"from action {named!r} a policy for {mapped.kind} names: an upstream routing without "
                    "regard to case would act on the action that policy decides"
                )
        return mapped

    def _answer(
        self,
        response: dict[str, Any],
        mapped: Mapped,
        identity: Identity,
        call_id: str,
        log_index: int | None,
    ) -> ProxyAnswer:
        result = response["results"][0]
        effect = result["actions"].get(mapped.action)
        s = self.settings
        delegation = response.get("delegation")
        actors = tuple(delegation["actors"]) if isinstance(delegation, dict) else identity.actors
        if effect == EFFECT_ALLOW:
            # Every header always, empty when there is nothing to say: a proxy replacing the client's headers
            # only with those the answer carries (Envoy's allowed_upstream_headers) would pass a client's own
            # X-Chamberlain-Actors on to the upstream otherwise.
            headers = {
                s.subject_header: header_value(identity.subject),
                s.decision_header: call_id,
                s.actors_header: header_value(",".join(actors)),
                s.log_index_header: "" if log_index is None else str(log_index),
            }
            return ProxyAnswer(200, headers, decision_id=call_id, log_index=log_index)
        body: dict[str, Any] = {
            "error": "forbidden",
            "message": f"chamberlain denied {mapped.action} on {mapped.kind} {mapped.id} for {identity.describe()}",
            "decisionId": call_id,
        }
        if s.detailed_denials:
            meta = (result.get("meta") or {}).get("actions", {}).get(mapped.action, {})
            body["policy"] = meta.get("matchedPolicy", "")
            body["rule"] = meta.get("matchedRule", "")
            if isinstance(delegation, dict):
                denied = [
                    r["actions"].get(mapped.action, {}).get("deniedBy") for r in delegation.get("results", [])
                ]
                body["deniedBy"] = [d for d in denied if d]
        return ProxyAnswer(
            403, client_headers=_JSON, body=orjson.dumps(body), decision_id=call_id, log_index=log_index
        )

    def _unauthorized(self, message: str, error: str, call_id: str) -> ProxyAnswer:
        challenge = f'Bearer realm="{self.settings.realm}"'
        if error:
            challenge += f', error="{error}", error_description="{header_value(message)[:200]}"'
        body = orjson.dumps({"error": "unauthorized", "message": message, "decisionId": call_id})
        return ProxyAnswer(401, client_headers={"www-authenticate": challenge, **_JSON}, body=body)

    def _forbidden(self, message: str, call_id: str) -> ProxyAnswer:
        body = orjson.dumps({"error": "forbidden", "message": message, "decisionId": call_id})
        return ProxyAnswer(403, client_headers=_JSON, body=body, decision_id=call_id)


def _check_no_actor(claims: dict[str, Any]) -> None:
    """A key-set token naming an actor (``act``, RFC 8693) is refused: its bearer acts for ``sub``, and only
    chamberlain's own tokens have their chain checked here (taking ``sub`` alone would give the agent all
    of the person's authority)."""
    if "act" in claims:
        actor = claims["act"].get("sub") if isinstance(claims["act"], dict) else None
        raise Unauthorized(
            f"the bearer token carries an act claim ({actor!r} acts for {claims.get('sub')!r}), whose "
            "actors the gateway would not check: exchange it at chamberlain's token service for a "
            "delegation token"
        )


def _check_audience(claims: dict[str, Any], audiences: tuple[str, ...]) -> None:
    """With ``principal.audiences`` set, a key-set token must name one of them in ``aud``."""
    if not audiences:
        return
    aud = claims.get("aud")
    named = {aud} if isinstance(aud, str) else set(aud) if isinstance(aud, list) else set()
    if not named & set(audiences):
        raise Unauthorized(
            f"the bearer token's audience {aud!r} is none of chamberlain.gateway.principal.audiences"
        )


def _reason(exc: BaseException) -> str:
    """What a denied caller is told about an error (a chamberlain error's own message; nothing internal else)."""
    if isinstance(exc, DelegationError | RequestError):  # about the caller's token or request
        return f"denied: {exc}"
    return "denied: chamberlain could not decide this request"
