"""verify: chain and Merkle tree verification (adapters/ledger.verify, with the snapshot
checks) over the shared log, against the least a verifier of the same log must do,
interleaved in one run: read each event's stored columns from the database (the
driver's cursor, in batches), make its canonical bytes and hash them with hashlib (the
chain hash, the leaf hash and one interior node a leaf, as many SHA-256 calls as the
verifier makes). Details: hashing the canonical bytes already in memory (the baseline
before 2026-11-28, which left out reading them: bench/README.md), and the share of
verify's time spent replaying the snapshotted aggregates (check_snapshots).
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
    """The baseline: read, make the canonical bytes, hash (as _hash_alone)."""
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
    verify_rates, baseline_rates, hash_rates, replay_shares = [], [], [], []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        result = verify(services.database)
        seconds = time.perf_counter() - start
        verify_rates.append(result.events / seconds)
        assert result.verified, result.problem
        baseline_rates.append(_read_and_hash(services))
        hash_rates.append(_hash_alone(canonical))
        replay_shares.append(_snapshot_checks(services) / seconds)
    rate = statistics.median(verify_rates)
    ratio = statistics.median(v / b for v, b in zip(verify_rates, baseline_rates, strict=True))
    hash_ratio = statistics.median(v / h for v, h in zip(verify_rates, hash_rates, strict=True))
    return Result(
        "verify",
        kind,
        round(rate, 1),
        "/s",
        "reading the events and hashing their canonical bytes with hashlib",
        round(statistics.median(baseline_rates), 1),
        round(ratio, 3),
        f">= {TARGET_RATE:,}/s, >= {TARGET_RATIO}x",
        rate >= TARGET_RATE and ratio >= TARGET_RATIO,
        {
            "events": float(len(canonical)),
            "hash_only_rate": round(statistics.median(hash_rates), 1),
            "hash_only_ratio": round(hash_ratio, 3),
            "snapshot_replay_share": round(statistics.median(replay_shares), 3),
        },
    )
