"""The canonical bytes of an event, pinned to the layout docs/trust.md publishes: an
outside verifier rebuilds every leaf from it, so any change must fail here first."""

from __future__ import annotations

from uuid import UUID

import pytest

from domain.log_bytes import GENESIS, canonical_bytes, chain_hash, stored_bytes


def test_the_canonical_bytes_follow_the_published_layout() -> None:
    data = canonical_bytes(1, UUID(int=0xAB), 2, "t", b"s")
    assert data == bytes.fromhex(
        "0000000000000001"  # position, 8 bytes big-endian
        "000000000000000000000000000000ab"  # originator id, 16 bytes
        "0000000000000002"  # version, 8 bytes big-endian
        "00000001" "74"  # topic length (4 bytes), topic in UTF-8
        "0000000000000001" "73"  # state length (8 bytes), state as stored
    )  # fmt: skip


def test_the_chain_starts_from_32_zero_bytes() -> None:
    import hashlib

    data = canonical_bytes(1, UUID(int=0xAB), 2, "t", b"s")
    assert GENESIS == "00" * 32
    assert chain_hash(GENESIS, data) == hashlib.sha256(bytes(32) + data).hexdigest()


def test_stored_bytes_are_the_canonical_bytes_of_the_id_as_a_database_holds_it() -> None:
    originator = UUID(int=0xAB)
    assert stored_bytes(1, originator.bytes, 2, "t", b"s") == canonical_bytes(
        1, originator, 2, "t", b"s"
    )
    # struct would pad a short id with zeros, and hash an event that is not stored.
    with pytest.raises(ValueError, match="16 bytes, not 15"):
        stored_bytes(1, originator.bytes[1:], 2, "t", b"s")
