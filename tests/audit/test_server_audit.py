"""The decision log in the server: checks recorded, the HTTP API, bad input, failures, the event loop."""

from __future__ import annotations

import os
import sqlite3
import threading

import httpx
import pytest

from chamberlain.audit.tlog.merkle import leaf_hash, verify_consistency, verify_inclusion
from chamberlain.audit.tlog.note import Verifier, open_checkpoint
from chamberlain.server.config import ConfigError, load_config
from tests.server.support import ADMIN_AUTH, ThreadServer, admin_on

CHECK = {
    "requestId": "r-1",
    "principal": {"id": "alice", "roles": ["user"], "attr": {"level": 3}},
    "resources": [
        {
            "actions": ["edit", "view"],
            "resource": {"kind": "document", "id": "d1", "attr": {"owner": "alice", "status": "draft"}},
        }
    ],
}
EVALUATION = {
    "subject": {"type": "user", "id": "bob"},
    "action": {"name": "view"},
    "resource": {"type": "document", "id": "d2", "properties": {"owner": "x"}},
}


@pytest.fixture
def server(policies):
    with ThreadServer(policies, {"server": admin_on()}) as s:
        yield s


def test_checks_are_recorded_and_served_back(server):
    assert httpx.post(f"{server.url}/api/check/resources", json=CHECK).json()["results"][0]["actions"] == {
        "edit": "EFFECT_ALLOW",
        "view": "EFFECT_ALLOW",
    }
    assert httpx.post(f"{server.url}/access/v1/evaluation", json=EVALUATION).json() == {"decision": True}
    page = httpx.get(f"{server.url}/api/audit/entries", params={"limit": 2}, auth=ADMIN_AUTH).json()
    assert [e["action"] for e in page["entries"]] == ["edit", "view"] and page["next_cursor"]
    rest = httpx.get(
        f"{server.url}/api/audit/entries", params={"cursor": page["next_cursor"]}, auth=ADMIN_AUTH
    ).json()
    # then the two admin calls themselves, each recorded before it read the log
    assert [(e["point"], e["principal"]["id"]) for e in rest["entries"]] == [
        ("http:authzen", "bob"),
        ("admin", "operator"),
        ("admin", "operator"),
    ]
    assert rest["next_cursor"] is None
    assert page["entries"][0]["point"] == "http:cerbos" and page["entries"][0]["request_id"] == "r-1"


def test_head_and_proofs_verify_independently(server):
    for i in range(5):
        httpx.post(f"{server.url}/api/check/resources", json={**CHECK, "requestId": f"r-{i}"})
    head = httpx.get(f"{server.url}/api/audit/head").json()
    assert set(head) == {"checkpoint", "verifier_key", "tree_size", "root_hash"}
    assert head["tree_size"] == 10  # signed on demand: covers every entry
    checkpoint = open_checkpoint(head["checkpoint"], Verifier.parse(head["verifier_key"]))
    assert checkpoint.root.hex() == head["root_hash"]
    proof = httpx.get(f"{server.url}/api/audit/proof/inclusion", params={"index": 6}).json()
    assert set(proof) == {"leaf_index", "tree_size", "leaf_hash", "root_hash", "audit_path"}
    verify_inclusion(
        6,
        10,
        bytes.fromhex(proof["leaf_hash"]),
        [bytes.fromhex(h) for h in proof["audit_path"]],
        checkpoint.root,
    )
    httpx.post(f"{server.url}/api/check/resources", json=CHECK)
    newer = httpx.get(f"{server.url}/api/audit/head").json()
    consistency = httpx.get(
        f"{server.url}/api/audit/proof/consistency", params={"first": 10, "second": 12}
    ).json()
    assert set(consistency) == {"first", "second", "consistency_path"}
    verify_consistency(
        10,
        12,
        checkpoint.root,
        bytes.fromhex(newer["root_hash"]),
        [bytes.fromhex(h) for h in consistency["consistency_path"]],
    )
    entry = httpx.get(
        f"{server.url}/api/audit/entries",
        params={"resource_kind": "document", "limit": 1000},
        auth=ADMIN_AUTH,
    ).json()["entries"][6]
    assert entry["seq"] == 6  # and its canonical form hashes to the proven leaf
    from chamberlain.audit.write.canonical import canonical

    assert leaf_hash(canonical(entry["leaf"])).hex() == proof["leaf_hash"]


