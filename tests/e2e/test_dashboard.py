"""The dashboard in a real browser: Debian's Chromium driven by Playwright.

Screenshots land in test-artifacts/ for people to look at.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


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
def signed_in(browser: Browser, server: tuple[str, str]) -> Iterator[tuple[Watched, str]]:
    base, token = server
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    watched = Watched(context.new_page())
    watched.page.goto(f"{base}/")
    assert watched.page.url.startswith(f"{base}/login")  # reads are not public by default
    watched.page.fill("#token", token)
    watched.page.keyboard.press("Enter")
    watched.page.wait_for_url(f"{base}/")
    yield watched, base
    context.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_portfolio_loads_cleanly_and_filters(
    signed_in: tuple[Watched, str], server: tuple[str, str]
) -> None:
    watched, base = signed_in
    page = watched.page
    assert page.locator("h1").inner_text() == "Portfolio at a glance"
    assert page.locator("#commitments tbody tr").count() == 22
    assert page.locator("figure svg").count() == 4
    page.screenshot(path=ARTIFACTS / "dashboard.png", full_page=True)

    page.select_option("#filter-pillar", "security")
    page.click("button[type=submit]")
    page.wait_for_url("**pillar=security**")
    rows = page.locator("#commitments tbody tr")
    pillars = {rows.nth(i).get_attribute("data-pillar") for i in range(rows.count())}
    expected = httpx.get(
        f"{base}/api/v1/commitments",
        params={"pillar": "security"},
        headers={"Authorization": f"Bearer {server[1]}"},
    ).json()["items"]
    assert pillars == {"security"} and rows.count() == len(expected)

    page.select_option("#filter-pillar", "")
    page.select_option("#filter-health", "amber_red")
    page.click("button[type=submit]")
    page.wait_for_url("**health=amber_red**")
    health = page.locator("#commitments tbody tr")
    found = [health.nth(i).get_attribute("data-health") for i in range(health.count())]
    assert found and set(found) == {"amber_red"}, found
    page.screenshot(path=ARTIFACTS / "dashboard-filtered.png", full_page=True)
    assert watched.errors == []
    assert all(url.startswith(base) for url in watched.requests), watched.requests


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_commitment_page_shows_its_timeline(signed_in: tuple[Watched, str]) -> None:
    watched, base = signed_in
    page = watched.page
    page.click("text=CMAP-PROS-RAIL")
    page.wait_for_url(f"{base}/c/CMAP-PROS-RAIL")
    assert "rail" in page.locator("h1").inner_text().lower()
    timeline = page.locator("#timeline li")
    history = httpx.get(
        f"{base}/api/v1/commitments/CMAP-PROS-RAIL/history",
        headers={"Authorization": f"Bearer {server_token(page)}"},
    )
    assert timeline.count() == len(history.json()) > 5
    assert "Registered" in timeline.last.inner_text()  # newest first, registration last
    assert page.locator("#milestones tbody tr").count() >= 1
    page.screenshot(path=ARTIFACTS / "commitment.png", full_page=True)
    assert watched.errors == []


def server_token(page: Page) -> str:
    cookies = page.context.cookies()
    return next(c["value"] for c in cookies if c["name"] == "commitments_token")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_keyboard_and_phone(browser: Browser, server: tuple[str, str]) -> None:
    base, token = server
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    context.add_cookies([{"name": "commitments_token", "value": token, "url": base}])
    page = context.new_page()
    page.goto(f"{base}/")
    page.keyboard.press("Tab")
    focused: Any = page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to content"
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1  # wide tables scroll inside their box, not the page
    page.screenshot(path=ARTIFACTS / "dashboard-phone.png", full_page=True)
    context.close()
