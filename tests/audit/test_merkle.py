"""RFC 9162 hashing and proofs: published test vectors, and an independent verifier written from the RFC.

Vectors (tests/audit/vectors/, see README there): transparency-dev/merkle's leaf inputs, roots
for every size 0..8, the proofs its proof generator emits, and its 196 inclusion and consistency
probes (valid proofs and corrupted ones that must be rejected).
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from chamberlain.audit.tlog import merkle
from chamberlain.audit.tlog.merkle import ProofError
from tests.audit.support import VECTORS

TREE = json.loads((VECTORS / "tree.json").read_text())
LEAVES = [bytes.fromhex(x) for x in TREE["leaf_inputs_hex"]]
LEAF_HASHES = [merkle.leaf_hash(x) for x in LEAVES]


# -- an independent reference, straight from RFC 9162 §2.1 (recursive definitions) -------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def proof(m: int, d: list[bytes]) -> list[bytes]:
    return subproof(m, d, True)


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = _k(n)
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def _data(n: int) -> list[bytes]:
    return [f"entry {i}".encode() for i in range(n)]


# -- published vectors ------------------------------------------------------------------------------


def test_hashes_of_the_rfc6962_test_data():
    h = TREE["hashes"]
    assert merkle.EMPTY_ROOT.hex() == h["empty_root"]
    assert merkle.leaf_hash(b"").hex() == h["leaf_empty"]
    assert merkle.leaf_hash(b"L123456").hex() == h["leaf_L123456"]
    assert merkle.node_hash(b"N123", b"N456").hex() == h["children_N123_N456"]


@pytest.mark.parametrize("size", range(9))
def test_roots_for_every_size(size):
    assert merkle.root_of(LEAF_HASHES[:size]).hex() == TREE["root_hashes_hex_by_size"][size]
    assert mth(LEAVES[:size]).hex() == TREE["root_hashes_hex_by_size"][size]


@pytest.mark.parametrize(
    "case", TREE["inclusion_proofs"], ids=lambda c: f"{c['leaf_index']}@{c['tree_size']}"
)
def test_published_inclusion_proofs(case):
    i, n = case["leaf_index"], case["tree_size"]
    got = merkle.inclusion_path(merkle.LeafList(LEAF_HASHES[:n]), i, n)
    assert [h.hex() for h in got] == case["audit_path"]
    merkle.verify_inclusion(i, n, LEAF_HASHES[i], got, bytes.fromhex(TREE["root_hashes_hex_by_size"][n]))


@pytest.mark.parametrize("case", TREE["consistency_proofs"], ids=lambda c: f"{c['first']}-{c['second']}")
def test_published_consistency_proofs(case):
    m, n = case["first"], case["second"]
    got = merkle.consistency_path(merkle.LeafList(LEAF_HASHES[:n]), m, n)
    assert [h.hex() for h in got] == case["consistency_path"]
    roots = TREE["root_hashes_hex_by_size"]
    merkle.verify_consistency(m, n, bytes.fromhex(roots[m]), bytes.fromhex(roots[n]), got)


def _b(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


INCLUSION_PROBES = json.loads((VECTORS / "inclusion_probes.json").read_text())
CONSISTENCY_PROBES = json.loads((VECTORS / "consistency_probes.json").read_text())


@pytest.mark.parametrize(
    "probe", INCLUSION_PROBES, ids=lambda p: p["file"].removeprefix("testdata/inclusion/")
)
def test_inclusion_probes(probe):
    def run() -> None:
        merkle.verify_inclusion(
            probe["leafIdx"],
            probe["treeSize"],
            _b(probe["leafHash"]),
            [_b(x) for x in probe["proof"] or []],
            _b(probe["root"]),
        )

    if probe["wantErr"]:
        with pytest.raises(ProofError):
            run()
    else:
        run()


@pytest.mark.parametrize(
    "probe", CONSISTENCY_PROBES, ids=lambda p: p["file"].removeprefix("testdata/consistency/")
)
def test_consistency_probes(probe):
    def run() -> None:
        merkle.verify_consistency(
            probe["size1"],
            probe["size2"],
            _b(probe["root1"]),
            _b(probe["root2"]),
            [_b(x) for x in probe["proof"] or []],
        )

    if probe["wantErr"]:
        with pytest.raises(ProofError):
            run()
    else:
        run()


# -- against the independent reference ------------------------------------------------------------


def test_every_proof_up_to_40_leaves_matches_the_rfc_definitions():
    for n in range(1, 41):
        d = _data(n)
        hashes = [merkle.leaf_hash(x) for x in d]
        source = merkle.LeafList(hashes)
        root = mth(d)
        assert merkle.root_of(hashes) == root
        for m in range(n):
            assert merkle.inclusion_path(source, m, n) == path(m, d)
            merkle.verify_inclusion(m, n, hashes[m], path(m, d), root)
        for m in range(1, n + 1):
            assert merkle.consistency_path(source, m, n) == proof(m, d[:n])
            merkle.verify_consistency(m, n, mth(d[:m]), root, proof(m, d[:n]))


def test_the_edge_stores_what_it_closes():
    edge = merkle.Edge()
    closed = {}
    for h in [merkle.leaf_hash(x) for x in _data(37)]:
        for level, index, node in edge.append(h):
            closed[(level, index)] = node
    assert edge.root() == mth(_data(37))
    assert closed[(5, 0)] == mth(_data(32))
    assert closed[(2, 8)] == mth(_data(36)[32:36])
    assert merkle.edge_levels(37) == [(5, 0), (2, 8), (0, 36)]


def test_wrong_proofs_are_rejected():
    d = _data(11)
    hashes = [merkle.leaf_hash(x) for x in d]
    good = path(4, d)
    with pytest.raises(ProofError, match="does not lead to the root"):
        merkle.verify_inclusion(4, 11, hashes[5], good, mth(d))
    with pytest.raises(ProofError, match="shorter"):
        merkle.verify_inclusion(4, 11, hashes[4], good[:-1], mth(d))
    with pytest.raises(ProofError, match="not in a tree"):
        merkle.inclusion_path(merkle.LeafList(hashes), 11, 11)
    with pytest.raises(ProofError, match="second root"):
        merkle.verify_consistency(3, 11, mth(d[:3]), mth(d[:10]), proof(3, d))


# -- format 2 leaves (tests/audit/vectors/leaf_v2.json), checked with hashlib and rfc8785 only ----------


def test_format_2_vectors_verify_independently():
    import rfc8785

    v = json.loads((VECTORS / "leaf_v2.json").read_text())
    request = v["request"]
    digest = hashlib.sha256(bytes.fromhex(request["salt_hex"]) + request["body"].encode()).hexdigest()
    assert digest == request["digest_hex"]
    data = []
    for e in v["entries"]:
        content = hashlib.sha256(bytes.fromhex(e["salt_hex"]) + e["content"].encode()).hexdigest()
        assert content == e["content_digest_hex"] == e["leaf"]["content"]
        assert e["leaf"]["request"] == digest and e["leaf"]["v"] == 2 and e["leaf"]["seq"] == e["seq"]
        assert rfc8785.dumps(e["leaf"]) == e["leaf_data"].encode()  # the leaf data is RFC 8785 JSON
        assert hashlib.sha256(b"\x00" + e["leaf_data"].encode()).hexdigest() == e["leaf_hash_hex"]
        data.append(e["leaf_data"].encode())
    assert mth(data).hex() == v["root_hex"]
    for m in range(len(data)):  # every inclusion path, from the RFC's definition, checks out
        merkle.verify_inclusion(
            m, len(data), merkle.leaf_hash(data[m]), path(m, data), bytes.fromhex(v["root_hex"])
        )


def test_format_2_vectors_are_what_the_log_writes():
    from chamberlain.audit.write.entry import leaf_body, make_entry

    v = json.loads((VECTORS / "leaf_v2.json").read_text())
    for e in v["entries"]:
        leaf = e["leaf"]
        public = {k: leaf[k] for k in ("call_id", "point", "action", "effect", "resource_kind", "basis")}
        entry = make_entry(
            "decision",
            leaf["time"],
            public,
            json.loads(e["content"]),
            bytes.fromhex(e["salt_hex"]),
            bytes.fromhex(v["request"]["digest_hex"]),
        )
        assert entry.content == e["content"].encode()
        assert leaf_body(entry, e["seq"]) == e["leaf_data"].encode()