@pytest.mark.parametrize(
    ("path", "status", "needle"),
    [
        ("/api/audit/entries?limit=0", 400, "'limit' must be an integer from 1 to 1000, got 0"),
        ("/api/audit/entries?limit=x", 400, "must be an integer"),
        ("/api/audit/entries?effect=maybe", 400, "effect must be allow, deny"),
        ("/api/audit/entries?since=noon", 400, "not an RFC 3339 time"),
        ("/api/audit/entries?sesion_id=s", 400, "unknown query parameter 'sesion_id'"),
        ("/api/audit/entries?limit=1&limit=2", 400, "given twice"),
        ("/api/audit/proof/inclusion", 400, "'index' is required"),
        ("/api/audit/proof/inclusion?index=5", 400, "not in a tree"),
        ("/api/audit/proof/inclusion?index=-1", 400, "'index' must be an integer from 0 to"),
        ("/api/audit/proof/inclusion?index=0&tree_size=99", 400, "larger than the log"),
        ("/api/audit/proof/consistency?first=0", 400, "need 0 < first"),
        ("/api/audit/proof/consistency", 400, "'first' is required"),
        ("/api/audit/head?x=1", 400, "unknown query parameter"),
    ],
)
def test_bad_input_is_a_4xx_with_cerbos_error_body(server, path, status, needle):
    httpx.post(f"{server.url}/api/check/resources", json=CHECK)
    response = httpx.get(f"{server.url}{path}", auth=ADMIN_AUTH)
    assert response.status_code == status
    body = response.json()
    assert body["code"] == 3 and needle in body["message"]


def test_api_disabled_and_log_disabled(policies):
    with ThreadServer(policies, {"chamberlain": {"audit": {"apiEnabled": False}}}) as s:
        response = httpx.get(f"{s.url}/api/audit/head")
        assert response.status_code == 404 and "disabled" in response.json()["message"]
    with ThreadServer(policies, {"chamberlain": {"audit": {"enabled": False}}}) as s:
        assert s.app.state.log is None
        assert httpx.post(f"{s.url}/api/check/resources", json=CHECK).status_code == 200
        assert httpx.get(f"{s.url}/api/audit/entries").status_code == 404


