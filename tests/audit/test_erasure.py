"""Erasure that keeps every proof valid, redaction, bounded cost per request, heads published outside.

Issue 23 §1's interface is run as a real process: ``chamberlain audit erase --db URL --principal ID``,
then ``audit verify`` exits 0 and reports the erased entries, ``audit prove --index I --json``
verifies against the same signed head, and (SQLite) no erased attribute value is left in the
database file or its WAL.
"""

from __future__ import annotations

import json
import os

import pytest

from chamberlain import PDP, Principal, Resource
from chamberlain.audit.log import DecisionLog, LogOptions
from chamberlain.audit.tlog.merkle import verify_inclusion
from chamberlain.audit.tlog.note import Verifier, open_checkpoint
from chamberlain.audit.tools.replay import NotReplayable, replay_input
from chamberlain.audit.tools.verify import TrustedHead, verify
from chamberlain.store.db import open_database
from tests.audit.support import wait_until
from tests.audit.test_cli_audit import run

SECRET_BOB = "bob-secret-iban-DE89370400440532013000"
SECRET_ALICE = "alice-visible-value-7731"


def _checks(pdp: PDP) -> None:
    for i in range(6):
        who = "bob" if i % 3 == 0 else "alice"
        secret = SECRET_BOB if who == "bob" else SECRET_ALICE
        pdp.check(
            Principal(who, ["user"], {"level": 3, "note": f"{secret}-{i}"}),
            Resource("document", f"d{i}", {"owner": who, "status": "draft", "iban": secret}),
            ["edit", "view"],
            session_id=f"s-{who}",
            actor_chain=["agent-1"] if i != 4 else ["bob"],
        )


def _files(url: str) -> bytes:
    path = url.removeprefix("sqlite:///")
    return b"".join(open(p, "rb").read() for p in (path, path + "-wal") if os.path.exists(p))


def test_erase_by_principal_keeps_every_proof_and_leaves_no_value(log_url, policies, tmp_path):
    options = LogOptions(key_file=tmp_path / "log.key", head_interval=3600)
    with DecisionLog.open(log_url, options) as log:
        _checks(PDP.from_directory(policies, audit=log))
        head = log.sign_head()
    key = ["--key", str(tmp_path / "log.key")]
    proof_before = json.loads(
        run("prove", "--db", log_url, "--index", "0", "--size", str(head.size), "--json").stdout
    )

    erased = run("erase", "--db", log_url, "--principal", "bob", "--by", "dpo@example", *key)
    assert erased.returncode == 0, erased.stderr
    # bob's checks (0 and 3) and the check where bob was an actor (4): three calls, six entries
    assert erased.stdout.startswith("erased the content of 6 entries (erasure entry #12)")

    verified = run("verify", "--db", log_url)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert (
        "erased: entry #12 by dpo@example" in verified.stdout and "6 entries (principal)" in verified.stdout
    )
    report = verify(open_database(log_url))
    assert report.ok and report.erased == 6 and report.size == 13

    proof = json.loads(
        run("prove", "--db", log_url, "--index", "0", "--size", str(head.size), "--json").stdout
    )
    assert proof == proof_before  # the same proof, against the same signed head
    root = open_checkpoint(head.note, Verifier.parse(log.verifier_key)).root
    verify_inclusion(
        0, head.size, bytes.fromhex(proof["leaf_hash"]), [bytes.fromhex(h) for h in proof["audit_path"]], root
    )

    shown = json.loads(run("show", "--db", log_url, "0").stdout)
    assert shown["erased"] == {"by": 12} and shown["effect"] == "EFFECT_ALLOW" and "principal" not in shown
    assert shown["basis"]["rule"] == "owner-edits-drafts"  # what remains: the decision and its basis
    listed = run("search", "--db", log_url).stdout.splitlines()
    (line,) = [text for text in listed if text.startswith("#0 ")]
    assert ":(erased)" in line and "None" not in line, line
    with pytest.raises(NotReplayable, match="erased"):
        replay_input(_reader(log_url), 0)
    assert replay_input(_reader(log_url), 2).inputs[0].principal.id == "alice"  # others untouched
    if log_url.startswith("sqlite"):
        data = _files(log_url)
        assert b"bob-secret" not in data and b"DE89370400440532013000" not in data
        assert SECRET_ALICE.encode() in data


def _reader(url: str):
    from chamberlain.audit.storage.reader import AuditReader

    return AuditReader(open_database(url))


