"""pymerkle: an independent RFC 9162 implementation, used only in tests to check the
tree the server keeps (and the proofs it serves) against one it did not write."""

from __future__ import annotations

from collections.abc import Sequence

from pymerkle import InmemoryTree  # type: ignore[import-untyped]  # no stubs


def independent_tree(leaves: Sequence[bytes]) -> InmemoryTree:
    """A pymerkle tree of the leaves' DATA (it hashes them itself)."""
    tree = InmemoryTree(algorithm="sha256")
    for data in leaves:
        tree.append_entry(data)
    return tree


def independent_root(leaves: Sequence[bytes], size: int | None = None) -> str:
    """The root (hex) of the tree of the first `size` leaves (default: all)."""
    tree = independent_tree(leaves)
    return bytes(tree.get_state(len(leaves) if size is None else size)).hex()
