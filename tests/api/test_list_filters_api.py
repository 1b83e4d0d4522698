"""GET /commitments filters: repeated values mean either, `health=unrated`, the search over
sectors, refusals (422 problems), and the next milestone's missed marker."""

from __future__ import annotations

from typing import Any

from api.routers.commitments import HealthFilter
from domain.vocabulary import Health
from tests.api.client import BASE, Api, problem


def codes(api: Api, params: list[tuple[str, str]] | dict[str, Any]) -> list[str]:
    response = api.get(BASE, params=params)
    assert response.status_code == 200, response.text
    return [i["code"] for i in response.json()["items"]]


def test_repeated_filters_mean_either(api: Api) -> None:
    api.post(f"{BASE}/CMAP-SEC-CYBER/health", json={"rating": "red", "rationale": "r"})
    api.project()
    items = api.json(BASE, params={"limit": 500})["items"]

    def where(keep: Any) -> list[str]:
        return [i["code"] for i in items if keep(i)]

    stalled = where(lambda i: i["status"] == "stalled")
    started = where(lambda i: i["status"] == "in_progress")
    assert stalled and started  # the sample history has both
    either = codes(api, [("status", "stalled"), ("status", "in_progress"), ("limit", "500")])
    assert either == sorted(stalled + started)  # not the last value alone
    assert codes(api, [("pillar", "security"), ("pillar", "governance")]) == where(
        lambda i: i["pillar"] in ("security", "governance")
    )
    assert codes(api, [("sector", "ports"), ("sector", "RAILWAYS")]) == where(
        lambda i: {"ports", "railways"} & set(i["sectors"])
    )
    assert codes(api, [("party", "us"), ("party", "US")]) == ["CMAP-GOV-USMCA"]
    # Different filters all apply, each of several values.
    assert codes(api, [("health", "red"), ("health", "amber"), ("pillar", "security")]) == where(
        lambda i: i["health"] in ("red", "amber") and i["pillar"] == "security"
    )
    unrated = where(lambda i: i["health"] is None)
    assert unrated and codes(api, {"health": "unrated", "limit": 500}) == unrated
    assert codes(api, [("health", "unrated"), ("health", "red"), ("limit", "500")]) == where(
        lambda i: i["health"] in (None, "red")
    )
    # The search reads sector slugs too.
    assert codes(api, {"q": "labour_mobility"}) == where(
        lambda i: "labour_mobility" in i["sectors"]
    )


def test_a_value_outside_a_filter_is_422(api: Api) -> None:
    for params in (
        [("status", "stalled"), ("status", "asleep")],
        [("health", "purple")],
        [("pillar", "security"), ("pillar", "nowhere")],
        [("party", "CA"), ("party", "XX")],
        [("overdue", "perhaps")],
        [("status", "stalled")] * 21,  # at most 20 values of one filter
    ):
        response = api.get(BASE, params=params)
        problem(response, 422)
        assert response.headers["content-type"] == "application/problem+json"


def test_the_health_filter_is_the_ratings_and_unrated() -> None:
    assert [h.value for h in HealthFilter] == [h.value for h in Health] + ["unrated"]


def test_the_openapi_document_says_filters_repeat(api: Api) -> None:
    operation = api.openapi()["paths"][BASE]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    for name in ("pillar", "sector", "party", "status", "health"):
        schema = parameters[name]["schema"]["anyOf"][0]
        assert schema["type"] == "array", (name, schema)
    assert "either" in operation["description"]
    assert "unrated" in str(parameters["health"])


def test_the_next_milestone_says_when_it_was_missed(api: Api) -> None:
    """The list and the commitment mark an open milestone whose due date has passed as
    missed, as the milestone itself says (USMCA's joint review was due 2026-07-01)."""
    items = api.json(BASE, params={"limit": 500})["items"]
    statuses = []
    for item in items:
        upcoming = item["next_milestone"]
        resource = api.commitment(item["code"])
        assert resource["next_milestone"] == upcoming
        if upcoming is None:
            continue
        [milestone] = [m for m in resource["milestones"] if m["id"] == upcoming["id"]]
        assert upcoming["status"] == milestone["status"] in ("planned", "missed")
        statuses.append(upcoming["status"])
    usmca = next(i for i in items if i["code"] == "CMAP-GOV-USMCA")["next_milestone"]
    assert usmca["due_date"] == "2026-07-01" and usmca["status"] == "missed"
    # As it stood before the due date, the same milestone was planned.
    before = api.json(f"{BASE}/CMAP-GOV-USMCA", params={"as_of": "2026-06-30"})
    assert before["next_milestone"]["status"] == "planned"
