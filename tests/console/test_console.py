"""The console in real Chromium against a real `chamberlain serve`: log in, watch a session spend its
budget live, revoke it, approve an action as a person (OIDC), verify and search the log, see a tampered
entry, and the refusals (no login, no CSRF token, an auditor revoking). Screenshots go to docs/console/."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from chamberlain.audit.tlog.merkle import (
    LeafList,
    ProofError,
    consistency_path,
    leaf_hash,
    root_of,
    verify_consistency,
)
from tests.console.conftest import TIMEOUT_MS, Stack, operator_page, shot


def pay(
    stack: Stack, kind: str, amount: int, *, session: str = "", approval: str = "", agent: str = "agent-7"
) -> dict[str, Any]:
    aux: dict[str, Any] = {}
    if session:
        aux["session"] = {"id": session}
    if approval:
        aux["approval"] = {"id": approval}
    return stack.check(
        {
            "requestId": "t",
            "principal": {"id": agent, "roles": ["agent"]},
            "resources": [
                {
                    "actions": ["pay"],
                    "resource": {"kind": kind, "id": f"{kind}-{amount}", "attr": {"amount": amount}},
                }
            ],
            **({"auxData": aux} if aux else {}),
        }
    )


def open_session(stack: Stack, agent: str = "agent-7", limit: int = 1000) -> str:
    answer = stack.admin(
        "POST",
        "/api/sessions",
        json={
            "subject": "alice",
            "agent": agent,
            "ttl": "10m",
            "budgets": [
                {
                    "name": "payments",
                    "kind": "invoice",
                    "actions": ["pay"],
                    "limit": limit,
                    "cost": "R.attr.amount",
                }
            ],
        },
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


@pytest.fixture(scope="module")
def operator(browser: Any, stack: Stack) -> Iterator[Any]:
    """A page logged in with the operator's credentials."""
    page = operator_page(browser, stack, login_shot="login")
    yield page
    page.context.close()


def person(browser: Any, stack: Stack, who: str) -> Any:
    """A new browser context logged in as ``who`` through the dev IdP (OIDC code flow with PKCE)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{stack.url}/console/approvals")
    page.click("a.button:has-text('Log in with')")
    page.click(f"button[name=person][value={who}]")
    page.wait_for_url(f"{stack.url}/console/approvals")
    return page


def test_without_a_login_every_page_is_the_login_page(stack: Stack, browser: Any) -> None:
    for path in (
        "/console/sessions",
        "/console/log",
        "/console/approvals",
        "/console/vault",
        "/console/log/0",
    ):
        answer = httpx.get(stack.url + path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/console/login"), path
    proof = httpx.get(stack.url + "/console/log/0/proof", headers={"accept": "application/json"})
    assert "leaf" not in proof.text
    page = browser.new_page()
    page.goto(f"{stack.url}/console/log")
    assert page.locator("input[name=password]").count() == 1
    assert "Decision log" not in page.content()
    page.close()


def test_a_session_spends_its_budget_live_then_is_revoked(stack: Stack, operator: Any) -> None:
    sid = open_session(stack)
    operator.goto(f"{stack.url}/console/sessions")
    row = operator.locator(f"tr[data-session={sid}]")
    row.wait_for()
    assert "0 / 1000" in row.inner_text()
    operator.locator("[data-live-status]").filter(has_text="live").wait_for()
    assert pay(stack, "invoice", 600, session=sid)["actions"]["pay"] == "EFFECT_ALLOW"
    operator.locator(
        f"tr[data-session={sid}] .budget", has_text="600 / 1000"
    ).wait_for()  # by server-sent events
    assert operator.locator(f"tr[data-session={sid}] .fill").get_attribute("data-pct") == "60"
    assert "invoice" in operator.locator(f"tr[data-session={sid}] ul.actions").inner_text()
    shot(operator, "sessions")
    operator.locator(f"tr[data-session={sid}] >> text=Revoke").last.click()
    operator.wait_for_url(re.compile(r".*/revoke$"))
    operator.fill("input[name=reason]", "runaway agent")
    operator.click("text=Confirm revoke")
    operator.locator(".notice", has_text=f"Session {sid} revoked").wait_for()
    denied = pay(stack, "invoice", 100, session=sid)
    assert denied["actions"]["pay"] == "EFFECT_DENY"
    operator.goto(f"{stack.url}/console/sessions/{sid}")
    assert "REVOKED" in operator.inner_text("h1")
    assert "runaway agent" in operator.content()
    operator.locator("ol.timeline li", has_text="invoice").first.wait_for()
    shot(operator, "session")


def test_the_live_refresh_replaces_only_the_rows_that_changed(stack: Stack, operator: Any) -> None:
    """A row swapped under the pointer between mousedown and mouseup swallows its button's click."""
    quiet = open_session(stack, agent="agent-quiet")
    busy = open_session(stack)
    page = operator.context.new_page()
    page.add_init_script(  # runs before the console's own script: marks the rows as served, counts refreshes
        "document.addEventListener('DOMContentLoaded', () => { window.updates = 0;"
        " for (const row of document.querySelectorAll('tr[data-session]')) row.marked = true;"
        " document.querySelector('[data-live]').addEventListener('chamberlain:updated',"
        " () => { window.updates += 1; }); });"
    )
    page.goto(f"{stack.url}/console/sessions")
    assert pay(stack, "invoice", 250, session=busy)["actions"]["pay"] == "EFFECT_ALLOW"
    page.locator(f"tr[data-session={busy}] .budget", has_text="250 / 1000").wait_for()
    page.wait_for_function("() => window.updates >= 3")  # refreshes after the change, rows unchanged
    assert page.locator(f"tr[data-session={quiet}]").evaluate("row => row.marked === true")
    assert page.locator(f"tr[data-session={busy}]").evaluate("row => row.marked === undefined")
    age = page.locator(f"tr[data-session={quiet}] time[data-ago]")
    assert re.fullmatch(r"\d+s|\d+m \d+s", age.inner_text()), age.inner_text()
    assert age.get_attribute("title") == age.get_attribute("datetime")
    page.close()


