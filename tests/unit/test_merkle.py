"""The RFC 9162 Merkle tree (domain/merkle.py): published vectors, an independent library,
a transcription of the RFC's recursive definitions, and tampering that must be caught."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymerkle import InmemoryTree  # type: ignore[import-untyped]  # no stubs

from domain.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    Frontier,
    NodeId,
    ProofError,
    consistency_proof,
    consistency_proof_ids,
    inclusion_proof,
    inclusion_proof_ids,
    leaf_hash,
    node_hash,
    root_hash,
    root_ids,
    subtree_hash,
    subtree_ids,
    verify_consistency,
    verify_inclusion,
)

h = bytes.fromhex

# ---- Published test vectors -----------------------------------------------------------------
#
# Copied from github.com/transparency-dev/merkle (the RFC 6962 / 9162 library behind Trillian),
# commit 417fb0c314750d94e53942e9f92e79b6d35915db. RFC 9162 hashing is unchanged from RFC 6962,
# so these apply as they are.

# rfc6962/rfc6962_test.go, TestRFC6962Hasher.
HASHER_VECTORS = {
    "empty root": (EMPTY_ROOT, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    "empty leaf": (
        leaf_hash(b""),
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    ),
    "leaf": (
        leaf_hash(b"L123456"),
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56",
    ),
    "node": (
        node_hash(b"N123", b"N456"),
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb",
    ),
}

# testonly/constants.go, LeafInputs().
VECTOR_LEAVES = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]

# testonly/constants.go, NodeHashes(): [level][index] for every perfect subtree of the 8 leaves.
VECTOR_NODES = [
    [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [
        h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
    ],
]

# testonly/constants.go, RootHashes(): the root of the first n leaves, n = 0..8.
VECTOR_ROOTS = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]

# testonly/constants.go, CompactTrees(): the frontier of the first n leaves, as
# (level, index) positions into VECTOR_NODES.
VECTOR_FRONTIERS: list[list[NodeId]] = [
    [],
    [(0, 0)],
    [(1, 0)],
    [(1, 0), (0, 2)],
    [(2, 0)],
    [(2, 0), (0, 4)],
    [(2, 0), (1, 2)],
    [(2, 0), (1, 2), (0, 6)],
    [(3, 0)],
]

# cmd/proofgen/main.go, `inclusionProofs` (it counts leaves from 1; here from 0):
# (leaf index, tree size, audit path).
VECTOR_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]

# cmd/proofgen/main.go, `consistencyProofs`: (old size, new size, proof).
VECTOR_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

# Edge-case probes from testdata/ (generated by cmd/proofgen), hashes decoded from base64.
# "don't care" stands for the 12-byte values the probes use where a root does not matter.
_DONT_CARE_1 = b"don't care 1"
_DONT_CARE_2 = b"don't care 2"
_SINGLE_ENTRY = h("0d3aed023148ffd2a259fbd0cdc7fb3cf975658760d3775b82af6f90aacc2dfc")
_RANDOM = h("abacaba000000000000000000000000000000000000000000060061e00123456")

# testdata/inclusion/single-entry/*.json and testdata/inclusion/additional/*/*.json:
# (file, leaf, index, size, root, expected).
VECTOR_INCLUSION_PROBES = [
    ("single-entry/matching-root-and-leaf", _SINGLE_ENTRY, 0, 1, _SINGLE_ENTRY, True),
    ("single-entry/empty-leaf", b"", 0, 1, _SINGLE_ENTRY, False),
    ("single-entry/empty-root", _SINGLE_ENTRY, 0, 1, b"", False),
    ("single-entry/empty-root-and-leaf", b"", 0, 1, b"", False),
    ("additional/0/empty-root-and-random-leaf", _RANDOM, 0, 0, EMPTY_ROOT, False),
    ("additional/1/empty-root-and-random-leaf", _RANDOM, 0, 1, EMPTY_ROOT, False),
    ("additional/2/empty-root-and-random-leaf", _RANDOM, 1, 0, EMPTY_ROOT, False),
    ("additional/3/empty-root-and-random-leaf", _RANDOM, 2, 1, EMPTY_ROOT, False),
]

# testdata/consistency/additional/*.json: (file, old, new, old root, new root, proof, expected).
_EMPTY_3 = (EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])  # old root, new root and a one-element proof
VECTOR_CONSISTENCY_PROBES = [
    ("size1-is-greater-than-size2", 1, 0, _DONT_CARE_1, _DONT_CARE_2, [], False),
    ("size1-is-greater-than-size2-again", 2, 1, _DONT_CARE_1, _DONT_CARE_2, [], False),
    ("sizes-are-equal-one-but-roots-are-not", 1, 1, _DONT_CARE_1, _DONT_CARE_2, [], False),
    ("roots-do-not-not-match-and-sizes-are-one", 1, 1, EMPTY_ROOT, _DONT_CARE_2, [], False),
    ("sizes-do-not-watch-and-proof-is-empty", 1, 2, _DONT_CARE_1, _DONT_CARE_2, [], False),
    ("sizes-match-but-proof-is-not-empty-and-sizes-are-one", 1, 1, *_EMPTY_3, False),
    ("sizes-match-but-proof-is-not-empty-and-sizes-are-zero", 0, 0, *_EMPTY_3, False),
    ("sizes-are-equal-zero-but-roots-are-not", 0, 0, _DONT_CARE_1, _DONT_CARE_2, [], False),
    ("roots-do-not-match-and-sizes-are-zero", 0, 0, EMPTY_ROOT, _DONT_CARE_2, [], False),
    ("sizes-are-equal-zero-and-proof-is-empty", 0, 0, _DONT_CARE_1, _DONT_CARE_1, [], False),
    ("size1-is-zero-and-does-not-equal-size2", 0, 1, _DONT_CARE_1, _DONT_CARE_2, [], False),
    ("size1-is-zero-and-size2-is-not-zero", 0, 1, EMPTY_ROOT, _DONT_CARE_2, [], False),
    ("consistency-check-on-empty-tree-size1-is-zero-is-useless", 0, 1, *_EMPTY_3, False),
    # The one deliberate difference: transparency-dev accepts equal sizes with equal roots
    # of any length; here a root that is not a 32-byte hash is malformed.
    ("sizes-are-equal-one-and-proof-is-empty", 1, 1, _DONT_CARE_2, _DONT_CARE_2, [], False),
]


# ---- Helpers --------------------------------------------------------------------------------


def build(leaves: list[bytes]) -> tuple[dict[NodeId, bytes], list[Frontier]]:
    """Append the leaves' hashes one by one: the stored nodes and the frontier at every size."""
    store: dict[NodeId, bytes] = {}
    frontiers = [Frontier()]
    for data in leaves:
        frontier, completed = frontiers[-1].append(leaf_hash(data))
        for node, value in completed:
            assert node not in store
            store[node] = value
        frontiers.append(frontier)
    return store, frontiers


