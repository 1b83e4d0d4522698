"""The dashboard's forms over HTTP: each records exactly the event the API would, refuses
what the API refuses (party scope, viewers), keeps what was typed on every error, and is
idempotent on a double submit; and the sessions behind the sign-in cookie."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from adapters.i18n import label
from adapters.sessions import SessionStore
from api.form_specs import FORMS
from domain.commands import (
    ChangeStatus,
    DefineIndicator,
    LogProgress,
    PlannedMilestone,
    ReviseDetails,
)
from domain.vocabulary import Pillar, Status
from tests.api.client import BASE, Api, post_login, serving
from tests.support import MX_EDITOR, registration, write

CODE = "CMAP-GOV-FORMS"
_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


@pytest.fixture
def forms(api: Api) -> Api:
    """A CA-MX commitment with two milestones, and Ana (editor, CA) signed in."""
    write(
        api.services,
        registration(
            CODE,
            pillar=Pillar.GOVERNANCE,
            sectors=("governance",),
            milestones=(
                PlannedMilestone(title="Terms agreed", due_date=date(2026, 6, 30)),
                PlannedMilestone(title="First review", due_date=date(2027, 3, 31)),
            ),
        ),
    )
    sign_in(api, "ca")
    return api


def sign_in(api: Api, who: str) -> httpx.Response:
    api.client.cookies.clear()
    response = post_login(api.client, api.token(who))
    assert response.status_code == 303, response.text
    return response


def hidden(page: str) -> dict[str, str]:
    return dict(_HIDDEN.findall(page))


class _Controls(HTMLParser):
    """What a browser would send of a form as shown: every control's current value."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("name"):
            if a.get("type") == "checkbox" and "checked" not in a:
                return  # an empty box is not sent
            self.values[str(a["name"])] = a.get("value") or ""
        elif tag == "textarea":
            self._textarea = a.get("name")
            self.values[str(self._textarea)] = ""
        elif tag == "select":
            self._select = a.get("name")
            self.values[str(self._select)] = ""
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.values[self._textarea] += data


def shown(page: str) -> dict[str, str]:
    parser = _Controls()
    parser.feed(page)
    return parser.values


def fill(api: Api, form: str, code: str = CODE, **values: str) -> httpx.Response:
    """Open the form as a browser does and submit it with `values` typed in."""
    page = api.client.get(f"/c/{code}/{form}")
    assert page.status_code == 200, page.text
    return send(api, form, shown(page.text) | values, code)


def send(api: Api, form: str, data: dict[str, str], code: str = CODE) -> httpx.Response:
    response: httpx.Response = api.client.post(
        f"/c/{code}/{form}", data=data, follow_redirects=False
    )
    return response


def recorded(response: httpx.Response, saved: str) -> None:
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/c/{CODE}?saved={saved}#actions"


def events(api: Api, code: str = CODE) -> list[dict[str, Any]]:
    return api.history(code)


def field_error(page: str, name: str) -> str:
    """The message shown next to a field, after checking the control points to it."""
    control = re.search(rf'<(?:input|select|textarea)[^>]*id="f-{name}"[^>]*>', page)
    assert control, page
    assert 'aria-invalid="true"' in control.group(0)
    assert f"f-{name}-error" in control.group(0)  # aria-describedby
    message = re.search(rf'<p class="field-error" id="f-{name}-error">([^<]*)</p>', page)
    assert message, page
    assert f'href="#f-{name}"' in page  # and in the summary on top
    return html.unescape(message.group(1))


def test_log_progress_records_the_event_the_api_records(forms: Api) -> None:
    api = forms
    before = len(events(api))
    response = fill(api, "progress", percent="35", as_of="2026-03-31", note="Study half done")
    recorded(response, "progress")
    # Progress on a not-started commitment moves it, as the API's write does.
    event, moved = events(api)[before:]
    assert (event["type"], moved["type"]) == ("ProgressLogged", "StatusChanged")
    assert event["actor"] == api.actor("ca")
    assert event["data"]["percent"] == 35 and event["data"]["as_of"] == "2026-03-31"
    assert event["data"]["note"] == "Study half done" and event["data"]["confidence"] is None
    page = api.client.get(response.headers["location"]).text
    assert '<p class="saved" role="status">Progress recorded.</p>' in page
    assert api.commitment(CODE)["progress"] == 35


def test_a_double_submit_records_once(forms: Api) -> None:
    api = forms
    page = api.client.get(f"/c/{CODE}/milestones")
    data = hidden(page.text) | {"title": "Final report", "due_date": "2027-12-31"}
    first, second = send(api, "milestones", data), send(api, "milestones", data)
    recorded(first, "milestones")
    recorded(second, "milestones")  # lands where the first did
    added = [e for e in events(api) if e["type"] == "MilestoneAdded"]
    assert [e["data"]["title"] for e in added].count("Final report") == 1
    # The same key with other values is not a silent replay: it says so, keeps the input.
    third = send(api, "milestones", data | {"title": "Another report"})
    assert third.status_code == 409 and 'value="Another report"' in third.text
    again = send(api, "milestones", data | hidden(third.text) | {"title": "Another report"})
    recorded(again, "milestones")


