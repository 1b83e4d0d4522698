"""Reports at a million events without reading what they skip (adapters/reports/fast.py):

- a commitment's structural events (all but the series facts: progress, health ratings,
  measurements) by a partial index of the events, where a report read every event of the
  commitments it covers and skipped the series facts (half a second at 1,000 events a
  commitment);
- the series totals (evidence documents, the last health rating in effect on a day)
  from the indexes alone: the progress points' index carries the evidence count, the
  assessments' the kind before the date (half a million table rows looked up).

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each index's name, table, and columns before and after this revision.
INDEXES = (
    (
        "progress_points_commitment_idx",
        "progress_points",
        ["commitment_id", "as_of", "position"],
        ["commitment_id", "as_of", "position", "evidence"],
    ),
    (
        "assessments_commitment_idx",
        "assessments",
        ["commitment_id", "as_of", "position"],
        ["commitment_id", "kind", "as_of", "position"],
    ),
)


# The series facts' topics at this revision (adapters/tables.py STRUCTURAL_EVENTS).
STRUCTURAL = sa.text(
    "topic NOT IN ('domain.commitment\\:Commitment.ProgressLogged', "
    "'domain.commitment\\:Commitment.HealthRated', "
    "'domain.commitment\\:Commitment.IndicatorMeasured')"
)


def upgrade() -> None:
    for name, table, _before, after in INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, after, unique=False)
    op.create_index(
        "tracker_events_structural_idx",
        "tracker_events",
        ["originator_id", "id"],
        unique=False,
        sqlite_where=STRUCTURAL,
        postgresql_where=STRUCTURAL,
    )


def downgrade() -> None:
    op.drop_index("tracker_events_structural_idx", table_name="tracker_events")
    for name, table, before, _after in INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, before, unique=False)
