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
    AddMilestone,
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


# ---- the language each text is written in --------------------------------------------------


def test_events_from_before_languages_were_recorded_read_as_english() -> None:
    """Version 1 of every text-bearing event carried no language: its text is English."""
    for event in (
        Commitment.Registered,
        Commitment.DetailsRevised,
        Commitment.MilestoneAdded,
        Commitment.MilestoneRetitled,
        Commitment.IndicatorDefined,
    ):
        assert event.class_version == 2
        state: dict[str, Any] = {"title": "Corridor study agreed"}
        event.upcast_v1_v2(state)
        assert state["language"] == "en"
    c = commitment()
    assert c.text_languages == {} and describe(c, TODAY)["text_languages"] == {}
    # Snapshots taken before carry no languages: the class default reads as none.
    assert vars(Commitment)["text_languages"] == {}


def spanish() -> Commitment:
    """A commitment registered in Spanish, with an English indicator and a Spanish one."""
    c = Commitment.register(
        registration(
            title="Corredores ferroviarios",
            description="Corredores de largo plazo.",
            language="es",
            milestones=(
                PlannedMilestone(title="Estudio acordado", due_date=date(2026, 12, 31)),
                PlannedMilestone(
                    title="Tender launched", due_date=date(2027, 6, 30), language="en"
                ),
            ),
        ),
        actor="seed",
        by=ADMIN,
    )
    for name, language in (("Freight", "en"), ("Escalas conjuntas", "es")):
        c.define_indicator(
            DefineIndicator(
                name=name, unit="u", baseline=Decimal(1), target=Decimal(2), language=language
            ),
            actor="seed",
        )
    return c


def test_each_text_records_the_language_it_was_written_in() -> None:
    c = spanish()
    registered = c.pending_events[0]
    assert isinstance(registered, Commitment.Registered) and registered.language == "es"
    assert [e.language for e in c.pending_events if isinstance(e, Commitment.MilestoneAdded)] == [
        "es",
        "en",
    ]
    expected = {
        "description": "es",
        "indicators.i2": "es",
        "milestones.m1": "es",
        "title": "es",
    }
    assert describe(c, TODAY)["text_languages"] == expected
    assert summarize(c, TODAY)["text_languages"] == expected
    again = replay(cast(list[Commitment.Event], copy.deepcopy(c.pending_events)))
    assert again is not None and again.text_languages == expected


def test_a_language_we_do_not_read_is_refused_for_a_new_text() -> None:
    c = commitment()
    with pytest.raises(InvalidValue, match="language must be one of en, fr, es"):
        c.add_milestone(
            AddMilestone(title="Studie", due_date=date(2026, 12, 1), language="de"), actor="a"
        )


def test_a_revised_or_renamed_text_takes_the_language_it_is_now_written_in() -> None:
    c = spanish()
    translate(c, language="en", title="Rail corridors", milestones={"m1": "Study agreed"})
    c.revise_details(
        ReviseDetails(title="Rail corridors (revised)", reason="English wording"),
        actor="a",
        by=ADMIN,
    )
    c.change_milestone(
        ChangeMilestone(milestone_id="m2", title="Licitación lanzada", language="es"), actor="a"
    )
    assert c.text_languages == {
        "description": "es",
        "indicators.i2": "es",
        "milestones.m1": "es",
        "milestones.m2": "es",
    }
    # The revised title dropped its translation; the milestone's stays.
    assert c.translations == {"en": {"milestones.m1": "Study agreed"}}
    with pytest.raises(InvalidValue, match="already has that title"):
        c.change_milestone(
            ChangeMilestone(milestone_id="m2", title="Licitación lanzada", language="es"),
            actor="a",
        )


def test_a_text_is_not_translated_into_its_own_language_but_into_any_other() -> None:
    c = spanish()
    with pytest.raises(InvalidValue, match=r"text milestones\.m1 is written in es"):
        translate(c, language="es", milestones={"m1": "Estudio"})
    with pytest.raises(InvalidValue, match="text title is written in es"):
        translate(c, language="es", title="Corredores")
    # The English milestone and indicator may be translated into Spanish ...
    translate(c, language="es", milestones={"m2": "Licitación lanzada"}, indicators={"i1": "Carga"})
    # ... the Spanish texts into English and French; an English text not into English.
    translate(c, language="en", title="Rail corridors", milestones={"m1": "Study agreed"})
    translate(c, language="fr", milestones={"m1": "Étude convenue"})
    with pytest.raises(InvalidValue, match=r"text indicators\.i1 is written in en"):
        translate(c, language="en", indicators={"i1": "Freight"})
    assert c.translations["en"] == {"title": "Rail corridors", "milestones.m1": "Study agreed"}


def test_localized_shows_a_text_in_its_own_language_unmarked_and_marks_others_with_theirs() -> None:
    c = spanish()
    view = describe(c, TODAY)
    es = localized(view, "es")
    assert (es["title"], es["milestones"][0]["title"]) == (
        "Corredores ferroviarios",
        "Estudio acordado",
    )
    assert es["untranslated"] == ["indicators.i1", "milestones.m2"]
    assert es["original_language"] == {"indicators.i1": "en", "milestones.m2": "en"}
    en = localized(view, "en")
    assert en["untranslated"] == ["description", "indicators.i2", "milestones.m1", "title"]
    assert set(en["original_language"].values()) == {"es"}
    translate(c, language="en", milestones={"m1": "Study agreed"})
    en = localized(describe(c, TODAY), "en")
    assert en["milestones"][0]["title"] == "Study agreed"
    assert "milestones.m1" not in en["untranslated"]
    fr = localized(describe(c, TODAY), "fr")
    assert fr["original_language"]["milestones.m1"] == "es"
    assert fr["original_language"]["milestones.m2"] == "en"
