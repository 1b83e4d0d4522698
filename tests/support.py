"""Helpers for tests: principals, a registration command, writes through the unit of work."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import insert

from adapters.bootstrap import Services
from adapters.database import Database
from adapters.tables import api_tokens
from adapters.tokens import digest, new_secret
from adapters.unit_of_work import Write, Written
from domain.access import Principal, Role
from domain.commands import Command, RegisterCommitment
from domain.vocabulary import Pillar, Source

ADMIN = Principal("admin-1", Role.ADMIN)
CA_EDITOR = Principal("ana.ca", Role.EDITOR, "CA")
MX_EDITOR = Principal("luis.mx", Role.EDITOR, "MX")
VIEWER = Principal("vera", Role.VIEWER)

CODE = "CMAP-PROS-RAIL"


def registration(code: str = CODE, **overrides: Any) -> RegisterCommitment:
    """A valid registration of a CA-MX commitment; override any field."""
    fields: dict[str, Any] = {
        "code": code,
        "title": "Rail corridors",
        "pillar": Pillar.PROSPERITY,
        "sectors": ("railways",),
        "parties": ("CA", "MX"),
        "lead_party": "joint",
        "start_date": date(2025, 9, 18),
        "source": Source("Action Plan", "https://example.org/plan", "rail"),
    }
    return RegisterCommitment(**(fields | overrides))


def write(
    services: Services,
    command: Command,
    *,
    ref: str | None = None,
    principal: Principal = ADMIN,
    expected_version: int | None = None,
) -> Written:
    """A write through the unit of work, as every entry point makes it."""
    return services.unit_of_work.run(
        Write(principal, command, ref=ref, expected_version=expected_version)
    )


def token_row(
    database: Database,
    name: str,
    role: Role | str,
    party: str | None = None,
    *,
    created_at: datetime | None = None,
) -> str:
    """A token as made before 0.6.0: a row of api_tokens and no event. (Tests that are not
    about tokens use these, so the log holds only what the test wrote; and an editor
    without a party could be made then.) Its secret."""
    secret = new_secret()
    with database.writing() as connection:
        connection.execute(
            insert(api_tokens).values(
                id=uuid.uuid4().hex,
                name=name,
                name_key=name.lower(),
                role=Role(role).value,
                party=party,
                token_hash=digest(secret),
                created_at=created_at or datetime.now(UTC),
            )
        )
    return secret


def lock_probe(monkeypatch: Any) -> tuple[list[bool], Any]:
    """Whether another thread could take the charts' drawing lock (adapters/reports/
    charts.py DRAWING) as each figure is saved: the list it fills, one entry a figure, and
    `probe()` to look once more from here."""
    import threading

    from matplotlib.figure import Figure

    from adapters.reports.charts import DRAWING

    free: list[bool] = []

    def probe() -> None:
        taken = DRAWING.acquire(blocking=False)
        free.append(taken)
        if taken:
            DRAWING.release()

    save = Figure.savefig

    def saving(figure: Figure, *args: Any, **kwargs: Any) -> None:
        other = threading.Thread(target=probe)
        other.start()
        other.join()
        save(figure, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", saving)
    return free, probe
