"""The Tracker's use cases and reads, in memory: one write entry point, party scope,
optimistic concurrency, all-or-nothing batches, schedules and time travel (no database)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import pytest

from domain import clock
from domain.access import Principal, Role
from domain.commands import (
    AddMilestone,
    AttachEvidence,
    ChangeMilestone,
    ChangeStatus,
    CommitmentCommand,
    CompleteMilestone,
    ConfirmClosure,
    DefineIndicator,
    DefineSchedule,
    LogProgress,
    PlannedMilestone,
    RateHealth,
    RecordMeasurement,
    RejectClosure,
    RemoveSchedule,
    ReviseDetails,
    Together,
    TranslateText,
)
from domain.commitment import Commitment, commitment_id
from domain.errors import (
    DomainError,
    DuplicateCode,
    Forbidden,
    InvalidValue,
    NotFound,
    StateConflict,
    VersionMismatch,
)
from domain.schedule import ReportSchedule, schedule_id
from domain.tracker import SNAPSHOT_INTERVAL, Change, Tracker, snapshot_due
from domain.vocabulary import Evidence, Health, Status
from tests.conftest import memory_tracker
from tests.support import ADMIN, CA_EDITOR, CODE, MX_EDITOR, VIEWER, registration

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
OTHER = "CMAP-PROS-PORTS"
PARTYLESS_EDITOR = Principal("ed", Role.EDITOR)
US_MX: dict[str, Any] = {"parties": ("MX", "US"), "lead_party": "MX"}


@pytest.fixture(autouse=True)
def fixed_clock() -> Iterator[None]:
    with clock.frozen_at(NOW):
        yield


@pytest.fixture
def tracker() -> Tracker:
    return memory_tracker()


@pytest.fixture
def planned(tracker: Tracker) -> Tracker:
    """A tracker holding CODE (CA-MX) with a milestone m1 and an indicator i1."""
    tracker.register(
        ADMIN,
        registration(milestones=(PlannedMilestone(title="Study", due_date=date(2026, 5, 1)),)),
    )
    tracker.update(
        ADMIN,
        CODE,
        DefineIndicator(name="Trains", unit="per week", baseline=Decimal(2), target=Decimal(8)),
    )
    return tracker


def kinds(events: list[Commitment.Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def versions(tracker: Tracker, ref: str = CODE) -> int:
    return len(tracker.events_of(ref))


# ---- register -------------------------------------------------------------------------


def test_register_records_the_commitment_with_its_planned_milestones(tracker: Tracker) -> None:
    change = tracker.register(
        CA_EDITOR,
        registration(
            milestones=(
                PlannedMilestone(title="Study", due_date=date(2026, 5, 1)),
                PlannedMilestone(title="Tender", due_date=date(2027, 1, 1)),
            )
        ),
    )
    assert isinstance(change, Change)
    assert (change.events, change.result, change.position) == (3, None, 3)
    assert change.commitment is change.aggregate and change.commitment.version == 3
    stored = tracker.get(CODE)
    assert stored.id == commitment_id(CODE) and stored.version == 3
    assert [(m.id, m.title) for m in stored.milestones.values()] == [
        ("m1", "Study"),
        ("m2", "Tender"),
    ]
    events = tracker.events_of(CODE)
    assert kinds(events) == ["Registered", "MilestoneAdded", "MilestoneAdded"]
    assert {e.actor for e in events} == {CA_EDITOR.name}
    assert {e.timestamp for e in events} == {NOW}


def test_register_through_execute(tracker: Tracker) -> None:
    change = tracker.execute(ADMIN, registration())
    assert change.events == 1 and tracker.exists(CODE)


def test_a_code_is_registered_once(tracker: Tracker) -> None:
    tracker.register(ADMIN, registration())
    with pytest.raises(DuplicateCode, match=f"code {CODE} is already registered") as raised:
        tracker.register(ADMIN, registration(title="Another title"))
    assert isinstance(raised.value, StateConflict)
    assert versions(tracker) == 1 and tracker.get(CODE).title == "Rail corridors"


def test_an_invalid_registration_records_nothing(tracker: Tracker) -> None:
    with pytest.raises(InvalidValue, match="at most 200"):
        tracker.register(ADMIN, registration(title="x" * 201))
    with pytest.raises(InvalidValue, match="different titles"):
        tracker.register(
            ADMIN,
            registration(
                milestones=(
                    PlannedMilestone(title="Study", due_date=date(2026, 5, 1)),
                    PlannedMilestone(title="study", due_date=date(2026, 6, 1)),
                )
            ),
        )
    assert not tracker.exists(CODE)


# ---- every command on a commitment -----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    command: CommitmentCommand
    result: str | None
    events: list[str]
    check: Callable[[Commitment], bool]
    # Run by an editor of MX first (a closure proposal for CA to confirm or reject).
    given: CommitmentCommand | None = None


CANCEL = ChangeStatus(status=Status.CANCELLED, reason="dropped", as_of=date(2026, 6, 1))


CASES = [
    Case(
        ReviseDetails(title="Rail and ports", target_date=None, reason="merged"),
        None,
        ["DetailsRevised"],
        lambda c: c.title == "Rail and ports" and c.target_date is None,
    ),
    Case(
        LogProgress(percent=40, as_of=date(2026, 3, 31), note="half", confidence=7),
        None,
        ["ProgressLogged", "StatusChanged"],
        lambda c: (c.progress, c.confidence, c.status) == (40, 7, Status.IN_PROGRESS),
    ),
    Case(
        ChangeStatus(status=Status.SUSPENDED, reason="paused", as_of=date(2026, 6, 1)),
        None,
        ["StatusChanged"],
        lambda c: (c.status, c.status_as_of) == (Status.SUSPENDED, date(2026, 6, 1)),
    ),
    Case(
        CANCEL,
        None,
        ["ClosureProposed"],
        lambda c: (
            c.status is Status.NOT_STARTED
            and c.pending_closure is not None
            and (c.pending_closure.status, c.pending_closure.proposed_by_party)
            == (Status.CANCELLED, "CA")
        ),
    ),
    Case(
        ConfirmClosure(note="agreed"),
        None,
        ["ClosureConfirmed", "StatusChanged"],
        lambda c: (
            (c.status, c.status_as_of, c.status_reason, c.pending_closure)
            == (Status.CANCELLED, date(2026, 6, 1), "dropped", None)
        ),
        given=CANCEL,
    ),
    Case(
        RejectClosure(reason="not agreed"),
        None,
        ["ClosureRejected"],
        lambda c: (c.status, c.pending_closure) == (Status.NOT_STARTED, None),
        given=CANCEL,
    ),
    Case(
        RateHealth(rating=Health.AMBER_RED, rationale="slipping"),
        None,
        ["HealthRated"],
        lambda c: (c.health, c.health_as_of) == (Health.AMBER_RED, NOW.date()),
    ),
    Case(
        AddMilestone(title="Tender", due_date=date(2026, 12, 1)),
        "m2",
        ["MilestoneAdded"],
        lambda c: c.milestone("m2").title == "Tender",
    ),
    Case(
        ChangeMilestone(milestone_id="m1", due_date=date(2026, 9, 1), reason="late", title="S2"),
        "m1",
        ["MilestoneRescheduled", "MilestoneRetitled"],
        lambda c: (c.milestone("m1").due_date, c.milestone("m1").title) == (date(2026, 9, 1), "S2"),
    ),
    Case(
        CompleteMilestone(milestone_id="m1", completed_on=date(2026, 4, 30), note="signed"),
        "m1",
        ["MilestoneCompleted"],
        lambda c: c.milestone("m1").completed_on == date(2026, 4, 30),
    ),
    Case(
        DefineIndicator(name="Ports", unit="calls", baseline=Decimal(0), target=Decimal("2.5")),
        "i2",
        ["IndicatorDefined"],
        lambda c: c.indicator("i2").target == Decimal("2.5"),
    ),
    Case(
        RecordMeasurement(indicator_id="i1", value=Decimal(5), as_of=date(2026, 6, 1)),
        "i1",
        ["IndicatorMeasured"],
        lambda c: (
            (c.indicator("i1").latest_value, c.indicator("i1").measurements) == (Decimal(5), 1)
        ),
    ),
    Case(
        AttachEvidence(url="https://example.org/e", title="Statement", publisher="GAC"),
        None,
        ["EvidenceAttached"],
        lambda c: c.evidence == [Evidence("https://example.org/e", "Statement", "GAC")],
    ),
    Case(
        TranslateText(language="fr", title="Corridors", milestones={"m1": "Étude"}),
        None,
        ["TextTranslated"],
        lambda c: c.translations == {"fr": {"title": "Corridors", "milestones.m1": "Étude"}},
    ),
    Case(
        Together(
            (
                AddMilestone(title="Tender", due_date=date(2026, 12, 1)),
                RateHealth(rating=Health.GREEN, rationale="fine"),
                AddMilestone(title="Works", due_date=date(2027, 12, 1)),
            )
        ),
        "m3",
        ["MilestoneAdded", "HealthRated", "MilestoneAdded"],
        lambda c: len(c.milestones) == 3 and c.health is Health.GREEN,
    ),
]


def test_the_cases_cover_every_command_on_a_commitment() -> None:
    def subclasses(kind: type) -> set[type]:
        return {s for c in kind.__subclasses__() for s in {c, *subclasses(c)}}

    assert {type(case.command) for case in CASES} == subclasses(CommitmentCommand)


@pytest.mark.parametrize("entry", ["execute", "update"])
@pytest.mark.parametrize("case", CASES, ids=lambda case: type(case.command).__name__)
def test_every_command_runs_on_a_stored_commitment(
    planned: Tracker, case: Case, entry: str
) -> None:
    if case.given is not None:
        planned.update(MX_EDITOR, CODE, case.given)
    before = planned.get(CODE).version
    if entry == "execute":
        change = planned.execute(CA_EDITOR, case.command, ref=CODE)
    else:
        change = planned.update(CA_EDITOR, CODE, case.command)
    assert change.result == case.result
    assert change.events == len(case.events)
    assert change.commitment.version == before + len(case.events)
    events = planned.events_of(CODE)
    assert kinds(events[before:]) == case.events
    assert {e.actor for e in events[before:]} == {CA_EDITOR.name}
    stored = planned.get(CODE)
    assert stored.version == change.commitment.version
    assert case.check(stored) and case.check(change.commitment)


def test_a_command_on_a_commitment_needs_its_reference(planned: Tracker) -> None:
    with pytest.raises(InvalidValue, match="needs the commitment's code or id"):
        planned.execute(ADMIN, AddMilestone(title="X", due_date=date(2026, 9, 1)))


def test_a_commitment_is_found_by_its_uuid_too(planned: Tracker) -> None:
    change = planned.execute(
        ADMIN, AddMilestone(title="X", due_date=date(2026, 9, 1)), ref=str(commitment_id(CODE))
    )
    assert change.result == "m2" and planned.get(CODE).milestone("m2").title == "X"


def test_a_command_on_an_unknown_commitment_is_not_found(tracker: Tracker) -> None:
    with pytest.raises(NotFound, match=f"no commitment {CODE}"):
        tracker.update(ADMIN, CODE, RateHealth(rating=Health.RED, rationale="r"))
    with pytest.raises(NotFound, match="give its code or its UUID"):
        tracker.update(ADMIN, "rail", RateHealth(rating=Health.RED, rationale="r"))
    assert not tracker.exists(CODE)


def test_a_refused_command_records_nothing(planned: Tracker) -> None:
    before = versions(planned)
    with pytest.raises(InvalidValue, match="percent"):
        planned.update(ADMIN, CODE, LogProgress(percent=101, as_of=date(2026, 1, 1), note="n"))
    with pytest.raises(StateConflict, match="already not_started"):
        planned.update(ADMIN, CODE, ChangeStatus(status=Status.NOT_STARTED, reason="r"))
    assert versions(planned) == before


# ---- Together: all or nothing ----------------------------------------------------------


def test_together_records_all_of_its_steps_or_none(planned: Tracker) -> None:
    shown = planned.get(CODE)
    before = shown.version
    failing = Together(
        (
            ChangeMilestone(milestone_id="m1", due_date=date(2026, 10, 1), reason="late"),
            CompleteMilestone(milestone_id="m1", completed_on=date(2026, 4, 1)),
            RecordMeasurement(indicator_id="i1", value=Decimal(3), as_of=date(2026, 4, 1)),
            AddMilestone(title="Tender", due_date=date(2026, 12, 1)),
            LogProgress(percent=150, as_of=date(2026, 4, 1), note="too much"),
        )
    )
    with pytest.raises(InvalidValue, match="percent"):
        planned.update(ADMIN, CODE, failing)
    assert versions(planned) == before
    # The stored (and cached) state is untouched by the steps that ran before the failure.
    after = planned.get(CODE)
    assert after.version == before
    assert after.milestone("m1") == shown.milestone("m1")
    assert after.milestone("m1").due_date == date(2026, 5, 1)
    assert after.milestone("m1").completed_on is None
    assert after.indicator("i1").measurements == 0
    assert list(after.milestones) == ["m1"]
    # ... and the next write carries on from there.
    change = planned.update(ADMIN, CODE, AddMilestone(title="Tender", due_date=date(2026, 12, 1)))
    assert (change.result, change.commitment.version) == ("m2", before + 1)


def test_an_empty_together_is_refused_as_a_domain_error(planned: Tracker) -> None:
    before = versions(planned)
    with pytest.raises(DomainError):
        planned.update(ADMIN, CODE, Together(()))
    assert versions(planned) == before


def test_a_milestone_change_that_fails_halfway_records_nothing(planned: Tracker) -> None:
    planned.update(ADMIN, CODE, AddMilestone(title="Tender", due_date=date(2026, 12, 1)))
    before = versions(planned)
    with pytest.raises(StateConflict, match="already has a milestone titled"):
        planned.update(
            ADMIN,
            CODE,
            ChangeMilestone(
                milestone_id="m1", due_date=date(2026, 9, 1), reason="r", title="Tender"
            ),
        )
    assert versions(planned) == before
    assert planned.get(CODE).milestone("m1").due_date == date(2026, 5, 1)


def test_a_state_handed_out_is_a_copy(planned: Tracker) -> None:
    handed = planned.get(CODE)
    handed.milestones["m1"].title = "changed in the caller's hands"
    handed.sectors.append("energy")
    handed.milestones.clear()
    stored = planned.get(CODE)
    assert stored.milestone("m1").title == "Study" and stored.sectors == ["railways"]


# ---- party scope -------------------------------------------------------------------------


def test_editors_write_to_commitments_of_their_party(tracker: Tracker) -> None:
    tracker.register(CA_EDITOR, registration())
    tracker.register(ADMIN, registration(OTHER, **US_MX))
    tracker.update(CA_EDITOR, CODE, RateHealth(rating=Health.GREEN, rationale="ok"))
    tracker.update(MX_EDITOR, CODE, RateHealth(rating=Health.AMBER, rationale="less so"))
    tracker.update(MX_EDITOR, OTHER, RateHealth(rating=Health.AMBER, rationale="r"))
    with pytest.raises(Forbidden, match=r"party CA\) may not write to a commitment of MX, US"):
        tracker.update(CA_EDITOR, OTHER, RateHealth(rating=Health.RED, rationale="r"))
    assert kinds(tracker.events_of(OTHER)) == ["Registered", "HealthRated"]
    assert [e.actor for e in tracker.events_of(CODE)] == ["ana.ca", "ana.ca", "luis.mx"]


def test_registration_checks_the_parties_of_the_command(tracker: Tracker) -> None:
    with pytest.raises(Forbidden, match="may not write to a commitment of MX, US"):
        tracker.register(CA_EDITOR, registration(**US_MX))
    with pytest.raises(Forbidden):
        tracker.execute(CA_EDITOR, registration(**US_MX))
    assert not tracker.exists(CODE)
    tracker.register(MX_EDITOR, registration(**US_MX))
    assert tracker.get(CODE).parties == ["MX", "US"]


@pytest.mark.parametrize(
    ("principal", "message"),
    [(VIEWER, "a viewer token may only read"), (PARTYLESS_EDITOR, "without a party")],
    ids=["viewer", "partyless-editor"],
)
def test_viewers_and_editors_without_a_party_write_nothing(
    planned: Tracker, principal: Principal, message: str
) -> None:
    before = versions(planned)
    with pytest.raises(Forbidden, match=message):
        planned.register(principal, registration(OTHER))
    with pytest.raises(Forbidden, match=message):
        planned.update(principal, CODE, RateHealth(rating=Health.RED, rationale="r"))
    # Refused before the command is even looked at.
    with pytest.raises(Forbidden, match=message):
        planned.update(principal, CODE, LogProgress(percent=999, as_of=date(2026, 1, 1), note=""))
    assert versions(planned) == before and not planned.exists(OTHER)


def test_an_admin_writes_to_any_commitment(tracker: Tracker) -> None:
    tracker.register(ADMIN, registration(**US_MX))
    change = tracker.update(ADMIN, CODE, RateHealth(rating=Health.RED, rationale="r"))
    assert change.commitment.health is Health.RED
    assert tracker.events_of(CODE)[-1].actor == ADMIN.name


def test_the_scope_is_the_stored_commitments_parties(tracker: Tracker) -> None:
    """An editor of a party named only in the agencies of a command gains nothing."""
    tracker.register(ADMIN, registration(**US_MX))
    with pytest.raises(Forbidden):
        tracker.update(
            CA_EDITOR, CODE, ReviseDetails(agencies={"CA": ("Transport Canada",)}, reason="r")
        )
    assert versions(tracker) == 1


# ---- expected version (If-Match) ---------------------------------------------------------


def test_an_expected_version_must_be_the_current_one(planned: Tracker) -> None:
    current = planned.get(CODE).version
    with pytest.raises(VersionMismatch) as raised:
        planned.update(
            ADMIN,
            CODE,
            RateHealth(rating=Health.RED, rationale="r"),
            expected_version=current - 1,
        )
    assert (raised.value.expected, raised.value.actual) == (current - 1, current)
    assert raised.value.message == (
        f"expected version {current - 1} but the commitment is at version {current}"
    )
    with pytest.raises(VersionMismatch):
        planned.execute(
            ADMIN,
            RateHealth(rating=Health.RED, rationale="r"),
            ref=CODE,
            expected_version=current + 1,
        )
    assert versions(planned) == current
    change = planned.execute(
        ADMIN, RateHealth(rating=Health.RED, rationale="r"), ref=CODE, expected_version=current
    )
    assert change.commitment.version == current + 1


# ---- superseded_by ------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["code", "uuid"])
def test_superseded_by_is_resolved_to_the_successors_code(tracker: Tracker, by: str) -> None:
    tracker.register(ADMIN, registration())
    tracker.register(ADMIN, registration(OTHER))
    ref = OTHER if by == "code" else str(commitment_id(OTHER))
    change = tracker.update(
        ADMIN, CODE, ChangeStatus(status=Status.SUPERSEDED, reason="merged", superseded_by=ref)
    )
    assert change.commitment.superseded_by == OTHER
    assert tracker.get(CODE).superseded_by == OTHER
    event = tracker.events_of(CODE)[-1]
    assert isinstance(event, Commitment.StatusChanged) and event.superseded_by == OTHER


@pytest.mark.parametrize(
    "successor",
    [OTHER, "not a code", str(commitment_id(OTHER)), str(schedule_id("monthly"))],
    ids=["unregistered-code", "malformed", "unregistered-uuid", "schedule-id"],
)
def test_superseded_by_must_name_a_registered_commitment(tracker: Tracker, successor: str) -> None:
    tracker.register(ADMIN, registration())
    tracker.define_schedule(
        ADMIN, DefineSchedule(name="monthly", cron="0 6 1 * *", formats=("json",))
    )
    with pytest.raises(InvalidValue, match="superseded_by names no registered commitment"):
        tracker.update(
            ADMIN,
            CODE,
            ChangeStatus(status=Status.SUPERSEDED, reason="r", superseded_by=successor),
        )
    assert versions(tracker) == 1


def test_superseded_by_inside_together_must_name_a_registered_commitment(
    tracker: Tracker,
) -> None:
    tracker.register(ADMIN, registration())
    step = ChangeStatus(status=Status.SUPERSEDED, reason="r", superseded_by=OTHER)
    with pytest.raises(InvalidValue, match="superseded_by names no registered commitment"):
        tracker.update(ADMIN, CODE, Together((step,)))
    assert versions(tracker) == 1


def test_superseded_by_inside_together_is_resolved_to_the_code(tracker: Tracker) -> None:
    tracker.register(ADMIN, registration())
    tracker.register(ADMIN, registration(OTHER))
    step = ChangeStatus(
        status=Status.SUPERSEDED, reason="r", superseded_by=str(commitment_id(OTHER))
    )
    change = tracker.update(ADMIN, CODE, Together((step,)))
    assert change.commitment.superseded_by == OTHER


def test_a_commitment_cannot_supersede_itself_by_its_uuid(tracker: Tracker) -> None:
    tracker.register(ADMIN, registration())
    with pytest.raises(InvalidValue, match="cannot supersede itself"):
        tracker.update(
            ADMIN,
            CODE,
            ChangeStatus(
                status=Status.SUPERSEDED, reason="r", superseded_by=str(commitment_id(CODE))
            ),
        )


# ---- schedules ---------------------------------------------------------------------------


def monthly(**overrides: Any) -> DefineSchedule:
    fields: dict[str, Any] = {
        "name": "monthly",
        "cron": "0  6 1 * *",
        "formats": ("xlsx", "json", "json"),
        "timezone": "America/Mexico_City",
    }
    return DefineSchedule(**(fields | overrides))


def test_a_schedule_is_defined_redefined_removed_and_defined_again(tracker: Tracker) -> None:
    defined = tracker.define_schedule(ADMIN, monthly())
    schedule = defined.aggregate
    assert isinstance(schedule, ReportSchedule) and defined.events == 1
    assert schedule.id == schedule_id("monthly")
    assert (schedule.cron, schedule.formats, schedule.timezone, schedule.period_days) == (
        "0 6 1 * *",
        ["json", "xlsx"],
        "America/Mexico_City",
        30,
    )
    assert schedule.active and schedule.changed_by == ADMIN.name

    with pytest.raises(StateConflict, match="already has exactly these settings"):
        tracker.define_schedule(ADMIN, monthly(cron="0 6 1 * *", formats=("json", "xlsx")))
    redefined = tracker.execute(ADMIN, monthly(period_days=31))
    assert redefined.aggregate.period_days == 31 and redefined.aggregate.version == 2

    removed = tracker.execute(ADMIN, RemoveSchedule(name="monthly"))
    assert removed.aggregate.active is False and removed.aggregate.version == 3
    with pytest.raises(StateConflict, match="already removed"):
        tracker.remove_schedule(ADMIN, RemoveSchedule(name="monthly"))

    again = tracker.define_schedule(ADMIN, monthly(period_days=31))  # same settings: reactivates
    assert again.aggregate.active and again.aggregate.version == 4
    assert [type(e).__qualname__ for e in tracker.events.get(schedule_id("monthly"))] == [
        "ReportSchedule.Defined",
        "ReportSchedule.Redefined",
        "ReportSchedule.Removed",
        "ReportSchedule.Redefined",
    ]


def test_removing_an_unknown_schedule_is_not_found(tracker: Tracker) -> None:
    with pytest.raises(NotFound, match="no schedule named 'weekly'"):
        tracker.remove_schedule(ADMIN, RemoveSchedule(name="weekly"))
    with pytest.raises(InvalidValue, match="schedule name"):
        tracker.remove_schedule(ADMIN, RemoveSchedule(name="Weekly!"))


@pytest.mark.parametrize("principal", [CA_EDITOR, VIEWER, PARTYLESS_EDITOR], ids=lambda p: p.name)
def test_only_admins_manage_schedules(tracker: Tracker, principal: Principal) -> None:
    with pytest.raises(Forbidden, match="admin"):
        tracker.define_schedule(principal, monthly())
    assert schedule_id("monthly") not in tracker.repository
    tracker.define_schedule(ADMIN, monthly())
    with pytest.raises(Forbidden, match="admin"):
        tracker.execute(principal, RemoveSchedule(name="monthly"))
    with pytest.raises(Forbidden, match="admin"):
        tracker.execute(principal, monthly(period_days=7))
    assert tracker.repository.get(schedule_id("monthly")).version == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cron": "61 * * * *"}, "not valid"),
        ({"cron": "* * *"}, "5 fields"),
        ({"cron": " "}, "cron must not be empty"),
        ({"timezone": "Mars/Olympus"}, "unknown timezone"),
        ({"name": "Monthly Report"}, "schedule name"),
        ({"formats": ()}, "at least one"),
        ({"formats": ("pdf",)}, "unknown report format 'pdf'"),
        ({"period_days": 0}, "period_days"),
        ({"period_days": 367}, "period_days"),
    ],
)
def test_an_invalid_schedule_is_refused(
    tracker: Tracker, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidValue, match=message):
        tracker.define_schedule(ADMIN, monthly(**overrides))
    assert schedule_id("monthly") not in tracker.repository
    tracker.define_schedule(ADMIN, monthly())
    if "name" not in overrides:
        with pytest.raises(InvalidValue, match=message):
            tracker.define_schedule(ADMIN, monthly(**overrides))  # a redefinition too
    assert tracker.repository.get(schedule_id("monthly")).version == 1


# ---- closing a commitment of several parties ----------------------------------------------


def test_a_joint_closure_takes_an_editor_of_each_party(tracker: Tracker) -> None:
    tracker.register(ADMIN, registration())
    tracker.update(ADMIN, CODE, ChangeStatus(status=Status.IN_PROGRESS, reason="started"))
    done = ChangeStatus(status=Status.COMPLETED, reason="delivered")
    proposal = tracker.update(MX_EDITOR, CODE, done)
    assert proposal.events == 1 and proposal.commitment.status is Status.IN_PROGRESS
    assert tracker.get(CODE).pending_closure is not None
    with pytest.raises(Forbidden, match="proposed by party MX"):
        tracker.update(MX_EDITOR, CODE, ConfirmClosure())
    with pytest.raises(StateConflict, match="is pending: confirm or reject it first"):
        tracker.update(CA_EDITOR, CODE, done)
    confirmed = tracker.update(CA_EDITOR, CODE, ConfirmClosure(note="agreed"))
    assert confirmed.events == 2 and tracker.get(CODE).status is Status.COMPLETED
    events = tracker.events_of(CODE)
    assert [(type(e).__name__, e.actor) for e in events[-3:]] == [
        ("ClosureProposed", "luis.mx"),
        ("ClosureConfirmed", "ana.ca"),
        ("StatusChanged", "ana.ca"),
    ]


def test_an_editor_of_a_third_party_cannot_touch_the_proposal(tracker: Tracker) -> None:
    tracker.register(ADMIN, registration(**US_MX))
    tracker.update(MX_EDITOR, CODE, ChangeStatus(status=Status.CANCELLED, reason="dropped"))
    with pytest.raises(Forbidden, match="may not write to a commitment of MX, US"):
        tracker.update(CA_EDITOR, CODE, ConfirmClosure())
    with pytest.raises(Forbidden, match="may not write to a commitment of MX, US"):
        tracker.update(CA_EDITOR, CODE, RejectClosure(reason="r"))
    assert tracker.get(CODE).pending_closure is not None


def test_a_proposal_to_supersede_names_the_successor_by_its_code(tracker: Tracker) -> None:
    tracker.register(ADMIN, registration())
    tracker.register(ADMIN, registration(OTHER))
    tracker.update(
        MX_EDITOR,
        CODE,
        ChangeStatus(
            status=Status.SUPERSEDED, reason="merged", superseded_by=str(commitment_id(OTHER))
        ),
    )
    pending = tracker.get(CODE).pending_closure
    assert pending is not None and pending.superseded_by == OTHER
    tracker.update(CA_EDITOR, CODE, ConfirmClosure())
    assert (tracker.get(CODE).status, tracker.get(CODE).superseded_by) == (
        Status.SUPERSEDED,
        OTHER,
    )


def test_an_editor_may_revise_only_their_own_partys_agencies(tracker: Tracker) -> None:
    tracker.register(ADMIN, registration(agencies={"CA": ("Transport Canada",)}))
    with pytest.raises(Forbidden, match="not those of CA"):
        tracker.update(MX_EDITOR, CODE, ReviseDetails(agencies={"MX": ("SICT",)}, reason="r"))
    with pytest.raises(Forbidden, match="not those of CA"):
        tracker.register(MX_EDITOR, registration(OTHER, agencies={"CA": ("GAC",), "MX": ("SRE",)}))
    tracker.update(
        MX_EDITOR,
        CODE,
        ReviseDetails(agencies={"CA": ("Transport Canada",), "MX": ("SICT",)}, reason="r"),
    )
    assert tracker.get(CODE).agencies == {"CA": ["Transport Canada"], "MX": ["SICT"]}
    assert not tracker.exists(OTHER)


def test_a_pending_closure_survives_a_snapshot(tracker: Tracker) -> None:
    tracker.register(ADMIN, registration())
    tracker.update(MX_EDITOR, CODE, ChangeStatus(status=Status.CANCELLED, reason="dropped"))
    tracker.take_snapshot(commitment_id(CODE))
    loaded: object = tracker.repository.get(commitment_id(CODE), version=2)
    assert isinstance(loaded, Commitment)
    assert loaded.pending_closure == tracker.get(CODE).pending_closure
    assert loaded.pending_closure is not None
    assert loaded.pending_closure.proposed_at == NOW


def test_a_snapshot_taken_before_closures_existed_loads_with_none_pending(
    tracker: Tracker,
) -> None:
    tracker.register(ADMIN, registration())
    snapshot = Commitment.Snapshot.take(tracker.get(CODE))
    del snapshot.state["pending_closure"]  # as written by the release before
    old = snapshot.mutate(None)
    assert isinstance(old, Commitment) and old.pending_closure is None
    old.change_status(ChangeStatus(status=Status.CANCELLED, reason="r"), actor="m", by=MX_EDITOR)
    assert old.pending_closure is not None


# ---- reads -------------------------------------------------------------------------------


def test_get_finds_a_commitment_by_code_or_uuid(planned: Tracker) -> None:
    by_code = planned.get(CODE)
    by_uuid = planned.get(str(commitment_id(CODE)))
    assert by_code.id == by_uuid.id == commitment_id(CODE)
    assert by_code.version == by_uuid.version == 3
    with pytest.raises(NotFound, match=f"no commitment {OTHER}"):
        planned.get(OTHER)
    with pytest.raises(NotFound, match="give its code or its UUID"):
        planned.get("rail corridors")
    with pytest.raises(NotFound):
        planned.get(str(commitment_id(OTHER)))


def test_exists(planned: Tracker) -> None:
    assert planned.exists(CODE)
    assert planned.exists(str(commitment_id(CODE)))
    assert not planned.exists(OTHER)
    assert not planned.exists(str(commitment_id(OTHER)))


def test_events_of_lists_a_commitments_events_oldest_first(planned: Tracker) -> None:
    planned.update(ADMIN, CODE, LogProgress(percent=5, as_of=date(2026, 1, 1), note="n"))
    events = planned.events_of(str(commitment_id(CODE)))
    assert kinds(events) == [
        "Registered",
        "MilestoneAdded",
        "IndicatorDefined",
        "ProgressLogged",
        "StatusChanged",
    ]
    assert [e.originator_version for e in events] == [1, 2, 3, 4, 5]
    assert {e.originator_id for e in events} == {commitment_id(CODE)}
    with pytest.raises(NotFound):
        planned.events_of(OTHER)


def test_state_at_a_version(planned: Tracker) -> None:
    planned.update(ADMIN, CODE, RateHealth(rating=Health.RED, rationale="r"))
    first = planned.state(CODE, version=1)
    assert first.version == 1 and first.milestones == {} and first.indicators == {}
    second = planned.state(str(commitment_id(CODE)), version=2)
    assert list(second.milestones) == ["m1"] and second.indicators == {}
    assert planned.state(CODE, version=4).health is Health.RED
    assert planned.state(CODE).version == 4
    with pytest.raises(NotFound, match=f"{CODE} has no version 5; it is at version 4"):
        planned.state(CODE, version=5)
    with pytest.raises(InvalidValue, match="version must be 1 or more"):
        planned.state(CODE, version=0)
    with pytest.raises(InvalidValue, match="either version, or as_of"):
        planned.state(CODE, version=1, as_of=date(2026, 1, 1))
    with pytest.raises(InvalidValue, match="either version, or as_of"):
        planned.state(CODE, version=1, known_at=NOW)
    with pytest.raises(NotFound):
        planned.state(OTHER, version=1)


def test_state_as_of_a_date_leaves_out_later_facts(planned: Tracker) -> None:
    planned.update(ADMIN, CODE, LogProgress(percent=20, as_of=date(2026, 2, 1), note="Feb"))
    planned.update(ADMIN, CODE, LogProgress(percent=50, as_of=date(2026, 5, 1), note="May"))
    planned.update(
        ADMIN, CODE, CompleteMilestone(milestone_id="m1", completed_on=date(2026, 4, 20))
    )
    january = planned.state(CODE, as_of=date(2026, 1, 31))
    assert january.progress is None and january.status is Status.NOT_STARTED
    assert "m1" in january.milestones and january.milestone("m1").completed_on is None
    april = planned.state(CODE, as_of=date(2026, 4, 30))
    assert (april.progress, april.status) == (20, Status.IN_PROGRESS)
    assert april.milestone("m1").completed_on == date(2026, 4, 20)
    assert planned.state(CODE, as_of=date(2026, 6, 1)).progress == 50
    assert january.version == april.version == planned.get(CODE).version
    with pytest.raises(NotFound, match=f"no commitment {OTHER}"):
        planned.state(OTHER, as_of=date(2026, 1, 1))


def test_state_known_at_a_time_is_what_had_been_recorded(tracker: Tracker) -> None:
    day = timedelta(days=1)
    with clock.frozen_at(NOW - 3 * day):
        tracker.register(ADMIN, registration())
    with clock.frozen_at(NOW - 2 * day):
        tracker.update(ADMIN, CODE, LogProgress(percent=30, as_of=date(2026, 1, 31), note="n"))
    with clock.frozen_at(NOW - day):
        # Recorded late, about an earlier day.
        tracker.update(ADMIN, CODE, LogProgress(percent=10, as_of=date(2026, 1, 15), note="n"))
        tracker.update(ADMIN, CODE, RateHealth(rating=Health.GREEN, rationale="fine"))

    with pytest.raises(NotFound, match="not yet registered"):
        tracker.state(CODE, known_at=NOW - 4 * day)
    registered = tracker.state(CODE, known_at=NOW - 3 * day)
    assert (registered.version, registered.progress) == (1, None)
    before_late = tracker.state(CODE, known_at=NOW - 2 * day + timedelta(hours=1))
    assert (before_late.version, before_late.progress, before_late.health) == (3, 30, None)
    # A naive time is taken to be UTC.
    naive = tracker.state(CODE, known_at=(NOW - 2 * day).replace(tzinfo=None))
    assert naive.version == 3
    # Both axes: what was known two days ago about 20 January.
    both = tracker.state(CODE, known_at=NOW - 2 * day, as_of=date(2026, 1, 20))
    assert both.progress is None and both.status is Status.NOT_STARTED
    # What is known now about 20 January includes the late report.
    assert tracker.state(CODE, as_of=date(2026, 1, 20)).progress == 10
    assert tracker.state(CODE, known_at=NOW).health is Health.GREEN
    with pytest.raises(NotFound, match=f"no commitment {OTHER}"):
        tracker.state(OTHER, known_at=NOW)


def test_a_schedule_id_is_not_a_commitment(tracker: Tracker) -> None:
    tracker.define_schedule(ADMIN, monthly())
    ref = str(schedule_id("monthly"))
    reads: list[Callable[[], object]] = [
        lambda: tracker.get(ref),
        lambda: tracker.events_of(ref),
        lambda: tracker.state(ref),
        lambda: tracker.state(ref, version=1),
        lambda: tracker.state(ref, as_of=date(2026, 1, 1)),
        lambda: tracker.update(ADMIN, ref, RateHealth(rating=Health.RED, rationale="r")),
        lambda: tracker.execute(ADMIN, AddMilestone(title="X", due_date=date(2026, 9, 1)), ref=ref),
    ]
    for read in reads:
        with pytest.raises(NotFound, match=f"no commitment {ref}"):
            read()
    assert tracker.repository.get(schedule_id("monthly")).version == 1


def test_exists_is_false_for_a_schedule_id(tracker: Tracker) -> None:
    tracker.define_schedule(ADMIN, monthly())
    assert not tracker.exists(str(schedule_id("monthly")))


def test_the_target_of_a_command(tracker: Tracker) -> None:
    assert tracker.target_of(registration(), None) is None
    assert tracker.target_of(monthly(), None) == schedule_id("monthly")
    assert tracker.target_of(RemoveSchedule(name="monthly"), None) == schedule_id("monthly")
    rate = RateHealth(rating=Health.RED, rationale="r")
    assert tracker.target_of(rate, CODE) == commitment_id(CODE)
    uuid = commitment_id(OTHER)
    assert tracker.target_of(rate, str(uuid)) == uuid
    assert isinstance(tracker.target_of(rate, CODE), UUID)


# ---- Change: log positions and event counts ---------------------------------------------


def test_changes_report_increasing_positions_and_their_event_counts(tracker: Tracker) -> None:
    changes = [
        tracker.register(
            ADMIN,
            registration(milestones=(PlannedMilestone(title="A", due_date=date(2026, 9, 1)),)),
        ),
        tracker.register(ADMIN, registration(OTHER)),
        tracker.update(ADMIN, CODE, LogProgress(percent=5, as_of=date(2026, 1, 1), note="n")),
        tracker.define_schedule(ADMIN, monthly()),
        tracker.update(ADMIN, OTHER, RateHealth(rating=Health.AMBER, rationale="r")),
        tracker.update(
            ADMIN,
            CODE,
            ChangeMilestone(milestone_id="m1", due_date=date(2026, 10, 1), reason="r", title="B"),
        ),
        tracker.update(
            ADMIN,
            OTHER,
            Together(
                (
                    AddMilestone(title="X", due_date=date(2026, 9, 1)),
                    AddMilestone(title="Y", due_date=date(2026, 9, 2)),
                    AddMilestone(title="Z", due_date=date(2026, 9, 3)),
                )
            ),
        ),
        tracker.remove_schedule(ADMIN, RemoveSchedule(name="monthly")),
    ]
    assert [c.events for c in changes] == [2, 1, 2, 1, 1, 2, 3, 1]
    positions = [c.position for c in changes]
    assert positions == sorted(set(positions))
    # One log: each change's last event follows the previous change's last event.
    assert positions[0] == changes[0].events
    for previous, change in pairwise(changes):
        assert change.position == previous.position + change.events
    total = len(tracker.events_of(CODE)) + len(tracker.events_of(OTHER)) + 2
    assert positions[-1] == total


@pytest.mark.parametrize(
    ("version", "events", "due"),
    [
        (SNAPSHOT_INTERVAL, 1, True),
        (SNAPSHOT_INTERVAL - 1, 1, False),
        (SNAPSHOT_INTERVAL + 1, 1, False),
        (SNAPSHOT_INTERVAL + 1, 2, True),
        (SNAPSHOT_INTERVAL + 5, 10, True),
        (2 * SNAPSHOT_INTERVAL + 5, 10, True),
        (2 * SNAPSHOT_INTERVAL + 15, 10, False),
        (3, 3, False),
    ],
)
def test_a_snapshot_is_due_when_a_change_passes_a_multiple_of_the_interval(
    version: int, events: int, due: bool
) -> None:
    change = Change(SimpleNamespace(version=version), position=version, events=events)
    assert snapshot_due(change) is due
