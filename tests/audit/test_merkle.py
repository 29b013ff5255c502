"""The tree against the published RFC 6962 test vectors used by Certificate Transparency code.

Leaf inputs, roots and proofs below are the ones published with Google's CT / transparency-dev Merkle
libraries; the writer (recursive RFC 6962 definitions) must reproduce them and the verifier (RFC 9162
iterative algorithms) must accept them and reject every mutation.
"""

from __future__ import annotations

import hashlib

import pytest

from modelseal.audit import merkle, proofs

LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
LEAF_HASHES = [
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    )
]


def _h(*hexes: str) -> list[bytes]:
    return [bytes.fromhex(x) for x in hexes]


# (leaf index 0-based, tree size, proof)
INCLUSION = [
    (
        0,
        8,
        _h(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        5,
        8,
        _h(
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (2, 3, _h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (
        1,
        5,
        _h(
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
]
# (old size, new size, proof)
CONSISTENCY = [
    (
        1,
        8,
        _h(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        6,
        8,
        _h(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (
        2,
        5,
        _h(
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
    (
        6,
        7,
        _h(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
]


def test_leaf_hashes_match_published() -> None:
    assert [merkle.leaf_hash(d) for d in LEAF_INPUTS] == LEAF_HASHES


@pytest.mark.parametrize("size", range(9))
def test_roots_match_published(size: int) -> None:
    leaves = [merkle.leaf_hash(d) for d in LEAF_INPUTS[:size]]
    assert merkle.subtree_root(leaves) == ROOTS[size]
    acc = merkle.RootAccumulator()
    acc.extend(leaves)
    assert acc.root() == ROOTS[size]


def test_empty_root_is_hash_of_nothing() -> None:
    assert ROOTS[0] == hashlib.sha256(b"").digest()


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proofs_match_and_verify(index: int, size: int, proof: list[bytes]) -> None:
    assert merkle.inclusion_proof(index, LEAF_HASHES[:size]) == proof
    proofs.verify_inclusion(index, size, LEAF_HASHES[index], proof, ROOTS[size])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_proofs_match_and_verify(old: int, new: int, proof: list[bytes]) -> None:
    assert merkle.consistency_proof(old, LEAF_HASHES[:new]) == proof
    proofs.verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


def _flip(proof: list[bytes], i: int) -> list[bytes]:
    out = list(proof)
    out[i] = bytes([out[i][0] ^ 8]) + out[i][1:]
    return out


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_mutations_are_rejected(index: int, size: int, proof: list[bytes]) -> None:
    root, leaf = ROOTS[size], LEAF_HASHES[index]
    some = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
    bad = [
        (index - 1, size, leaf, proof, root),
        (index + 1, size, leaf, proof, root),
        (index ^ 2, size, leaf, proof, root),
        (index, size * 2, leaf, proof, root),
        (index, size // 2, leaf, proof, root),
        (index, size, some, proof, root),
        (index, size, leaf, proof, ROOTS[0]),
        (index, size, leaf, [*proof, root], root),
        (index, size, leaf, [root, *proof], root),
        (index, size, leaf, proof[:-1], root),
        *((index, size, leaf, _flip(proof, i), root) for i in range(len(proof))),
    ]
    for args in bad:
        with pytest.raises(proofs.ProofError):
            proofs.verify_inclusion(*args)


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_mutations_are_rejected(old: int, new: int, proof: list[bytes]) -> None:
    r1, r2 = ROOTS[old], ROOTS[new]
    bad = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
        *((old, new, r1, r2, _flip(proof, i)) for i in range(len(proof))),
    ]
    for args in bad:
        if args[0] == args[1] and args[2] == args[3] and not args[4]:
            continue  # equal sizes with equal roots are trivially consistent
        with pytest.raises(proofs.ProofError):
            proofs.verify_consistency(*args)


def test_every_proof_of_a_larger_tree_verifies() -> None:
    """Writer and verifier agree on all sizes, not just the vectors (independent implementations)."""
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(40)]
    for size in range(1, 41):
        root = merkle.subtree_root(leaves[:size])
        for index in range(size):
            proofs.verify_inclusion(
                index, size, leaves[index], merkle.inclusion_proof(index, leaves[:size]), root
            )
        for old in range(size + 1):
            old_root = merkle.subtree_root(leaves[:old])
            proofs.verify_consistency(old, size, old_root, root, merkle.consistency_proof(old, leaves[:size]))
