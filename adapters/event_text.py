"""What an event says to a person: one sentence from its data, in their language (its
type's label is adapters/i18n.py's `label`).

Shared by the dashboard's history (api/routers/dashboard.py) and the Atom feeds
(adapters/feeds.py), so a change reads the same wherever it is shown.
"""

from __future__ import annotations

from inspect import isclass
from typing import Any

from adapters.i18n import LANGUAGE_WORDS, N_, label, translator
from domain.commitment import Commitment

# The commitment events, by the names webhooks ask for them by (domain/views.py
# event_type): every event class the aggregate defines, so a new one is never missing.
# Their labels people read are adapters/i18n.py's.
EVENT_TYPES = tuple(
    name
    for name, kind in vars(Commitment).items()
    if isclass(kind)
    and issubclass(kind, Commitment.Event)
    and kind is not Commitment.Event
    and name != "Created"  # the library's base of Registered, never triggered itself
)


# The fields "Details revised" can change, in words (domain ReviseDetails).
REVISED_FIELDS = {
    "title": N_("Title"),
    "description": N_("Description"),
    "target_date": N_("Target date"),
    "agencies": N_("Agencies"),
    "sectors": N_("Sectors"),
}


def summary(kind: str, d: dict[str, Any], names: dict[str, str], language: str = "en") -> str:
    """One line a person reads, from the event's data (milestone and indicator ids named)."""
    _ = translator(language).gettext
    d = {k: names.get(v, v) if k in ("milestone_id", "indicator_id") else v for k, v in d.items()}
    match kind:
        case "Registered":
            return f"{d['title']} ({label(d['pillar'], language)})"
        case "DetailsRevised":
            fields = [_(REVISED_FIELDS.get(name, name)) for name in sorted(d["changes"])]
            return _("%(fields)s: %(reason)s") % {
                "fields": ", ".join(fields),
                "reason": d["reason"],
            }
        case "ProgressLogged":
            return _("%(percent)s%% as of %(as_of)s: %(note)s") % d
        case "StatusChanged":
            return _("→ %(status)s as of %(as_of)s: %(reason)s") % (
                d | {"status": label(d["status"], language)}
            )
        case "HealthRated":
            return _("%(rating)s as of %(as_of)s: %(rationale)s") % (
                d | {"rating": label(d["rating"], language)}
            )
        case "MilestoneAdded":
            return _("%(title)s, due %(due_date)s") % d
        case "MilestoneRescheduled":
            return _("%(milestone_id)s now due %(due_date)s: %(reason)s") % d
        case "MilestoneRetitled":
            return f"{d['milestone_id']}: {d['title']}"
        case "MilestoneCompleted":
            return _("%(milestone_id)s completed on %(completed_on)s") % d
        case "IndicatorDefined":
            return f"{d['name']} ({d['unit']}): {d['baseline']} → {d['target']}"
        case "IndicatorMeasured":
            return _("%(indicator_id)s = %(value)s as of %(as_of)s") % d
        case "EvidenceAttached":
            return str(d["evidence"]["title"])
        case "TextTranslated":
            return _translated(d, names, language)
        case "ClosureProposed":
            return _("→ %(status)s as of %(as_of)s, proposed by %(party)s: %(reason)s") % (
                d | {"status": label(d["status"], language), "party": label(d["party"], language)}
            )
        case "ClosureConfirmed":
            named = d | {
                "status": label(d["status"], language),
                "proposed_by_party": label(d["proposed_by_party"], language),
                "party": label(d["party"], language),
            }
            if d["alone"]:
                if d["proposed_by"]:
                    return (
                        _(
                            "→ %(status)s proposed by %(proposed_by_party)s, "
                            "decided by an admin alone"
                        )
                        % named
                    )
                return _("→ %(status)s, decided by an admin alone") % named
            if d["note"]:
                return (
                    _(
                        "→ %(status)s proposed by %(proposed_by_party)s, "
                        "confirmed by %(party)s: %(note)s"
                    )
                    % named
                )
            return (
                _("→ %(status)s proposed by %(proposed_by_party)s, confirmed by %(party)s") % named
            )
        case "ClosureRejected":
            named = d | {
                "status": label(d["status"], language),
                "proposed_by_party": label(d["proposed_by_party"], language),
                "party": label(d["party"], language) if d["party"] else _("an admin"),
            }
            return (
                _(
                    "→ %(status)s proposed by %(proposed_by_party)s, "
                    "rejected by %(party)s: %(reason)s"
                )
                % named
            )
    return ""


def _translated(d: dict[str, Any], names: dict[str, str], language: str) -> str:
    """Which texts a TextTranslated event translated, and into which language."""
    _ = translator(language).gettext
    texts = [_(word) for word in (N_("title"), N_("description")) if d.get(word) is not None]
    texts += [names.get(k, k) for k in (*d.get("milestones", {}), *d.get("indicators", {}))]
    return _("into %(language)s: %(texts)s") % {
        "language": _(LANGUAGE_WORDS.get(d["language"], d["language"])),
        "texts": ", ".join(texts),
    }


def item_names(described: dict[str, Any]) -> dict[str, str]:
    """Milestone and indicator ids of a described commitment -> their quoted titles."""
    return {m["id"]: f"“{m['title']}”" for m in described["milestones"]} | {
        i["id"]: f"“{i['name']}”" for i in described["indicators"]
    }