def test_a_form_without_its_csrf_token_is_refused(stack: Stack, operator: Any) -> None:
    sid = open_session(stack, agent="agent-csrf")
    cookies = {c["name"]: c["value"] for c in operator.context.cookies()}
    answer = httpx.post(f"{stack.url}/console/sessions/{sid}/revoke", data={"reason": "x"}, cookies=cookies)
    assert answer.status_code == 403 and "CSRF" in answer.text
    wrong = httpx.post(
        f"{stack.url}/console/sessions/{sid}/revoke", data={"reason": "x", "csrf": "forged"}, cookies=cookies
    )
    assert wrong.status_code == 403
    assert stack.admin("GET", f"/api/sessions/{sid}").json()["state"] == "ACTIVE"


def test_a_person_approves_and_the_retried_call_succeeds(stack: Stack, browser: Any, operator: Any) -> None:
    first = pay(stack, "payment", 5000)
    assert first["actions"]["pay"] == "EFFECT_DENY"
    approval = next(o["val"]["approval"] for o in first["outputs"] if isinstance(o["val"], dict))
    operator.goto(f"{stack.url}/console/approvals")
    card = operator.locator(f"[data-approval={approval['id']}]")
    assert "payment over 1000: 5000" in card.inner_text()
    assert card.locator("button[value=approve]").count() == 0  # operators never approve
    bob = person(browser, stack, "bob")
    card = bob.locator(f"[data-approval={approval['id']}]")
    text = card.inner_text()
    assert "agent-7 wants to pay payment/payment-5000" in text and "0 of 1" in text and "amount" in text
    shot(bob, "approvals")
    card.locator("input[name=reason]").fill("invoice checked")
    card.locator("button[value=approve]").click()
    bob.locator(".notice", has_text="APPROVED").wait_for()
    retried = pay(stack, "payment", 5000, approval=approval["id"])
    assert retried["actions"]["pay"] == "EFFECT_ALLOW"
    bob.context.close()


