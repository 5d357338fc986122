"""Two replicas on one PostgreSQL share approvals: approved through one, used on the other; of concurrent
retries spread over both, exactly one is allowed."""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.approvals.test_http import asked, decide, effect, pay, person, why
from tests.audit.support import fresh_schema_url
from tests.delegation.support import IdentityProvider
from tests.server.support import ADMIN_AUTH, ThreadServer, admin_on
from tests.server.test_admin import trusting


@pytest.fixture
def replicas(policies, tmp_path):
    idp = IdentityProvider("https://people.example")
    urls = fresh_schema_url()
    pg_url = next(urls)
    overrides = {
        "server": admin_on(),
        "chamberlain": {
            "delegation": trusting(tmp_path, idp),
            "admin": {"maxFailedLogins": 1000},
            "audit": {"db": pg_url, "signingKeyFile": str(tmp_path / "log.key")},
        },
    }
    with contextlib.ExitStack() as stack:
        yield idp, [stack.enter_context(ThreadServer(policies, overrides)) for _ in range(2)]
    with contextlib.suppress(StopIteration):
        next(urls)


def test_approved_on_one_replica_used_once_on_the_other(replicas):
    idp, (one, two) = replicas
    approval_id = asked(pay(one, 5000))["id"]
    assert asked(pay(two, 5000))["id"] == approval_id  # one request per action, whichever replica
    assert decide(one, approval_id, "approve", person(idp, "bob", "finance_manager")).status_code == 200
    assert effect(pay(two, 5000, approval_id)) == "EFFECT_ALLOW"
    replay = pay(one, 5000, approval_id)
    assert effect(replay) == "EFFECT_DENY" and "USED" in why(replay, "state")
    shown = httpx.get(f"{one.url}/api/approvals/{approval_id}", auth=ADMIN_AUTH, timeout=30).json()
    assert shown["state"] == "USED"


def test_concurrent_retries_on_both_replicas_spend_it_once(replicas):
    idp, servers = replicas
    approval_id = asked(pay(servers[0], 7000))["id"]
    assert (
        decide(servers[1], approval_id, "approve", person(idp, "bob", "finance_manager")).status_code == 200
    )
    with ThreadPoolExecutor(8) as pool:
        effects = list(pool.map(lambda i: effect(pay(servers[i % 2], 7000, approval_id)), range(16)))
    assert effects.count("EFFECT_ALLOW") == 1 and effects.count("EFFECT_DENY") == 15