def only(store: Mapping[NodeId, bytes], ids: list[NodeId]) -> dict[NodeId, bytes]:
    """A mapping holding just `ids`, so a proof that reads anything else raises KeyError."""
    return {node: store[node] for node in ids}


def stored_by(size: int, node: NodeId) -> bool:
    """Whether `node` is complete (hence stored) once the tree has `size` leaves."""
    level, index = node
    return (index + 1) << level <= size


def random_leaves(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(rng.randrange(0, 48)) for _ in range(count)]


def flip(value: bytes) -> bytes:
    return bytes([value[0] ^ 0x08]) + value[1:]


SMALL = random_leaves(70, seed=9162)
SMALL_STORE, SMALL_FRONTIERS = build(SMALL)
SMALL_ROOTS = [f.root() for f in SMALL_FRONTIERS]

BIG_SIZE = 2048
BIG = random_leaves(BIG_SIZE, seed=6962)
BIG_STORE, BIG_FRONTIERS = build(BIG)
BIG_ROOTS = [f.root() for f in BIG_FRONTIERS]


# ---- A direct transcription of RFC 9162 section 2.1, for the tests only ---------------------
# Written from the RFC's recursive definitions over the leaf *data*, with hashlib directly, so
# it shares nothing with the module under test.


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(n)
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


# ---- Published vectors ----------------------------------------------------------------------


@pytest.mark.parametrize("name", HASHER_VECTORS)
def test_hasher_vectors(name: str) -> None:
    got, want = HASHER_VECTORS[name]
    assert got.hex() == want