def test_erase_names_nothing_or_too_much(tmp_path):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    DecisionLog.open(url, LogOptions(head_interval=3600)).close()
    assert run("erase", "--db", url).returncode == 2
    assert (
        "exactly one of"
        in run("erase", "--db", url, "--principal", "x", "--before", "2026-01-01T00:00:00Z").stderr
    )
    nothing = run("erase", "--db", url, "--principal", "nobody")
    assert nothing.returncode == 0 and nothing.stdout.startswith("nothing to erase")
    assert run("verify", "--db", url).returncode == 0


def test_retention_erases_old_content(policies, tmp_path):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    with DecisionLog.open(url, LogOptions(key_file=tmp_path / "k", head_interval=3600)) as log:
        pdp = PDP.from_directory(policies, audit=log)
        import datetime as dt

        old = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
        pdp.check(Principal("carol", ["user"]), Resource("document", "old"), ["view"], now=old)
        pdp.check(Principal("carol", ["user"]), Resource("document", "new"), ["view"])
        result = log.erase(before="2021-01-01T00:00:00Z", by="retention")
    assert result.erased == [0] and result.entry == 2
    report = verify(open_database(url))
    assert report.ok and report.erased == 1 and report.erasures[0]["selector"] == "before"


def test_redacted_attributes_are_stored_as_salted_digests(policies, tmp_path):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    options = LogOptions(key_file=tmp_path / "k", redact=("R.attr.iban", "R.attr.arguments.card"))
    with DecisionLog.open(url, options) as log:
        PDP.from_directory(policies, audit=log).check(
            Principal("alice", ["user"]),
            Resource(
                "document", "d", {"iban": SECRET_BOB, "arguments": {"card": "4111111111111111", "n": 1}}
            ),
            ["view"],
        )
        replay = log.read(replay_input, 0)
    assert b"DE8937" not in _files(url) and b"4111111111111111" not in _files(url)
    assert replay.redacted == ("R.attr.arguments.card", "R.attr.iban")
    attr = replay.inputs[0].resource.attr
    assert set(attr["iban"]) == {"redacted"} and attr["arguments"]["n"] == 1
    assert verify(open_database(url)).ok


# -- bounded cost --------------------------------------------------------------------------------------


def _size(url: str) -> int:
    db = open_database(url)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = db.value("PRAGMA page_count") - db.value("PRAGMA freelist_count")
    size = pages * db.value("PRAGMA page_size")
    db.close()
    return size


