"""An RFC 9162 (Certificate Transparency v2) Merkle tree: hashes, proofs and their checks.

The log is a list of leaves D[0:n]. Everything here follows RFC 9162 section 2.1, which
uses SHA-256 and these definitions (section 2.1.1):

    leaf hash     = SHA-256(0x00 || data)
    node hash     = SHA-256(0x01 || left || right)
    MTH({})       = SHA-256()                                 the empty tree
    MTH({d0})     = leaf hash of d0
    MTH(D[n])     = node_hash(MTH(D[0:k]), MTH(D[k:n]))       n > 1, k the largest power
                                                              of two smaller than n

Storage model. The caller stores the hash of every *perfect aligned subtree* once it is
complete, named by a NodeId (level, index): the subtree of 2**level leaves covering leaf
indexes [index * 2**level, (index + 1) * 2**level). Level 0 nodes are the leaf hashes.
`Frontier.append` says which nodes each new leaf completes. A proof is made in two steps
so the caller can read its nodes in ONE query: `*_ids` names the stored nodes needed,
then the function of the same name without `_ids` computes the proof from a mapping
holding (at least) those nodes. A missing node raises KeyError.

Verification (`verify_inclusion`, `verify_consistency`) is a literal transcription of
the RFC's algorithms in sections 2.1.3.2 and 2.1.4.2 and does not use any of the
proof-generation code, so that an outside verifier can check it against the RFC alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

HASH_SIZE = 32
"""Bytes in a SHA-256 digest: every leaf, node and root hash has this size."""

EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()
"""MTH({}), the root of the empty tree (RFC 9162 section 2.1.1)."""

NodeId = tuple[int, int]
"""(level, index): the perfect subtree of 2**level leaves starting at index * 2**level."""


class ProofError(ValueError):
    """A request that makes no sense, such as a leaf index beyond the tree or a
    consistency proof from a larger tree to a smaller one."""


# ---- Hashing (RFC 9162 section 2.1.1) -----------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data). The 0x00 prefix keeps a leaf from passing for a node."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


# ---- Tree shape helpers (used to *generate*, never to verify) -----------------------------


def _split(n: int) -> int:
    """k of the RFC: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _perfect_node(start: int, end: int) -> NodeId | None:
    """The stored node that is exactly D[start:end], if that range is a perfect aligned
    subtree (a power-of-two width starting at a multiple of that width)."""
    width = end - start
    if width > 0 and width & (width - 1) == 0 and start % width == 0:
        level = width.bit_length() - 1
        return (level, start >> level)
    return None


def _check_range(start: int, end: int) -> None:
    if not 0 <= start <= end:
        raise ProofError(f"no subtree D[{start}:{end}]: need 0 <= start <= end")


# ---- The Merkle Tree Hash of any range (RFC 9162 section 2.1.1) ---------------------------


def subtree_ids(start: int, end: int) -> list[NodeId]:
    """The stored nodes needed for MTH(D[start:end]), left to right.

    The range is split as the RFC splits it until each piece is a stored perfect subtree.
    For the ranges proofs use (those starting at a multiple of a power of two at least
    their width) this is the binary decomposition: at most one node per level.
    """
    _check_range(start, end)
    ids: list[NodeId] = []
    _collect_subtree_ids(start, end, ids)
    return ids


def _collect_subtree_ids(start: int, end: int, ids: list[NodeId]) -> None:
    if start == end:
        return
    node = _perfect_node(start, end)
    if node is not None:
        ids.append(node)
        return
    k = _split(end - start)
    _collect_subtree_ids(start, start + k, ids)
    _collect_subtree_ids(start + k, end, ids)


def subtree_hash(start: int, end: int, nodes: Mapping[NodeId, bytes]) -> bytes:
    """MTH(D[start:end]) from the stored nodes named by `subtree_ids(start, end)`."""
    _check_range(start, end)
    if start == end:
        return EMPTY_ROOT
    node = _perfect_node(start, end)
    if node is not None:
        return nodes[node]
    k = _split(end - start)
    return node_hash(subtree_hash(start, start + k, nodes), subtree_hash(start + k, end, nodes))


def root_ids(size: int) -> list[NodeId]:
    """The stored nodes needed for the root of the tree of `size` leaves."""
    return subtree_ids(0, size)


def root_hash(size: int, nodes: Mapping[NodeId, bytes]) -> bytes:
    """MTH(D[0:size]), the root of the tree of `size` leaves (EMPTY_ROOT for 0)."""
    return subtree_hash(0, size, nodes)


# ---- Appending: the frontier ---------------------------------------------------------------


