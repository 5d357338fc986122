"""Rotating the log's signing key: verification across the rotation, key sets with validity windows,
forged rotations, witnesses across it, and replicas on one PostgreSQL picking the new key up."""

from __future__ import annotations

import datetime as dt
import shutil

import httpx
import orjson

from chamberlain.audit.log import DecisionLog, LogOptions
from chamberlain.audit.storage.heads import all_heads
from chamberlain.audit.storage.keys import load_all
from chamberlain.audit.tlog.note import Checkpoint, Verifier, split_note
from chamberlain.audit.tools.keyset import verified_signers
from chamberlain.store.db import open_database
from tests.audit.support import cli, decision, wait_until
from tests.server.support import ThreadServer


def _signers_of(note: str, keys: list[str]) -> list[str]:
    return [str(v) for v in verified_signers(note, [Verifier.parse(k) for k in keys])]


def _rotated_log(tmp_path) -> tuple[str, str, str, int]:
    """A SQLite log of 5 entries, rotated by the CLI, then 5 more; returns url, old key, new key, rotation seq."""
    url, key = f"sqlite:///{tmp_path / 'd.db'}", tmp_path / "log.key"
    with DecisionLog.open(url, LogOptions(key_file=key)) as log:
        log.record([decision(i) for i in range(5)])
        old = log.active_key
    result = cli("rotate-key", "--db", url, "--key", str(key), "--by", "ops@example", "--json")
    assert result.returncode == 0, result.stdout
    rotation = orjson.loads(result.stdout)
    assert rotation["old_key"] == old and rotation["rotation_entry"] == 5
    with DecisionLog.open(url, LogOptions(key_file=key)) as log:
        assert log.active_key == rotation["new_key"]
        log.record([decision(i) for i in range(5, 10)])
        log.sign_head()
    return url, old, rotation["new_key"], rotation["rotation_entry"]


def test_rotation_keeps_every_head_and_proof_verifiable(tmp_path):
    url, old, new, seq = _rotated_log(tmp_path)
    assert [str(s.verifier) for s in load_all(tmp_path / "log.key")] == [old, new]  # both keys in the file
    db = open_database(url)
    try:
        heads = all_heads(db)
        entry = orjson.loads(bytes(db.value("SELECT body FROM audit_entries WHERE seq = ?", (seq,))))
    finally:
        db.close()
    assert entry["kind"] == "key_rotation" and (entry["old_key"], entry["new_key"], entry["by"]) == (
        old,
        new,
        "ops@example",
    )
    for head in heads:  # each head names the key that signed it; the rotation's head both
        expected = [old] if head.size <= seq else [old, new] if head.size == seq + 1 else [new]
        assert _signers_of(head.note, [old, new]) == expected, head.size
    report = cli("verify", "--db", url, "--json")
    assert report.returncode == 0, report.stdout
    assert orjson.loads(report.stdout)["keys"] == [old, new]
    head = orjson.loads(cli("head", "--db", url, "--json").stdout)
    assert head["verifier_key"] == new
    # a head saved before the rotation still verifies as a trusted head
    early = tmp_path / "early.head"
    early.write_text(orjson.dumps({"checkpoint": heads[1].note, "verifier_key": old}).decode())
    assert cli("verify", "--db", url, "--trusted-head", str(early)).returncode == 0
    proof = orjson.loads(cli("prove", "--db", url, "--index", "2", "--json").stdout)
    assert proof["tree_size"] == heads[-1].size


def test_a_key_set_with_validity_windows_decides_which_heads_count(tmp_path):
    url, old, new, _ = _rotated_log(tmp_path)
    now = dt.datetime.now(dt.UTC)
    hour = dt.timedelta(hours=1)

    def verify_with(lines: list[str]):
        (tmp_path / "keys.txt").write_text("# the log's keys\n" + "\n".join(lines) + "\n")
        return cli("verify", "--db", url, "--keys", str(tmp_path / "keys.txt"))

    iso = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
    assert verify_with([f"{old} - {iso(now + hour)}", f"{new} {iso(now - hour)} -"]).returncode == 0
    only_old = verify_with([old])
    assert only_old.returncode == 1 and "which the key set does not trust" in only_old.stdout
    expired = verify_with([f"{old} - {iso(now - hour)}", new])  # the old key's window closed before its heads
    assert expired.returncode == 1 and f"signed by {old}" in expired.stdout
    bad = verify_with(["not-a-key"])
    assert bad.returncode == 2 and "line 2" in bad.stdout


def test_forged_rotations_are_found(tmp_path):
    url, _old, new, seq = _rotated_log(tmp_path)
    signers = {str(s.verifier): s for s in load_all(tmp_path / "log.key")}
    db = open_database(url)
    try:
        # the head over the rotation re-signed by the new key alone: the old key no longer vouches for it
        row = db.row("SELECT id, note FROM audit_heads WHERE tree_size = ?", (seq + 1,))
        text = split_note(row[1])[0]
        db.execute("UPDATE audit_heads SET note = ? WHERE id = ?", (signers[new].sign(text), row[0]))
    finally:
        db.close()
    found = cli("verify", "--db", url)
    assert found.returncode == 1 and f"the key rotation at entry {seq} is not vouched for" in found.stdout


