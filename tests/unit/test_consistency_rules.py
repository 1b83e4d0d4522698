"""Rules that keep a commitment's data consistent: nothing takes effect before the
commitment started, and a completion counts 100% in headlines unless it says it was
partial. Rules check new commands only; events already in a log replay as they are."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from domain import clock
from domain.commands import (
    AddMilestone,
    AttachEvidence,
    ChangeMilestone,
    ChangeStatus,
    CompleteMilestone,
    ConfirmClosure,
    DefineIndicator,
    LogProgress,
    RateHealth,
    RecordMeasurement,
)
from domain.commitment import Commitment, replay
from domain.errors import InvalidValue
from domain.views import describe
from domain.vocabulary import Health, Status
from tests import support
from tests.support import ADMIN, CA_EDITOR, MX_EDITOR

TODAY = datetime(2026, 6, 15, 12, tzinfo=UTC)
START = date(2025, 9, 18)
BEFORE = date(2025, 9, 17)


@pytest.fixture(autouse=True)
def fixed_clock() -> Iterator[None]:
    with clock.frozen_at(TODAY):
        yield


def started(**overrides: Any) -> Commitment:
    c = Commitment.register(
        support.registration(**({"start_date": START} | overrides)), actor="a", by=ADMIN
    )
    c.add_milestone(AddMilestone(title="Study", due_date=date(2026, 3, 1)), actor="a")
    c.define_indicator(
        DefineIndicator(name="Trains", unit="count", baseline=Decimal(0), target=Decimal(9)),
        actor="a",
    )
    return c


@pytest.mark.parametrize(
    ("write", "field"),
    [
        (
            lambda c, d: c.log_progress(LogProgress(percent=5, as_of=d, note="n"), actor="a"),
            "as_of",
        ),
        (
            lambda c, d: c.rate_health(
                RateHealth(rating=Health.RED, rationale="r", as_of=d), actor="a"
            ),
            "as_of",
        ),
        (
            lambda c, d: c.change_status(
                ChangeStatus(status=Status.IN_PROGRESS, reason="r", as_of=d), actor="a", by=ADMIN
            ),
            "as_of",
        ),
        (
            lambda c, d: c.complete_milestone(
                CompleteMilestone(milestone_id="m1", completed_on=d), actor="a"
            ),
            "completed_on",
        ),
        (
            lambda c, d: c.record_measurement(
                RecordMeasurement(indicator_id="i1", value=Decimal(1), as_of=d), actor="a"
            ),
            "as_of",
        ),
    ],
    ids=["progress", "health", "status", "milestone", "measurement"],
)
def test_no_effective_date_before_the_start(write: Any, field: str) -> None:
    c = started()
    version = c.version
    with pytest.raises(InvalidValue) as refused:
        write(c, BEFORE)
    assert refused.value.message == (
        f"{field} 2025-09-17 is before CMAP-PROS-RAIL's start date 2025-09-18: "
        "nothing about it can take effect before it started"
    )
    assert c.version == version  # nothing triggered
    write(c, START)  # the start day itself is fine
    assert c.version > version


def test_a_commitment_without_a_start_date_takes_any_past_date() -> None:
    c = started(start_date=None)
    c.log_progress(LogProgress(percent=5, as_of=date(2020, 1, 1), note="n"), actor="a")
    assert c.progress == 5


def test_evidence_may_be_older_than_the_commitment() -> None:
    """A document published before the start (the plan itself, an earlier study) can
    support a claim: published_on is not held to the start date."""
    c = started()
    c.attach_evidence(
        AttachEvidence(url="https://example.org/study", title="Study", published_on=BEFORE),
        actor="a",
    )
    assert c.evidence[-1].published_on == BEFORE


def test_events_already_in_a_log_replay_even_if_they_break_the_rule() -> None:
    """The rule is for new commands: a log written before it keeps replaying."""
    c = started(start_date=None)
    c.log_progress(LogProgress(percent=5, as_of=date(2020, 1, 1), note="old"), actor="a")
    events: list[Any] = list(c.collect_events())
    registered: Any = events[0]
    object.__setattr__(registered, "start_date", START)  # as if the start was always there
    again = replay(events)
    assert again is not None and again.progress == 5 and again.start_date == START


def _completed(partial: bool) -> Commitment:
    c = started(parties=("CA",), lead_party="CA")
    c.log_progress(LogProgress(percent=70, as_of=date(2026, 5, 1), note="most"), actor="a")
    c.change_status(
        ChangeStatus(status=Status.COMPLETED, reason="done", partial=partial), actor="a", by=ADMIN
    )
    return c


def test_a_completion_counts_100_unless_it_says_partial() -> None:
    full, partial = _completed(False), _completed(True)
    assert (full.progress, full.counted_progress, full.completion_partial) == (70, 100, False)
    assert (partial.progress, partial.counted_progress, partial.completion_partial) == (
        70,
        70,
        True,
    )
    resource = describe(partial, date(2026, 6, 15))
    assert (resource["completion_partial"], resource["counted_progress"]) == (True, 70)
    [*_, changed] = partial.collect_events()
    assert isinstance(changed, Commitment.StatusChanged) and changed.partial is True


def test_reopening_forgets_a_partial_completion() -> None:
    c = _completed(True)
    c.change_status(ChangeStatus(status=Status.IN_PROGRESS, reason="more"), actor="a", by=ADMIN)
    assert (c.completion_partial, c.counted_progress) == (False, 70)


def test_partial_is_only_for_completed() -> None:
    c = started()
    with pytest.raises(InvalidValue, match="partial is only for status completed"):
        c.change_status(
            ChangeStatus(status=Status.SUSPENDED, reason="r", partial=True), actor="a", by=ADMIN
        )


def test_a_proposed_partial_completion_is_confirmed_partial() -> None:
    c = started()
    c.log_progress(LogProgress(percent=60, as_of=date(2026, 5, 1), note="n"), actor="a")
    c.change_status(
        ChangeStatus(status=Status.COMPLETED, reason="done", partial=True), actor="x", by=MX_EDITOR
    )
    assert c.pending_closure is not None and c.pending_closure.partial
    c.confirm_closure(ConfirmClosure(), actor="y", by=CA_EDITOR)
    assert (c.status, c.completion_partial, c.counted_progress) == (Status.COMPLETED, True, 60)


def test_an_event_of_version_1_reads_as_a_full_completion() -> None:
    state: dict[str, Any] = {"status": Status.COMPLETED, "reason": "r"}
    Commitment.StatusChanged.upcast_v1_v2(state)
    assert state["partial"] is False
    proposal: dict[str, Any] = {}
    Commitment.ClosureProposed.upcast_v1_v2(proposal)
    assert proposal["partial"] is False


def test_a_milestone_cannot_fall_due_before_the_commitment_started() -> None:
    c = started()
    with pytest.raises(InvalidValue, match="before CMAP-PROS-RAIL's start date 2025-09-18"):
        c.add_milestone(AddMilestone(title="Old", due_date=BEFORE), actor="a")
    [milestone] = c.milestones
    with pytest.raises(InvalidValue, match="cannot fall due before it started"):
        c.change_milestone(
            ChangeMilestone(milestone_id=milestone, due_date=BEFORE, reason="earlier"), actor="a"
        )
    # On the start date itself, it can.
    c.add_milestone(AddMilestone(title="Kick-off", due_date=START), actor="a")
    assert len(c.milestones) == 2
