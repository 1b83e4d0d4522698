"""The dashboard's forms, declared: which command each runs, its fields, when it is offered,
and how a refusal of the model reads next to the field it concerns.

Each form stands for one write of the REST API (the same command of domain/commands.py,
run through the same unit of work, api/routers/forms.py); `api_path` names that write,
so a form's Idempotency-Key fingerprints it exactly as the API would the JSON request.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapters.i18n import LANGUAGE_WORDS, N_, label, translator
from api.writes import PREFIX
from domain import commands
from domain.access import Principal, Role
from domain.errors import DomainError, Forbidden, StateConflict
from domain.translations import (
    TEXT_LANGUAGES,
    indicator_path,
    milestone_path,
    text_language,
)
from domain.views import CommitmentResource
from domain.vocabulary import MAX_TEXT, MAX_TITLE, Health, Status

# A form's choices, from the commitment as the API shows it: (value, words people read).
Choices = Callable[[CommitmentResource, str], list[tuple[str, str]]]


_TERMINAL = {s.value for s in Status if s.is_terminal}


@dataclass(frozen=True)
class Field:
    """One control. `kind`: text, textarea, date, int, decimal, url, select, checkbox (a
    ticked box is sent as "true", an empty one not at all: the command's flag is then
    false)."""

    name: str
    label: str  # msgid, with `%(n)s` when `number` is given
    kind: str = "text"
    required: bool = False
    hint: str | None = None  # msgid
    choices: Choices | None = None
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    number: int | None = None  # which one of several alike (milestone 2, say)
    original: str | None = None  # the text in its original language, shown next to it
    original_language: str = "en"  # the language `original` is written in


@dataclass(frozen=True)
class FormSpec:
    slug: str  # /c/{code}/{slug}
    title: str  # msgid
    command: type[commands.CommitmentCommand]
    fields: tuple[Field, ...]
    saved: str  # msgid: what the commitment page says after it was recorded
    method: str  # the REST API's write (for the Idempotency-Key's fingerprint)
    path: Callable[[str, dict[str, str]], str]
    offered: Callable[[CommitmentResource], bool] = lambda c: c["status"] not in _TERMINAL
    path_field: str | None = None  # the command's PATH field the form chooses
    # Fields that depend on the commitment (one per milestone, say), after `fields`.
    more_fields: Callable[[CommitmentResource], tuple[Field, ...]] | None = None
    # A field chosen first, on a page of its own, because the others depend on it
    # (the language of a translation: its fields start from that language's texts).
    step: str | None = None


def fields_of(form: FormSpec, c: CommitmentResource) -> tuple[Field, ...]:
    """The form's fields on this commitment."""
    return form.fields + (form.more_fields(c) if form.more_fields is not None else ())


def _statuses(c: CommitmentResource, language: str) -> list[tuple[str, str]]:
    return [(s.value, label(s.value, language)) for s in Status if s.value != c["status"]]


def _ratings(_: CommitmentResource, language: str) -> list[tuple[str, str]]:
    return [(h.value, label(h.value, language)) for h in Health]


def _open_milestones(c: CommitmentResource, _: str) -> list[tuple[str, str]]:
    return [
        (m["id"], f"{m['title']} ({m['due_date']})")
        for m in c["milestones"]
        if not m["completed_on"]
    ]


def _indicators(c: CommitmentResource, _: str) -> list[tuple[str, str]]:
    return [(i["id"], f"{i['name']} ({i['unit']})") for i in c["indicators"]]


# The forms whose texts are recorded as written in the reader's language (the command's
# `language`): a Spanish page writes Spanish.
WRITTEN_IN_PAGE_LANGUAGE = frozenset({"milestones", "indicators", "details"})


def _translation_languages(c: CommitmentResource, language: str) -> list[tuple[str, str]]:
    """The languages some text of the commitment is not written in (English too, once a
    text is written in French or Spanish)."""
    gettext = translator(language).gettext
    written = {f.original_language for f in _texts(c)}
    return [(code, gettext(LANGUAGE_WORDS[code])) for code in TEXT_LANGUAGES if written - {code}]


