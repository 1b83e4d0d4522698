"""The consistency rules over HTTP: an effective date before the commitment's start is a
422 problem saying so; a partial completion is recorded and shown."""

from __future__ import annotations

import pytest

from tests.api.client import Api, problem

RAIL = "/api/v1/commitments/CMAP-PROS-RAIL"  # started 2025-09-18 (seeds)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/progress", {"percent": 5, "as_of": "2024-01-01", "note": "n"}, "as_of"),
        ("/health", {"rating": "red", "rationale": "r", "as_of": "2024-01-01"}, "as_of"),
        ("/milestones/m2/complete", {"completed_on": "2020-01-01"}, "completed_on"),
        ("/indicators/i1/measurements", {"value": 1, "as_of": "2025-09-17"}, "as_of"),
    ],
)
def test_an_effective_date_before_the_start_is_422(
    api: Api, path: str, body: dict[str, object], field: str
) -> None:
    before = api.commitment("CMAP-PROS-RAIL")["version"]
    detail = problem(api.post(RAIL + path, json=body), 422)
    assert detail.startswith(f"{field} {body.get(field)} is before CMAP-PROS-RAIL's start date")
    assert "2025-09-18" in detail
    assert api.commitment("CMAP-PROS-RAIL")["version"] == before


def test_a_partial_completion_is_recorded_and_counts_its_figure(api: Api) -> None:
    # Reopen the stalled rail commitment, then complete it in part (an admin closes alone).
    assert api.post(f"{RAIL}/status", json={"status": "in_progress", "reason": "r"}).is_success
    done = api.post(
        f"{RAIL}/status", json={"status": "completed", "reason": "most of it", "partial": True}
    )
    assert done.status_code == 200, done.text
    body = api.commitment("CMAP-PROS-RAIL")
    assert (body["status"], body["completion_partial"]) == ("completed", True)
    assert body["counted_progress"] == body["progress"] == 30
    assert api.history("CMAP-PROS-RAIL")[-1]["data"]["partial"] is True
    wrong = {"status": "in_progress", "reason": "r", "partial": True}
    assert problem(api.post(f"{RAIL}/status", json=wrong), 422) == (
        "partial is only for status completed"
    )