def test_errors_are_shown_next_to_their_field_and_nothing_typed_is_lost(forms: Api) -> None:
    api = forms
    before = len(events(api))
    note = "Line one\nwith <b>markup</b> & accents: économie"
    response = fill(api, "progress", percent="140", as_of="2026-03-31", note=note)
    assert response.status_code == 422
    assert field_error(response.text, "percent") == "Enter a whole number from 0 to 100."
    assert 'value="140"' in response.text and 'value="2026-03-31"' in response.text
    assert "Line one\nwith &lt;b&gt;markup&lt;/b&gt; &amp; accents: économie</textarea>" in (
        response.text
    )
    assert 'role="alert" id="error-summary"' in response.text
    # The model's refusals too: a date in the future, a required field left empty.
    future = (date.today() + timedelta(days=30)).isoformat()
    response = fill(api, "progress", percent="20", as_of=future, note="")
    assert response.status_code == 422
    assert field_error(response.text, "note") == "This field is required."
    response = fill(api, "progress", percent="20", as_of=future, note="n")
    assert response.status_code == 422
    assert "is in the future" in field_error(response.text, "as_of")
    assert f'value="{future}"' in response.text
    assert len(events(api)) == before  # nothing recorded


@pytest.mark.parametrize(
    ("form", "values", "field", "status", "message"),
    [
        ("milestones/complete", {"milestone_id": "m9", "completed_on": "2026-01-05"},
         "milestone_id", 422, "Choose a milestone of this commitment."),
        ("details", {"target_date": "2025-01-01", "reason": "re-planned"},
         "target_date", 422, "The target date must not be before the commitment's start date."),
        ("status", {"status": "superseded", "reason": "merged"},
         "superseded_by", 422, "Give the code of the commitment that replaces this one."),
        ("milestones", {"title": "Terms agreed", "due_date": "2027-01-01"},
         "title", 409, "This commitment already has a milestone with this title."),
        ("indicators", {"name": "Reviews", "unit": "count", "baseline": "zero", "target": "4"},
         "baseline", 422, "Enter a number, such as 12.5."),
        ("evidence", {"url": "ftp://example.org/x", "title": "Minutes"},
         "url", 422, "Enter a web address that starts with https:// or http://."),
        ("progress", {"percent": "20", "as_of": "2020-01-01", "note": "early"},
         "as_of", 422, "This date is before the commitment's start date (2025-09-18): nothing "
         "can take effect before it started."),
        ("milestones", {"title": "Old plan", "due_date": "2020-01-01"},
         "due_date", 422,
         "A milestone cannot fall due before the commitment's start date (2025-09-18)."),
    ],
)  # fmt: skip
def test_refusals_of_the_model_name_their_field(
    forms: Api, form: str, values: dict[str, str], field: str, status: int, message: str
) -> None:
    response = fill(forms, form, **values)
    assert response.status_code == status, response.text
    assert field_error(response.text, field) == message
    kept = shown(response.text)
    assert {k: kept[k] for k in values} == values  # nothing typed is lost


def test_an_invalid_transition_is_shown_at_the_status(forms: Api) -> None:
    api = forms
    write(api.services, ChangeStatus(status=Status.IN_PROGRESS, reason="started"), ref=CODE)
    response = fill(api, "status", status="not_started", reason="back to the start")
    assert response.status_code == 409
    assert field_error(response.text, "status").startswith(
        "A commitment that is In progress cannot become Not started"
    )


