"""The dashboard in a real browser: Debian's Chromium driven by Playwright.

Each test gets a fresh Chromium profile (its own user-data dir) and a `commitments serve`
process on the seeded database. Screenshots land in test-artifacts/ for people to look at
(`make clean` removes them). The pages are checked on a phone (420 px) and a desktop
(1400 px), with the keyboard alone, and by axe-core against WCAG 2.1 A and AA.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
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
        == "That access key is unknown, has been revoked or has expired."
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


def api_get(server: Server, path: str, params: Any = None, **named: Any) -> Any:
    response = httpx.get(
        f"{server.base}{path}", params=params or named, headers=server.auth, timeout=10
    )
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

    # Filters are checkboxes (no script): ticking two values of one filter means either.
    page.get_by_text("Filters and order").click()
    page.check("#filter-pillar input[value=security]")
    page.check("#filter-pillar input[value=governance]")
    page.click("details button[type=submit]")
    page.wait_for_url("**pillar=security&pillar=governance**")
    rows = page.locator("#commitments tbody tr")
    pillars = [rows.nth(i).get_attribute("data-pillar") for i in range(rows.count())]
    params = [("pillar", "security"), ("pillar", "governance")]
    expected = api_get(server, "/api/v1/commitments", params=params)["items"]
    assert set(pillars) == {"security", "governance"} and len(pillars) == len(expected)

    page.uncheck("#filter-pillar input[value=security]")
    page.uncheck("#filter-pillar input[value=governance]")
    page.check("#filter-health input[value=amber_red]")
    page.select_option("#sort", "progress")
    page.select_option("#order", "desc")
    page.click("details button[type=submit]")
    page.wait_for_url("**health=amber_red**")
    health = page.locator("#commitments tbody tr")
    found = [health.nth(i).get_attribute("data-health") for i in range(health.count())]
    assert found and set(found) == {"amber_red"}, found
    at_risk = api_get(server, "/api/v1/commitments", health="amber_red")["items"]
    assert len(found) == len(at_risk)
    page.fill("#q", "corridor")
    page.keyboard.press("Enter")
    page.wait_for_url("**q=corridor**")
    searched = page.locator("#commitments tbody tr")
    assert searched.count() == len(
        api_get(server, "/api/v1/commitments", health="amber_red", q="corridor")["items"]
    )
    page.screenshot(path=ARTIFACTS / "dashboard-filtered.png", full_page=True)
    assert watched.errors == []
    assert all(url.startswith(base) for url in watched.requests), watched.requests


def test_a_commitment_page_shows_its_timeline(signed_in: Watched, server: Server) -> None:
    watched, base = signed_in, server.base
    page = watched.page
    page.click("text=CMAP-PROS-RAIL")
    page.wait_for_url(f"{base}/c/CMAP-PROS-RAIL")
    assert "rail" in page.locator("h1").inner_text().lower()
    timeline = page.locator("#timeline > li")
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


# ---- layouts at 420 and 1400 px, the keyboard, axe-core ---------------------------------

PHONE = {"width": 420, "height": 900}
DESKTOP = {"width": 1400, "height": 900}
RAIL = "CMAP-PROS-RAIL"
# WCAG 2.0 and 2.1, levels A and AA: what axe-core checks them with.
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def browse(open_browser: OpenBrowser, server: Server, viewport: dict[str, int]) -> Page:
    """A signed-in page at this size. axe-core is injected by Playwright's evaluate, which
    the pages' script-free Content-Security-Policy would otherwise refuse."""
    # en-US: the date field's order (month, day, year) the keyboard test types in.
    context = open_browser(viewport=viewport, bypass_csp=True, locale="en-US")
    page = context.pages[0] if context.pages else context.new_page()
    sign_in(page, server.base, server.token)
    return page


def box(page: Page, selector: str) -> dict[str, float]:
    found: Any = page.locator(selector).first.bounding_box()
    assert found is not None, selector
    return dict(found)


def no_sideways_scroll(page: Page) -> None:
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, overflow


def test_a_phone_shows_status_health_and_progress_first(
    open_browser: OpenBrowser, server: Server
) -> None:
    page = browse(open_browser, server, PHONE)
    page.goto(f"{server.base}/")
    page.screenshot(path=ARTIFACTS / "portfolio-420.png", full_page=True)
    page.screenshot(path=ARTIFACTS / "portfolio-420-first-screen.png")
    no_sideways_scroll(page)
    first = "#commitments tbody tr:first-child"
    cells = {name: box(page, f"{first} .c-{name}") for name in ("status", "health", "progress")}
    code, title = box(page, f"{first} .c-code"), box(page, f"{first} .c-title")
    for name, cell in cells.items():
        # Within the screen's width and above the fold, and before the code and title.
        assert cell["x"] >= 0 and cell["x"] + cell["width"] <= PHONE["width"], name
        assert cell["y"] + cell["height"] <= PHONE["height"], (name, cell)
        assert cell["y"] < code["y"] < title["y"], name
    assert code["x"] + code["width"] <= PHONE["width"]
    assert title["x"] + title["width"] <= PHONE["width"] and title["height"] > 0
    # Each row is a card: every cell of every row inside the screen's width.
    right_edges: Any = page.evaluate(
        "[...document.querySelectorAll('#commitments td')]"
        ".map(td => td.getBoundingClientRect().right)"
    )
    assert max(right_edges) <= PHONE["width"]
    # A commitment's page: nothing sideways either, its wide tables scroll in their box.
    page.goto(f"{server.base}/c/{RAIL}")
    no_sideways_scroll(page)
    chart = box(page, "#progress-chart svg")
    assert chart["x"] >= 0 and chart["x"] + chart["width"] <= PHONE["width"]
    page.screenshot(path=ARTIFACTS / "commitment-420.png", full_page=True)