@dataclass(frozen=True)
class Frontier:
    """The hashes of the perfect subtrees covering leaves [0, size), largest (leftmost) first:
    what an append needs, O(log n).

    There is one subtree per bit set in `size`, so a writer keeps at most 64 hashes in hand
    instead of reading the tree back before every append.
    """

    size: int = 0
    nodes: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if self.size < 0 or len(self.nodes) != self.size.bit_count():
            raise ValueError(
                f"a frontier of {self.size} leaves has {self.size.bit_count()} nodes,"
                f" not {len(self.nodes)}"
            )
        if any(len(node) != HASH_SIZE for node in self.nodes):
            raise ValueError(f"frontier nodes must be {HASH_SIZE}-byte hashes")

    @staticmethod
    def node_ids(size: int) -> list[NodeId]:
        """Which stored nodes make the frontier of a tree of `size` leaves, in the order of
        `nodes`: one per bit set in `size`, from the highest bit down."""
        if size < 0:
            raise ProofError(f"no tree has {size} leaves")
        ids: list[NodeId] = []
        start = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                ids.append((level, start >> level))
                start += 1 << level
        return ids

    def root(self) -> bytes:
        """MTH of the whole tree (EMPTY_ROOT for size 0).

        The frontier is exactly the RFC's split applied repeatedly to the right-hand part,
        so the root is the frontier folded from the right:
        node_hash(f0, node_hash(f1, ... node_hash(f[-2], f[-1]))).
        """
        if not self.nodes:
            return EMPTY_ROOT
        result = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            result = node_hash(node, result)
        return result

    def append(self, leaf: bytes) -> tuple[Frontier, list[tuple[NodeId, bytes]]]:
        """Add one leaf. `leaf` is a LEAF HASH (see `leaf_hash`), not the data.

        Returns the new frontier and every node this append completes, bottom-up, the
        first being ((0, old size), leaf). Each is to be stored; over n appends there are
        2n - popcount(n) of them.
        """
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"a leaf hash has {HASH_SIZE} bytes, not {len(leaf)}")
        nodes = list(self.nodes)
        level, index, value = 0, self.size, leaf
        completed: list[tuple[NodeId, bytes]] = [((level, index), value)]
        # While the new subtree is a right child, its left sibling is the smallest subtree
        # of the frontier: together they complete their parent.
        while index & 1:
            value = node_hash(nodes.pop(), value)
            level, index = level + 1, index >> 1
            completed.append(((level, index), value))
        nodes.append(value)
        return Frontier(self.size + 1, tuple(nodes)), completed


# ---- Inclusion proofs (RFC 9162 section 2.1.3.1) -------------------------------------------


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges D[a:b] whose MTH make up PATH(index, D[0:size]), in proof order.

    RFC 9162 section 2.1.3.1, for n > 1 and k the largest power of two smaller than n:
        PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])        if m < k
        PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k])    if m >= k
        PATH(0, {d0}) = {}
    Walking down from the root finds the sibling at each level top-down; the proof lists
    them bottom-up (the recursive part comes first), hence the final reverse.
    """
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size} leaves")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:  # m < k: the leaf is on the left, its sibling on the right
            ranges.append((start + k, end))
            end = start + k
        else:  # m >= k: the leaf is on the right, its sibling on the left
            ranges.append((start, start + k))
            start = start + k
    ranges.reverse()
    return ranges


def inclusion_proof_ids(index: int, size: int) -> list[NodeId]:
    """The stored nodes needed for `inclusion_proof(index, size, ...)`."""
    return [node for a, b in _inclusion_ranges(index, size) for node in subtree_ids(a, b)]


def inclusion_proof(index: int, size: int, nodes: Mapping[NodeId, bytes]) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 section 2.1.3.1: the audit path proving that
    leaf `index` is in the tree of `size` leaves."""
    return [subtree_hash(a, b, nodes) for a, b in _inclusion_ranges(index, size)]


# ---- Consistency proofs (RFC 9162 section 2.1.4.1) -----------------------------------------


def _consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The ranges D[a:b] whose MTH make up PROOF(old_size, D[0:new_size]), in proof order.

    RFC 9162 section 2.1.4.1, with m = old_size, n = new_size:
        PROOF(m, D[n]) = SUBPROOF(m, D[n], true)
        SUBPROOF(m, D[m], true)  = {}
        SUBPROOF(m, D[m], false) = {MTH(D[m])}
    and for m < n, k the largest power of two smaller than n:
        SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])          if m <= k
        SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])  if m > k
    `b` records whether the current subtree still starts at leaf 0, i.e. whether the
    verifier already knows its hash (it is the old root). As for PATH, the walk is
    top-down and the proof bottom-up, hence the final reverse.
    The RFC defines PROOF for 0 < m < n; for m == n and for m == 0 the proof is empty.
    """
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size == 0:
        return []
    ranges: list[tuple[int, int]] = []
    start, end, known = 0, new_size, True
    while old_size != end:  # in the RFC's terms, while m < n
        k = _split(end - start)
        if old_size - start <= k:  # m <= k
            ranges.append((start + k, end))
            end = start + k
        else:  # m > k
            ranges.append((start, start + k))
            start, known = start + k, False
    if not known:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def consistency_proof_ids(old_size: int, new_size: int) -> list[NodeId]:
    """The stored nodes needed for `consistency_proof(old_size, new_size, ...)`."""
    ranges = _consistency_ranges(old_size, new_size)
    return [node for a, b in ranges for node in subtree_ids(a, b)]


def consistency_proof(old_size: int, new_size: int, nodes: Mapping[NodeId, bytes]) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 9162 section 2.1.4.1: proves the tree of
    `old_size` leaves is a prefix of the tree of `new_size` leaves. Empty when the sizes
    are equal or old_size is 0."""
    return [subtree_hash(a, b, nodes) for a, b in _consistency_ranges(old_size, new_size)]


