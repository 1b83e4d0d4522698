"""Browser safety over HTTP: security headers on every kind of response, CSRF tokens on
the sign-in form, and a Secure cookie when served over HTTPS."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.security import CSRF_COOKIE, DOCS_ASSETS, DOCS_POLICY, PAGE_POLICY
from tests.api.client import BASE, Api, post_login, problem
from tests.conftest import settings


def assert_safe(response: httpx.Response, policy: str = PAGE_POLICY) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["content-security-policy"] == policy


def test_every_kind_of_response_carries_the_security_headers(api: Api) -> None:
    client = api.client
    viewer = {"Authorization": f"Bearer {api.token('viewer')}"}
    login = client.get("/login")
    assert login.headers["content-type"].startswith("text/html")
    assert_safe(login)
    assert_safe(client.get("/", follow_redirects=False))  # the redirect to sign in
    assert_safe(client.get(BASE, headers=viewer))  # JSON
    assert_safe(client.get("/healthz"))
    problem(client.get(BASE), 401)
    assert_safe(client.get(BASE))  # problem+json
    problem(client.get(f"{BASE}/CMAP-NOPE", headers=viewer), 404)
    assert_safe(client.get(f"{BASE}/CMAP-NOPE", headers=viewer))
    assert_safe(client.post(BASE, content=b"x" * (65 * 1024)))  # 413 of the body limit
    assert post_login(client, api.token("viewer")).status_code == 303
    for page in ("/", "/c/CMAP-PROS-RAIL", "/c/CMAP-NOPE", "/report.html", "/report.md"):
        response = client.get(page)
        assert response.status_code in (200, 404), page
        assert_safe(response)
    report = client.get("/api/v1/reports/progress", params={"format": "html"}, headers=viewer)
    assert report.status_code == 200 and "<svg" in report.text
    assert_safe(report)
    # The interactive docs run Swagger UI and ReDoc from this server: a policy for that.
    for docs in ("/docs", "/redoc"):
        assert_safe(client.get(docs), DOCS_POLICY)


def test_the_interactive_docs_need_nothing_from_elsewhere(api: Api) -> None:
    """Swagger UI and ReDoc come from the installed package, so /docs works offline."""
    client = api.client
    for docs, assets in (
        ("/docs", ("swagger-ui-bundle.js", "swagger-ui.css")),
        ("/redoc", ("redoc.standalone.js",)),
    ):
        page = client.get(docs)
        assert page.status_code == 200
        assert "https://" not in page.text and "http://" not in page.text, page.text
        for asset in assets:
            assert f'"{DOCS_ASSETS}/{asset}"' in page.text
            served = client.get(f"{DOCS_ASSETS}/{asset}")
            assert served.status_code == 200 and len(served.content) > 10_000


def test_an_unexpected_error_carries_the_headers_too(seeded_url: str) -> None:
    app = create_app(settings(seeded_url))

    def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert_safe(response)


def _form_token(client: TestClient) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert match
    return match.group(1)


def test_a_sign_in_without_a_valid_csrf_token_is_refused(api: Api) -> None:
    client, token = api.client, api.token("viewer")
    refused = [
        {"token": token},  # no token in the form
        {"token": token, "csrf_token": ""},
        {"token": token, "csrf_token": "forged.value.here"},
        {"token": token, "csrf_token": _form_token(client) + "x"},  # tampered
    ]
    # A token another server signed (another secret), for this browser's cookie.
    with TestClient(create_app(settings(api.url))) as elsewhere:
        elsewhere.cookies.set(CSRF_COOKIE, client.cookies[CSRF_COOKIE])
        refused.append({"token": token, "csrf_token": _form_token(elsewhere)})
    for data in refused * 3:  # more than the failed sign-ins allowed: none is counted
        response = client.post("/login", data=data, follow_redirects=False)
        assert response.status_code == 403, data
        assert "did not come from this site" in response.text
        assert "commitments_session" not in response.headers.get("set-cookie", "")
    # A valid token signed for another browser's cookie: refused (double submit).
    stranger = TestClient(api.app)
    stolen = _form_token(stranger)
    response = client.post("/login", data={"token": token, "csrf_token": stolen})
    assert response.status_code == 403
    # The form's own token works, and no failed attempt was counted above.
    signed = post_login(client, token)
    assert signed.status_code == 303 and "commitments_session=" in signed.headers["set-cookie"]
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_cookies_are_secure_when_served_over_https(api: Api, scheme: str) -> None:
    client = TestClient(api.app, base_url=f"{scheme}://testserver")
    form = client.get("/login")
    signed = post_login(client, api.token("viewer"))
    assert signed.status_code == 303
    for cookie in (form.headers["set-cookie"], signed.headers["set-cookie"]):
        attributes = [a.strip().lower() for a in cookie.split(";")]
        assert "httponly" in attributes and "samesite=strict" in attributes
        assert ("secure" in attributes) is (scheme == "https"), cookie
