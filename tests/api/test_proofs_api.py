"""The Merkle tree over the log, over HTTP: leaf indexes in the feed and histories, and
RFC 9162 inclusion and consistency proofs that check out against the RFC's verification
algorithms (domain/merkle.py) and against pymerkle, which shares no code with ours."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select, update

from adapters.ledger import STORED_EVENT, canonical_bytes
from adapters.tables import events, merkle_nodes
from domain import merkle
from tests.api.client import Api, problem
from tests.merkle_reference import independent_root, independent_tree

PROOFS = "/api/v1/proofs"


def leaves_of(api: Api) -> list[bytes]:
    """The canonical bytes of every stored event, in log order: the tree's leaf data."""
    with api.services.database.reading() as connection:
        return [
            canonical_bytes(
                row.id, UUID(str(row.originator_id)), row.originator_version, row.topic, row.state
            )
            for row in connection.execute(select(*STORED_EVENT).order_by(events.c.id))
        ]


def feed(api: Api) -> list[dict[str, Any]]:
    return list(api.json("/api/v1/events?after=0&limit=1000"))


def test_every_event_has_a_dense_leaf_index_in_the_feed_and_history(api: Api) -> None:
    entries = feed(api)
    assert [e["leaf_index"] for e in entries] == list(range(len(entries)))
    by_position = {e["position"]: e["leaf_index"] for e in entries}
    history = api.history("CMAP-PROS-RAIL")
    assert history and all(h["leaf_index"] == by_position[h["position"]] for h in history)


def test_the_ledger_gives_the_root_an_independent_implementation_computes(api: Api) -> None:
    ledger = api.json("/api/v1/ledger")
    leaves = leaves_of(api)
    assert ledger["verified"] and ledger["tree_size"] == len(leaves)
    assert ledger["root_hash"] == independent_root(leaves)


def test_inclusion_proofs_verify_by_the_rfc_and_match_pymerkle(api: Api) -> None:
    leaves = leaves_of(api)
    size = len(leaves)
    reference = independent_tree(leaves)
    positions = [e["position"] for e in feed(api)]
    for tree_size in (1, 2, 7, 64, size - 1, size):
        for index in sorted({0, tree_size // 3, tree_size - 1}):
            body = api.json(
                f"{PROOFS}/inclusion?position={positions[index]}&tree_size={tree_size}",
                who="viewer",
            )
            proof = [bytes.fromhex(p) for p in body["path"]]
            root = bytes.fromhex(body["root_hash"])
            leaf = bytes.fromhex(body["leaf_hash"])
            assert (body["leaf_index"], body["tree_size"]) == (index, tree_size)
            assert leaf == merkle.leaf_hash(leaves[index])
            assert root.hex() == independent_root(leaves, tree_size)
            assert merkle.verify_inclusion(leaf, index, tree_size, proof, root)
            theirs = reference.prove_inclusion(index + 1, tree_size)  # counts from 1
            assert theirs.path[1:] == proof
            # A proof for another leaf, or another root, does not verify.
            assert not merkle.verify_inclusion(
                merkle.leaf_hash(b"forged"), index, tree_size, proof, root
            )


def test_the_default_tree_is_the_log_now(api: Api) -> None:
    size = len(leaves_of(api))
    body = api.json(f"{PROOFS}/inclusion?position=1")
    assert (
        body["tree_size"] == size and body["root_hash"] == api.json("/api/v1/ledger")["root_hash"]
    )
    body = api.json(f"{PROOFS}/consistency?from=3")
    assert body["to"] == size


def test_consistency_proofs_verify_by_the_rfc_and_commit_to_pymerkles_roots(api: Api) -> None:
    leaves = leaves_of(api)
    size = len(leaves)
    for first, second in [(1, 1), (1, 2), (3, 8), (7, 64), (64, size), (size - 1, size)]:
        body = api.json(f"{PROOFS}/consistency?from={first}&to={second}", who="viewer")
        proof = [bytes.fromhex(p) for p in body["path"]]
        old, new = bytes.fromhex(body["from_root"]), bytes.fromhex(body["to_root"])
        assert old.hex() == independent_root(leaves, first)
        assert new.hex() == independent_root(leaves, second)
        assert merkle.verify_consistency(first, second, old, new, proof)
        if first < second:
            assert not merkle.verify_consistency(first, second, new, new, proof)


def test_proof_requests_out_of_range_are_problems(api: Api) -> None:
    size = len(leaves_of(api))
    assert "no event at position" in problem(
        api.get(f"{PROOFS}/inclusion?position={size + 50}"), 404
    )
    assert "leaf index 4" in problem(api.get(f"{PROOFS}/inclusion?position=5&tree_size=4"), 422)
    problem(api.get(f"{PROOFS}/inclusion?position=1&tree_size={size + 1}"), 422)
    problem(api.get(f"{PROOFS}/consistency?from=9&to=8"), 422)
    problem(api.get(f"{PROOFS}/consistency?from=0&to=8"), 422)
    problem(api.get(f"{PROOFS}/consistency?from=1&to={size + 1}"), 422)
    problem(api.get(f"{PROOFS}/consistency?from=x"), 422)
    problem(api.get(f"{PROOFS}/inclusion?position=1", who=None), 401)


def test_a_damaged_tree_is_a_conflict_and_verify_names_the_event(api: Api) -> None:
    with api.services.database.writing() as connection:
        connection.execute(
            update(merkle_nodes)
            .where(merkle_nodes.c.last_leaf == 9, merkle_nodes.c.level == 1)
            .values(hash=b"\x00" * 32)
        )
    ledger = api.json("/api/v1/ledger")
    assert not ledger["verified"]
    assert ledger["first_bad_position"] == feed(api)[9]["position"]
    assert ledger["problem"] == "Merkle node (level 1, index 4) does not match"
    with api.services.database.writing() as connection:
        connection.execute(
            merkle_nodes.delete().where(merkle_nodes.c.last_leaf == 9, merkle_nodes.c.level == 1)
        )
    detail = problem(api.get(f"{PROOFS}/inclusion?position=11&tree_size=12"), 409)
    assert "lacks node (level 1, index 4)" in detail
