"""The Commitment aggregate: every rule, and every event's effect on state (no IO)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import clock
from domain.commitment import Commitment, commitment_id, replay
from domain.errors import InvalidValue, NotFound, StateConflict
from domain.vocabulary import Evidence, Health, Pillar, Source, Status

TODAY = datetime(2026, 6, 15, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fixed_clock() -> Any:
    with clock.frozen_at(TODAY):
        yield


def registered(**overrides: Any) -> Commitment:
    fields: dict[str, Any] = {
        "actor": "alice",
        "code": "CMAP-PROS-RAIL",
        "title": "Rail corridors",
        "pillar": "prosperity",
        "sectors": ["railways"],
        "parties": ["CA", "MX"],
        "lead_party": "joint",
        "start_date": date(2025, 9, 18),
        "target_date": date(2028, 12, 31),
        "source": Source("Action Plan", "https://example.org/plan", "rail"),
    }
    fields.update(overrides)
    return Commitment.register(**fields)


def pending(commitment: Commitment) -> list[Commitment.Event]:
    return cast(list[Commitment.Event], list(commitment.pending_events))


def last_event(commitment: Commitment) -> Any:
    return pending(commitment)[-1]


# ---- registration ----------------------------------------------------------------


def test_registration_sets_every_field_and_records_the_actor() -> None:
    c = registered(agencies={"CA": ["Transport Canada"]}, description=" Rail. ")
    assert c.id == commitment_id("CMAP-PROS-RAIL")
    assert (c.code, c.title, c.description) == ("CMAP-PROS-RAIL", "Rail corridors", "Rail.")
    assert c.pillar is Pillar.PROSPERITY
    assert c.parties == ["CA", "MX"] and c.lead_party == "joint"
    assert c.agencies == {"CA": ["Transport Canada"]}
    assert c.status is Status.NOT_STARTED and c.health is None and c.progress is None
    assert c.version == 1 and c.created_on == TODAY
    event = last_event(c)
    assert isinstance(event, Commitment.Registered) and event.actor == "alice"


def test_the_id_is_derived_from_the_code() -> None:
    assert commitment_id("CMAP-SEC-CYBER") == commitment_id("CMAP-SEC-CYBER")
    assert commitment_id("CMAP-SEC-CYBER") != commitment_id("CMAP-PROS-RAIL")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"code": "cmap-rail"}, "code"),
        ({"code": "CMAP"}, "code"),
        ({"code": "CMAP--RAIL"}, "code"),
        ({"title": "  "}, "title must not be empty"),
        ({"title": "x" * 201}, "at most 200"),
        ({"pillar": "wellbeing"}, "pillar must be one of"),
        ({"sectors": []}, "at least one sector"),
        ({"sectors": ["Rail Ways"]}, "slug"),
        ({"sectors": ["rail", "rail"]}, "must not repeat"),
        ({"parties": ["CAN"]}, "alpha-2"),
        ({"parties": []}, "at least one party"),
        ({"lead_party": "US"}, "lead_party"),
        ({"parties": ["CA"], "lead_party": "joint"}, "at least two parties"),
        ({"agencies": {"US": ["USTR"]}}, "not among the parties"),
        ({"target_date": date(2025, 1, 1)}, "before start_date"),
        ({"start_date": date(1999, 12, 31)}, "outside"),
        ({"source": Source("Plan", "ftp://x")}, "http"),
        ({"actor": ""}, "actor"),
    ],
)
def test_registration_rejects_bad_values(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        registered(**overrides)


# ---- progress -----------------------------------------------------------------------


def test_first_progress_moves_a_not_started_commitment_to_in_progress() -> None:
    c = registered()
    c.log_progress(
        actor="bob", percent=20, as_of=date(2026, 3, 31), note="Study begun", confidence=7
    )
    assert (c.progress, c.progress_as_of, c.confidence) == (20, date(2026, 3, 31), 7)
    assert c.status is Status.IN_PROGRESS and c.status_as_of == date(2026, 3, 31)
    kinds = [type(e).__name__ for e in c.pending_events]
    assert kinds == ["Registered", "ProgressLogged", "StatusChanged"]
    assert all(e.actor == "bob" for e in pending(c)[1:])


def test_a_late_report_about_an_earlier_date_does_not_replace_current_progress() -> None:
    c = registered()
    c.log_progress(actor="a", percent=50, as_of=date(2026, 3, 31), note="Q1")
    c.log_progress(actor="a", percent=30, as_of=date(2026, 2, 28), note="late Feb report")
    assert (c.progress, c.progress_as_of) == (50, date(2026, 3, 31))
    c.log_progress(actor="a", percent=45, as_of=date(2026, 3, 31), note="same day, corrected")
    assert c.progress == 45


def test_progress_carries_evidence() -> None:
    c = registered()
    doc = Evidence("https://example.org/a", "Report", "GAC", date(2026, 1, 2))
    c.log_progress(actor="a", percent=5, as_of=date(2026, 1, 5), note="n", evidence=[doc])
    assert c.evidence == [doc]


@pytest.mark.parametrize("percent", [-1, 101, 50.5, True, "50"])
def test_percent_must_be_a_whole_number_from_0_to_100(percent: Any) -> None:
    with pytest.raises(InvalidValue, match="percent"):
        registered().log_progress(actor="a", percent=percent, as_of=date(2026, 1, 1), note="n")


@pytest.mark.parametrize("confidence", [-1, 11, 2.5])
def test_confidence_must_be_from_0_to_10(confidence: Any) -> None:
    with pytest.raises(InvalidValue, match="confidence"):
        registered().log_progress(
            actor="a", percent=1, as_of=date(2026, 1, 1), note="n", confidence=confidence
        )


@given(percent=st.integers(min_value=0, max_value=100), confidence=st.integers(0, 10))
def test_any_percent_and_confidence_in_range_is_accepted(percent: int, confidence: int) -> None:
    with clock.frozen_at(TODAY):
        c = registered()
        c.log_progress(
            actor="a", percent=percent, as_of=date(2026, 1, 1), note="n", confidence=confidence
        )
    assert (c.progress, c.confidence) == (percent, confidence)


@given(percent=st.integers().filter(lambda p: p < 0 or p > 100))
def test_any_percent_out_of_range_is_rejected(percent: int) -> None:
    with clock.frozen_at(TODAY), pytest.raises(InvalidValue):
        registered().log_progress(actor="a", percent=percent, as_of=date(2026, 1, 1), note="n")


def test_progress_needs_a_note_and_a_date_not_in_the_future() -> None:
    c = registered()
    with pytest.raises(InvalidValue, match="note"):
        c.log_progress(actor="a", percent=1, as_of=date(2026, 1, 1), note=" ")
    with pytest.raises(InvalidValue, match="in the future"):
        c.log_progress(actor="a", percent=1, as_of=date(2026, 6, 16), note="n")
    assert c.version == 1


# ---- status -------------------------------------------------------------------------


def test_valid_transitions_and_their_effect() -> None:
    c = registered()
    c.change_status(actor="a", status="in_progress", reason="kick-off", as_of=date(2026, 1, 1))
    c.change_status(actor="a", status=Status.STALLED, reason="funding", as_of=date(2026, 2, 1))
    assert (c.status, c.status_reason, c.status_as_of) == (
        Status.STALLED,
        "funding",
        date(2026, 2, 1),
    )


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
    for status in path:
        c.change_status(actor="a", status=status, reason="r")
    with pytest.raises(StateConflict, match="cannot change status"):
        c.change_status(actor="a", status=target, reason="r")


def test_changing_to_the_same_status_is_a_conflict() -> None:
    c = registered()
    with pytest.raises(StateConflict, match="already not_started"):
        c.change_status(actor="a", status="not_started", reason="r")


def test_status_needs_a_reason_a_known_value_and_dates_in_order() -> None:
    c = registered()
    with pytest.raises(InvalidValue, match="reason"):
        c.change_status(actor="a", status="in_progress", reason="")
    with pytest.raises(InvalidValue, match="status must be one of"):
        c.change_status(actor="a", status="done", reason="r")
    c.change_status(actor="a", status="in_progress", reason="r", as_of=date(2026, 3, 1))
    with pytest.raises(InvalidValue, match="before the current status"):
        c.change_status(actor="a", status="stalled", reason="r", as_of=date(2026, 2, 1))


def test_superseded_needs_another_commitment() -> None:
    c = registered()
    with pytest.raises(InvalidValue, match="superseded_by must name"):
        c.change_status(actor="a", status="superseded", reason="r")
    with pytest.raises(InvalidValue, match="cannot supersede itself"):
        c.change_status(actor="a", status="superseded", reason="r", superseded_by="CMAP-PROS-RAIL")
    with pytest.raises(InvalidValue, match="only for status superseded"):
        c.change_status(actor="a", status="suspended", reason="r", superseded_by="CMAP-X-Y")
    c.change_status(
        actor="a", status="superseded", reason="merged", superseded_by="CMAP-PROS-PORTS"
    )
    assert (c.status, c.superseded_by) == (Status.SUPERSEDED, "CMAP-PROS-PORTS")


def test_a_terminal_commitment_accepts_nothing_until_reopened_with_a_reason() -> None:
    c = registered()
    m = c.add_milestone(actor="a", title="Study", due_date=date(2026, 9, 1))
    i = c.define_indicator(actor="a", name="Trains", unit="per week", baseline=1, target=2)
    c.change_status(actor="a", status="in_progress", reason="r")
    c.change_status(actor="a", status="completed", reason="done")
    commands: list[Callable[[], object]] = [
        lambda: c.log_progress(actor="a", percent=1, as_of=date(2026, 1, 1), note="n"),
        lambda: c.add_milestone(actor="a", title="More", due_date=date(2026, 9, 1)),
        lambda: c.complete_milestone(actor="a", milestone_id=m, completed_on=date(2026, 1, 1)),
        lambda: c.record_measurement(actor="a", indicator_id=i, value=1, as_of=date(2026, 1, 1)),
        lambda: c.rate_health(actor="a", rating="red", rationale="r"),
        lambda: c.revise_details(actor="a", changes={"title": "New"}, reason="r"),
        lambda: c.attach_evidence(actor="a", evidence=Evidence("https://e.org/x", "X")),
    ]
    for command in commands:
        with pytest.raises(StateConflict, match="reopen it"):
            command()
    c.change_status(actor="a", status="in_progress", reason="new phase agreed")
    c.log_progress(actor="a", percent=10, as_of=date(2026, 6, 1), note="phase 2")
    assert c.status is Status.IN_PROGRESS and c.progress == 10


# ---- health -------------------------------------------------------------------------


def test_health_is_rated_with_a_rationale_latest_by_effective_date() -> None:
    c = registered()
    c.rate_health(actor="a", rating="amber", rationale="slow", as_of=date(2026, 3, 1))
    c.rate_health(actor="a", rating=Health.GREEN, rationale="old view", as_of=date(2026, 2, 1))
    assert (c.health, c.health_rationale, c.health_as_of) == (
        Health.AMBER,
        "slow",
        date(2026, 3, 1),
    )
    with pytest.raises(InvalidValue, match="rationale"):
        c.rate_health(actor="a", rating="red", rationale="")
    with pytest.raises(InvalidValue, match="rating must be one of"):
        c.rate_health(actor="a", rating="orange", rationale="r")


# ---- details ------------------------------------------------------------------------


def test_revising_details_changes_only_what_differs_and_needs_a_reason() -> None:
    c = registered()
    c.revise_details(
        actor="a",
        changes={
            "title": "Rail corridors",
            "target_date": date(2027, 6, 30),
            "sectors": ["railways", "trade"],
        },
        reason="re-planned",
    )
    event = last_event(c)
    assert event.changes == {"target_date": date(2027, 6, 30), "sectors": ["railways", "trade"]}
    assert c.target_date == date(2027, 6, 30) and c.sectors == ["railways", "trade"]
    with pytest.raises(InvalidValue, match="changes nothing"):
        c.revise_details(actor="a", changes={"title": "Rail corridors"}, reason="r")
    with pytest.raises(InvalidValue, match="cannot revise pillar"):
        c.revise_details(actor="a", changes={"pillar": "security"}, reason="r")
    with pytest.raises(InvalidValue, match="reason"):
        c.revise_details(actor="a", changes={"title": "X"}, reason=" ")
    with pytest.raises(InvalidValue, match="before start_date"):
        c.revise_details(actor="a", changes={"target_date": date(2024, 1, 1)}, reason="r")


def test_overdue_is_derived_from_the_target_date_and_status() -> None:
    c = registered(target_date=date(2026, 3, 31))
    assert not c.is_overdue(date(2026, 3, 31))
    assert c.is_overdue(date(2026, 4, 1))
    c.change_status(actor="a", status="in_progress", reason="r")
    c.change_status(actor="a", status="completed", reason="r")
    assert not c.is_overdue(date(2026, 4, 1))


# ---- milestones ---------------------------------------------------------------------


def test_milestones_are_added_rescheduled_retitled_and_completed() -> None:
    c = registered()
    m = c.add_milestone(actor="a", title="Study", due_date=date(2026, 5, 1))
    assert m == "m1" and c.milestone(m).status(date(2026, 4, 30)) == "planned"
    assert c.milestone(m).status(date(2026, 5, 2)) == "missed"
    c.reschedule_milestone(actor="a", milestone_id=m, due_date=date(2026, 8, 1), reason="late data")
    c.retitle_milestone(actor="a", milestone_id=m, title="Feasibility study")
    milestone = c.milestone(m)
    assert (milestone.due_date, milestone.original_due_date, milestone.times_rescheduled) == (
        date(2026, 8, 1),
        date(2026, 5, 1),
        1,
    )
    assert milestone.title == "Feasibility study"
    c.complete_milestone(actor="a", milestone_id=m, completed_on=date(2026, 6, 1), note="signed")
    assert milestone.status(date(2027, 1, 1)) == "completed"
    assert (milestone.completed_on, milestone.completion_note) == (date(2026, 6, 1), "signed")
    assert c.add_milestone(actor="a", title="Second", due_date=date(2026, 12, 1)) == "m2"


def test_milestone_rules() -> None:
    c = registered()
    m = c.add_milestone(actor="a", title="Study", due_date=date(2026, 5, 1))
    with pytest.raises(StateConflict, match="already has a milestone titled"):
        c.add_milestone(actor="a", title="study", due_date=date(2026, 5, 1))
    with pytest.raises(InvalidValue, match="outside"):
        c.add_milestone(actor="a", title="Far", due_date=date(2101, 1, 1))
    with pytest.raises(NotFound, match="no milestone 'm9'"):
        c.complete_milestone(actor="a", milestone_id="m9", completed_on=date(2026, 1, 1))
    with pytest.raises(InvalidValue, match="already due"):
        c.reschedule_milestone(actor="a", milestone_id=m, due_date=date(2026, 5, 1), reason="r")
    with pytest.raises(InvalidValue, match="in the future"):
        c.complete_milestone(actor="a", milestone_id=m, completed_on=date(2026, 7, 1))
    c.complete_milestone(actor="a", milestone_id=m, completed_on=date(2026, 4, 1))
    with pytest.raises(StateConflict, match="already completed"):
        c.complete_milestone(actor="a", milestone_id=m, completed_on=date(2026, 4, 2))
    with pytest.raises(StateConflict, match="cannot be rescheduled"):
        c.reschedule_milestone(actor="a", milestone_id=m, due_date=date(2026, 9, 1), reason="r")


# ---- indicators and evidence --------------------------------------------------------


def test_indicators_are_defined_and_measured_latest_by_effective_date() -> None:
    c = registered()
    i = c.define_indicator(
        actor="a", name="Carloads", unit="per week", baseline=100, target="150.5"
    )
    c.record_measurement(actor="a", indicator_id=i, value=120, as_of=date(2026, 3, 31))
    c.record_measurement(actor="a", indicator_id=i, value="110.25", as_of=date(2026, 1, 31))
    indicator = c.indicator(i)
    assert (indicator.baseline, indicator.target) == (Decimal(100), Decimal("150.5"))
    assert (indicator.latest_value, indicator.latest_as_of, indicator.measurements) == (
        Decimal(120),
        date(2026, 3, 31),
        2,
    )
    with pytest.raises(StateConflict, match="already has an indicator"):
        c.define_indicator(actor="a", name="carloads", unit="u", baseline=0, target=1)
    with pytest.raises(InvalidValue, match="must be a number"):
        c.record_measurement(actor="a", indicator_id=i, value="lots", as_of=date(2026, 1, 1))
    with pytest.raises(InvalidValue, match="finite"):
        c.define_indicator(actor="a", name="X", unit="u", baseline="NaN", target=1)
    with pytest.raises(NotFound, match="no indicator"):
        c.record_measurement(actor="a", indicator_id="i7", value=1, as_of=date(2026, 1, 1))


def test_evidence_is_attached_once_per_url() -> None:
    c = registered()
    doc = Evidence("https://example.org/r", "Report", "SRE", date(2026, 2, 1))
    c.attach_evidence(actor="a", evidence=doc)
    assert c.evidence == [doc]
    with pytest.raises(StateConflict, match="already attached"):
        c.attach_evidence(actor="a", evidence=doc)
    with pytest.raises(InvalidValue, match="http"):
        c.attach_evidence(actor="a", evidence=Evidence("not a url", "X"))
    with pytest.raises(InvalidValue, match="title"):
        c.attach_evidence(actor="a", evidence=Evidence("https://example.org/s", ""))


# ---- replay -------------------------------------------------------------------------


def test_replaying_the_events_rebuilds_the_same_state() -> None:
    c = registered()
    c.log_progress(actor="a", percent=30, as_of=date(2026, 2, 1), note="n")
    m = c.add_milestone(actor="a", title="Study", due_date=date(2026, 5, 1))
    c.complete_milestone(actor="a", milestone_id=m, completed_on=date(2026, 5, 2))
    c.rate_health(actor="a", rating="green", rationale="fine", as_of=date(2026, 5, 3))
    copy = replay(pending(c))
    assert copy is not None
    assert {k: v for k, v in vars(copy).items() if k != "_pending_events"} == {
        k: v for k, v in vars(c).items() if k != "_pending_events"
    }


def test_replay_as_of_leaves_out_later_facts_but_keeps_the_plan() -> None:
    c = registered()
    c.log_progress(actor="a", percent=30, as_of=date(2026, 2, 1), note="n")
    m = c.add_milestone(actor="a", title="Study", due_date=date(2026, 5, 1))
    c.complete_milestone(actor="a", milestone_id=m, completed_on=date(2026, 5, 2))
    before = replay(pending(c), as_of=date(2026, 1, 31))
    assert before is not None
    assert before.progress is None and before.status is Status.NOT_STARTED
    assert before.milestone(m).completed_on is None  # the milestone itself is part of the plan
    assert before.version == c.version


# ---- hostile input -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"code": "CMAP-SEC-TWO\n"}, "code"),
        ({"title": "a\x00b"}, "control characters"),
        ({"title": "two\nlines"}, "control characters"),
        ({"description": "nul \x00 inside"}, "control characters"),
        ({"parties": ["CA", "XX"]}, "alpha-2"),
        ({"sectors": ["railways\n"]}, "slug"),
        ({"source": Source("Plan", "https://example.org/\n")}, "http"),
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
    ],
)
def test_indicator_numbers_are_bounded(value: Any, message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        registered().define_indicator(actor="a", name="N", unit="u", baseline=0, target=value)


def test_indicator_numbers_are_kept_in_plain_notation() -> None:
    c = registered()
    i = c.define_indicator(actor="a", name="N", unit="u", baseline="1.5E+2", target="0.25")
    assert (str(c.indicator(i).baseline), str(c.indicator(i).target)) == ("150", "0.25")


def test_revisions_refuse_null_or_malformed_collections() -> None:
    c = registered()
    with pytest.raises(InvalidValue, match="agencies must map"):
        c.revise_details(actor="a", changes={"agencies": None}, reason="r")
    with pytest.raises(InvalidValue, match="sectors must be a list"):
        c.revise_details(actor="a", changes={"sectors": "railways"}, reason="r")
    with pytest.raises(InvalidValue, match="title must"):
        c.revise_details(actor="a", changes={"title": None}, reason="r")


def test_progress_evidence_may_not_repeat_an_attached_url() -> None:
    c = registered()
    doc = Evidence("https://example.org/doc1", "Doc")
    c.attach_evidence(actor="a", evidence=doc)
    with pytest.raises(StateConflict, match="already attached"):
        c.log_progress(actor="a", percent=1, as_of=date(2026, 1, 1), note="n", evidence=[doc])
    twice = [Evidence("https://example.org/d2", "D"), Evidence("https://example.org/d2", "D")]
    with pytest.raises(InvalidValue, match="given twice"):
        c.log_progress(actor="a", percent=1, as_of=date(2026, 1, 1), note="n", evidence=twice)
