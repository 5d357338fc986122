"""Export: OTLP logs (HTTP protobuf, HTTP JSON, gRPC) to a receiver built from OpenTelemetry's official
protos, JSON Lines to a file; at-least-once delivery with a cursor in the log's database; a receiver
that is down never blocks a check; every exported record is proven against the log."""

from __future__ import annotations

import http.server
import json
import signal
import subprocess
import sys
import threading
from concurrent import futures
from pathlib import Path

import grpc
import httpx
import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc

from chamberlain import PDP, Principal, Resource
from chamberlain.audit.log import DecisionLog, LogOptions
from chamberlain.audit.storage.reader import AuditReader
from chamberlain.audit.tlog.merkle import leaf_hash, verify_inclusion
from chamberlain.audit.tools.export import ExportConfig
from chamberlain.audit.tools.export.exporter import read_cursor
from chamberlain.audit.write.canonical import canonical
from chamberlain.server.config import ConfigError, load_config
from chamberlain.store.db import open_database
from tests.audit.support import cli, decision, wait_until
from tests.server.support import ThreadServer


def _records_of(request: logs_service_pb2.ExportLogsServiceRequest) -> list[dict]:
    out = []
    for resource_logs in request.resource_logs:
        resource = {kv.key: kv.value.string_value for kv in resource_logs.resource.attributes}
        assert resource["service.name"] == "chamberlain"
        for scope_logs in resource_logs.scope_logs:
            assert scope_logs.scope.name == "chamberlain.audit"
            for log in scope_logs.log_records:
                attrs = {kv.key: json_format.MessageToDict(kv.value) for kv in log.attributes}
                out.append(
                    {
                        "attrs": attrs,
                        "body": json.loads(log.body.string_value),
                        "time": log.time_unix_nano,
                        "severity": log.severity_text,
                        "event": log.event_name,
                    }
                )
    return out


class Receiver:
    """An OTLP/HTTP logs receiver (protobuf and JSON), decoding with the official protos.

    ``fail`` requests are answered 503 after their records were read (the sender cannot know they
    arrived, so it must send them again: at least once)."""

    def __init__(self) -> None:
        self.records: list[dict] = []
        self.fail = 0
        self.content_types: set[str] = set()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                kind = self.headers["Content-Type"]
                receiver.content_types.add(kind)
                request = logs_service_pb2.ExportLogsServiceRequest()
                if kind == "application/json":
                    json_format.Parse(body, request)
                else:
                    request.ParseFromString(body)
                receiver.records.extend(_records_of(request))
                if receiver.fail:
                    receiver.fail -= 1
                    self.send_response(503)
                    self.send_header("Retry-After", "0")
                    self.end_headers()
                    return
                answer = logs_service_pb2.ExportLogsServiceResponse()
                data = (
                    json_format.MessageToJson(answer).encode()
                    if kind == "application/json"
                    else answer.SerializeToString()
                )
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/logs"

    def seqs(self) -> list[int]:
        return [int(r["attrs"]["chamberlain.log.index"]["intValue"]) for r in self.records]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _check_proven(url: str, records: list[dict]) -> None:
    """Every record's leaf hashes to its leaf_hash, which an inclusion proof puts in the signed head."""
    db = open_database(url)
    try:
        reader = AuditReader(db)
        head = reader.head()
        for r in records:
            seq, h = r["body"]["seq"], bytes.fromhex(r["body"]["leaf_hash"])
            assert r["attrs"]["chamberlain.log.leaf_hash"]["stringValue"] == h.hex()
            assert int(r["attrs"]["chamberlain.log.index"]["intValue"]) == seq
            assert leaf_hash(canonical(r["body"]["leaf"])) == h
            if seq < head.size:
                proof = reader.inclusion(seq, head.size)
                verify_inclusion(seq, head.size, h, proof.audit_path, head.root)
    finally:
        db.close()


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
def test_otlp_over_http_delivers_provable_records(tmp_path, policies, receiver, protocol):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    export = ExportConfig(
        name="otel", otlp_endpoint=receiver.url, otlp_protocol=protocol, interval=0.05, batch_size=3
    )
    with DecisionLog.open(url, LogOptions(key_file=tmp_path / "k", exports=(export,))) as log:
        pdp = PDP.from_directory(policies, audit=log)
        pdp.check(
            Principal("alice", ["user"], {"level": 3}),
            Resource("document", "d1", attr={"owner": "alice", "status": "draft"}),
            ["edit", "view"],
        )
        pdp.check(Principal("bob", ["user"]), Resource("document", "d2", attr={"owner": "x"}), ["edit"])
        log.sign_head()
        wait_until(lambda: len(receiver.records) == 3, what="3 records")
        wait_until(lambda: log.stats()["exporters"]["otel"].lag == 0, what="no lag")
    assert receiver.content_types == {
        "application/json" if protocol == "http/json" else "application/x-protobuf"
    }
    assert receiver.seqs() == [0, 1, 2]
    first, _, denied = receiver.records
    assert first["attrs"]["chamberlain.decision.effect"] == {"stringValue": "EFFECT_ALLOW"}
    assert first["attrs"]["chamberlain.principal.id"] == {"stringValue": "alice"}
    assert first["body"]["resource"]["attr"] == {
        "owner": "alice",
        "status": "draft",
    }  # the content, for the SIEM
    assert (denied["severity"], denied["event"]) == ("WARN", "chamberlain.decision")
    assert first["time"] > 1_700_000_000 * 10**9
    _check_proven(url, receiver.records)
    db = open_database(url)
    assert read_cursor(db, "otel") == 3
    db.close()