def test_each_form_records_the_event_the_api_would(forms: Api) -> None:
    api = forms
    cases: list[tuple[str, dict[str, str], str, dict[str, Any]]] = [
        ("health", {"rating": "amber", "rationale": "Slipping"}, "HealthRated",
         {"rating": "amber", "rationale": "Slipping"}),
        ("milestones/complete", {"milestone_id": "m1", "completed_on": "2026-06-29",
                                 "note": "Signed"}, "MilestoneCompleted",
         {"milestone_id": "m1", "completed_on": "2026-06-29", "note": "Signed"}),
        ("milestones/reschedule", {"milestone_id": "m2", "due_date": "2027-06-30",
                                   "reason": "later review"}, "MilestoneRescheduled",
         {"milestone_id": "m2", "due_date": "2027-06-30", "reason": "later review"}),
        ("indicators", {"name": "Reviews held", "unit": "count", "baseline": "0",
                        "target": "4.5"}, "IndicatorDefined",
         {"indicator_id": "i1", "name": "Reviews held", "unit": "count", "baseline": "0",
          "target": "4.5"}),
        ("indicators/measure", {"indicator_id": "i1", "value": "2", "as_of": "2026-09-30"},
         "IndicatorMeasured", {"indicator_id": "i1", "value": "2", "as_of": "2026-09-30"}),
        ("evidence", {"url": "https://example.org/minutes", "title": "Minutes",
                      "publisher": "GAC", "published_on": "2026-02-20"}, "EvidenceAttached",
         {"evidence": {"url": "https://example.org/minutes", "title": "Minutes",
                       "publisher": "GAC", "published_on": "2026-02-20"}}),
        ("details", {"title": "Joint evaluation forms", "sectors": "governance, research",
                     "reason": "scope widened"}, "DetailsRevised",
         {"changes": {"title": "Joint evaluation forms",
                      "sectors": ["governance", "research"]}, "reason": "scope widened"}),
        ("status", {"status": "suspended", "reason": "funding paused", "as_of": "2026-10-01"},
         "StatusChanged", {"status": "suspended", "reason": "funding paused",
                           "as_of": "2026-10-01"}),
    ]  # fmt: skip
    for form, values, kind, expected in cases:
        before = len(events(api))
        response = fill(api, form, **values)
        recorded(response, form)
        [event] = events(api)[before:]
        assert event["type"] == kind and event["actor"] == api.actor("ca")
        assert {k: _plain(event["data"].get(k)) for k in expected} == expected, form


