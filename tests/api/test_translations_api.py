"""PUT /api/v1/commitments/{ref}/translations/{language}: translations of a commitment's
text recorded as events with their actor, in the party scope of any write; bad input is
problem+json; the commitment and the list carry them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.client import BASE, Api, problem

RAIL = "CMAP-PROS-RAIL"  # CA-MX, milestones m1, m2, indicator i1 (sample history)
USMCA = "CMAP-GOV-USMCA"  # CA-MX-US
FR = f"{BASE}/{RAIL}/translations/fr"


def put(api: Api, path: str, body: Any, who: str | None = "ca", **kwargs: Any) -> Any:
    return api.request("PUT", path, who, json=body, **kwargs)


def test_a_translation_is_recorded_with_its_actor_and_shown(api: Api) -> None:
    seeded = api.commitment(RAIL)["translations"]
    assert seeded["fr"]["title"] == "Infrastructures et corridors ferroviaires à long terme"
    body = {
        "description": "Des corridors ferroviaires à long terme.",
        "milestones": {"m2": "Document sur les options d'investissement"},
        "indicators": {"i1": "Fret ferroviaire transfrontalier"},
    }
    written = put(api, FR, body)
    assert written.status_code == 200, written.text
    assert written.headers["ETag"] == f'"{written.json()["version"]}"'
    assert int(written.headers["X-Log-Position"]) == api.head()
    expected = {"title": seeded["fr"]["title"]} | body
    assert written.json()["translations"]["fr"] == expected
    assert api.commitment(RAIL)["translations"]["fr"] == expected
    assert api.commitment(RAIL)["translations"]["es"] == seeded["es"]  # untouched
    # The original text is unchanged: translations sit beside it.
    assert api.commitment(RAIL)["milestones"][1]["title"].startswith("SAMPLE DATA")
    [last] = api.history(RAIL)[-1:]
    assert (last["type"], last["actor"]) == ("TextTranslated", api.actor("ca"))
    assert last["data"] == {"language": "fr", "title": None} | body
    # The list (from the projection) carries them too.
    api.project()
    [item] = api.json(BASE, params={"q": RAIL})["items"]
    assert item["translations"]["fr"]["description"] == body["description"]


def test_mexican_editors_translate_into_spanish_and_admins_anything(api: Api) -> None:
    spanish = put(api, f"{BASE}/{USMCA}/translations/es", {"title": "Revisión del T-MEC"}, "mx")
    assert spanish.status_code == 200, spanish.text
    assert put(api, FR, {"title": "Corridors"}, "admin").status_code == 200


@pytest.mark.parametrize(
    ("who", "status"),
    [("us", 403), ("viewer", 403), ("partyless", 403), (None, 401)],
)
def test_only_writers_of_the_commitments_parties_translate(
    api: Api, who: str | None, status: int
) -> None:
    before = api.commitment(RAIL)["version"]
    problem(put(api, FR, {"title": "Corridors"}, who), status)
    assert api.commitment(RAIL)["version"] == before


@pytest.mark.parametrize(
    ("language", "body", "says"),
    [
        ("de", {"title": "Schienen"}, "language must be one of en, fr, es"),
        ("a" * 40, {"title": "x"}, "language must be one of en, fr, es"),
        ("FR", {"title": "x"}, "language must be one of en, fr, es"),
        ("fr%20", {"title": "x"}, "language must be one of en, fr, es"),
        ("en", {"title": "Rail"}, "original language"),
        ("fr", {}, "at least one text"),
        ("fr", {"title": ""}, "title must not be empty"),
        ("fr", {"title": "x" * 201}, "title"),
        ("fr", {"milestones": {"m99": "Étude"}}, "no milestone 'm99'"),
        ("fr", {"indicators": {"i9": "Fret"}}, "no indicator 'i9'"),
        ("fr", {"milestones": ["Étude"]}, "milestones"),
        ("fr", {"milestones": {"m" * 20: "Étude"}}, "milestones"),
        ("fr", {"indicators": {"i1": None}}, "indicators"),
        ("fr", {"title": "Corridors", "code": "X"}, "code"),
        ("fr", {"title": 7}, "title"),
    ],
)
def test_bad_translations_are_problems(
    api: Api, language: str, body: dict[str, Any], says: str
) -> None:
    before = api.commitment(RAIL)["version"]
    detail = problem(put(api, f"{BASE}/{RAIL}/translations/{language}", body), 422)
    assert says in detail
    assert api.commitment(RAIL)["version"] == before


def test_the_same_translation_twice_is_refused_but_a_retry_with_its_key_is_replayed(
    api: Api,
) -> None:
    body = {"title": "Corridors ferroviaires"}
    first = put(api, FR, body, headers={"Idempotency-Key": "tr-1"})
    replayed = put(api, FR, body, headers={"Idempotency-Key": "tr-1"})
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == first.json()
    assert "changes nothing" in problem(put(api, FR, body), 422)
    problem(put(api, FR, {"title": "Autre"}, headers={"If-Match": '"1"'}), 412)


def test_a_revised_title_is_untranslated_until_translated_again(api: Api) -> None:
    revised = api.patch(f"{BASE}/{RAIL}", "ca", json={"title": "Rail corridors", "reason": "r"})
    assert revised.status_code == 200, revised.text
    # The seeds translated RAIL's title only: no translation is left.
    assert api.commitment(RAIL)["translations"] == {}
    assert put(api, FR, {"title": "Corridors ferroviaires"}).status_code == 200
    assert api.commitment(RAIL)["translations"]["fr"]["title"] == "Corridors ferroviaires"


def test_the_endpoint_is_documented(api: Api) -> None:
    operation = api.openapi()["paths"][f"{BASE}/{{ref}}/translations/{{language}}"]["put"]
    assert operation["operationId"] == "translate_text"
    assert {"403", "422"} <= set(operation["responses"])


def test_a_text_written_in_spanish_is_recorded_so_and_translated_into_english(api: Api) -> None:
    added = api.post(
        f"{BASE}/{RAIL}/milestones",
        "mx",
        json={"title": "Informe conjunto de puertos", "due_date": "2027-03-31", "language": "es"},
    )
    assert added.status_code == 201, added.text
    milestone = added.json()["id"]
    path = f"milestones.{milestone}"
    assert api.commitment(RAIL)["text_languages"] == {path: "es"}
    assert api.history(RAIL)[-1]["data"]["language"] == "es"
    indicator = api.post(
        f"{BASE}/{RAIL}/indicators",
        "mx",
        json={
            "name": "Escalas conjuntas",
            "unit": "u",
            "baseline": 0,
            "target": 4,
            "language": "es",
        },
    )
    assert indicator.status_code == 201, indicator.text
    # Not into its own language: a 422 that says which text is written in it.
    own = put(api, f"{BASE}/{RAIL}/translations/es", {"milestones": {milestone: "Informe"}}, "mx")
    assert f"text {path} is written in es" in problem(own, 422)
    # Into English (refused for an English text) and French, it is.
    en = put(
        api, f"{BASE}/{RAIL}/translations/en", {"milestones": {milestone: "Joint ports report"}}
    )
    assert en.status_code == 200, en.text
    assert en.json()["translations"]["en"] == {"milestones": {milestone: "Joint ports report"}}
    english_title = put(api, f"{BASE}/{RAIL}/translations/en", {"title": "Rail"})
    assert "text title is written in en" in problem(english_title, 422)
    # A text without a language is English, as before; a language we do not read is a 422.
    bad = api.post(
        f"{BASE}/{RAIL}/milestones",
        "ca",
        json={"title": "X", "due_date": "2027-03-31", "language": "de"},
    )
    assert "language must be one of en, fr, es" in problem(bad, 422)


def test_the_language_of_a_text_is_documented_in_the_request_bodies(api: Api) -> None:
    schemas = api.openapi()["components"]["schemas"]
    described = [
        name for name, schema in schemas.items() if "language" in schema.get("properties", {})
    ]
    for command in ("AddMilestone", "DefineIndicator", "ReviseDetails", "RegisterCommitment"):
        assert any(name.startswith(command) for name in described), (command, described)