def _texts(c: CommitmentResource) -> tuple[Field, ...]:
    """A field for each text of the commitment there is to translate, with its original."""
    fields = [
        Field(
            "title",
            N_("Title"),
            "text",
            original=c["title"],
            original_language=text_language(c, "title"),
            max_length=MAX_TITLE,
        )
    ]
    if c["description"]:
        fields.append(
            Field(
                "description",
                N_("Description"),
                "textarea",
                original=c["description"],
                original_language=text_language(c, "description"),
                max_length=MAX_TEXT,
            )
        )
    fields += [
        Field(
            milestone_path(m["id"]),
            N_("Milestone %(n)s"),
            number=n,
            original=m["title"],
            original_language=text_language(c, milestone_path(m["id"])),
            max_length=MAX_TITLE,
        )
        for n, m in enumerate(c["milestones"], start=1)
    ]
    fields += [
        Field(
            indicator_path(i["id"]),
            N_("Indicator %(n)s"),
            number=n,
            original=i["name"],
            original_language=text_language(c, indicator_path(i["id"])),
            max_length=MAX_TITLE,
        )
        for n, i in enumerate(c["indicators"], start=1)
    ]
    return tuple(fields)


def _at(suffix: str) -> Callable[[str, dict[str, str]], str]:
    return lambda code, values: f"{PREFIX}/{code}{suffix.format(**values)}"


REASON = N_("Reason")
NOTE = N_("Note")
AS_OF = N_("As of")
TODAY_HINT = N_("Leave empty for today.")

