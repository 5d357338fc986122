"""One layout of the state directory (docs/reference/state-directory.md), used by every command: the server,
``mcp-proxy`` and the ``audit`` tools find the same signing key beside the same database, and a state
directory in the earlier layout keeps working."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from chamberlain.audit.log import DecisionLog, LogOptions
from chamberlain.cli import app
from chamberlain.gateways.mcp.config import parse_config as gateway_config
from chamberlain.gateways.mcp.run import open_pdp
from chamberlain.server.config import load_config
from chamberlain.store import parse_url, sqlite_url

runner = CliRunner()


def _server_log(state: Path):
    return load_config(None, overrides={"chamberlain": {"stateDir": str(state)}}, env={}).decision_log


def test_server_gateway_and_audit_tools_share_one_key(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    server = _server_log(state)
    log = DecisionLog.open(server.url, server.options)  # what `chamberlain serve` opens
    log.close()
    server_key = log.verifier_key
    assert server.options.key_file == state / "decision-log.key" and server.options.key_file.is_file()
    gateway = gateway_config(
        {
            "stateDir": str(state),
            "policies": str(Path(__file__).resolve().parents[2] / "examples/policies"),
            "principal": {"id": "agent", "roles": ["agent"]},
            "upstreams": [{"name": "time", "command": ["true"]}],
        },
        base_dir=tmp_path,
    )
    assert parse_url(gateway.audit_db) == server.url
    with open_pdp(gateway) as pdp:  # what mcp-proxy opens: the same log, the same key
        assert pdp.log is not None and pdp.log.verifier_key == server_key
    signed = runner.invoke(app, ["audit", "head", "--sign", "--db", sqlite_url(state / "decisions.db")])
    assert signed.exit_code == 0, signed.output
    assert sorted(p.name for p in state.iterdir() if p.suffix in (".key", ".head")) == [
        "decision-log.head",
        "decision-log.key",
    ]  # no stray key: `audit head --sign` signed with the server's


def test_a_key_left_under_the_earlier_name_is_moved_not_replaced(tmp_path):
    first = DecisionLog.open(
        sqlite_url(tmp_path / "decisions.db"), LogOptions(key_file=tmp_path / "decisions.db.key")
    )
    first.close()
    key = (tmp_path / "decisions.db.key").read_bytes()
    again = DecisionLog.open(sqlite_url(tmp_path / "decisions.db"), LogOptions(create_key=False))
    again.close()
    assert not (tmp_path / "decisions.db.key").exists()
    assert (tmp_path / "decision-log.key").read_bytes() == key


def test_a_server_with_its_own_sqlite_file_keeps_its_earlier_key(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "decision-log.key").write_bytes(b"placeholder")  # where servers kept it before 0.2
    config = load_config(
        None,
        overrides={
            "chamberlain": {"stateDir": str(state), "audit": {"db": sqlite_url(tmp_path / "other.db")}}
        },
        env={},
    )
    assert config.decision_log.options.key_file == state / "decision-log.key"
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    config = load_config(
        None,
        overrides={
            "chamberlain": {"stateDir": str(fresh), "audit": {"db": sqlite_url(tmp_path / "other.db")}}
        },
        env={},
    )
    assert config.decision_log.options.key_file == tmp_path / "other.db.key"
