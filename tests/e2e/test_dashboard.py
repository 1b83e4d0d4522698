"""The dashboard in a real browser: Debian's Chromium driven by Playwright.

Each test gets a fresh Chromium profile (its own user-data dir) and a `commitments serve`
process on the seeded database. Screenshots land in test-artifacts/ for people to look at.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, Route, sync_playwright

from tests.processes import Server

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

OpenBrowser = Callable[..., BrowserContext]


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def open_browser(playwright: Playwright, tmp_path: Path) -> Iterator[OpenBrowser]:
    """Chromium on a fresh user-data dir of this test; closed at the end."""
    opened: list[BrowserContext] = []

    def launch(**options: Any) -> BrowserContext:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / f"chromium-profile-{len(opened)}",
            executable_path=CHROMIUM,
            args=FLAGS,
            headless=True,
            **options,
        )
        opened.append(context)
        return context

    yield launch
    for context in opened:
        context.close()


class Watched:
    """A page that records console errors and every URL it requests."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))


@pytest.fixture
def signed_in(open_browser: OpenBrowser, server: Server) -> Watched:
    context = open_browser(viewport={"width": 1280, "height": 900})
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(f"{server.base}/")
    assert page.url.startswith(f"{server.base}/login")  # reads are not public by default
    page.fill("#token", "cmt_not-a-token")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.startswith(f"{server.base}/login")  # a wrong token does not sign in
    assert (
        page.get_by_role("alert").inner_text()
        == "That token is unknown or revoked, or has expired."
    )
    watched = Watched(page)  # from here on: no console error, no request elsewhere
    page.fill("#token", server.token)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.base}/")
    return watched


def api_get(server: Server, path: str, **params: Any) -> Any:
    response = httpx.get(f"{server.base}{path}", params=params, headers=server.auth, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_portfolio_loads_cleanly_and_filters(signed_in: Watched, server: Server) -> None:
    watched, base = signed_in, server.base
    page = watched.page
    everything = api_get(server, "/api/v1/commitments", limit=100)["items"]
    assert page.locator("h1").inner_text() == "Portfolio at a glance"
    assert page.locator("#commitments tbody tr").count() == len(everything) == 22
    assert page.locator("figure svg").count() == 4
    page.screenshot(path=ARTIFACTS / "dashboard.png", full_page=True)

    page.select_option("#filter-pillar", "security")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**pillar=security**")
    rows = page.locator("#commitments tbody tr")
    pillars = {rows.nth(i).get_attribute("data-pillar") for i in range(rows.count())}
    expected = api_get(server, "/api/v1/commitments", pillar="security")["items"]
    assert pillars == {"security"} and rows.count() == len(expected) > 0

    page.select_option("#filter-pillar", "")
    page.select_option("#filter-health", "amber_red")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**health=amber_red**")
    health = page.locator("#commitments tbody tr")
    found = [health.nth(i).get_attribute("data-health") for i in range(health.count())]
    assert found and set(found) == {"amber_red"}, found
    at_risk = api_get(server, "/api/v1/commitments", health="amber_red")["items"]
    assert len(found) == len(at_risk)
    page.screenshot(path=ARTIFACTS / "dashboard-filtered.png", full_page=True)
    assert watched.errors == []
    assert all(url.startswith(base) for url in watched.requests), watched.requests


def test_a_commitment_page_shows_its_timeline(signed_in: Watched, server: Server) -> None:
    watched, base = signed_in, server.base
    page = watched.page
    page.click("text=CMAP-PROS-RAIL")
    page.wait_for_url(f"{base}/c/CMAP-PROS-RAIL")
    assert "rail" in page.locator("h1").inner_text().lower()
    timeline = page.locator("#timeline li")
    # The browser's session cookie is the token it signed in with.
    cookie = next(c for c in page.context.cookies() if c["name"] == "commitments_token")
    assert cookie["value"] == server.token and cookie["httpOnly"]
    history = api_get(server, "/api/v1/commitments/CMAP-PROS-RAIL/history")
    assert timeline.count() == len(history) > 5
    assert "Registered" in timeline.last.inner_text()  # newest first, registration last
    assert page.locator("#milestones tbody tr").count() >= 1
    page.screenshot(path=ARTIFACTS / "commitment.png", full_page=True)
    # Signing out posts the header's form (with its CSRF token) and forgets the cookie.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/login")
    assert "commitments_token" not in {c["name"] for c in page.context.cookies()}
    page.goto(f"{base}/c/CMAP-PROS-RAIL")
    assert page.url.startswith(f"{base}/login")
    assert watched.errors == []


def test_keyboard_and_phone(open_browser: OpenBrowser, server: Server) -> None:
    context = open_browser(viewport={"width": 390, "height": 844}, is_mobile=True)
    context.add_cookies([{"name": "commitments_token", "value": server.token, "url": server.base}])
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(f"{server.base}/")
    assert page.locator("h1").inner_text() == "Portfolio at a glance"
    page.keyboard.press("Tab")
    focused: Any = page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to content"
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1  # wide tables scroll inside their box, not the page
    page.screenshot(path=ARTIFACTS / "dashboard-phone.png", full_page=True)


def test_the_api_docs_render_with_no_network(open_browser: OpenBrowser, server: Server) -> None:
    """/docs and /redoc load nothing but from the server (their assets are installed),
    and their policy lets them run: no CSP violation in the console."""
    context = open_browser(viewport={"width": 1280, "height": 900})
    elsewhere: list[str] = []

    def only_the_server(route: Route) -> None:
        if route.request.url.startswith(server.base):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_server)
    page = context.pages[0] if context.pages else context.new_page()
    watched = Watched(page)
    page.goto(f"{server.base}/docs")
    title = page.locator(".swagger-ui .info .title")
    title.wait_for()
    assert "Commitments tracker" in title.inner_text()
    assert page.locator(".opblock").count() > 20  # every operation, from /openapi.json
    page.screenshot(path=ARTIFACTS / "docs.png")
    page.goto(f"{server.base}/redoc")
    heading = page.locator("h1").first
    heading.wait_for()
    assert "Commitments tracker" in heading.inner_text()
    page.screenshot(path=ARTIFACTS / "redoc.png")
    # ReDoc's "powered by" logo is an image on its CDN: the policy blocks it, so it never
    # leaves the browser; anything else in the console is a failure.
    logo = "https://cdn.redoc.ly/redoc/logo-mini.svg"
    errors = [e for e in watched.errors if not (logo in e and "img-src" in e)]
    assert elsewhere == [] and errors == [], (elsewhere, watched.errors)
