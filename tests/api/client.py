"""A client of the application for the HTTP tests: requests as one of PEOPLE, tokens
made on demand on the app's own services, and the problem+json check."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from adapters.bootstrap import Services
from adapters.projection import log_head
from api.app import create_app
from tests.conftest import settings
from tests.support import token_row

BASE = "/api/v1/commitments"
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token_of(page: str) -> str:
    """The CSRF token of the form on a page (sign-in, sign-out)."""
    match = _CSRF_FIELD.search(page)
    assert match, page
    return match.group(1)


def post_login(client: TestClient, token: str, next: str | None = None) -> httpx.Response:
    """Sign in as a browser does: fetch the form (its CSRF token and cookie), then post it."""
    form = client.get("/login")
    data = {"token": token, "csrf_token": csrf_token_of(form.text)} | (
        {"next": next} if next else {}
    )
    response: httpx.Response = client.post("/login", data=data, follow_redirects=False)
    return response


# Who holds which token: name (recorded, with the token's id, as the actor of their
# events), role, party. Made as rows, as before 0.6.0, without events (tests/support.py):
# the log holds what each test writes, and "partyless" could be made then only.
PEOPLE: dict[str, tuple[str, str, str | None]] = {
    "admin": ("admin-1", "admin", None),
    "ca": ("ana.ca", "editor", "CA"),
    "mx": ("luis.mx", "editor", "MX"),
    "us": ("sam.us", "editor", "US"),
    "partyless": ("nobody", "editor", None),
    "viewer": ("vera", "viewer", None),
}


# The secrets of the tokens made, by database and person (each test has its own database).
_MADE: dict[tuple[str, str], str] = {}


@dataclass
class Api:
    """A test client of one app, making requests as one of PEOPLE (None: no token)."""

    app: FastAPI
    client: TestClient
    url: str
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    def token(self, who: str) -> str:
        if who not in self.tokens:
            # A name holds one token per database: another app on it shares the secret.
            key = (self.url, who)
            if key not in _MADE:
                name, role, party = PEOPLE[who]
                _MADE[key] = token_row(self.services.database, name, role, party)
            self.tokens[who] = _MADE[key]
        return self.tokens[who]

    def actor(self, who: str) -> str:
        """What the events of `who` record as their actor: name#<8 hex digits of the id>."""
        self.token(who)
        return self.services.tokens.get(PEOPLE[who][0]).actor

    def request(
        self, method: str, path: str, who: str | None = "admin", **kwargs: Any
    ) -> httpx.Response:
        headers = {} if who is None else {"Authorization": f"Bearer {self.token(who)}"}
        headers |= kwargs.pop("headers", {})
        response: httpx.Response = self.client.request(method, path, headers=headers, **kwargs)
        return response

    def get(self, path: str, who: str | None = "admin", **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, who, **kwargs)

    def post(self, path: str, who: str | None = "admin", **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, who, **kwargs)

    def patch(self, path: str, who: str | None = "admin", **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, who, **kwargs)

    def delete(self, path: str, who: str | None = "admin", **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, who, **kwargs)

    def json(self, path: str, who: str | None = "admin", **kwargs: Any) -> Any:
        """GET a JSON document that must be there."""
        response = self.get(path, who, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def commitment(self, code: str) -> dict[str, Any]:
        body: dict[str, Any] = self.json(f"{BASE}/{code}")
        return body

    def history(self, code: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.json(f"{BASE}/{code}/history")
        return entries

    def head(self) -> int:
        """The log's last position (read from the database: cheaper than /readyz)."""
        with self.services.database.reading() as connection:
            return log_head(connection)

    def project(self) -> None:
        """Bring the read models up to the log (the follower's job in a server)."""
        self.services.projection.catch_up()

    def openapi(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.client.get("/openapi.json").json()
        return spec


@contextmanager
def serving(url: str, **overrides: Any) -> Iterator[Api]:
    """The app on `url` for the length of a block (another process, other settings)."""
    app = create_app(settings(url, **overrides))
    with TestClient(app) as client:
        yield Api(app, client, url)


def problem(response: httpx.Response, status: int) -> str:
    """Assert an RFC 9457 problem document with this status; its detail."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"]
    assert body["type"].startswith("urn:commitments:problem:")
    return str(body["detail"])
