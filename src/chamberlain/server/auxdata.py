"""Verify the JWTs of a request's ``auxData`` against local key sets, as Cerbos does.

``auxData.jwt`` = ``{"token": ..., "keySetId": ...}``: the key set is the named one, or the only one
configured. Keys must carry ``kid`` and ``alg`` unless the key set's ``insecure`` options relax it;
the token must name its key (``kid``) and use that key's algorithm. ``exp``, ``nbf`` and ``iat``
are checked with ``acceptableTimeSkew``. Any failure is an :class:`AuxDataError` (HTTP 400): a
request whose token does not verify is never decided. Conditions read the claims as Cerbos hands
them over: ``aud`` a list, ``exp``/``iat``/``nbf`` RFC 3339 strings (``request.auxData.jwt.exp``
is ``"2026-12-07T14:00:55Z"``).
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Mapping
from typing import Any

from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidClaimError, JoseError
from joserfc.jwk import ECKey, GuestProtocol, JWKRegistry, KeySet, OKPKey, RSAKey

from chamberlain import strictjson
from chamberlain.engine.jwt_claims import TIME_CLAIMS, as_conditions_read
from chamberlain.engine.request_validation import RequestError
from chamberlain.server.config import Config, ConfigError, KeySetConfig

_ALGS_BY_KTY = {
    "RSA": ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    "EC": ("ES256", "ES384", "ES512", "ES256K"),
    "OKP": ("EdDSA", "Ed25519"),
}


class AuxDataError(RequestError):
    """A token in ``auxData`` that cannot be verified; the message says why."""

    def __init__(self, field: str, problem: str):
        super().__init__(field, problem)
        self.args = (f"invalid auxData: {field}: {problem}",)


class _KeySet:
    __slots__ = ("keys", "optional_alg", "optional_kid")

    def __init__(self, config: KeySetConfig):
        self.optional_alg = config.optional_alg
        self.optional_kid = config.optional_kid
        self.keys = _parse_keys(config)


def _parse_keys(config: KeySetConfig) -> list[Any]:
    where = f"auxData.jwt.keySets '{config.id}'"
    if config.pem:
        for key_type in ("RSA", "EC", "OKP"):
            try:
                return [JWKRegistry.import_key(config.data, key_type)]
            except (ValueError, JoseError, TypeError):
                continue
        raise ConfigError(f"{where}: failed to parse key data: not an RSA, EC or OKP key in PEM format")
    try:
        data = json.loads(config.data)
        entries = data["keys"] if isinstance(data, dict) and "keys" in data else [data]
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: failed to parse key data: {exc}") from None
    for idx, entry in enumerate(entries):
        alg, kid = entry.get("alg"), entry.get("kid")
        if alg == "":
            raise ConfigError(f"{where}: invalid algorithm (alg)")
        if not config.optional_alg and alg is None:
            raise ConfigError(f"{where}: failed to validate key at idx {idx}: missing algorithm (alg)")
        if not config.optional_kid and not kid:
            raise ConfigError(
                f"{where}: failed to validate key at idx {idx}: {'missing' if kid is None else 'empty'} key ID (kid)"
            )
    try:
        return list(KeySet.import_key_set({"keys": entries}).keys)
    except (ValueError, JoseError, TypeError, KeyError) as exc:
        raise ConfigError(f"{where}: failed to parse key data: {exc}") from None


class JWTVerifier:
    """Callable the engine's request parser uses: ``{"token", "keySetId"}`` in, verified claims out."""

    def __init__(self, config: Config):
        self.disabled = config.jwt_disable_verification
        self.leeway = round(config.jwt_skew)
        self.max_depth = config.max_json_depth
        self.key_sets = {ks.id: _KeySet(ks) for ks in config.key_sets}

    def __call__(self, aux_jwt: Mapping[str, Any]) -> dict[str, Any]:
        token = aux_jwt.get("token")
        ks_id = aux_jwt.get("keySetId", aux_jwt.get("key_set_id")) or ""
        field = "auxData.jwt"
        if not isinstance(token, str) or not token:
            raise AuxDataError(f"{field}.token", "value is required")
        claims = self._claims(token, field)  # read within bounds before any JWT library reads them
        if self.disabled:
            return self._validated(claims, field)
        if not ks_id:
            if len(self.key_sets) != 1:
                raise AuxDataError(field, "cannot determine keyset to use for validating the JWT")
            key_set = next(iter(self.key_sets.values()))
        elif ks_id in self.key_sets:
            key_set = self.key_sets[ks_id]
        else:
            raise AuxDataError(f"{field}.keySetId", f"keyset not found: {ks_id}")
        try:
            decoded = jwt.decode(
                token, lambda guest: _choose_key(key_set, guest), algorithms=_algorithms(key_set)
            )
        except _KeyChoiceError as exc:
            raise AuxDataError(field, str(exc)) from None
        except (JoseError, ValueError, TypeError):
            raise AuxDataError(
                field, "failed to parse JWT: signature verification failed or token malformed"
            ) from None
        return self._validated(decoded.claims, field)

    def _claims(self, token: str, field: str) -> dict[str, Any]:
        """The token's claims, unverified: nested at most ``maxJSONDepth`` deep, no claim twice (RFC 7519
        section 4 allows refusing duplicates; reading the last would let two readers see two values)."""
        try:
            payload = token.split(".")[1]
            data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        except (IndexError, ValueError):
            raise AuxDataError(field, "failed to parse JWT") from None
        try:
            claims = strictjson.loads(data, max_depth=self.max_depth)
        except strictjson.DuplicateKeyError as exc:
            raise AuxDataError(
                field, f'failed to parse JWT: duplicate field "{exc.key}" in its claims'
            ) from None
        except strictjson.JSONError as exc:
            raise AuxDataError(field, f"failed to parse JWT: its claims are {exc.reason}") from None
        if not isinstance(claims, dict):
            raise AuxDataError(field, "failed to parse JWT")
        return claims

    def _validated(self, claims: dict[str, Any], field: str) -> dict[str, Any]:
        claims = _numeric_dates(_nulls_read(claims), field)
        now = int(time.time())
        try:
            jwt.JWTClaimsRegistry(now=now, leeway=self.leeway).validate(claims)
        except ExpiredTokenError:
            raise AuxDataError(field, "token has expired (exp)") from None
        except InvalidClaimError as exc:
            claim = getattr(exc, "claim", "")
            problem = {
                "nbf": "token is not valid yet ('nbf')",
                "iat": "issued at time is in the future (iat)",
            }
            raise AuxDataError(field, problem.get(claim, f"invalid claim {claim!r}")) from None
        except JoseError as exc:
            raise AuxDataError(field, f"invalid claims: {exc.description or exc.error}") from None
        iat = claims.get("iat")
        if isinstance(iat, int | float) and iat > now + self.leeway:
            raise AuxDataError(field, "issued at time is in the future (iat)")
        return as_conditions_read(claims)


