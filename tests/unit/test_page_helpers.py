"""What the portfolio and commitment pages compute, without HTTP: the portfolio's query,
filters and order; the moment a commitment page shows; the events in view, the progress
line and the old values of a revision; the commitment chart."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from babel.dates import format_date

from adapters.history import progress_points, revisions, versions_in_view
from adapters.read_models import ListFilters
from adapters.reports.charts import commitment_progress
from api.portfolio import filter_groups, keeps, ordered, read_query
from api.time_travel import Moment, read_moment
from domain import clock
from domain.commands import LogProgress, ReviseDetails
from domain.tracker import Tracker
from domain.views import describe, diff, event_data, event_type
from tests.conftest import memory_tracker
from tests.support import ADMIN, CODE, lock_probe, registration

T1 = datetime(2026, 2, 1, 9, tzinfo=UTC)
T2 = datetime(2026, 5, 1, 9, tzinfo=UTC)
T3 = datetime(2026, 6, 1, 9, tzinfo=UTC)


@pytest.fixture
def history() -> Iterator[Tracker]:
    """v1 registered and v2 10% as of 31 Jan, with v3 the status change it makes (T1);
    v4 30% as of 30 Apr (T2); v5 a late 20% as of 28 Feb and v6 a new target date and
    sectors (T3)."""
    tracker = memory_tracker()
    with clock.frozen_at(T1):
        tracker.register(ADMIN, registration())
        tracker.update(ADMIN, CODE, LogProgress(percent=10, as_of=date(2026, 1, 31), note="a"))
    with clock.frozen_at(T2):
        tracker.update(ADMIN, CODE, LogProgress(percent=30, as_of=date(2026, 4, 30), note="b"))
    with clock.frozen_at(T3):
        tracker.update(ADMIN, CODE, LogProgress(percent=20, as_of=date(2026, 2, 28), note="c"))
        tracker.update(
            ADMIN,
            CODE,
            ReviseDetails(
                target_date=date(2027, 12, 31), sectors=("railways", "ports"), reason="review"
            ),
        )
    yield tracker


def test_the_events_in_view_are_those_a_past_state_is_made_of(history: Tracker) -> None:
    events = history.events_of(CODE)
    assert [type(e).__name__ for e in events] == [
        "Registered",
        "ProgressLogged",
        "StatusChanged",
        "ProgressLogged",
        "ProgressLogged",
        "DetailsRevised",
    ]
    cases: list[tuple[dict[str, Any], set[int]]] = [
        ({}, {1, 2, 3, 4, 5, 6}),
        ({"version": 3}, {1, 2, 3}),
        ({"known_at": T2}, {1, 2, 3, 4}),
        ({"known_at": T2 - timedelta(seconds=1)}, {1, 2, 3}),
        # Facts effective after the date are left out; facts about the plan stay.
        ({"as_of": date(2026, 3, 1)}, {1, 2, 3, 5, 6}),
        ({"as_of": date(2026, 3, 1), "known_at": T2}, {1, 2, 3}),
    ]
    for asked, expected in cases:
        assert versions_in_view(events, **asked) == expected, asked
        if "version" in asked:
            continue
        # The progress line of the events in view ends where the past state stands.
        state = history.state(CODE, **asked)
        line = progress_points(e for e in events if e.originator_version in expected)
        assert line[-1] == (state.progress_as_of, state.progress), asked


def test_the_progress_line_holds_each_date_s_percent(history: Tracker) -> None:
    events = history.events_of(CODE)
    assert progress_points(events) == [
        (date(2026, 1, 31), 10),
        (date(2026, 2, 28), 20),  # reported late, in its place on the line
        (date(2026, 4, 30), 30),
    ]
    then = versions_in_view(events, known_at=T2)
    known_then = [e for e in events if e.originator_version in then]
    assert progress_points(known_then) == [(date(2026, 1, 31), 10), (date(2026, 4, 30), 30)]


def test_a_revision_shows_each_changed_field_old_and_new(history: Tracker) -> None:
    events = history.events_of(CODE)
    entries = [
        {"type": event_type(e), "version": e.originator_version, "data": event_data(e)}
        for e in events
    ]
    assert revisions(events, entries) == {
        6: {
            "target_date": {"from": None, "to": "2027-12-31"},
            "sectors": {"from": ["railways"], "to": ["railways", "ports"]},
        }
    }
    # Only the entries asked about (those in view) are compared.
    assert revisions(events, entries[:5]) == {}


def test_revisions_compare_the_states_a_replay_of_each_version_gives(history: Tracker) -> None:
    """Folding the events once gives the old and new values that loading the state
    before and after each revision does (several revisions, of the same field too)."""
    with clock.frozen_at(T3):
        for revision in (
            ReviseDetails(title="Corridors", reason="shorter"),
            ReviseDetails(title="Rail and port corridors", sectors=("ports",), reason="scope"),
            ReviseDetails(description="Both corridors.", target_date=None, reason="again"),
        ):
            history.update(ADMIN, CODE, revision)
    events = history.events_of(CODE)
    entries: list[dict[str, Any]] = [
        {"type": event_type(e), "version": e.originator_version, "data": event_data(e)}
        for e in events
    ]
    expected: dict[int, dict[str, dict[str, Any]]] = {}
    for entry in entries:
        if entry["type"] == "DetailsRevised":
            v = entry["version"]
            before, after = (describe(history.state(CODE, version=n), date.min) for n in (v - 1, v))
            changed = diff(before, after)
            expected[v] = {k: changed[k] for k in entry["data"]["changes"] if k in changed}
    assert sorted(expected) == [6, 7, 8, 9]
    assert expected[8]["title"] == {"from": "Corridors", "to": "Rail and port corridors"}
    assert revisions(events, entries) == expected


def test_the_commitment_chart_is_the_same_bytes_for_the_same_data() -> None:
    points = [(date(2026, 1, 31), 10), (date(2026, 4, 30), 30)]
    milestones: list[dict[str, Any]] = [
        {"due_date": "2026-03-31", "status": "completed", "completed_on": "2026-03-20"},
        {"due_date": "2026-06-30", "status": "missed", "completed_on": None},
        {"due_date": "2027-01-31", "status": "planned", "completed_on": None},
    ]
    day = date(2026, 8, 1)
    first = commitment_progress(points, milestones, day)
    assert first == commitment_progress(points, milestones, day)
    assert first.startswith("<svg") and "<script" not in first
    for words in ("progress logged", "milestone completed", "milestone missed", "milestone due"):
        assert words in first
    spanish_words = {
        "progress": "avance (%)",
        "logged": "avance registrado",
        "completed": "hito cumplido",
        "planned": "hito previsto",
        "missed": "hito incumplido",
        "day": "fecha mostrada",
        "title": "Avance a lo largo del tiempo",
    }
    spanish = commitment_progress(
        points,
        milestones,
        day,
        words=spanish_words,
        month=lambda d: format_date(d, "MMM y", locale="es"),
    )
    assert "hito incumplido" in spanish and "milestone" not in spanish
    assert "ene 2027" in spanish and "Jan 2027" in first  # months in the reader's language
    # Nothing logged or planned: still a chart, with the day shown.
    assert "shown as of" in commitment_progress([], [], day)
    # The day's words sit left of its line, or right of it when nothing comes before the
    # day (they would run over the y axis), whatever the legend's rows (margins by rows).
    assert re.search(r"text-anchor: end[^>]*>shown as of ", first)
    early = commitment_progress(points, milestones, date(2025, 1, 1))
    assert re.search(r"text-anchor: start[^>]*> shown as of", early)
    # Just after the first point, with milestones years ahead: too little room left of
    # the line either (the outside check's case).
    ahead = [{"due_date": "2028-12-15", "status": "planned", "completed_on": None}]
    soon = commitment_progress([(date(2025, 12, 1), 10)], ahead, date(2025, 12, 3))
    assert re.search(r"text-anchor: start[^>]*> shown as of", soon)
    # A span of three years: yearly ticks, not months running together.
    long = commitment_progress([(date(2025, 12, 1), 10)], ahead, date(2026, 11, 28))
    assert len(re.findall(r'<g id="xtick_\d+">', long)) <= 5
    bottoms = {ms: _plot_bottom(commitment_progress([], milestones[:ms], day)) for ms in range(4)}
    # 0, 1, 1 and 2 legend rows: the plot ends higher (y grows downwards) for more rows.
    assert bottoms[0] > bottoms[1] == bottoms[2] > bottoms[3]


def test_a_page_reads_the_moment_and_names_bad_values() -> None:
    def read(**params: str) -> Moment:
        return read_moment(params, lambda message: message)

    assert read() == Moment() and not read().past
    assert read(as_of="2026-03-31") == Moment(as_of=date(2026, 3, 31))
    # A browser's datetime-local has no offset: UTC, as the API takes it.
    assert read(known_at="2026-04-01T09:30").known_at == datetime(2026, 4, 1, 9, 30, tzinfo=UTC)
    assert read(known_at="2026-04-01T11:30+02:00").known_at == datetime(
        2026, 4, 1, 9, 30, tzinfo=UTC
    )
    assert read(version="3", as_of="", known_at=" ") == Moment(version=3)
    assert read(version="0").problems == ("“0” is not a version number.",)
    assert read(version="-1").problems and read(version="1e3").problems
    assert read(as_of="31/03/2026").problems == ("“31/03/2026” is not a date such as 2026-03-31.",)
    assert "not both" in read(version="2", as_of="2026-01-01").problems[0]
    wrong = read(as_of="x", known_at="y")
    assert len(wrong.problems) == 2 and not wrong.past


ROWS: list[dict[str, Any]] = [
    {
        "code": "A-ONE",
        "title": "Rail corridors",
        "description": "Trains",
        "pillar": "prosperity",
        "parties": ["CA", "MX"],
        "sectors": ["railways"],
        "agencies": {"MX": ["Agencia Reguladora del Transporte Ferroviario"]},
        "status": "stalled",
        "health": None,
        "progress": 30,
        "overdue": False,
        "next_milestone": {"due_date": "2026-09-30"},
        "target_date": "2027-12-31",
    },
    {
        "code": "B-TWO",
        "title": "airports",
        "description": "Flights",
        "pillar": "security",
        "parties": ["CA", "MX", "US"],
        "sectors": ["airports", "security"],
        "agencies": {},
        "status": "in_progress",
        "health": "red",
        "progress": None,
        "overdue": True,
        "next_milestone": None,
        "target_date": "2026-07-01",
    },
    {
        "code": "C-THREE",
        "title": "Cyber",
        "description": "Cooperation",
        "pillar": "security",
        "parties": ["CA", "MX"],
        "sectors": ["cybersecurity"],
        "agencies": {"CA": ["Public Safety Canada"]},
        "status": "not_started",
        "health": "green",
        "progress": 0,
        "overdue": False,
        "next_milestone": {"due_date": "2026-01-15"},
        "target_date": None,
    },
]


def shown(**params: list[str]) -> list[str]:
    query = read_query(params, filter_groups(ROWS))
    return [c["code"] for c in ordered((c for c in ROWS if keeps(query.filters, c)), query)]


def test_the_portfolio_filters_like_the_list_and_ignores_what_it_does_not_know() -> None:
    assert shown() == ["A-ONE", "B-TWO", "C-THREE"]
    assert shown(status=["stalled", "not_started"]) == ["A-ONE", "C-THREE"]  # either
    assert shown(status=["stalled", "asleep"]) == ["A-ONE"]  # unknown value ignored
    assert shown(status=["asleep"]) == ["A-ONE", "B-TWO", "C-THREE"]  # as if not asked
    assert shown(health=["unrated", "red"]) == ["A-ONE", "B-TWO"]
    assert shown(party=["US"]) == ["B-TWO"]
    assert shown(sector=["railways", "cybersecurity"]) == ["A-ONE", "C-THREE"]
    assert shown(pillar=["security"], health=["green"]) == ["C-THREE"]  # all filters apply
    assert shown(overdue=["yes"]) == ["B-TWO"] and shown(overdue=["no"]) == ["A-ONE", "C-THREE"]
    assert shown(overdue=["maybe"]) == ["A-ONE", "B-TWO", "C-THREE"]
    # The search reads code, title, description, sectors and agencies, whatever the case.
    assert shown(q=["ferroviario"]) == ["A-ONE"]
    assert shown(q=["public safety"]) == ["C-THREE"]
    assert shown(q=["AIRPORTS"]) == ["B-TWO"]
    assert shown(q=["  two  "]) == ["B-TWO"]
    assert shown(q=["nothing like it"]) == []
    query = read_query({"status": ["stalled"], "q": [" "]}, filter_groups(ROWS))
    assert query.filters == ListFilters(status=("stalled",)) and query.filtered
    assert not read_query({"sort": ["progress"]}, filter_groups(ROWS)).filtered


def test_the_portfolio_sorts_and_puts_rows_without_a_value_last() -> None:
    assert shown(sort=["title"]) == ["B-TWO", "C-THREE", "A-ONE"]  # airports, Cyber, Rail
    assert shown(sort=["progress"]) == ["C-THREE", "A-ONE", "B-TWO"]
    assert shown(sort=["progress"], order=["desc"]) == ["A-ONE", "C-THREE", "B-TWO"]
    assert shown(sort=["status"]) == ["C-THREE", "B-TWO", "A-ONE"]  # the lifecycle's order
    assert shown(sort=["health"]) == ["C-THREE", "B-TWO", "A-ONE"]  # green, red, unrated
    assert shown(sort=["next"]) == ["C-THREE", "A-ONE", "B-TWO"]
    assert shown(sort=["target"], order=["desc"]) == ["A-ONE", "B-TWO", "C-THREE"]
    assert shown(sort=["nonsense"], order=["sideways"]) == ["A-ONE", "B-TWO", "C-THREE"]


def _plot_bottom(svg: str) -> float:
    """Where the chart's plot area ends (its patch's lowest y, in SVG units)."""
    patch = re.search(r'<g id="patch_2">\s*<path d="([^"]+)"', svg)
    assert patch is not None
    return max(float(y) for y in re.findall(r"[ML] [\d.]+ ([\d.]+)", patch.group(1)))


def test_charts_are_drawn_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """matplotlib's settings are one per process: while one thread draws a chart, no other
    may (the lock is held through the drawing, not taken and left)."""
    free, probe = lock_probe(monkeypatch)
    commitment_progress([], [], date(2026, 1, 1))
    probe()  # and free again once drawn
    assert free == [False, True]
