"""Bad input, right answer: what a client sends wrong is a 4xx problem naming what is
wrong, never a retryable 503 or a 500, on SQLite and on PostgreSQL (whose text cannot
hold NUL); JSON numbers reach decimal fields exactly."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.api.client import BASE, Api, problem, serving

RAIL = "CMAP-PROS-RAIL"

# (path and query, the field the 422 names)
BAD_TEXT = [
    (f"{BASE}?q=%00", "query.q"),
    (f"{BASE}?sector=%00", "query.sector"),
    (f"{BASE}?cursor=%00", "query.cursor"),
    (f"{BASE}?q=a%01b", "query.q"),
    (f"{BASE}?q=%FF", "query.q"),  # not UTF-8
    (f"{BASE}?q=%ED%A0%80", "query.q"),  # a lone surrogate, encoded
    (f"{BASE}?limit=1&%00=x", "query"),
    ("/api/v1/reports/abc%00", "path.report_id"),
    (f"{BASE}/{RAIL}%00/history", "path.ref"),
    (f"{BASE}/%FF", "path.ref"),
    (f"{BASE}/{RAIL}/milestones/m1%00", "path.milestone_id"),
    ("/api/v1/schedules/x%0A", "path.name"),
]


@pytest.mark.parametrize("seeded_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize(("target", "field"), BAD_TEXT, ids=[t for t, _ in BAD_TEXT])
def test_bad_text_in_the_url_is_a_422_naming_it_on_postgresql(
    seeded_url: str, target: str, field: str
) -> None:
    with serving(seeded_url) as api:
        response = api.get(target)
        detail = problem(response, 422)
        assert detail.startswith(f"{field}: ")
        assert response.json()["errors"] == [
            {"field": field, "message": detail.removeprefix(f"{field}: ")}
        ]
        # The same parameters with good text are answered (the guard is no blanket refusal).
        assert api.get(f"{BASE}?q=rail&sector=railways").status_code == 200


@pytest.mark.parametrize(("target", "field"), BAD_TEXT, ids=[t for t, _ in BAD_TEXT])
def test_bad_text_in_the_url_is_a_422_naming_it(api: Api, target: str, field: str) -> None:
    assert problem(api.get(target), 422).startswith(f"{field}: ")


def test_good_text_passes_the_guard(api: Api) -> None:
    # Escaped UTF-8, spaces as + and %20, tabs nowhere: all ordinary.
    assert api.get(f"{BASE}?q=M%C3%A9xico+rail").status_code == 200
    assert api.get(f"{BASE}?q=rail%20freight&limit=5").status_code == 200
    assert api.get(f"{BASE}/{RAIL}").status_code == 200
    assert api.get(f"{BASE}/CMAP%2DPROS%2DRAIL").status_code == 200


def test_a_body_that_is_not_utf8_is_a_400_saying_so(api: Api) -> None:
    before = api.head()
    response = api.post(
        f"{BASE}/{RAIL}/progress",
        content=b'{"percent": 5, "as_of": "2026-01-01", "note": "\xff"}',
        headers={"Content-Type": "application/json"},
    )
    assert "not UTF-8" in problem(response, 400)
    nan = api.post(
        f"{BASE}/{RAIL}/indicators",
        content=b'{"name": "n", "unit": "u", "baseline": NaN, "target": 1}',
        headers={"Content-Type": "application/json"},
    )
    assert "NaN is not a JSON number" in problem(nan, 400)
    assert api.head() == before


def test_json_numbers_reach_decimal_fields_exactly(api: Api) -> None:
    created = api.post(
        f"{BASE}/{RAIL}/indicators",
        content=b'{"name": "Exact", "unit": "t", "baseline": 0.1, "target": 99999999999999.999999}',
        headers={"Content-Type": "application/json"},
    )
    assert created.status_code == 201, created.text
    indicator = api.services.tracker.get(RAIL).indicator(created.json()["id"])
    assert (indicator.baseline, indicator.target) == (
        Decimal("0.1"),
        Decimal("99999999999999.999999"),
    )


def exact(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), response.text
    return json.loads(response.content, parse_float=Decimal)


def test_decimals_read_back_as_written(api: Api) -> None:
    """Answers write decimals as JSON numbers with their own digits, never through a
    float (which keeps about 16): what was written is what is read, everywhere."""
    target, value = Decimal("99999999999999.999999"), Decimal("-0.000001")
    created = exact(
        api.post(
            f"{BASE}/{RAIL}/indicators",
            content=b'{"name": "Exact", "unit": "t", "baseline": 1.5, "target": '
            + str(target).encode()
            + b"}",
            headers={"Content-Type": "application/json"},
        )
    )
    assert (created["baseline"], created["target"]) == (Decimal("1.5"), target)
    indicator = created["id"]
    measured = api.post(
        f"{BASE}/{RAIL}/indicators/{indicator}/measurements",
        content=b'{"value": ' + str(value).encode() + b', "as_of": "2026-07-31"}',
        headers={"Content-Type": "application/json"},
    )
    assert exact(measured)["latest"] == {"value": value, "as_of": "2026-07-31"}
    read = exact(api.get(f"{BASE}/{RAIL}/indicators/{indicator}"))
    assert (read["target"], read["latest"]["value"]) == (target, value)
    [shown] = [i for i in exact(api.get(f"{BASE}/{RAIL}"))["indicators"] if i["id"] == indicator]
    assert shown == read
    history = exact(api.get(f"{BASE}/{RAIL}/history"))
    assert history[-2]["data"]["target"] == target and history[-1]["data"]["value"] == value
    feed = exact(api.get("/api/v1/events", params={"after": api.head() - 2}))
    assert [e["data"] for e in feed] == [history[-2]["data"], history[-1]["data"]]
    changes = exact(api.get(f"{BASE}/{RAIL}/diff", params={"from": read_version(api) - 2}))
    assert changes["events"] == history[-2:]
    # Whole numbers stay integers: 1 is `1`, not `1.0`.
    assert b'"baseline":1.5' in api.get(f"{BASE}/{RAIL}/indicators/{indicator}").content
    # The document says what is sent: a JSON number.
    schemas = api.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["IndicatorResource"]["properties"]["target"]["type"] == "number"
    assert schemas["Measurement"]["properties"]["value"]["type"] == "number"


def read_version(api: Api) -> int:
    return int(api.commitment(RAIL)["version"])


@pytest.mark.parametrize(
    "number",
    [
        b"1e-999999",
        b"1e-7",
        b"1000000000000000",
        b"1e15",
        b"1e999999999",
        b"-1e999999999",
        b"1e-999999999",
        b"0.0000001",
    ],
)
def test_json_numbers_that_cannot_be_stored_exactly_are_refused(api: Api, number: bytes) -> None:
    before = api.head()
    response = api.post(
        f"{BASE}/{RAIL}/indicators",
        content=b'{"name": "Too fine", "unit": "t", "baseline": 0, "target": ' + number + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert "target" in problem(response, 422)
    assert api.head() == before


def test_a_measurement_keeps_its_exact_value(api: Api) -> None:
    indicator = api.commitment(RAIL)["indicators"][0]["id"]
    response = api.post(
        f"{BASE}/{RAIL}/indicators/{indicator}/measurements",
        content=b'{"value": 123456789.123456, "as_of": "2026-07-31"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    stored = api.services.tracker.get(RAIL).indicator(indicator)
    assert stored.latest_value == Decimal("123456789.123456")


def test_if_match_problems_do_not_quote_the_header_back(api: Api) -> None:
    body = {"rating": "green", "rationale": "r"}
    for tag in ('"' + "9" * 5000 + '"', '"-1"', "garbage here", 'W/"x"'):
        response = api.post(f"{BASE}/{RAIL}/health", json=body, headers={"If-Match": tag})
        assert response.status_code in (400, 412)
        detail = problem(response, response.status_code)
        assert "-1" not in detail and "999" not in detail and "garbage" not in detail
        assert "expected version" not in detail


def test_urls_are_compared_as_urls(api: Api) -> None:
    url = f"{BASE}/{RAIL}/evidence"
    first = api.post(url, json={"url": "HTTPS://EXAMPLE.ORG/Report%7e", "title": "Upper"})
    assert first.status_code == 201, first.text
    for spelling in (
        "https://example.org/Report%7E",
        "https://Example.Org:443/Report%7e",
        "hTTps://example.org/Report%7E",
    ):
        before = api.head()
        again = api.post(url, json={"url": spelling, "title": "Same"})
        assert "already attached" in problem(again, 409)
        assert api.head() == before
    # The path is case-sensitive: another document.
    assert (
        api.post(url, json={"url": "https://example.org/report%7e", "title": "x"}).status_code
        == 201
    )
    twice = api.post(
        f"{BASE}/{RAIL}/progress",
        json={
            "percent": 40,
            "as_of": "2026-07-01",
            "note": "n",
            "evidence": [
                {"url": "http://example.org", "title": "a"},
                {"url": "HTTP://example.org:80/", "title": "b"},
            ],
        },
    )
    assert "twice" in problem(twice, 422)
    for bad in ("https://", "https://example.org:port/x", "https:///x"):
        assert "URL" in problem(api.post(url, json={"url": bad, "title": "t"}), 422)


def test_a_405_names_every_method_of_the_path(api: Api) -> None:
    """Each method of a path is a route of its own: Starlette named the first one's."""
    for path, allowed in (
        ("/api/v1/tokens/0", "DELETE, GET"),
        (BASE, "GET, POST"),
        (f"{BASE}/{RAIL}", "GET, PATCH"),
        ("/api/v1/reports/verify", "POST"),  # not also GET of /reports/{report_id}
    ):
        response = api.client.request("OPTIONS", path)
        problem(response, 405)
        assert response.headers["Allow"] == allowed


