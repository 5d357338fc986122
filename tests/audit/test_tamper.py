"""Tampering with the stored log, row by row in SQLite and PostgreSQL, and verify catching each kind.

The log: 40 entries (20 checks of two actions, each check's request stored once), heads signed at
sizes 30 and 40; the trusted head is the one at 30.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import pytest

from chamberlain import PDP, Principal, Resource
from chamberlain.audit.errors import LogTampered
from chamberlain.audit.log import DecisionLog, LogOptions
from chamberlain.audit.tlog.merkle import Edge
from chamberlain.audit.tlog.note import Checkpoint, Signer
from chamberlain.audit.tools.verify import TrustedHead, verify
from chamberlain.audit.write.append import ENTRY_COLUMNS
from chamberlain.audit.write.canonical import canonical
from chamberlain.audit.write.content import salted
from chamberlain.store.db import Database, as_bytes, open_database


def _leaf(body: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + body).digest()


def _check_doc(pdp: PDP, i: int) -> None:
    pdp.check(
        Principal("alice", ["user"], {"level": 3}),
        Resource("document", f"d{i}", {"owner": "alice", "status": "draft" if i % 2 else "final", "n": i}),
        ["edit", "view"],
        session_id="s-1",
        actor_chain=["agent-1"],
        now=__import__("datetime").datetime(2026, 1, 1, 0, 0, i % 60),
    )


@pytest.fixture
def options(tmp_path):
    return LogOptions(key_file=tmp_path / "signing.key", head_interval=3600)


@pytest.fixture
def log(log_url, policies, options):
    """``(database, trusted head)`` of a closed log of 40 entries."""
    with DecisionLog.open(log_url, options) as written:
        pdp = PDP.from_directory(policies, audit=written)
        for i in range(15):
            _check_doc(pdp, i)
        trusted = written.sign_head().to_json(written.verifier_key)
        for i in range(15, 20):
            _check_doc(pdp, i)
        written.sign_head()
    db = open_database(log_url)
    yield db, TrustedHead(trusted["checkpoint"], trusted["verifier_key"])
    db.close()


def _body(db: Database, seq: int) -> dict:
    return orjson.loads(bytes(db.value("SELECT body FROM audit_entries WHERE seq = ?", (seq,))))


def _rewrite(db: Database, seq: int, entry: dict, *, fix_leaf: bool) -> None:
    body = canonical(entry)
    if fix_leaf:
        db.execute("UPDATE audit_entries SET body = ?, leaf = ? WHERE seq = ?", (body, _leaf(body), seq))
    else:
        db.execute("UPDATE audit_entries SET body = ? WHERE seq = ?", (body, seq))


def _rebuild_tree(db: Database) -> None:
    """What an attacker does after rewriting leaves: recompute every stored node."""
    db.execute("DELETE FROM audit_nodes")
    edge = Edge()
    for (h,) in db.rows("SELECT leaf FROM audit_entries ORDER BY seq"):
        for level, index, node in edge.append(as_bytes(h)):
            if level % 4 == 0:
                db.execute(
                    "INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)", (level, index, node)
                )


def _check(db: Database, trusted: TrustedHead | None, first_bad: int | None, *needles: str) -> None:
    report = verify(db, trusted=trusted)
    assert not report.ok, "verify missed the tampering"
    assert report.first_bad == first_bad, report.problem
    for needle in needles:
        assert needle in report.problem


def test_intact_log_verifies(log):
    db, trusted = log
    report = verify(db, trusted=trusted)
    assert report.ok, report.problem
    assert report.size == 40 and report.heads >= 3  # at 0 (created), 30 and 40
    assert int(db.value("SELECT count(*) FROM audit_requests")) == 20  # one request record per check


def test_edited_leaf(log):
    db, trusted = log
    entry = _body(db, 7)
    entry["effect"] = "EFFECT_DENY"
    _rewrite(db, 7, entry, fix_leaf=False)
    _check(db, trusted, 7, "entry 7 was edited")


def test_edited_content(log):
    db, trusted = log
    content = orjson.loads(bytes(db.value("SELECT content FROM audit_entries WHERE seq = 7")))
    content["session_id"] = "s-forged"
    db.execute("UPDATE audit_entries SET content = ? WHERE seq = 7", (orjson.dumps(content),))
    _check(db, trusted, 7, "entry 7: its content does not match the digest in its leaf")


def test_edited_content_with_its_digest_and_leaf_recomputed(log):
    db, trusted = log
    content = orjson.loads(bytes(db.value("SELECT content FROM audit_entries WHERE seq = 7")))
    content["session_id"] = "s-forged"
    forged = orjson.dumps(content)
    salt = as_bytes(db.value("SELECT salt FROM audit_entries WHERE seq = 7"))
    entry = _body(db, 7)
    entry["content"] = salted(salt, forged).hex()
    db.execute("UPDATE audit_entries SET content = ?, session_id = 's-forged' WHERE seq = 7", (forged,))
    _rewrite(db, 7, entry, fix_leaf=True)
    # Caught by the stored subtree over 0..15, or first by a head the PostgreSQL sequencer may have
    # signed on its own while the entries were written (seen at size 10): either is detection.
    report = verify(db, trusted=trusted)
    assert not report.ok and report.first_bad == 0, report.problem
    assert "tree node at level 4, index 0" in report.problem or "signed head at size" in report.problem


def test_edited_request_record(log):
    db, trusted = log
    digest = as_bytes(db.value("SELECT request FROM audit_entries WHERE seq = 9"))
    body = as_bytes(db.value("SELECT body FROM audit_requests WHERE digest = ?", (digest,)))
    db.execute(
        "UPDATE audit_requests SET body = ? WHERE digest = ?",
        (body.replace(b'"level":3', b'"level":9'), digest),
    )
    _check(
        db, trusted, 8, "entry 8: the request record of its call does not match its leaf"
    )  # 8 and 9: one call


def test_deleted_request_record(log):
    db, trusted = log
    db.execute("DELETE FROM audit_requests WHERE digest = (SELECT request FROM audit_entries WHERE seq = 4)")
    _check(db, trusted, 4, "entry 4: the request record of its call is missing")


def test_content_removed_without_an_erasure(log):
    db, trusted = log
    db.execute(
        "UPDATE audit_entries SET content = NULL, salt = NULL, principal = '', actors = '', session_id = '', "
        "resource_id = '' WHERE seq = 5"
    )
    _check(db, trusted, 5, "entry 5: its content was removed without an erasure entry")
    db.execute("UPDATE audit_entries SET erased_by = 6 WHERE seq = 5")  # naming an entry that erased nothing
    _check(db, trusted, 5, "entry 6 is not an erasure entry")


def test_edit_rewriting_leaf_and_nodes_is_caught_by_the_signed_head(log):
    db, trusted = log
    entry = _body(db, 33)  # in the last, incomplete block: no stored node covers it
    entry["action"] = "delete"
    entry["columns_do_not_matter"] = True
    _rewrite(db, 33, entry, fix_leaf=True)
    db.execute("UPDATE audit_entries SET action = 'delete' WHERE seq = 33")
    _check(db, trusted, 30, "the signed head at size 40 does not match", "entries 30..39")


def _deny_to_allow_everywhere(db: Database, seq: int) -> None:
    entry = _body(db, seq)
    assert entry["effect"] == "EFFECT_DENY"
    entry["effect"] = "EFFECT_ALLOW"
    _rewrite(db, seq, entry, fix_leaf=True)
    db.execute("UPDATE audit_entries SET effect = 'EFFECT_ALLOW' WHERE seq = ?", (seq,))
    _rebuild_tree(db)


def test_history_rewritten_and_every_head_deleted(log, log_url, options):
    """Issue 12 §5: DENY -> ALLOW, leaf and tree recomputed, audit_heads emptied."""
    db, _ = log
    _deny_to_allow_everywhere(db, 0)
    db.execute("DELETE FROM audit_heads")
    _check(db, None, 0, "40 entries but no signed head")  # no trusted head needed
    with pytest.raises(LogTampered, match="no signed head"):
        DecisionLog.open(log_url, options)  # a restarted server does not sign over it


def test_history_rewritten_after_a_kept_head(log, log_url, options):
    """The later heads deleted, the earlier one kept: the old unsigned tail shows, the head file stops a restart."""
    db, _ = log
    _deny_to_allow_everywhere(db, 32)
    db.execute("DELETE FROM audit_heads WHERE tree_size > 30")
    _check(db, None, 30, "signed heads do not cover the log", "10 entries after the latest head")
    with pytest.raises(LogTampered, match="no longer matches the head published in its head file"):
        DecisionLog.open(log_url, options)


@pytest.mark.parametrize(
    ("statements", "first_bad", "needle"),
    [
        (
            ["UPDATE audit_entries SET session_id = 'other' WHERE seq = 12"],
            12,
            "entry 12: its search columns differ",
        ),
        (["DELETE FROM audit_entries WHERE seq = 12"], 12, "entry 12 is missing (deleted)"),
        (
            [
                "UPDATE audit_entries SET seq = -1 WHERE seq = 5",
                "UPDATE audit_entries SET seq = 5 WHERE seq = 6",
                "UPDATE audit_entries SET seq = 6 WHERE seq = -1",
            ],
            5,
            "entry 5 holds sequence number 6",
        ),
        (["DELETE FROM audit_entries WHERE seq >= 35"], 35, "cut off"),
    ],
    ids=["edited-column", "deleted", "reordered", "truncated-tail"],
)
def test_rows_changed_with_sql(log, statements, first_bad, needle):
    db, trusted = log
    for statement in statements:
        db.execute(statement)
    _check(db, trusted, first_bad, needle)


def test_inserted_entry_in_the_middle(log):
    db, trusted = log
    # make room at 12 by moving 12..39 one up (highest first), then forge a self-consistent entry 12
    for seq in range(39, 11, -1):
        db.execute("UPDATE audit_entries SET seq = ? WHERE seq = ?", (seq + 1, seq))
    forged = _body(db, 13)
    forged.update(seq=12, effect="EFFECT_ALLOW", action="wire_money")
    body = canonical(forged)
    content, salt, request = db.row("SELECT content, salt, request FROM audit_entries WHERE seq = 13")
    row = (
        12,
        _leaf(body),
        body,
        salt,
        content,
        request,
        forged["time"],
        "decision",
        "s-1",
        "alice",
        "\nagent-1\n",
        "document",
        "d6",
        "wire_money",
        "EFFECT_ALLOW",
    )
    db.execute(f"INSERT INTO audit_entries ({', '.join(ENTRY_COLUMNS)}) VALUES ({', '.join('?' * 15)})", row)
    _check(db, trusted, 12, "entry 13 holds sequence number 12", "inserted")


def test_inserted_entry_at_the_end(log):
    db, trusted = log
    forged = _body(db, 39)
    forged["seq"] = 40
    body = canonical(forged)
    db.execute(
        "INSERT INTO audit_entries (seq, leaf, body, salt, content, request, time, kind, session_id, principal, "
        "actors, resource_kind, resource_id, action, effect) SELECT 40, ?, ?, salt, content, request, time, "
        "kind, session_id, principal, actors, resource_kind, resource_id, action, effect FROM audit_entries "
        "WHERE seq = 39",
        (_leaf(body), body),
    )
    _check(db, trusted, 40, "beyond the log's recorded size of 40", "inserted")


def test_truncated_after_the_trusted_head_with_every_trace_removed(log):
    db, trusted = log
    db.execute("DELETE FROM audit_entries WHERE seq >= 25")
    db.execute("DELETE FROM audit_nodes WHERE (idx + 1) * (1 << level) > 25")
    db.execute("DELETE FROM audit_heads WHERE tree_size > 25")
    db.execute("UPDATE audit_meta SET value = '25' WHERE key = 'tree_size'")
    # without outside knowledge: old entries that no head covers (only heads of size < 25 are left)...
    kept = int(db.value("SELECT max(tree_size) FROM audit_heads"))
    _check(db, None, kept, "signed heads do not cover the log", f"{25 - kept} entries after the latest head")
    assert verify(db, max_unsigned_age=None).ok  # ...a clean cut to what a crash could leave is not seen...
    _check(
        db, trusted, 25, "the trusted head covers 30 entries, the log holds 25"
    )  # ...the trusted head sees it


def test_forged_head(log):
    db, trusted = log
    note = db.value("SELECT note FROM audit_heads WHERE tree_size = 40")
    lines = note.split("\n")
    lines[2] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    db.execute("UPDATE audit_heads SET note = ? WHERE tree_size = 40", ("\n".join(lines),))
    _check(db, trusted, None, "the signed head at size 40 does not verify")


def test_log_resigned_with_another_key(log, tmp_path: Path):
    db, trusted = log
    entry = _body(db, 3)
    entry["effect"] = "EFFECT_ALLOW"
    _rewrite(db, 3, entry, fix_leaf=True)
    # the attacker recomputes everything and signs with a key of their own
    from chamberlain.audit.storage.tree import TreeStore

    db.execute("DELETE FROM audit_nodes")
    db.execute("DELETE FROM audit_heads")
    attacker = Signer.generate("chamberlain/attacker")
    db.execute("UPDATE audit_meta SET value = ? WHERE key = 'verifier_key'", (str(attacker.verifier),))
    db.execute("UPDATE audit_meta SET value = ? WHERE key = 'origin'", (attacker.name,))
    leaves = [bytes(r[0]) for r in db.rows("SELECT leaf FROM audit_entries ORDER BY seq")]
    edge = Edge()
    for h in leaves:
        for level, index, node in edge.append(h):
            if level % 4 == 0:
                db.execute(
                    "INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)", (level, index, node)
                )
    root = TreeStore(db).root(40)
    note = attacker.sign(Checkpoint(attacker.name, 40, root).text())
    db.execute(
        "INSERT INTO audit_heads (tree_size, root, signed_at, note) VALUES (40, ?, 'now', ?)", (root, note)
    )
    assert verify(db).ok  # self-consistent...
    _check(db, trusted, None, "not by the trusted key")  # ...but not the log the verifier trusts
