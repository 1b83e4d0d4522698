"""The portfolio's search, filters and order, and a commitment page's time travel, chart
and revisions, over HTTP (the browser tests look at the layout)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from html import unescape
from typing import Any

import pytest
from sqlalchemy import update

from adapters.reports import fast
from adapters.tables import progress_points
from api.routers import dashboard
from domain.commands import LogProgress, RateHealth
from domain.vocabulary import Health
from tests.api.client import BASE, Api, serving
from tests.support import registration, write

RAIL = "CMAP-PROS-RAIL"
ROW = re.compile(r'<tr data-code="([^"]+)"')


@pytest.fixture
def public(seeded_url: str) -> Iterator[Api]:
    with serving(seeded_url, public_read=True) as api:
        yield api


def codes(api: Api, params: list[tuple[str, str]] | dict[str, Any]) -> list[str]:
    page = api.client.get("/", params=params)
    assert page.status_code == 200, page.text
    return ROW.findall(page.text)


def text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_the_portfolio_filters_as_the_api_lists(public: Api) -> None:
    api = public
    api.project()
    for params in (
        [("status", "stalled"), ("status", "in_progress")],
        [("health", "unrated")],
        [("health", "unrated"), ("health", "amber_red"), ("pillar", "prosperity")],
        [("sector", "ports"), ("sector", "airports")],
        [("party", "US")],
        [("overdue", "true")],
        [("q", "corridor")],
    ):
        listed = [i["code"] for i in api.json(BASE, params=[*params, ("limit", "500")])["items"]]
        page_params = [("overdue", "yes") if p == ("overdue", "true") else p for p in params]
        assert codes(api, page_params) == listed and listed, params


def test_the_portfolio_searches_agencies_and_ignores_unknown_values(public: Api) -> None:
    api = public
    # Only the agencies name SECIHTI in full: the list's search cannot see it, the page can.
    assert codes(api, {"q": "Humanidades"}) == ["CMAP-PROS-RESEARCH"]
    assert api.json(BASE, params={"q": "Humanidades"})["items"] == []
    everything = codes(api, {})
    assert len(everything) == 22
    assert codes(api, [("status", "asleep"), ("health", "purple"), ("sort", "x")]) == everything
    assert codes(api, [("status", "asleep"), ("status", "stalled")]) == codes(
        api, {"status": "stalled"}
    )
    page = api.client.get("/", params={"q": "no such words", "lang": "en"}).text
    assert "No commitment matches these filters." in page
    assert 'value="no such words"' in page  # the search box keeps what was typed


def test_the_portfolio_sorts_by_a_column_and_back(public: Api) -> None:
    api = public
    items = api.json(BASE, params={"limit": 500})["items"]
    progress = codes(api, {"sort": "progress", "order": "desc"})
    with_value = sorted(
        (i for i in items if i["progress"] is not None), key=lambda i: (-i["progress"], i["code"])
    )
    assert progress[: len(with_value)] == [i["code"] for i in with_value]
    assert len(progress) == 22  # the commitments without progress come last
    target = codes(api, {"sort": "target"})
    dated = sorted(
        (i for i in items if i["target_date"]), key=lambda i: (i["target_date"], i["code"])
    )
    assert target[: len(dated)] == [i["code"] for i in dated]
    page = api.client.get("/", params={"sort": "progress", "order": "desc", "status": "stalled"})
    # The column is marked, and its heading links to the other direction, filters kept.
    header = re.search(r'<th scope="col" aria-sort="descending"><a href="([^"]+)">', page.text)
    assert header, page.text
    assert unescape(header.group(1)) == "/?status=stalled&sort=progress&order=asc"


def test_a_long_portfolio_lists_its_first_rows_and_links_to_every_one(
    public: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = public
    monkeypatch.setattr(dashboard, "PORTFOLIO_LISTED", 5)
    every = codes(api, {"sort": "progress", "order": "desc"})  # one row per listed one
    assert len(every) == 5
    page = api.client.get("/", params={"sort": "progress", "order": "desc", "lang": "es"})
    # The headline counts every commitment, the caption too; the line says what is not listed.
    assert "<b>22</b>" in page.text and "22 de 22" in text(page.text)
    more = re.search(r'<p id="rows-more">(.*?)<a href="([^"]+)">(.*?)</a>', page.text, re.S)
    assert more is not None, page.text
    assert "17" in more.group(1) and more.group(3) == "Listar todos los compromisos"
    # The link keeps the order and the language, and lists them all in that order.
    assert unescape(more.group(2)) == "?sort=progress&order=desc&lang=es&rows=all"
    whole = api.client.get("/" + unescape(more.group(2)))
    listed = ROW.findall(whole.text)
    assert len(listed) == 22 and listed[:5] == every and 'id="rows-more"' not in whole.text
    # Filtering from there keeps every row listed; a filter with fewer rows needs no line.
    assert '<input type="hidden" name="rows" value="all">' in whole.text
    # The caption says what is listed; from every row, a link back to the first ones.
    assert "22 of 22 commitments · the first 5 listed" in text(
        api.client.get("/", params={"lang": "en"}).text
    )
    back = re.search(r'<p id="rows-fewer"><a href="([^"]+)">(.*?)</a>', whole.text)
    assert back is not None and back.group(2) == "Listar solo los 5 primeros"
    assert unescape(back.group(1)) == "?sort=progress&order=desc&lang=es"
    few = api.client.get("/", params={"status": "stalled"})
    assert 'id="rows-more"' not in few.text and ROW.findall(few.text)


def test_a_missed_next_milestone_is_marked_on_the_portfolio(public: Api) -> None:
    page = public.client.get("/", params={"q": "CMAP-GOV-USMCA"}).text
    [row] = page.split('<tr data-code="')[1:]
    assert "2026-07-01" in row and '<span class="pill red">missed</span>' in row


def test_the_header_speaks_plainly(public: Api) -> None:
    page = public.client.get("/").text
    header = page.split("<header")[1].split("</header>")[0]
    assert "log position" not in header.lower() and "entry" not in header.lower()
    footer = text(page.split('<footer class="foot">')[1].split("</footer>")[0])
    assert re.search(r"every change recorded up to number \d+ in the audit log", footer)


def test_a_commitment_page_travels_in_time(public: Api) -> None:
    api = public
    history = api.history(RAIL)
    latest = len(history)

    def banner(**params: str) -> str:
        page = api.client.get(f"/c/{RAIL}", params=params)
        assert page.status_code == 200, page.text
        found = re.search(r'id="time-travel-banner".*?</section>', page.text, re.S)
        assert found, page.text
        return text(found.group(0))

    # The sample history: 10% as of 2025-11-30, 30% as of 2026-04-15, stalled 2026-08-01.
    page = api.client.get(f"/c/{RAIL}", params={"as_of": "2026-01-31"}).text
    assert "As it stood on 2026-01-31, as known now." in banner(as_of="2026-01-31")
    assert re.search(r"<b>10%</b>", page) and "Stalled" not in text(page.split("<h2")[0])
    assert f'href="/c/{RAIL}">Back to now</a>' in page
    assert f"Version 3 of {latest}" in banner(version="3")
    version_3 = api.client.get(f"/c/{RAIL}", params={"version": "3"}).text
    assert text(version_3).count("Registered") == 1
    assert len(re.findall(r'<ol class="timeline".*?</ol>', version_3, re.S)[0].split("<li>")) == 4
    when = history[-1]["recorded_at"]  # with its offset and microseconds
    assert "As the system knew it on" in banner(known_at=when)
    both = banner(known_at=when, as_of="2026-01-31")
    assert "As the system knew it on" in both and "about 2026-01-31" in both
    now = api.client.get(f"/c/{RAIL}").text
    assert "time-travel-banner" not in now


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"as_of": "31/01/2026"}, "“31/01/2026” is not a date such as 2026-03-31."),
        ({"known_at": "yesterday"}, "“yesterday” is not a date and time"),
        ({"version": "abc"}, "“abc” is not a version number."),
        ({"version": "999999"}, "There is no version 999999: the latest is version"),
        ({"version": "2", "as_of": "2026-01-01"}, "not both"),
        ({"known_at": "2000-01-01T00:00"}, "was not registered yet at 2000-01-01 00:00 UTC"),
        # Out of the API's bounds (the chart's calendar could not even draw them).
        ({"as_of": "9999-12-31"}, "Choose a date from 2000-01-01 to 2100-12-31."),
        ({"as_of": "0001-01-01"}, "Choose a date from 2000-01-01 to 2100-12-31."),
        ({"known_at": "9999-12-31T00:00"}, "Choose a date from 2000-01-01 to 2100-12-31."),
        ({"known_at": "0001-01-01T00:00+01:00"}, "is not a date and time"),
    ],
)
def test_a_bad_moment_is_a_message_on_the_page(
    public: Api, params: dict[str, str], message: str
) -> None:
    page = public.client.get(f"/c/{RAIL}", params=params)
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    problem = re.search(r'id="time-travel-problem">(.*?)</div>', page.text, re.S)
    assert problem and message in text(problem.group(1))
    assert "time-travel-banner" not in page.text  # the commitment as it is now
    assert "<svg" in page.text


def test_the_page_charts_progress_and_shows_revisions_old_and_new(public: Api) -> None:
    api = public
    revised = api.patch(
        f"{BASE}/{RAIL}",
        json={"target_date": "2029-06-30", "sectors": ["railways", "ports"], "reason": "review"},
    )
    assert revised.status_code == 200, revised.text
    page = api.client.get(f"/c/{RAIL}").text
    chart = re.search(r'<figure id="progress-chart".*?</figure>', page, re.S)
    assert chart and "<svg" in chart.group(0) and "progress logged" in chart.group(0)
    points = re.search(r'<table id="progress-points">.*?</table>', page, re.S)
    assert points and "2025-11-30" in points.group(0) and "30%" in points.group(0)
    newest = page.split('<ol class="timeline"')[1].split("</li>\n")[0]
    assert "Details revised" in newest and "review" in newest
    assert "<del>2027-12-31</del> → <ins>2029-06-30</ins>" in newest
    assert "<del>Railways, Infrastructure, Trade</del> → <ins>Railways, Ports</ins>" in newest
    # In French, the field's name too.
    french = api.client.get(f"/c/{RAIL}", params={"lang": "fr"}).text
    revision = french.split('<ol class="timeline"')[1].split("</li>\n")[0]
    assert "Date cible" in revision and "Chemins de fer, Ports" in revision


@pytest.mark.parametrize("seeded_url", ["sqlite", "postgresql"], indirect=True)
def test_the_portfolio_from_the_read_models_is_the_page_a_replay_gives(seeded_url: str) -> None:
    pages = {}
    for replayed in (False, True):
        with serving(seeded_url, public_read=True) as api:
            api.project()
            if replayed:
                # As rows projected before migration 0017: the read models cannot answer.
                with api.services.database.writing() as connection:
                    connection.execute(update(progress_points).values(evidence=None))
            with api.services.database.reading() as connection:
                assert fast.ready(connection, api.head()) is not replayed
            pages[replayed] = [
                api.client.get("/", params=params).text
                for params in ({}, {"lang": "fr"}, {"lang": "es", "sort": "progress"})
            ]
    assert pages[False] == pages[True]


@pytest.mark.parametrize("seeded_url", ["sqlite", "postgresql"], indirect=True)
def test_the_portfolio_after_writes_is_the_page_a_fresh_process_gives(seeded_url: str) -> None:
    """The portfolio keeps its report's rows between views and reloads only the
    commitments written to since (adapters/reports/fast.py `KeptRows`): after writes to
    several commitments its pages are those of a process that never kept anything."""
    # Each names its language: the page remembers the last one in a cookie.
    asked = ({"lang": "en"}, {"lang": "fr"}, {"lang": "es", "sort": "progress"})
    with serving(seeded_url, public_read=True) as api:
        api.project()
        before = [api.client.get("/", params=params).text for params in asked]
        today = datetime.now(UTC).date()
        for step, code in enumerate((RAIL, "CMAP-PROS-ENERGY", RAIL)):
            note = f"step {step}"
            progress = LogProgress(percent=40 + step, as_of=today, note=note)
            write(api.services, progress, ref=code)
            rating = RateHealth(rating=Health.RED, rationale=note, as_of=today)
            write(api.services, rating, ref=code)
            if step == 1:  # a commitment new since the last view joins the table
                write(api.services, registration("CMAP-GOV-NEWER", title="Newer"))
            api.project()
            kept = [api.client.get("/", params=params).text for params in asked]
        assert all(page != old for page, old in zip(kept, before, strict=True))
        assert all('data-code="CMAP-GOV-NEWER"' in page for page in kept)
    with serving(seeded_url, public_read=True) as fresh:
        assert [fresh.client.get("/", params=params).text for params in asked] == kept
