"""The HTML report's charts in Chromium: readable on a 420-pixel phone (each chart keeps
its width and its box scrolls sideways, the page does not), whole at 1400 pixels, the
timeline's "as of" label clear of the date labels, and each chart named in the report's
language."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from adapters.reports.data import ReportInputs
from adapters.reports.render import render
from tests.conftest import open_services

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
CHART_MIN_WIDTH = 600  # report.html.j2: `.chart svg { min-width: 600px }`
SPANISH_TITLES = [
    "Avance por pilar",
    "Avance a lo largo del tiempo",
    "Estados por pilar",
    "Calendario de hitos",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def report_file(seeded_url: str, tmp_path: Path) -> Path:
    services = open_services(seeded_url)
    try:
        inputs = ReportInputs(services.reports.head(), date(2026, 11, 27), 30, "es")
        report = services.reports.build(inputs)
    finally:
        services.close()
    path = tmp_path / "report.html"
    path.write_bytes(render(report, "html"))
    return path


def open_report(browser: Browser, path: Path, width: int) -> Page:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(path.as_uri())
    return page


def charts(page: Page) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate(
        """[...document.querySelectorAll('figure .chart')].map(box => ({
            client: box.clientWidth,
            scroll: box.scrollWidth,
            svg: box.querySelector('svg').getBoundingClientRect().width,
            title: box.querySelector('svg > title').textContent,
        }))"""
    )
    return result


def test_on_a_phone_each_chart_keeps_its_width_and_scrolls(
    browser: Browser, report_file: Path
) -> None:
    page = open_report(browser, report_file, 420)
    found = charts(page)
    assert [c["title"] for c in found] == SPANISH_TITLES
    for chart in found:
        assert chart["svg"] >= CHART_MIN_WIDTH, chart  # not shrunk to the phone's width
        assert chart["client"] < 420 < chart["scroll"], chart  # its box scrolls
    page_overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert page_overflow <= 0  # the page itself does not scroll sideways
    page.close()


def test_on_a_desktop_each_chart_is_whole(browser: Browser, report_file: Path) -> None:
    page = open_report(browser, report_file, 1400)
    for chart in charts(page):
        assert chart["scroll"] <= chart["client"], chart
        assert chart["svg"] > CHART_MIN_WIDTH, chart
    page.close()


@pytest.mark.parametrize("width", [420, 1400])
def test_the_timeline_as_of_label_overlaps_no_date(
    browser: Browser, report_file: Path, width: int
) -> None:
    page = open_report(browser, report_file, width)
    boxes: list[dict[str, Any]] = page.evaluate(
        """[...document.querySelectorAll('figure .chart')[3].querySelectorAll('svg text')]
            .map(t => { const r = t.getBoundingClientRect();
                        return {text: t.textContent.trim(), left: r.left, right: r.right,
                                top: r.top, bottom: r.bottom, height: r.height}; })"""
    )
    [as_of] = [b for b in boxes if b["text"] == "al 2026-11-27"]
    ticks = [b for b in boxes if b["text"].endswith(" 2026") or b["text"].endswith(" 2027")]
    assert ticks
    for tick in ticks:
        apart = (
            as_of["right"] <= tick["left"]
            or tick["right"] <= as_of["left"]
            or as_of["bottom"] <= tick["top"]
            or tick["bottom"] <= as_of["top"]
        )
        assert apart, (as_of, tick)
    assert min(b["height"] for b in boxes) >= 9  # labels a phone can read (was ~5 px)
    page.close()
