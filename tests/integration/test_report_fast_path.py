"""The report from the read models (adapters/reports/fast.py) gives the bytes of the
report that replays the log, for any position, as-of date, period and language: on the
scripted month of tests/integration/report_history.py, on the seeded sample, and on
histories generated from seeds (late reports, reopened and partial completions,
closures awaiting a party, translations, rescheduled milestones, revised targets)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import update

from adapters.bootstrap import Services
from adapters.reports import fast
from adapters.reports.data import ReportInputs
from adapters.reports.render import render
from adapters.tables import progress_points
from domain import clock
from domain.access import Principal, Role, system
from domain.commands import (
    AddMilestone,
    AttachEvidence,
    ChangeMilestone,
    ChangeStatus,
    CommitmentCommand,
    CompleteMilestone,
    DefineIndicator,
    LogProgress,
    RateHealth,
    RecordMeasurement,
    ReviseDetails,
    TranslateText,
)
from domain.errors import DomainError
from domain.vocabulary import Evidence, Health, Pillar, Status
from tests.conftest import STORES, open_services
from tests.integration.report_history import month_of_work
from tests.support import registration, write

LANGUAGES = ("en", "fr", "es")
ADMIN = system("generator")
MX = Principal("mx.editor", Role.EDITOR, "MX")


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


def _step(rng: random.Random, counts: dict[str, int], today: date) -> CommitmentCommand:
    """A random command on a commitment; some are refused (a rule says no), as in life.
    Facts are dated up to four months back: late reports, often out of order."""

    def _day(rng: random.Random) -> date:
        return today - timedelta(days=rng.choice((0, 0, 1, 3, 10, 40, 120)))

    kind = rng.randrange(14)
    if kind <= 3:  # progress, often reported late (backdated) and out of order
        evidence = tuple(
            Evidence(
                url=f"https://example.org/e{rng.randrange(99)}",
                title=f"Doc {rng.randrange(99)}",
                published_on=rng.choice([None, _day(rng)]),
            )
            for _ in range(rng.choice((0, 0, 1, 2)))
        )
        return LogProgress(
            percent=rng.randrange(0, 101),
            as_of=_day(rng),
            note=f"note {rng.randrange(1000)}",
            confidence=rng.choice((None, 1, 3, 5)),
            evidence=evidence,
        )
    if kind <= 5:
        return RateHealth(
            rating=rng.choice(list(Health)), rationale=f"r{rng.randrange(99)}", as_of=_day(rng)
        )
    if kind == 6:
        status = rng.choice([*Status, Status.IN_PROGRESS, Status.COMPLETED, Status.COMPLETED])
        return ChangeStatus(
            status=status,
            reason="moved",
            as_of=_day(rng),
            superseded_by="CMAP-GEN-C0" if status is Status.SUPERSEDED else None,
            partial=status is Status.COMPLETED and rng.random() < 0.5,
        )
    if kind == 7:
        return AddMilestone(title=f"Milestone {rng.randrange(99)}", due_date=_day(rng))
    milestones = counts["milestones"]
    if kind == 8 and milestones:
        milestone = f"m{rng.randrange(1, milestones + 1)}"
        return CompleteMilestone(milestone_id=milestone, completed_on=_day(rng), note="done")
    if kind == 9 and milestones:
        milestone = f"m{rng.randrange(1, milestones + 1)}"
        return ChangeMilestone(milestone_id=milestone, due_date=_day(rng), reason="slipped")
    if kind == 10:
        if not counts["indicators"] or rng.random() < 0.3:
            return DefineIndicator(
                name=f"Indicator {rng.randrange(9)}",
                unit="count",
                baseline=Decimal(rng.randrange(0, 5)),
                target=Decimal(rng.randrange(5, 20)),
            )
        return RecordMeasurement(
            indicator_id=f"i{rng.randrange(1, counts['indicators'] + 1)}",
            value=Decimal(rng.randrange(0, 400)) / 10,
            as_of=_day(rng),
        )
    if kind == 11:
        return AttachEvidence(
            url=f"https://example.org/a{rng.randrange(99)}",
            title="Attached",
            publisher=rng.choice((None, "SRE")),
            published_on=rng.choice((None, _day(rng))),
        )
    if kind == 12:
        texts: dict[str, Any] = {"title": f"Titre {rng.randrange(99)}"}
        if milestones:
            texts["milestones"] = {f"m{rng.randrange(1, milestones + 1)}": "Jalon"}
        return TranslateText(language=rng.choice(("fr", "es")), **texts)
    return ReviseDetails(
        reason="re-planned",
        target_date=_day(rng),
        title=rng.choice((f"Retitled {rng.randrange(99)}", None)) or "Kept",
    )


def _generate(services: Services, seed: int) -> None:
    rng = random.Random(seed)
    codes = [f"CMAP-GEN-C{i}" for i in range(4)]
    moment = datetime(2025, 10, 1, 9, tzinfo=UTC)
    known = {code: {"milestones": 0, "indicators": 0} for code in codes}
    with clock.frozen_at(moment):
        for i, code in enumerate(codes):
            write(
                services,
                registration(
                    code,
                    title=f"Commitment {i}",
                    pillar=list(Pillar)[i % len(Pillar)],
                    lead_party=("joint", "CA", "MX")[i % 3],
                    target_date=date(2027, 1, 1),
                    language=("en", "es")[i % 2],
                ),
                principal=ADMIN,
            )
    for _ in range(150):
        moment += timedelta(hours=rng.randrange(1, 150), microseconds=rng.randrange(10**6))
        code = rng.choice(codes)
        command = _step(rng, known[code], moment.date())
        # An editor of one party proposes closures (another must confirm); admins close.
        principal = MX if isinstance(command, ChangeStatus) and rng.random() < 0.3 else ADMIN
        with clock.frozen_at(moment):
            try:
                write(services, command, ref=code, principal=principal)
            except DomainError:
                continue
        if isinstance(command, AddMilestone):
            known[code]["milestones"] += 1
        elif isinstance(command, DefineIndicator):
            known[code]["indicators"] += 1


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