def test_otlp_over_grpc(tmp_path, policies):
    received: list[dict] = []

    class Logs(logs_service_pb2_grpc.LogsServiceServicer):
        def Export(self, request, context):
            received.extend(_records_of(request))
            return logs_service_pb2.ExportLogsServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    url = f"sqlite:///{tmp_path / 'd.db'}"
    export = ExportConfig(
        name="otel-grpc", otlp_endpoint=f"127.0.0.1:{port}", otlp_protocol="grpc", interval=0.05
    )
    try:
        with DecisionLog.open(url, LogOptions(key_file=tmp_path / "k", exports=(export,))) as log:
            log.record([decision(i) for i in range(5)])
            log.sign_head()
            wait_until(lambda: len(received) == 5, what="5 records over gRPC")
    finally:
        server.stop(0)
    _check_proven(url, received)


def test_at_least_once_and_checks_never_wait_for_the_receiver(tmp_path, policies, receiver):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    export = ExportConfig(name="otel", otlp_endpoint=receiver.url, interval=0.05, batch_size=4)
    receiver.fail = 10**6  # the receiver reads every batch but answers 503: nothing counts as delivered
    with DecisionLog.open(url, LogOptions(key_file=tmp_path / "k", exports=(export,))) as log:
        pdp = PDP.from_directory(policies, audit=log)
        for i in range(10):  # every check is answered while the exporter is failing
            assert pdp.check(Principal("a", ["user"]), Resource("document", f"d{i}"), ["view"]).is_allowed(
                "view"
            )
        stats = log.stats()["exporters"]["otel"]
        wait_until(lambda: stats.failures >= 1 and stats.lag == 10, what="failures and lag")
        assert stats.exported == 0 and stats.last_error.startswith("OTLP collector")
        receiver.fail = 0
        wait_until(lambda: stats.lag == 0, timeout=30, what="the backlog delivered")
    seqs = receiver.seqs()
    assert set(seqs) == set(range(10)) and len(seqs) > 10  # every entry, the first batch more than once
    receiver.records.clear()
    # the cursor is in the log's database: a new process resumes after what was delivered
    with DecisionLog.open(url, LogOptions(key_file=tmp_path / "k", exports=(export,))) as log:
        log.record([decision(i) for i in range(2)])
        wait_until(lambda: len(receiver.records) >= 2, what="the new entries")
    assert receiver.seqs() == [10, 11]


def test_jsonl_from_the_server_configuration_and_metrics(tmp_path, policies):
    out = tmp_path / "siem" / "decisions.jsonl"
    overrides = {
        "chamberlain": {"audit": {"export": [{"name": "siem", "jsonl": str(out), "interval": "50ms"}]}}
    }
    with ThreadServer(policies, overrides) as server:
        for i in range(3):
            httpx.post(
                f"{server.url}/api/check/resources",
                json={
                    "principal": {"id": "alice", "roles": ["user"]},
                    "resources": [{"actions": ["view"], "resource": {"kind": "document", "id": f"d{i}"}}],
                },
            )
        wait_until(lambda: out.exists() and len(out.read_text().splitlines()) == 3, what="3 lines")
        metrics = httpx.get(f"{server.url}/metrics").text
        assert 'chamberlain_audit_export_records_total{exporter="siem"} 3.0' in metrics
        assert 'chamberlain_audit_export_lag_entries{exporter="siem"} 0.0' in metrics
    lines = [orjson.loads(line) for line in out.read_text().splitlines()]
    assert [r["seq"] for r in lines] == [0, 1, 2] and all(r["principal"]["id"] == "alice" for r in lines)
    assert all(leaf_hash(canonical(r["leaf"])).hex() == r["leaf_hash"] for r in lines)


