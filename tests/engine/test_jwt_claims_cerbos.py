"""JWT claims read by conditions as the real Cerbos reads them (``auxData.jwt.disableVerification``).

Cerbos hands a token's registered claims over as its JWT library parses them: ``aud`` is always a
list (``"orders-api" in request.auxData.jwt.aud`` holds for ``"aud": "orders-api"``), ``exp``,
``iat`` and ``nbf`` are RFC 3339 strings to the second (``timestamp(request.auxData.jwt.exp)``), a
decimal string date is its number, a negative date is refused, a null ``iss``, ``sub`` or ``jti``
is ``""`` and another null claim is left out (nulls inside a claim's value stay). Each token below
is checked by a Cerbos server and by ``PDP.from_config`` on the same configuration; the whole
responses must agree (and a token one refuses, the other refuses).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from chamberlain.pdp import PDP, InvalidRequest, RequestError
from tests.support.cerbos_requests import normalise_response
from tests.support.cerbos_server import CerbosServer

pytest_plugins = ["tests.support.fixtures"]

SET = Path(__file__).with_name("jwt_claims")
AUX_DATA = {"jwt": {"disableVerification": True}}
NOW = int(time.time())
TOKENS: dict[str, dict[str, Any]] = {
    "single_audience": {"sub": "u1", "aud": "orders-api", "exp": NOW + 3600, "iat": NOW - 60},
    "audience_list": {"sub": "u1", "aud": ["web", "orders-api"], "exp": NOW + 3600, "iat": NOW - 3600},
    "other_audience": {"sub": "u2", "aud": "web", "exp": NOW + 60, "nbf": NOW - 60},
    "fractional_dates": {"sub": "u3", "aud": "orders-api", "exp": NOW + 3600.75, "iat": NOW - 0.5},
    "far_future": {"sub": "u4", "aud": [], "exp": 253402300800, "iat": 0, "n": 3},
    "decimal_string_dates": {"aud": "orders-api", "exp": str(NOW + 3600), "iat": f"{NOW - 30}.25"},
    "no_dates": {"sub": "svc", "aud": ["orders-api"], "n": 2.5, "scope": "orders:write"},
    "expired": {"sub": "u5", "aud": "orders-api", "exp": NOW - 3600},
    "not_yet_valid": {"sub": "u6", "nbf": NOW + 3600},
    "negative_iat": {"sub": "u7", "iat": -1},
    "date_past_int64": {"sub": "u8", "exp": 1e19},
    "boolean_exp": {"sub": "u9", "exp": True},
    "null_string_claims": {"iss": None, "sub": None, "jti": None, "aud": "orders-api", "exp": NOW + 60},
    "null_private_claims": {"sub": "u10", "scope": None, "o": {"a": None}, "l": [None], "exp": NOW + 60},
    "null_audience": {"sub": "u11", "aud": None, "exp": NOW + 60},
}


def _token(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.c2ln"


@pytest.fixture(scope="module")
def both(cerbos_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, PDP]]:
    config = tmp_path_factory.mktemp("jwt") / "config.yaml"
    config.write_text(
        yaml.safe_dump({"storage": {"driver": "disk", "disk": {"directory": str(SET)}}, "auxData": AUX_DATA})
    )
    with CerbosServer(cerbos_binary, SET, aux_data=AUX_DATA) as server:
        yield server.url, PDP.from_config(config, audit=None, sessions=None)


@pytest.mark.parametrize("name", sorted(TOKENS))
def test_claims_read_as_cerbos_reads_them(name: str, both: tuple[str, PDP]) -> None:
    url, pdp = both
    request = {
        "requestId": name,
        "includeMeta": True,
        "principal": {"id": "caller", "roles": ["user"]},
        "auxData": {"jwt": {"token": _token(TOKENS[name])}},
        "resources": [
            {"actions": ["call", "refund", "claims", "types"], "resource": {"kind": "api", "id": "orders"}}
        ],
    }
    reply = httpx.post(url + "/api/check/resources", json=request, timeout=30)
    try:
        ours = pdp.check_resources(json.loads(json.dumps(request)))
    except (InvalidRequest, RequestError) as exc:
        assert reply.status_code == 400, f"chamberlain refuses ({exc}), Cerbos answers {reply.text}"
        return
    assert reply.status_code == 200, f"Cerbos refuses ({reply.text}), chamberlain answers {ours}"
    assert normalise_response(ours) == normalise_response(reply.json())