def test_config_keys_are_validated_and_named(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_config(
            None,
            overrides={
                "chamberlain": {
                    "audit": {
                        "durability": "eventually",
                        "queueSize": 0,
                        "db": "mysql://x/y",
                        "headInterval": "soon",
                    }
                }
            },
            env={},
        )
    message = str(exc.value)
    for needle in (
        "chamberlain.audit.durability: must be one of sync, async",
        "chamberlain.audit.queueSize",
        "chamberlain.audit.headInterval",
    ):
        assert needle in message
    with pytest.raises(ConfigError, match=r"chamberlain.audit.db: unsupported store URL"):
        load_config(None, overrides={"chamberlain": {"audit": {"db": "mysql://x/y"}}}, env={})
    config = load_config(
        None,
        overrides={"chamberlain": {"stateDir": str(tmp_path)}},
        env={"CHAMBERLAIN__CHAMBERLAIN__AUDIT__DURABILITY": "async"},
    )
    assert config.decision_log.options.durability == "async"
    assert config.decision_log.url.path == tmp_path / "decisions.db"
    assert config.decision_log.options.key_file == tmp_path / "decision-log.key"


def test_a_server_configured_with_a_writer_process_records_through_it(policies):
    config = {"server": admin_on(), "chamberlain": {"audit": {"writer": "process"}}}
    with ThreadServer(policies, config) as server:
        log = server.app.state.log
        assert log.process is not None and log.process.alive and log.process.pid != os.getpid()
        answer = httpx.post(f"{server.url}/api/check/resources", json=CHECK).json()
        assert answer["results"][0]["actions"] == {"edit": "EFFECT_ALLOW", "view": "EFFECT_ALLOW"}
        page = httpx.get(f"{server.url}/api/audit/entries", auth=ADMIN_AUTH).json()
        assert [e["action"] for e in page["entries"]][:2] == ["edit", "view"]


@pytest.fixture
def thread_server(policies):
    with ThreadServer(policies, {"server": admin_on(), "chamberlain": {"audit": {"writer": "thread"}}}) as s:
        yield s


def test_log_failure_denies_every_action_and_says_why(thread_server):
    server = thread_server
    state = server.app.state
    db = state.log._write_db  # the writer thread's connection: "full" for it alone
    state.log.writer.call(lambda: db.execute(f"PRAGMA max_page_count = {db.value('PRAGMA page_count')}"))
    big = {
        **CHECK,
        "resources": [
            {
                **CHECK["resources"][0],
                "resource": {
                    "kind": "document",
                    "id": "d1",
                    "attr": {"owner": "alice", "status": "x" * 60_000},
                },
            }
        ],
    }
    response = httpx.post(f"{server.url}/api/check/resources", json=big).json()
    assert response["results"][0]["actions"] == {"edit": "EFFECT_DENY", "view": "EFFECT_DENY"}
    assert "decision log unavailable" in response["chamberlain"]["decisionLog"]
    big_eval = {
        **EVALUATION,
        "resource": {"type": "document", "id": "d2", "properties": {"owner": "y" * 60_000}},
        "action": {"name": "edit"},
    }
    answer = httpx.post(f"{server.url}/access/v1/evaluation", json=big_eval).json()
    assert answer["decision"] is False and "is full" in answer["context"]["reason_admin"]["en"]
    metrics = httpx.get(f"{server.url}/metrics").text
    assert "chamberlain_audit_denied_checks_total 2.0" in metrics
    assert "chamberlain_audit_entries_failed_total" in metrics


def test_a_writer_process_that_cannot_write_denies_every_action_and_says_why(server):
    assert server.app.state.log.process is not None  # the default for one serving process on SQLite
    on_fire = sqlite3.connect(server.app.state.log.url.path)
    on_fire.execute(
        "CREATE TRIGGER on_fire BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
    )
    on_fire.commit()
    on_fire.close()
    response = httpx.post(f"{server.url}/api/check/resources", json=CHECK).json()
    assert response["results"][0]["actions"] == {"edit": "EFFECT_DENY", "view": "EFFECT_DENY"}
    assert "decision log unavailable" in response["chamberlain"]["decisionLog"]
    assert "disk on fire" in response["chamberlain"]["decisionLog"]
    answer = httpx.post(f"{server.url}/access/v1/evaluation", json=EVALUATION).json()
    assert answer["decision"] is False and "disk on fire" in answer["context"]["reason_admin"]["en"]
    assert "chamberlain_audit_denied_checks_total 2.0" in httpx.get(f"{server.url}/metrics").text


def test_waiting_for_the_log_does_not_block_the_event_loop(server):
    path = server.app.state.log.url.path
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the log's writer now waits for this lock (busy timeout 5 s)
    answer: list[httpx.Response] = []
    check = threading.Thread(
        target=lambda: answer.append(httpx.post(f"{server.url}/api/check/resources", json=CHECK, timeout=30))
    )
    try:
        check.start()
        # while that check waits for durability, the server keeps answering
        assert httpx.get(f"{server.url}/_cerbos/health", timeout=3).status_code == 200
        assert httpx.get(f"{server.url}/api/server_info", timeout=3).status_code == 200
        assert not answer
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    check.join()
    assert answer[0].json()["results"][0]["actions"]["edit"] == "EFFECT_ALLOW"


def test_the_writer_setting_chooses_a_process_for_one_serving_process_on_sqlite(tmp_path):
    def writer(**audit: str) -> str:
        overrides = {"chamberlain": {"stateDir": str(tmp_path), "audit": audit}}
        return load_config(None, overrides=overrides, env={}).decision_log.options.writer

    assert writer() == "process"  # auto: one serving process on SQLite
    assert writer(writer="thread") == "thread"
    assert writer(db="postgresql://postgres@127.0.0.1:5432/test") == "thread"  # auto on PostgreSQL

    def several(**audit: str) -> str:
        overrides = {"chamberlain": {"stateDir": str(tmp_path), "processes": 2, "audit": audit}}
        return load_config(None, overrides=overrides, env={}).decision_log.options.writer

    assert several() == "thread" and several(writer="process") == "process"
    with pytest.raises(
        ConfigError, match=r"chamberlain.audit.writer: must be one of auto, thread, process, got .fork."
    ):
        writer(writer="fork")
    with pytest.raises(ConfigError, match=r"writer process is supported for a decision log on SQLite only"):
        writer(writer="process", db="postgresql://postgres@127.0.0.1:5432/test")


def test_the_commit_delay_is_a_duration_of_at_most_a_second(tmp_path):
    def delay(value: object) -> float:
        overrides = {"chamberlain": {"stateDir": str(tmp_path), "audit": {"commitDelay": value}}}
        return load_config(None, overrides=overrides, env={}).decision_log.options.commit_delay

    assert delay("2ms") == 0.002 and delay("0s") == 0.0
    with pytest.raises(ConfigError, match=r"chamberlain.audit.commitDelay: at most 1s"):
        delay("5s")
    with pytest.raises(ConfigError, match=r"chamberlain.audit.commitDelay: .*must not be negative"):
        delay(-1)
