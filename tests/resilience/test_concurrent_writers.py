"""32 concurrent HTTP writers on one `commitments serve`, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from adapters.bootstrap import Services
from tests.conftest import STORES
from tests.processes import wait_for
from tests.resilience.support import (
    Launcher,
    Writers,
    check_api_reads,
    check_log,
    check_rebuild,
    check_verify,
    prepare,
)

pytestmark = pytest.mark.slow

WRITES = 10  # per writer


@pytest.mark.parametrize("seeded_url", STORES, indirect=True)
def test_concurrent_writers_with_and_without_if_match_lose_and_duplicate_nothing(
    launcher: Launcher, direct: Services
) -> None:
    codes = prepare(direct, 8)  # 4 writers per commitment: 2 with If-Match, 2 without
    before = direct.projection.head()
    server = launcher.server()
    answers = (
        Writers(lambda: [server.base], launcher.token, codes, per_writer=WRITES).start().join()
    )

    counts = check_log(direct, before, answers)
    assert counts["acknowledged"] + counts["rejected"] == 32 * WRITES
    # Writers without If-Match are never refused; those with it lose races (412).
    refused = [a for a in answers if not a.acknowledged]
    assert refused and all(a.if_match and a.status == 412 for a in refused)
    assert counts["acknowledged"] >= 32 * WRITES // 2

    head = direct.projection.head()
    wait_for(lambda: direct.projection.position() == head, timeout=30, what="projection at head")
    check_api_reads(server.base, launcher.token, codes)
    launcher.stop_all()
    check_verify(launcher.url)
    check_rebuild(direct)
