"""What an event says to a person: a label for its type and one sentence from its data.

Shared by the dashboard's history (api/routers/dashboard.py) and the Atom feeds
(adapters/feeds.py), so a change reads the same wherever it is shown.
"""

from __future__ import annotations

from typing import Any

LABELS = {
    "Registered": "Registered",
    "DetailsRevised": "Details revised",
    "ProgressLogged": "Progress logged",
    "StatusChanged": "Status changed",
    "HealthRated": "Health rated",
    "MilestoneAdded": "Milestone added",
    "MilestoneRescheduled": "Milestone rescheduled",
    "MilestoneRetitled": "Milestone renamed",
    "MilestoneCompleted": "Milestone completed",
    "IndicatorDefined": "Indicator defined",
    "IndicatorMeasured": "Indicator measured",
    "EvidenceAttached": "Evidence attached",
    "ClosureProposed": "Closure proposed",
    "ClosureConfirmed": "Closure confirmed",
    "ClosureRejected": "Closure rejected",
}


def label(kind: str) -> str:
    """The event type as people call it ("Progress logged"); the type itself if unknown."""
    return LABELS.get(kind, kind)


def summary(kind: str, d: dict[str, Any], names: dict[str, str]) -> str:
    """One line a person reads, from the event's data (milestone and indicator ids named
    by `names`, id -> quoted title)."""
    d = {k: names.get(v, v) if k in ("milestone_id", "indicator_id") else v for k, v in d.items()}
    match kind:
        case "Registered":
            return f"{d['title']} ({d['pillar']})"
        case "DetailsRevised":
            return f"{', '.join(sorted(d['changes']))}: {d['reason']}"
        case "ProgressLogged":
            return f"{d['percent']}% as of {d['as_of']}: {d['note']}"
        case "StatusChanged":
            return f"→ {d['status']} as of {d['as_of']}: {d['reason']}"
        case "HealthRated":
            return f"{d['rating']} as of {d['as_of']}: {d['rationale']}"
        case "MilestoneAdded":
            return f"{d['title']}, due {d['due_date']}"
        case "MilestoneRescheduled":
            return f"{d['milestone_id']} now due {d['due_date']}: {d['reason']}"
        case "MilestoneRetitled":
            return f"{d['milestone_id']}: {d['title']}"
        case "MilestoneCompleted":
            return f"{d['milestone_id']} completed on {d['completed_on']}"
        case "IndicatorDefined":
            return f"{d['name']} ({d['unit']}): {d['baseline']} → {d['target']}"
        case "IndicatorMeasured":
            return f"{d['indicator_id']} = {d['value']} as of {d['as_of']}"
        case "EvidenceAttached":
            return str(d["evidence"]["title"])
        case "ClosureProposed":
            return f"→ {d['status']} as of {d['as_of']}, proposed by {d['party']}: {d['reason']}"
        case "ClosureConfirmed":
            if d["alone"]:
                proposal = f" proposed by {d['proposed_by_party']}" if d["proposed_by"] else ""
                return f"→ {d['status']}{proposal}, decided by an admin alone"
            note = f": {d['note']}" if d["note"] else ""
            return (
                f"→ {d['status']} proposed by {d['proposed_by_party']}, "
                f"confirmed by {d['party']}{note}"
            )
        case "ClosureRejected":
            by = d["party"] or "an admin"
            return (
                f"→ {d['status']} proposed by {d['proposed_by_party']}, rejected by {by}: "
                f"{d['reason']}"
            )
    return ""


def item_names(described: dict[str, Any]) -> dict[str, str]:
    """Milestone and indicator ids of a described commitment -> their quoted titles."""
    return {m["id"]: f"“{m['title']}”" for m in described["milestones"]} | {
        i["id"]: f"“{i['name']}”" for i in described["indicators"]
    }
