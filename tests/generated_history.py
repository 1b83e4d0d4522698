"""Commitment histories generated from a seed, for tests that compare two ways of
reading them (the report from the read models and from a replay; the domain's fold of
the series facts and a replay): late (backdated) reports out of order, partial
completions and reopened commitments, closures proposed by one party, translations,
rescheduled milestones, revised targets. Some commands are refused, as in life."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from domain import clock
from domain.access import Principal, Role, system
from domain.commands import (
    AddMilestone,
    AttachEvidence,
    ChangeMilestone,
    ChangeStatus,
    Command,
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
from tests.support import registration

ADMIN = system("generator")
MX = Principal("mx.editor", Role.EDITOR, "MX")
CODES = tuple(f"CMAP-GEN-C{i}" for i in range(4))
STEPS = 150


def step(rng: random.Random, counts: dict[str, int], today: date) -> CommitmentCommand:
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
            superseded_by=CODES[0] if status is Status.SUPERSEDED else None,
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


def generate(run: Callable[[Principal, Command, str | None], None], seed: int) -> None:
    """Four commitments and STEPS commands on them, through `run` (a write), each at its
    own recorded time (hours apart, from 2025-10-01)."""
    rng = random.Random(seed)
    moment = datetime(2025, 10, 1, 9, tzinfo=UTC)
    known = {code: {"milestones": 0, "indicators": 0} for code in CODES}
    with clock.frozen_at(moment):
        for i, code in enumerate(CODES):
            registered = registration(
                code,
                title=f"Commitment {i}",
                pillar=list(Pillar)[i % len(Pillar)],
                lead_party=("joint", "CA", "MX")[i % 3],
                target_date=date(2027, 1, 1),
                language=("en", "es")[i % 2],
            )
            run(ADMIN, registered, None)
    for _ in range(STEPS):
        moment += timedelta(hours=rng.randrange(1, 150), microseconds=rng.randrange(10**6))
        code = rng.choice(CODES)
        command = step(rng, known[code], moment.date())
        # An editor of one party proposes closures (another must confirm); admins close.
        principal = MX if isinstance(command, ChangeStatus) and rng.random() < 0.3 else ADMIN
        with clock.frozen_at(moment):
            try:
                run(principal, command, code)
            except DomainError:
                continue
        if isinstance(command, AddMilestone):
            known[code]["milestones"] += 1
        elif isinstance(command, DefineIndicator):
            known[code]["indicators"] += 1
