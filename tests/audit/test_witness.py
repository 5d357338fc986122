"""Witnesses (C2SP tlog-witness): two real `chamberlain audit witness` processes on loopback cosign the
log's heads; `audit verify --require-witnesses N` counts distinct witness keys; a witness refuses
inconsistent checkpoints; witnesses that answer garbage or nothing never touch the log or a check."""

from __future__ import annotations

import base64
import hashlib
import http.server
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from chamberlain import PDP, Principal, Resource
from chamberlain.audit.log import DecisionLog, LogOptions
from chamberlain.audit.storage.tree import TreeStore
from chamberlain.audit.tlog.merkle import EMPTY_ROOT
from chamberlain.audit.tlog.note import Checkpoint, Signer
from chamberlain.audit.tools.witness.client import WitnessConfig, cosignatures
from chamberlain.audit.tools.witness.cosignature import Cosigner, CosignerKey
from chamberlain.audit.tools.witness.protocol import request_body
from chamberlain.audit.tools.witness.server import Witness
from chamberlain.store.db import open_database
from tests.audit.support import cli as run
from tests.audit.support import wait_until
from tests.support.cerbos_server import free_port

CHAMBERLAIN = str(Path(sys.executable).parent / "chamberlain")


# -- cosignature/v1 ----------------------------------------------------------------------------------


def test_cosignature_is_the_specified_message_and_layout():
    cosigner = Cosigner.generate("witness.example/w1")
    text = Checkpoint("example.com/log", 7, bytes(range(32))).text()
    line = cosigner.cosign(text, timestamp=1679315147)
    # independently of the implementation: C2SP tlog-cosignature's key id, message and signature layout
    public = cosigner.key.public
    key_id = hashlib.sha256(b"witness.example/w1\n\x04" + public).digest()[:4]
    assert line.startswith("\u2014 witness.example/w1 ") and line.endswith("\n")
    raw = base64.b64decode(line.split(" ")[2])
    assert raw[:4] == key_id and int.from_bytes(raw[4:12], "big") == 1679315147
    Ed25519PublicKey.from_public_bytes(public).verify(
        raw[12:], b"cosignature/v1\ntime 1679315147\n" + text.encode()
    )
    vkey = str(cosigner.key)
    encoded = base64.b64encode(b"\x04" + public).decode()
    assert vkey == f"witness.example/w1+{key_id.hex()}+{encoded}"
    assert CosignerKey.parse(vkey).verify_line(line.rstrip("\n"), text) == 1679315147
    assert Cosigner.parse(cosigner.private_text()).key == cosigner.key
    other = Cosigner.generate("witness.example/w1")
    assert other.key.verify_line(line.rstrip("\n"), text) is None  # another key (same name): ignored


# -- the witness's rules, in process -------------------------------------------------------------------


def _log_head(signer: Signer, size: int, root: bytes) -> str:
    return signer.sign(Checkpoint(signer.name, size, root).text())


@pytest.fixture
def logged(tmp_path):
    """A real log of 20 entries and its signer; its tree gives roots and proofs."""
    url = f"sqlite:///{tmp_path / 'd.db'}"
    with DecisionLog.open(url, LogOptions(key_file=tmp_path / "log.key")) as log:
        from tests.audit.support import decision

        log.record([decision(i) for i in range(20)])
        signer = log.keys.newest
    db = open_database(url)
    yield signer, TreeStore(db)
    db.close()