# ---- Verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2) ----------------------------------
#
# These two functions are self-contained on purpose: they use only node_hash and follow
# the RFC's numbered steps, which are quoted in the comments. LSB(x) is the least
# significant bit of x. They return False, never raise, for any malformed input.


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether `proof` shows that the leaf hash `leaf` is leaf `index` of the tree of
    `size` leaves whose root is `root` (RFC 9162 section 2.1.3.2)."""
    if not (_is_size(index) and _is_size(size) and _is_hash(leaf) and _is_hash(root)):
        return False
    if not all(_is_hash(p) for p in proof):
        return False

    # 1. "If leaf_index is greater than or equal to tree_size, then fail."
    if index >= size:
        return False
    # 2. "Set fn to leaf_index and sn to tree_size - 1."
    fn, sn = index, size - 1
    # 3. "Set r to hash."
    r = leaf
    # 4. "For each value p in the inclusion_path array:"
    for p in proof:
        # a. "If sn is 0, then stop the iteration and fail the proof verification."
        if sn == 0:
            return False
        # b. "If LSB(fn) is set, or if fn is equal to sn, then:"
        if fn & 1 == 1 or fn == sn:
            # i. "Set r to HASH(0x01 || p || r)."
            r = node_hash(p, r)
            # ii. "If LSB(fn) is not set, then right-shift both fn and sn equally until
            #      either LSB(fn) is set or fn is 0."
            while fn & 1 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        # "Otherwise:"
        else:
            # i. "Set r to HASH(0x01 || r || p)."
            r = node_hash(r, p)
        # c. "Finally, right-shift both fn and sn one time."
        fn >>= 1
        sn >>= 1
    # 5. "If sn is equal to 0 and r and the root_hash are equal, then the log has proven
    #     the inclusion of hash. Otherwise, fail the proof verification."
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether `proof` shows that the tree of `old_size` leaves with root `old_root` is a
    prefix of the tree of `new_size` leaves with root `new_root` (RFC 9162 section 2.1.4.2).

    The RFC's algorithm covers 0 < old_size < new_size. Outside it: equal sizes need an
    empty proof and equal roots; an empty old tree (root EMPTY_ROOT) is a prefix of every
    tree, with an empty proof.
    """
    if not (_is_size(old_size) and _is_size(new_size)):
        return False
    if not (_is_hash(old_root) and _is_hash(new_root)):
        return False
    if not all(_is_hash(c) for c in proof):
        return False
    if old_size > new_size:
        return False
    if old_size == 0:
        if new_size == 0 and new_root != EMPTY_ROOT:
            return False
        return old_root == EMPTY_ROOT and len(proof) == 0
    if old_size == new_size:
        return old_root == new_root and len(proof) == 0

    # From here on 0 < first < second, as the RFC requires.
    first, second, first_hash, second_hash = old_size, new_size, old_root, new_root
    path = list(proof)
    # 1. "If consistency_path is an empty array, stop and fail the proof verification."
    if len(path) == 0:
        return False
    # 2. "If first is an exact power of 2, then prepend first_hash to the
    #     consistency_path array."
    if first & (first - 1) == 0:
        path = [first_hash, *path]
    # 3. "Set fn to first - 1 and sn to second - 1."
    fn, sn = first - 1, second - 1
    # 4. "If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not
    #     set."
    while fn & 1 == 1:
        fn >>= 1
        sn >>= 1
    # 5. "Set both fr and sr to the first value in the consistency_path array."
    fr = sr = path[0]
    # 6. "For each subsequent value c in the consistency_path array:"
    for c in path[1:]:
        # a. "If sn is 0, then stop the iteration and fail the proof verification."
        if sn == 0:
            return False
        # b. "If LSB(fn) is set, or if fn is equal to sn, then:"
        if fn & 1 == 1 or fn == sn:
            # i. "Set fr to HASH(0x01 || c || fr)."
            fr = node_hash(c, fr)
            # ii. "Set sr to HASH(0x01 || c || sr)."
            sr = node_hash(c, sr)
            # iii. "If LSB(fn) is not set, then right-shift both fn and sn equally until
            #       either LSB(fn) is set or fn is 0."
            while fn & 1 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        # "Otherwise:"
        else:
            # i. "Set sr to HASH(0x01 || sr || c)."
            sr = node_hash(sr, c)
        # c. "Finally, right-shift both fn and sn one time."
        fn >>= 1
        sn >>= 1
    # 7. "verify that the fr calculated is equal to the first_hash supplied, that the sr
    #     calculated is equal to the second_hash supplied, and that sn is 0."
    return fr == first_hash and sr == second_hash and sn == 0
