"""Benchmark delegation: token exchanges per second, and what a check pays for a delegation token.

Run: ``python bench/delegation_bench.py`` (``make bench``). The setup is the tests' (tests/delegation/):
the example policies, an IdP signing RS256 with PyJWT, the agents registry. Measured, each as the
best of several calibrated loops:

- exchanges per second, in process (``TokenService.exchange``: verify the subject and actor tokens,
  decide the exchange policy, sign) and over HTTP on loopback (uvicorn, one httpx connection), for
  the first hop (a person's RS256 token) and the second (chamberlain's EdDSA token);
- per check: PyJWT's bare EdDSA signature verification of the delegation token (the ceiling: no
  claims, no chain), joserfc's bare verification (what chamberlain builds on), chamberlain's token
  verification (signature, times, RFC 9068 shape, chain), the whole attenuated check (verification
  plus the subject's and both actors' decisions), and a plain check of the same request for scale.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.delegation.support
sys.path.insert(0, str(Path(__file__).resolve().parent))  # engine_bench.time_per_call

import httpx
import jwt as pyjwt
from joserfc import jwt as jose_jwt
from tests.delegation.support import PAYMENTS, IdentityProvider, form, policy_folder, serve, settings

from chamberlain import PDP, Principal, Resource
from chamberlain.delegation import TokenService, create_app, parse_config
from engine_bench import time_per_call

ALICE = Principal("alice", ["finance_clerk"])
PAYMENT = Resource("payment", "pay-1", {"amount": 800})


def table(title: str, rows: list[tuple[str, float]], unit: str, ceiling: float | None = None) -> None:
    print(f"\n{title}")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        ratio = f"  {value / ceiling:6.1f}x the ceiling" if ceiling else ""
        print(f"  {name.ljust(width)}  {value:10.1f} {unit}{ratio}")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="delegation-bench-") as name:
        tmp = Path(name)
        idp = IdentityProvider()
        config = parse_config(settings(tmp, idp), state_dir=tmp / "state", base_url="http://bench.example")
        pdp = PDP.from_directory(policy_folder(tmp))
        service = TokenService(config, pdp)
        person = idp.token(
            "alice", roles=["finance_clerk"], scope="payments:write payments:read", lifetime=3600
        )
        planner, tool = idp.token("planner-agent", lifetime=3600), idp.token("tool-agent", lifetime=3600)
        hop1 = form(person, planner, "tool-agent", "payments:write payments:read")
        first = service.exchange(hop1)["access_token"]
        hop2 = form(first, tool, PAYMENTS, "payments:write")
        token = service.exchange(hop2)["access_token"]
        assert service.check(ALICE, [(PAYMENT, ["pay"])], token=token).is_allowed("pay")

        in_process = [
            (f"hop {i} in process", 1 / time_per_call(lambda f=f: service.exchange(f)))
            for i, f in ((1, hop1), (2, hop2))
        ]
        with serve(create_app(service)) as url, httpx.Client(base_url=url) as client:

            def over_http(params: dict[str, list[str]]) -> Any:
                response = client.post("/oauth2/token", data=params)
                assert response.status_code == 200, response.text
                return response

            http = [
                (f"hop {i} over HTTP", 1 / time_per_call(lambda f=f: over_http(f)))
                for i, f in ((1, hop1), (2, hop2))
            ]
        table("token exchanges", in_process + http, "exchanges/s")

        public = pyjwt.PyJWK(service.jwks()["keys"][0]).key
        own_key = service.keys.current.key
        ceiling = time_per_call(
            lambda: pyjwt.decode(token, public, algorithms=["EdDSA"], options={"verify_aud": False})
        )
        rows = [
            ("PyJWT bare signature verification (ceiling)", ceiling),
            (
                "joserfc bare signature verification",
                time_per_call(lambda: jose_jwt.decode(token, own_key, algorithms=["EdDSA"])),
            ),
            (
                "chamberlain token verification",
                time_per_call(lambda: service.verify(token, audience=PAYMENTS)),
            ),
            (
                "attenuated check (verify + 3 decisions)",
                time_per_call(lambda: service.check(ALICE, [(PAYMENT, ["pay"])], token=token)),
            ),
            (
                "plain check, no delegation (1 decision)",
                time_per_call(lambda: pdp.check(ALICE, PAYMENT, ["pay"])),
            ),
        ]
        table("per check (µs)", [(n, s * 1e6) for n, s in rows], "µs", ceiling * 1e6)
        check = rows[3][1]
        print(
            f"\nthe attenuated check costs {check / ceiling:.1f}x a bare signature verification; "
            f"verification is {rows[2][1] / check:.0%} of it (measured {time.strftime('%Y-%m-%d')})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