FORMS: tuple[FormSpec, ...] = (
    FormSpec(
        "progress",
        N_("Log progress"),
        commands.LogProgress,
        (
            Field(
                "percent",
                N_("Progress (percent)"),
                "int",
                True,
                N_("A whole number from 0 to 100."),
                minimum=0,
                maximum=100,
            ),
            Field("as_of", AS_OF, "date", True, N_("The date the figure refers to.")),
            Field("note", NOTE, "textarea", True, max_length=MAX_TEXT),
            Field(
                "confidence",
                N_("Confidence"),
                "int",
                False,
                N_("Optional: from 0 (none) to 10 (certain)."),
                minimum=0,
                maximum=10,
            ),
        ),
        N_("Progress recorded."),
        "POST",
        _at("/progress"),
    ),
    FormSpec(
        "health",
        N_("Rate health"),
        commands.RateHealth,
        (
            Field("rating", N_("Health"), "select", True, choices=_ratings),
            Field("rationale", N_("Rationale"), "textarea", True, max_length=MAX_TEXT),
            Field("as_of", AS_OF, "date", False, TODAY_HINT),
        ),
        N_("Health rating recorded."),
        "POST",
        _at("/health"),
    ),
    FormSpec(
        "status",
        N_("Change status"),
        commands.ChangeStatus,
        (
            Field(
                "status",
                N_("New status"),
                "select",
                True,
                N_(
                    "Closing a commitment of several parties (completed, cancelled, "
                    "superseded) is a proposal that an editor of another party confirms."
                ),
                choices=_statuses,
            ),
            Field("reason", REASON, "textarea", True, max_length=MAX_TEXT),
            Field(
                "superseded_by",
                N_("Replaced by (code)"),
                "text",
                False,
                N_(
                    "Only for the status Superseded: the code of the commitment that "
                    "replaces this one."
                ),
                max_length=64,
            ),
            Field(
                "partial",
                N_("Completed in part"),
                "checkbox",
                False,
                N_(
                    "Only with the status Completed: tick it when the commitment ends having "
                    "achieved only part of what was promised. Headlines then count its last "
                    "logged progress instead of 100%."
                ),
            ),
            Field("as_of", AS_OF, "date", False, TODAY_HINT),
        ),
        N_("Status changed."),
        "POST",
        _at("/status"),
        offered=lambda c: c.get("pending_closure") is None,
    ),
    FormSpec(
        "closure/confirm",
        N_("Confirm the proposed closure"),
        commands.ConfirmClosure,
        (Field("note", NOTE, "textarea", False, max_length=MAX_TEXT),),
        N_("Closure confirmed: the status has changed."),
        "POST",
        _at("/closure/confirm"),
        offered=lambda c: c.get("pending_closure") is not None,
    ),
    FormSpec(
        "closure/reject",
        N_("Reject (or withdraw) the proposed closure"),
        commands.RejectClosure,
        (Field("reason", REASON, "textarea", True, max_length=MAX_TEXT),),
        N_("Closure rejected: the status stays."),
        "POST",
        _at("/closure/reject"),
        offered=lambda c: c.get("pending_closure") is not None,
    ),
    FormSpec(
        "milestones",
        N_("Add a milestone"),
        commands.AddMilestone,
        (
            Field("title", N_("Title"), "text", True, max_length=MAX_TITLE),
            Field("due_date", N_("Due date"), "date", True),
        ),
        N_("Milestone added."),
        "POST",
        _at("/milestones"),
    ),
    FormSpec(
        "milestones/complete",
        N_("Complete a milestone"),
        commands.CompleteMilestone,
        (
            Field("milestone_id", N_("Milestone"), "select", True, choices=_open_milestones),
            Field("completed_on", N_("Completed on"), "date", True),
            Field("note", NOTE, "textarea", False, max_length=MAX_TEXT),
        ),
        N_("Milestone completed."),
        "POST",
        _at("/milestones/{milestone_id}/complete"),
        offered=lambda c: c["status"] not in _TERMINAL and bool(_open_milestones(c, "en")),
        path_field="milestone_id",
    ),
    FormSpec(
        "milestones/reschedule",
        N_("Reschedule a milestone"),
        commands.ChangeMilestone,
        (
            Field("milestone_id", N_("Milestone"), "select", True, choices=_open_milestones),
            Field("due_date", N_("New due date"), "date", True),
            Field("reason", REASON, "textarea", True, max_length=MAX_TEXT),
        ),
        N_("Milestone rescheduled."),
        "PATCH",
        _at("/milestones/{milestone_id}"),
        offered=lambda c: c["status"] not in _TERMINAL and bool(_open_milestones(c, "en")),
        path_field="milestone_id",
    ),
    FormSpec(
        "indicators",
        N_("Define an indicator"),
        commands.DefineIndicator,
        (
            Field("name", N_("Name"), "text", True, max_length=MAX_TITLE),
            Field(
                "unit", N_("Unit"), "text", True, N_("For example: carloads/week."), max_length=60
            ),
            Field("baseline", N_("Baseline"), "decimal", True),
            Field("target", N_("Target"), "decimal", True),
        ),
        N_("Indicator defined."),
        "POST",
        _at("/indicators"),
    ),
    FormSpec(
        "indicators/measure",
        N_("Record a measurement"),
        commands.RecordMeasurement,
        (
            Field("indicator_id", N_("Indicator"), "select", True, choices=_indicators),
            Field("value", N_("Value"), "decimal", True),
            Field("as_of", AS_OF, "date", True),
            Field("note", NOTE, "textarea", False, max_length=MAX_TEXT),
        ),
        N_("Measurement recorded."),
        "POST",
        _at("/indicators/{indicator_id}/measurements"),
        offered=lambda c: c["status"] not in _TERMINAL and bool(c["indicators"]),
        path_field="indicator_id",
    ),
    FormSpec(
        "evidence",
        N_("Attach evidence"),
        commands.AttachEvidence,
        (
            Field("url", N_("Web address"), "url", True, N_("A public document: https://…")),
            Field("title", N_("Title"), "text", True, max_length=MAX_TITLE),
            Field("publisher", N_("Publisher"), "text", False, max_length=MAX_TITLE),
            Field("published_on", N_("Published on"), "date", False),
        ),
        N_("Evidence attached."),
        "POST",
        _at("/evidence"),
    ),
    FormSpec(
        "details",
        N_("Revise details"),
        commands.ReviseDetails,
        (
            Field("title", N_("Title"), "text", True, max_length=MAX_TITLE),
            Field("description", N_("Description"), "textarea", False, max_length=MAX_TEXT),
            Field(
                "target_date",
                N_("Target date"),
                "date",
                False,
                N_("Leave empty for no target date."),
            ),
            Field(
                "sectors",
                N_("Sectors"),
                "text",
                True,
                N_("Separated by commas, e.g. railways, trade."),
            ),
            Field("reason", REASON, "textarea", True, max_length=MAX_TEXT),
        ),
        N_("Details revised."),
        "PATCH",
        _at(""),
    ),
    FormSpec(
        "translations",
        N_("Translate the text"),
        commands.TranslateText,
        (
            Field(
                "language",
                N_("Translate into"),
                "select",
                True,
                N_("The fields then show the current translation in that language, if any."),
                choices=_translation_languages,
            ),
        ),
        N_("Translation recorded."),
        "PUT",
        _at("/translations/{language}"),
        offered=lambda c: True,  # a closed commitment is still read in every language
        path_field="language",
        more_fields=_texts,
        step="language",
    ),
)

BY_SLUG = {form.slug: form for form in FORMS}
# The commitment page's confirmation after a closure was only proposed (API: 202).
PROPOSED = "status-proposed"
SAVED = {form.slug: form.saved for form in FORMS} | {
    PROPOSED: N_("Closure proposed: it takes effect when an editor of another party confirms it.")
}