def test_a_desktop_shows_the_full_table(open_browser: OpenBrowser, server: Server) -> None:
    page = browse(open_browser, server, DESKTOP)
    page.goto(f"{server.base}/?sort=progress&order=desc")
    page.screenshot(path=ARTIFACTS / "portfolio-1400.png", full_page=True)
    no_sideways_scroll(page)
    headings = page.locator("#commitments thead th")
    assert headings.count() == 9 and headings.first.is_visible()
    tops = {round(box(page, f"#commitments thead th:nth-child({i})")["y"]) for i in range(1, 10)}
    assert len(tops) == 1  # one header row
    first = "#commitments tbody tr:first-child"
    cells = [box(page, f"{first} td:nth-child({i})") for i in range(1, 10)]
    assert len({round(c["y"]) for c in cells}) == 1  # a row, not a card
    assert [c["x"] for c in cells] == sorted(c["x"] for c in cells)  # code first, as read
    assert cells[-1]["x"] + cells[-1]["width"] <= DESKTOP["width"]
    assert page.locator("#commitments th[aria-sort=descending]").inner_text().startswith("Progress")
    page.goto(f"{server.base}/c/{RAIL}")
    page.screenshot(path=ARTIFACTS / "commitment-1400.png", full_page=True)


def test_keyboard_skip_link_focus_and_time_travel_by_form(
    open_browser: OpenBrowser, server: Server
) -> None:
    page = browse(open_browser, server, DESKTOP)
    page.goto(f"{server.base}/c/{RAIL}")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    outline: Any = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"  # focus is visible
    assert box(page, "a.skip")["x"] >= 0  # shown on screen when focused
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"
    page.keyboard.press("Tab")
    inside: Any = page.evaluate(
        "document.getElementById('content').contains(document.activeElement)"
    )
    assert inside  # the next stop is in the page's content, past the header
    # Time travel with the keyboard alone, through the page's form (no script).
    page.locator("details.timetravel-forms summary").focus()
    page.keyboard.press("Enter")  # opens the details
    page.locator("#tt-as-of").focus()
    page.keyboard.type("01312026")  # Chromium's date field: month, day, year
    page.locator("#tt-as-of").press("Enter")
    page.wait_for_url("**as_of=2026-01-31**")
    banner = page.locator("#time-travel-banner")
    assert "As it stood on 2026-01-31, as known now." in banner.inner_text()
    page.screenshot(path=ARTIFACTS / "commitment-as-of.png", full_page=True)
    page.get_by_role("link", name="Back to now").click()
    page.wait_for_url(f"{server.base}/c/{RAIL}")
    assert page.locator("#time-travel-banner").count() == 0


def assert_no_violations(page: Page, where: str) -> None:
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_AA}})
    violations = results.response["violations"]
    assert results.violations_count == 0, (where, results.generate_report())
    assert violations == []
    assert len(results.response["passes"]) > 10, where  # axe did run its checks


def test_the_pages_pass_axe_core_wcag_aa(open_browser: OpenBrowser, server: Server) -> None:
    """Portfolio, a commitment now and in the past, a bad time-travel value, the sign-in
    and not-found pages: no WCAG 2.1 A/AA violation, at desktop and phone widths."""
    for viewport in (DESKTOP, PHONE):
        page = browse(open_browser, server, viewport)
        for path in (
            "/",
            "/?status=stalled&status=in_progress&sort=health",
            f"/c/{RAIL}",
            f"/c/{RAIL}?as_of=2026-01-31",
            f"/c/{RAIL}?version=3",
            f"/c/{RAIL}?version=abc",
            "/c/CMAP-NO-SUCH",
            "/?lang=fr",
            f"/c/{RAIL}?lang=es",
        ):
            page.goto(f"{server.base}{path}")
            page.locator("details").first.evaluate("d => d.open = true") if path == "/" else None
            assert_no_violations(page, f"{path} at {viewport['width']}px")
        page.context.clear_cookies()
        page.goto(f"{server.base}/login")
        assert_no_violations(page, f"/login at {viewport['width']}px")