def test_empty_or_lax_values_are_refused_not_ignored(api: Api) -> None:
    assert "party ''" in problem(api.get(BASE, params={"party": ""}), 422)
    for lax in (False, "3", 3.0):
        body = {"formats": ["json"], "at_position": lax}
        assert "at_position" in problem(api.post("/api/v1/reports", json=body), 422)


def test_openapi_says_what_the_guards_refuse(api: Api) -> None:
    document = api.get("/openapi.json").json()
    operations = [op for ops in document["paths"].values() for op in ops.values()]
    for operation in operations:  # a token may be refused, so an address locked out
        if "401" in operation["responses"]:
            assert "429" in operation["responses"], operation["operationId"]
    parameters = {
        (p["in"], p["name"]): p["schema"] for op in operations for p in op.get("parameters", ())
    }
    ref = re.compile(parameters["path", "ref"]["pattern"])
    assert ref.match(RAIL) and not ref.match("CMAP\x00") and not ref.match("a\x7fb")
    [party_schema, _] = parameters["query", "party"]["anyOf"]
    party = re.compile(party_schema["items"]["pattern"])  # the filter repeats: each value
    assert all(party.match(p) for p in ("CA", "mx", "Us")) and not party.match("ZZ")
    if_match = re.compile(parameters["header", "if-match"]["pattern"])
    assert all(if_match.match(t) for t in ('"7"', "7", "*", 'W/"7"'))
    assert not any(if_match.match(t) for t in ("", '"5", "6"', "garbage here"))
    key = re.compile(parameters["header", "idempotency-key"]["pattern"])
    assert key.match("k-1") and not key.match("a b") and not key.match("k" * 201)
