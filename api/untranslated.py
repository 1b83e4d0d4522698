"""Commitment text on pages in the reader's language, with a visible marker on every text
that is not yet translated and so reads in its original language.

`localized` (domain/translations.py) chooses the words and names the fallbacks; here
each fallback becomes HTML: the original text with its `lang`, and a small badge naming
that text's own language ("EN", "ES", "FR") whose tooltip, and a visually hidden note
for screen readers, say it is not yet translated. Templates print these values as they
print any text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from adapters.i18n import LANGUAGE_WORDS, translator
from domain.translations import ORIGINAL_LANGUAGE, indicator_path, milestone_path

_MARKED = Markup(
    '<span lang="{original}">{text}</span> <small class="untranslated" title="{note}" '
    'style="border:1px solid currentColor;border-radius:3px;padding:0 3px;'
    'font-size:0.7rem;font-weight:normal;vertical-align:middle;white-space:nowrap">'
    '<span aria-hidden="true">{badge}</span><span style="position:absolute;width:1px;'
    'height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap">{note}</span></small>'
)


def untranslated_note(language: str, original: str) -> str:
    """What the marker says, in the reader's language."""
    _ = translator(language).gettext
    return _("Not yet translated; shown in the original language (%(language)s).") % {
        "language": _(LANGUAGE_WORDS[original])
    }


def marked(view: Mapping[str, Any]) -> dict[str, Any]:
    """A localized view with each text that fell back to the original marked as such."""
    result = dict(view)
    fallbacks = set(view.get("untranslated") or ())
    if not fallbacks:
        return result
    originals = view.get("original_language") or {}

    def mark(path: str, text: Any) -> Any:
        if path not in fallbacks or not text:
            return text
        original = originals.get(path, ORIGINAL_LANGUAGE)  # each text its own language
        note = untranslated_note(view["language"], original)
        return _MARKED.format(original=original, text=text, note=note, badge=original.upper())

    for field in ("title", "description"):
        if field in result:
            result[field] = mark(field, result[field])
    if result.get("milestones") is not None:
        result["milestones"] = [
            m | {"title": mark(milestone_path(m["id"]), m["title"])} for m in result["milestones"]
        ]
    if result.get("indicators") is not None:
        result["indicators"] = [
            i | {"name": mark(indicator_path(i["id"]), i["name"])} for i in result["indicators"]
        ]
    upcoming = result.get("next_milestone")
    if upcoming is not None:
        path = milestone_path(upcoming["id"]) if "id" in upcoming else "next_milestone"
        result["next_milestone"] = upcoming | {"title": mark(path, upcoming["title"])}
    return result
