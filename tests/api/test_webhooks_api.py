"""/api/v1/webhooks: admins register (the secret once), list, remove, read deliveries."""

from __future__ import annotations

import pytest

from tests.api.client import Api

BASE = "/api/v1/webhooks"


def test_register_list_get_and_remove(api: Api) -> None:
    created = api.post(
        BASE,
        json={
            "url": "https://receiver.example/hook",
            "event_types": ["ProgressLogged", "StatusChanged"],
            "description": "Ministry",
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 30
    assert body["event_types"] == ["ProgressLogged", "StatusChanged"]
    assert body["created_by"] == api.actor("admin")
    assert body["position"] == api.head()  # from now on
    assert created.headers["Location"] == f"{BASE}/{body['id']}"

    # The secret is never shown again.
    listed = api.json(BASE)
    assert [w["id"] for w in listed] == [body["id"]]
    assert "secret" not in listed[0]
    one = api.json(f"{BASE}/{body['id']}")
    assert "secret" not in one and one["url"] == "https://receiver.example/hook"
    assert body["secret"] not in api.get(BASE).text
    assert api.json(f"{BASE}/{body['id']}/deliveries") == []

    assert api.delete(f"{BASE}/{body['id']}").status_code == 204
    assert api.json(BASE) == []
    removed = api.json(BASE, params={"include_removed": "true"})
    assert removed[0]["removed_at"] is not None
    for path in (f"{BASE}/{body['id']}", f"{BASE}/{body['id']}/deliveries"):
        assert api.get(path).status_code == 404
    assert api.delete(f"{BASE}/{body['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"url": "ftp://example.org/x"}, "http"),
        ({"url": "not a url"}, "http"),
        ({"url": "https://example.org/", "event_types": ["Nope"]}, "unknown event types"),
        ({"url": "https://example.org/", "secret": "mine"}, "secret"),
        ({}, "url"),
        ({"url": "https://example.org/\u0000x"}, "http"),
        ({"url": "https://example.org/", "description": "a\u0000b"}, "control characters"),
    ],
)
def test_bad_registrations_are_422_problems(api: Api, body: dict[str, object], names: str) -> None:
    response = api.post(BASE, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert names in response.text
    assert api.json(BASE) == []


def test_only_admins_manage_webhooks(api: Api) -> None:
    for who in ("viewer", "ca"):
        assert api.get(BASE, who=who).status_code == 403
        assert api.post(BASE, who=who, json={"url": "https://example.org/"}).status_code == 403
    assert api.get(BASE, who=None).status_code == 401
    assert api.get(f"{BASE}/nope").status_code == 404
    assert api.delete(f"{BASE}/nope").status_code == 404
    assert api.get(f"{BASE}/nope/deliveries").status_code == 404
