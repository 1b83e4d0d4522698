"""command_throughput: log-progress commands through the unit of work, one transaction
each, against raw SQLAlchemy Core transactions writing the same rows (the event row, its
chain row with the leaf index, and the Merkle nodes the leaf completes) on the same
database, interleaved in one run so both see the same machine.
"""

from __future__ import annotations

import hashlib
import statistics
import time
import uuid
from datetime import date

from sqlalchemy import insert

from adapters.bootstrap import Services
from adapters.ledger import node_row, read_tip
from adapters.tables import event_chain, events, merkle_nodes
from adapters.unit_of_work import Write
from bench.common import Result, fresh_database, services_on
from domain.access import system
from domain.commands import LogProgress, RegisterCommitment
from domain.merkle import leaf_hash
from domain.vocabulary import Pillar

ROUNDS = 15
COMMANDS = 200
TARGETS = {"sqlite": 0.8, "postgresql": 0.7}
ADMIN = system("bench")


def _app_round(services: Services, codes: list[str], offset: int) -> float:
    """Commands per second through the application."""
    start = time.perf_counter()
    for i in range(COMMANDS):
        command = LogProgress(percent=(offset + i) % 101, as_of=date(2026, 1, 1), note="bench")
        services.unit_of_work.run(Write(ADMIN, command, ref=codes[i % len(codes)]))
    return COMMANDS / (time.perf_counter() - start)


_INSERT_EVENT = insert(events).returning(events.c.id)
_INSERT_ENTRY = insert(event_chain)
_INSERT_NODES = insert(merkle_nodes)


def _raw_round(services: Services, state: bytes, previous: str) -> tuple[float, str]:
    """The same rows written with SQLAlchemy Core, one transaction each."""
    originator = uuid.uuid4()
    topic = "domain.commitment:Commitment.ProgressLogged"
    with services.database.reading() as connection:
        frontier = read_tip(connection).frontier  # where the application's writes left it
    start = time.perf_counter()
    for version in range(1, COMMANDS + 1):
        with services.database.writing() as connection:
            position = connection.execute(
                _INSERT_EVENT,
                {
                    "originator_id": originator,
                    "originator_version": version,
                    "topic": topic,
                    "state": state,
                },
            ).scalar_one()
            previous = hashlib.sha256(bytes.fromhex(previous) + state).hexdigest()
            connection.execute(
                _INSERT_ENTRY, {"position": position, "hash": previous, "leaf": frontier.size}
            )
            frontier, completed = frontier.append(leaf_hash(state))
            connection.execute(_INSERT_NODES, [node_row(n, value) for n, value in completed])
    return COMMANDS / (time.perf_counter() - start), previous


def measure(kind: str) -> Result:
    with fresh_database(kind) as url:
        services = services_on(url)
        try:
            codes = [f"CMAP-BENCH-W{i}" for i in range(5)]
            for code in codes:
                command = RegisterCommitment(
                    code=code,
                    title="Bench",
                    pillar=Pillar.PROSPERITY,
                    sectors=("trade",),
                    parties=("CA", "MX"),
                    lead_party="joint",
                )
                services.unit_of_work.run(Write(ADMIN, command))
            _app_round(services, codes, 0)  # warm up: caches, compiled statements
            progress = services.tracker.events_of(codes[0])[-1]
            state = services.tracker.mapper.to_stored_event(progress).state
            app_rates, raw_rates = [], []
            previous = "0" * 64
            for r in range(ROUNDS):
                app_rates.append(_app_round(services, codes, r * COMMANDS))
                rate, previous = _raw_round(services, state, previous)
                raw_rates.append(rate)
        finally:
            services.close()
    # Each round beside the baseline round next to it in time: the machine's ups and
    # downs (fsync times above all) touch both alike.
    ratio = statistics.median(a / r for a, r in zip(app_rates, raw_rates, strict=True))
    target = TARGETS[kind]
    return Result(
        "command_throughput",
        kind,
        round(statistics.median(app_rates), 1),
        "/s",
        "raw Core event+chain+tree transaction",
        round(statistics.median(raw_rates), 1),
        round(ratio, 3),
        f">= {target}x",
        ratio >= target,
    )


if __name__ == "__main__":
    from bench.common import databases, print_table

    print_table([measure(kind) for kind in databases()])
