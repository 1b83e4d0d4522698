"""verify: chain and Merkle tree verification (adapters/ledger.verify) over the shared
log, against hashing the same canonical bytes with hashlib alone (the chain hash, the
leaf hash and one interior node a leaf, as many SHA-256 calls as the verifier makes),
interleaved in one run.
"""

from __future__ import annotations

import hashlib
import statistics
import time

from sqlalchemy import select

from adapters.bootstrap import Services
from adapters.ledger import STORED_EVENT, row_bytes, verify
from adapters.tables import events
from bench.common import Result

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


def measure(kind: str, services: Services) -> Result:
    with services.database.reading() as connection:
        rows = connection.execute(select(*STORED_EVENT).order_by(events.c.id)).all()
    canonical = [row_bytes(row) for row in rows]
    del rows
    verify_rates, hash_rates = [], []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        result = verify(services.database)
        verify_rates.append(result.events / (time.perf_counter() - start))
        assert result.verified, result.problem
        hash_rates.append(_hash_alone(canonical))
    rate = statistics.median(verify_rates)
    ratio = statistics.median(v / h for v, h in zip(verify_rates, hash_rates, strict=True))
    return Result(
        "verify",
        kind,
        round(rate, 1),
        "/s",
        "hashlib alone over the same canonical bytes",
        round(statistics.median(hash_rates), 1),
        round(ratio, 3),
        f">= {TARGET_RATE:,}/s, >= {TARGET_RATIO}x",
        rate >= TARGET_RATE and ratio >= TARGET_RATIO,
        {"events": float(len(canonical))},
    )