def current_values(
    form: FormSpec, c: CommitmentResource, chosen: dict[str, str] | None = None
) -> dict[str, str]:
    """What a form shows before anything is typed: a revision starts from the details, a
    translation from the texts already translated into the chosen language."""
    if form.slug == "translations":
        language = (chosen or {}).get("language", "")
        texts: Any = c["translations"].get(language) or {}
        values = {name: texts[name] for name in ("title", "description") if name in texts}
        for kind in ("milestones", "indicators"):
            for key, text in (texts.get(kind) or {}).items():
                values[f"{kind}.{key}"] = text
        return values
    if form.slug != "details":
        return {}
    return {
        "title": c["title"],
        "description": c["description"] or "",
        "target_date": c["target_date"] or "",
        "sectors": ", ".join(c["sectors"]),
    }


# ---- refusals of the model, next to their field -------------------------------------------

_RULES: list[tuple[re.Pattern[str], str | None, str]] = [
    (
        re.compile(
            r"^(?P<field>[\w.]+) \S+ is before \S+'s start date (?P<start>\S+): "
            r"nothing about it can take effect before it started$"
        ),
        None,
        N_(
            "This date is before the commitment's start date (%(start)s): nothing can "
            "take effect before it started."
        ),
    ),
    (
        re.compile(
            r"^(?P<field>due_date) \S+ is before \S+'s start date (?P<start>\S+): "
            r"a milestone cannot fall due before it started$"
        ),
        None,
        N_("A milestone cannot fall due before the commitment's start date (%(start)s)."),
    ),
    (re.compile(r"^(?P<field>[\w.]+) must not be empty$"), None, N_("This field is required.")),
    (
        re.compile(r"^(?P<field>[\w.]+) must be at most (?P<n>\d+) characters$"),
        None,
        N_("Use at most %(n)s characters."),
    ),
    (
        re.compile(r"^(?P<field>[\w.]+) \S+ is in the future \(today is (?P<today>\S+)\)$"),
        None,
        N_("This date is in the future (today is %(today)s)."),
    ),
    (
        re.compile(r"^(?P<field>[\w.]+) \S+ is outside (?P<first>\S+) to (?P<last>\S+)$"),
        None,
        N_("Enter a date from %(first)s to %(last)s."),
    ),
    (
        re.compile(r"^(?P<field>[\w.]+) must be an http\(s\) URL"),
        None,
        N_("Enter a web address that starts with https:// or http://."),
    ),
    (
        re.compile(r"^(?P<field>[\w.]+) must not contain control characters$"),
        None,
        N_("Remove the control characters from this text."),
    ),
    (
        re.compile(r"^target_date must not be before start_date$"),
        "target_date",
        N_("The target date must not be before the commitment's start date."),
    ),
    (
        re.compile(
            r"^cannot change status from (?P<current>\w+) to (?P<new>\w+); "
            r"allowed: (?P<allowed>.*)$"
        ),
        "status",
        N_("A commitment that is %(current)s cannot become %(new)s; it can become: %(allowed)s."),
    ),
    (
        re.compile(r"^commitment \S+ is already (?P<status>\w+)$"),
        "status",
        N_("The commitment is already %(status)s."),
    ),
    (
        re.compile(r"^as_of \S+ is before the current status's date (?P<date>\S+);"),
        "as_of",
        N_("The date must not be before the date of the current status (%(date)s)."),
    ),
    (
        re.compile(r"^superseded_by must name"),
        "superseded_by",
        N_("Give the code of the commitment that replaces this one."),
    ),
    (
        re.compile(r"^superseded_by names no registered commitment"),
        "superseded_by",
        N_("No commitment has this code."),
    ),
    (
        re.compile(r"^superseded_by is only for status superseded$"),
        "superseded_by",
        N_("Leave this empty unless the new status is Superseded."),
    ),
    (
        re.compile(r"^a commitment cannot supersede itself$"),
        "superseded_by",
        N_("A commitment cannot replace itself."),
    ),
    (
        re.compile(r"already has a milestone titled"),
        "title",
        N_("This commitment already has a milestone with this title."),
    ),
    (
        re.compile(r"already has an indicator named"),
        "name",
        N_("This commitment already has an indicator with this name."),
    ),
    (
        re.compile(r"^evidence \S+ is already attached$"),
        "url",
        N_("This document is already attached."),
    ),
    (
        re.compile(r"was already completed on (?P<date>\S+)$"),
        "milestone_id",
        N_("This milestone was already completed on %(date)s."),
    ),
    (
        re.compile(r"is completed and cannot be rescheduled$"),
        "milestone_id",
        N_("A completed milestone cannot be rescheduled."),
    ),
    (
        re.compile(r"is already due on (?P<date>\S+)$"),
        "due_date",
        N_("The milestone is already due on %(date)s."),
    ),
    (re.compile(r"has no milestone"), "milestone_id", N_("Choose a milestone of this commitment.")),
    (
        re.compile(r"has no indicator"),
        "indicator_id",
        N_("Choose an indicator of this commitment."),
    ),
    (
        re.compile(r"^language must be one of"),
        "language",
        N_("Choose one of the options."),
    ),
    (
        re.compile(r"^the commitment's text (?P<field>[\w.]+) is written in \w+, its original"),
        None,
        N_("This text is written in the language chosen: leave it empty."),
    ),
    (
        re.compile(r"^partial is only for status completed$"),
        "partial",
        N_("Tick this only when the new status is Completed."),
    ),
    (
        re.compile(r"^(give at least one text to translate|the translation into \w+ changes)"),
        "",
        N_("Nothing was changed: enter or change at least one translation."),
    ),
    (
        re.compile(r"^commitment \S+ has no description to translate$"),
        "description",
        N_("This commitment has no description to translate."),
    ),
    (
        re.compile(r"^the revision changes nothing$"),
        "",
        N_("Nothing was changed: edit at least one field."),
    ),
    (re.compile(r"has no closure proposed"), "", N_("No closure is awaiting confirmation.")),
    (
        re.compile(r"^commitment \S+ is (?P<status>\w+): reopen it"),
        "",
        N_(
            "This commitment is %(status)s: change its status to In progress, with a reason, first."
        ),
    ),
    (
        re.compile(r"was proposed by party (?P<party>\w+): an editor of another party"),
        "",
        N_("The closure was proposed by %(party)s: an editor of another party must confirm it."),
    ),
]
_CODES = {"current", "new", "status", "party"}


