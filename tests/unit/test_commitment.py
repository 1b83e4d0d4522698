"""The Commitment aggregate: every rule, and every event's effect on state (no IO)."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, cast
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import clock
from domain.access import Principal, Role
from domain.commands import (
    UNCHANGED,
    AddMilestone,
    AttachEvidence,
    ChangeMilestone,
    ChangeStatus,
    CommitmentCommand,
    CompleteMilestone,
    ConfirmClosure,
    DefineIndicator,
    LogProgress,
    PlannedMilestone,
    RateHealth,
    RecordMeasurement,
    RegisterCommitment,
    RejectClosure,
    ReviseDetails,
    Together,
    TranslateText,
)
from domain.commitment import (
    Commitment,
    Milestone,
    PendingClosure,
    commitment_id,
    is_past,
    replay,
)
from domain.errors import Forbidden, InvalidValue, NotFound, StateConflict
from domain.views import describe
from domain.vocabulary import Evidence, Health, Pillar, Source, Status
from tests import support
from tests.support import ADMIN, CA_EDITOR, MX_EDITOR

TODAY = datetime(2026, 6, 15, 12, tzinfo=UTC)
CODE = "CMAP-PROS-RAIL"


@pytest.fixture(autouse=True)
def fixed_clock() -> Iterator[None]:
    with clock.frozen_at(TODAY):
        yield


def registration(**overrides: Any) -> RegisterCommitment:
    return support.registration(**({"target_date": date(2028, 12, 31)} | overrides))


def registered(actor: str = "alice", **overrides: Any) -> Commitment:
    return Commitment.register(registration(**overrides), actor=actor, by=ADMIN)


def progress(
    percent: Any, as_of: date = date(2026, 1, 1), note: str = "n", **more: Any
) -> LogProgress:
    return LogProgress(percent=percent, as_of=as_of, note=note, **more)


def status(new: Any, reason: str = "r", **more: Any) -> ChangeStatus:
    return ChangeStatus(status=new, reason=reason, **more)


def evidence_of(url: str, title: str = "Report", **more: Any) -> AttachEvidence:
    return AttachEvidence(url=url, title=title, **more)


def pending(commitment: Commitment) -> list[Commitment.Event]:
    return cast(list[Commitment.Event], list(commitment.pending_events))


def kinds(commitment: Commitment) -> list[str]:
    return [type(e).__name__ for e in commitment.pending_events]


def last_event(commitment: Commitment) -> Any:
    return pending(commitment)[-1]


# ---- registration ----------------------------------------------------------------


def test_registration_sets_every_field_and_records_the_actor() -> None:
    c = registered(agencies={"CA": ("Transport Canada",)}, description=" Rail. ")
    assert c.id == commitment_id(CODE)
    assert (c.code, c.title, c.description) == (CODE, "Rail corridors", "Rail.")
    assert c.pillar is Pillar.PROSPERITY
    assert c.sectors == ["railways"]
    assert c.parties == ["CA", "MX"] and c.lead_party == "joint"
    assert c.agencies == {"CA": ["Transport Canada"]}
    assert (c.start_date, c.target_date) == (date(2025, 9, 18), date(2028, 12, 31))
    assert c.source == Source("Action Plan", "https://example.org/plan", "rail")
    assert c.status is Status.NOT_STARTED and c.health is None and c.progress is None
    assert c.milestones == {} and c.indicators == {} and c.evidence == []
    assert c.version == 1 and c.created_on == TODAY
    event = last_event(c)
    assert isinstance(event, Commitment.Registered) and event.actor == "alice"


def test_the_pillar_may_be_given_by_its_value() -> None:
    assert registered(pillar="security").pillar is Pillar.SECURITY


def test_the_id_is_derived_from_the_code() -> None:
    assert commitment_id("CMAP-SEC-CYBER") == commitment_id("CMAP-SEC-CYBER")
    assert commitment_id("CMAP-SEC-CYBER") != commitment_id(CODE)
    assert registered().id == commitment_id(CODE)


def test_registration_with_planned_milestones_adds_them_in_the_same_batch() -> None:
    c = registered(
        milestones=(
            PlannedMilestone(title="Study", due_date=date(2026, 5, 1)),
            PlannedMilestone(title=" Tender ", due_date=date(2027, 1, 1)),
        )
    )
    assert kinds(c) == ["Registered", "MilestoneAdded", "MilestoneAdded"]
    assert c.version == 3
    assert [(m.id, m.title, m.due_date) for m in c.milestones.values()] == [
        ("m1", "Study", date(2026, 5, 1)),
        ("m2", "Tender", date(2027, 1, 1)),
    ]
    assert all(e.actor == "alice" for e in pending(c))


@pytest.mark.parametrize(
    ("planned", "error", "message"),
    [
        (
            (
                PlannedMilestone(title="Study", due_date=date(2026, 5, 1)),
                PlannedMilestone(title="STUDY", due_date=date(2026, 6, 1)),
            ),
            InvalidValue,
            "different titles",
        ),
        ((PlannedMilestone(title="Far", due_date=date(2101, 1, 1)),), InvalidValue, "outside"),
        ((PlannedMilestone(title=" ", due_date=date(2026, 1, 1)),), InvalidValue, "title"),
    ],
)
def test_registration_refuses_bad_planned_milestones(
    planned: tuple[PlannedMilestone, ...], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        registered(milestones=planned)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"code": "cmap-rail"}, "code"),
        ({"code": "CMAP"}, "code"),
        ({"code": "CMAP--RAIL"}, "code"),
        ({"title": "  "}, "title must not be empty"),
        ({"title": "x" * 201}, "at most 200"),
        ({"pillar": "wellbeing"}, "pillar must be one of"),
        ({"sectors": ()}, "at least one sector"),
        ({"sectors": ("Rail Ways",)}, "slug"),
        ({"sectors": ("rail", "rail")}, "must not repeat"),
        ({"sectors": "railways"}, "sectors must be a list"),
        ({"parties": ("CAN",)}, "alpha-2"),
        ({"parties": ()}, "at least one party"),
        ({"parties": ("CA", "CA"), "lead_party": "CA"}, "must not repeat"),
        ({"lead_party": "US"}, "lead_party"),
        ({"parties": ("CA",), "lead_party": "joint"}, "at least two parties"),
        ({"agencies": {"US": ("USTR",)}}, "not among the parties"),
        ({"agencies": {"CA": "Transport Canada"}}, "must be a list of names"),
        ({"target_date": date(2025, 1, 1)}, "before start_date"),
        ({"start_date": date(1999, 12, 31)}, "outside"),
        ({"target_date": date(2101, 1, 1)}, "outside"),
        ({"source": Source("Plan", "ftp://x")}, "http"),
        ({"source": Source(" ")}, "source title"),
    ],
)
def test_registration_rejects_bad_values(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        registered(**overrides)


def test_registration_needs_an_actor() -> None:
    with pytest.raises(InvalidValue, match="actor"):
        registered(actor="")


# ---- progress -----------------------------------------------------------------------


def test_first_progress_moves_a_not_started_commitment_to_in_progress() -> None:
    c = registered()
    c.log_progress(
        LogProgress(percent=20, as_of=date(2026, 3, 31), note="Study begun", confidence=7),
        actor="bob",
    )
    assert (c.progress, c.progress_as_of, c.confidence) == (20, date(2026, 3, 31), 7)
    assert c.status is Status.IN_PROGRESS and c.status_as_of == date(2026, 3, 31)
    assert c.status_reason == "progress logged"
    assert kinds(c) == ["Registered", "ProgressLogged", "StatusChanged"]
    assert all(e.actor == "bob" for e in pending(c)[1:])


def test_later_progress_does_not_change_the_status_again() -> None:
    c = registered()
    c.log_progress(progress(10), actor="a")
    c.change_status(status(Status.STALLED, as_of=date(2026, 2, 1)), actor="a", by=ADMIN)
    c.log_progress(progress(20, as_of=date(2026, 3, 1)), actor="a")
    assert c.status is Status.STALLED
    assert kinds(c)[-1] == "ProgressLogged"


def test_a_late_report_about_an_earlier_date_does_not_replace_current_progress() -> None:
    c = registered()
    c.log_progress(progress(50, date(2026, 3, 31), "Q1", confidence=8), actor="a")
    c.log_progress(progress(30, date(2026, 2, 28), "late Feb report", confidence=2), actor="a")
    assert (c.progress, c.progress_as_of, c.confidence) == (50, date(2026, 3, 31), 8)
    c.log_progress(progress(45, date(2026, 3, 31), "same day, corrected"), actor="a")
    assert (c.progress, c.confidence) == (45, None)


def test_progress_carries_evidence() -> None:
    c = registered()
    doc = Evidence("https://example.org/a", "Report", "GAC", date(2026, 1, 2))
    c.log_progress(progress(5, date(2026, 1, 5), evidence=(doc,)), actor="a")
    assert c.evidence == [doc]
    logged = pending(c)[1]
    assert isinstance(logged, Commitment.ProgressLogged) and logged.evidence == [doc]


@pytest.mark.parametrize("percent", [-1, 101, 50.5, True, "50", None])
def test_percent_must_be_a_whole_number_from_0_to_100(percent: Any) -> None:
    with pytest.raises(InvalidValue, match="percent"):
        registered().log_progress(progress(percent), actor="a")


@pytest.mark.parametrize("confidence", [-1, 11, 2.5, True, "5"])
def test_confidence_must_be_from_0_to_10(confidence: Any) -> None:
    with pytest.raises(InvalidValue, match="confidence"):
        registered().log_progress(progress(1, confidence=confidence), actor="a")


@given(percent=st.integers(min_value=0, max_value=100), confidence=st.integers(0, 10))
def test_any_percent_and_confidence_in_range_is_accepted(percent: int, confidence: int) -> None:
    with clock.frozen_at(TODAY):
        c = registered()
        c.log_progress(progress(percent, confidence=confidence), actor="a")
    assert (c.progress, c.confidence) == (percent, confidence)


@given(percent=st.integers().filter(lambda p: p < 0 or p > 100))
def test_any_percent_out_of_range_is_rejected(percent: int) -> None:
    with clock.frozen_at(TODAY), pytest.raises(InvalidValue):
        registered().log_progress(progress(percent), actor="a")


@given(
    reports=st.lists(st.tuples(st.integers(0, 100), st.integers(0, 200)), min_size=1, max_size=8)
)
def test_progress_is_the_latest_report_by_effective_date(reports: list[tuple[int, int]]) -> None:
    """Whatever the order reports arrive in, progress is the last one about the latest day."""
    start = date(2025, 10, 1)
    with clock.frozen_at(TODAY):
        c = registered()
        for percent, days in reports:
            c.log_progress(progress(percent, start + timedelta(days=days)), actor="a")
    latest = max(days for _, days in reports)
    expected = [percent for percent, days in reports if days == latest][-1]
    assert (c.progress, c.progress_as_of) == (expected, start + timedelta(days=latest))
    assert replay(pending(c)) is not None


def test_progress_needs_a_note_and_a_date_not_in_the_future() -> None:
    c = registered()
    with pytest.raises(InvalidValue, match="note"):
        c.log_progress(progress(1, note=" "), actor="a")
    with pytest.raises(InvalidValue, match="in the future"):
        c.log_progress(progress(1, date(2026, 6, 16)), actor="a")
    c.log_progress(progress(1, TODAY.date()), actor="a")  # today itself is fine
    assert c.version == 3


def test_progress_needs_an_actor() -> None:
    with pytest.raises(InvalidValue, match="actor"):
        registered().log_progress(progress(1), actor=" ")


# ---- status -------------------------------------------------------------------------


def test_valid_transitions_and_their_effect() -> None:
    c = registered()
    c.change_status(status("in_progress", "kick-off", as_of=date(2026, 1, 1)), actor="a", by=ADMIN)
    c.change_status(status(Status.STALLED, "funding", as_of=date(2026, 2, 1)), actor="a", by=ADMIN)
    assert (c.status, c.status_reason, c.status_as_of) == (
        Status.STALLED,
        "funding",
        date(2026, 2, 1),
    )
    event = last_event(c)
    assert isinstance(event, Commitment.StatusChanged)
    assert (event.status, event.as_of, event.superseded_by) == (
        Status.STALLED,
        date(2026, 2, 1),
        None,
    )


def test_status_as_of_defaults_to_today() -> None:
    c = registered()
    c.change_status(status(Status.IN_PROGRESS), actor="a", by=ADMIN)
    assert c.status_as_of == TODAY.date()


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ([], "completed"),
        ([], "stalled"),
        (["in_progress"], "not_started"),
        (["suspended"], "stalled"),
        (["in_progress", "completed"], "cancelled"),
    ],
)
def test_invalid_transitions_are_conflicts(path: list[str], target: str) -> None:
    c = registered()
    for step in path:
        c.change_status(status(step), actor="a", by=ADMIN)
    with pytest.raises(StateConflict, match="cannot change status"):
        c.change_status(status(target), actor="a", by=ADMIN)


def test_changing_to_the_same_status_is_a_conflict() -> None:
    c = registered()
    with pytest.raises(StateConflict, match="already not_started"):
        c.change_status(status("not_started"), actor="a", by=ADMIN)


def test_status_needs_a_reason_a_known_value_and_dates_in_order() -> None:
    c = registered()
    with pytest.raises(InvalidValue, match="reason"):
        c.change_status(status("in_progress", ""), actor="a", by=ADMIN)
    with pytest.raises(InvalidValue, match="status must be one of"):
        c.change_status(status("done"), actor="a", by=ADMIN)
    with pytest.raises(InvalidValue, match="in the future"):
        c.change_status(status("in_progress", as_of=date(2026, 6, 16)), actor="a", by=ADMIN)
    c.change_status(status("in_progress", as_of=date(2026, 3, 1)), actor="a", by=ADMIN)
    with pytest.raises(InvalidValue, match="before the current status"):
        c.change_status(status("stalled", as_of=date(2026, 2, 1)), actor="a", by=ADMIN)
    c.change_status(
        status("stalled", as_of=date(2026, 3, 1)), actor="a", by=ADMIN
    )  # same day is fine
    assert c.version == 3


def test_superseded_needs_another_commitment() -> None:
    c = registered()
    with pytest.raises(InvalidValue, match="superseded_by must name"):
        c.change_status(status("superseded"), actor="a", by=ADMIN)
    with pytest.raises(InvalidValue, match="cannot supersede itself"):
        c.change_status(status("superseded", superseded_by=CODE), actor="a", by=ADMIN)
    with pytest.raises(InvalidValue, match="only for status superseded"):
        c.change_status(status("suspended", superseded_by="CMAP-X-Y"), actor="a", by=ADMIN)
    c.change_status(
        status("superseded", "merged", superseded_by="CMAP-PROS-PORTS"), actor="a", by=ADMIN
    )
    assert (c.status, c.superseded_by) == (Status.SUPERSEDED, "CMAP-PROS-PORTS")
    c.change_status(status("in_progress", "split again"), actor="a", by=ADMIN)
    assert (c.status, c.superseded_by) == (Status.IN_PROGRESS, None)


def test_a_terminal_commitment_accepts_nothing_until_reopened_with_a_reason() -> None:
    c = registered()
    m = c.add_milestone(AddMilestone(title="Study", due_date=date(2026, 9, 1)), actor="a")
    i = c.define_indicator(
        DefineIndicator(name="Trains", unit="per week", baseline=Decimal(1), target=Decimal(2)),
        actor="a",
    )
    c.change_status(status("in_progress"), actor="a", by=ADMIN)
    c.change_status(status("completed", "done"), actor="a", by=ADMIN)
    commands: list[CommitmentCommand] = [
        progress(1),
        AddMilestone(title="More", due_date=date(2026, 9, 1)),
        ChangeMilestone(milestone_id=m, due_date=date(2026, 10, 1), reason="r"),
        ChangeMilestone(milestone_id=m, title="Renamed"),
        CompleteMilestone(milestone_id=m, completed_on=date(2026, 1, 1)),
        DefineIndicator(name="More", unit="u", baseline=Decimal(0), target=Decimal(1)),
        RecordMeasurement(indicator_id=i, value=Decimal(1), as_of=date(2026, 1, 1)),
        RateHealth(rating=Health.RED, rationale="r"),
        ReviseDetails(title="New", reason="r"),
        evidence_of("https://e.org/x", "X"),
    ]
    version = c.version
    for command in commands:
        with pytest.raises(StateConflict, match="reopen it"):
            command.apply(c, "a", ADMIN)
    assert c.version == version
    c.change_status(status("in_progress", "new phase agreed"), actor="a", by=ADMIN)
    c.log_progress(progress(10, date(2026, 6, 1), "phase 2"), actor="a")
    assert c.status is Status.IN_PROGRESS and c.progress == 10


@pytest.mark.parametrize("terminal", [Status.CANCELLED, Status.SUPERSEDED])
def test_every_terminal_status_closes_the_commitment(terminal: Status) -> None:
    c = registered()
    successor = "CMAP-PROS-PORTS" if terminal is Status.SUPERSEDED else None
    c.change_status(status(terminal, superseded_by=successor), actor="a", by=ADMIN)
    with pytest.raises(StateConflict, match=f"is {terminal.value}: reopen it"):
        c.log_progress(progress(1), actor="a")


# ---- closing a commitment of several parties takes two of them -----------------------

US_EDITOR = Principal("sam.us", Role.EDITOR, "US")


def proposed(**more: Any) -> Commitment:
    """A CA-MX commitment in progress whose MX editor proposed to complete it."""
    c = registered(**more)
    c.change_status(status("in_progress", as_of=date(2026, 3, 1)), actor="a", by=ADMIN)
    c.change_status(
        status("completed", "works delivered", as_of=date(2026, 6, 1)),
        actor="luis.mx",
        by=MX_EDITOR,
    )
    return c


def test_an_editor_closing_a_joint_commitment_proposes_it() -> None:
    c = proposed()
    assert kinds(c)[-1] == "ClosureProposed"
    event = last_event(c)
    assert (event.status, event.reason, event.as_of, event.party, event.actor) == (
        Status.COMPLETED,
        "works delivered",
        date(2026, 6, 1),
        "MX",
        "luis.mx",
    )
    # The status has not changed: the proposal waits for the other party.
    assert (c.status, c.status_as_of) == (Status.IN_PROGRESS, date(2026, 3, 1))
    assert c.pending_closure == PendingClosure(
        status=Status.COMPLETED,
        reason="works delivered",
        as_of=date(2026, 6, 1),
        superseded_by=None,
        proposed_by="luis.mx",
        proposed_by_party="MX",
        proposed_at=TODAY,
        version=c.version,
    )
    shown = describe(c, TODAY.date())["pending_closure"]
    assert shown is not None
    assert (shown["proposed_by_party"], shown["awaiting"], shown["status"]) == (
        "MX",
        ["CA"],
        "completed",
    )


@pytest.mark.parametrize("closing", ["completed", "cancelled", "superseded"])
def test_every_closing_status_is_a_proposal_from_an_editor(closing: str) -> None:
    c = registered()
    c.change_status(status("in_progress"), actor="a", by=ADMIN)
    successor = "CMAP-PROS-PORTS" if closing == "superseded" else None
    c.change_status(status(closing, superseded_by=successor), actor="ana", by=CA_EDITOR)
    assert kinds(c)[-1] == "ClosureProposed" and c.status is Status.IN_PROGRESS
    assert c.pending_closure is not None and c.pending_closure.superseded_by == successor


def test_another_party_confirms_and_the_status_changes_as_proposed() -> None:
    c = proposed()
    version = c.version
    c.confirm_closure(ConfirmClosure(note=" agreed "), actor="ana.ca", by=CA_EDITOR)
    assert kinds(c)[-2:] == ["ClosureConfirmed", "StatusChanged"]
    confirmed, changed = pending(c)[-2:]
    assert isinstance(confirmed, Commitment.ClosureConfirmed)
    assert (confirmed.party, confirmed.alone, confirmed.proposed_by, confirmed.note) == (
        "CA",
        False,
        "luis.mx",
        "agreed",
    )
    assert isinstance(changed, Commitment.StatusChanged) and changed.actor == "ana.ca"
    assert (c.status, c.status_reason, c.status_as_of) == (
        Status.COMPLETED,
        "works delivered",
        date(2026, 6, 1),
    )
    assert c.pending_closure is None and c.version == version + 2


def test_a_third_party_may_confirm_too() -> None:
    c = proposed(parties=("CA", "MX", "US"))
    shown = describe(c, TODAY.date())["pending_closure"]
    assert shown is not None and shown["awaiting"] == ["CA", "US"]
    c.confirm_closure(ConfirmClosure(), actor="sam", by=US_EDITOR)
    assert c.status is Status.COMPLETED


def test_the_proposing_party_cannot_confirm_its_own_proposal() -> None:
    c = proposed()
    before = len(pending(c))
    other_mx = Principal("maria.mx", Role.EDITOR, "MX")
    with pytest.raises(Forbidden, match=r"proposed by party MX: an editor of another party \(CA\)"):
        c.confirm_closure(ConfirmClosure(), actor="maria.mx", by=other_mx)
    assert len(pending(c)) == before and c.pending_closure is not None
    assert c.status is Status.IN_PROGRESS


def test_a_rejection_needs_a_reason_and_leaves_the_status() -> None:
    c = proposed()
    with pytest.raises(InvalidValue, match="reason"):
        c.reject_closure(RejectClosure(reason=" "), actor="ana.ca", by=CA_EDITOR)
    c.reject_closure(RejectClosure(reason="final report missing"), actor="ana.ca", by=CA_EDITOR)
    event = last_event(c)
    assert isinstance(event, Commitment.ClosureRejected)
    assert (event.reason, event.party, event.proposed_by, event.status) == (
        "final report missing",
        "CA",
        "luis.mx",
        Status.COMPLETED,
    )
    assert (c.status, c.pending_closure) == (Status.IN_PROGRESS, None)
    # Nothing left to confirm; a new proposal may be made.
    with pytest.raises(StateConflict, match="no closure proposed to confirm"):
        c.confirm_closure(ConfirmClosure(), actor="ana.ca", by=CA_EDITOR)
    c.change_status(status("completed", "now it is"), actor="luis.mx", by=MX_EDITOR)
    assert kinds(c)[-1] == "ClosureProposed"


def test_the_proposing_party_may_withdraw_its_proposal() -> None:
    c = proposed()
    c.reject_closure(RejectClosure(reason="sent too early"), actor="luis.mx", by=MX_EDITOR)
    assert last_event(c).party == "MX" and c.pending_closure is None


def test_nothing_pending_nothing_to_confirm_or_reject() -> None:
    c = registered()
    with pytest.raises(StateConflict, match="no closure proposed to confirm"):
        c.confirm_closure(ConfirmClosure(), actor="a", by=ADMIN)
    with pytest.raises(StateConflict, match="no closure proposed to reject"):
        c.reject_closure(RejectClosure(reason="r"), actor="a", by=ADMIN)
    assert kinds(c) == ["Registered"]


@pytest.mark.parametrize("who", [CA_EDITOR, MX_EDITOR, ADMIN], ids=["CA", "MX", "admin"])
def test_while_a_closure_is_pending_nobody_closes_otherwise(who: Principal) -> None:
    c = proposed()
    before = len(pending(c))
    for closing in ("completed", "cancelled"):
        with pytest.raises(
            StateConflict, match=r"\(completed\) proposed by luis.mx of MX is pending"
        ):
            c.change_status(status(closing), actor=who.name, by=who)
    assert len(pending(c)) == before


def test_other_writes_go_on_while_a_closure_is_pending() -> None:
    c = proposed()
    c.log_progress(progress(90, date(2026, 6, 1)), actor="ana.ca")
    c.rate_health(RateHealth(rating=Health.GREEN, rationale="done"), actor="ana.ca")
    c.revise_details(ReviseDetails(title="Rail", reason="r"), actor="a", by=ADMIN)
    c.change_status(status("stalled", "paperwork"), actor="ana.ca", by=CA_EDITOR)
    assert (c.progress, c.health, c.status) == (90, Health.GREEN, Status.STALLED)
    assert c.pending_closure is not None
    # The proposal no longer fits (stalled -> completed is no transition): 409, reject it.
    with pytest.raises(StateConflict, match=r"no longer fits its state .*reject it"):
        c.confirm_closure(ConfirmClosure(), actor="ana.ca", by=CA_EDITOR)
    c.reject_closure(RejectClosure(reason="stalled after all"), actor="ana.ca", by=CA_EDITOR)
    assert c.pending_closure is None


def test_an_admin_closes_a_joint_commitment_alone_and_it_shows() -> None:
    c = registered()
    c.change_status(status("in_progress"), actor="a", by=ADMIN)
    c.change_status(status("cancelled", "dropped"), actor="admin-1", by=ADMIN)
    assert kinds(c)[-2:] == ["ClosureConfirmed", "StatusChanged"]
    confirmed = pending(c)[-2]
    assert isinstance(confirmed, Commitment.ClosureConfirmed)
    assert (confirmed.alone, confirmed.party, confirmed.proposed_by) == (True, None, None)
    assert c.status is Status.CANCELLED and c.pending_closure is None


def test_an_admin_confirms_or_rejects_a_pending_proposal_alone() -> None:
    c = proposed()
    c.confirm_closure(ConfirmClosure(), actor="admin-1", by=ADMIN)
    confirmed = pending(c)[-2]
    assert isinstance(confirmed, Commitment.ClosureConfirmed)
    assert (confirmed.alone, confirmed.party, confirmed.proposed_by_party) == (True, None, "MX")
    assert c.status is Status.COMPLETED
    c = proposed()
    c.reject_closure(RejectClosure(reason="no"), actor="admin-1", by=ADMIN)
    assert (last_event(c).party, c.status) == (None, Status.IN_PROGRESS)


def test_a_single_party_commitment_is_closed_by_its_editor_directly() -> None:
    c = registered(parties=("CA",), lead_party="CA")
    c.change_status(status("in_progress"), actor="ana", by=CA_EDITOR)
    c.change_status(status("completed", "done"), actor="ana", by=CA_EDITOR)
    assert kinds(c)[-1] == "StatusChanged" and "ClosureConfirmed" not in kinds(c)
    assert c.status is Status.COMPLETED


def test_reopening_a_jointly_closed_commitment_needs_no_second_party() -> None:
    c = proposed()
    c.confirm_closure(ConfirmClosure(), actor="ana.ca", by=CA_EDITOR)
    c.change_status(status("in_progress", "new phase"), actor="luis.mx", by=MX_EDITOR)
    assert kinds(c)[-1] == "StatusChanged" and c.status is Status.IN_PROGRESS


def test_a_proposal_follows_the_rules_of_a_status_change() -> None:
    c = registered()
    with pytest.raises(StateConflict, match="cannot change status from not_started to completed"):
        c.change_status(status("completed"), actor="luis.mx", by=MX_EDITOR)
    with pytest.raises(InvalidValue, match="superseded_by must name"):
        c.change_status(status("superseded"), actor="luis.mx", by=MX_EDITOR)
    with pytest.raises(InvalidValue, match="reason"):
        c.change_status(status("cancelled", ""), actor="luis.mx", by=MX_EDITOR)
    assert kinds(c) == ["Registered"]


def test_a_pending_closure_as_it_was() -> None:
    c = proposed()
    c.reject_closure(RejectClosure(reason="no"), actor="ana.ca", by=CA_EDITOR)
    c.change_status(
        status("cancelled", "dropped", as_of=date(2026, 6, 10)), actor="m", by=MX_EDITOR
    )
    events = pending(c)
    proposal_version = 3
    at_proposal = replay(events[:proposal_version])
    assert at_proposal is not None and at_proposal.pending_closure is not None
    assert at_proposal.pending_closure.status is Status.COMPLETED
    after_rejection = replay(events[: proposal_version + 1])
    assert after_rejection is not None and after_rejection.pending_closure is None
    # A proposal is dated like the status change it proposes: as of a date before that,
    # nothing was pending yet.
    early = replay(events, as_of=date(2026, 6, 5))
    assert early is not None and early.pending_closure is None
    late = replay(events, as_of=date(2026, 6, 10))
    assert late is not None and late.pending_closure is not None
    assert late.pending_closure.status is Status.CANCELLED


def test_a_confirmed_closure_as_of_before_its_date_is_neither_closed_nor_pending() -> None:
    c = proposed()
    c.confirm_closure(ConfirmClosure(), actor="ana.ca", by=CA_EDITOR)
    before = replay(pending(c), as_of=date(2026, 5, 31))
    assert before is not None
    assert (before.status, before.pending_closure) == (Status.IN_PROGRESS, None)
    after = replay(pending(c), as_of=date(2026, 6, 1))
    assert after is not None and (after.status, after.pending_closure) == (Status.COMPLETED, None)


# ---- agencies: each party's own --------------------------------------------------------


def test_an_editor_changes_only_their_own_partys_agencies() -> None:
    c = registered(agencies={"CA": ("Transport Canada",), "MX": ("SICT",)})
    c.revise_details(
        ReviseDetails(agencies={"CA": ("Transport Canada",), "MX": ("SICT", "ARTF")}, reason="r"),
        actor="luis.mx",
        by=MX_EDITOR,
    )
    assert c.agencies == {"CA": ["Transport Canada"], "MX": ["SICT", "ARTF"]}
    before = len(pending(c))
    for changed in (
        {"CA": ("GAC",), "MX": ("SICT", "ARTF")},  # CA's list changed
        {"MX": ("SICT", "ARTF")},  # CA's list dropped
        {"CA": ("Transport Canada", "CBSA"), "MX": ("SICT",)},  # one added to CA's
    ):
        with pytest.raises(
            Forbidden, match="editor of MX may change only the agencies of MX, not those of CA"
        ):
            c.revise_details(
                ReviseDetails(agencies=changed, reason="r"), actor="luis.mx", by=MX_EDITOR
            )
    assert len(pending(c)) == before
    c.revise_details(ReviseDetails(agencies={"CA": ("GAC",)}, reason="r"), actor="a", by=ADMIN)
    assert c.agencies == {"CA": ["GAC"]}


def test_an_editor_registers_agencies_of_their_own_party_only() -> None:
    own = registration(agencies={"MX": ("SICT",)})
    assert Commitment.register(own, actor="luis.mx", by=MX_EDITOR).agencies == {"MX": ["SICT"]}
    theirs = registration(agencies={"CA": ("Transport Canada",), "MX": ("SICT",)})
    with pytest.raises(Forbidden, match="not those of CA"):
        Commitment.register(theirs, actor="luis.mx", by=MX_EDITOR)
    assert Commitment.register(theirs, actor="admin", by=ADMIN).agencies["CA"] == [
        "Transport Canada"
    ]


# ---- health -------------------------------------------------------------------------


def test_health_is_rated_with_a_rationale_latest_by_effective_date() -> None:
    c = registered()
    c.rate_health(
        RateHealth(rating=Health.AMBER, rationale="slow", as_of=date(2026, 3, 1)), actor="a"
    )
    c.rate_health(
        RateHealth(rating=Health.GREEN, rationale="old view", as_of=date(2026, 2, 1)), actor="a"
    )
    assert (c.health, c.health_rationale, c.health_as_of) == (
        Health.AMBER,
        "slow",
        date(2026, 3, 1),
    )
    c.rate_health(RateHealth(rating=cast(Any, "red"), rationale="today"), actor="a")
    assert (c.health, c.health_as_of) == (Health.RED, TODAY.date())
    with pytest.raises(InvalidValue, match="rationale"):
        c.rate_health(RateHealth(rating=Health.RED, rationale=""), actor="a")
    with pytest.raises(InvalidValue, match="rating must be one of"):
        c.rate_health(RateHealth(rating=cast(Any, "orange"), rationale="r"), actor="a")
    with pytest.raises(InvalidValue, match="in the future"):
        c.rate_health(
            RateHealth(rating=Health.RED, rationale="r", as_of=date(2026, 7, 1)), actor="a"
        )


# ---- details ------------------------------------------------------------------------


def test_revising_details_changes_only_what_differs_and_needs_a_reason() -> None:
    c = registered()
    c.revise_details(
        ReviseDetails(
            title="Rail corridors",
            target_date=date(2027, 6, 30),
            sectors=("railways", "trade"),
            reason="re-planned",
        ),
        actor="a",
        by=ADMIN,
    )
    event = last_event(c)
    assert isinstance(event, Commitment.DetailsRevised)
    assert event.changes == {"target_date": date(2027, 6, 30), "sectors": ["railways", "trade"]}
    assert event.reason == "re-planned"
    assert c.target_date == date(2027, 6, 30) and c.sectors == ["railways", "trade"]
    assert c.title == "Rail corridors"
    with pytest.raises(InvalidValue, match="changes nothing"):
        c.revise_details(ReviseDetails(title="Rail corridors", reason="r"), actor="a", by=ADMIN)
    with pytest.raises(InvalidValue, match="changes nothing"):
        c.revise_details(ReviseDetails(reason="r"), actor="a", by=ADMIN)
    with pytest.raises(InvalidValue, match="reason"):
        c.revise_details(ReviseDetails(title="X", reason=" "), actor="a", by=ADMIN)
    with pytest.raises(InvalidValue, match="before start_date"):
        c.revise_details(
            ReviseDetails(target_date=date(2024, 1, 1), reason="r"), actor="a", by=ADMIN
        )
    with pytest.raises(InvalidValue, match="not among the parties"):
        c.revise_details(ReviseDetails(agencies={"US": ("USTR",)}, reason="r"), actor="a", by=ADMIN)


def test_only_the_revisable_details_can_be_revised() -> None:
    """Pillar, code, parties and lead party are not details: a revision cannot name them."""
    assert set(ReviseDetails.REVISABLE) == {
        "title",
        "description",
        "target_date",
        "agencies",
        "sectors",
    }
    for fixed in ("pillar", "code", "parties", "lead_party", "start_date"):
        with pytest.raises(TypeError):
            ReviseDetails(reason="r", **cast(dict[str, Any], {fixed: "x"}))


def test_a_revision_names_only_the_fields_it_changes() -> None:
    revision = ReviseDetails(description="More.", reason="r")
    assert revision.title is UNCHANGED
    assert revision.changes() == {"description": "More."}
    assert ReviseDetails(target_date=None, reason="r").changes() == {"target_date": None}


def test_a_revision_may_clear_the_target_date_and_set_agencies_and_description() -> None:
    c = registered()
    c.revise_details(
        ReviseDetails(
            target_date=None,
            agencies={"MX": ("SICT",)},
            description=" Longer text.\nSecond line. ",
            reason="open-ended",
        ),
        actor="a",
        by=ADMIN,
    )
    assert c.target_date is None and c.overdue_since() is None
    assert c.agencies == {"MX": ["SICT"]}
    assert c.description == "Longer text.\nSecond line."
    assert last_event(c).changes["target_date"] is None


def test_overdue_is_derived_from_the_target_date_and_status() -> None:
    c = registered(target_date=date(2026, 3, 31))
    assert c.overdue_since() == date(2026, 4, 1)
    assert not c.is_overdue(date(2026, 3, 31))
    assert c.is_overdue(date(2026, 4, 1))
    c.change_status(status("in_progress"), actor="a", by=ADMIN)
    c.change_status(status("stalled"), actor="a", by=ADMIN)
    assert c.overdue_since() == date(2026, 4, 1)  # any status but completed
    c.change_status(status("in_progress"), actor="a", by=ADMIN)
    c.change_status(status("completed"), actor="a", by=ADMIN)
    assert c.overdue_since() is None
    assert not c.is_overdue(date(2026, 4, 1))
    assert registered(target_date=None).overdue_since() is None


def test_is_past() -> None:
    assert not is_past(None, date(2026, 1, 1))
    assert not is_past(date(2026, 1, 2), date(2026, 1, 1))
    assert is_past(date(2026, 1, 1), date(2026, 1, 1))
    assert is_past(date(2025, 12, 31), date(2026, 1, 1))


# ---- milestones ---------------------------------------------------------------------


def test_milestones_are_added_rescheduled_retitled_and_completed() -> None:
    c = registered()
    m = c.add_milestone(AddMilestone(title="Study", due_date=date(2026, 5, 1)), actor="a")
    assert m == "m1" and c.milestone(m).status(date(2026, 4, 30)) == "planned"
    assert c.milestone(m).missed_since() == date(2026, 5, 2)
    assert c.milestone(m).status(date(2026, 5, 1)) == "planned"
    assert c.milestone(m).status(date(2026, 5, 2)) == "missed"
    c.change_milestone(
        ChangeMilestone(milestone_id=m, due_date=date(2026, 8, 1), reason="late data"), actor="a"
    )
    assert kinds(c)[-1] == "MilestoneRescheduled" and last_event(c).reason == "late data"
    c.change_milestone(ChangeMilestone(milestone_id=m, title="Feasibility study"), actor="a")
    assert kinds(c)[-1] == "MilestoneRetitled"
    milestone = c.milestone(m)
    assert (milestone.due_date, milestone.original_due_date, milestone.times_rescheduled) == (
        date(2026, 8, 1),
        date(2026, 5, 1),
        1,
    )
    assert milestone.title == "Feasibility study"
    assert milestone.missed_since() == date(2026, 8, 2)
    c.complete_milestone(
        CompleteMilestone(milestone_id=m, completed_on=date(2026, 6, 1), note=" signed "),
        actor="a",
    )
    assert milestone.status(date(2027, 1, 1)) == "completed"
    assert milestone.missed_since() is None
    assert (milestone.completed_on, milestone.completion_note) == (date(2026, 6, 1), "signed")
    assert c.add_milestone(AddMilestone(title="Second", due_date=date(2026, 12, 1)), actor="a") == (
        "m2"
    )


def test_one_change_may_reschedule_and_retitle_a_milestone() -> None:
    c = registered()
    m = c.add_milestone(AddMilestone(title="Study", due_date=date(2026, 5, 1)), actor="a")
    c.change_milestone(
        ChangeMilestone(
            milestone_id=m, due_date=date(2026, 9, 1), reason="re-planned", title="Full study"
        ),
        actor="b",
    )
    assert kinds(c)[-2:] == ["MilestoneRescheduled", "MilestoneRetitled"]
    assert all(e.actor == "b" for e in pending(c)[-2:])
    milestone = c.milestone(m)
    assert (milestone.title, milestone.due_date, milestone.times_rescheduled) == (
        "Full study",
        date(2026, 9, 1),
        1,
    )


def test_a_completed_milestone_can_still_be_retitled() -> None:
    c = registered()
    m = c.add_milestone(AddMilestone(title="Study", due_date=date(2026, 5, 1)), actor="a")
    c.complete_milestone(
        CompleteMilestone(milestone_id=m, completed_on=date(2026, 4, 1)), actor="a"
    )
    c.change_milestone(ChangeMilestone(milestone_id=m, title="Study (signed)"), actor="a")
    assert c.milestone(m).title == "Study (signed)"


def test_milestone_rules() -> None:
    c = registered()
    m = c.add_milestone(AddMilestone(title="Study", due_date=date(2026, 5, 1)), actor="a")
    c.add_milestone(AddMilestone(title="Tender", due_date=date(2026, 7, 1)), actor="a")
    with pytest.raises(StateConflict, match="already has a milestone titled"):
        c.add_milestone(AddMilestone(title="study", due_date=date(2026, 5, 1)), actor="a")
    with pytest.raises(InvalidValue, match="outside"):
        c.add_milestone(AddMilestone(title="Far", due_date=date(2101, 1, 1)), actor="a")
    with pytest.raises(InvalidValue, match="title"):
        c.add_milestone(AddMilestone(title="two\nlines", due_date=date(2026, 5, 1)), actor="a")
    with pytest.raises(NotFound, match="no milestone 'm9'"):
        c.complete_milestone(
            CompleteMilestone(milestone_id="m9", completed_on=date(2026, 1, 1)), actor="a"
        )
    with pytest.raises(NotFound, match="no milestone 'm9'"):
        c.change_milestone(ChangeMilestone(milestone_id="m9", title="X"), actor="a")
    with pytest.raises(InvalidValue, match="already due"):
        c.change_milestone(
            ChangeMilestone(milestone_id=m, due_date=date(2026, 5, 1), reason="r"), actor="a"
        )
    with pytest.raises(InvalidValue, match="outside"):
        c.change_milestone(
            ChangeMilestone(milestone_id=m, due_date=date(1999, 5, 1), reason="r"), actor="a"
        )
    with pytest.raises(InvalidValue, match="already has that title"):
        c.change_milestone(ChangeMilestone(milestone_id=m, title=" Study "), actor="a")
    with pytest.raises(StateConflict, match="already has a milestone titled"):
        c.change_milestone(ChangeMilestone(milestone_id=m, title="TENDER"), actor="a")
    with pytest.raises(InvalidValue, match="in the future"):
        c.complete_milestone(
            CompleteMilestone(milestone_id=m, completed_on=date(2026, 7, 1)), actor="a"
        )
    c.complete_milestone(
        CompleteMilestone(milestone_id=m, completed_on=date(2026, 4, 1)), actor="a"
    )
    with pytest.raises(StateConflict, match="already completed"):
        c.complete_milestone(
            CompleteMilestone(milestone_id=m, completed_on=date(2026, 4, 2)), actor="a"
        )
    with pytest.raises(StateConflict, match="cannot be rescheduled"):
        c.change_milestone(
            ChangeMilestone(milestone_id=m, due_date=date(2026, 9, 1), reason="r"), actor="a"
        )
    assert c.version == 4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({}, "give a new due_date"),
        ({"reason": "only a reason"}, "give a new due_date"),
        ({"due_date": date(2026, 9, 1)}, "needs a reason"),
        ({"due_date": date(2026, 9, 1), "reason": "  "}, "needs a reason"),
    ],
)
def test_a_milestone_change_names_what_changes_and_why(
    change: dict[str, Any], message: str
) -> None:
    c = registered()
    m = c.add_milestone(AddMilestone(title="Study", due_date=date(2026, 5, 1)), actor="a")
    with pytest.raises(InvalidValue, match=message):
        c.change_milestone(ChangeMilestone(milestone_id=m, **change), actor="a")
    assert c.version == 2


def test_the_next_milestone_is_the_open_one_due_first() -> None:
    c = registered()
    assert c.next_milestone() is None
    a = c.add_milestone(AddMilestone(title="A", due_date=date(2026, 9, 1)), actor="x")
    b = c.add_milestone(AddMilestone(title="B", due_date=date(2026, 5, 1)), actor="x")
    c.add_milestone(AddMilestone(title="C", due_date=date(2026, 5, 1)), actor="x")
    assert c.next_milestone() == c.milestone(b)
    c.complete_milestone(
        CompleteMilestone(milestone_id=b, completed_on=date(2026, 5, 1)), actor="x"
    )
    assert c.next_milestone() == c.milestone("m3")
    c.complete_milestone(
        CompleteMilestone(milestone_id="m3", completed_on=date(2026, 5, 1)), actor="x"
    )
    assert c.next_milestone() == c.milestone(a)
    assert c.milestone_by_title("a") == c.milestone(a)
    assert c.milestone_by_title("Z") is None


# ---- indicators and evidence --------------------------------------------------------


def test_indicators_are_defined_and_measured_latest_by_effective_date() -> None:
    c = registered()
    i = c.define_indicator(
        DefineIndicator(
            name="Carloads", unit="per week", baseline=cast(Any, 100), target=cast(Any, "150.5")
        ),
        actor="a",
    )
    assert i == "i1"
    c.record_measurement(
        RecordMeasurement(indicator_id=i, value=Decimal(120), as_of=date(2026, 3, 31)), actor="a"
    )
    c.record_measurement(
        RecordMeasurement(indicator_id=i, value=cast(Any, "110.25"), as_of=date(2026, 1, 31)),
        actor="a",
    )
    indicator = c.indicator(i)
    assert (indicator.baseline, indicator.target) == (Decimal(100), Decimal("150.5"))
    assert (indicator.latest_value, indicator.latest_as_of, indicator.measurements) == (
        Decimal(120),
        date(2026, 3, 31),
        2,
    )
    assert c.indicator_by_name("CARLOADS") == indicator and c.indicator_by_name("x") is None
    with pytest.raises(StateConflict, match="already has an indicator"):
        c.define_indicator(
            DefineIndicator(name="carloads", unit="u", baseline=Decimal(0), target=Decimal(1)),
            actor="a",
        )
    with pytest.raises(InvalidValue, match="must be a number"):
        c.record_measurement(
            RecordMeasurement(indicator_id=i, value=cast(Any, "lots"), as_of=date(2026, 1, 1)),
            actor="a",
        )
    with pytest.raises(InvalidValue, match="finite"):
        c.define_indicator(
            DefineIndicator(name="X", unit="u", baseline=Decimal("NaN"), target=Decimal(1)),
            actor="a",
        )
    with pytest.raises(InvalidValue, match="in the future"):
        c.record_measurement(
            RecordMeasurement(indicator_id=i, value=Decimal(1), as_of=date(2026, 6, 16)),
            actor="a",
        )
    with pytest.raises(NotFound, match="no indicator"):
        c.record_measurement(
            RecordMeasurement(indicator_id="i7", value=Decimal(1), as_of=date(2026, 1, 1)),
            actor="a",
        )
    with pytest.raises(InvalidValue, match="unit"):
        c.define_indicator(
            DefineIndicator(name="Y", unit=" ", baseline=Decimal(0), target=Decimal(1)), actor="a"
        )
    assert c.version == 4


def test_evidence_is_attached_once_per_url() -> None:
    c = registered()
    c.attach_evidence(
        evidence_of(
            "https://example.org/r", "Report", publisher="SRE", published_on=date(2026, 2, 1)
        ),
        actor="a",
    )
    doc = Evidence("https://example.org/r", "Report", "SRE", date(2026, 2, 1))
    assert c.evidence == [doc] and type(c.evidence[0]) is Evidence
    assert last_event(c).effective_on() == date(2026, 2, 1)
    with pytest.raises(StateConflict, match="already attached"):
        c.attach_evidence(evidence_of("https://example.org/r", "Again"), actor="a")
    with pytest.raises(InvalidValue, match="http"):
        c.attach_evidence(evidence_of("not a url", "X"), actor="a")
    with pytest.raises(InvalidValue, match="title"):
        c.attach_evidence(evidence_of("https://example.org/s", ""), actor="a")
    with pytest.raises(InvalidValue, match="in the future"):
        c.attach_evidence(
            evidence_of("https://example.org/t", published_on=date(2026, 6, 16)), actor="a"
        )
    assert c.version == 2


def test_progress_evidence_may_not_repeat_an_attached_url() -> None:
    c = registered()
    doc = Evidence("https://example.org/doc1", "Doc")
    c.attach_evidence(evidence_of(doc.url, doc.title), actor="a")
    with pytest.raises(StateConflict, match="already attached"):
        c.log_progress(progress(1, evidence=(doc,)), actor="a")
    twice = (Evidence("https://example.org/d2", "D"), Evidence("https://example.org/d2", "D"))
    with pytest.raises(InvalidValue, match="given twice"):
        c.log_progress(progress(1, evidence=twice), actor="a")
    with pytest.raises(InvalidValue, match="http"):
        c.log_progress(progress(1, evidence=(Evidence("ftp://x", "D"),)), actor="a")
    assert c.version == 2
    c.log_progress(progress(1, evidence=(Evidence("HTTPS://EXAMPLE.GC.CA/r", "D"),)), actor="a")
    assert c.evidence[-1].url == "HTTPS://EXAMPLE.GC.CA/r"  # a scheme in any case, as given


# ---- commands as objects -------------------------------------------------------------


def test_commands_apply_themselves_and_return_what_they_created() -> None:
    c = registered()
    m = AddMilestone(title="Study", due_date=date(2026, 5, 1)).apply(c, "a", ADMIN)
    assert m == "m1"
    assert ChangeMilestone(milestone_id=m, title="Study 2").apply(c, "a", ADMIN) == m
    assert (
        CompleteMilestone(milestone_id=m, completed_on=date(2026, 5, 1)).apply(c, "a", ADMIN) == m
    )
    i = DefineIndicator(name="N", unit="u", baseline=Decimal(0), target=Decimal(1)).apply(
        c, "a", ADMIN
    )
    assert i == "i1"
    assert (
        RecordMeasurement(indicator_id=i, value=Decimal(1), as_of=date(2026, 5, 1)).apply(
            c, "a", ADMIN
        )
        == i
    )
    assert progress(5).apply(c, "a", ADMIN) is None
    assert RateHealth(rating=Health.GREEN, rationale="ok").apply(c, "a", ADMIN) is None
    assert status(Status.STALLED).apply(c, "a", ADMIN) is None
    assert ReviseDetails(title="New title", reason="r").apply(c, "a", ADMIN) is None
    assert evidence_of("https://example.org/e").apply(c, "a", ADMIN) is None
    assert kinds(c)[1:] == [
        "MilestoneAdded",
        "MilestoneRetitled",
        "MilestoneCompleted",
        "IndicatorDefined",
        "IndicatorMeasured",
        "ProgressLogged",
        "StatusChanged",
        "HealthRated",
        "StatusChanged",
        "DetailsRevised",
        "EvidenceAttached",
    ]


def test_together_runs_its_commands_in_order_and_returns_the_last_result() -> None:
    c = registered()
    result = Together(
        (
            AddMilestone(title="Study", due_date=date(2026, 5, 1)),
            DefineIndicator(name="N", unit="u", baseline=Decimal(0), target=Decimal(1)),
        )
    ).apply(c, "a", ADMIN)
    assert result == "i1"
    assert kinds(c)[1:] == ["MilestoneAdded", "IndicatorDefined"]
    with pytest.raises(InvalidValue, match="at least one command"):
        Together(()).apply(c, "a", ADMIN)


def test_the_base_command_does_nothing_by_itself() -> None:
    with pytest.raises(NotImplementedError):
        CommitmentCommand().apply(registered(), "a", ADMIN)


# ---- replay -------------------------------------------------------------------------


def full_history() -> Commitment:
    c = registered(agencies={"CA": ("Transport Canada",)})
    c.log_progress(progress(30, date(2026, 2, 1), "n", confidence=5), actor="a")
    m = c.add_milestone(AddMilestone(title="Study", due_date=date(2026, 5, 1)), actor="a")
    c.change_milestone(
        ChangeMilestone(milestone_id=m, due_date=date(2026, 5, 10), reason="r", title="Study 2"),
        actor="a",
    )
    c.complete_milestone(
        CompleteMilestone(milestone_id=m, completed_on=date(2026, 5, 2)), actor="a"
    )
    c.rate_health(
        RateHealth(rating=Health.GREEN, rationale="fine", as_of=date(2026, 5, 3)), actor="a"
    )
    i = c.define_indicator(
        DefineIndicator(name="N", unit="u", baseline=Decimal(0), target=Decimal(1)), actor="a"
    )
    c.record_measurement(
        RecordMeasurement(indicator_id=i, value=Decimal("0.5"), as_of=date(2026, 4, 1)), actor="a"
    )
    c.attach_evidence(
        evidence_of("https://example.org/e", published_on=date(2026, 3, 1)), actor="a"
    )
    c.revise_details(ReviseDetails(sectors=("railways", "trade"), reason="r"), actor="a", by=ADMIN)
    return c


def state_of(commitment: Commitment) -> dict[str, Any]:
    return {k: v for k, v in vars(commitment).items() if k != "_pending_events"}


def test_replaying_the_events_rebuilds_the_same_state() -> None:
    c = full_history()
    rebuilt = replay(pending(c))
    assert rebuilt is not None
    assert state_of(rebuilt) == state_of(c)
    assert replay([]) is None


def test_replay_as_of_leaves_out_later_facts_but_keeps_the_plan() -> None:
    c = full_history()
    before = replay(pending(c), as_of=date(2026, 1, 31))
    assert before is not None
    assert before.progress is None and before.status is Status.NOT_STARTED
    assert before.health is None and before.evidence == []
    assert before.milestone("m1").completed_on is None  # the milestone itself is part of the plan
    assert before.milestone("m1").title == "Study 2"
    assert before.indicator("i1").measurements == 0
    assert before.sectors == ["railways", "trade"]  # revisions are facts about the plan
    assert before.version == c.version
    middle = replay(pending(c), as_of=date(2026, 4, 15))
    assert middle is not None
    assert (middle.progress, middle.status) == (30, Status.IN_PROGRESS)
    assert middle.indicator("i1").latest_value == Decimal("0.5")
    assert [e.url for e in middle.evidence] == ["https://example.org/e"]
    assert middle.health is None and middle.milestone("m1").completed_on is None


def test_replay_known_at_keeps_only_what_was_recorded_by_then() -> None:
    start = datetime(2026, 1, 10, 9, tzinfo=UTC)
    with clock.frozen_at(start):
        c = registered()
    with clock.frozen_at(start + timedelta(days=1)):
        c.log_progress(progress(10, date(2026, 1, 5)), actor="a")
    with clock.frozen_at(start + timedelta(days=2)):
        c.rate_health(RateHealth(rating=Health.AMBER, rationale="r"), actor="a")
    assert replay(pending(c), known_at=start - timedelta(seconds=1)) is None
    first = replay(pending(c), known_at=start)
    assert first is not None and first.version == 1 and first.progress is None
    second = replay(pending(c), known_at=start + timedelta(days=1, hours=1))
    assert second is not None and (second.version, second.progress, second.health) == (3, 10, None)
    both = replay(pending(c), known_at=start + timedelta(days=1), as_of=date(2026, 1, 4))
    assert both is not None and both.progress is None and both.version == 3


# ---- hostile input -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"code": "CMAP-SEC-TWO\n"}, "code"),
        ({"title": "a\x00b"}, "control characters"),
        ({"title": "two\nlines"}, "control characters"),
        ({"description": "nul \x00 inside"}, "control characters"),
        ({"parties": ("CA", "XX")}, "alpha-2"),
        ({"sectors": ("railways\n",)}, "slug"),
        ({"source": Source("Plan", "https://example.org/\n")}, "http"),
        ({"agencies": {"CA": ("Transport\nCanada",)}}, "control characters"),
    ],
)
def test_hostile_registration_values_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        registered(**overrides)


def test_descriptions_may_have_line_breaks() -> None:
    assert registered(description="First.\nSecond.").description == "First.\nSecond."


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1e400", "smaller than 10"),
        (10**15, "smaller than 10"),
        ("0.0000001", "decimal places"),
        (True, "must be a number"),
        ("Infinity", "finite"),
    ],
)
def test_indicator_numbers_are_bounded(value: Any, message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        registered().define_indicator(
            DefineIndicator(name="N", unit="u", baseline=Decimal(0), target=value), actor="a"
        )


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("1.5000000", "1.500000"),  # zeros past six places say nothing: dropped
        ("0.0000000", "0.000000"),
        ("-2.50000000000000000000000000000000000", "-2.500000"),
        ("12.50", "12.50"),  # within six places: as written
    ],
)
def test_trailing_zeros_past_six_places_are_dropped_not_refused(written: str, kept: str) -> None:
    c = registered()
    i = c.define_indicator(
        DefineIndicator(name="N", unit="u", baseline=Decimal(0), target=cast(Any, written)),
        actor="a",
    )
    assert str(c.indicator(i).target) == kept


def test_a_figure_past_six_places_is_refused_however_long() -> None:
    # normalize() would round this to 28 digits and call it 0.1234567: not exact.
    with pytest.raises(InvalidValue, match="decimal places"):
        registered().define_indicator(
            DefineIndicator(
                name="N",
                unit="u",
                baseline=Decimal(0),
                target=cast(Any, "0.1234567000000000000000000000001"),
            ),
            actor="a",
        )


def test_indicator_numbers_are_kept_in_plain_notation() -> None:
    c = registered()
    i = c.define_indicator(
        DefineIndicator(name="N", unit="u", baseline=Decimal("1.5E+2"), target=cast(Any, "0.25")),
        actor="a",
    )
    assert (str(c.indicator(i).baseline), str(c.indicator(i).target)) == ("150", "0.25")


def test_revisions_refuse_null_or_malformed_collections() -> None:
    c = registered()
    with pytest.raises(InvalidValue, match="agencies must map"):
        c.revise_details(ReviseDetails(agencies=cast(Any, None), reason="r"), actor="a", by=ADMIN)
    with pytest.raises(InvalidValue, match="sectors must be a list"):
        c.revise_details(
            ReviseDetails(sectors=cast(Any, "railways"), reason="r"), actor="a", by=ADMIN
        )
    with pytest.raises(InvalidValue, match="title must"):
        c.revise_details(ReviseDetails(title=cast(Any, None), reason="r"), actor="a", by=ADMIN)
    with pytest.raises(InvalidValue, match="target_date must be a date"):
        c.revise_details(
            ReviseDetails(target_date=cast(Any, "2027-01-01"), reason="r"), actor="a", by=ADMIN
        )
    assert c.version == 1


# ---- copying (every write runs on a deep copy) ---------------------------------------

# Values that cannot change, so a copy may share them.
IMMUTABLE = (str, int, float, bool, type(None), date, datetime, Decimal, UUID, Enum)


def is_frozen_dataclass(value: Any) -> bool:
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return False
    params: Any = getattr(type(value), "__dataclass_params__")  # noqa: B009
    return bool(params.frozen)


def assert_nothing_shared(original: Any, clone: Any, path: str) -> None:
    """`clone` equals `original` and holds none of its mutable objects, at any depth."""
    assert type(clone) is type(original), path
    if isinstance(original, IMMUTABLE) or is_frozen_dataclass(original):
        assert clone == original, path
    elif isinstance(original, tuple | frozenset):
        assert len(clone) == len(original), path
        for n, (a, b) in enumerate(zip(original, clone, strict=True)):
            assert_nothing_shared(a, b, f"{path}[{n}]")
    elif isinstance(original, list):
        assert clone is not original, f"{path} is shared by the copy"
        assert isinstance(clone, list) and len(clone) == len(original), path
        for n, (a, b) in enumerate(zip(original, clone, strict=True)):
            assert_nothing_shared(a, b, f"{path}[{n}]")
    elif isinstance(original, dict):
        assert clone is not original, f"{path} is shared by the copy"
        assert isinstance(clone, dict) and list(clone) == list(original), path
        for key, value in original.items():
            assert_nothing_shared(value, clone[key], f"{path}[{key!r}]")
    elif isinstance(original, set):
        assert clone is not original and clone == original, f"{path} is shared by the copy"
    elif dataclasses.is_dataclass(original):
        assert clone is not original, f"{path} is shared by the copy"
        for name, value in vars(original).items():
            assert_nothing_shared(value, getattr(clone, name), f"{path}.{name}")
    else:
        pytest.fail(
            f"{path}: a {type(original).__name__} is not known to be immutable; make "
            "Commitment.__deepcopy__ copy it and teach this test about it"
        )


def every_kind_of_state() -> Commitment:
    """A commitment with something in every container it has (events still pending)."""
    c = registered(
        agencies={"CA": ("Transport Canada",), "MX": ("SICT", "ARTF")},
        sectors=("railways", "trade"),
        description="Corridors.",
        milestones=(PlannedMilestone(title="Study", due_date=date(2026, 5, 1)),),
    )
    doc = Evidence("https://example.org/p", "Progress report", "GAC", date(2026, 1, 2))
    c.log_progress(
        progress(30, date(2026, 1, 5), "first", confidence=6, evidence=(doc,)), actor="a"
    )
    c.add_milestone(
        AddMilestone(title="Licitación", due_date=date(2026, 12, 1), language="es"), actor="a"
    )
    c.change_milestone(
        ChangeMilestone(milestone_id="m2", due_date=date(2027, 1, 15), reason="later"), actor="a"
    )
    c.complete_milestone(
        CompleteMilestone(milestone_id="m1", completed_on=date(2026, 4, 1), note="done"), actor="a"
    )
    i = c.define_indicator(
        DefineIndicator(name="Trains", unit="per week", baseline=Decimal(3), target=Decimal(9)),
        actor="a",
    )
    c.record_measurement(
        RecordMeasurement(indicator_id=i, value=Decimal(4), as_of=date(2026, 3, 1)), actor="a"
    )
    c.attach_evidence(evidence_of("https://example.org/e", "Statement"), actor="a")
    c.rate_health(RateHealth(rating=Health.AMBER, rationale="slow"), actor="a")
    c.translate(
        TranslateText(language="fr", title="Corridors", milestones={"m1": "Étude"}), actor="a"
    )
    c.change_status(status(Status.STALLED, "funding"), actor="a", by=ADMIN)
    c.change_status(status(Status.CANCELLED, "dropped"), actor="m", by=MX_EDITOR)
    return c


def test_a_deep_copy_shares_no_mutable_state() -> None:
    original = every_kind_of_state()
    containers = {
        name: value
        for name, value in vars(original).items()
        if isinstance(value, list | dict | set)
    }
    empty = [name for name, value in containers.items() if not value]
    assert not empty, f"give every_kind_of_state() something in {empty}"
    assert {"milestones", "indicators", "evidence", "agencies", "sectors", "parties"} <= set(
        containers
    )
    assert isinstance(original.source, Source)

    clone = copy.deepcopy(original)

    assert type(clone) is Commitment and clone is not original
    assert vars(clone).keys() == vars(original).keys()
    for name, value in vars(original).items():
        assert_nothing_shared(value, vars(clone)[name], name)


def test_commands_on_a_deep_copy_leave_the_original_unchanged() -> None:
    original = every_kind_of_state()
    shown = describe(original, TODAY.date())
    events = list(original.pending_events)
    clone = copy.deepcopy(original)
    assert describe(clone, TODAY.date()) == shown

    # Values changed in place first (a shared container would show it in the original).
    clone.milestones["m1"].completion_note = "edited"
    clone.indicators["i1"].measurements += 10
    clone.agencies["MX"].append("ARTF 2")
    clone.sectors.append("energy")
    clone.parties.append("US")
    clone.evidence.clear()

    Together(
        (
            ReviseDetails(
                title="Rail and ports",
                sectors=("railways", "trade", "ports"),
                agencies={"CA": ("Transport Canada", "CBSA"), "MX": ("SICT",)},
                target_date=None,
                reason="merged",
            ),
            progress(
                60,
                date(2026, 6, 1),
                "more",
                confidence=9,
                evidence=(Evidence("https://example.org/q", "Q"),),
            ),
            ChangeMilestone(milestone_id="m2", due_date=date(2027, 3, 1), reason="r", title="T2"),
            CompleteMilestone(milestone_id="m2", completed_on=date(2026, 6, 1)),
            AddMilestone(title="Works", due_date=date(2028, 1, 1)),
            RecordMeasurement(indicator_id="i1", value=Decimal(8), as_of=date(2026, 6, 1)),
            DefineIndicator(name="Ports", unit="calls", baseline=Decimal(0), target=Decimal(5)),
            evidence_of("https://example.org/f", "Another"),
            RateHealth(rating=Health.GREEN, rationale="better"),
            status(Status.IN_PROGRESS, "resumed"),
        )
    ).apply(clone, "b", ADMIN)
    assert describe(original, TODAY.date()) == shown
    assert list(original.pending_events) == events
    assert describe(clone, TODAY.date()) != shown
    assert clone.version == original.version + 11


def test_a_deep_copy_is_an_independent_aggregate_that_replays_the_same() -> None:
    original = every_kind_of_state()
    clone = copy.deepcopy(original)
    assert state_of(clone) == state_of(original)
    rebuilt = replay(pending(clone))
    assert rebuilt is not None and state_of(rebuilt) == state_of(original)
    assert isinstance(clone.milestones["m1"], Milestone)