def _plain(value: Any) -> Any:
    """Numbers as the forms typed them (the history answers exact decimals as numbers)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def test_a_joint_closure_is_proposed_confirmed_and_rejected_through_forms(forms: Api) -> None:
    api = forms
    write(api.services, ChangeStatus(status=Status.IN_PROGRESS, reason="started"), ref=CODE)
    proposed = fill(api, "status", status="completed", reason="all done")
    assert proposed.headers["location"] == f"/c/{CODE}?saved=status-proposed#actions"
    assert events(api)[-1]["type"] == "ClosureProposed"
    page = api.client.get(f"/c/{CODE}").text
    # The proposing party is offered to withdraw it, not to confirm it.
    assert f'href="/c/{CODE}/closure/confirm"' not in page
    assert f'href="/c/{CODE}/closure/reject"' in page
    assert f'href="/c/{CODE}/status"' not in page  # one proposal at a time
    # Nor can it confirm at the form's address: said at the form, input kept.
    own = fill(api, "closure/confirm", note="we agree with ourselves")
    assert own.status_code == 403 and "an editor of another party must confirm" in own.text
    assert "we agree with ourselves</textarea>" in own.text
    sign_in(api, "mx")
    rejected = fill(api, "closure/reject", reason="report not published")
    recorded(rejected, "closure/reject")
    assert events(api)[-1]["type"] == "ClosureRejected"
    write(
        api.services,
        ChangeStatus(status=Status.COMPLETED, reason="report out"),
        ref=CODE,
        principal=MX_EDITOR,
    )
    sign_in(api, "ca")
    confirmed = fill(api, "closure/confirm", note="agreed")
    recorded(confirmed, "closure/confirm")
    assert [e["type"] for e in events(api)[-2:]] == ["ClosureConfirmed", "StatusChanged"]
    assert api.commitment(CODE)["status"] == "completed"
    # Closed: only reopening is offered, and translating (a closed commitment is still read).
    offered = re.findall(rf'<li><a href="/c/{CODE}/([a-z/]+)">', api.client.get(f"/c/{CODE}").text)
    assert offered == ["status", "translations"]


def test_a_stale_form_says_what_changed_and_keeps_the_input(forms: Api) -> None:
    api = forms
    page = api.client.get(f"/c/{CODE}/health")
    write(
        api.services,
        LogProgress(percent=10, as_of=date(2026, 3, 1), note="meanwhile"),
        ref=CODE,
        principal=MX_EDITOR,
    )
    data = hidden(page.text) | {"rating": "red", "rationale": "Blocked"}
    stale = send(api, "health", data)
    assert stale.status_code == 409
    assert "was changed since you opened this form" in stale.text
    assert 'id="changes"' in stale.text and "meanwhile" in stale.text
    assert '<option value="red" selected>' in stale.text and "Blocked</textarea>" in stale.text
    assert not any(e["type"] == "HealthRated" for e in events(api))
    # Submitted again, having seen the changes: recorded.
    recorded(send(api, "health", hidden(stale.text) | data | hidden(stale.text)), "health")
    assert events(api)[-1]["type"] == "HealthRated"


def test_csrf_is_required(forms: Api) -> None:
    api = forms
    page = api.client.get(f"/c/{CODE}/progress")
    data = hidden(page.text) | {"percent": "5", "as_of": "2026-03-31", "note": "n"}
    forged = send(api, "progress", data | {"csrf_token": "forged"})
    assert forged.status_code == 403 and "did not come from this site" in forged.text
    assert 'value="5"' in forged.text  # kept
    assert not any(e["type"] == "ProgressLogged" for e in events(api))


def test_party_scope_and_viewers_are_refused_as_the_api_refuses(forms: Api) -> None:
    api = forms
    body = {"percent": 5, "as_of": "2026-03-31", "note": "n"}
    assert api.post(f"{BASE}/{CODE}/progress", "us", json=body).status_code == 403
    sign_in(api, "us")
    page = api.client.get(f"/c/{CODE}")
    assert "You cannot edit this commitment" in page.text
    assert f'href="/c/{CODE}/progress"' not in page.text
    form = api.client.get(f"/c/{CODE}/progress")
    assert form.status_code == 403 and '<form method="post" action="/c/' not in form.text
    # A form made for someone else, posted with this session's CSRF token: refused.
    token = hidden(page.text)["csrf_token"]
    data = {"csrf_token": token, "idempotency_key": "k" * 20, "version": "1"}
    posted = send(api, "progress", data | {k: str(v) for k, v in body.items()})
    assert posted.status_code == 403
    sign_in(api, "viewer")
    assert "read commitments, not change them" in api.client.get(f"/c/{CODE}").text
    assert api.client.get(f"/c/{CODE}/health").status_code == 403
    assert not any(e["type"] == "ProgressLogged" for e in events(api))


def test_forms_need_a_session(forms: Api) -> None:
    api = forms
    page = api.client.get(f"/c/{CODE}/progress")
    api.client.cookies.delete("commitments_session")
    assert api.client.get(f"/c/{CODE}/progress", follow_redirects=False).status_code == 303
    data = hidden(page.text) | {"percent": "5", "as_of": "2026-03-31", "note": "kept"}
    ended = send(api, "progress", data)
    assert ended.status_code == 401 and "Your sign-in has ended" in ended.text
    assert "kept</textarea>" in ended.text


# ---- a partial completion ----------------------------------------------------------------


def test_a_partial_completion_recorded_through_forms_is_counted_as_logged(forms: Api) -> None:
    api = forms
    recorded(fill(api, "progress", percent="70", as_of="2026-03-31", note="most done"), "progress")
    page = api.client.get(f"/c/{CODE}/status").text
    assert '<input type="checkbox" id="f-partial" name="partial"' in page
    assert '<label for="f-partial">Completed in part</label>' in page
    assert "partial" not in shown(page)  # not ticked unless the official ticks it
    # A joint commitment: Ana's completion is a proposal that carries the flag...
    proposed = fill(api, "status", status="completed", reason="rail study only", partial="true")
    assert proposed.headers["location"] == f"/c/{CODE}?saved=status-proposed#actions"
    proposal = events(api)[-1]
    assert proposal["type"] == "ClosureProposed" and proposal["data"]["partial"] is True
    # ...to the completion Mexico confirms.
    sign_in(api, "mx")
    recorded(fill(api, "closure/confirm", note="agreed"), "closure/confirm")
    completion = events(api)[-1]
    assert completion["type"] == "StatusChanged" and completion["data"]["partial"] is True
    commitment = api.commitment(CODE)
    assert commitment["status"] == "completed" and commitment["completion_partial"] is True
    assert commitment["counted_progress"] == 70  # not 100: done in part


def test_a_full_completion_leaves_the_box_empty(forms: Api) -> None:
    api = forms
    recorded(fill(api, "progress", percent="70", as_of="2026-03-31", note="most done"), "progress")
    sign_in(api, "admin")
    recorded(fill(api, "status", status="completed", reason="all delivered"), "status")
    assert events(api)[-1]["data"]["partial"] is False
    assert api.commitment(CODE)["counted_progress"] == 100


def test_partial_with_another_status_is_refused_at_the_box_input_kept(forms: Api) -> None:
    api = forms
    before = len(events(api))
    typed = {"status": "suspended", "reason": "funding paused", "partial": "true"}
    response = fill(api, "status", **typed)
    assert response.status_code == 422
    assert field_error(response.text, "partial") == (
        "Tick this only when the new status is Completed."
    )
    kept = shown(response.text)
    assert {k: kept.get(k) for k in typed} == typed  # the box is still ticked
    assert len(events(api)) == before
    # Untick it and the same form records the suspension.
    recorded(send(api, "status", {k: v for k, v in kept.items() if k != "partial"}), "status")
    assert events(api)[-1]["data"]["partial"] is False


# ---- translating a commitment's text -------------------------------------------------------

TWIN = "CMAP-GOV-TWIN"


@pytest.fixture
def texts(forms: Api) -> Api:
    """The forms' commitment and a twin, each with a description and an indicator."""
    api = forms
    for code in (CODE, TWIN):
        if code == TWIN:
            write(
                api.services,
                registration(
                    TWIN,
                    pillar=Pillar.GOVERNANCE,
                    sectors=("governance",),
                    milestones=(
                        PlannedMilestone(title="Terms agreed", due_date=date(2026, 6, 30)),
                        PlannedMilestone(title="First review", due_date=date(2027, 3, 31)),
                    ),
                ),
            )
        write(api.services, ReviseDetails(description="Joint review", reason="r"), ref=code)
        write(
            api.services,
            DefineIndicator(name="Reviews", unit="n", baseline=Decimal(0), target=Decimal(4)),
            ref=code,
        )
    return api


