"""An agent cannot flood the approvers' inbox: new requests per agent are limited (chamberlain.approvals.requestLimit)."""

from __future__ import annotations

import sqlite3

import pytest

from chamberlain import PDP, Principal, Resource
from chamberlain.approvals import ApprovalStore
from chamberlain.approvals.errors import InvalidApproval
from chamberlain.approvals.settings import RequestLimit, parse_settings
from chamberlain.store.sqlite import APPLICATION_ID

AGENT = Principal("agent-7", ["agent"])


def _asked(pdp: PDP, amount: int, principal: Principal = AGENT, chain: tuple[str, ...] = ()) -> dict:
    result = pdp.check(
        principal, Resource("payment", "p1", {"amount": amount, "payee": "acme"}), ["pay"], actor_chain=chain
    )
    (entry,) = [o for o in result[0].outputs if o.src.endswith("#big-payments-need-approval")]
    assert result[0].actions["pay"].effect == "EFFECT_DENY"
    return entry.val["approval"]


@pytest.fixture
def limited(policies, store_url, clock):
    store = ApprovalStore.open(store_url, clock=clock, request_limit=RequestLimit(3, 600))
    pdp = PDP.from_directory(policies)
    pdp.use_approvals(store)
    yield pdp
    store.close()


def test_past_the_limit_no_request_is_opened_and_the_output_says_why(limited, clock):
    ids = [_asked(limited, 2000 + i)["id"] for i in range(3)]
    assert len(set(ids)) == 3
    assert _asked(limited, 2000)["id"] == ids[0]  # the live request again: not a new one
    refused = _asked(limited, 5000)
    assert refused["state"] == "LIMITED" and "id" not in refused
    assert refused["error"] == (
        "'agent-7' has opened 3 approval requests in the last 600s, the most "
        "chamberlain.approvals.requestLimit allows: no new request until older ones "
        "leave that window"
    )
    assert _asked(limited, 5000, Principal("agent-8", ["agent"]))["state"] == "PENDING"  # another agent
    clock.advance(601)
    assert _asked(limited, 5000)["state"] == "PENDING"


def test_a_delegated_check_counts_against_the_acting_agent_not_the_person(limited):
    alice = Principal("alice", ["agent"])
    for i in range(3):
        assert _asked(limited, 2000 + i, alice, ("agent-7",))["state"] == "PENDING"
    assert _asked(limited, 9000, alice, ("agent-7",))["state"] == "LIMITED"
    assert _asked(limited, 9000, alice, ("agent-9",))["state"] == "PENDING"


def test_a_store_from_the_first_release_gains_the_new_columns(tmp_path, clock):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the table as the first release created it
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("""CREATE TABLE chamberlain_approvals (id TEXT PRIMARY KEY, digest TEXT NOT NULL,
        state TEXT NOT NULL, rule TEXT NOT NULL, policy_hash TEXT NOT NULL, action TEXT NOT NULL,
        approvers TEXT NOT NULL, quorum INTEGER NOT NULL, ttl DOUBLE PRECISION NOT NULL, reason TEXT NOT NULL,
        session_id TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL,
        decisions TEXT NOT NULL, use_by DOUBLE PRECISION, used_at DOUBLE PRECISION)""")
    for _ in range(2):  # opening twice: the column is added once
        ApprovalStore.open(f"sqlite:///{path}", clock=clock).close()
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(chamberlain_approvals)")]
    assert {"requester", "outcome", "outcome_detail", "outcome_at"} <= set(columns)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"requestLimit": {"max": 0}}, r"requestLimit\.max: expected an integer between 1 and 100000, got 0"),
        ({"requestLimit": {"max": 5, "per": "soon"}}, r"requestLimit\.per: "),
        ({"requestLimit": {"burst": 5}}, r"requestLimit\.burst: unknown key \(allowed: max, per\)"),
        ({"requestLimit": 5}, r"requestLimit: expected a map"),
    ],
)
def test_a_malformed_limit_is_refused_naming_the_key(section, message):
    with pytest.raises(InvalidApproval, match=message):
        parse_settings(section)


def test_the_default_limit():
    assert parse_settings(None).request_limit == RequestLimit(30, 3600.0)
    assert parse_settings({"requestLimit": {"max": 5}}).request_limit == RequestLimit(5, 3600.0)
