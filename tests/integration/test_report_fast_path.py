"""The report from the read models (adapters/reports/fast.py) gives the bytes of the
report that replays the log, for any position, as-of date, period and language: on the
scripted month of tests/integration/report_history.py, on the seeded sample, and on
histories generated from seeds (late reports, reopened and partial completions,
closures awaiting a party, translations, rescheduled milestones, revised targets)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest
from sqlalchemy import update

from adapters.bootstrap import Services
from adapters.reports import fast
from adapters.reports.data import ReportInputs, commitment_events, commitment_histories
from adapters.reports.render import render
from adapters.tables import progress_points
from domain.access import Principal
from domain.commands import Command
from tests.conftest import STORES, open_services
from tests.generated_history import generate
from tests.integration.report_history import month_of_work
from tests.support import write

LANGUAGES = ("en", "fr", "es")


def _ready(services: Services, position: int) -> bool:
    with services.database.reading() as connection:
        return fast.ready(connection, position)


def _assert_same(services: Services, inputs: ReportInputs, formats: tuple[str, ...]) -> None:
    fast_data = services.reports.build(inputs)
    replayed = services.reports.build(inputs, replay=True)
    for fmt in formats:
        assert render(fast_data, fmt) == render(replayed, fmt), (inputs, fmt)


def _compare_everywhere(
    services: Services, days: list[date], rng: random.Random, combinations: int
) -> None:
    services.projection.catch_up()
    head = services.reports.head()
    assert _ready(services, head)
    positions = sorted({head, 1, head // 2, head // 3, *rng.sample(range(1, head + 1), 3)})
    for index in range(combinations):
        inputs = ReportInputs(
            positions[index % len(positions)],
            rng.choice(days),
            rng.choice((1, 7, 30, 90, 365)),
            LANGUAGES[index % len(LANGUAGES)],
        )
        # Every format at times (charts, workbooks), JSON (all the data) always.
        formats = ("json", "html", "csv") if index % 5 == 0 else ("json",)
        _assert_same(services, inputs, formats)


@pytest.mark.parametrize("database_url", STORES, indirect=True)
def test_the_scripted_month_reads_the_same_from_read_models(services: Services) -> None:
    month_of_work(services)
    days = [date(2026, 3, 31), date(2026, 2, 11), date(2026, 1, 1), date(2026, 12, 31)]
    _compare_everywhere(services, days, random.Random(1), 24)


@pytest.mark.parametrize("seeded_url", STORES, indirect=True)
def test_the_seeded_sample_reads_the_same_from_read_models(seeded_url: str) -> None:
    services = open_services(seeded_url)
    try:
        today = datetime.now(UTC).date()
        days = [today, today - timedelta(days=200), date(2025, 10, 1), date(2026, 6, 30)]
        _compare_everywhere(services, days, random.Random(2), 18)
    finally:
        services.close()


def _day(rng: random.Random) -> date:
    return date(2025, 10, 1) + timedelta(days=rng.randrange(0, 540))


def _generate(services: Services, seed: int) -> None:
    def run(principal: Principal, command: Command, ref: str | None) -> None:
        write(services, command, ref=ref, principal=principal)

    generate(run, seed)


@pytest.mark.parametrize("database_url", STORES, indirect=True)
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_generated_histories_read_the_same_from_read_models(services: Services, seed: int) -> None:
    _generate(services, seed)
    days = [_day(random.Random(seed + i)) for i in range(6)] + [date(2027, 6, 1)]
    _compare_everywhere(services, days, random.Random(seed), 30)


def test_read_models_behind_the_position_mean_a_replay(sqlite_url: str) -> None:
    services = open_services(sqlite_url)
    try:
        month_of_work(services)
        head = services.reports.head()
        assert not _ready(services, head)  # nothing projected yet
        services.projection.catch_up()
        assert _ready(services, head)
        with services.database.writing() as connection:
            # As rows projected before migration 0017 are, until a rebuild.
            connection.execute(update(progress_points).values(evidence=None))
        assert not _ready(services, head)
        inputs = ReportInputs(head, date(2026, 3, 31))
        assert render(services.reports.build(inputs), "json") == render(
            services.reports.build(inputs, replay=True), "json"
        )
    finally:
        services.close()


@pytest.mark.parametrize("database_url", STORES, indirect=True)
def test_a_replayed_report_holds_one_commitments_events_at_a_time(services: Services) -> None:
    """The reference replay (verify --report, report --reproduce) streams the log a
    commitment at a time: each item is one commitment's events in version order with
    their positions, and together they are every commitment event up to the position."""
    _generate(services, 21)
    head = services.reports.head()
    for position in (head, head // 2):
        with services.database.reading() as connection:
            positions: dict[tuple[UUID, int], int] = {}
            everything = commitment_events(connection, services.tracker.mapper, position, positions)
            streamed = commitment_histories(connection, services.tracker.mapper, position)
            assert not isinstance(streamed, list | tuple)  # a generator, not a list
            seen = set()
            for history, at in streamed:
                (commitment,) = {e.originator_id for e in history}
                assert commitment not in seen
                seen.add(commitment)
                assert [e.originator_version for e in history] == list(range(1, len(history) + 1))
                assert history == everything[commitment]
                assert at == [positions[(commitment, e.originator_version)] for e in history]
                assert max(at) <= position
        assert seen == set(everything)


@pytest.mark.parametrize("database_url", STORES, indirect=True)
def test_kept_rows_give_the_bytes_of_a_fresh_build_after_each_write(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The portfolio's build (`build_kept`) reloads only the commitments written to since
    its last position, and its report is still byte for byte a fresh build's, through a
    generated history (several commitments, late reports, translations); a new date or
    language loads every commitment again."""
    loads: list[set[str] | None] = []
    whole = fast.rows

    def spied(*args: object, only: set[str] | None = None, **kwargs: object) -> object:
        loads.append(only)
        return whole(*args, only=only, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fast, "rows", spied)
    kept = {language: fast.KeptRows() for language in LANGUAGES}
    steps = 0
    partial = 0

    def run(principal: Principal, command: Command, ref: str | None) -> None:
        nonlocal steps, partial
        write(services, command, ref=ref, principal=principal)
        steps += 1
        if steps % 2:
            return
        services.projection.catch_up()
        # The day moves now and then, as the portfolio's "today" does; so does the language.
        language = LANGUAGES[steps // 50 % len(LANGUAGES)]
        day = _day(random.Random(steps // 30))
        inputs = ReportInputs(services.reports.head(), day, 30, language)
        loads.clear()
        incremental = services.reports.build_kept(inputs, kept[language])
        if loads and loads[0] is not None:
            partial += 1
            assert len(loads[0]) <= 2  # the commitments of the two writes since, at most
        assert render(incremental, "json") == render(services.reports.build(inputs), "json")

    generate(run, 21)
    assert partial > 30
    services.projection.catch_up()
    inputs = ReportInputs(services.reports.head(), date(2026, 3, 31), 30, "fr")
    loads.clear()
    first = services.reports.build_kept(inputs, kept["fr"])
    assert loads[0] is None  # another date: every commitment loaded again
    again = services.reports.build_kept(inputs, kept["fr"])
    assert loads[1:] == []  # the same position: nothing loaded
    fresh = services.reports.build(inputs)
    assert render(first, "html") == render(again, "html") == render(fresh, "html")
