"""Languages people read: English (the source), French and Spanish.

Every human string on pages, in reports, feeds and CLI messages is an English msgid
passed through gettext; the French and Spanish catalogues are the Babel `.po` files in
`adapters/locales/<lang>/LC_MESSAGES/messages.po` (extracted with `make translations`).
They are compiled in memory when first used, so a catalogue can never be stale against
a compiled `.mo`; fuzzy entries are left out, and a msgid with no translation reads in
English.

Codes (status, health, pillar, event types) stay codes in the API and data files;
`label()` gives the words people read for them.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterable
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment

LANGUAGES = ("en", "fr", "es")
DEFAULT_LANGUAGE = "en"
# Each language's own name, for the switch people choose from.
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "es": "Español"}
LOCALES = Path(__file__).resolve().parent / "locales"


def N_(message: str) -> str:
    """Marks a msgid for extraction where it is defined; it is translated where it is shown."""
    return message


# Each language's name in the reader's language (msgids).
LANGUAGE_WORDS = {"en": N_("English"), "fr": N_("French"), "es": N_("Spanish")}

# The words for each code people see. Keys are the codes of domain.vocabulary and the
# event types; values are English msgids.
LABELS: dict[str, str] = {
    # pillars
    "prosperity": N_("Prosperity"),
    "mobility_inclusivity_wellbeing": N_("Mobility, inclusivity and well-being"),
    "security": N_("Security"),
    "environment_sustainability": N_("Environment and sustainability"),
    "governance": N_("Governance"),
    # statuses
    "not_started": N_("Not started"),
    "in_progress": N_("In progress"),
    "stalled": N_("Stalled"),
    "completed": N_("Completed"),
    "suspended": N_("Suspended"),
    "cancelled": N_("Cancelled"),
    "superseded": N_("Superseded"),
    # milestones
    "planned": N_("Planned"),
    "missed": N_("Missed"),
    # health
    "green": N_("Green"),
    "amber_green": N_("Amber-green"),
    "amber": N_("Amber"),
    "amber_red": N_("Amber-red"),
    "red": N_("Red"),
    "unrated": N_("Not rated"),
    # parties
    "CA": N_("Canada"),
    "MX": N_("Mexico"),
    "US": N_("United States"),
    "joint": N_("Joint"),
    # sectors (an open list: these are the seeds' and CONTRACT's; others read as slugs)
    "agriculture": N_("Agriculture"),
    "airports": N_("Airports"),
    "critical_minerals": N_("Critical minerals"),
    "cybersecurity": N_("Cybersecurity"),
    "drug_trafficking": N_("Drug trafficking"),
    "energy": N_("Energy"),
    "environment": N_("Environment"),
    "financial_intelligence": N_("Financial intelligence"),
    "firearms": N_("Firearms"),
    "infrastructure": N_("Infrastructure"),
    "labour_mobility": N_("Labour mobility"),
    "logistics": N_("Logistics"),
    "methane": N_("Methane"),
    "migration": N_("Migration"),
    "mining": N_("Mining"),
    "organized_crime": N_("Organized crime"),
    "ports": N_("Ports"),
    "protected_areas": N_("Protected areas"),
    "railways": N_("Railways"),
    "research": N_("Research"),
    "smes": N_("SMEs"),
    "trade": N_("Trade"),
    # event types
    "Registered": N_("Registered"),
    "DetailsRevised": N_("Details revised"),
    "ProgressLogged": N_("Progress logged"),
    "StatusChanged": N_("Status changed"),
    "HealthRated": N_("Health rated"),
    "MilestoneAdded": N_("Milestone added"),
    "MilestoneRescheduled": N_("Milestone rescheduled"),
    "MilestoneRetitled": N_("Milestone renamed"),
    "MilestoneCompleted": N_("Milestone completed"),
    "IndicatorDefined": N_("Indicator defined"),
    "IndicatorMeasured": N_("Indicator measured"),
    "EvidenceAttached": N_("Evidence attached"),
    "TextTranslated": N_("Text translated"),
    "ClosureProposed": N_("Closure proposed"),
    "ClosureConfirmed": N_("Closure confirmed"),
    "ClosureRejected": N_("Closure rejected"),
}


def check_language(value: str) -> str:
    """One of LANGUAGES, or ValueError naming them."""
    if value not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}; got {value!r}")
    return value


@cache
def translator(language: str) -> gettext.NullTranslations:
    """The language's translations; English (the msgids) needs none."""
    check_language(language)
    if language == DEFAULT_LANGUAGE:
        return gettext.NullTranslations()
    with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out
    compiled.seek(0)
    return Translations(compiled)


def label(code: str | None, language: str) -> str:
    """The words for a code in `language`; an unknown code reads as itself."""
    if code is None:
        code = "unrated"
    message = LABELS.get(code)
    return translator(language).gettext(message) if message else code


def add_translations(environment: Environment, language: str) -> Environment:
    """Jinja's i18n extension with `language`'s catalogue: `{{ _("…") }}`, `{% trans %}`
    and the `label` filter (newstyle gettext, so `_("%(n)s left", n=3)` formats and
    escapes like any other expression)."""
    environment.add_extension("jinja2.ext.i18n")
    environment.install_gettext_translations(translator(language), newstyle=True)  # type: ignore[attr-defined]
    environment.filters["label"] = lambda code: label(code, language)
    environment.globals["language"] = language
    return environment


def preferred(accept_language: str | None) -> str | None:
    """The first of LANGUAGES an Accept-Language header asks for (by weight), if any."""
    if not accept_language:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        tag, _, parameters = part.strip().partition(";")
        weight = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        ranked.append((-weight, index, tag.strip().lower()))
    for negative_weight, _, tag in sorted(ranked):
        primary = tag.split("-")[0]
        if negative_weight < 0 and primary in LANGUAGES:
            return primary
    return None


def choose(candidates: Iterable[str | None]) -> str:
    """The first valid language among `candidates` (query, cookie, header), else English."""
    for candidate in candidates:
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE
