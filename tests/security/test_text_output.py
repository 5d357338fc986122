"""Text output for people: a value holding a newline or an escape sequence cannot forge a line or drive a terminal."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

from chamberlain import PDP, Principal, Resource
from chamberlain.audit.log import DecisionLog, LogOptions
from chamberlain.server.logs import TextFormatter
from chamberlain.text import block, printable
from tests.audit.support import decision

CLI = str(Path(sys.executable).parent / "chamberlain")
FORGED = "mallory\n#999  2026-01-01T00:00:00.000000Z  root  pay invoice:all  ALLOW"


def test_printable_escapes_controls_and_keeps_the_rest():
    assert printable("alice") == "alice"
    assert printable("über café ✓ 雪") == "über café ✓ 雪"
    assert printable("a\nb\r\tc") == "a\\nb\\r\\tc"
    assert printable("\x1b[2J\x00\x7f\x85") == "\\x1b[2J\\x00\\x7f\\x85"
    assert printable("evil\u202eexe.txt\u2028x") == "evil\\u202eexe.txt\\u2028x"
    assert block("line 1\nline \x1b[31m2") == "line 1\nline \\x1b[31m2"


def test_audit_search_and_replay_print_one_line_per_entry(tmp_path):
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    with DecisionLog.open(url, LogOptions(head_interval=3600)) as log:
        log.record(
            [decision(1, session="s-1", principal=FORGED, effect="EFFECT_DENY", actors=("agent\x1b[2J",))]
        )
    search = subprocess.run([CLI, "audit", "search", "--db", url], capture_output=True, text=True, timeout=60)
    assert search.returncode == 0, search.stderr
    lines = search.stdout.splitlines()
    assert len(lines) == 1, lines
    assert "mallory\\n#999" in lines[0] and lines[0].endswith("DENY") and "\x1b" not in search.stdout
    replay = subprocess.run(
        [CLI, "audit", "replay", "s-1", "--db", url], capture_output=True, text=True, timeout=60
    )
    assert replay.returncode == 0, replay.stderr
    assert not any(line.startswith("#999") for line in replay.stdout.splitlines())
    assert "\x1b" not in replay.stdout
    # --json keeps the exact value (JSON escapes it).
    raw = subprocess.run(
        [CLI, "audit", "search", "--db", url, "--json"], capture_output=True, text=True, timeout=60
    )
    assert json.loads(raw.stdout)["principal"]["id"] == FORGED


def test_explanation_escapes_request_values(tmp_path):
    pdp = PDP.from_directory("examples/policies")
    result = pdp.check(
        Principal("agent\n7", roles={"agent"}), Resource("invoice", "inv\n1\x1b[2J"), actions=["pay\nview"]
    )
    text = result.explanation()
    assert "inv\\n1\\x1b[2J:" in text and "pay\\nview: EFFECT_DENY" in text
    assert "\x1b" not in text and len(text.splitlines()) == len(block(text).splitlines())
    assert all(not line.startswith("view") for line in text.splitlines())


def test_text_log_lines_are_one_line():
    record = logging.makeLogRecord(
        {
            "name": "chamberlain.server",
            "levelname": "INFO",
            "msg": "request rejected",
            "error": "unknown principal 'x'\nINFO    chamberlain.server: forged",
        }
    )
    line = TextFormatter().format(record)
    assert "\n" not in line and "\\nINFO" in line


def test_mcp_proxy_log_lines_are_one_line():
    from chamberlain.text import LineFormatter

    record = logging.makeLogRecord(
        {
            "name": "chamberlain.mcp",
            "levelname": "INFO",
            "msg": "tool %s denied",
            "args": ("x\nERROR forged",),
        }
    )
    assert LineFormatter("%(levelname)s %(message)s").format(record) == "INFO tool x\\nERROR forged denied"


def test_token_inspect_shows_claims_as_text_not_markup():
    from rich.console import Console

    from chamberlain.delegation.chain import Actor, Chain
    from chamberlain.delegation.cli import render
    from chamberlain.delegation.tokens import DelegationToken

    token = DelegationToken(
        subject="alice[/bold][red]admin",
        issuer="https://idp",
        audience=("api",),
        scopes=(),
        chain=Chain((Actor("agent\n[link=http://evil]x", roles=("bot",)),)),
        client_id="c",
        expires_at=2_000_000_000,
        issued_at=1_999_999_000,
        jti="j",
        sid="",
        kid="k",
        claims={},
    )
    console = Console(width=400, record=True, color_system=None)
    console.print(render(token, "jwks.json", 1_999_999_500))
    shown = console.export_text()
    assert "alice[/bold][red]admin (subject)" in shown
    assert "agent\\n[link=http://evil]x" in shown
