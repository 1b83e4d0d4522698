"""The bytes every event of the log is hashed as, and the hash chain over them.

An event is stored as its position in the log, its originator (aggregate) id and version,
its topic and its state (the bytes the event store keeps). Its canonical bytes are these
five fields, each of fixed length or length-prefixed, so that no two different events
share the same bytes:

    position            8 bytes, big-endian, signed
    originator id      16 bytes (the UUID's bytes)
    originator version  8 bytes, big-endian, signed
    topic length        4 bytes, big-endian; then the topic in UTF-8
    state length        8 bytes, big-endian; then the state

Those bytes are hashed twice (docs/architecture.md, "Tamper evidence"):
- a hash chain: h_n = SHA-256(h_(n-1) || canonical bytes of event n), h_0 = 32 zero
  bytes (GENESIS, in hex);
- a leaf of the RFC 9162 Merkle tree (domain/merkle.py: leaf_hash).

Standard library only: the database adapters, the migrations and the offline verifier
(domain/offline_verifier.py) all hash events with these two functions.
"""

from __future__ import annotations

import hashlib
import struct
from uuid import UUID

GENESIS = "0" * 64
"""h_0, the chain value before the first event: 32 zero bytes, in hex."""


def canonical_bytes(
    position: int, originator_id: UUID, version: int, topic: str, state: bytes
) -> bytes:
    """Length-prefixed fields, so no two different events share the same bytes."""
    return stored_bytes(position, originator_id.bytes, version, topic, state)


# position, originator id, version, topic length: the fixed-size head of the bytes.
_HEAD = struct.Struct(">q16sqI")


def stored_bytes(position: int, originator: bytes, version: int, topic: str, state: bytes) -> bytes:
    """canonical_bytes, the originator id given as its 16 bytes (as a database returns
    it): what `verify` hashes for every event, so built in as few steps as it can be."""
    if len(originator) != 16:
        raise ValueError(f"an originator id has 16 bytes, not {len(originator)}")
    topic_bytes = topic.encode("utf-8")
    return (
        _HEAD.pack(position, originator, version, len(topic_bytes))
        + topic_bytes
        + len(state).to_bytes(8, "big")
        + state
    )


def chain_hash(previous: str, canonical: bytes) -> str:
    """The chain entry of an event: SHA-256(previous entry || its canonical bytes), hex."""
    return hashlib.sha256(bytes.fromhex(previous) + canonical).hexdigest()
