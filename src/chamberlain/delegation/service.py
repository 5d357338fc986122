"""The token service: configuration, signing keys, trusted issuers and the PDP, in one object.

>>> service = TokenService(parse_config(settings, state_dir=Path(".chamberlain"), base_url=url), pdp)
>>> service.exchange({"grant_type": [...], "subject_token": [...], ...})   # RFC 8693 response dict
>>> service.check(principal, [(resource, ["pay"])], token=token)        # an attenuated check
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from chamberlain.delegation.attenuate import DelegatedCheckResult, Delegation, check_delegated
from chamberlain.delegation.config import DelegationConfig
from chamberlain.delegation.decision import Recorder
from chamberlain.delegation.errors import ExchangeError
from chamberlain.delegation.exchange import GRANT_TYPE, LOGGER, exchange
from chamberlain.delegation.introspect import INTROSPECT_PATH, REVOKE_PATH
from chamberlain.delegation.keys import SigningKeys
from chamberlain.delegation.tokens import DelegationToken, Verifier
from chamberlain.delegation.trust import KeyFinder
from chamberlain.engine import AuxData, Engine, Principal, Resource

TOKEN_PATH = "/oauth2/token"
METADATA_PATH = "/.well-known/oauth-authorization-server"
JWKS_PATH = "/.well-known/jwks.json"


class SessionHook(Protocol):
    """Sessions as the token service sees them (chamberlain.sessions.exchange.ExchangeSessions)."""

    def __call__(self, subject: str, agents: Sequence[str], sid: str) -> str:
        """Join an exchange to a session: the sid the new token carries; raises ExchangeError to refuse."""
        ...

    def state(self, sid: str) -> str: ...

    def revoke(self, sid: str, *, by: str, reason: str) -> str: ...


class EngineSource(Protocol):
    """Where the current engine comes from: a :class:`chamberlain.PDP` (it survives reloads)."""

    @property
    def engine(self) -> Engine: ...


class TokenService:
    """Exchanges tokens, publishes keys and metadata, verifies its own tokens, runs attenuated checks."""

    def __init__(
        self,
        config: DelegationConfig,
        pdp: EngineSource,
        *,
        clock: Callable[[], float] = time.time,
        record: Recorder | None = None,
    ):
        """``record``: puts each exchange's decision into the decision log (see ``decision.Recorder``)."""
        self.config = config
        self.pdp = pdp
        self.clock = clock
        self.record = record
        self.sessions: SessionHook | None = None  # set by the server when sessions are enabled
        self.approvals: Any = None  # an ApprovalStore, set by the server when approvals are on (CIBA)
        self.keys = SigningKeys(config.signing_key_file, config.signing_algorithm)
        self.verifier = Verifier(config.issuer, self.keys, leeway=config.leeway, clock=clock)

    @property
    def engine(self) -> Engine:
        return self.pdp.engine

    def keys_of(self, issuer: str) -> KeyFinder | None:
        """The key set of ``issuer``: chamberlain's own, or a trusted issuer's; None otherwise."""
        if issuer == self.config.issuer:
            return self.keys
        trusted = self.config.trusted(issuer)
        return trusted.keys if trusted is not None else None

    def exchange(self, params: Mapping[str, Sequence[str]]) -> dict[str, Any]:
        """An RFC 8693 exchange (form parameters, each a list of values); raises :class:`ExchangeError`."""
        try:
            return exchange(self, params, self.clock())
        except ExchangeError as exc:
            LOGGER.info("token exchange refused", extra={"error": exc.error, "description": exc.description})
            raise

    def metadata(self) -> dict[str, Any]:
        """RFC 8414 authorization server metadata."""
        issuer = self.config.issuer
        return {
            "issuer": issuer,
            "token_endpoint": f"{issuer}{TOKEN_PATH}",
            "introspection_endpoint": f"{issuer}{INTROSPECT_PATH}",
            "revocation_endpoint": f"{issuer}{REVOKE_PATH}",
            "jwks_uri": f"{issuer}{JWKS_PATH}",
            "grant_types_supported": [GRANT_TYPE],
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": ["none"],
            "token_endpoint_auth_signing_alg_values_supported": [self.config.signing_algorithm],
            **(self._ciba_metadata() if self.approvals is not None else {}),
        }

    def _ciba_metadata(self) -> dict[str, Any]:
        from chamberlain.delegation.ciba import BC_AUTHORIZE_PATH, CIBA_GRANT, DETAILS_TYPE

        return {
            "backchannel_authentication_endpoint": f"{self.config.issuer}{BC_AUTHORIZE_PATH}",
            "backchannel_token_delivery_modes_supported": ["poll"],
            "backchannel_user_code_parameter_supported": False,
            "authorization_details_types_supported": [DETAILS_TYPE],
            "grant_types_supported": [GRANT_TYPE, CIBA_GRANT],
        }

    def jwks(self) -> dict[str, Any]:
        return self.keys.jwks()

    def verify(self, token: str, *, audience: str | Sequence[str] | None = None) -> DelegationToken:
        """Verify a token chamberlain issued (``audience``: must be in its aud; default the configured ones)."""
        return self.verifier.verify(token, audience=self.config.audiences if audience is None else audience)

    def check(
        self,
        principal: Principal,
        entries: Sequence[tuple[Resource, Sequence[str]]],
        *,
        token: str | None = None,
        delegation: Delegation | None = None,
        aux_data: AuxData | None = None,
        request_id: str = "",
        session_id: str = "",
        approval_id: str = "",
        where: str = "auxData.jwt.token",
        lifted: frozenset[str] = frozenset(),
    ) -> DelegatedCheckResult:
        """An attenuated check through a chamberlain ``token`` (verified here) or a caller-named ``delegation``.

        The token's audience is checked as part of the decision (a DENY naming ``audience``), not here.
        """
        if (token is None) == (delegation is None):
            raise ValueError("pass exactly one of token and delegation")
        if token is not None:
            delegation = Delegation.from_token(self.verifier.verify(token, audience=None, where=where))
        assert delegation is not None
        c = self.config
        return check_delegated(
            self.engine,
            principal,
            entries,
            delegation,
            audiences=c.audiences,
            scope_mapping=c.scope_mapping,
            registry=c.agents,
            aux_data=aux_data,
            request_id=request_id,
            session_id=session_id,
            approval_id=approval_id,
            lifted=lifted,
        )
