"""Translations of commitment text: the TextTranslated event, its rules and party scope,
and `localized`, which reads a commitment in one language with visible fallbacks."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast

import pytest

from domain import clock
from domain.commands import (
    ChangeMilestone,
    ChangeStatus,
    DefineIndicator,
    PlannedMilestone,
    ReviseDetails,
    TranslateText,
)
from domain.commitment import Commitment, replay
from domain.errors import Forbidden, InvalidValue
from domain.translations import TEXT_LANGUAGES, localized
from domain.views import describe, summarize
from domain.vocabulary import Status
from tests.conftest import memory_tracker
from tests.support import ADMIN, CA_EDITOR, CODE, MX_EDITOR, VIEWER, registration

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def fixed_clock() -> Iterator[None]:
    with clock.frozen_at(NOW):
        yield


def commitment() -> Commitment:
    c = Commitment.register(
        registration(
            description="Long-term rail corridors.",
            milestones=(
                PlannedMilestone(title="Corridor study agreed", due_date=date(2026, 12, 31)),
                PlannedMilestone(title="Tender launched", due_date=date(2027, 6, 30)),
            ),
        ),
        actor="seed",
        by=ADMIN,
    )
    c.define_indicator(
        DefineIndicator(name="Freight", unit="carloads", baseline=Decimal(1), target=Decimal(2)),
        actor="seed",
    )
    return c


def translate(c: Commitment, language: str = "fr", actor: str = "ana", **texts: Any) -> None:
    c.translate(TranslateText(language=language, **texts), actor=actor)


def last_event(c: Commitment) -> Any:
    return c.pending_events[-1]


# ---- the event and its rules ----------------------------------------------------------------


def test_a_translation_is_an_event_with_its_actor_and_only_the_texts_given() -> None:
    c = commitment()
    translate(c, title="Corridors ferroviaires", milestones={"m2": "Appel d'offres lancé"})
    event = last_event(c)
    assert isinstance(event, Commitment.TextTranslated)
    assert (event.actor, event.language, event.title, event.description) == (
        "ana",
        "fr",
        "Corridors ferroviaires",
        None,
    )
    assert event.milestones == {"m2": "Appel d'offres lancé"} and event.indicators == {}
    shown = describe(c, TODAY)["translations"]
    assert shown == {
        "fr": {"title": "Corridors ferroviaires", "milestones": {"m2": "Appel d'offres lancé"}}
    }


def test_later_translations_add_to_and_replace_earlier_ones_per_language() -> None:
    c = commitment()
    translate(c, title="Corridors ferroviaires")
    translate(c, "es", title="Corredores ferroviarios", indicators={"i1": "Carga"})
    translate(c, title="Corridors ferroviaires à long terme", description="Des corridors.")
    assert describe(c, TODAY)["translations"] == {
        "es": {"title": "Corredores ferroviarios", "indicators": {"i1": "Carga"}},
        "fr": {"title": "Corridors ferroviaires à long terme", "description": "Des corridors."},
    }
    # Only what changed is recorded.
    translate(c, title="Corridors ferroviaires à long terme", description="Des corridors ferrés.")
    event = last_event(c)
    assert event.title is None and event.description == "Des corridors ferrés."


@pytest.mark.parametrize(
    ("language", "texts", "message"),
    [
        ("de", {"title": "Schienen"}, "language must be one of en, fr, es"),
        ("en", {"title": "Rail"}, "written in en, its original language"),
        ("fr", {}, "give at least one text"),
        ("fr", {"title": "  "}, "title"),
        ("fr", {"milestones": {"m9": "Étude"}}, "no milestone 'm9'"),
        ("fr", {"indicators": {"i7": "Fret"}}, "no indicator 'i7'"),
        ("fr", {"milestones": {"m1": ""}}, "milestones.m1"),
    ],
)
def test_bad_translations_are_refused(language: str, texts: dict[str, Any], message: str) -> None:
    c = commitment()
    with pytest.raises(InvalidValue, match=message):
        translate(c, language, **texts)
    assert not any(isinstance(e, Commitment.TextTranslated) for e in c.pending_events)


def test_a_description_that_is_empty_has_nothing_to_translate() -> None:
    c = Commitment.register(registration(), actor="seed", by=ADMIN)
    with pytest.raises(InvalidValue, match="no description to translate"):
        translate(c, description="Des corridors.")


def test_a_translation_that_changes_nothing_is_refused() -> None:
    c = commitment()
    translate(c, title="Corridors ferroviaires")
    with pytest.raises(InvalidValue, match="translation into fr changes nothing"):
        translate(c, title="Corridors ferroviaires")


def test_a_closed_commitment_can_still_be_translated() -> None:
    c = commitment()
    c.change_status(ChangeStatus(status=Status.CANCELLED, reason="dropped"), actor="a", by=ADMIN)
    translate(c, "es", title="Corredores ferroviarios")
    assert describe(c, TODAY)["translations"]["es"]["title"] == "Corredores ferroviarios"


def test_a_revised_original_drops_its_translations_and_only_those() -> None:
    c = commitment()
    translate(c, title="Corridors", description="Des corridors.", milestones={"m1": "Étude"})
    translate(c, "es", title="Corredores", milestones={"m1": "Estudio", "m2": "Licitación"})
    c.revise_details(
        ReviseDetails(title="Rail corridors 2.0", reason="renamed"), actor="a", by=ADMIN
    )
    c.change_milestone(ChangeMilestone(milestone_id="m1", title="Study agreed"), actor="a")
    assert describe(c, TODAY)["translations"] == {
        "fr": {"description": "Des corridors."},
        "es": {"milestones": {"m2": "Licitación"}},
    }
    # A rescheduled milestone keeps its translated title: its text did not change.
    c.change_milestone(
        ChangeMilestone(milestone_id="m2", due_date=date(2027, 9, 30), reason="later"), actor="a"
    )
    assert describe(c, TODAY)["translations"]["es"] == {"milestones": {"m2": "Licitación"}}


def test_replaying_the_events_gives_the_same_translations() -> None:
    c = commitment()
    translate(c, title="Corridors", milestones={"m1": "Étude"})
    c.revise_details(ReviseDetails(title="Rail 2", reason="r"), actor="a", by=ADMIN)
    translate(c, "es", title="Ferrocarril 2")
    rebuilt = replay(cast(list[Commitment.Event], copy.deepcopy(c.pending_events)))
    assert rebuilt is not None
    assert rebuilt.translations == c.translations
    assert describe(rebuilt, TODAY) == describe(c, TODAY)


# ---- through the Tracker: party scope, the event log ----------------------------------------


def test_editors_of_the_commitments_parties_translate_others_may_not() -> None:
    tracker = memory_tracker()
    tracker.register(ADMIN, registration())
    tracker.update(CA_EDITOR, CODE, TranslateText(language="fr", title="Corridors ferroviaires"))
    tracker.update(MX_EDITOR, CODE, TranslateText(language="es", title="Corredores ferroviarios"))
    us_editor = type(CA_EDITOR)("sam.us", CA_EDITOR.role, "US")
    for who in (us_editor, VIEWER):
        with pytest.raises(Forbidden):
            tracker.update(who, CODE, TranslateText(language="es", title="Otro"))
    history = [e for e in tracker.events_of(CODE) if isinstance(e, Commitment.TextTranslated)]
    assert [(e.actor, e.language) for e in history] == [("ana.ca", "fr"), ("luis.mx", "es")]
    # Stored and read back through the event store's transcoder.
    fresh = memory_tracker()
    fresh.events.put(list(tracker.events_of(CODE)))
    assert fresh.get(CODE).translations == {
        "fr": {"title": "Corridors ferroviaires"},
        "es": {"title": "Corredores ferroviarios"},
    }


def test_a_commitment_from_before_translations_reads_without_any() -> None:
    """A snapshot taken before translations existed has no `translations` attribute."""
    c = commitment()
    del c.__dict__["translations"]
    assert c.translations == {}
    assert summarize(c, TODAY)["translations"] == {}
    translate(c, title="Corridors")
    assert c.translations == {"fr": {"title": "Corridors"}}
    assert vars(Commitment)["translations"] == {}  # the class default is never changed in place


# ---- localized: the view in one language ----------------------------------------------------


def test_localized_gives_translated_text_and_names_every_fallback() -> None:
    c = commitment()
    translate(c, title="Corridors ferroviaires", milestones={"m1": "Étude convenue"})
    view = describe(c, TODAY)
    before = copy.deepcopy(view)
    fr = localized(view, "fr")
    assert fr["title"] == "Corridors ferroviaires"
    assert fr["description"] == "Long-term rail corridors."
    assert [m["title"] for m in fr["milestones"]] == ["Étude convenue", "Tender launched"]
    assert [i["name"] for i in fr["indicators"]] == ["Freight"]
    assert fr["next_milestone"]["title"] == "Étude convenue"
    assert fr["untranslated"] == ["description", "indicators.i1", "milestones.m2"]
    assert fr["language"] == "fr"
    assert fr["original_language"] == dict.fromkeys(fr["untranslated"], "en")
    assert view == before  # the view itself is left as it was
    # Other fields are the view's.
    assert fr["milestones"][1]["due_date"] == view["milestones"][1]["due_date"]
    assert fr["code"] == view["code"] and fr["status"] == view["status"]


def test_localized_in_the_original_language_changes_nothing() -> None:
    c = commitment()
    translate(c, title="Corridors ferroviaires")
    view = describe(c, TODAY)
    en = localized(view, "en")
    assert en["title"] == "Rail corridors" and en["untranslated"] == []


def test_localized_without_any_translation_falls_back_everywhere() -> None:
    view = summarize(commitment(), TODAY)
    es = localized(view, "es")
    assert es["title"] == "Rail corridors"
    assert es["untranslated"] == ["description", "milestones.m1", "title"]


def test_localized_reads_rows_that_carry_only_some_text_fields() -> None:
    """A report row: a title and a next milestone without its id."""
    row = {
        "code": CODE,
        "title": "Rail corridors",
        "next_milestone": {"title": "Study", "due_date": "2026-12-31"},
        "translations": {"fr": {"title": "Corridors"}},
    }
    fr = localized(row, "fr")
    assert fr["title"] == "Corridors" and fr["untranslated"] == ["next_milestone"]
    assert localized(row, "es")["untranslated"] == ["next_milestone", "title"]


def test_localized_refuses_a_language_it_does_not_know() -> None:
    with pytest.raises(InvalidValue):
        localized({"title": "x"}, "de")
    assert TEXT_LANGUAGES == ("en", "fr", "es")


def test_the_text_languages_are_the_languages_people_read() -> None:
    from adapters.i18n import LANGUAGES

    assert tuple(LANGUAGES) == TEXT_LANGUAGES