def explain(
    error: DomainError, form: FormSpec, language: str, fields: tuple[Field, ...] | None = None
) -> tuple[str, str]:
    """(field, message) for a refusal of the model: the field it concerns ("" for the form
    as a whole) and what it means, in `language`; a refusal not known here reads as the
    model says it, next to the field it starts with (the model names fields first)."""
    _ = translator(language).gettext
    names = {f.name for f in (form.fields if fields is None else fields)}
    # Evidence's fields are named as its parts ("evidence url must be ...").
    message = re.sub(r"^evidence (?=(url|title|publisher|published_on) )", "", error.message)
    for pattern, field, text in _RULES:
        match = pattern.search(message)
        if match is None:
            continue
        found = match.groupdict()
        where = found.pop("field", None) if field is None else field
        for key in _CODES & found.keys():
            found[key] = label(found[key], language)
        if "allowed" in found:
            found["allowed"] = ", ".join(
                label(s.strip(), language) for s in found["allowed"].split(",")
            )
        return (where if where in names else ""), _(text) % found
    if isinstance(error, Forbidden):
        return "", _("Your access key does not allow this change to this commitment.")
    first = message.split(" ", 1)[0]
    return (first if first in names else ""), message


def status_of(error: DomainError) -> int:
    """The HTTP status a refused form answers with (the API's, but 409 for a stale version)."""
    if isinstance(error, Forbidden):
        return 403
    if isinstance(error, StateConflict):
        return 409
    return 422  # also NotFound: a milestone or indicator chosen that is no longer there


def actions(
    c: CommitmentResource, principal: Principal | None, saved: str | None, language: str
) -> dict[str, Any]:
    """What the commitment page offers: the forms the holder may use now, or why none,
    and the confirmation of what was just recorded (`?saved=`, one of SAVED's keys)."""
    _ = translator(language).gettext
    links: list[tuple[str, str]] = []
    note = None
    if principal is None:
        note = _("Sign in with an editor's access key to record changes.")
    else:
        try:
            principal.require_write(c["parties"])
        except Forbidden:
            if principal.role is Role.VIEWER or principal.party is None:
                note = _("Your access key lets you read commitments, not change them.")
            else:
                note = _(
                    "You cannot edit this commitment: %(party)s is not one of its parties."
                ) % {"party": label(principal.party, language)}
        else:
            pending = c.get("pending_closure")
            # The party that proposed a closure awaits the other: it may withdraw, not confirm.
            own = pending is not None and principal.party == pending["proposed_by_party"]
            links = [
                (f"/c/{c['code']}/{f.slug}", f.title)
                for f in FORMS
                if f.offered(c) and not (own and f.slug == "closure/confirm")
            ]
            if not links:
                note = _("This commitment is closed: nothing can be recorded on it now.")
    return {"saved": SAVED.get(saved or ""), "links": links, "note": note}
