"""`GET /metrics`: decisions by effect and resource kind, request counts and latency by endpoint."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.server.support import STORE, ThreadServer

PRINCIPAL = {
    "id": "john",
    "roles": ["employee"],
    "attr": {"department": "marketing", "geography": "GB", "team": "design", "ip_address": "10.20.1.2"},
}
LEAVE = {
    "kind": "leave_request",
    "id": "XX125",
    "policyVersion": "20210210",
    "attr": {"department": "marketing", "geography": "GB", "id": "XX125", "owner": "john", "team": "design"},
}


@pytest.fixture(scope="module")
def server():
    with ThreadServer(STORE) as srv:
        yield srv


def _metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample, 0 when the series does not exist yet."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        found = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if found and ",".join(sorted(found.group(1).split(","))) == wanted:
            return float(found.group(2))
    return 0.0


def test_decisions_are_counted_by_effect_and_kind(server):
    before = httpx.get(f"{server.url}/metrics").text
    body = {
        "principal": PRINCIPAL,
        "resources": [
            {"actions": ["view:public", "approve", "create"], "resource": LEAVE},
            {"actions": ["view"], "resource": {"kind": "nope", "id": "1"}},
        ],
    }
    answer = httpx.post(f"{server.url}/api/check/resources", json=body).json()
    effects = [e for r in answer["results"] for e in r["actions"].values()]
    after = httpx.get(f"{server.url}/metrics").text
    for kind, result in (("leave_request", answer["results"][0]), ("nope", answer["results"][1])):
        for effect in ("EFFECT_ALLOW", "EFFECT_DENY"):
            want = sum(1 for e in result["actions"].values() if e == effect)
            labels = {"effect": effect, "kind": kind}
            delta = _metric(after, "chamberlain_decisions_total", **labels) - _metric(
                before, "chamberlain_decisions_total", **labels
            )
            assert delta == want, (kind, effect)
    assert "EFFECT_ALLOW" in effects and "EFFECT_DENY" in effects


def test_requests_and_latency_by_endpoint(server):
    before = httpx.get(f"{server.url}/metrics").text
    httpx.post(f"{server.url}/api/check/resources", content=b"{not json")
    httpx.get(f"{server.url}/_cerbos/health")
    after = httpx.get(f"{server.url}/metrics").text
    labels = {"endpoint": "check_resources", "code": "400"}
    assert _metric(after, "chamberlain_http_requests_total", **labels) == (
        _metric(before, "chamberlain_http_requests_total", **labels) + 1
    )
    count = "chamberlain_request_duration_seconds_count"
    assert _metric(after, count, endpoint="health") == _metric(before, count, endpoint="health") + 1
    assert 'chamberlain_request_duration_seconds_bucket{endpoint="health",le="0.001"}' in after
