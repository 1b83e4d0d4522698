"""The Atom feeds: valid Atom, newest first, stable ids, readable by the same people as
the dashboard, and linked from every page."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime

import httpx

from tests.api.client import BASE, Api, post_login, serving

ATOM = "{http://www.w3.org/2005/Atom}"
CODE = "CMAP-PROS-RAIL"


def parse_atom(response: httpx.Response) -> ET.Element:
    """The feed, checked against what RFC 4287 requires of a feed and of its entries."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    assert feed.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated"):
        assert feed.find(f"{ATOM}{name}") is not None, name
    assert feed.find(f"{ATOM}author/{ATOM}name") is not None
    assert feed.find(f"{ATOM}link[@rel='self']") is not None
    for entry in feed.findall(f"{ATOM}entry"):
        for name in ("id", "title", "updated", "content"):
            assert entry.find(f"{ATOM}{name}") is not None, name
        assert (entry.find(f"{ATOM}author/{ATOM}name")) is not None
        # An alternate link (rel defaults to alternate, RFC 4287 4.2.7.2).
        assert [
            link
            for link in entry.findall(f"{ATOM}link")
            if link.get("rel", "alternate") == "alternate"
        ]
        assert entry.findtext(f"{ATOM}id", "").startswith("tag:")
    return feed


def entries(feed: ET.Element) -> list[ET.Element]:
    return feed.findall(f"{ATOM}entry")


def updated(element: ET.Element) -> datetime:
    return datetime.fromisoformat(element.findtext(f"{ATOM}updated", ""))


def test_the_changes_feed_is_atom_newest_first_with_stable_ids(api: Api) -> None:
    response = api.post(
        f"{BASE}/{CODE}/progress",
        json={"percent": 55, "as_of": "2026-04-30", "note": "Feed-visible progress"},
    )
    assert response.status_code == 201, response.text
    position = int(response.headers["X-Log-Position"])

    feed = parse_atom(api.get("/feeds/changes.atom"))
    items = entries(feed)
    assert 1 < len(items) <= 50
    first = items[0]
    assert first.findtext(f"{ATOM}id", "").endswith(f"/events/{position}")
    assert first.findtext(f"{ATOM}title") == f"{CODE}: Progress logged"
    assert first.findtext(f"{ATOM}content") == "55% as of 2026-04-30: Feed-visible progress"
    assert first.findtext(f"{ATOM}author/{ATOM}name") == api.actor("admin")
    assert first.find(f"{ATOM}link").get("href", "").endswith(f"/c/{CODE}?lang=en")  # type: ignore[union-attr]
    # Newest first, by position (the id) and by recorded time; the feed is as new as its newest.
    positions = [int(e.findtext(f"{ATOM}id", "").rsplit("/", 1)[1]) for e in items]
    assert positions == sorted(positions, reverse=True)
    times = [updated(e) for e in items]
    assert times == sorted(times, reverse=True)
    assert updated(feed) == times[0]
    # The same event keeps its id in the next version of the feed.
    again = entries(parse_atom(api.get("/feeds/changes.atom")))
    assert again[0].findtext(f"{ATOM}id") == first.findtext(f"{ATOM}id")
    # Only commitments' events: no token or schedule events.
    assert all(":" in (e.findtext(f"{ATOM}title") or "") for e in items)


def test_a_commitment_feed_holds_only_its_events(api: Api) -> None:
    feed = parse_atom(api.get(f"/feeds/commitments/{CODE}.atom"))
    history = api.history(CODE)
    items = entries(feed)
    assert len(items) == min(50, len(history))
    expected = [e["position"] for e in reversed(history)][: len(items)]
    assert [int(e.findtext(f"{ATOM}id", "").rsplit("/", 1)[1]) for e in items] == expected
    assert all((e.findtext(f"{ATOM}title") or "").startswith(f"{CODE}: ") for e in items)
    # The milestone of a completion is named, not given by its id.
    completed = [e for e in items if e.findtext(f"{ATOM}title") == f"{CODE}: Milestone completed"]
    for entry in completed:
        assert "“" in (entry.findtext(f"{ATOM}content") or "")

    missing = api.get("/feeds/commitments/CMAP-NO-SUCH.atom")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_a_pillar_feed_holds_only_that_pillars_commitments(api: Api) -> None:
    feed = parse_atom(api.get("/feeds/pillars/security.atom"))
    codes = {(e.findtext(f"{ATOM}title") or "").split(":")[0] for e in entries(feed)}
    assert codes
    for code in codes:
        assert api.commitment(code)["pillar"] == "security"
    unknown = api.get("/feeds/pillars/nonsense.atom")
    assert unknown.status_code == 422
    assert unknown.headers["content-type"] == "application/problem+json"