def test_vector_tree_nodes_and_roots() -> None:
    store, frontiers = build(VECTOR_LEAVES)
    expected = {
        (level, index): value
        for level, row in enumerate(VECTOR_NODES)
        for index, value in enumerate(row)
    }
    assert store == expected
    for size, want in enumerate(VECTOR_ROOTS):
        assert frontiers[size].root() == want
        assert root_hash(size, store) == want
        assert subtree_hash(0, size, store) == want


def test_vector_frontiers() -> None:
    _, frontiers = build(VECTOR_LEAVES)
    for size, ids in enumerate(VECTOR_FRONTIERS):
        assert Frontier.node_ids(size) == ids
        assert frontiers[size].nodes == tuple(VECTOR_NODES[lv][ix] for lv, ix in ids)


@pytest.mark.parametrize(("index", "size", "path"), VECTOR_INCLUSION)
def test_vector_inclusion(index: int, size: int, path: list[bytes]) -> None:
    store, _ = build(VECTOR_LEAVES)
    assert inclusion_proof(index, size, only(store, inclusion_proof_ids(index, size))) == path
    leaf = leaf_hash(VECTOR_LEAVES[index])
    assert verify_inclusion(leaf, index, size, path, VECTOR_ROOTS[size])


@pytest.mark.parametrize(("old", "new", "proof"), VECTOR_CONSISTENCY)
def test_vector_consistency(old: int, new: int, proof: list[bytes]) -> None:
    store, _ = build(VECTOR_LEAVES)
    assert consistency_proof(old, new, only(store, consistency_proof_ids(old, new))) == proof
    assert verify_consistency(old, new, VECTOR_ROOTS[old], VECTOR_ROOTS[new], proof)


@pytest.mark.parametrize(
    ("leaf", "index", "size", "root", "expected"),
    [probe[1:] for probe in VECTOR_INCLUSION_PROBES],
    ids=[probe[0] for probe in VECTOR_INCLUSION_PROBES],
)
def test_vector_inclusion_probes(
    leaf: bytes, index: int, size: int, root: bytes, expected: bool
) -> None:
    assert verify_inclusion(leaf, index, size, [], root) is expected


@pytest.mark.parametrize(
    ("old", "new", "old_root", "new_root", "proof", "expected"),
    [probe[1:] for probe in VECTOR_CONSISTENCY_PROBES],
    ids=[probe[0] for probe in VECTOR_CONSISTENCY_PROBES],
)
def test_vector_consistency_probes(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes], expected: bool
) -> None:
    assert verify_consistency(old, new, old_root, new_root, proof) is expected


# ---- pymerkle, an independent implementation ------------------------------------------------


def pymerkle_tree(leaves: list[bytes]) -> InmemoryTree:
    tree = InmemoryTree(algorithm="sha256")
    for data in leaves:
        tree.append_entry(data)
    return tree


def test_pymerkle_roots() -> None:
    tree = pymerkle_tree(SMALL)
    for size in range(len(SMALL) + 1):
        assert tree.get_state(size) == SMALL_ROOTS[size] == root_hash(size, SMALL_STORE)


def test_pymerkle_inclusion_proofs() -> None:
    tree = pymerkle_tree(SMALL[:40])
    for size in range(1, 41):
        for index in range(size):
            theirs = tree.prove_inclusion(index + 1, size)  # pymerkle counts from 1
            # pymerkle's path is the leaf hash followed by the RFC audit path.
            assert theirs.path[0] == leaf_hash(SMALL[index])
            assert theirs.path[1:] == inclusion_proof(index, size, SMALL_STORE)
            assert theirs.resolve() == SMALL_ROOTS[size]


def test_pymerkle_consistency_proofs() -> None:
    # pymerkle's consistency proofs have their own layout; what must agree is the pair of
    # roots each one commits to.
    tree = pymerkle_tree(SMALL[:40])
    for new in range(1, 41):
        for old in range(1, new + 1):
            theirs = tree.prove_consistency(old, new)
            assert theirs.retrieve_prior_state() == SMALL_ROOTS[old]
            assert theirs.resolve() == SMALL_ROOTS[new]


# ---- The RFC's definitions, transcribed ------------------------------------------------------