def test_a_head_signed_by_a_key_the_log_never_rotated_to(tmp_path):
    url, key = f"sqlite:///{tmp_path / 'd.db'}", tmp_path / "log.key"
    with DecisionLog.open(url, LogOptions(key_file=key)) as log:
        log.record([decision(i) for i in range(3)])
        log.sign_head()
        from chamberlain.audit.tlog.note import Signer

        stranger = Signer.generate(log.keys.newest.name)  # same name, not in the log's schedule
    db = open_database(url)
    try:
        row = db.row("SELECT id, note, tree_size, root FROM audit_heads ORDER BY id DESC LIMIT 1")
        forged = stranger.sign(Checkpoint(stranger.name, int(row[2]), bytes(row[3])).text())
        db.execute("UPDATE audit_heads SET note = ? WHERE id = ?", (forged, row[0]))
    finally:
        db.close()
    found = cli("verify", "--db", url)
    assert found.returncode == 1 and "the log's key for that size" in found.stdout


def test_replicas_on_one_postgresql_pick_up_the_new_key(policies, pg_url, tmp_path):
    key_a, key_b = tmp_path / "a.key", tmp_path / "b.key"

    def replica(key):
        return ThreadServer(
            policies,
            {"chamberlain": {"audit": {"db": pg_url, "signingKeyFile": str(key), "headInterval": "1s"}}},
        )

    check = {
        "principal": {"id": "alice", "roles": ["user"]},
        "resources": [{"actions": ["view"], "resource": {"kind": "document", "id": "d", "attr": {}}}],
    }
    with replica(key_a) as a:
        assert httpx.post(f"{a.url}/api/check/resources", json=check).status_code == 200
        shutil.copy(key_a, key_b)  # the operator gives every replica the log's key file
        with replica(key_b) as b:
            assert httpx.post(f"{b.url}/api/check/resources", json=check).status_code == 200
            rotated = cli("rotate-key", "--db", pg_url, "--key", str(key_a), "--json")
            assert rotated.returncode == 0, rotated.stdout
            new = orjson.loads(rotated.stdout)["new_key"]
            shutil.copy(key_a, key_b)  # ... and the file with the new key after rotating
            for url in (a.url, b.url):
                assert httpx.post(f"{url}/api/check/resources", json=check).json()["results"][0][
                    "actions"
                ] == {"view": "EFFECT_ALLOW"}
        # b stopped; a signs the heads now, with the new key
        assert httpx.post(f"{a.url}/api/check/resources", json=check).status_code == 200
        wait_until(lambda: httpx.get(f"{a.url}/api/audit/head").json()["verifier_key"] == new, what="new key")
        head = httpx.get(f"{a.url}/api/audit/head").json()
        assert _signers_of(head["checkpoint"], [new]) == [new]
    with replica(key_b) as b:  # a fresh replica with the file of both keys signs with the new key
        assert httpx.post(f"{b.url}/api/check/resources", json=check).status_code == 200
        wait_until(lambda: httpx.get(f"{b.url}/api/audit/head").json()["tree_size"] >= 5, what="head")
    report = cli("verify", "--db", pg_url, "--json")
    assert report.returncode == 0, report.stdout
    assert orjson.loads(report.stdout)["keys"][-1] == new


def test_witnesses_across_a_rotation(tmp_path):
    from chamberlain.audit.storage.tree import TreeStore
    from chamberlain.audit.tlog.merkle import consistency_path
    from chamberlain.audit.tools.witness.cosignature import Cosigner
    from chamberlain.audit.tools.witness.protocol import request_body
    from chamberlain.audit.tools.witness.server import Witness

    url, old, new, seq = _rotated_log(tmp_path)
    db = open_database(url)
    try:
        heads = {h.size: h for h in all_heads(db)}
        tree = TreeStore(db)
        last = max(heads)

        def submit(witness: Witness, old_size: int, size: int) -> int:
            proof = consistency_path(tree, old_size, size) if old_size else []
            return witness.add_checkpoint(request_body(old_size, proof, heads[size].note)).status

        cosigner = Cosigner.generate("witness.test/r")
        knows_old = Witness(cosigner, [Verifier.parse(old)], open_database(f"sqlite:///{tmp_path / 'w1.db'}"))
        assert submit(knows_old, 0, seq + 1) == 200  # the rotation's head carries the old key's signature too
        assert submit(knows_old, seq + 1, last) == 403  # later heads: only the new key, unknown to it
        knows_both = Witness(
            cosigner,
            [Verifier.parse(old), Verifier.parse(new)],
            open_database(f"sqlite:///{tmp_path / 'w2.db'}"),
        )
        assert submit(knows_both, 0, seq + 1) == 200 and submit(knows_both, seq + 1, last) == 200
    finally:
        db.close()