@pytest.mark.parametrize("kb", [10, 101, 1000])
def test_cost_per_request_is_a_small_multiple_of_its_size(policies, tmp_path, kb):
    """Issue 12 §3: a 101 KB request stored 10 MB. Now: at most 1.5 x the request + 2 KB per entry."""
    url = f"sqlite:///{tmp_path / 'd.db'}"
    with DecisionLog.open(url, LogOptions(key_file=tmp_path / "k", max_request_bytes=4 << 20)) as log:
        pdp = PDP.from_directory(policies, audit=log)
        pdp.check(Principal("x", ["user"]), Resource("document", "warm-up"), ["view"])
        log.flush()
        before = _size(url)
        tags = [f"tag-{i:06d}" for i in range(kb * 1024 // 13)]
        request = {
            "principal": {"id": "alice", "roles": ["user"], "attr": {"level": 3, "tags": tags}},
            "resources": [
                {
                    "actions": ["edit", "view", "delete"],
                    "resource": {
                        "kind": "document",
                        "id": f"d{i}",
                        "attr": {"owner": "alice", "status": "draft", "tags": tags},
                    },
                }
                for i in range(2)
            ],
        }
        size = len(json.dumps(request))
        response = pdp.check_resources(request)
        assert response["results"][0]["actions"]["edit"] == "EFFECT_ALLOW"
        entries = 6
    stored = _size(url) - before
    assert stored <= 1.5 * size + 2048 * entries, f"{stored:,} bytes stored for a {size:,}-byte request"


def test_a_request_over_the_limit_is_denied_with_the_reason(policies, tmp_path):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    with DecisionLog.open(url, LogOptions(key_file=tmp_path / "k", max_request_bytes=64 << 10)) as log:
        pdp = PDP.from_directory(policies, audit=log)
        big = Resource("document", "d", {"owner": "alice", "status": "draft", "blob": "x" * (100 << 10)})
        result = pdp.check(Principal("alice", ["user"], {"level": 3}), big, ["edit", "view"])
        assert not result.is_allowed("edit") and not result.is_allowed("view")
        assert (
            "more than the decision log holds (65,536 bytes, chamberlain.audit.maxRequestBytes)"
            in result.log_error
        )
        assert pdp.check(
            Principal("alice", ["user"], {"level": 3}), Resource("document", "s"), ["view"]
        ).is_allowed("view")


# -- heads outside the database --------------------------------------------------------------------


def test_heads_are_published_to_the_head_file(tmp_path, policies):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    with DecisionLog.open(url, LogOptions(key_file=tmp_path / "log.key")) as log:
        PDP.from_directory(policies, audit=log).check(
            Principal("a", ["user"]), Resource("document", "d"), ["view"]
        )
        head = log.sign_head()
        published = TrustedHead.parse((tmp_path / "log.head").read_text())
        assert published.checkpoint == head.note and published.verifier_key == log.active_key
    trusted = run("verify", "--db", url, "--trusted-head", str(tmp_path / "log.head"))
    assert trusted.returncode == 0, trusted.stdout


def test_bad_erasure_and_key_requests_leave_the_log_untouched(tmp_path):
    from chamberlain.audit.tlog.note import Signer
    from tests.audit.support import cli, decision

    url, key = f"sqlite:///{tmp_path / 'd.db'}", tmp_path / "log.key"
    with DecisionLog.open(url, LogOptions(key_file=key)) as log:
        log.record([decision(i) for i in range(4)])

    def state() -> tuple:
        db = open_database(url)
        try:
            return (
                db.value("SELECT count(*) FROM audit_entries"),
                db.value("SELECT count(*) FROM audit_heads"),
                db.value("SELECT count(*) FROM audit_entries WHERE content IS NULL"),
                key.read_text(),
            )
        finally:
            db.close()

    before = state()
    other = tmp_path / "other.key"
    other.write_text(Signer.generate("someone/else").private_text() + "\n")
    for args, needle in [
        (("erase", "--db", url, "--principal", ""), "name what to erase"),
        (("erase", "--db", url, "--entry", "-1", "--key", str(key)), "each >= 0"),
        (("erase", "--db", url, "--before", "yesterday", "--key", str(key)), "not an RFC 3339 time"),
        (("erase", "--db", url, "--principal", "alice", "--key", str(other)), "but signing key file"),
        (
            ("erase", "--db", url, "--principal", "alice", "--key", str(tmp_path / "missing.key")),
            "cannot read",
        ),
        (("rotate-key", "--db", url, "--key", str(other)), "but signing key file"),
        (("verify", "--db", url, "--require-witnesses", "1", "--witness-key", "garbage"), "--witness-key"),
        (("witness", "--key", str(tmp_path / "w.key"), "--log-key", "not-a-key"), "--log-key"),
    ]:
        result = cli(*args)
        assert result.returncode == 2 and needle in result.stdout, (args, result.stdout)
    assert state() == before
    assert cli("verify", "--db", url).returncode == 0


def test_erasing_a_principal_erases_no_one_whose_id_differs_in_case(log_url, policies, tmp_path):
    """SQLite's LIKE ignores ASCII case: erasing the person `bob` also erased the content of every check
    the agent `BOB` (another identity) acted in, destroying its audit trail. Only `bob`'s calls go."""
    with DecisionLog.open(log_url, LogOptions(key_file=tmp_path / "log.key")) as log:
        pdp = PDP.from_directory(policies, audit=log)
        for i, (who, chain) in enumerate([("bob", ["agent-1"]), ("alice", ["BOB"]), ("carol", ["Bob", "x"])]):
            pdp.check(
                Principal(who, ["user"]),
                Resource("document", f"d{i}", {"owner": who, "status": "draft"}),
                ["view"],
                actor_chain=chain,
            )
        # on PostgreSQL the sequencer numbers the entries after the checks return
        wait_until(lambda: log.read(lambda r: r.tree_size()) == 3, what="the three entries sequenced")
        result = log.erase(principal="bob")
        assert result.erased == [0]
        db = open_database(log_url)
        try:
            kept = db.rows("SELECT principal, actors FROM audit_entries WHERE kind = 'decision' ORDER BY seq")
        finally:
            db.close()
    assert [tuple(r) for r in kept] == [("", ""), ("alice", "\nBOB\n"), ("carol", "\nBob\nx\n")]
