"""Delegation at every hop: RFC 8693 token exchange with actor chains, and checks an agent cannot escalate.

>>> from chamberlain.delegation import TokenService, parse_config, create_app
>>> service = TokenService(parse_config(settings, state_dir=state, base_url=url), pdp)
>>> app = create_app(service)          # POST /oauth2/token, RFC 8414 metadata, JWKS
>>> service.check(principal, [(resource, ["pay"])], token=token).explanation()

Downstream services verify tokens themselves with :func:`verify` or :class:`DelegationMiddleware`.
"""

from chamberlain.delegation.asgi import PATHS, TokenApp, create_app
from chamberlain.delegation.attenuate import DelegatedCheckResult, Delegation, check_delegated
from chamberlain.delegation.cerbos_check import (
    DelegatedCheck,
    check_resources,
    decide_check_resources,
    is_delegated,
    token_claims,
)
from chamberlain.delegation.chain import Actor, Chain, parse_chain
from chamberlain.delegation.config import DEFAULTS, DelegationConfig, parse_config
from chamberlain.delegation.errors import (
    DelegatedCheckError,
    DelegationConfigError,
    DelegationError,
    ExchangeError,
    TokenError,
)
from chamberlain.delegation.identity import Identity, same_party
from chamberlain.delegation.keys import SigningKeys, rotate
from chamberlain.delegation.middleware import DelegationMiddleware
from chamberlain.delegation.scopes import ScopeMapping
from chamberlain.delegation.service import TokenService
from chamberlain.delegation.tokens import DelegationToken, Verifier, verify

__all__ = [
    "DEFAULTS",
    "PATHS",
    "Actor",
    "Chain",
    "DelegatedCheck",
    "DelegatedCheckError",
    "DelegatedCheckResult",
    "Delegation",
    "DelegationConfig",
    "DelegationConfigError",
    "DelegationError",
    "DelegationMiddleware",
    "DelegationToken",
    "ExchangeError",
    "Identity",
    "ScopeMapping",
    "SigningKeys",
    "TokenApp",
    "TokenError",
    "TokenService",
    "Verifier",
    "check_delegated",
    "check_resources",
    "create_app",
    "decide_check_resources",
    "is_delegated",
    "parse_chain",
    "parse_config",
    "rotate",
    "same_party",
    "token_claims",
    "verify",
]
