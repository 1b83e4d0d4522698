"""A scripted month of work on three commitments, written through the unit of work with
frozen clocks: every report figure of it is worked out by hand in the tests. Self-contained
(its own registrations), so the golden report files made from it do not move when test
helpers elsewhere change."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from adapters.bootstrap import Services
from adapters.unit_of_work import Write
from domain import clock
from domain.access import Principal, Role, system
from domain.commands import (
    AddMilestone,
    AttachEvidence,
    ChangeMilestone,
    ChangeStatus,
    Command,
    CompleteMilestone,
    DefineIndicator,
    LogProgress,
    PlannedMilestone,
    RateHealth,
    RecordMeasurement,
    RegisterCommitment,
    ReviseDetails,
)
from domain.vocabulary import Evidence, Health, Pillar, Source, Status

AS_OF = date(2026, 3, 31)
START = date(2025, 9, 18)
RAIL, CYBER, EVAL = "CMAP-PROS-RAIL", "CMAP-SEC-CYBER", "CMAP-GOV-EVAL"
MX = Principal("luis.mx", Role.EDITOR, "MX")


def at(moment: str) -> Any:
    return clock.frozen_at(datetime.fromisoformat(moment).replace(tzinfo=UTC))


def _register(code: str, pillar: Pillar, lead: str, **extra: Any) -> RegisterCommitment:
    return RegisterCommitment(
        code=code,
        title=f"Title of {code}",
        pillar=pillar,
        sectors=("railways",) if pillar is Pillar.PROSPERITY else ("cybersecurity",),
        parties=("CA", "MX"),
        lead_party=lead,
        agencies={"CA": ("Transport Canada",), "MX": ("SICT",)},
        start_date=START,
        source=Source(title="Action Plan", url="https://example.org/plan", quote="quote"),
        **extra,
    )


def month_of_work(services: Services) -> None:
    a, b, seed = system("a"), system("b"), system("seed")

    def by(principal: Principal, ref: str | None, command: Command) -> None:
        services.unit_of_work.run(Write(principal, command, ref=ref))

    with at("2026-01-05T09:00"):
        by(seed, None, _register(RAIL, Pillar.PROSPERITY, "joint", target_date=date(2026, 12, 31)))
        by(seed, None, _register(CYBER, Pillar.SECURITY, "CA"))
        by(
            seed,
            None,
            _register(
                EVAL,
                Pillar.GOVERNANCE,
                "joint",
                milestones=(
                    PlannedMilestone(title="Terms of reference", due_date=date(2026, 3, 1)),
                    PlannedMilestone(title="Joint review", due_date=date(2026, 6, 15)),
                ),
            ),
        )
    with at("2026-02-01T09:00"):
        by(a, RAIL, LogProgress(percent=20, as_of=date(2026, 1, 31), note="Jan"))
        by(a, RAIL, RateHealth(rating=Health.AMBER, rationale="slow", as_of=date(2026, 2, 1)))
        by(a, RAIL, AddMilestone(title="Study", due_date=date(2026, 2, 15)))
        by(a, CYBER, RateHealth(rating=Health.GREEN, rationale="on track", as_of=date(2026, 2, 1)))
    with at("2026-02-11T09:00"):
        by(
            b,
            CYBER,
            ChangeStatus(status=Status.IN_PROGRESS, reason="kick-off", as_of=date(2026, 2, 10)),
        )
        by(b, CYBER, AddMilestone(title="Plan", due_date=date(2026, 3, 15)))
        by(
            b,
            CYBER,
            DefineIndicator(name="Exercises", unit="count", baseline=Decimal(0), target=Decimal(4)),
        )
    with at("2026-03-06T09:00"):
        by(b, CYBER, LogProgress(percent=50, as_of=date(2026, 3, 5), note="Mar: =plan drafted"))
        by(b, CYBER, RecordMeasurement(indicator_id="i1", value=Decimal(1), as_of=date(2026, 3, 1)))
        by(
            b,
            CYBER,
            RateHealth(rating=Health.GREEN, rationale="still on track", as_of=date(2026, 3, 5)),
        )
        by(
            b,
            EVAL,
            CompleteMilestone(milestone_id="m1", completed_on=date(2026, 2, 27), note="signed"),
        )
    with at("2026-03-11T09:00"):
        by(a, RAIL, LogProgress(percent=40, as_of=date(2026, 3, 10), note="Mar"))
        by(
            a,
            EVAL,
            AttachEvidence(
                url="https://example.org/minutes",
                title="Minutes of the first meeting",
                publisher="SRE",
                published_on=date(2026, 3, 9),
            ),
        )
        by(a, EVAL, CompleteMilestone(milestone_id="m2", completed_on=date(2026, 3, 10)))
    with at("2026-03-21T09:00"):
        by(a, RAIL, RateHealth(rating=Health.RED, rationale="blocked", as_of=date(2026, 3, 20)))
        by(
            a,
            RAIL,
            ChangeMilestone(milestone_id="m1", due_date=date(2026, 4, 30), reason="late data"),
        )
    with at("2026-03-25T09:00"):
        by(a, RAIL, ReviseDetails(target_date=date(2027, 6, 30), reason="re-planned"))
        by(
            a,
            RAIL,
            RateHealth(rating=Health.AMBER_RED, rationale="unblocking", as_of=date(2026, 3, 24)),
        )
        by(
            a,
            CYBER,
            LogProgress(
                percent=60,
                as_of=date(2026, 3, 24),
                note="exercise held",
                evidence=(Evidence(url="https://example.org/exercise", title="Exercise report"),),
            ),
        )
    with at("2026-03-28T09:00"):
        by(
            MX,
            CYBER,
            ChangeStatus(status=Status.CANCELLED, reason="merged", as_of=date(2026, 3, 27)),
        )
