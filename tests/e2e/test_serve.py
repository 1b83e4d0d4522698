"""`commitments serve` as a real process on a free port, driven over HTTP."""

from __future__ import annotations

import httpx
import pytest
import yaml

from adapters.seeds import COMMITMENTS_FILE, SEEDS_DIR
from tests.processes import Server


def test_every_seeded_commitment_is_served_with_its_history(server: Server) -> None:
    codes = [
        c["code"] for c in yaml.safe_load((SEEDS_DIR / COMMITMENTS_FILE).read_text())["commitments"]
    ]
    assert len(codes) > 20
    with httpx.Client(base_url=server.base, headers=server.auth, timeout=10) as client:
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready"
        assert ready["projection"]["lag"] == 0 and ready["log_position"] > 100
        for code in codes:
            response = client.get(f"/api/v1/commitments/{code}")
            assert response.status_code == 200, response.text
            assert response.json()["code"] == code
            history = client.get(f"/api/v1/commitments/{code}/history").json()
            assert history and history[0]["type"] == "Registered"
            assert [h["version"] for h in history] == list(range(1, len(history) + 1))
        listed = client.get("/api/v1/commitments", params={"limit": 100}).json()["items"]
        assert sorted(item["code"] for item in listed) == sorted(codes)
    anonymous = httpx.get(f"{server.base}/api/v1/commitments/{codes[0]}")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("seeded_url", ["sqlite", "postgresql"], indirect=True)
def test_writes_reach_the_list_through_the_in_process_follower(server: Server) -> None:
    """SQLite: the follower is woken in-process; PostgreSQL: also by LISTEN/NOTIFY."""
    body = {
        "code": "CMAP-GOV-E2E",
        "title": "End-to-end check",
        "pillar": "governance",
        "sectors": ["governance"],
        "parties": ["CA", "MX"],
        "lead_party": "joint",
    }
    with httpx.Client(base_url=server.base, headers=server.auth, timeout=10) as client:
        created = client.post("/api/v1/commitments", json=body)
        assert created.status_code == 201, created.text
        progress = client.post(
            "/api/v1/commitments/CMAP-GOV-E2E/progress",
            json={"percent": 15, "as_of": "2026-01-31", "note": "started"},
            headers={"If-Match": created.headers["ETag"], "Idempotency-Key": "e2e-1"},
        )
        assert progress.status_code == 201, progress.text
        position = progress.headers["X-Log-Position"]
        listed = client.get("/api/v1/commitments", params={"min_position": position, "q": "E2E"})
        assert listed.status_code == 200, listed.text
        assert int(listed.headers["X-Log-Position"]) >= int(position)
        [item] = listed.json()["items"]
        assert (item["code"], item["progress"], item["status"]) == (
            "CMAP-GOV-E2E",
            15,
            "in_progress",
        )
        replay = client.post(
            "/api/v1/commitments/CMAP-GOV-E2E/progress",
            json={"percent": 15, "as_of": "2026-01-31", "note": "started"},
            headers={"Idempotency-Key": "e2e-1"},
        )
        assert replay.status_code == 201, replay.text
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.headers["X-Log-Position"] == position
        ready = client.get("/readyz").json()
        assert ready["projection"]["follower"] == "running"
        assert ready["projection"]["position"] >= int(position)