def test_the_subject_consents_in_the_console_never_with_a_bearer_token(stack: Stack, browser: Any) -> None:
    session = open_session(stack)  # agent-7 acting for alice
    first = pay(stack, "transfer", 5000, session=session)
    assert first["actions"]["pay"] == "EFFECT_DENY"
    approval = next(o["val"]["approval"] for o in first["outputs"] if isinstance(o["val"], dict))
    # alice's own token, as she handed it to her agent for its token exchange: it consents to nothing.
    token = stack.idp.access_token("alice", audience="chamberlain").token
    answer = httpx.post(
        f"{stack.url}/api/approvals/{approval['id']}/approve",
        json={"reason": "yes"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 403 and "is given in the console" in answer.json()["message"]
    assert pay(stack, "transfer", 5000, session=session, approval=approval["id"])["actions"]["pay"] == (
        "EFFECT_DENY"
    )
    alice = person(browser, stack, "alice")
    card = alice.locator(f"[data-approval={approval['id']}]")
    card.locator("input[name=reason]").fill("my transfer")
    card.locator("button[value=approve]").click()
    alice.locator(".notice", has_text="APPROVED").wait_for()
    retried = pay(stack, "transfer", 5000, session=session, approval=approval["id"])
    assert retried["actions"]["pay"] == "EFFECT_ALLOW"
    alice.context.close()


def test_an_auditor_reads_but_may_not_revoke(stack: Stack, browser: Any) -> None:
    sid = open_session(stack, agent="agent-audited")
    dave = person(browser, stack, "dave")
    dave.goto(f"{stack.url}/console/sessions")
    dave.locator(f"tr[data-session={sid}]").wait_for()
    dave.goto(f"{stack.url}/console/sessions/{sid}/revoke")
    assert "Forbidden" in dave.inner_text("h1") and "session:revoke" in dave.content()
    assert dave.locator("input[name=reason]").count() == 0
    dave.goto(f"{stack.url}/console/playground")
    assert "Forbidden" in dave.inner_text("h1")
    dave.goto(f"{stack.url}/console/log")
    assert dave.locator("table.entries").count() == 1, dave.content()[:2000]
    dave.context.close()
    assert stack.admin("GET", f"/api/sessions/{sid}").json()["state"] == "ACTIVE"


def _pin(page: Any, stack: Stack) -> None:
    key = httpx.get(f"{stack.url}/api/audit/head").json()["verifier_key"]
    page.locator("[data-pin] summary").click()
    page.fill("[data-pin-input]", key)
    page.click("[data-pin-save]")
    assert page.inner_text("[data-pinned]") == key


def test_find_a_decision_and_verify_its_proof_in_the_browser(stack: Stack, operator: Any) -> None:
    pay(stack, "invoice", 77, agent="agent-search")
    operator.goto(f"{stack.url}/console/log")
    operator.fill("input[name=principal]", "agent-search")
    operator.fill("input[name=action]", "pay")
    operator.fill("input[name=effect]", "ALLOW")
    operator.click("form.search button")
    rows = operator.locator("table.entries tbody tr")
    assert rows.count() == 1 and "agent-search" in rows.inner_text()
    shot(operator, "log")
    rows.locator("a").click()
    operator.wait_for_url(re.compile(r".*/console/log/\d+$"))
    _pin(operator, stack)
    operator.click("[data-verify]")
    operator.locator("[data-verdict].verified").wait_for()
    assert operator.inner_text("[data-verdict]").startswith("VERIFIED")
    shot(operator, "entry")


def test_a_tampered_entry_is_shown_as_tampered(stack: Stack, operator: Any) -> None:
    pay(stack, "invoice", 88, agent="agent-tampered")
    found = stack.admin("GET", "/api/audit/entries", params={"principal": "agent-tampered"}).json()["entries"]
    seq = found[0]["seq"]
    with sqlite3.connect(stack.state / "decisions.db") as db:  # what an intruder with the database file does
        (body,) = db.execute("SELECT body FROM audit_entries WHERE seq = ?", (seq,)).fetchone()
        text = body.decode() if isinstance(body, bytes) else body
        assert "EFFECT_ALLOW" in text
        db.execute(
            "UPDATE audit_entries SET body = ? WHERE seq = ?",
            (text.replace("EFFECT_ALLOW", "EFFECT_DENY"), seq),
        )
    operator.goto(f"{stack.url}/console/log/{seq}")
    _pin(operator, stack)
    operator.click("[data-verify]")
    operator.locator("[data-verdict].tampered").wait_for()
    assert operator.inner_text("[data-verdict]").startswith("TAMPERED")
    shot(operator, "tampered")


def test_vault_map_and_playground(stack: Stack, operator: Any) -> None:
    operator.goto(f"{stack.url}/console/vault")
    assert "Vault map" in operator.inner_text("h1")
    assert operator.locator("section.card h3", has_text="payment").count() == 1
    shot(operator, "vault")
    operator.goto(f"{stack.url}/console/playground")
    operator.click("form.playground button[type=submit]")
    decisions = operator.locator("table.decisions").inner_text()
    assert "view" in decisions and "EFFECT_ALLOW" in decisions
    shot(operator, "playground")
    operator.fill("textarea[name=policy]", "apiVersion: [unclosed")
    operator.click("form.playground button[type=submit]")
    assert operator.locator("p.error").count() == 1


def test_revoke_every_session_of_an_agent(stack: Stack, operator: Any) -> None:
    ids = [open_session(stack, agent="agent-fleet") for _ in range(2)]
    operator.goto(f"{stack.url}/console/sessions")
    operator.locator(f"tr[data-session={ids[0]}] a.small").click()
    assert "every active session of agent agent-fleet" in operator.inner_text("h1")
    operator.click("text=Confirm revoke")
    operator.locator(".notice", has_text="2 session(s) of agent agent-fleet revoked").wait_for()
    assert {stack.admin("GET", f"/api/sessions/{i}").json()["state"] for i in ids} == {"REVOKED"}


def test_a_person_denies_with_a_reason_and_forms_say_what_is_wrong(
    stack: Stack, browser: Any, operator: Any
) -> None:
    asked = pay(stack, "payment", 7000, agent="agent-denied")
    approval = next(o["val"]["approval"] for o in asked["outputs"] if isinstance(o["val"], dict))
    carol = person(browser, stack, "carol")
    card = carol.locator(f"[data-approval={approval['id']}]")
    card.locator("input[name=reason]").evaluate("e => e.removeAttribute('required')")
    card.locator("button[value=deny]").click()
    assert "Bad request" in carol.inner_text("h1") and "reason: say why" in carol.inner_text("main")
    carol.goto(f"{stack.url}/console/approvals")
    card.locator("input[name=reason]").fill("not this vendor")
    card.locator("button[value=deny]").click()
    carol.locator(".notice", has_text="DENIED").wait_for()
    assert (
        pay(stack, "payment", 7000, agent="agent-denied", approval=approval["id"])["actions"]["pay"]
        == "EFFECT_DENY"
    )
    carol.goto(f"{stack.url}/console/log")  # a finance manager is no auditor
    assert "Forbidden" in carol.inner_text("h1") and carol.locator("table.entries").count() == 0
    carol.context.close()
    operator.goto(f"{stack.url}/console/log?since=yesterday")
    assert "since" in operator.inner_text("p.error")


def test_altered_content_is_shown_as_tampered(stack: Stack, operator: Any) -> None:
    pay(stack, "invoice", 99, agent="agent-content")
    (entry,) = stack.admin("GET", "/api/audit/entries", params={"principal": "agent-content"}).json()[
        "entries"
    ]
    with sqlite3.connect(stack.state / "decisions.db") as db:  # who acted, rewritten in the erasable content
        (content,) = db.execute("SELECT content FROM audit_entries WHERE seq = ?", (entry["seq"],)).fetchone()
        db.execute(
            "UPDATE audit_entries SET content = ? WHERE seq = ?",
            (bytes(content).replace(b"agent-content", b"agent-innocent"), entry["seq"]),
        )
    operator.goto(f"{stack.url}/console/log/{entry['seq']}")
    _pin(operator, stack)
    operator.click("[data-verify]")
    operator.locator("[data-verdict].tampered").wait_for()
    assert "content" in operator.inner_text("[data-verdict]")


def _consistency_cases(leaves: int) -> list[list[Any]]:
    """Every consistency proof of trees up to ``leaves`` leaves, and broken variants of each (a flipped
    hash, one hash short, one too many, the wrong first or second root, the wrong first size), with
    whether chamberlain's own RFC 9162 check accepts it."""
    hashes = [leaf_hash(f"leaf {i}".encode()) for i in range(leaves)]
    tree = LeafList(hashes)
    cases: list[list[Any]] = []
    for n in range(1, leaves + 1):
        for m in range(1, n + 1):
            path, first, second = consistency_path(tree, m, n), root_of(hashes[:m]), root_of(hashes[:n])
            variants = [(m, n, first, second, path), (m, n, root_of(hashes[: m - 1]), second, path)]
            variants.append((m, n, first, root_of(hashes[: n - 1]), path))
            if path:
                flipped = [*path[:-1], bytes([path[-1][0] ^ 1]) + path[-1][1:]]
                variants += [(m, n, first, second, flipped), (m, n, first, second, path[:-1])]
                variants.append((m, n, first, second, [*path, path[0]]))
            if m < n:
                variants.append((m + 1, n, first, second, path))
            for a, b, x, y, p in variants:
                try:
                    verify_consistency(a, b, x, y, p)
                    accepted = True
                except ProofError:
                    accepted = False
                cases.append([a, b, x.hex(), y.hex(), [h.hex() for h in p], accepted])
    return cases


def test_the_browsers_consistency_check_agrees_with_the_logs_own(stack: Stack, operator: Any) -> None:
    cases = _consistency_cases(24)
    operator.goto(f"{stack.url}/console/log")
    results = operator.evaluate(
        """async (cases) => {
            const out = [];
            for (const [a, b, x, y, p] of cases) {
                try { await verifyConsistency(a, b, fromHex(x), fromHex(y), p.map(fromHex)); out.push(true); }
                catch (e) { out.push(false); }
            }
            return out;
        }""",
        cases,
    )
    disagreements = [c[:2] for c, got in zip(cases, results, strict=True) if got != c[5]]
    assert not disagreements, disagreements[:10]
    accepted = sum(results)
    assert 0 < accepted < len(cases)  # both outcomes were exercised (300 valid proofs of 2,000-odd)


def _verify(page: Any, stack: Stack, agent: str) -> str:
    """Record a decision by ``agent``, open its entry, verify it in the browser; the verdict's class."""
    pay(stack, "invoice", 12, agent=agent)
    (entry,) = stack.admin("GET", "/api/audit/entries", params={"principal": agent}).json()["entries"]
    page.goto(f"{stack.url}/console/log/{entry['seq']}")
    _pin(page, stack)
    page.click("[data-verify]")
    page.locator("[data-verdict]:not(:text('not verified yet'))").wait_for()
    return str(page.get_attribute("[data-verdict]", "class"))


def _remembered(page: Any) -> dict[str, Any]:
    return dict(
        page.evaluate(
            """() => Object.fromEntries(Object.keys(localStorage)
                 .filter((k) => k.startsWith("chamberlain.console.verifiedHead."))
                 .map((k) => [k, JSON.parse(localStorage.getItem(k))]))"""
        )
    )


def test_each_verification_checks_the_log_only_grew_since_the_last(stack: Stack, operator: Any) -> None:
    assert _verify(operator, stack, "agent-grow-1") == "verified"
    [(key, first)] = _remembered(operator).items()
    assert _verify(operator, stack, "agent-grow-2") == "verified"
    steps = operator.inner_text("[data-steps]")
    assert f"consistent with the head you verified before ({first['size']} entries" in steps
    assert _remembered(operator)[key]["size"] > first["size"]  # the newer head is remembered


def test_history_rewritten_since_the_last_verification_is_shown_as_tampered(
    stack: Stack, operator: Any
) -> None:
    assert _verify(operator, stack, "agent-fork-1") == "verified"
    [(key, seen)] = _remembered(operator).items()
    # What the browser remembers is the history it verified; a server that now proves another
    # (entries replaced and heads signed again with the log's key) fails the consistency proof.
    forged = {"size": seen["size"], "root": ("0" if seen["root"][0] != "0" else "1") + seen["root"][1:]}
    operator.evaluate("([k, v]) => localStorage.setItem(k, JSON.stringify(v))", [key, forged])
    assert _verify(operator, stack, "agent-fork-2") == "tampered"
    assert "rewritten since you verified it" in operator.inner_text("[data-verdict]")
    assert "does not lead to the root verified before" in operator.inner_text("[data-steps]")
    assert _remembered(operator)[key] == forged  # a failed check does not move what was verified
    shot(operator, "rewritten")
    larger = {"size": seen["size"] + 10_000, "root": seen["root"]}
    operator.evaluate("([k, v]) => localStorage.setItem(k, JSON.stringify(v))", [key, larger])
    assert _verify(operator, stack, "agent-fork-3") == "tampered"
    assert "the log shrank" in operator.inner_text("[data-steps]")
    operator.evaluate("(k) => localStorage.removeItem(k)", key)


def test_the_proof_material_carries_a_consistency_proof_from_the_size_asked(
    stack: Stack, operator: Any
) -> None:
    pay(stack, "invoice", 5, agent="agent-since")
    material = operator.request.get(f"{stack.url}/console/log/0/proof?since=1").json()
    size = material["head"]["tree_size"]
    assert material["consistency"]["first"] == 1 and material["consistency"]["second"] == size
    assert (
        "consistency" not in operator.request.get(f"{stack.url}/console/log/0/proof?since={size + 5}").json()
    )
    assert "consistency" not in operator.request.get(f"{stack.url}/console/log/0/proof").json()
    refused = operator.request.get(f"{stack.url}/console/log/0/proof?since=-1")
    assert refused.status == 400 and "is not a tree size" in refused.text()