def translate(api: Api, language: str, code: str = CODE, **values: str) -> httpx.Response:
    page = api.client.get(f"/c/{code}/translations?language={language}")
    assert page.status_code == 200, page.text
    return send(api, "translations", shown(page.text) | values, code)


def test_the_language_is_chosen_first_and_the_originals_are_shown(texts: Api) -> None:
    api = texts
    page = api.client.get(f"/c/{CODE}").text
    assert f'<a href="/c/{CODE}/translations">Translate the text</a>' in page
    chooser = api.client.get(f"/c/{CODE}/translations").text
    assert f'<form method="get" action="/c/{CODE}/translations"' in chooser
    assert 'method="post"' not in chooser.split("<main", 1)[1].split('action="/logout"')[0]
    assert '<option value="fr">French</option>' in chooser
    assert '<option value="es">Spanish</option>' in chooser
    assert 'name="title"' not in chooser
    form = api.client.get(f"/c/{CODE}/translations?language=es").text
    assert shown(form)["language"] == "es" and "Translate into <strong>Spanish</strong>" in form
    for name, original in [
        ("title", "Rail corridors"),
        ("description", "Joint review"),
        ("milestones.m1", "Terms agreed"),
        ("milestones.m2", "First review"),
        ("indicators.i1", "Reviews"),
    ]:
        assert f'id="f-{name}-original">Original (English): <span lang="en">{original}</span>' in (
            form
        )
        control = re.search(rf'<(?:input|textarea)[^>]*id="f-{re.escape(name)}"[^>]*>', form)
        assert control and f"f-{name}-original" in control.group(0)  # aria-describedby
        assert shown(form)[name] == ""  # nothing translated yet
    assert '<label for="f-milestones.m2">Milestone 2</label>' in form
    # In French, the form reads in French; the originals stay in English.
    french = api.client.get(f"/c/{CODE}/translations?language=fr&lang=fr").text
    assert '<span lang="en">Terms agreed</span>' in french and "Jalon 2" in french


def test_a_translation_records_the_event_the_api_records(texts: Api) -> None:
    api = texts
    typed = {
        "title": "Corredores ferroviarios",
        "milestones.m2": "Primera revisión",
        "indicators.i1": "Revisiones",
    }
    recorded(translate(api, "es", **typed), "translations")
    event = events(api)[-1]
    body = {
        "title": "Corredores ferroviarios",
        "milestones": {"m2": "Primera revisión"},
        "indicators": {"i1": "Revisiones"},
    }
    through_api = api.request("PUT", f"{BASE}/{TWIN}/translations/es", "ca", json=body)
    assert through_api.status_code == 200, through_api.text
    twin = events(api, TWIN)[-1]
    assert event["type"] == twin["type"] == "TextTranslated"
    assert event["actor"] == twin["actor"] == api.actor("ca")
    assert event["data"] == twin["data"]  # left-empty fields were not sent
    assert event["data"]["description"] is None and "m1" not in event["data"]["milestones"]
    assert api.commitment(CODE)["translations"] == api.commitment(TWIN)["translations"]
    # The form now starts from that translation; only what is changed is sent again.
    again = api.client.get(f"/c/{CODE}/translations?language=es").text
    assert {k: shown(again)[k] for k in typed} == typed
    assert shown(api.client.get(f"/c/{CODE}/translations?language=fr").text)["title"] == ""
    recorded(translate(api, "es", **{"milestones.m1": "Términos acordados"}), "translations")
    latest = events(api)[-1]["data"]
    assert latest["milestones"] == {"m1": "Términos acordados"} and latest["title"] is None
    assert latest["indicators"] == {}


def test_translating_keeps_the_party_scope_of_revising_details(texts: Api) -> None:
    api = texts
    body = {"title": "Corridors ferroviaires"}
    refused = api.request("PUT", f"{BASE}/{CODE}/translations/fr", "us", json=body)
    assert refused.status_code == 403
    sign_in(api, "ca")
    data = shown(api.client.get(f"/c/{CODE}/translations?language=fr").text) | body
    for who in ("us", "viewer"):
        sign_in(api, who)
        page = api.client.get(f"/c/{CODE}")
        assert f'href="/c/{CODE}/translations"' not in page.text
        assert api.client.get(f"/c/{CODE}/translations?language=fr").status_code == 403
        posted = send(api, "translations", data | {"csrf_token": hidden(page.text)["csrf_token"]})
        assert posted.status_code == 403 and '<form method="post" action="/c/' not in posted.text
    assert not any(e["type"] == "TextTranslated" for e in events(api))
    sign_in(api, "mx")  # Mexico is a party
    recorded(translate(api, "fr", **body), "translations")


