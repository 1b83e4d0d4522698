"""The report's read of a commitment's structural events (adapters/reports/fast.py) is
served by migration 0019's partial index: its condition must be the index's word for
word, or the database walks every event again (as it did, at a million events)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine

from adapters.tables import STRUCTURAL_EVENTS, events

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


@BOTH
def test_the_structural_events_of_a_commitment_are_read_by_their_partial_index(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            condition = str(STRUCTURAL_EVENTS.compile(dialect=engine.dialect))
            query = f"SELECT id FROM {events.name} WHERE originator_id = {{}} AND {condition}"
            if engine.dialect.name == "sqlite":
                plan = connection.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + query.format("?"), (uuid.uuid4().bytes,)
                ).all()
            else:
                # An empty table: the planner would scan it; without that choice, the
                # index serves only if its predicate follows from the query's condition.
                connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
                plan = connection.exec_driver_sql(
                    "EXPLAIN " + query.format("%(id)s"), {"id": uuid.uuid4()}
                ).all()
        assert "tracker_events_structural_idx" in " ".join(str(row) for row in plan), plan
    finally:
        engine.dispose()