def test_feeds_speak_the_language_asked_for(api: Api) -> None:
    feed = parse_atom(api.get("/feeds/changes.atom", params={"lang": "fr"}))
    assert feed.get("{http://www.w3.org/XML/1998/namespace}lang") == "fr"
    assert (
        feed.findtext(f"{ATOM}title")
        == "Plan d\u2019action Canada-Mexique : toutes les modifications"
    )
    self_link = feed.find(f"{ATOM}link[@rel='self']")
    assert self_link is not None and self_link.get("href", "").endswith("?lang=fr")
    spanish = parse_atom(api.get(f"/feeds/commitments/{CODE}.atom", params={"lang": "es"}))
    assert spanish.findtext(f"{ATOM}title") == f"{CODE}: cambios"
    # Without ?lang=, the browser's language.
    asked = parse_atom(api.get("/feeds/changes.atom", headers={"Accept-Language": "es-MX"}))
    assert asked.findtext(f"{ATOM}title") == "Plan de Acción Canadá-México: todos los cambios"
    english = parse_atom(api.get("/feeds/changes.atom"))
    assert english.findtext(f"{ATOM}title") == "Canada-Mexico Action Plan: all changes"
    refused = api.get("/feeds/changes.atom", params={"lang": "de"})
    assert refused.status_code == 422


def test_a_feed_polled_with_its_etag_is_not_modified_until_it_changes(api: Api) -> None:
    for path in ("/feeds/changes.atom", f"/feeds/commitments/{CODE}.atom",
                 "/feeds/pillars/prosperity.atom"):  # fmt: skip
        first = api.get(path, "viewer")
        parse_atom(first)
        etag = first.headers["ETag"]
        assert first.headers["Cache-Control"] == "no-cache", path
        again = api.get(path, "viewer", headers={"If-None-Match": etag})
        assert (again.status_code, again.content) == (304, b""), path
        assert (again.headers["ETag"], again.headers["Cache-Control"]) == (etag, "no-cache")
        assert api.get(path, "viewer", headers={"If-None-Match": f"W/{etag}"}).status_code == 304
        # Another language is another representation, with its own tag.
        french = api.get(path, "viewer", params={"lang": "fr"}, headers={"If-None-Match": etag})
        assert french.status_code == 200 and french.headers["ETag"] != etag, path
    etag = api.get("/feeds/changes.atom", "viewer").headers["ETag"]
    written = api.post(
        f"{BASE}/{CODE}/progress", json={"percent": 56, "as_of": "2026-05-31", "note": "Later"}
    )
    assert written.status_code == 201, written.text
    for path in ("/feeds/changes.atom", f"/feeds/commitments/{CODE}.atom"):
        changed = api.get(path, "viewer", headers={"If-None-Match": etag})
        assert "Later" in parse_atom(changed).findtext(f"{ATOM}entry/{ATOM}content", "")
        assert changed.headers["ETag"] != etag
    paths = api.openapi()["paths"]
    for path in ("/feeds/changes.atom", "/feeds/commitments/{code}.atom",
                 "/feeds/pillars/{pillar}.atom"):  # fmt: skip
        get = paths[path]["get"]
        assert "304" in get["responses"], path
        assert "If-None-Match" in [p["name"] for p in get["parameters"] if p["in"] == "header"]


def test_feeds_are_read_like_the_dashboard(api: Api) -> None:
    # No token: refused with a bearer challenge.
    refused = api.get("/feeds/changes.atom", who=None)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    # A bad token: refused.
    assert (
        api.get("/feeds/changes.atom", who=None, headers={"Authorization": "Bearer x"}).status_code
        == 401
    )
    # A viewer's token, or the dashboard's sign-in cookie.
    parse_atom(api.get("/feeds/changes.atom", who="viewer"))
    assert post_login(api.client, api.token("viewer")).status_code == 303
    parse_atom(api.client.get("/feeds/changes.atom"))


def test_public_read_feeds_need_nothing(seeded_url: str) -> None:
    with serving(seeded_url, public_read=True) as api:
        parse_atom(api.get("/feeds/changes.atom", who=None))


def test_every_page_links_its_feeds(seeded_url: str) -> None:
    with serving(seeded_url, public_read=True) as api:
        for path in ("/", f"/c/{CODE}", "/login"):
            page = api.get(path, who=None).text
            links = re.findall(
                r'<link rel="alternate" type="application/atom\+xml" title="[^"]*" href="([^"]+)"',
                page,
            )
            assert "/feeds/changes.atom?lang=en" in links, path
            for link in links:  # each one is a feed that answers
                parse_atom(api.get(link, who=None))
        page = api.get(f"/c/{CODE}", who=None).text
        assert f"/feeds/commitments/{CODE}.atom?lang=en" in page
        # The links carry the page's language.
        page = api.get(f"/c/{CODE}", who=None, params={"lang": "es"}).text
        assert f"/feeds/commitments/{CODE}.atom?lang=es" in page
