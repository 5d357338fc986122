"""Added latency of a proxy check: nginx → chamberlain (auth_request) → upstream, against nginx → upstream alone.

Run: ``python bench/proxy_bench.py [--requests N]``. One nginx (Debian's) serves both: the server block of
docs/guides/proxies.md (every request checked by a real ``chamberlain serve``, with its decision log in
``sync`` durability and the token's session charged: the default, durable path) and a second server block
that proxies to the same upstream without a check. Requests alternate between the two on keep-alive
connections, so both see the same machine; the table shows p50 and p99 of each and the difference (the
latency chamberlain adds). The request is an allowed delegated payment (a two-agent chain, attenuated).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.*: the same real parts the proxy tests run

from tests.delegation.support import IdentityProvider, settings  # noqa: E402
from tests.gateways.proxy.real_proxies import Upstream, chamberlain_config, nginx  # noqa: E402
from tests.gateways.proxy.support import chain_tokens, policies  # noqa: E402
from tests.server.support import serve_process  # noqa: E402
from tests.support.cerbos_server import free_port  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="proxy-bench-") as name:
        tmp = Path(name)
        idp = IdentityProvider()
        scopes = {"payment": {"pay": "payments:write", "*": "payments:read"}}
        config = chamberlain_config(tmp, settings(tmp, idp, scopeMapping=scopes))
        plain = f"127.0.0.1:{free_port()}"
        with Upstream() as upstream:
            extra = f"server {{ listen {plain}; location / {{ proxy_pass http://{upstream.address}; }} }}\n"
            with (
                serve_process("--config", str(config), "--policies", str(policies(tmp))) as (_, chamberlain),
                nginx(tmp, chamberlain.removeprefix("http://"), upstream.address, extra) as checked,
            ):
                token = chain_tokens(chamberlain, idp)[1]
                headers = {"authorization": f"Bearer {token}"}
                path = "/payments/p1/pay?amount=50"
                times: dict[str, list[float]] = {"nginx → chamberlain → upstream": [], "nginx → upstream": []}
                with httpx.Client(timeout=10) as client:
                    for _ in range(50):  # warm up both paths
                        assert client.post(checked + path, headers=headers).status_code == 200
                        assert client.post(f"http://{plain}{path}", headers=headers).status_code == 200
                    for _ in range(args.requests):
                        for label, base in zip(times, (checked, f"http://{plain}"), strict=True):
                            started = time.perf_counter()
                            reply = client.post(base + path, headers=headers)
                            times[label].append((time.perf_counter() - started) * 1000)
                            assert reply.status_code == 200, reply.text
    print(f"{args.requests} requests each, sequential, keep-alive (ms)")
    print(f"{'path':34} {'p50':>8} {'p99':>8} {'mean':>8}")
    for label, values in times.items():
        print(
            f"{label:34} {percentile(values, 50):8.3f} {percentile(values, 99):8.3f} {statistics.mean(values):8.3f}"
        )
    checked_t, plain_t = times.values()
    print(
        f"{'added by chamberlain':34} {percentile(checked_t, 50) - percentile(plain_t, 50):8.3f} "
        f"{percentile(checked_t, 99) - percentile(plain_t, 99):8.3f} "
        f"{statistics.mean(checked_t) - statistics.mean(plain_t):8.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
