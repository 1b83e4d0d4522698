"""Conditional reads: ETag and If-None-Match → 304, Cache-Control (api/conditional.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.conditional import IMMUTABLE, REVALIDATE, body_tag, none_match
from domain import clock
from tests.api.client import BASE, Api
from tests.api.test_write_api import NEW

CODE = "CMAP-PROS-RAIL"
REPORTS = "/api/v1/reports"


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        ('"7"', True),
        ('W/"7"', True),  # weak comparison: W/ does not matter for If-None-Match
        ('"1", "7"', True),
        ('"1",W/"7" ,"9"', True),
        ("*", True),
        (" * ", True),
        ('"8"', False),
        ('"1", "9"', False),
        ("7", False),  # not a tag: no quotes
        ('"77"', False),
        ("", False),
        ("garbage, ,,", False),
        (None, False),
    ],
)
def test_if_none_match_uses_weak_comparison(header: str | None, matches: bool) -> None:
    assert none_match(header, '"7"') is matches


def test_body_tags_are_strong_and_follow_the_content() -> None:
    tag = body_tag({"a": 1, "b": [2]})
    assert tag.startswith('"') and tag.endswith('"') and not tag.startswith("W/")
    assert body_tag({"b": [2], "a": 1}) == tag
    assert body_tag({"a": 2, "b": [2]}) != tag


def _not_modified(response: object, etag: str, cache_control: str) -> None:
    assert response.status_code == 304  # type: ignore[attr-defined]
    assert response.content == b""  # type: ignore[attr-defined]
    assert response.headers["ETag"] == etag  # type: ignore[attr-defined]
    assert response.headers["Cache-Control"] == cache_control  # type: ignore[attr-defined]


def test_a_commitment_is_not_sent_again_until_a_write_changes_it(api: Api) -> None:
    url = f"{BASE}/{CODE}"
    first = api.get(url, "viewer")
    etag = first.headers["ETag"]
    assert etag == f'"{first.json()["version"]}"'  # still the tag If-Match takes
    assert first.headers["Cache-Control"] == REVALIDATE
    _not_modified(api.get(url, "viewer", headers={"If-None-Match": etag}), etag, REVALIDATE)
    _not_modified(api.get(url, "viewer", headers={"If-None-Match": "W/" + etag}), etag, REVALIDATE)
    _not_modified(
        api.get(url, "viewer", headers={"If-None-Match": '"1", ' + etag}), etag, REVALIDATE
    )
    _not_modified(api.get(url, "viewer", headers={"If-None-Match": "*"}), etag, REVALIDATE)
    other = api.get(url, "viewer", headers={"If-None-Match": '"1"'})
    assert other.status_code == 200 and other.json() == first.json()

    written = api.post(
        f"{url}/status", json={"status": "in_progress", "reason": "r"}, headers={"If-Match": etag}
    )
    assert written.status_code == 200, written.text
    after = api.get(url, "viewer", headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.json()["status"] == "in_progress"
    assert after.headers["ETag"] != etag
    assert after.headers["ETag"] == f'"{after.json()["version"]}"'
    # The stale tag still means a version to If-Match: a write with it is refused.
    stale = api.post(
        f"{url}/status", json={"status": "stalled", "reason": "r"}, headers={"If-Match": etag}
    )
    assert stale.status_code == 412


def test_time_travel_reads_have_their_own_validators(api: Api) -> None:
    url = f"{BASE}/{CODE}"
    current = api.get(url, "viewer").headers["ETag"]
    tags = {}
    for params in (
        {"version": 1},
        {"version": 2},
        {"as_of": "2025-10-01"},
        {"known_at": "2030-01-01T00:00:00Z"},
    ):
        response = api.get(url, "viewer", params=params)
        assert response.status_code == 200
        tag = response.headers["ETag"]
        assert tag == body_tag(response.json())
        tags[tag] = params
        # The current version's tag does not stand for a past view, nor the other way.
        assert (
            api.get(url, "viewer", params=params, headers={"If-None-Match": current}).status_code
            == 200
        )
        assert api.get(url, "viewer", headers={"If-None-Match": tag}).status_code == 200
        again = api.get(url, "viewer", params=params, headers={"If-None-Match": tag})
        _not_modified(again, tag, REVALIDATE)
    assert len(tags) == 4 and current not in tags
    # A past view's tag is no version: a write conditional on it is refused, as before.
    refused = api.post(
        f"{url}/status",
        json={"status": "stalled", "reason": "r"},
        headers={"If-Match": next(iter(tags))},
    )
    assert refused.status_code == 412


def test_the_list_is_not_sent_again_until_the_projection_changes_it(api: Api) -> None:
    params = {"pillar": "prosperity"}
    first = api.get(BASE, "viewer", params=params)
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == REVALIDATE
    _not_modified(
        api.get(BASE, "viewer", params=params, headers={"If-None-Match": etag}), etag, REVALIDATE
    )
    # Another query is another representation, with another tag.
    other = api.get(BASE, "viewer", params={"pillar": "security"}, headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["ETag"] != etag
    item = first.json()["items"][0]
    evidence = {"url": "https://example.org/cache", "title": "New"}
    written = api.post(f"{BASE}/{item['code']}/evidence", json=evidence)
    assert written.status_code == 201, written.text
    api.project()
    changed = api.get(BASE, "viewer", params=params, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    [now] = [i for i in changed.json()["items"] if i["code"] == item["code"]]
    assert now["evidence_total"] == item["evidence_total"] + 1


def test_the_live_report_revalidates_and_the_archive_is_immutable(api: Api) -> None:
    live = api.get(f"{REPORTS}/progress", "viewer", params={"format": "csv"})
    etag = live.headers["ETag"]
    assert etag == f'"{live.headers["X-Content-SHA256"]}"'
    assert live.headers["Cache-Control"] == REVALIDATE
    again = api.get(
        f"{REPORTS}/progress", "viewer", params={"format": "csv"}, headers={"If-None-Match": etag}
    )
    _not_modified(again, etag, REVALIDATE)
    md = api.get(
        f"{REPORTS}/progress", "viewer", params={"format": "md"}, headers={"If-None-Match": etag}
    )
    assert md.status_code == 200 and md.headers["ETag"] != etag

    report = api.post(REPORTS, json={"formats": ["html", "xlsx"]}).json()
    url = f"{REPORTS}/{report['id']}"
    artefact = api.get(url, "viewer", params={"format": "xlsx"})
    tag = f'"{report["sha256"]["xlsx"]}"'
    assert artefact.headers["ETag"] == tag
    assert artefact.headers["Cache-Control"] == IMMUTABLE == "private, max-age=31536000, immutable"
    _not_modified(
        api.get(url, "viewer", params={"format": "xlsx"}, headers={"If-None-Match": tag}),
        tag,
        IMMUTABLE,
    )
    html = api.get(url, "viewer", params={"format": "html"}, headers={"If-None-Match": tag})
    assert html.status_code == 200 and html.content and html.headers["ETag"] != tag
    # A token is still needed: a 304 is not a way around it.
    assert (
        api.get(url, None, params={"format": "xlsx"}, headers={"If-None-Match": tag}).status_code
        == 401
    )


def test_the_openapi_document_declares_304_and_if_none_match(api: Api) -> None:
    paths = api.openapi()["paths"]
    for path in (BASE, f"{BASE}/{{ref}}", f"{REPORTS}/progress", f"{REPORTS}/{{report_id}}"):
        get = paths[path]["get"]
        assert "304" in get["responses"], path
        assert "content" not in get["responses"]["304"]
        headers = [p["name"] for p in get["parameters"] if p["in"] == "header"]
        assert headers == ["If-None-Match"], path


def test_no_304_once_a_day_has_turned_a_derived_field(api: Api) -> None:
    """Recorded when its milestone was still ahead, the same version now reads 'missed':
    a copy fetched then is not today's, so its tag gives no 304 (api/routers/commitments.py)."""
    milestone = {"title": "Dialogue launched", "due_date": "2026-03-31"}
    with clock.frozen_at(datetime(2025, 10, 1, 12, tzinfo=UTC)):
        registered = api.post(BASE, json=NEW | {"milestones": [milestone]})
    assert registered.status_code == 201, registered.text
    etag = registered.headers["ETag"]
    assert registered.json()["milestones"][0]["status"] == "planned"  # judged on that day
    now = api.get(f"{BASE}/{NEW['code']}", "viewer", headers={"If-None-Match": etag})
    assert now.status_code == 200 and now.headers["ETag"] == etag
    assert now.json()["milestones"][0]["status"] == "missed"