def test_witness_cosigns_consistent_checkpoints_and_refuses_the_rest(tmp_path, logged):
    signer, tree = logged
    cosigner = Cosigner.generate("witness.test/a")
    witness = Witness(cosigner, [signer.verifier], open_database(f"sqlite:///{tmp_path / 'w.db'}"))
    first = witness.add_checkpoint(request_body(0, [], _log_head(signer, 10, tree.root(10))))
    assert first.status == 200
    assert cosigner.key.verify_line(
        first.body.decode().rstrip("\n"), Checkpoint(signer.name, 10, tree.root(10)).text()
    )
    # the old size must be the one it holds: 409 with its size
    stale = witness.add_checkpoint(request_body(0, [], _log_head(signer, 12, tree.root(12))))
    assert (stale.status, stale.body, stale.content_type) == (409, b"10\n", "text/x.tlog.size")
    from chamberlain.audit.tlog.merkle import consistency_path

    good = witness.add_checkpoint(
        request_body(10, consistency_path(tree, 10, 15), _log_head(signer, 15, tree.root(15)))
    )
    assert good.status == 200
    # a fork: size 18 with another root, or a proof that does not lead there: 422, nothing stored
    forked = witness.add_checkpoint(
        request_body(15, consistency_path(tree, 15, 18), _log_head(signer, 18, b"\x07" * 32))
    )
    assert forked.status == 422 and b"not consistent" in forked.body
    same_size = witness.add_checkpoint(request_body(15, [], _log_head(signer, 15, b"\x07" * 32)))
    assert same_size.status == 422
    assert witness.add_checkpoint(request_body(15, [], _log_head(signer, 16, tree.root(16)))).status == 422
    # rolled back: old size beyond the checkpoint
    assert witness.add_checkpoint(request_body(15, [], _log_head(signer, 14, tree.root(14)))).status == 400
    # unknown origin, a signature that does not verify, no known signature, garbage, the empty tree's root
    stranger = Signer.generate("someone/else")
    assert witness.add_checkpoint(request_body(15, [], _log_head(stranger, 16, tree.root(16)))).status == 404
    forged = _log_head(signer, 16, tree.root(16)).replace(
        Checkpoint(signer.name, 16, tree.root(16)).text(), Checkpoint(signer.name, 16, tree.root(17)).text()
    )
    assert witness.add_checkpoint(request_body(15, [], forged)).status == 403
    impostor = Signer.generate(signer.name)  # same name, another key: its signature is ignored -> none known
    assert witness.add_checkpoint(request_body(15, [], _log_head(impostor, 16, tree.root(16)))).status == 403
    for garbage in (
        b"",
        b"hello",
        b"old x\n\nfoo",
        b"old 1\nnot-base64!\n\n" + _log_head(signer, 16, tree.root(16)).encode(),
        "old 0\n\n\u2014 no checkpoint\n".encode(),
        b"\xff\xfe\n\n",
    ):
        assert witness.add_checkpoint(garbage).status == 400, garbage
    assert (
        witness.add_checkpoint(request_body(0, [], _log_head(signer, 0, EMPTY_ROOT))).status == 409
    )  # 15 held
    fresh = Witness(cosigner, [signer.verifier], open_database(f"sqlite:///{tmp_path / 'w2.db'}"))
    assert fresh.add_checkpoint(request_body(0, [], _log_head(signer, 0, b"\x01" * 32))).status == 422
    assert fresh.add_checkpoint(request_body(0, [], _log_head(signer, 0, EMPTY_ROOT))).status == 200
    # what it holds survives a restart, and is served to monitors with both signatures
    again = Witness(cosigner, [signer.verifier], open_database(f"sqlite:///{tmp_path / 'w.db'}"))
    held = again.add_checkpoint(request_body(0, [], _log_head(signer, 16, tree.root(16))))
    assert held.status == 409 and held.body == b"15\n"
    served = again.checkpoint(hashlib.sha256(signer.name.encode()).hexdigest())
    assert served.status == 200 and served.body.decode().count("\u2014 ") == 2


# -- two real witnesses on loopback -----------------------------------------------------------------


class WitnessProcess:
    def __init__(self, tmp: Path, name: str, log_keys: list[str]):
        self.key_file = tmp / f"{name.replace('/', '_')}.key"
        self.vkey = run_cli("witness", "--key", str(self.key_file), "--name", name, "--print-key").strip()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [
            CHAMBERLAIN,
            "audit",
            "witness",
            "--key",
            str(self.key_file),
            "--listen",
            f"127.0.0.1:{self.port}",
        ]
        for k in log_keys:
            args += ["--log-key", k]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert self.proc.poll() is None, self.proc.stderr.read().decode()
                assert time.monotonic() < deadline, "witness did not start"
                time.sleep(0.05)

    def config(self) -> WitnessConfig:
        return WitnessConfig.parse(self.url, self.vkey)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def run_cli(*args: str) -> str:
    result = run(*args)
    assert result.returncode == 0, result.stdout
    return result.stdout


