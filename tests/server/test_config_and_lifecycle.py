"""Configuration (Cerbos's file format, defaults, validation, env overrides), policy reloads, start-up and shutdown."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from chamberlain.server.config import ConfigError, load_config
from chamberlain.server.serve import RELAY_SWITCH_INTERVAL, relay_promptly
from tests.server.support import STORE, ThreadServer, serve_process


def write(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_defaults():
    c = load_config(None, env={})
    assert (c.host, c.port) == ("127.0.0.1", 3592)
    assert (c.max_actions_per_resource, c.max_resources_per_request, c.max_body_bytes) == (
        50,
        50,
        4 * 1024 * 1024,
    )
    assert c.engine_options == {
        "default_policy_version": "default",
        "default_scope": "",
        "lenient_scope_search": False,
        "strict_evaluation": False,
        "globals": {},
        "schema_enforcement": "none",
        "evaluation_timeout": 1.0,
    }
    assert c.watch_for_changes and c.metrics_enabled and not c.audit_enabled
    assert c.read_timeout == 30 and c.read_header_timeout == 15 and c.idle_timeout == 120


def test_cerbos_file_is_read(tmp_path):
    path = write(
        tmp_path / "c.yaml",
        {
            "server": {
                "httpListenAddr": ":4000",
                "grpcListenAddr": ":4001",
                "requestLimits": {"maxActionsPerResource": 10, "maxResourcesPerRequest": 20},
            },
            "storage": {"driver": "disk", "disk": {"directory": "pol", "watchForChanges": False}},
            "engine": {
                "defaultPolicyVersion": "v2",
                "defaultScope": "acme",
                "lenientScopeSearch": True,
                "strictEvaluation": True,
                "globals": {"env": "prod"},
            },
            "schema": {"enforcement": "reject"},
            "audit": {"enabled": True, "backend": "local"},
            "telemetry": {"disabled": True},
            "hub": {"credentials": {"pdpID": "x"}},
        },
    )
    c = load_config(path, env={})
    assert (c.host, c.port) == ("0.0.0.0", 4000)
    assert (c.max_actions_per_resource, c.max_resources_per_request) == (10, 20)
    assert c.policy_dir.name == "pol" and not c.watch_for_changes and c.audit_enabled
    assert (
        c.engine_options["globals"] == {"env": "prod"} and c.engine_options["schema_enforcement"] == "reject"
    )
    assert c.engine_options["strict_evaluation"] and c.engine_options["lenient_scope_search"]
    assert c.grpc_listen == ("0.0.0.0", 4001) and not any("grpcListenAddr" in w for w in c.warnings)
    assert any("'hub'" in w for w in c.warnings)


def test_a_key_neither_cerbos_nor_chamberlain_has_is_an_error_with_a_hint(tmp_path):
    """A typo must not start a server with the setting off (engine.strictEvalution used to warn only);
    every such key is listed in one run."""
    path = write(
        tmp_path / "c.yaml",
        {
            "engine": {"strictEvalution": True},
            "bogus": 1,
            "engine2": {},
            "server": {"tls": {"certFile": "server.pem"}},
        },
    )
    with pytest.raises(ConfigError) as exc:
        load_config(path, env={})
    message = str(exc.value)
    assert "engine.strictEvalution: unknown configuration key" in message
    assert "did you mean 'engine.strictEvaluation'?" in message
    assert "did you mean 'server.tls.cert'?" in message
    assert "bogus: unknown configuration key" in message and "did you mean 'engine'?" in message


def test_a_key_written_with_dots_is_told_to_nest(tmp_path: Path) -> None:
    """``storage.disk.directory: x`` at the top of the file is one key named with dots, not the known key."""
    path = write(tmp_path / "c.yaml", {"storage.disk.directory": "policies"})
    with pytest.raises(ConfigError, match=r"storage\.disk\.directory: unknown .*write it as nested mappings"):
        load_config(path, env={})


def test_bad_values_fail_together(tmp_path):
    path = write(
        tmp_path / "c.yaml",
        {
            "server": {"httpListenAddr": "nope", "requestLimits": {"maxActionsPerResource": 0}},
            "schema": {"enforcement": "sometimes"},
            "engine": {"strictEvaluation": "yes"},
            "storage": {"driver": "postgres"},
            "auxData": {"jwt": {"keySets": [{"id": "a"}, {"id": "a", "local": {"file": "x"}}]}},
        },
    )
    with pytest.raises(ConfigError) as exc:
        load_config(path, env={})
    message = str(exc.value)
    for needle in (
        "server.httpListenAddr",
        "maxActionsPerResource: must be an integer between 1 and 500",
        "schema.enforcement: must be one of none, warn, reject",
        "engine.strictEvaluation: expected true or false",
        "storage.driver",
        "keyset 'a'",
    ):
        assert needle in message


def test_environment_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("server:\n  httpListenAddr: ${ADDR:127.0.0.1:9999}\n")
    env = {
        "CHAMBERLAIN__ENGINE__STRICTEVALUATION": "true",
        "CHAMBERLAIN__SERVER__REQUESTLIMITS__MAXRESOURCESPERREQUEST": "7",
    }
    c = load_config(path, env=env)
    assert c.port == 9999 and c.engine_options["strict_evaluation"] and c.max_resources_per_request == 7
    assert load_config(path, env={"ADDR": "127.0.0.1:1234"}).port == 1234
    with pytest.raises(ConfigError, match="CHAMBERLAIN__NOPE"):
        load_config(None, env={"CHAMBERLAIN__NOPE": "1"})


def test_reload_on_change_and_broken_change_keeps_serving(tmp_path):
    policies = tmp_path / "policies"
    shutil.copytree(STORE, policies)
    body = {
        "principal": {"id": "john", "roles": ["employee"]},
        "resources": [
            {
                "actions": ["view:public"],
                "resource": {"kind": "leave_request", "id": "1", "policyVersion": "20210210"},
            }
        ],
    }
    overrides = {
        "storage": {"disk": {"directory": str(policies), "watchForChanges": True}},
        "chamberlain": {"watchInterval": "50ms", "logLevel": "error"},
    }
    with ThreadServer(policies, overrides) as srv:

        def check() -> dict:
            return httpx.post(f"{srv.url}/api/check/resources", json=body).json()["results"][0]["actions"]

        assert check() == {"view:public": "EFFECT_ALLOW"}
        (policies / "resource_policies" / "broken.yaml").write_text(
            "apiVersion: api.cerbos.dev/v1\nresourcePolicy: {resource: 5\n"
        )
        _wait(lambda: "STALE" in httpx.get(f"{srv.url}/_cerbos/health").text)
        health = httpx.get(f"{srv.url}/_cerbos/health").json()
        assert health["status"] == "SERVING" and "broken.yaml" in health["chamberlain"]["lastReloadError"]
        assert check() == {"view:public": "EFFECT_ALLOW"}  # the last good set still serves
        assert 'chamberlain_policy_reloads_total{result="failure"}' in httpx.get(f"{srv.url}/metrics").text
        (policies / "resource_policies" / "broken.yaml").unlink()
        for path in (policies / "resource_policies").glob("policy_01*.yaml"):
            path.unlink()
        _wait(
            lambda: (
                "STALE" not in httpx.get(f"{srv.url}/_cerbos/health").text
                and check() == {"view:public": "EFFECT_DENY"}
            )
        )
        assert 'chamberlain_policy_reloads_total{result="success"}' in httpx.get(f"{srv.url}/metrics").text


def _wait(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_serve_process_logs_json_and_shuts_down_gracefully():
    with serve_process("--policies", str(STORE)) as (proc, url):
        resp = httpx.post(
            f"{url}/api/check/resources", json={"principal": {"id": "a", "roles": ["x"]}, "resources": []}
        )
        assert resp.status_code == 400
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        log = proc.stderr.read().decode()
    assert (
        '"msg":"chamberlain listening"' in log
        and '"callId":' in log
        and "Application shutdown complete" in log
    )


def test_bad_config_fails_start_up(tmp_path):
    path = write(tmp_path / "c.yaml", {"engine": {"strictEvaluation": "maybe"}})
    chamberlain = Path(sys.executable).parent / "chamberlain"
    out = subprocess.run(
        [str(chamberlain), "serve", "--config", str(path), "--policies", str(STORE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "engine.strictEvaluation: expected true or false" in out.stderr
    out = subprocess.run(
        [str(chamberlain), "serve", "--policies", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "does not exist" in out.stderr


@pytest.mark.parametrize(("writer", "interval"), [("thread", None), ("process", RELAY_SWITCH_INTERVAL)])
def test_a_writer_process_relays_with_a_short_switch_interval(tmp_path, writer, interval):
    """With a writer process the server's writer thread only relays: it gets the interpreter lock within
    0.5 ms and sends what is queued without waiting for more callers; with the writer thread nothing changes."""
    overrides = {
        "chamberlain": {
            "stateDir": str(tmp_path),
            "audit": {"enabled": True, "writer": writer, "commitDelay": "3ms"},
        }
    }
    config = load_config(None, overrides=overrides, env={})
    before = sys.getswitchinterval()
    try:
        relay_promptly(config)
        assert sys.getswitchinterval() == (before if interval is None else interval)
    finally:
        sys.setswitchinterval(before)
    delay = config.decision_log.options.writer_options().commit_delay
    assert delay == (0.003 if writer == "thread" else 0.0)