def test_translation_errors_are_shown_in_place_and_nothing_typed_is_lost(texts: Api) -> None:
    api = texts
    typed = {
        "title": "T" * 201,
        "description": "Examen\nconjoint",
        "milestones.m1": "Conditions\x01 convenues",
    }
    response = translate(api, "fr", **typed)
    assert response.status_code == 422
    assert field_error(response.text, "title") == "Use at most 200 characters."
    kept = shown(response.text)
    assert {k: kept[k] for k in typed} == typed and kept["language"] == "fr"
    response = send(api, "translations", kept | {"title": "Corridors ferroviaires"})
    assert response.status_code == 422
    assert field_error(response.text, "milestones.m1") == (
        "Remove the control characters from this text."
    )
    assert shown(response.text)["title"] == "Corridors ferroviaires"
    # Nothing typed at all: said on top of the form.
    nothing = translate(api, "fr")
    assert nothing.status_code == 422
    assert "Nothing was changed: enter or change at least one translation." in nothing.text
    # A text already written in the language chosen: at that text, to be left empty.
    wrong = send(
        api, "translations", kept | {"language": "en", "title": "Corridors", "milestones.m1": "ok"}
    )
    assert wrong.status_code == 422
    assert field_error(wrong.text, "title") == (
        "This text is written in the language chosen: leave it empty."
    )
    assert shown(wrong.text)["milestones.m1"] == "ok"
    assert not any(e["type"] == "TextTranslated" for e in events(api))


def test_a_translation_submitted_twice_is_recorded_once(texts: Api) -> None:
    api = texts
    page = api.client.get(f"/c/{CODE}/translations?language=fr").text
    data = shown(page) | {"title": "Corridors ferroviaires", "indicators.i1": "Examens"}
    first, second = send(api, "translations", data), send(api, "translations", data)
    recorded(first, "translations")
    recorded(second, "translations")  # lands where the first did
    assert [e["type"] for e in events(api)].count("TextTranslated") == 1


def test_a_revision_submitted_twice_is_recorded_once(forms: Api) -> None:
    """What a revision sends is what differs from the commitment as the form showed it, so
    the second submit is the same request as the first (not an empty revision)."""
    api = forms
    page = api.client.get(f"/c/{CODE}/details").text
    data = shown(page) | {"title": "Joint evaluation forms", "reason": "clearer"}
    recorded(send(api, "details", data), "details")
    recorded(send(api, "details", data), "details")
    assert [e["type"] for e in events(api)].count("DetailsRevised") == 1


# ---- sessions ---------------------------------------------------------------------------


def test_the_cookie_holds_a_session_id_not_the_token(api: Api) -> None:
    response = sign_in(api, "ca")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("commitments_session=")
    assert api.token("ca") not in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
    assert "secure" not in cookie.lower()  # served over http here
    session_id = api.client.cookies["commitments_session"]
    with api.services.database.reading() as connection:
        rows = connection.exec_driver_sql("SELECT id_hash, token_id FROM sessions").all()
    assert rows and all(session_id not in row.id_hash for row in rows)  # only its hash
    # Over HTTPS (behind a TLS proxy, say), the cookie is Secure.
    tls = TestClient(api.app, base_url="https://testserver")
    assert "secure" in post_login(tls, api.token("ca")).headers["set-cookie"].lower()


@pytest.mark.parametrize("seeded_url", ["postgresql"], indirect=True)
def test_sessions_and_forms_on_postgresql_across_two_servers(seeded_url: str) -> None:
    """A session lives in the database: signed in on one server, a form is shown by it
    and recorded by another; signing out on the second ends it on the first."""
    with (
        serving(seeded_url, secret_key="shared") as one,
        serving(seeded_url, secret_key="shared") as two,
    ):
        write(one.services, registration(CODE, pillar=Pillar.GOVERNANCE, sectors=("governance",)))
        sign_in(one, "ca")
        two.client.cookies.update(one.client.cookies)
        page = one.client.get(f"/c/{CODE}/health")
        data = shown(page.text) | {"rating": "green", "rationale": "On track"}
        recorded(send(two, "health", data), "health")
        recorded(send(one, "health", data), "health")  # the same submit again: once
        assert [e["type"] for e in events(two)].count("HealthRated") == 1
        csrf = hidden(two.client.get(f"/c/{CODE}").text)["csrf_token"]
        assert two.client.post("/logout", data={"csrf_token": csrf}).url.path == "/login"
        assert one.client.get(f"/c/{CODE}", follow_redirects=False).status_code == 303


