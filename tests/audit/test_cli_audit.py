"""``chamberlain audit ...`` as a real process: JSON shapes, exit codes, readable output, bad input."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from chamberlain.audit.log import DecisionLog, LogOptions
from tests.audit.support import decision

CLI = str(Path(sys.executable).parent / "chamberlain")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, "audit", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def db(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    with DecisionLog.open(url, LogOptions(head_interval=3600)) as log:  # key beside the database
        log.record(
            [
                decision(
                    i, session="s-7" if i % 2 else "s-8", effect="EFFECT_DENY" if i == 3 else "EFFECT_ALLOW"
                )
                for i in range(12)
            ]
        )
        log.sign_head()
    return url


def test_verify_intact_then_tampered(db, tmp_path):
    ok = run("verify", "--db", db)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("intact: 12 entries, 2 signed heads verified, root ")
    head = run("head", "--db", db, "--json")
    (tmp_path / "trusted.json").write_text(head.stdout)
    conn = sqlite3.connect(db.removeprefix("sqlite:///"))
    conn.execute("UPDATE audit_entries SET body = replace(body, 'EFFECT_DENY', 'EFFECT_ALLOW') WHERE seq = 3")
    conn.commit()
    conn.close()
    bad = run("verify", "--db", db, "--trusted-head", str(tmp_path / "trusted.json"))
    assert bad.returncode == 1
    assert bad.stdout.strip() == "TAMPERED: entry 3 was edited: its content does not match its leaf hash"
    report = json.loads(run("verify", "--db", db, "--json").stdout)
    assert report["ok"] is False and report["first_bad_entry"] == 3


def test_head_and_prove_json_shapes(db):
    head = json.loads(run("head", "--db", db, "--json").stdout)
    assert set(head) == {"checkpoint", "verifier_key", "tree_size", "root_hash"} and head["tree_size"] == 12
    assert head["verifier_key"].split("+")[0] == head["checkpoint"].split("\n")[0]
    proof = json.loads(run("prove", "--db", db, "--index", "5", "--json").stdout)
    assert set(proof) == {"leaf_index", "tree_size", "leaf_hash", "root_hash", "audit_path"}
    assert (proof["leaf_index"], proof["tree_size"], proof["root_hash"]) == (5, 12, head["root_hash"])
    consistency = json.loads(run("prove", "--db", db, "--from", "4", "--to", "12", "--json").stdout)
    assert set(consistency) == {"first", "second", "consistency_path"} and consistency["first"] == 4
    exported = run("export", "--db", db).stdout.encode().splitlines()
    assert len(exported) == 12  # each line is a leaf's exact data: anyone can rehash it
    assert hashlib.sha256(b"\x00" + exported[5]).hexdigest() == proof["leaf_hash"]


def test_show_search_replay(db):
    shown = json.loads(run("show", "--db", db, "3").stdout)
    assert (shown["seq"], shown["effect"]) == (3, "EFFECT_DENY")
    lines = run("search", "--db", db, "--session", "s-7", "--effect", "deny", "--json").stdout.splitlines()
    assert [json.loads(x)["seq"] for x in lines] == [3]
    summary = run("search", "--db", db, "--resource", "doc:d4").stdout.strip()
    assert summary == "#4  2026-01-01T00:00:04.000000Z  alice via agent-1  view doc:d4  ALLOW"
    replay = run("replay", "--db", db, "s-8").stdout.splitlines()
    assert replay[0].startswith("session s-8: 6 entries, 6 allowed, 0 denied")
    assert replay[1].startswith("#0 ") and "by resource.doc.vdefault, rule 'r'" in replay[2]
    assert "read: n=" in replay[3]


def test_bad_input_exits_2_with_a_clear_message(tmp_path):
    missing = run("verify", "--db", f"sqlite:///{tmp_path / 'nope.db'}")
    assert (
        missing.returncode == 2 and "no database at" in missing.stderr and "does not exist" in missing.stderr
    )
    wrong = run("head", "--db", "mysql://h/db")
    assert wrong.returncode == 2 and "unsupported store URL" in wrong.stderr
    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    refused = run("verify", "--db", f"sqlite:///{foreign}")
    assert refused.returncode == 2 and "not a chamberlain database" in refused.stderr
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"garbage" * 1000)
    broken = run("search", "--db", f"sqlite:///{corrupt}")
    assert broken.returncode == 2 and "not a valid database" in broken.stderr
    assert "Traceback" not in missing.stderr + wrong.stderr + refused.stderr + broken.stderr


def test_prove_and_show_errors(db):
    assert "give --index I" in run("prove", "--db", db).stderr
    far = run("prove", "--db", db, "--index", "99")
    assert far.returncode == 2 and "entry 99 is not in a tree of 12 entries" in far.stderr
    missing = run("show", "--db", db, "99")  # a sequence number past the log is a bad parameter: exit 2
    assert missing.returncode == 2 and missing.stderr.strip() == "error: no entry 99 (the log has 12 entries)"


def test_search_says_when_more_entries_match(db):
    page = run("search", "--db", db, "--limit", "5")
    assert len(page.stdout.splitlines()) == 5
    assert page.stderr.strip() == "more entries match: add --after 4 for the next 5"
    last = run("search", "--db", db, "--limit", "5", "--after", "9")
    assert len(last.stdout.splitlines()) == 2 and last.stderr == ""
    assert run("search", "--db", db, "--limit", "0").returncode == 2


def test_head_sign_on_demand(db):
    with DecisionLog.open(db) as log:
        log.record([decision(100)])
    signed = json.loads(run("head", "--db", db, "--sign", "--json").stdout)
    assert signed["tree_size"] == 13
    keyless = run("head", "--db", db, "--sign", "--key", "/nonexistent/dir/k.key")
    assert keyless.returncode == 2 and "cannot read signing key file /nonexistent/dir/k.key" in keyless.stderr


def _edit(db: str, sql: str) -> None:
    conn = sqlite3.connect(db.removeprefix("sqlite:///"))
    conn.execute(sql)
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (
            "UPDATE audit_entries SET body = replace(body, 'EFFECT_DENY', 'EFFECT_ALLOW') WHERE seq = 3",
            "its content does not match its leaf hash (edited)",
        ),
        (
            "UPDATE audit_entries SET content = replace(content, 'principal', 'principaL') WHERE seq = 3",
            "its content does not match the digest in its leaf (edited)",
        ),
    ],
    ids=["leaf body", "content"],
)
def test_show_search_and_replay_mark_an_edited_entry(db, edit, reason):
    """`audit show`, `search` and `replay` mark the entry that no longer matches its leaf and exit 1;
    the entries around it print as before."""
    intact = run("show", "3", "4", "--db", db)
    assert intact.returncode == 0 and "tampered" not in intact.stdout
    _edit(db, edit)
    shown = run("show", "3", "4", "--db", db)
    assert shown.returncode == 1
    first, second = (json.loads(part) for part in _json_documents(shown.stdout))
    assert first["seq"] == 3 and first["tampered"] == reason
    assert second["seq"] == 4 and "tampered" not in second
    assert shown.stderr == f"TAMPERED: entry 3: {reason} (run audit verify)\n"
    if "content" in edit.split("SET")[1].split("=")[0]:
        return  # search and replay mark it the same way (the leaf body case below)
    search = run("search", "--db", db, "--session", "s-7")
    assert search.returncode == 1
    marked = [line for line in search.stdout.splitlines() if "TAMPERED" in line]
    assert len(marked) == 1 and marked[0].startswith("#3 ") and marked[0].endswith(f"TAMPERED: {reason}")
    replay = run("replay", "s-7", "--db", db)
    assert replay.returncode == 1
    assert any(
        line.startswith("#3 ") and f"TAMPERED: {reason}" in line for line in replay.stdout.splitlines()
    )
    assert f"TAMPERED: entry 3: {reason}" in replay.stderr
    assert run("replay", "s-8", "--db", db).returncode == 0  # the other session is untouched


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (
            # entry 4 belongs to s-8: moved into s-7's replay by its search column
            "UPDATE audit_entries SET session_id = 's-7' WHERE seq = 4",
            "its search columns (session, principal, actors, resource) differ from its content (edited)",
        ),
        (
            # who acted on entry 3 removed, as if erased, but no erasure entry lists it
            "UPDATE audit_entries SET content = NULL, salt = NULL, principal = '', actors = '', "
            "resource_id = '' WHERE seq = 3",
            "its content was removed without an erasure entry (edited)",
        ),
    ],
    ids=["moved into the session", "content removed"],
)
def test_replay_marks_an_entry_whose_columns_or_content_were_changed(db, edit, reason):
    """A session's replay selects entries by their search columns and shows removed content as erased:
    an entry moved into the session, or whose content was removed without an erasure, is marked and
    the replay exits 1 (before, it printed them as genuine and exited 0)."""
    _edit(db, edit)
    seq = edit.rsplit("seq = ", 1)[1]
    replay = run("replay", "s-7", "--db", db)
    assert replay.returncode == 1, replay.stdout
    assert any(
        line.startswith(f"#{seq} ") and f"TAMPERED: {reason}" in line for line in replay.stdout.splitlines()
    )
    assert f"TAMPERED: entry {seq}: {reason} (run audit verify)" in replay.stderr
    shown = run("show", seq, "--db", db)
    assert shown.returncode == 1 and json.loads(shown.stdout)["tampered"] == reason


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (
            "UPDATE audit_meta SET value = 'abc' WHERE key = 'tree_size'",
            "audit_meta.tree_size is 'abc', not a tree size (the log's metadata was edited)",
        ),
        (
            "DELETE FROM audit_meta WHERE key = 'verifier_key'",
            "audit_meta holds no verifier_key: the log's metadata was edited",
        ),
        (
            "UPDATE audit_meta SET value = 'junk' WHERE key = 'verifier_key'",
            "audit_meta.verifier_key: verifier key 'junk': expected name+hash+base64",
        ),
        (
            "UPDATE audit_heads SET note = x'ff00' WHERE tree_size = 12",
            "the signed head at size 12 does not verify: a signed note must not contain control characters",
        ),
    ],
    ids=["tree size", "no verifier key", "bad verifier key", "head note a blob"],
)
def test_verify_reports_edited_metadata_and_heads_as_tampered(db, edit, problem):
    """SQLite keeps any value in any column: metadata or a head edited into something unreadable is a
    tampered log (exit 1 naming it), not a traceback (before: ValueError, KeyError, TypeError)."""
    _edit(db, edit)
    bad = run("verify", "--db", db)
    assert bad.returncode == 1, bad.stderr
    assert bad.stdout.startswith("TAMPERED: ") and problem in bad.stdout
    assert "Traceback" not in bad.stderr


def _json_documents(text: str) -> list[str]:
    """Consecutive pretty-printed JSON documents, split where one ends."""
    decoder, out, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        _, end = decoder.raw_decode(text, i)
        out.append(text[i:end])
        i = end
    return out
