"""Values an attacker controls, rendered by the console in real Chromium: shown as text, never run."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.console.conftest import Stack, operator_page
from tests.console.test_console import _pin, pay

MARK = "<img src=x id=xss onerror=\"document.title='pwned'\">"
ATTR = "\"'><svg id=xss onload=\"document.title='pwned'\">"
ID = "x<b id=xss>b</b>"


@pytest.fixture(scope="module")
def page(browser: Any, stack: Stack) -> Iterator[Any]:
    p = operator_page(browser, stack)
    yield p
    p.context.close()


def _clean(page: Any) -> None:
    assert page.locator("#xss").count() == 0, page.content()
    assert page.title() != "pwned"


def test_hostile_values_are_text_on_every_page(stack: Stack, page: Any) -> None:
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    opened = stack.admin("POST", "/api/sessions", json={"subject": MARK, "agent": ATTR, "ttl": "10m"})
    assert opened.status_code == 201, opened.text
    sid = opened.json()["id"]
    body = {
        "requestId": MARK,
        "principal": {"id": ID, "roles": ["agent"], "attr": {"n": MARK}},
        "resources": [
            {
                "actions": ["pay", ATTR],
                "resource": {"kind": "invoice", "id": ATTR, "attr": {"amount": 1, "x": MARK}},
            }
        ],
        "auxData": {"session": {"id": sid}},
    }
    stack.check(body)
    asked = pay(stack, "payment", 5000, agent=ID)
    assert asked["actions"]["pay"] == "EFFECT_DENY"
    active = stack.admin("POST", "/api/sessions", json={"subject": ID, "agent": ATTR, "ttl": "10m"})
    assert active.status_code == 201, active.text
    shown = {"sessions": ATTR, f"sessions/{sid}": MARK, "approvals": ID, "log": ATTR}
    shown.update({"log?principal=" + ID: ATTR, "vault": ID})
    revoked = stack.admin("POST", f"/api/sessions/{sid}/revoke", json={"reason": MARK})
    assert revoked.status_code < 300, revoked.text
    for path in ("sessions", f"sessions/{sid}", "approvals", "log", "log?principal=" + ID, "vault"):
        page.goto(f"{stack.url}/console/{path}")
        _clean(page)
        assert shown[path] in page.inner_text("main"), path  # the value is there, as text
    page.goto(f"{stack.url}/console/log")
    hrefs = [link.get_attribute("href") for link in page.locator("table a").all()[:6]]
    for href in hrefs:
        page.goto(f"{stack.url}{href}")
        _clean(page)
    page.goto(f"{stack.url}/console/playground")
    policy = (
        "apiVersion: api.cerbos.dev/v1\nresourcePolicy:\n  resource: '"
        + ATTR.replace("'", "''")
        + "'\n  version: default\n  rules:\n    - name: r\n      actions: ['*']\n      effect: EFFECT_ALLOW\n      roles: ['*']\n"
    )
    page.fill("textarea[name=policy]", policy)
    request = {
        "principal": {"id": ID, "roles": ["a"]},
        "resources": [{"actions": ["a"], "resource": {"kind": ATTR, "id": "1"}}],
    }
    page.fill("textarea[name=request]", json.dumps(request))
    page.click("form.playground button[type=submit]")
    page.wait_for_load_state()
    _clean(page)
    assert f"resource.{ATTR}.vdefault" in page.inner_text("main")
    assert violations == []


def test_a_crafted_link_puts_no_words_in_the_status_line(stack: Stack, page: Any) -> None:
    """``?notice=`` is what the console says after an action; anyone's link could set it (a revocation
    that never happened, an approval that was not given). Only a notice the console tagged for this
    login is shown."""
    fake = "Session ses_01M98B91V094A7F5CRZ4DFWA4Y revoked."
    for path in ("sessions", "approvals"):
        page.goto(f"{stack.url}/console/{path}?{urlencode({'notice': fake, 'tag': '0' * 32})}")
        page.locator("h1").first.wait_for()
        assert page.locator(".notice").count() == 0, path
    sid = stack.admin("POST", "/api/sessions", json={"subject": "alice", "agent": "agent-n", "ttl": "10m"})
    page.goto(f"{stack.url}/console/sessions/{sid.json()['id']}/revoke")
    page.click("text=Confirm revoke")
    page.locator(".notice", has_text=f"Session {sid.json()['id']} revoked.").wait_for()
    tagged = page.url
    other = operator_page(page.context.browser, stack)  # another login: the tag is not theirs
    other.goto(tagged)
    other.locator("h1").first.wait_for()
    assert other.locator(".notice").count() == 0
    other.context.close()


def test_entries_moved_into_a_session_or_stripped_of_content_are_marked(stack: Stack, page: Any) -> None:
    """The log and session pages list entries by their search columns: an intruder with the database
    file moves an entry into a session (its session column) or removes who acted (its content, as if
    erased). Both pages, and the entry's own page, mark such entries TAMPERED."""
    opened = stack.admin("POST", "/api/sessions", json={"subject": "alice", "agent": "agent-7", "ttl": "10m"})
    sid = opened.json()["id"]
    assert pay(stack, "invoice", 5, session=sid)["actions"]["pay"] == "EFFECT_ALLOW"
    pay(stack, "invoice", 6, agent="agent-moved")
    pay(stack, "invoice", 7, agent="agent-stripped")
    seqs = {}
    for agent in ("agent-moved", "agent-stripped"):
        found = stack.admin("GET", "/api/audit/entries", params={"principal": agent}).json()["entries"]
        seqs[agent] = found[0]["seq"]
        assert "tampered" not in found[0]
    with sqlite3.connect(stack.state / "decisions.db") as db:
        db.execute("UPDATE audit_entries SET session_id = ? WHERE seq = ?", (sid, seqs["agent-moved"]))
        db.execute(
            "UPDATE audit_entries SET content = NULL, salt = NULL, principal = '', actors = '', "
            "resource_id = '' WHERE seq = ?",
            (seqs["agent-stripped"],),
        )
    page.goto(f"{stack.url}/console/sessions/{sid}")
    moved = page.locator("ol.timeline li", has_text=f"#{seqs['agent-moved']} ")
    assert "TAMPERED: its search columns" in moved.inner_text()
    page.goto(f"{stack.url}/console/log?after={seqs['agent-stripped'] - 1}")
    stripped = page.locator("table.entries tr", has_text=f"#{seqs['agent-stripped']} ")
    assert "TAMPERED: its content was removed without an erasure entry" in stripped.inner_text()
    page.goto(f"{stack.url}/console/log/{seqs['agent-stripped']}")
    assert "TAMPERED" in page.inner_text("main p")


