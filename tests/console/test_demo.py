"""`make run`'s console demo: the server starts with the console on, and the example data is there."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from chamberlain.approvals import ApprovalStore
from chamberlain.sessions import SessionStore
from tests.support.cerbos_server import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_prints_the_console_and_its_login_and_seeds_sessions_and_an_approval(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    done = subprocess.run(
        [
            sys.executable,
            "examples/console_demo.py",
            "--http",
            address,
            "--state-dir",
            str(tmp_path / "state"),
            "--seed-only",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"chamberlain console: http://{address}/console/" in done.stdout
    assert re.search(r"log in as operator with password \S{16}", done.stdout)
    url = f"sqlite:///{tmp_path / 'state' / 'decisions.db'}"
    sessions = SessionStore.open(url)
    active, _ = sessions.list("ACTIVE")
    assert len(active) == 3 and any(b.used > 0 for s in active for b in s.budgets)
    pending, _ = ApprovalStore.open(url).list("PENDING")
    assert [a.action["resource"]["attr"]["amount"] for a in pending] == [4200]
