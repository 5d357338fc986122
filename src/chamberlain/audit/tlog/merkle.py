"""RFC 9162 Merkle trees: hashing, the growing right edge of the tree, proofs and their verification.

Leaf hash ``SHA-256(0x00 || entry)``, node hash ``SHA-256(0x01 || left || right)``; the tree over
``n`` leaves splits at the largest power of two below ``n`` (RFC 9162 §2.1.1). Proofs are built
from the hashes of *complete* subtrees (aligned, power-of-two sized), which the log stores or
computes: :class:`NodeSource` is whatever answers ``hash_at(level, index)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol

from chamberlain.errors import Error

EMPTY_ROOT = hashlib.sha256(b"").digest()
_sha256 = hashlib.sha256


class ProofError(Error):
    """A proof that cannot be made (index or sizes out of range) or that does not verify."""


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """The root of the tree whose leaves have these hashes (``EMPTY_ROOT`` for none)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    edge = Edge()
    for h in leaf_hashes:
        edge.append(h)
    return edge.root()


class Edge:
    """The right edge of a growing tree: the roots of its complete subtrees, largest first.

    ``append`` adds a leaf hash and returns the complete subtrees it closed as
    ``(level, index, hash)``; the log stores those of some levels (see :data:`STRIDE`).
    """

    __slots__ = ("nodes", "size")

    def __init__(self, size: int = 0, nodes: Iterable[tuple[int, bytes]] = ()):
        self.size = size
        self.nodes: list[tuple[int, bytes]] = list(nodes)  # (level, hash), levels strictly decreasing

    def copy(self) -> Edge:
        return Edge(self.size, self.nodes)

    def append(self, h: bytes) -> list[tuple[int, int, bytes]]:
        nodes = self.nodes
        closed: list[tuple[int, int, bytes]] = []
        level = 0
        self.size += 1
        while nodes and nodes[-1][0] == level:
            left = nodes.pop()[1]
            h = _sha256(b"\x01" + left + h).digest()
            level += 1
            closed.append((level, (self.size >> level) - 1, h))
        nodes.append((level, h))
        return closed

    def root(self) -> bytes:
        nodes = self.nodes
        if not nodes:
            return EMPTY_ROOT
        h = nodes[-1][1]
        for i in range(len(nodes) - 2, -1, -1):
            h = _sha256(b"\x01" + nodes[i][1] + h).digest()
        return h


def edge_levels(size: int) -> list[tuple[int, int]]:
    """The complete subtrees making up a tree of ``size`` leaves: ``(level, index)``, largest first."""
    out = []
    offset = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((level, offset >> level))
            offset += 1 << level
    return out


class NodeSource(Protocol):
    def hash_at(self, level: int, index: int) -> bytes:
        """The hash of the complete subtree of ``2**level`` leaves starting at leaf ``index << level``."""
        ...


def subtree_hash(source: NodeSource, start: int, end: int) -> bytes:
    """MTH of leaves ``[start, end)`` where ``start`` is aligned to the subtree's split (RFC 9162 §2.1.1)."""
    n = end - start
    if n & (n - 1) == 0 and start % n == 0:
        return source.hash_at(n.bit_length() - 1, start // n)
    k = _split(n)
    return node_hash(subtree_hash(source, start, start + k), subtree_hash(source, start + k, end))


def inclusion_path(source: NodeSource, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), leaf to root."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of {size} entries")
    path: list[bytes] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            path.append(subtree_hash(source, start + k, end))
            end = start + k
        else:
            path.append(subtree_hash(source, start, start + k))
            start, m = start + k, m - k
    path.reverse()
    return path


def consistency_path(source: NodeSource, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[0:second]) (RFC 9162 §2.1.4.1)."""
    if not 0 < first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}: need 0 < first <= second")
    if first == second:
        return []
    path: list[bytes] = []
    start, end, m, whole = 0, second, first, True
    while True:
        n = end - start
        if m == n:
            if not whole:
                path.append(subtree_hash(source, start, end))
            break
        k = _split(n)
        if m <= k:
            path.append(subtree_hash(source, start + k, end))
            end = start + k
        else:
            path.append(subtree_hash(source, start, start + k))
            start, m, whole = start + k, m - k, False
    path.reverse()
    return path


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes) -> None:
    """Check an inclusion proof (RFC 9162 §2.1.3.2); raises :class:`ProofError` when it fails."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of {size} entries")
    _check_sizes(leaf, root, *path)
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is deep")
    if r != root:
        raise ProofError("inclusion proof does not lead to the root hash")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]
) -> None:
    """Check a consistency proof (RFC 9162 §2.1.4.2); raises :class:`ProofError` when it fails."""
    if not 0 < first <= second:
        raise ProofError(
            f"sizes {first} and {second}: need 0 < first <= second (every tree extends the empty one)"
        )
    if first == second:
        if path:
            raise ProofError("a consistency proof between equal sizes must be empty")
        if first_root != second_root:
            raise ProofError("equal tree sizes with different root hashes")
        return
    _check_sizes(first_root, second_root, *path)
    if not path:
        raise ProofError("empty consistency proof")
    nodes = list(path)
    if first & (first - 1) == 0:  # a power of two: the first tree is a subtree of the proof's start
        nodes.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the tree is deep")
    if fr != first_root:
        raise ProofError("consistency proof does not lead to the first root hash")
    if sr != second_root:
        raise ProofError("consistency proof does not lead to the second root hash")


def _check_sizes(*hashes: bytes) -> None:
    if any(len(h) != 32 for h in hashes):
        raise ProofError("every hash in a proof is 32 bytes (SHA-256)")


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class LeafList:
    """A :class:`NodeSource` over leaf hashes held in memory (small trees, tests)."""

    def __init__(self, leaves: Sequence[bytes]):
        self.leaves = leaves

    def hash_at(self, level: int, index: int) -> bytes:
        width = 1 << level
        return root_of(self.leaves[index * width : (index + 1) * width])
