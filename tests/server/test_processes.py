"""chamberlain.processes: several serving processes on one port, one state database, one decision log."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from chamberlain.server.config import ConfigError, load_config
from chamberlain.server.process_metrics import merge
from tests.audit.support import verified_size
from tests.server.certs import authority, leaf
from tests.server.support import STORE, admin_on, serve_process
from tests.server.support import STORE_CHECK as CHECK
from tests.support.cerbos_server import free_port

QUIET = ("--set", "chamberlain.logLevel=warning", "--set", "storage.disk.watchForChanges=false")


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _serving(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return _sample(text, "chamberlain_serving_processes")


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in the metrics")


def _wait(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _check_on_a_new_connection(url: str) -> dict:
    with httpx.Client(timeout=10) as client:  # a connection of its own: the kernel picks its process
        response = client.post(f"{url}/api/check/resources", json=CHECK)
    assert response.status_code == 200, response.text
    return response.json()


def test_two_processes_answer_share_one_log_and_add_up_their_metrics(tmp_path):
    state = tmp_path / "state"
    with serve_process(
        "--policies", str(STORE), "--state-dir", str(state), "--set", "chamberlain.processes=2", *QUIET
    ) as (proc, url):
        _wait(lambda: len(_children(proc.pid)) == 2 and _serving(url) == 2, "both serving processes")
        answers = [_check_on_a_new_connection(url) for _ in range(40)]
        assert {tuple(a["results"][0]["actions"].items()) for a in answers} == {
            (("view:public", "EFFECT_ALLOW"), ("approve", "EFFECT_DENY"))
        }
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        # 40 connections spread by the kernel: a process alone would count only its own share
        assert (
            _sample(metrics, 'chamberlain_http_requests_total{code="200",endpoint="check_resources"}') == 40
        )
        assert _sample(metrics, "chamberlain_audit_entries_written_total") == 80
        # one check at a time: every batch holds one check's two entries (summed over both processes)
        assert _sample(metrics, "chamberlain_audit_batches_total") == 40
        assert _sample(metrics, "chamberlain_audit_log_up") == 1
    assert proc.returncode == 0
    assert verified_size(f"sqlite:///{state / 'decisions.db'}") == 80


def test_a_serving_process_that_dies_is_started_again(tmp_path):
    with serve_process("--policies", str(STORE), "--processes", "2", *QUIET) as (proc, url):
        _wait(lambda: len(_children(proc.pid)) == 2 and _serving(url) == 2, "both serving processes")
        victim = _children(proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        _check_on_a_new_connection(url)  # the other process answers meanwhile
        _wait(
            lambda: victim not in _children(proc.pid) and len(_children(proc.pid)) == 2,
            "a new serving process",
        )
        _wait(lambda: _serving(url) == 2, "the new process's metrics")
        _check_on_a_new_connection(url)
    assert proc.stderr is not None
    logged = proc.stderr.read()
    assert b"exited with status -9" in logged and b"starting it again" in logged


def test_serving_processes_end_with_their_supervisor(tmp_path):
    with serve_process("--policies", str(STORE), "--set", "chamberlain.processes=2", *QUIET) as (proc, _url):
        _wait(lambda: len(_children(proc.pid)) == 2, "both serving processes")
        children = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)  # no chance to stop them: they notice on their own
        proc.wait()

        def gone() -> bool:
            return not any(Path(f"/proc/{pid}").exists() and _running(pid) for pid in children)

        _wait(gone, "the serving processes to end")


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"chamberlain": {"processes": 0}}, "chamberlain.processes"),
        ({"chamberlain": {"processes": 65}}, "chamberlain.processes"),
        (
            {"chamberlain": {"processes": 2, "httpServer": "granian"}},
            "several processes are served with uvicorn only",
        ),
        (
            {"chamberlain": {"processes": 2}, "server": {"grpcListenAddr": "127.0.0.1:0"}},
            "server.grpcListenAddr is not supported with several processes",
        ),
        (
            {"server": admin_on(), "chamberlain": {"processes": 2, "sessions": {"enabled": False}}},
            "each serving process would know only its own logins",
        ),
    ],
)
def test_processes_configuration_errors_say_what_is_wrong(overrides, problem):
    with pytest.raises(ConfigError, match=problem):
        load_config(None, overrides={"storage": {"disk": {"directory": str(STORE)}}, **overrides}, env={})


def test_merged_metrics_sum_counters_and_keep_the_gauges_that_are_no_sums():
    one = (
        "# TYPE chamberlain_decisions counter\n"
        'chamberlain_decisions_total{effect="EFFECT_ALLOW",kind="doc"} 3.0\n'
        'chamberlain_decisions_created{effect="EFFECT_ALLOW",kind="doc"} 200.0\n'
        "# TYPE chamberlain_audit_log_up gauge\nchamberlain_audit_log_up 1.0\n"
        "# TYPE chamberlain_audit_sequencer gauge\nchamberlain_audit_sequencer 0.0\n"
        "# TYPE chamberlain_audit_queue_depth gauge\nchamberlain_audit_queue_depth 4.0\n"
    )
    two = (
        "# TYPE chamberlain_decisions counter\n"
        'chamberlain_decisions_total{effect="EFFECT_ALLOW",kind="doc"} 5.0\n'
        'chamberlain_decisions_created{effect="EFFECT_ALLOW",kind="doc"} 100.0\n'
        'chamberlain_decisions_total{effect="EFFECT_DENY",kind="doc"} 1.0\n'
        "# TYPE chamberlain_audit_log_up gauge\nchamberlain_audit_log_up 0.0\n"
        "# TYPE chamberlain_audit_sequencer gauge\nchamberlain_audit_sequencer 1.0\n"
        "# TYPE chamberlain_audit_queue_depth gauge\nchamberlain_audit_queue_depth 2.0\n"
    )
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in merge([one, two])
        for s in family.samples
    }
    allow = (("effect", "EFFECT_ALLOW"), ("kind", "doc"))
    assert values[("chamberlain_decisions_total", allow)] == 8
    assert values[("chamberlain_decisions_created", allow)] == 100  # the earliest
    assert values[("chamberlain_decisions_total", (("effect", "EFFECT_DENY"), ("kind", "doc")))] == 1
    assert values[("chamberlain_audit_log_up", ())] == 0  # down in one process: down
    assert values[("chamberlain_audit_sequencer", ())] == 1
    assert values[("chamberlain_audit_queue_depth", ())] == 6


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_text()


def _writer(pid: int) -> list[int]:
    return [c for c in _children(pid) if "shared_main" in _cmdline(c)]


def test_with_a_writer_process_one_serves_every_process_and_is_started_again(tmp_path):
    state = tmp_path / "state"
    with serve_process(
        "--policies",
        str(STORE),
        "--state-dir",
        str(state),
        "--set",
        "chamberlain.processes=2",
        "--set",
        "chamberlain.audit.writer=process",
        *QUIET,
    ) as (proc, url):
        _wait(
            lambda: len(_children(proc.pid)) == 3 and _serving(url) == 2, "two serving processes, one writer"
        )
        [writer] = _writer(proc.pid)
        serving = [c for c in _children(proc.pid) if c != writer]
        assert all(_children(c) == [] for c in serving)  # no writer process of their own
        allowed = 0  # checks whose view:public was allowed: each has its two entries in the log

        def check() -> bool:
            nonlocal allowed
            ok = _check_on_a_new_connection(url)["results"][0]["actions"]["view:public"] == "EFFECT_ALLOW"
            allowed += ok
            return ok

        assert all(check() for _ in range(10))
        os.kill(writer, signal.SIGKILL)
        _wait(lambda: _writer(proc.pid) not in ([], [writer]), "a new writer process")
        # denied (fail closed) until the serving processes greet the new one
        _wait(lambda: all(check() for _ in range(6)), "checks recorded again by both processes")
        for _ in range(10):
            check()
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        written = _sample(metrics, "chamberlain_audit_entries_written_total")
    assert proc.returncode == 0
    assert proc.stderr is not None
    assert b"the decision log's writer process" in proc.stderr.read()
    assert verified_size(f"sqlite:///{state / 'decisions.db'}") == written == 2 * allowed >= 2 * 26


def test_https_from_every_serving_process(tmp_path):
    ca = authority()
    ca.write(tmp_path, "ca")
    leaf(ca, "pdp-1").write(tmp_path, "server")
    port = free_port()
    tls = (
        "--set",
        f"server.tls.cert={tmp_path / 'server.pem'}",
        "--set",
        f"server.tls.key={tmp_path / 'server.key'}",
    )
    command = [str(Path(sys.executable).parent / "chamberlain"), "serve", "--policies", str(STORE), *tls]
    state = ("--state-dir", str(tmp_path / "state"))
    proc = subprocess.Popen(
        [*command, "--http", f"127.0.0.1:{port}", *state, "--processes", "2", *QUIET],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    url = f"https://127.0.0.1:{port}"
    try:

        def serving() -> float:
            try:
                with httpx.Client(verify=context, timeout=5) as client:
                    return _sample(client.get(f"{url}/metrics").text, "chamberlain_serving_processes")
            except httpx.HTTPError:
                return 0

        _wait(lambda: serving() == 2, "both serving processes over HTTPS")
        for _ in range(20):  # new connections: both processes' listeners
            with httpx.Client(verify=context, timeout=10) as client:
                assert client.get(f"{url}/_cerbos/health").json() == {"status": "SERVING"}
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


def test_more_processes_than_cores_is_warned_of(tmp_path):
    one_core = sorted(os.sched_getaffinity(0))[:1]
    command = [str(Path(sys.executable).parent / "chamberlain"), "serve", "--policies", str(STORE)]
    proc = subprocess.Popen(
        [*command, "--http", f"127.0.0.1:{free_port()}", "--state-dir", str(tmp_path), "--processes", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: os.sched_setaffinity(0, one_core),
    )
    try:
        assert proc.stderr is not None
        lines = iter(proc.stderr.readline, b"")
        warning = next(line for line in lines if b"chamberlain.processes is" in line or b"listening" in line)
        assert b"chamberlain.processes is 2 but this process may run on 1 cores" in warning
    finally:
        proc.terminate()
        proc.wait(30)
