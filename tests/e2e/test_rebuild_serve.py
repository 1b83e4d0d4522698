"""A rebuild on a large log, under a real server: the list never shrinks while it runs.

Before shadow tables, a rebuild emptied the read models and the list showed 0, then 70,
then 120 items... until the replay was done. The log's size: COMMITMENTS_REBUILD_EVENTS
(default ~20,000, to keep this under a minute; the issue's run had ~100,000).
"""

from __future__ import annotations

import json
import os
import time
from datetime import date
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from adapters.migrate import upgrade
from adapters.tables import commitment_summaries
from adapters.unit_of_work import Write
from domain.access import system
from domain.commands import (
    AddMilestone,
    CommitmentCommand,
    LogProgress,
    RateHealth,
    RegisterCommitment,
    Together,
)
from domain.vocabulary import Health, Pillar
from tests.conftest import open_services
from tests.processes import Server

EVENTS = int(os.environ.get("COMMITMENTS_REBUILD_EVENTS", "20000"))
COMMITMENTS = 600  # more than a page of 500
STALE = "stale title, as only the old read models have it"
BASE = "/api/v1/commitments"


@pytest.fixture
def seeded_url(tmp_path: Path) -> str:
    """(For the `server` fixture.) COMMITMENTS commitments, EVENTS events in all,
    projected, with every list title made stale so the switch can be seen."""
    url = f"sqlite:///{tmp_path}/large.sqlite"
    upgrade(url)
    services = open_services(url)
    try:
        each = max(2, EVENTS // COMMITMENTS)
        steps: list[CommitmentCommand] = [AddMilestone(title="m", due_date=date(2026, 12, 1))]
        for k in range(each - 2):
            if k % 2:
                steps.append(RateHealth(rating=Health.GREEN, rationale="r", as_of=date(2026, 1, 1)))
            else:
                steps.append(LogProgress(percent=k % 100, as_of=date(2026, 1, 1), note="n"))
        who = system("large")
        for i in range(COMMITMENTS):
            code = f"CMAP-LARGE-C{i:04d}"
            register = RegisterCommitment(
                code=code, title="Large", pillar=(Pillar.PROSPERITY, Pillar.SECURITY)[i % 2],
                sectors=("trade",), parties=("CA", "MX"), lead_party="joint",
            )  # fmt: skip
            services.unit_of_work.run(Write(who, register))
            services.unit_of_work.run(Write(who, Together(tuple(steps)), ref=code))
        services.projection.catch_up()
        with services.database.writing() as connection:
            for row in connection.execute(select(commitment_summaries)).all():
                connection.execute(
                    update(commitment_summaries)
                    .where(commitment_summaries.c.commitment_id == row.commitment_id)
                    .values(document=json.dumps(json.loads(row.document) | {"title": STALE}))
                )
    finally:
        services.close()
    return url


@pytest.mark.slow
def test_the_list_never_shrinks_during_a_rebuild(server: Server) -> None:
    with httpx.Client(base_url=server.base, headers=server.auth, timeout=30) as client:

        def page() -> list[str]:
            response = client.get(BASE, params={"limit": 500})
            assert response.status_code == 200, response.text
            return [item["title"] for item in response.json()["items"]]

        head = client.get("/readyz").json()["log_position"]
        assert head >= EVENTS * 0.9 and page() == [STALE] * 500

        started = time.monotonic()
        accepted = client.post("/api/v1/admin/projections/rebuild")
        assert accepted.status_code == 202, accepted.text
        assert accepted.json() == {"status": "rebuilding", "position": 0, "head": head}
        during: list[list[str]] = []
        progress: list[int] = []
        while True:
            # The page first: a status still rebuilding after it means the switch had not
            # happened when the page was read (the other way round, it may have).
            titles = page()
            status = client.get("/api/v1/admin/projections/rebuild").json()
            if status["status"] == "idle":
                break
            during.append(titles)
            progress.append(status["position"])
            assert time.monotonic() - started < 120, "the rebuild did not finish in 120 s"
        seconds = time.monotonic() - started
        print(
            f"rebuild of {head} events: {seconds:.1f} s, {len(during)} reads during it, "
            f"fewest items {min(len(t) for t in during)}, replay positions seen {progress}"
        )
        assert status["last_error"] is None
        assert len(during) >= 3 and progress[-1] > progress[0]  # read while it ran
        assert all(titles == [STALE] * 500 for titles in during)  # the old ones, whole
        after = page()
        assert len(after) == 500 and STALE not in after  # the new ones, whole
        ready = client.get("/readyz").json()["projection"]
        assert ready["rebuild"] is None and ready["lag"] == 0