def test_matches_rfc_definitions() -> None:
    for size in range(41):
        d = SMALL[:size]
        assert root_hash(size, SMALL_STORE) == ref_mth(d) == SMALL_ROOTS[size]
        for index in range(size):
            path = inclusion_proof(index, size, SMALL_STORE)
            assert path == ref_path(index, d)
            assert verify_inclusion(leaf_hash(d[index]), index, size, path, ref_mth(d))
        for old in range(1, size):  # where the RFC defines PROOF: 0 < m < n
            proof = consistency_proof(old, size, SMALL_STORE)
            assert proof == ref_proof(old, d)
            assert verify_consistency(old, size, ref_mth(d[:old]), ref_mth(d), proof)
        assert consistency_proof(size, size, SMALL_STORE) == []
        assert consistency_proof(0, size, SMALL_STORE) == []


def test_subtree_hash_of_any_range() -> None:
    for start in range(33):
        for end in range(start, 33):
            ids = subtree_ids(start, end)
            assert all(stored_by(end, node) for node in ids)
            nodes = only(SMALL_STORE, ids)
            assert subtree_hash(start, end, nodes) == ref_mth(SMALL[start:end])


# ---- Frontier ---------------------------------------------------------------------------------


def test_frontier_appends() -> None:
    store: dict[NodeId, bytes] = {}
    frontier = Frontier()
    total = 0
    for size, data in enumerate(SMALL):
        leaf = leaf_hash(data)
        frontier, completed = frontier.append(leaf)
        assert completed[0] == ((0, size), leaf)
        levels = [level for (level, _), _ in completed]
        assert levels == list(range(len(completed)))  # bottom-up, one per level
        for node, value in completed:
            assert node not in store
            assert stored_by(size + 1, node)
            store[node] = value
        total += len(completed)
        assert total < 2 * (size + 1)
        assert frontier.size == size + 1
        assert frontier.root() == ref_mth(SMALL[: size + 1])
        ids = Frontier.node_ids(frontier.size)
        assert [store[node] for node in ids] == list(frontier.nodes)
        assert ids == root_ids(frontier.size)
    # every perfect subtree of the final tree was stored, and nothing else
    assert len(store) == 2 * len(SMALL) - len(SMALL).bit_count()
    # a frontier rebuilt from stored nodes carries on identically
    rebuilt = Frontier(40, tuple(store[node] for node in Frontier.node_ids(40)))
    assert rebuilt == SMALL_FRONTIERS[40]
    assert rebuilt.append(leaf_hash(SMALL[40])) == SMALL_FRONTIERS[40].append(leaf_hash(SMALL[40]))


def test_frontier_rejects_bad_state() -> None:
    assert Frontier().root() == EMPTY_ROOT
    with pytest.raises(ValueError):
        Frontier(3, (EMPTY_ROOT,))
    with pytest.raises(ValueError):
        Frontier(1, (b"short",))
    with pytest.raises(ValueError):
        Frontier().append(b"leaf data, not a leaf hash")


# ---- Proofs need exactly the nodes their *_ids name ---------------------------------------


def test_proofs_from_only_their_ids() -> None:
    store, _ = build(SMALL[:64])
    for size in range(65):
        ids = root_ids(size)
        assert all(stored_by(size, node) for node in ids)
        assert root_hash(size, only(store, ids)) == SMALL_ROOTS[size]
        for index in range(size):
            ids = inclusion_proof_ids(index, size)
            assert len(set(ids)) == len(ids)
            assert all(stored_by(size, node) for node in ids)
            proof = inclusion_proof(index, size, only(store, ids))
            assert verify_inclusion(leaf_hash(SMALL[index]), index, size, proof, SMALL_ROOTS[size])
        for old in range(size + 1):
            ids = consistency_proof_ids(old, size)
            assert len(set(ids)) == len(ids)
            assert all(stored_by(size, node) for node in ids)
            proof = consistency_proof(old, size, only(store, ids))
            assert verify_consistency(old, size, SMALL_ROOTS[old], SMALL_ROOTS[size], proof)


def test_missing_node_is_a_key_error() -> None:
    ids = inclusion_proof_ids(5, 13)
    with pytest.raises(KeyError):
        inclusion_proof(5, 13, only(SMALL_STORE, ids[1:]))


# ---- Verification rejects tampering ---------------------------------------------------------

OTHER = leaf_hash(b"not in the tree")


