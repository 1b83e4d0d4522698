"""Commitment text in several languages: what may be translated, and reading a commitment
in one language.

A commitment's title, description, milestone titles and indicator names are each written
in their own original language: the one given with the command that wrote them (a
Spanish page's form writes Spanish), English for every text written before languages
were recorded. The commitment's `text_languages` names the texts not in English, by
path. Translations of them are
facts recorded like any other (`Commitment.TextTranslated`, with their actor); a
translation is of the text as it stood: when the original changes (a revised title, a
renamed milestone), its translations are dropped and the new text reads in the original
until someone translates it again.

`localized` is the one place a commitment's view (domain/views.py `describe`,
`summarize`, or a report row with the same keys) becomes its text in one language, so
pages, reports and feeds all show the same words and the same fallbacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.errors import InvalidValue

# The languages commitment text can be read in (adapters/i18n.py LANGUAGES: the same).
TEXT_LANGUAGES = ("en", "fr", "es")
# The language a text is in when nothing says otherwise (every text written before
# languages were recorded).
ORIGINAL_LANGUAGE = "en"

# Where a text sits in a commitment, as a path: "title", "description",
# "milestones.<id>" (the milestone's title), "indicators.<id>" (the indicator's name).
TITLE = "title"
DESCRIPTION = "description"
MILESTONES = "milestones"
INDICATORS = "indicators"


def milestone_path(milestone_id: str) -> str:
    return f"{MILESTONES}.{milestone_id}"


def indicator_path(indicator_id: str) -> str:
    return f"{INDICATORS}.{indicator_id}"


def check_text_language(language: str) -> str:
    """A language commitment text may be written or translated in: one we read."""
    if language not in TEXT_LANGUAGES:
        raise InvalidValue(
            f"language must be one of {', '.join(TEXT_LANGUAGES)}; got {str(language)[:20]!r}"
        )
    return language


def check_translation_language(
    language: str, original: str | None = None, path: str | None = None
) -> str:
    """A language the text at `path`, written in `original`, may be translated into: one
    we read, not its own."""
    check_text_language(language)
    if language == original:
        others = ", ".join(lang for lang in TEXT_LANGUAGES if lang != original)
        text = f"the commitment's text {path}" if path else "the commitment's text"
        raise InvalidValue(
            f"{text} is written in {original}, its original language: translate it into {others}"
        )
    return language


def text_language(view: Mapping[str, Any], path: str) -> str:
    """The language the text at `path` of a commitment `view` is written in."""
    return str((view.get("text_languages") or {}).get(path, ORIGINAL_LANGUAGE))


def structured(texts: Mapping[str, str]) -> dict[str, Any]:
    """One language's translated texts (paths -> text) as the API shows them:
    `{title?, description?, milestones?: {id: title}, indicators?: {id: name}}`."""
    result: dict[str, Any] = {}
    for path, text in sorted(texts.items()):
        kind, _, key = path.partition(".")
        if key:
            result.setdefault(kind, {})[key] = text
        else:
            result[kind] = text
    return result


def localized(view: Mapping[str, Any], language: str) -> dict[str, Any]:
    """The commitment `view` with its text in `language`: a text written in `language`
    as it is; another its translation where one exists, and where none does the
    original, named in `untranslated` (its paths, sorted).

    `view` is a commitment as domain/views.py describes or summarizes it (any subset of
    its text fields: `title`, `description`, `milestones`, `indicators`,
    `next_milestone`), with its `translations` and `text_languages`. The result adds
    `language` (what was asked for), `untranslated`, and `original_language`: the
    language each untranslated text is shown in, by path. The view itself is left
    unchanged.
    """
    check_text_language(language)
    result = dict(view)
    result["language"] = language
    untranslated: set[str] = set()
    originals: dict[str, str] = {}
    texts: Mapping[str, Any] = (view.get("translations") or {}).get(language) or {}

    def choose(path: str, original: Any) -> Any:
        """The text at `path` if written in `language`, else its translation, else the
        original (noted as untranslated, with its language)."""
        written = text_language(view, path)
        if written == language:
            return original
        kind, _, key = path.partition(".")
        found = texts.get(kind)
        if key:
            found = found.get(key) if isinstance(found, Mapping) else None
        if isinstance(found, str) and found:
            return found
        if original:  # nothing to translate in an empty text
            untranslated.add(path)
            originals[path] = written
        return original

    for field in (TITLE, DESCRIPTION):
        if field in view:
            result[field] = choose(field, view[field])
    if view.get("milestones") is not None:
        result["milestones"] = [
            dict(m) | {"title": choose(milestone_path(m["id"]), m["title"])}
            for m in view["milestones"]
        ]
    if view.get("indicators") is not None:
        result["indicators"] = [
            dict(i) | {"name": choose(indicator_path(i["id"]), i["name"])}
            for i in view["indicators"]
        ]
    upcoming = view.get("next_milestone")
    if upcoming is not None:
        if "id" in upcoming:
            title = choose(milestone_path(upcoming["id"]), upcoming["title"])
        elif language != ORIGINAL_LANGUAGE:
            # A row that does not say which milestone: its title is all we know.
            untranslated.add("next_milestone")
            originals["next_milestone"] = ORIGINAL_LANGUAGE
            title = upcoming["title"]
        else:
            title = upcoming["title"]
        result["next_milestone"] = dict(upcoming) | {"title": title}
    result["untranslated"] = sorted(untranslated)
    result["original_language"] = dict(sorted(originals.items()))
    return result
