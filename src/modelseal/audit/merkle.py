"""The writer's side of the RFC 6962 (section 2.1) Merkle tree: hashes, roots and proofs.

Written from the RFC's recursive definitions (MTH, PATH, PROOF) so that it shares no code with
:mod:`modelseal.audit.proofs`, which checks proofs with the iterative algorithms of RFC 9162.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d): the prefix keeps leaves and inner nodes apart."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def subtree_root(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes, by the RFC's recursion (depth is log2 of the size)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = _split(n)
    return node_hash(subtree_root(leaves[:k]), subtree_root(leaves[k:]))


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]): the audit path of leaf ``index`` in the tree over ``leaves``."""
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError(f"leaf {index} is not in a tree of size {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_proof(index, leaves[:k]), subtree_root(leaves[k:])]
    return [*inclusion_proof(index - k, leaves[k:]), subtree_root(leaves[:k])]


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]): proves that the first ``old_size`` leaves are a prefix of ``leaves``."""
    n = len(leaves)
    if not 0 <= old_size <= n:
        raise ValueError(f"size {old_size} is not a prefix of a tree of size {n}")
    if old_size in (0, n):
        return []
    return _subproof(old_size, leaves, True)


def _subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [subtree_root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), subtree_root(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), subtree_root(leaves[:k])]


class RootAccumulator:
    """Roots of every prefix of a growing log in O(log n) memory (the "compact range").

    Keeps the roots of the perfect subtrees that make up the tree so far, largest first; the root of
    the whole tree folds them from the right, which is what MTH computes for an unbalanced tree.
    """

    def __init__(self) -> None:
        self._peaks: list[tuple[int, bytes]] = []
        self.size = 0

    def append(self, leaf: bytes) -> None:
        size, node = 1, leaf
        while self._peaks and self._peaks[-1][0] == size:
            left_size, left = self._peaks.pop()
            size, node = left_size + size, node_hash(left, node)
        self._peaks.append((size, node))
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        if not self._peaks:
            return hashlib.sha256(b"").digest()
        node = self._peaks[-1][1]
        for _, left in reversed(self._peaks[:-1]):
            node = node_hash(left, node)
        return node
