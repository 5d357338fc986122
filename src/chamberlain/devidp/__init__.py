"""A development identity provider: test tokens for people and agents, and a minimal OIDC provider.

NOT FOR PRODUCTION: whoever holds its key file can sign any identity, and its login page lets
anyone log in as anyone it lists. It exists so that delegation, approvals and the console can be
tried and tested from zero: ``chamberlain dev idp init`` writes a signing key, its JWKS, the people
and agents (``identities.yaml``, whose ``agents`` part is chamberlain's agents registry) and a
chamberlain config that trusts it; ``chamberlain dev idp token`` mints tokens;
``chamberlain dev idp serve`` is an OpenID Connect provider (authorization code flow with PKCE).

>>> from chamberlain.devidp import DevIdp, init_directory
>>> init_directory(tmp / "idp", issuer="http://127.0.0.1:3599")      # the files, idempotently
>>> idp = DevIdp.load(tmp / "idp")
>>> idp.access_token("alice").token                                    # a person's token
>>> idp.access_token("planner-agent", agent=True).token                # an agent's actor token
"""

from chamberlain.devidp.errors import DevIdpError
from chamberlain.devidp.layout import init_directory
from chamberlain.devidp.provider import DEFAULT_DIR, KID_PREFIX, MARKER, MARKER_CLAIM, DevIdp, Minted

__all__ = [
    "DEFAULT_DIR",
    "KID_PREFIX",
    "MARKER",
    "MARKER_CLAIM",
    "DevIdp",
    "DevIdpError",
    "Minted",
    "init_directory",
]