def test_signing_out_ends_the_session_on_the_server(api: Api) -> None:
    sign_in(api, "ca")
    session_id = api.client.cookies["commitments_session"]
    page = api.client.get("/c/CMAP-PROS-RAIL")
    assert page.status_code == 200
    out = api.client.post("/logout", data={"csrf_token": hidden(page.text)["csrf_token"]})
    assert out.status_code == 200 and out.url.path == "/login"
    # The old cookie, copied before signing out, no longer works.
    api.client.cookies.set("commitments_session", session_id)
    assert api.client.get("/c/CMAP-PROS-RAIL", follow_redirects=False).status_code == 303


def test_revoking_the_token_ends_its_sessions(api: Api) -> None:
    sign_in(api, "ca")
    session_id = api.client.cookies["commitments_session"]
    token_id = api.services.tokens.get("ana.ca").id
    assert api.services.sessions.open_sessions(token_id) == 1
    revoked = api.delete(f"/api/v1/tokens/{token_id}", "admin")
    assert revoked.status_code in (200, 204), revoked.text
    assert api.services.sessions.open_sessions(token_id) == 0  # ended with the revocation
    api.client.cookies.set("commitments_session", session_id)
    assert api.client.get("/c/CMAP-PROS-RAIL", follow_redirects=False).status_code == 303


def test_sessions_expire_when_idle_and_at_their_absolute_limit(api: Api) -> None:
    token = api.token("ca")
    principal = api.services.authenticate(token)
    assert principal is not None
    now = [api.services.sessions.now()]
    store = SessionStore(
        api.services.database, idle_seconds=600, max_seconds=3600, now=lambda: now[0]
    )
    idle = store.start(principal)
    now[0] += timedelta(seconds=599)
    assert store.holder(idle) == principal  # seen: the idle clock starts again
    now[0] += timedelta(seconds=599)
    assert store.holder(idle) == principal
    now[0] += timedelta(seconds=601)
    assert store.holder(idle) is None  # idle too long
    now[0] -= timedelta(seconds=601)
    assert store.holder(idle) is None  # and ended for good
    busy = store.start(principal)
    for _ in range(7):
        now[0] += timedelta(seconds=500)
        assert store.holder(busy) == principal
    now[0] += timedelta(seconds=500)
    assert store.holder(busy) is None  # 4000 s after its start, though never idle


def test_an_expired_token_ends_its_sessions(api: Api) -> None:
    sign_in(api, "ca")
    session_id = api.client.cookies["commitments_session"]
    principal = api.services.sessions.holder(session_id)
    assert principal is not None and principal.token_id is not None
    later = api.services.sessions.now() + timedelta(days=1)
    with api.services.database.writing() as connection:
        connection.exec_driver_sql(
            "UPDATE api_tokens SET expires_at = ? WHERE id = ?",
            (api.services.sessions.now() + timedelta(hours=1), principal.token_id),
        )
    store = SessionStore(api.services.database, now=lambda: later, idle_seconds=10 * 86400)
    store.max_age = timedelta(days=10)
    assert store.holder(session_id) is None
    assert api.services.sessions.open_sessions(principal.token_id) == 0


def test_failed_sign_ins_are_still_throttled(api: Api) -> None:
    with serving(api.url, auth_failure_limit="3/minute") as limited:
        for _ in range(3):
            assert post_login(limited.client, "cmt_wrong").status_code == 401
        throttled = post_login(limited.client, limited.token("ca"))
        assert throttled.status_code == 429 and "Retry-After" in throttled.headers
        # A forged session cookie counts as a failure, and is refused while throttled.
        limited.client.cookies.set("commitments_session", "x" * 43)
        assert limited.client.get("/", follow_redirects=False).status_code == 303


def test_forms_read_in_the_chosen_language(forms: Api) -> None:
    api = forms
    page = api.client.get(f"/c/{CODE}/milestones/complete?lang=fr")
    assert "<h1>Marquer un jalon comme atteint</h1>" in page.text
    assert '<option value="m1">Terms agreed (2026-06-30)</option>' in page.text
    refused = send(api, "milestones/complete", shown(page.text) | {"milestone_id": ""})
    assert refused.status_code == 422
    assert field_error(refused.text, "milestone_id") == "Ce champ est obligatoire."
    statuses = api.client.get(f"/c/{CODE}/status?lang=es").text
    words = label("in_progress", "es")  # the label, whatever the catalogue says, not the code
    assert f'<option value="in_progress">{words}</option>' in statuses


_HIDDEN_NAMES = {"csrf_token", "idempotency_key", "version"}
ODD = ["\x00", "x" * 5000, "1e999999", "NaN", "-1", "2026-02-30", "{milestone_id}", "  "]


