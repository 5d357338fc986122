"""Benchmark the admin surface's sign-in: a cached basic-auth credential against bcrypt itself (the peer:
what every call would cost without the cache), and a people's JWT (RS256) verification.

Run: ``python bench/admin_bench.py [--cost 10] [--calls 20000]`` (``make bench``).

The cached path is what a repeated admin call costs: parse the header, one HMAC-SHA256, a dictionary
lookup under a lock, on the event loop. bcrypt runs on its own threads only on a cache miss.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time

import bcrypt
import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import rsa

from chamberlain.delegation.config import DelegationConfig
from chamberlain.delegation.trust import TrustedIssuer, parse_jwks
from chamberlain.server.admin.auth import BasicAuth, bearer_caller
from chamberlain.server.admin.settings import AdminConfig


def _per_call(fn, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--cost", type=int, default=10, help="bcrypt cost of the operator's hash (Cerbos's default: 10)"
    )
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    password = b"correct-horse"
    settings = AdminConfig(
        enabled=True, username="operator", password_hash=bcrypt.hashpw(password, bcrypt.gensalt(args.cost))
    )
    basic = BasicAuth(settings, lambda *_: None)
    header = base64.b64encode(b"operator:" + password).decode()

    async def signed_in_again() -> float:
        await basic.authenticate(header, "bench")  # verified once: now cached
        started = time.perf_counter()
        for _ in range(args.calls):
            await basic.authenticate(header, "bench")
        return (time.perf_counter() - started) / args.calls

    cached = asyncio.run(signed_in_again())
    rounds = max(3, 30 >> max(0, args.cost - 8))
    raw = _per_call(lambda: bcrypt.checkpw(password, settings.password_hash), rounds)
    basic.close()

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    issuer = TrustedIssuer(
        "https://idp.example",
        "https://pdp.example",
        parse_jwks({"keys": [{**jwk, "kid": "k"}]}, "bench"),
        "bench",
    )
    delegation = DelegationConfig(
        "https://pdp.example", (issuer,), None, "EdDSA", 3, 900, None, None, (), 0.0
    )  # type: ignore[arg-type]
    now = int(time.time())
    token = pyjwt.encode(
        {
            "iss": issuer.issuer,
            "sub": "carol",
            "aud": issuer.audience,
            "exp": now + 600,
            "roles": ["auditor"],
        },
        key,
        algorithm="RS256",
        headers={"kid": "k"},
    )
    jwt_cost = _per_call(lambda: bearer_caller(token, delegation, settings, time.time()), args.calls // 10)

    print(f"{'sign-in':<36} {'per call':>12} {'vs cached basic':>16}")
    for name, seconds in (
        ("basic, cached (HMAC + lookup)", cached),
        (f"bcrypt cost {args.cost} (the peer)", raw),
        ("bearer JWT RS256 (people)", jwt_cost),
    ):
        print(f"{name:<36} {seconds * 1e6:>10.1f} µs {seconds / cached:>15.0f}x")


if __name__ == "__main__":
    main()