@pytest.mark.parametrize(
    ("export", "needle"),
    [
        ([{"name": "a"}], "exactly one of a JSON Lines path or an OTLP endpoint"),
        ([{"name": "a", "jsonl": "x", "otlp": {"endpoint": "http://c"}}], "exactly one of"),
        ([{"jsonl": "x"}], "expected a string"),
        ([{"name": "a", "jsonl": "x"}, {"name": "a", "jsonl": "y"}], "used twice"),
        (
            [{"name": "a", "otlp": {"endpoint": "http://c", "protocol": "udp"}}],
            "must be one of http/protobuf",
        ),
        ([{"name": "a", "jsonl": "x", "bogus": 1}], "expected a mapping with keys among"),
        ("nope", "expected a list of exporters"),
    ],
)
def test_bad_export_configuration_is_refused(export, needle):
    with pytest.raises(ConfigError, match=r"chamberlain\.audit\.export") as info:
        load_config(None, overrides={"chamberlain": {"audit": {"export": export}}}, env={})
    assert needle in str(info.value)


def test_cli_export_with_a_cursor_and_follow(tmp_path):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    with DecisionLog.open(url, LogOptions(key_file=tmp_path / "k")) as log:
        log.record([decision(i) for i in range(4)])
    out = tmp_path / "out.jsonl"
    assert cli("export", "--db", url, "--cursor", "siem", "-o", str(out)).returncode == 0
    assert [orjson.loads(x)["seq"] for x in out.read_text().splitlines()] == [0, 1, 2, 3]
    assert cli("export", "--db", url, "--cursor", "siem", "-o", str(out)).returncode == 0  # nothing new
    assert len(out.read_text().splitlines()) == 4
    leaves = cli("export", "--db", url, "--to", "2")  # the leaf format, unchanged
    assert [orjson.loads(x)["seq"] for x in leaves.stdout.splitlines()] == [0, 1]
    assert cli("export", "--db", url, "--format", "leaf", "--follow").returncode == 2
    follow_out = tmp_path / "follow.jsonl"
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "chamberlain"),
            "audit",
            "export",
            "--db",
            url,
            "--follow",
            "--from",
            "2",
            "-o",
            str(follow_out),
        ],
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(
            lambda: follow_out.exists() and len(follow_out.read_text().splitlines()) == 2,
            timeout=60,
            what="entries 2 and 3",
        )
        with DecisionLog.open(url, LogOptions(key_file=tmp_path / "k")) as log:
            log.record([decision(9)])
        wait_until(lambda: len(follow_out.read_text().splitlines()) == 3, what="the new entry")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, proc.stderr.read()
    assert [orjson.loads(x)["seq"] for x in follow_out.read_text().splitlines()] == [2, 3, 4]


def test_one_process_at_a_time_runs_an_exporter_on_a_sqlite_log(tmp_path):
    """Two logs open on one file (two serving processes, say), the same exporter configured in both: one
    runs it (an flock per exporter name), so the receiver does not get every entry twice; when that log
    closes, the other takes over from the cursor."""
    url = f"sqlite:///{tmp_path / 'd.db'}"
    out = tmp_path / "decisions.jsonl"
    export = ExportConfig(name="siem", jsonl=str(out), interval=0.05)
    options = LogOptions(key_file=tmp_path / "k", exports=(export,))
    first, second = DecisionLog.open(url, options), DecisionLog.open(url, options)
    try:
        for i in range(6):
            (first if i % 2 else second).record([decision(i)])
        stats = [log.stats()["exporters"]["siem"] for log in (first, second)]
        wait_until(lambda: out.exists() and len(out.read_text().splitlines()) == 6, what="6 lines")
        assert sorted(s.active for s in stats) == [False, True]
        runner, other = (first, second) if stats[0].active else (second, first)
        runner.close()
        other.record([decision(6)])
        wait_until(lambda: len(out.read_text().splitlines()) == 7, what="the 7th line, by the other log")
    finally:
        first.close()
        second.close()
    assert [orjson.loads(line)["seq"] for line in out.read_text().splitlines()] == list(range(7))
