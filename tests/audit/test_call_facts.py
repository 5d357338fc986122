"""A check's record built from its plain data (``Call.describe``), as a writer process builds it: the same
bytes as built in the serving process, through pickle; limits and redaction applied in the writer process;
a call whose data pickle cannot carry prepared in the serving process instead."""

from __future__ import annotations

import pickle
import sqlite3
import sys

import orjson
import pytest

from chamberlain import PDP, Principal, Resource
from chamberlain.audit import Filter
from chamberlain.audit.log import PROCESS, DecisionLog, LogOptions
from chamberlain.audit.write import decisions
from chamberlain.audit.write.content import Limits
from chamberlain.audit.write.decisions import Call, Facts
from chamberlain.audit.write.process import from_wire, plain_pickle, to_wire
from chamberlain.engine.request import AuxData, CheckInput
from tests.audit.support import verified_size

ALICE = Principal("alice", roles={"user"}, attr={"level": 3, "team": {"name": "blue"}})
BOB = Principal("bob", roles={"user", "admin"}, attr={"level": 9})
DOCS = [
    Resource("document", "d1", attr={"owner": "alice", "status": "draft"}),
    Resource("document", "d2", attr={"owner": "bob", "status": "published", "tags": ["a", "b"]}),
    Resource("document", "d3", attr={"owner": "carol", "status": "draft"}, policy_version="default"),
]


@pytest.fixture
def fixed_salts(monkeypatch):
    """Salts that are the same in every build, so two builds of one call can be compared byte for byte."""
    monkeypatch.setattr(decisions, "salts", lambda n: [bytes([i]) * 16 for i in range(n)])


def _call(pdp: PDP, *, extra=None, context=None) -> Call:
    """A call of three resources: the first two share ALICE and her auxiliary data, the third is BOB's
    with claims of its own, and ids and chains differ between them."""
    claims = AuxData(jwt={"sub": "bob", "scope": ["read"]})
    inputs = [
        CheckInput(
            ALICE, DOCS[0], ("edit", "view"), request_id="r-1", session_id="s-1", actor_chain=("agent",)
        ),
        CheckInput(
            ALICE, DOCS[1], ("view", "delete"), request_id="r-1", session_id="s-1", actor_chain=("agent",)
        ),
        CheckInput(BOB, DOCS[2], ("view",), aux_data=claims, request_id="r-2", approval_id="ap-1"),
    ]
    outputs = pdp.engine.check(inputs)
    return Call(
        inputs,
        outputs,
        when=1_800_000_000_123_456_789,
        call_id="c-1",
        point="test",
        extra=extra,
        context=context,
    )


def _rows(prepared) -> tuple:
    r = prepared.request
    return (r.key, r.salt, r.body), [
        (e.public, e.content, e.salt, e.digest, e.cols, e.request) for e in prepared.entries
    ]


@pytest.mark.parametrize(
    ("extra", "context"),
    [
        (None, None),
        ({"mcp": {"tool": "search"}}, {"delegation": {"actors": ["a", "b"]}}),
        ({"principal": "x"}, None),
    ],
)
def test_a_described_call_crosses_pickle_and_builds_the_same_bytes(policies, fixed_salts, extra, context):
    with PDP.from_directory(policies) as pdp:
        call = _call(pdp, extra=extra, context=context)
    limits = Limits(redact=("R.attr.owner", "P.attr.team.name"))
    crossed = from_wire(pickle.loads(pickle.dumps(to_wire(call, limits), pickle.HIGHEST_PROTOCOL)))
    assert isinstance(crossed, Facts) and len(crossed) == len(call) == 5
    here, there = _rows(call.prepare(limits)), _rows(crossed.prepare(limits))
    assert here == there
    record = orjson.loads(there[0][2])
    # shared principals and auxiliary data stay shared through pickle: only BOB's resource names its own
    assert ["principal" in r for r in record["resources"]] == [False, False, True]
    assert ["auxData" in r for r in record["resources"]] == [False, False, True]
    assert record["resources"][2]["auxData"]["jwt"] == {"sub": "bob", "scope": ["read"]}
    assert "actorChain" not in record["resources"][1] and record["resources"][2]["actorChain"] == []
    assert record["resources"][2]["approvalId"] == "ap-1" and record["resources"][2]["requestId"] == "r-2"
    assert record["redacted"] == ["P.attr.team.name", "R.attr.owner"]
    assert "alice" not in there[0][2].decode().split('"owner"')[1][:80]  # the owner is a digest


