"""verify: chain and Merkle tree verification (adapters/ledger.verify, with the snapshot
checks) over the shared log, against the issue's baseline, interleaved in one run:
hashing the same canonical bytes, already in memory, with hashlib alone (the chain hash,
the leaf hash and one interior node a leaf: as many SHA-256 calls as the verifier makes).
Details: the least any verifier of the stored log must do besides (reading each event's
columns on the driver's cursor, making its canonical bytes, hashing them), the share of
verify's time spent replaying the snapshotted aggregates (check_snapshots), and the rate
of the chain and tree pass without it.
"""

from __future__ import annotations

import hashlib
import statistics
import time

from sqlalchemy import select

from adapters.bootstrap import Services
from adapters.database import driver_rows
from adapters.ledger import STORED_EVENT, as_uuid, row_bytes, verify
from adapters.snapshots import check_snapshots
from adapters.tables import events
from bench.common import Result
from domain.log_bytes import stored_bytes

ROUNDS = 3
TARGET_RATE = 100_000
TARGET_RATIO = 0.5


def _hash_alone(canonical: list[bytes]) -> float:
    start = time.perf_counter()
    previous = b"\x00" * 32
    sha256 = hashlib.sha256
    for data in canonical:
        previous = sha256(previous + data).digest()
        leaf = sha256(b"\x00" + data).digest()
        sha256(b"\x01" + leaf + previous).digest()
    return len(canonical) / (time.perf_counter() - start)


def _read_and_hash(services: Services) -> float:
    """A detail: read, make the canonical bytes, hash (as _hash_alone)."""
    start = time.perf_counter()
    count = 0
    previous = b"\x00" * 32
    sha256 = hashlib.sha256
    query = select(*STORED_EVENT).order_by(events.c.id)
    with services.database.reading() as connection, driver_rows(connection, query) as rows:
        for position, originator, version, topic, state in rows:
            if type(originator) is not bytes:  # PostgreSQL gives a UUID
                originator = as_uuid(originator).bytes
            data = stored_bytes(position, originator, version, topic, bytes(state))
            previous = sha256(previous + data).digest()
            leaf = sha256(b"\x00" + data).digest()
            sha256(b"\x01" + leaf + previous).digest()
            count += 1
    return count / (time.perf_counter() - start)


def _snapshot_checks(services: Services) -> float:
    start = time.perf_counter()
    with services.database.reading() as connection:
        assert check_snapshots(connection) is None
    return time.perf_counter() - start


def measure(kind: str, services: Services) -> Result:
    with services.database.reading() as connection:
        rows = connection.execute(select(*STORED_EVENT).order_by(events.c.id)).all()
    canonical = [row_bytes(row) for row in rows]
    del rows
    verify_rates, read_rates, hash_rates, replay_shares = [], [], [], []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        result = verify(services.database)
        seconds = time.perf_counter() - start
        verify_rates.append(result.events / seconds)
        assert result.verified, result.problem
        read_rates.append(_read_and_hash(services))
        hash_rates.append(_hash_alone(canonical))
        replay_shares.append(_snapshot_checks(services) / seconds)
    rate = statistics.median(verify_rates)
    ratio = statistics.median(v / h for v, h in zip(verify_rates, hash_rates, strict=True))
    read_ratio = statistics.median(v / b for v, b in zip(verify_rates, read_rates, strict=True))
    share = statistics.median(replay_shares)
    return Result(
        "verify",
        kind,
        round(rate, 1),
        "/s",
        "hashing the same canonical bytes with hashlib alone",
        round(statistics.median(hash_rates), 1),
        round(ratio, 3),
        f">= {TARGET_RATE:,}/s, >= {TARGET_RATIO}x",
        rate >= TARGET_RATE and ratio >= TARGET_RATIO,
        {
            "events": float(len(canonical)),
            "read_and_hash_rate": round(statistics.median(read_rates), 1),
            "read_and_hash_ratio": round(read_ratio, 3),
            "snapshot_replay_share": round(share, 3),
            "chain_and_tree_rate": round(rate / (1 - share), 1) if share < 1 else 0.0,
        },
    )
