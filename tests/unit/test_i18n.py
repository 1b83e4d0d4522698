"""Choosing a language and reading codes as words."""

from __future__ import annotations

import pytest
from babel.messages.pofile import read_po

from adapters.i18n import LABELS, LOCALES, choose, label, preferred, translator
from domain.vocabulary import Health, Pillar, Status


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("es-MX,es;q=0.9,en;q=0.8", "es"),
        ("fr-CA", "fr"),
        ("de-DE,fr;q=0.5,en;q=0.7", "en"),  # by weight, not by order
        ("de, it", None),
        ("fr;q=0, es;q=0.1", "es"),  # q=0 means "not this one"
        ("fr;q=bogus", None),
        ("", None),
        (None, None),
    ],
)
def test_accept_language_picks_the_heaviest_language_we_have(
    header: str | None, expected: str | None
) -> None:
    assert preferred(header) == expected


def test_query_then_cookie_then_header_then_english() -> None:
    assert choose(("fr", "es", "en")) == "fr"
    assert choose(("xx", "es", "en")) == "es"
    assert choose((None, None, "es")) == "es"
    assert choose((None, "de", None)) == "en"


def test_every_code_people_see_has_words() -> None:
    for kind in (Pillar, Status, Health):
        for member in kind:
            assert member.value in LABELS, member
            assert label(member.value, "en") != member.value
    assert label(None, "en") == "Not rated"
    assert label("no_such_code", "fr") == "no_such_code"


def test_catalogues_compile_for_every_language() -> None:
    assert translator("en").gettext("Portfolio") == "Portfolio"
    assert translator("fr").gettext("Portfolio") == "Portefeuille"
    assert translator("es").gettext("Portfolio") == "Cartera"
    for language in ("fr", "es"):
        with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as source:
            catalog = read_po(source, locale=language)
        assert not [message.id for message in catalog if message.id and message.fuzzy]


def test_every_event_type_has_words_and_webhooks_know_it() -> None:
    from inspect import isclass

    from adapters.event_text import EVENT_TYPES
    from domain.commitment import Commitment

    defined = {
        name
        for name, kind in vars(Commitment).items()
        if isclass(kind) and issubclass(kind, Commitment.Event) and name != "Created"
    } - {"Event"}
    assert "TextTranslated" in defined and set(EVENT_TYPES) == defined
    for name in defined:
        assert name in LABELS, name
        assert label(name, "fr") != name, name