def proof_variants(proof: list[bytes], root: bytes) -> Iterator[tuple[str, list[bytes]]]:
    """Every way of spoiling a proof: each element changed or dropped, one added."""
    for i in range(len(proof)):
        yield f"changed [{i}]", [*proof[:i], flip(proof[i]), *proof[i + 1 :]]
        yield f"dropped [{i}]", proof[:i] + proof[i + 1 :]
    for extra in (root, OTHER, EMPTY_ROOT):
        yield "extra at end", [*proof, extra]
        yield "extra at start", [extra, *proof]


def test_inclusion_rejects_tampering() -> None:
    for size in range(1, 33):
        root = SMALL_ROOTS[size]
        for index in range(size):
            leaf = leaf_hash(SMALL[index])
            proof = inclusion_proof(index, size, SMALL_STORE)
            assert verify_inclusion(leaf, index, size, proof, root)
            assert not verify_inclusion(OTHER, index, size, proof, root), "changed leaf"
            assert not verify_inclusion(flip(leaf), index, size, proof, root), "changed leaf"
            assert not verify_inclusion(leaf, index, size, proof, flip(root)), "changed root"
            for what, bad in proof_variants(proof, root):
                assert not verify_inclusion(leaf, index, size, bad, root), what
            for wrong in (index - 1, index + 1, index ^ 2, size):
                assert not verify_inclusion(leaf, wrong, size, proof, root), ("index", wrong)
            # (Only sizes whose proofs have another shape: the root does not commit to the
            # size, so e.g. the proof for leaf 0 of 3 also checks out for leaf 0 of 4.)
            for wrong in (size * 2, size // 2, 0):
                assert not verify_inclusion(leaf, index, wrong, proof, root), ("size", wrong)
            if size > 1:
                assert not verify_inclusion(leaf, index, size, proof, SMALL_ROOTS[size - 1])


def test_consistency_rejects_tampering() -> None:
    for new in range(1, 33):
        for old in range(1, new + 1):
            r1, r2 = SMALL_ROOTS[old], SMALL_ROOTS[new]
            proof = consistency_proof(old, new, SMALL_STORE)
            assert verify_consistency(old, new, r1, r2, proof)
            assert not verify_consistency(old, new, flip(r1), r2, proof), "changed old root"
            assert not verify_consistency(old, new, r1, flip(r2), proof), "changed new root"
            assert not verify_consistency(old, new, r1, OTHER, proof), "other new root"
            if old < new:
                assert not verify_consistency(old, new, r2, r1, proof), "swapped roots"
                assert not verify_consistency(old, new, r1, r2, []), "empty proof"
            for what, bad in proof_variants(proof, r2):
                assert not verify_consistency(old, new, r1, r2, bad), what
            for wrong in {old - 1, old + 1, old ^ 2} - {old}:
                assert not verify_consistency(wrong, new, r1, r2, proof), ("old", wrong)
            # (Only sizes whose proofs have another shape: the root does not commit to the
            # size, so e.g. the proof from 1 to 3 also checks out as one from 1 to 4.)
            for wrong in {new * 2, new // 2} - {new}:
                assert not verify_consistency(old, wrong, r1, r2, proof), ("new", wrong)


def test_empty_old_tree() -> None:
    """An empty tree is a prefix of every tree; there is nothing to prove."""
    root = SMALL_ROOTS[5]
    assert consistency_proof_ids(0, 5) == []
    assert verify_consistency(0, 5, EMPTY_ROOT, root, [])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(0, 5, OTHER, root, [])
    assert not verify_consistency(0, 5, EMPTY_ROOT, root, [root])
    assert not verify_consistency(0, 0, EMPTY_ROOT, OTHER, [])


MALFORMED_INCLUSION: list[tuple[str, Callable[[bytes, list[bytes], bytes], bool]]] = [
    ("short leaf", lambda leaf, proof, root: verify_inclusion(leaf[:-1], 3, 9, proof, root)),
    ("long root", lambda leaf, proof, root: verify_inclusion(leaf, 3, 9, proof, root + b"\0")),
    (
        "short element",
        lambda leaf, proof, root: verify_inclusion(leaf, 3, 9, [proof[0][:-1], *proof[1:]], root),
    ),
    ("str element", lambda leaf, proof, root: verify_inclusion(leaf, 3, 9, ["x" * 32], root)),  # type: ignore[list-item]
    ("index = size", lambda leaf, proof, root: verify_inclusion(leaf, 9, 9, proof, root)),
    ("negative index", lambda leaf, proof, root: verify_inclusion(leaf, -1, 9, proof, root)),
    ("negative size", lambda leaf, proof, root: verify_inclusion(leaf, 3, -9, proof, root)),
    ("float index", lambda leaf, proof, root: verify_inclusion(leaf, 3.0, 9, proof, root)),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(
    "check", [check for _, check in MALFORMED_INCLUSION], ids=[n for n, _ in MALFORMED_INCLUSION]
)
def test_inclusion_malformed_is_false(check: Callable[[bytes, list[bytes], bytes], bool]) -> None:
    proof = inclusion_proof(3, 9, SMALL_STORE)
    assert check(leaf_hash(SMALL[3]), proof, SMALL_ROOTS[9]) is False


def test_consistency_malformed_is_false() -> None:
    r1, r2 = SMALL_ROOTS[6], SMALL_ROOTS[11]
    proof = consistency_proof(6, 11, SMALL_STORE)
    assert verify_consistency(6, 11, r1, r2, proof)
    assert not verify_consistency(11, 6, r2, r1, proof), "old > new"
    assert not verify_consistency(-6, 11, r1, r2, proof)
    assert not verify_consistency(6, 11, r1[:-1], r2, proof)
    assert not verify_consistency(6, 11, r1, r2 + b"\0", proof)
    assert not verify_consistency(6, 11, r1, r2, [proof[0][:16], *proof[1:]])
    assert not verify_consistency(6, 11, r1, r2, [*proof, b""])


def test_generation_rejects_nonsense() -> None:
    for make in (
        lambda: inclusion_proof_ids(5, 5),
        lambda: inclusion_proof(5, 5, SMALL_STORE),
        lambda: inclusion_proof_ids(0, 0),
        lambda: inclusion_proof_ids(-1, 5),
        lambda: consistency_proof_ids(6, 5),
        lambda: consistency_proof(6, 5, SMALL_STORE),
        lambda: consistency_proof_ids(-1, 5),
        lambda: subtree_ids(4, 3),
        lambda: subtree_hash(-1, 3, SMALL_STORE),
        lambda: root_ids(-1),
        lambda: Frontier.node_ids(-1),
    ):
        with pytest.raises(ProofError):
            make()
    assert issubclass(ProofError, ValueError)


def test_constants() -> None:
    assert HASH_SIZE == len(EMPTY_ROOT) == len(leaf_hash(b"x")) == len(node_hash(b"", b""))
    # the domain separation the RFC requires: a leaf can never pass for a node
    left, right = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(left, right) != leaf_hash(left + right)
    assert node_hash(left, right) != node_hash(right, left)


# ---- Large trees -------------------------------------------------------------------------------

BIG_PYMERKLE = pymerkle_tree(BIG)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_large_trees(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, BIG_SIZE), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    old = data.draw(st.integers(0, size), label="old")
    root = BIG_ROOTS[size]

    assert root_hash(size, only(BIG_STORE, root_ids(size))) == root
    assert BIG_PYMERKLE.get_state(size) == root

    ids = inclusion_proof_ids(index, size)
    assert all(stored_by(size, node) for node in ids)
    path = inclusion_proof(index, size, only(BIG_STORE, ids))
    assert path == BIG_PYMERKLE.prove_inclusion(index + 1, size).path[1:]
    leaf = leaf_hash(BIG[index])
    assert verify_inclusion(leaf, index, size, path, root)
    assert not verify_inclusion(OTHER, index, size, path, root)
    if path:
        assert not verify_inclusion(leaf, index, size, path[:-1], root)
        assert not verify_inclusion(leaf, index, size, [flip(path[0]), *path[1:]], root)

    ids = consistency_proof_ids(old, size)
    assert all(stored_by(size, node) for node in ids)
    proof = consistency_proof(old, size, only(BIG_STORE, ids))
    assert verify_consistency(old, size, BIG_ROOTS[old], root, proof)
    if 0 < old < size:
        theirs = BIG_PYMERKLE.prove_consistency(old, size)
        assert theirs.retrieve_prior_state() == BIG_ROOTS[old]
        assert theirs.resolve() == root
        assert not verify_consistency(old, size, BIG_ROOTS[old], OTHER, proof)
        assert not verify_consistency(old, size, BIG_ROOTS[old], root, proof[:-1])
        assert not verify_consistency(old, size, BIG_ROOTS[old], root, [*proof[:-1], OTHER])