def test_the_browser_tells_an_erasure_from_content_removed_without_one(stack: Stack, page: Any) -> None:
    """Verify in this browser: an entry erased by `audit erase` verifies (its erasure entry, proven in
    the signed head, lists it); one whose content an intruder removed is TAMPERED (it said "erased or
    missing" and VERIFIED)."""
    pay(stack, "invoice", 8, agent="agent-erased")
    pay(stack, "invoice", 9, agent="agent-removed")
    seqs = {
        agent: stack.admin("GET", "/api/audit/entries", params={"principal": agent}).json()["entries"][0][
            "seq"
        ]
        for agent in ("agent-erased", "agent-removed")
    }
    erased = subprocess.run(
        [
            str(Path(sys.executable).parent / "chamberlain"),
            "audit",
            "erase",
            "--db",
            f"sqlite:///{stack.state / 'decisions.db'}",
            "--principal",
            "agent-erased",
            "--key",
            str(stack.state / "decision-log.key"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert erased.returncode == 0, erased.stderr
    with sqlite3.connect(stack.state / "decisions.db") as db:
        (erasure,) = db.execute("SELECT max(seq) FROM audit_entries WHERE kind = 'erasure'").fetchone()
        db.execute(
            "UPDATE audit_entries SET content = NULL, salt = NULL, principal = '', actors = '', "
            "resource_id = '', erased_by = ? WHERE seq = ?",
            (erasure, seqs["agent-removed"]),  # names the erasure entry, which does not list it
        )
    page.goto(f"{stack.url}/console/log/{seqs['agent-erased']}")
    _pin(page, stack)
    verdicts = {}
    for agent, seq in seqs.items():
        page.goto(f"{stack.url}/console/log/{seq}")
        page.click("[data-verify]")
        page.locator("[data-verdict].verified, [data-verdict].tampered").wait_for()
        verdicts[agent] = page.inner_text("[data-verdict]")
    assert verdicts["agent-erased"].startswith("VERIFIED"), verdicts
    assert verdicts["agent-removed"].startswith("TAMPERED: its content (who, what, conditions) was removed")
