"""`commitments serve` as a real process on a free port, driven over HTTP."""

from __future__ import annotations

import httpx


def test_every_seeded_commitment_is_served_with_its_history(server: tuple[str, str]) -> None:
    import yaml

    from adapters.seeds import SEEDS_DIR

    base, token = server
    codes = [
        c["code"]
        for c in yaml.safe_load((SEEDS_DIR / "commitments.yaml").read_text())["commitments"]
    ]
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
        assert client.get("/readyz").json()["status"] == "ready"
        for code in codes:
            response = client.get(f"/api/v1/commitments/{code}")
            assert response.status_code == 200, response.text
            assert response.json()["code"] == code
            history = client.get(f"/api/v1/commitments/{code}/history").json()
            assert history and history[0]["type"] == "Registered"
        anonymous = httpx.get(f"{base}/api/v1/commitments/{codes[0]}")
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"] == "application/problem+json"


def test_writes_reach_the_list_through_the_in_process_follower(server: tuple[str, str]) -> None:
    base, token = server
    auth = {"Authorization": f"Bearer {token}"}
    body = {
        "code": "CMAP-GOV-E2E",
        "title": "End-to-end check",
        "pillar": "governance",
        "sectors": ["governance"],
        "parties": ["CA", "MX"],
        "lead_party": "joint",
    }
    with httpx.Client(base_url=base, headers=auth, timeout=10) as client:
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
        assert replay.headers["Idempotent-Replayed"] == "true"
        ready = client.get("/readyz").json()
        assert ready["projection"]["follower"] == "running"
