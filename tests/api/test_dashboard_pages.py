"""Dashboard pages over HTTP (the browser tests look at them; these check the edges):
escaping, spreadsheet-safe reports, signing in, and ids that are no commitment's."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from cachetools import LRUCache
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import update

from adapters.tables import api_tokens
from api.routers import dashboard
from api.routers.dashboard import TIMELINE_SHOWN
from domain.commands import (
    ChangeStatus,
    ConfirmClosure,
    DefineSchedule,
    LogProgress,
    PlannedMilestone,
    RateHealth,
    Together,
)
from domain.vocabulary import Health, Pillar, Status
from tests.api.client import BASE, Api, csrf_token_of, post_login, problem, serving
from tests.support import CA_EDITOR, MX_EDITOR, registration, write

HOSTILE = '<script>alert(1)</script>=HYPERLINK("http://x.invalid","click")'
FORMULA = '=HYPERLINK("http://x.invalid")'


def register_hostile(api: Api, code: str, title: str) -> None:
    write(
        api.services,
        registration(code, title=title, pillar=Pillar.GOVERNANCE, sectors=("governance",)),
    )


def sign_in(api: Api) -> None:
    signed = post_login(api.client, api.token("viewer"))
    assert signed.status_code == 303 and signed.headers["location"] == "/"
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


@pytest.fixture(params=[True, False], ids=["public", "private"])
def browser(request: pytest.FixtureRequest, seeded_url: str) -> Iterator[TestClient]:
    """A browser on the dashboard, public or signed in, with a hostile title in the log."""
    with serving(seeded_url, public_read=request.param) as api:
        register_hostile(api, "CMAP-GOV-XSS", HOSTILE)
        if not request.param:
            sign_in(api)
        yield api.client


@pytest.fixture
def signed_in(seeded_url: str) -> Iterator[TestClient]:
    with serving(seeded_url) as api:
        register_hostile(api, "CMAP-GOV-XSS", HOSTILE)
        sign_in(api)
        yield api.client


def test_user_text_is_escaped_in_pages(browser: TestClient) -> None:
    page = browser.get("/c/CMAP-GOV-XSS")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    missing = browser.get("/c/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    assert missing.status_code == 404 and "<img" not in missing.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in missing.text  # named, escaped


def test_user_text_is_escaped_in_the_portfolio(signed_in: TestClient) -> None:
    """The portfolio page (its table and its charts; built once per log position)."""
    for path in ("/", "/?pillar=governance&party=ZZ&status=nope"):
        page = signed_in.get(path)
        assert page.status_code == 200, page.text
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert '<form method="post" action="/logout"' in page.text
    # A filter shows its commitments only; values it does not know are ignored.
    filtered = signed_in.get("/?pillar=governance&party=ZZ&status=nope").text
    assert 'href="/c/CMAP-GOV-XSS"' in filtered and 'href="/c/CMAP-PROS-RAIL"' not in filtered


def test_reports_from_the_dashboard_are_inert_in_spreadsheets(signed_in: TestClient) -> None:
    rows = list(csv.DictReader(io.StringIO(signed_in.get("/report.csv").text)))
    hostile = next(r for r in rows if r["code"] == "CMAP-GOV-XSS")
    assert hostile["title"] == HOSTILE  # kept verbatim: CSV is data, not HTML
    xlsx = signed_in.get("/report.xlsx")
    assert xlsx.headers["Content-Disposition"].startswith("attachment;")
    book = load_workbook(io.BytesIO(xlsx.content))
    cells = [c for row in book["Commitments"].iter_rows() for c in row]
    assert all(c.data_type != "f" for c in cells)  # no formula anywhere
    assert HOSTILE in [c.value for c in cells]
    html = signed_in.get("/report.html")
    assert html.status_code == 200 and "&lt;script&gt;" in html.text
    assert "<script>alert(1)</script>" not in html.text
    assert signed_in.get("/report.pdf").status_code == 404


def test_a_formula_title_is_kept_as_text(api: Api) -> None:
    register_hostile(api, "CMAP-GOV-FORM", FORMULA)
    report = f"{BASE.rsplit('/', 1)[0]}/reports/progress"
    text = api.get(report, params={"format": "csv"}).text
    [row] = [r for r in csv.DictReader(io.StringIO(text)) if r["code"] == "CMAP-GOV-FORM"]
    assert row["title"] == "'" + FORMULA
    content = api.get(report, params={"format": "xlsx"}).content
    sheet = load_workbook(io.BytesIO(content))["Commitments"]
    [title] = [r[1] for r in sheet.iter_rows(min_row=2) if r[0].value == "CMAP-GOV-FORM"]
    assert title.data_type == "s" and title.value == "'" + FORMULA


def test_a_private_dashboard_asks_strangers_to_sign_in(api: Api) -> None:
    client = api.client
    for path, target in (
        ("/", "/login?next=/"),
        ("/c/CMAP-PROS-RAIL?tab=history", "/login?next=/c/CMAP-PROS-RAIL%3Ftab%3Dhistory"),
        ("/report.csv", "/login?next=/report.csv"),
    ):
        response = client.get(path, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, target)
    form = client.get("/login", params={"next": "/c/CMAP-PROS-RAIL"})
    assert form.status_code == 200 and 'value="/c/CMAP-PROS-RAIL"' in form.text
    wrong = post_login(client, "cmt_nope")
    assert wrong.status_code == 401 and "unknown, has been revoked" in wrong.text
    assert "set-cookie" not in wrong.headers
    # Sign-in goes back where asked, but never to another site.
    token = api.token("viewer")
    for asked, landed in (("/c/CMAP-PROS-RAIL", "/c/CMAP-PROS-RAIL"), ("//evil.example", "/")):
        response = post_login(client, token, asked)
        assert (response.status_code, response.headers["location"]) == (303, landed)
    assert client.get("/c/CMAP-PROS-RAIL").status_code == 200
    # Signing out is a POST with the page's CSRF token: a GET (a link or an image
    # elsewhere) or a forged form signs no one out.
    page = client.get("/c/CMAP-PROS-RAIL")
    assert '<form method="post" action="/logout"' in page.text
    assert client.get("/logout").status_code == 200
    forged = client.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert forged.status_code == 403 and "did not come from this site" in forged.text
    assert client.get("/c/CMAP-PROS-RAIL", follow_redirects=False).status_code == 200
    token_field = {"csrf_token": csrf_token_of(page.text)}
    out = client.post("/logout", data=token_field, follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert client.get("/c/CMAP-PROS-RAIL", follow_redirects=False).status_code == 303
    # The dashboard's cookie is not a bearer token for the JSON API.
    signed = post_login(client, token)
    assert signed.status_code == 303
    problem(client.get(f"{BASE}/CMAP-PROS-RAIL"), 401)
    # And a cookie holding the token itself (as before sessions) signs no one in.
    client.cookies.clear()
    client.cookies.set("commitments_token", token)
    assert client.get("/c/CMAP-PROS-RAIL", follow_redirects=False).status_code == 303


def test_a_pending_closure_is_marked_on_its_page_and_in_the_portfolio(seeded_url: str) -> None:
    rail = "CMAP-PROS-RAIL"  # CA-MX, stalled in the sample history
    marker = "closure proposed by Mexico, awaiting Canada"

    def row_of(portfolio: str) -> str:
        return portfolio.split(f'href="/c/{rail}"')[1].split("</tr>")[0]

    with serving(seeded_url, public_read=True) as api:
        before = api.client.get("/").text
        assert marker not in before and "closures awaiting confirmation" not in before
        write(
            api.services,
            ChangeStatus(status=Status.CANCELLED, reason="folded into the ports plan"),
            ref=rail,
            principal=MX_EDITOR,
        )
        page = api.client.get(f"/c/{rail}").text
        assert marker in page and 'id="pending-closure"' in page
        assert "folded into the ports plan" in page
        assert "Closure proposed" in page and "proposed by Mexico: folded" in page
        portfolio = api.client.get("/").text
        assert marker in row_of(portfolio)
        assert "<b>1</b>closure awaiting confirmation" in portfolio

        write(api.services, ConfirmClosure(), ref=rail, principal=CA_EDITOR)
        page = api.client.get(f"/c/{rail}").text
        assert marker not in page and 'id="pending-closure"' not in page
        assert "Closure confirmed" in page and "proposed by Mexico, confirmed by Canada" in page
        portfolio = api.client.get("/").text
        assert marker not in portfolio and "Cancelled" in row_of(portfolio)


def test_a_schedule_id_is_no_commitment(seeded_url: str) -> None:
    with serving(seeded_url, public_read=True) as api:
        change = write(
            api.services, DefineSchedule(name="weekly", cron="0 7 * * 1", formats=("json",))
        )
        api.project()  # schedules are read from the projection
        ref = str(change.aggregate_id)
        for method, path, body in (
            ("GET", f"{BASE}/{ref}", None),
            ("GET", f"{BASE}/{ref}?version=1", None),
            ("GET", f"{BASE}/{ref}?as_of=2026-01-01", None),
            ("GET", f"{BASE}/{ref}?known_at=2099-01-01T00:00:00Z", None),
            ("GET", f"{BASE}/{ref}/history", None),
            ("GET", f"{BASE}/{ref}/diff?from=1", None),
            ("POST", f"{BASE}/{ref}/health", {"rating": "red", "rationale": "r"}),
            ("PATCH", f"{BASE}/{ref}", {"title": "T", "reason": "r"}),
        ):
            problem(api.request(method, path, json=body), 404)
        assert api.client.get(f"/c/{ref}").status_code == 404
        assert api.json("/api/v1/schedules/weekly", None)["cron"] == "0 7 * * 1"
        problem(api.get("/api/v1/schedules/nope", None), 404)


def test_report_dates_out_of_range_are_422(sqlite_url: str) -> None:
    with serving(sqlite_url, public_read=True) as api:
        for as_of in ("9999-12-31", "0001-01-01"):
            problem(api.get("/api/v1/reports/progress", None, params={"as_of": as_of}), 422)
        empty = api.get("/api/v1/reports/progress", None)  # an empty log has a report too
        assert empty.status_code == 200 and empty.headers["X-Log-Position"] == "0"


def test_a_revoked_cookie_is_forgotten_so_page_views_do_not_lock_the_address_out(
    seeded_url: str,
) -> None:
    with serving(seeded_url, auth_failure_limit="3/minute") as api:
        sign_in(api)
        with api.services.database.writing() as connection:
            [token_id] = connection.execute(
                update(api_tokens)
                .where(api_tokens.c.name == "vera")
                .values(revoked_at=datetime.now(UTC))
                .returning(api_tokens.c.id)
            ).scalars()
        api.services.authenticate.forget(token_id)
        first = api.client.get("/", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"].startswith("/login")
        assert 'commitments_session=""' in first.headers["set-cookie"]  # deleted
        for _ in range(5):  # the browser no longer sends it: no more failures counted
            assert api.client.get("/", follow_redirects=False).status_code == 303
        assert post_login(api.client, api.token("admin")).status_code == 303


def test_a_next_milestone_past_its_due_date_is_marked_missed(seeded_url: str) -> None:
    """The portfolio marks a next milestone the API calls missed (due before today)."""
    today = datetime.now(UTC).date()
    with serving(seeded_url) as api:
        for code, due in (("CMAP-GOV-LATE", -30), ("CMAP-GOV-SOON", 30)):
            planned = PlannedMilestone(title=f"Review {code}", due_date=today + timedelta(days=due))
            write(
                api.services,
                registration(
                    code,
                    pillar=Pillar.GOVERNANCE,
                    sectors=("governance",),
                    milestones=(planned,),
                ),
            )
        late = api.get(f"{BASE}/CMAP-GOV-LATE", "viewer").json()["milestones"]
        assert [m["status"] for m in late] == ["missed"]  # what the API says
        sign_in(api)
        page = api.client.get("/").text
    rows = {row.split('"')[0]: row for row in page.split('<tr data-code="')[1:]}
    late_row, soon_row = rows["CMAP-GOV-LATE"], rows["CMAP-GOV-SOON"]
    assert "Review CMAP-GOV-LATE" in late_row
    assert '<span class="pill red">missed</span>' in late_row.split("</tr>")[0]
    assert "Review CMAP-GOV-SOON" in soon_row and "missed" not in soon_row.split("</tr>")[0]


def test_the_language_comes_from_the_query_then_the_cookie_then_the_browser(
    seeded_url: str,
) -> None:
    with serving(seeded_url, public_read=True) as api:
        assert '<html lang="es">' in api.client.get("/", headers={"Accept-Language": "es-MX"}).text
        chosen = api.client.get("/?lang=fr", headers={"Accept-Language": "es-MX"})
        assert '<html lang="fr">' in chosen.text
        assert "commitments_lang=fr" in chosen.headers["set-cookie"]
        # Remembered: the next page, without ?lang=, is French whatever the browser says.
        later = api.client.get("/c/CMAP-PROS-RAIL", headers={"Accept-Language": "es-MX"})
        assert '<html lang="fr">' in later.text
        # The switch links to the same page in the other languages, and names them in
        # their own words.
        assert 'hreflang="es"' in later.text and "Español" in later.text
        assert "/c/CMAP-PROS-RAIL?lang=es" in later.text
        # A language we do not have is ignored, not an error.
        assert api.client.get("/?lang=de").status_code == 200


def test_a_long_timeline_shows_its_newest_entries_and_links_to_the_whole(seeded_url: str) -> None:
    with serving(seeded_url, public_read=True) as api:
        register_hostile(api, "CMAP-GOV-LONG", "Long")
        steps = tuple(
            LogProgress(percent=i % 100, as_of=date(2026, 1, 1), note=f"n{i}")
            for i in range(TIMELINE_SHOWN + 20)
        )
        write(api.services, Together(steps), ref="CMAP-GOV-LONG")
        version = api.services.tracker.get("CMAP-GOV-LONG").version
        page = api.client.get("/c/CMAP-GOV-LONG", params={"lang": "fr"})
        assert page.status_code == 200, page.text
        timeline = page.text.split('id="timeline"')[1].split("</ol>")[0]
        shown = re.findall(r"\?version=(\d+)", timeline)
        assert shown == [str(v) for v in range(version, version - TIMELINE_SHOWN, -1)]
        hidden = version - TIMELINE_SHOWN
        assert f"les {hidden} plus anciennes ne sont pas affichées" in page.text
        link = re.search(r'id="timeline-more">.*?<a href="([^"]+)"', page.text, re.S)
        assert link is not None and "timeline=all" in link.group(1)
        whole = api.client.get("/c/CMAP-GOV-LONG" + html.unescape(link.group(1)))
        assert "lang=fr" in link.group(1) and "Afficher toute" not in whole.text
        everything = whole.text.split('id="timeline"')[1].split("</ol>")[0]
        assert re.findall(r"\?version=(\d+)", everything) == [str(v) for v in range(version, 0, -1)]
        # One left out: said in the singular; the link leaves "saved" (a form's) behind.
        one = api.client.get(
            "/c/CMAP-GOV-LONG",
            params={"version": TIMELINE_SHOWN + 1, "saved": "progress", "lang": "en"},
        )
        assert "; 1 older one is not shown." in one.text
        link = re.search(r'id="timeline-more">.*?<a href="([^"]+)"', one.text, re.S)
        assert link is not None
        assert html.unescape(link.group(1)) == f"?version={TIMELINE_SHOWN + 1}&lang=en&timeline=all"
        # The whole timeline's version links keep it whole.
        assert 'href="?version=1&amp;timeline=all"' in whole.text
        short = api.client.get("/c/CMAP-PROS-RAIL")  # the seeds' (short) timelines
        assert short.status_code == 200 and 'id="timeline-more"' not in short.text


def test_a_commitment_chart_is_drawn_again_only_when_what_it_shows_changed(
    seeded_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adapters.reports import charts

    drawn: list[str] = []
    draw = charts.commitment_progress

    def counted(*args: Any, **kwargs: Any) -> str:
        drawn.append(kwargs["words"]["logged"])
        return draw(*args, **kwargs)

    monkeypatch.setattr(charts, "commitment_progress", counted)
    monkeypatch.setattr(dashboard, "_charts", LRUCache(maxsize=8))  # none from other tests
    with serving(seeded_url, public_read=True) as api:
        code = "CMAP-PROS-RAIL"
        first = api.client.get(f"/c/{code}", params={"lang": "en"}).text
        assert api.client.get(f"/c/{code}", params={"lang": "en"}).text == first
        assert len(drawn) == 1  # the same chart, not drawn again
        api.client.get(f"/c/{code}", params={"lang": "fr"})  # in other words: drawn
        assert drawn[1:] == ["avancement consigné"]
        write(api.services, LogProgress(percent=77, as_of=date(2026, 2, 1), note="n"), ref=code)
        after = api.client.get(f"/c/{code}", params={"lang": "en"}).text
        assert len(drawn) == 3 and after != first  # a new point: drawn again
        chart = after.split("<svg")[1]
        assert chart != first.split("<svg")[1]


def test_a_page_decodes_only_the_events_it_shows_and_charts(
    seeded_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adapters import history

    with serving(seeded_url, public_read=True) as api:
        register_hostile(api, "CMAP-GOV-RATED", "Rated")  # version 1
        progress = tuple(
            LogProgress(percent=p, as_of=date(2026, 1, d), note="n") for p, d in ((5, 1), (9, 2))
        )
        ratings = tuple(
            RateHealth(rating=Health.GREEN, rationale=f"r{i}", as_of=date(2026, 1, 3))
            for i in range(150)
        )
        write(api.services, Together(progress + ratings), ref="CMAP-GOV-RATED")  # 2 to 153
        decoded: list[int] = []
        decode = vars(history.Logged)["event"].fget

        def counted(logged: history.Logged) -> Any:
            if logged._event is None:
                decoded.append(logged.version)
            return decode(logged)

        monkeypatch.setattr(history.Logged, "event", property(counted))
        page = api.client.get("/c/CMAP-GOV-RATED")
        assert page.status_code == 200
        # The newest entries shown, and the two progress events the chart plots: not the
        # 50 older ratings.
        services = api.services
        log = history.commitment_log(
            services.database, services.tracker, services.tracker.get("CMAP-GOV-RATED").id
        )
        plotted = {logged.version for logged in log if logged.topic == history.PROGRESS_TOPIC}
        shown = {logged.version for logged in log[-TIMELINE_SHOWN:]}
        assert len(plotted) == 2 and len(log) > TIMELINE_SHOWN + 50
        assert sorted(decoded) == sorted(plotted | shown)
        figures = page.text.split('id="progress-points"')[1].split("</table>")[0]
        assert re.findall(r'<td class="d">([^<]+)</td><td class="n">(\d+)%', figures) == [
            ("2026-01-01", "5"),
            ("2026-01-02", "9"),
        ]
        decoded.clear()
        past = api.client.get("/c/CMAP-GOV-RATED", params={"version": 2})
        assert past.status_code == 200 and decoded  # a past state: its events, decoded