def test_a_writer_process_applies_the_logs_limits_and_redaction(policies, tmp_path):
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    options = LogOptions(
        writer=PROCESS, key_file=tmp_path / "log.key", redact=("R.attr.owner",), max_request_bytes=1024
    )
    log = DecisionLog.open(url, options)
    big = Resource("document", "d9", attr={"owner": "alice", "status": "draft", "notes": "x" * 2000})
    with PDP.from_directory(policies, audit=log) as pdp:
        assert pdp.check(ALICE, DOCS[0], ["view"]).is_allowed("view")
        # the request record is over maxRequestBytes: found in the writer process, the check is denied
        denied = pdp.check(ALICE, big, ["view"])
        entries = pdp.log.read(lambda r: r.search(Filter(limit=10)))
    log.close()
    assert not denied.is_allowed("view")
    assert denied.outputs[0].actions["view"].policy == "chamberlain.decision_log_unavailable"
    assert "chamberlain.audit.maxRequestBytes" in denied.log_error
    assert [e["resource"]["id"] for e in entries] == ["d1"]
    with sqlite3.connect(tmp_path / "decisions.db") as db:
        (body,) = db.execute("SELECT body FROM audit_requests").fetchone()
    record = orjson.loads(body)
    assert record["redacted"] == ["R.attr.owner"]
    assert record["resources"][0]["resource"]["attr"]["owner"] != "alice"
    assert verified_size(url) == 1


def test_a_call_pickle_cannot_carry_is_prepared_in_the_serving_process(policies, tmp_path):
    Unreachable = type("Unreachable", (dict,), {})  # no importable name: pickle refuses it
    odd = Principal("alice", roles={"user"}, attr={"level": 3, "extra": Unreachable(depth=1)})
    with pytest.raises(pickle.PicklingError):
        pickle.dumps(Unreachable(depth=1))
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    log = DecisionLog.open(url, LogOptions(writer=PROCESS, key_file=tmp_path / "log.key"))
    with PDP.from_directory(policies, audit=log) as pdp:
        assert pdp.check(odd, DOCS[0], ["edit", "view"]).is_allowed("view")
        assert pdp.check(ALICE, DOCS[0], ["view"]).is_allowed("view")  # an ordinary call after it, by Facts
        entries = pdp.log.read(lambda r: r.search(Filter(limit=10)))
    log.close()
    assert [e["action"] for e in entries] == ["edit", "view", "view"]
    assert verified_size(url) == 3


def test_a_call_holding_objects_of_the_callers_own_types_is_prepared_here(policies, tmp_path, monkeypatch):
    """An object of a class the writer process cannot import (defined in ``__main__`` here) would pickle in
    this process and fail to unpickle there, failing the whole batch: only plain data crosses, so such a
    call is prepared in this process and recorded like the others."""
    main = sys.modules["__main__"]
    elsewhere = type("Elsewhere", (dict,), {"__module__": "__main__"})
    monkeypatch.setattr(main, "Elsewhere", elsewhere, raising=False)
    pickle.loads(pickle.dumps(elsewhere(a=1)))  # pickle itself carries it here: the child could not
    with pytest.raises(pickle.PicklingError, match="not plain data for the writer process: Elsewhere"):
        plain_pickle({"attr": elsewhere(a=1)})
    odd = Principal("alice", roles={"user"}, attr={"level": 3, "team": elsewhere(name="blue")})
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    log = DecisionLog.open(url, LogOptions(writer=PROCESS, key_file=tmp_path / "log.key"))
    with PDP.from_directory(policies, audit=log) as pdp:
        assert pdp.check(odd, DOCS[0], ["view"]).is_allowed("view")
        assert pdp.check(ALICE, DOCS[0], ["view"]).is_allowed("view")
        assert log.writer.stats.write_errors == 0 and log.writer.down_since is None
    log.close()
    with sqlite3.connect(tmp_path / "decisions.db") as db:
        bodies = [orjson.loads(b) for (b,) in db.execute("SELECT body FROM audit_requests")]
    assert sorted(b["principal"]["attr"]["team"]["name"] for b in bodies) == ["blue", "blue"]
    assert verified_size(url) == 2


def test_an_input_after_another_principals_is_the_first_principals_again(policies, fixed_salts):
    """Resources of ALICE, BOB, ALICE: only BOB's names its own principal in the record, and each entry
    names the principal of its own resource."""
    with PDP.from_directory(policies) as pdp:
        inputs = [
            CheckInput(ALICE, DOCS[0], ("view",)),
            CheckInput(BOB, DOCS[1], ("view",), aux_data=AuxData(jwt={"sub": "bob"})),
            CheckInput(ALICE, DOCS[2], ("view",)),
        ]
        call = Call(inputs, pdp.engine.check(inputs), when=1, call_id="c-2", point="test")
    prepared = call.prepare(Limits())
    record = orjson.loads(prepared.request.body)
    assert ["principal" in r for r in record["resources"]] == [False, True, False]
    assert ["auxData" in r for r in record["resources"]] == [False, True, False]
    assert [orjson.loads(e.content)["principal"] for e in prepared.entries] == ["alice", "bob", "alice"]
    assert _rows(prepared) == _rows(pickle.loads(pickle.dumps(call.describe())).prepare(Limits()))