def test_odd_input_in_any_field_is_a_form_error_never_a_500(forms: Api) -> None:
    api = forms
    write(
        api.services,
        DefineIndicator(name="Reviews", unit="count", baseline=Decimal(0), target=Decimal(4)),
        ref=CODE,
    )
    for spec in FORMS:
        url = f"/c/{CODE}/{spec.slug}" + (f"?{spec.step}=fr" if spec.step else "")
        page = api.client.get(url)
        if page.status_code != 200:
            continue
        base = shown(page.text)
        # Every control, those made for this commitment's milestones and indicators too.
        names = [f.name for f in spec.fields] + [n for n in base if n not in _HIDDEN_NAMES]
        for name in dict.fromkeys(names):
            for odd in ODD:
                response = send(api, spec.slug, base | {name: odd})
                assert response.status_code in (303, 401, 403, 409, 422), (
                    spec.slug,
                    name,
                    odd,
                    response.status_code,
                )
                if response.status_code == 303:  # recorded: a new form for the next
                    base = shown(api.client.get(url).text)
                elif any(f.name == name and f.kind == "checkbox" for f in spec.fields):
                    ticked = name in shown(response.text)
                    assert ticked == bool(odd.strip()), (spec.slug, name, odd)
                else:
                    kept = shown(response.text)[name]
                    assert kept.strip() == odd.strip(), (spec.slug, name, odd)


def test_start_date_refusals_and_the_heading_speak_the_language(forms: Api) -> None:
    api = forms
    api.client.get("/?lang=es")  # the switch, remembered
    response = fill(api, "progress", percent="20", as_of="2024-01-01", note="temprano")
    assert response.status_code == 422
    assert field_error(response.text, "as_of").startswith(
        "Esta fecha es anterior a la fecha de inicio del compromiso (2025-09-18)"
    )
    assert 'value="2024-01-01"' in response.text and "temprano" in response.text
    # The commitment's title in the heading: untranslated here, so marked as the original.
    assert 'class="untranslated"' in response.text


def test_the_proposing_party_may_withdraw_but_is_not_offered_to_confirm(forms: Api) -> None:
    api = forms
    write(api.services, ChangeStatus(status=Status.IN_PROGRESS, reason="started"), ref=CODE)
    proposed = fill(api, "status", status="cancelled", reason="folded into another")
    assert proposed.status_code == 303, proposed.text
    own = api.client.get(f"/c/{CODE}").text
    assert f"/c/{CODE}/closure/reject" in own and f"/c/{CODE}/closure/confirm" not in own
    sign_in(api, "mx")
    other = api.client.get(f"/c/{CODE}").text
    assert f"/c/{CODE}/closure/confirm" in other


def test_a_milestone_added_from_a_spanish_page_is_spanish_and_marked_only_elsewhere(
    forms: Api,
) -> None:
    api = forms
    sign_in(api, "mx")
    page = api.client.get(f"/c/{CODE}/milestones?lang=es")
    assert "Redactado en: español" in page.text  # the official knows what is recorded
    typed = {"title": "Informe conjunto de puertos", "due_date": "2027-06-30"}
    recorded(send(api, "milestones", shown(page.text) | typed), "milestones")
    event = events(api)[-1]
    assert (event["type"], event["data"]["language"]) == ("MilestoneAdded", "es")
    assert api.commitment(CODE)["text_languages"] == {"milestones.m3": "es"}
    spanish = api.client.get(f"/c/{CODE}?lang=es").text
    assert "Informe conjunto de puertos" in spanish
    assert '<span lang="es">Informe conjunto de puertos</span> <small class="untranslated"' not in (
        spanish
    )
    assert "se muestra en el idioma original (español)" not in spanish
    english = api.client.get(f"/c/{CODE}?lang=en").text
    assert '<span lang="es">Informe conjunto de puertos</span> <small class="untranslated"' in (
        english
    )
    assert '<span aria-hidden="true">ES</span>' in english
    assert "Not yet translated; shown in the original language (Spanish)." in english
    # An indicator defined from the French page is French.
    page = api.client.get(f"/c/{CODE}/indicators?lang=fr")
    typed = {"name": "Escales conjointes", "unit": "escales", "baseline": "0", "target": "4"}
    recorded(send(api, "indicators", shown(page.text) | typed), "indicators")
    assert events(api)[-1]["data"]["language"] == "fr"
    assert api.commitment(CODE)["text_languages"]["indicators.i1"] == "fr"


def test_details_revised_from_a_spanish_page_record_a_spanish_title(forms: Api) -> None:
    api = forms
    page = api.client.get(f"/c/{CODE}/details?lang=es")
    typed = {"title": "Revisión conjunta", "reason": "Título en español"}
    recorded(send(api, "details", shown(page.text) | typed), "details")
    event = events(api)[-1]
    assert (event["type"], event["data"]["language"]) == ("DetailsRevised", "es")
    assert api.commitment(CODE)["text_languages"] == {"title": "es"}
    # Translating it into English is offered, and the original shown in its own language.
    form = api.client.get(f"/c/{CODE}/translations?language=en&lang=en").text
    assert 'Original (Spanish): <span lang="es">Revisión conjunta</span>' in form