def test_two_witnesses_cosign_and_verify_requires_them(tmp_path, policies):
    key_file = tmp_path / "log.key"
    url = f"sqlite:///{tmp_path / 'd.db'}"
    DecisionLog.open(url, LogOptions(key_file=key_file)).close()  # creates the log and its key
    log_key = str(Signer.parse(key_file.read_text()).verifier)
    a, b = (
        WitnessProcess(tmp_path, "witness.test/a", [log_key]),
        WitnessProcess(tmp_path, "witness.test/b", [log_key]),
    )
    keys = ["--witness-key", a.vkey, "--witness-key", b.vkey]
    try:
        options = LogOptions(key_file=key_file, witnesses=(a.config(), b.config()), witness_timeout=2.0)
        with DecisionLog.open(url, options) as log:
            pdp = PDP.from_directory(policies, audit=log)
            for i in range(3):
                pdp.check(Principal("alice", ["user"]), Resource("document", f"d{i}"), ["view"])
            head = log.sign_head()
            db = open_database(url)
            wait_until(lambda: len(cosignatures(db, head.size)) == 2, what="two cosignatures")
            ok = run("verify", "--db", url, "--require-witnesses", "2", *keys)
            assert ok.returncode == 0 and "witnessed: the latest head is cosigned by" in ok.stdout, ok.stdout
            # one witness gone: the next head gets one cosignature; two are required
            b.stop()
            pdp.check(Principal("alice", ["user"]), Resource("document", "d9"), ["view"])
            head = log.sign_head()
            wait_until(
                lambda: len(cosignatures(db, head.size)) == 1 and log.stats()["witness_failed"] >= 1,
                what="a's cosignature and b's failure",
            )
            short = run("verify", "--db", url, "--require-witnesses", "2", *keys)
            assert (
                short.returncode == 1 and "cosigned by 1 of the trusted witnesses, 2 required" in short.stdout
            )
            assert run("verify", "--db", url, "--require-witnesses", "1", *keys).returncode == 0
            # the same witness twice is one witness; an untrusted key counts for nothing
            twice = run(
                "verify",
                "--db",
                url,
                "--require-witnesses",
                "2",
                "--witness-key",
                a.vkey,
                "--witness-key",
                a.vkey,
            )
            assert twice.returncode == 1
            stranger = str(Cosigner.generate("witness.test/c").key)
            none = run("verify", "--db", url, "--require-witnesses", "1", "--witness-key", stranger)
            assert none.returncode == 1 and "cosigned by 0" in none.stdout
            db.close()
        # the witness gets the next head with a consistency proof from the size it holds
        got = httpx.get(f"{a.url}/{hashlib.sha256(log.origin.encode()).hexdigest()}/checkpoint").text
        assert got.startswith(f"{log.origin}\n") and got.count("\u2014 ") == 2
    finally:
        a.stop()
        if b.proc.poll() is None:
            b.stop()
    assert run("verify", "--db", url, "--require-witnesses", "1").returncode == 2  # which witnesses? say so


class _Garbage(http.server.BaseHTTPRequestHandler):
    answers = [b"hello", b"\xe2\x80\x94 witness.test/x AAAA\n", b"\xff" * 100]
    calls = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = self.answers[type(self).calls % len(self.answers)]
        type(self).calls += 1
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_witnesses_that_answer_garbage_or_nothing_never_touch_the_log_or_a_check(tmp_path, policies):
    garbage = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    threading.Thread(target=garbage.serve_forever, daemon=True).start()
    silent = socket.socket()  # accepts connections, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    refused = f"http://127.0.0.1:{free_port()}"
    key = str(Cosigner.generate("witness.test/x").key)
    witnesses = tuple(
        WitnessConfig.parse(u, key)
        for u in (
            f"http://127.0.0.1:{garbage.server_address[1]}",
            f"http://127.0.0.1:{silent.getsockname()[1]}",
            refused,
        )
    )
    url = f"sqlite:///{tmp_path / 'd.db'}"
    try:
        with DecisionLog.open(
            url, LogOptions(key_file=tmp_path / "k", witnesses=witnesses, witness_timeout=0.5)
        ) as log:
            pdp = PDP.from_directory(policies, audit=log)
            started = time.monotonic()
            for i in range(3):
                assert pdp.check(
                    Principal("alice", ["user"]), Resource("document", f"d{i}"), ["view"]
                ).is_allowed("view")
                log.sign_head()
            assert (
                time.monotonic() - started < 30
            )  # nothing waited for the witnesses (a sanity bound, not a timing test)
            wait_until(
                lambda: log.stats()["witness_failed"] >= 9, timeout=30, what="every witness failure counted"
            )
            db = open_database(url)
            assert db.value("SELECT count(*) FROM audit_cosignatures") == 0
            db.close()
    finally:
        garbage.shutdown()
        silent.close()
    assert run("verify", "--db", url).returncode == 0


def test_a_witness_answers_400_to_tree_sizes_that_are_not_ascii_uint63(tmp_path, logged):
    """An unauthenticated caller posts checkpoints whose size `str.isdigit` accepts but `int` does not
    (a superscript two), or spells in other digits, or that SQLite cannot store: a real witness on loopback
    answers 400 to each (it answered 500 before reading the signature) and keeps cosigning."""
    signer, tree = logged
    witness = WitnessProcess(tmp_path, "witness.test/sizes", [str(signer.verifier)])
    root = base64.b64encode(tree.root(10)).decode()
    try:
        with httpx.Client(base_url=witness.url, timeout=10) as client:
            for size in ("\u00b2", "\u0661\u0660", "\uff11\uff10", str(2**63), "9" * 30):
                note = signer.sign(f"{signer.name}\n{size}\n{root}\n")
                answer = client.post("/add-checkpoint", content=request_body(0, [], note))
                assert answer.status_code == 400, (size, answer.status_code, answer.text)
                assert "tree size" in answer.text
            good = client.post(
                "/add-checkpoint", content=request_body(0, [], _log_head(signer, 10, tree.root(10)))
            )
            assert good.status_code == 200
    finally:
        witness.stop()
