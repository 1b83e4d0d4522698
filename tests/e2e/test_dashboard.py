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


def sign_in(page: Page, base: str, token: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#token", token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


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
    # The browser's cookie is a session's id, not the token it signed in with.
    cookie = next(c for c in page.context.cookies() if c["name"] == "commitments_session")
    assert cookie["value"] != server.token and cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    history = api_get(server, "/api/v1/commitments/CMAP-PROS-RAIL/history")
    assert timeline.count() == len(history) > 5
    assert "Registered" in timeline.last.inner_text()  # newest first, registration last
    assert page.locator("#milestones tbody tr").count() >= 1
    page.screenshot(path=ARTIFACTS / "commitment.png", full_page=True)
    # Signing out posts the header's form (with its CSRF token) and forgets the cookie.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/login")
    assert "commitments_session" not in {c["name"] for c in page.context.cookies()}
    page.goto(f"{base}/c/CMAP-PROS-RAIL")
    assert page.url.startswith(f"{base}/login")
    assert watched.errors == []


def test_keyboard_and_phone(open_browser: OpenBrowser, server: Server) -> None:
    context = open_browser(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.pages[0] if context.pages else context.new_page()
    sign_in(page, server.base, server.token)
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


def editor_token(server: Server, name: str) -> str:
    """A new editor token of Canada, issued over the API by the server's admin."""
    response = httpx.post(
        f"{server.base}/api/v1/tokens",
        json={"name": name, "role": "editor", "party": "CA"},
        headers=server.auth,
        timeout=10,
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


@pytest.mark.parametrize(("width", "height"), [(1400, 900), (420, 860)], ids=["desktop", "phone"])
def test_an_official_records_progress_and_a_milestone_through_the_forms(
    open_browser: OpenBrowser, server: Server, width: int, height: int
) -> None:
    """Sign in, log progress (after an error, shown in place, with the input kept) and
    complete a milestone, with nothing but the forms, at desktop and phone widths."""
    code, base = "CMAP-PROS-RAIL", server.base
    context = open_browser(viewport={"width": width, "height": height}, is_mobile=width < 600)
    page = context.pages[0] if context.pages else context.new_page()
    watched = Watched(page)
    sign_in(page, base, editor_token(server, f"ana.forms.{width}"))
    page.goto(f"{base}/c/{code}")
    before = len(api_get(server, f"/api/v1/commitments/{code}/history"))

    page.get_by_role("link", name="Log progress").click()
    page.wait_for_url(f"{base}/c/{code}/progress")
    page.get_by_label("Progress (percent)").fill("45")
    page.get_by_label("As of").fill("2099-01-31")  # in the future: refused
    page.get_by_label("Note").fill("Corridor study: field work done")
    page.get_by_role("button", name="Log progress").click()
    page.wait_for_load_state()
    error = page.locator("#f-as_of-error")
    assert "is in the future" in error.inner_text()
    assert page.get_by_label("As of").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Note").input_value() == "Corridor study: field work done"
    assert page.get_by_label("Progress (percent)").input_value() == "45"
    assert page.locator("#error-summary").is_visible()
    page.screenshot(path=ARTIFACTS / f"form-error-{width}.png", full_page=True)
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1
    page.get_by_label("As of").fill("2026-10-31")
    page.get_by_role("button", name="Log progress").click()
    page.wait_for_url(f"{base}/c/{code}?saved=progress#actions")
    assert page.get_by_role("status").filter(has_text="Progress recorded.").is_visible()

    milestones = api_get(server, f"/api/v1/commitments/{code}")["milestones"]
    open_one = next(m for m in milestones if not m["completed_on"])
    page.get_by_role("link", name="Complete a milestone").click()
    page.get_by_label("Milestone").select_option(open_one["id"])
    page.get_by_label("Completed on").fill("2026-11-02")
    page.get_by_label("Note").fill("Signed in Ottawa")
    page.get_by_role("button", name="Complete a milestone").click()
    page.wait_for_url(f"{base}/c/{code}?saved=milestones/complete#actions")
    page.screenshot(path=ARTIFACTS / f"form-recorded-{width}.png", full_page=True)

    history = api_get(server, f"/api/v1/commitments/{code}/history")[before:]
    assert [e["type"] for e in history] == ["ProgressLogged", "MilestoneCompleted"]
    assert history[0]["data"]["percent"] == 45 and history[0]["data"]["as_of"] == "2026-10-31"
    assert history[1]["data"]["milestone_id"] == open_one["id"]
    assert all(e["actor"].startswith(f"ana.forms.{width}#") for e in history)
    # The refused form came with its status (422), which Chromium logs; nothing else.
    assert [e for e in watched.errors if "status of 422" not in e] == []
    assert all(url.startswith(base) for url in watched.requests), watched.requests