_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")
#: Registered claims Cerbos's JWT library reads into Go strings: a null one is the empty string.
_STRING_CLAIMS = ("iss", "sub", "jti")
#: Registered claims whose null Cerbos's JWT library refuses (validation refuses them here too).
_REFUSED_NULLS = ("aud", *TIME_CLAIMS)


def _nulls_read(claims: dict[str, Any]) -> dict[str, Any]:
    """Null claims as Cerbos's JWT library reads them: ``iss``, ``sub`` and ``jti`` are ``""``, any
    other top-level null (a private claim) is left out, and a null ``aud`` or date stays to be refused;
    nulls nested in a claim's value stay."""
    out: dict[str, Any] = {}
    for name, value in claims.items():
        if value is not None or name in _REFUSED_NULLS:
            out[name] = value
        elif name in _STRING_CLAIMS:
            out[name] = ""
    return out


def _numeric_dates(claims: dict[str, Any], field: str) -> dict[str, Any]:
    """``exp``/``iat``/``nbf`` as numbers, as Cerbos's JWT library reads them: a decimal string is its
    number; a negative date, or one past Go's int64 seconds, is refused."""
    out = dict(claims)
    for name in TIME_CLAIMS:
        value = out.get(name)
        if isinstance(value, str) and _DECIMAL.fullmatch(value):
            if len(value.partition(".")[0].lstrip("0")) > 19:  # past 2^63 (and int()'s 4,300-digit limit)
                raise AuxDataError(field, f"invalid claim {name!r}")
            value = out[name] = float(value) if "." in value else int(value)
        if isinstance(value, int | float) and not isinstance(value, bool) and not 0 <= value < 2**63:
            raise AuxDataError(field, f"invalid claim {name!r}")
    return out


class _KeyChoiceError(JoseError):
    error = "key_choice"


def _algorithms(key_set: _KeySet) -> list[str]:
    algs: set[str] = set()
    for key in key_set.keys:
        alg = key.get("alg")
        algs.update([alg] if alg else _ALGS_BY_KTY.get(key.key_type, ()))
    return sorted(algs)


def _choose_key(key_set: _KeySet, guest: GuestProtocol) -> RSAKey | ECKey | OKPKey:
    headers = guest.headers()
    kid, alg = headers.get("kid"), headers.get("alg")
    candidates = key_set.keys
    if kid:
        candidates = [k for k in candidates if k.get("kid") == kid]
    elif not key_set.optional_kid:
        raise _KeyChoiceError("failed to parse JWT: the token header has no key ID (kid)")
    for key in candidates:
        key_alg = key.get("alg")
        if key_alg == alg or (not key_alg and alg in _ALGS_BY_KTY.get(key.key_type, ())):
            return key
    raise _KeyChoiceError(f"failed to parse JWT: no key in the key set matches kid {kid!r} and alg {alg!r}")
