"""The French and Spanish catalogues: every msgid translated, placeholders kept."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from adapters.i18n import LOCALES

TRANSLATED = ("fr", "es")
# %(name)s, %(n)d, %% : what Python's %-formatting reads in a message.
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[#0 +-]*\d*(?:\.\d+)?([sdifr%])")


def catalogue(language: str) -> Catalog:
    with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return read_po(source, locale=language)


def placeholders(text: str) -> Counter[str]:
    return Counter(f"{name}:{kind}" for name, kind in PLACEHOLDER.findall(text))


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_msgid_has_a_translation(language: str) -> None:
    untranslated = [m.id for m in catalogue(language) if m.id and not m.string]
    assert not untranslated, f"{language}: translate {untranslated}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_babel_finds_no_format_errors(language: str) -> None:
    problems = [
        (message.id, [str(e) for e in errors]) for message, errors in catalogue(language).check()
    ]
    assert not problems


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_exactly_the_placeholders_of_their_msgid(language: str) -> None:
    """Each form of a plural message keeps those of the msgid's plural (ngettext formats
    every form with the same values)."""
    differing = [
        (m.id, form)
        for m in catalogue(language)
        if m.id and m.string
        for form in (m.string if m.pluralizable else (m.string,))
        if placeholders(str(form)) != placeholders(str(m.id[-1] if m.pluralizable else m.id))
    ]
    assert not differing


def test_the_placeholder_check_sees_a_lost_or_renamed_placeholder() -> None:
    assert placeholders("%(n)s of %(total)s, 5%%") == placeholders("%(total)s : %(n)s, 5 %%")
    assert placeholders("%(n)s of %(total)s") != placeholders("%(n)s sur %(tota)s")
    assert placeholders("%(n)s of %(total)s") != placeholders("%(n)s")
    assert placeholders("%(percent)s%% done") != placeholders("%(percent)s done")
