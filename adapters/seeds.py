"""Loading seeds/: the Action Plan's commitments, and (with --demo) the sample history.

Idempotent: a commitment already registered is left alone, and a sample history is
applied to a commitment in one atomic save, so a commitment either has all of it
(recognised by its actor) or none of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from domain.commitment import Commitment
from domain.errors import DomainError
from domain.tracker import Tracker
from domain.vocabulary import Evidence, Source

SEEDS_DIR = Path(__file__).resolve().parent.parent / "seeds"
COMMITMENTS_FILE = "commitments.yaml"
SAMPLE_FILE = "sample_history.yaml"
SEED_ACTOR = "seed"
SAMPLE_ACTOR = "sample-data"
SAMPLE_PREFIX = "SAMPLE DATA: "


class SeedError(Exception):
    """A seed file is malformed or breaks a rule; the message names file and entry."""


@dataclass
class SeedReport:
    registered: int = 0
    already_registered: int = 0
    samples_applied: int = 0
    samples_already_applied: int = 0

    @property
    def events_added(self) -> bool:
        return bool(self.registered or self.samples_applied)


def seed(tracker: Tracker, *, demo: bool = False, seeds_dir: Path = SEEDS_DIR) -> SeedReport:
    report = SeedReport()
    path = seeds_dir / COMMITMENTS_FILE
    for index, entry in enumerate(_entries(path, "commitments")):
        where = f"{path.name} entry {index + 1} ({entry.get('code', '?')})"
        with _explained(where):
            if tracker.exists(_required(entry, "code")):
                report.already_registered += 1
                continue
            _register(tracker, entry)
            report.registered += 1
    if demo:
        path = seeds_dir / SAMPLE_FILE
        for index, entry in enumerate(_entries(path, "sample_history")):
            where = f"{path.name} entry {index + 1} ({entry.get('commitment', '?')})"
            with _explained(where):
                if _apply_sample(tracker, entry):
                    report.samples_applied += 1
                else:
                    report.samples_already_applied += 1
    return report


def _entries(path: Path, key: str) -> list[dict[str, Any]]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise SeedError(f"cannot read {path}: {error}") from None
    entries = document.get(key) if isinstance(document, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise SeedError(f"{path} must hold a list of mappings under '{key}'")
    return entries


class _explained:
    """Turn any rule or shape error inside the block into a SeedError naming the entry."""

    def __init__(self, where: str) -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: Any
    ) -> None:
        if isinstance(error, DomainError | KeyError | TypeError | ValueError):
            message = error.message if isinstance(error, DomainError) else str(error)
            raise SeedError(f"{self.where}: {message}") from error


def _required(entry: dict[str, Any], key: str) -> Any:
    if key not in entry:
        raise SeedError(f"missing field {key!r}")
    return entry[key]


def _register(tracker: Tracker, entry: dict[str, Any]) -> None:
    source = entry.get("source")
    tracker.register(
        actor=SEED_ACTOR,
        code=_required(entry, "code"),
        title=_required(entry, "title"),
        description=entry.get("description", ""),
        pillar=_required(entry, "pillar"),
        sectors=_required(entry, "sectors"),
        parties=_required(entry, "parties"),
        lead_party=_required(entry, "lead_party"),
        agencies=entry.get("agencies") or {},
        start_date=_date(entry.get("start_date")),
        target_date=_date(entry.get("target_date")),
        source=Source(**source) if source else None,
        milestones=[
            (m["title"], _date_required(m["due_date"])) for m in entry.get("milestones") or []
        ],
    )


def _apply_sample(tracker: Tracker, entry: dict[str, Any]) -> bool:
    if entry.get("sample") is not True:
        raise SeedError("every sample entry must say `sample: true`")
    code = _required(entry, "commitment")
    if any(event.actor == SAMPLE_ACTOR for event in tracker.events_of(code)):
        return False
    steps = [_sample_step(dict(step)) for step in _required(entry, "events")]

    def script(commitment: Commitment) -> None:
        for step in steps:
            step(commitment)

    tracker.apply_script(code, script)
    return True


def _sample_step(step: dict[str, Any]) -> Callable[[Commitment], Any]:
    kind = step.pop("type", None)
    for key in ("note", "rationale", "reason", "title", "name"):
        if key in step and not str(step[key]).startswith(SAMPLE_PREFIX):
            raise SeedError(f"sample {kind} {key} must start with {SAMPLE_PREFIX!r}")
    a = SAMPLE_ACTOR
    if kind == "progress":
        return lambda c: c.log_progress(
            actor=a,
            percent=step["percent"],
            as_of=_date_required(step["as_of"]),
            note=step["note"],
            confidence=step.get("confidence"),
        )
    if kind == "health":
        return lambda c: c.rate_health(
            actor=a,
            rating=step["rating"],
            rationale=step["rationale"],
            as_of=_date(step.get("as_of")),
        )
    if kind == "status":
        return lambda c: c.change_status(
            actor=a, status=step["status"], reason=step["reason"], as_of=_date(step.get("as_of"))
        )
    if kind == "milestone":
        return lambda c: c.add_milestone(
            actor=a, title=step["title"], due_date=_date_required(step["due_date"])
        )
    if kind == "reschedule_milestone":
        return lambda c: c.reschedule_milestone(
            actor=a,
            milestone_id=_milestone_id(c, step["milestone"]),
            due_date=_date_required(step["due_date"]),
            reason=step["reason"],
        )
    if kind == "complete_milestone":
        return lambda c: c.complete_milestone(
            actor=a,
            milestone_id=_milestone_id(c, step["milestone"]),
            completed_on=_date_required(step["completed_on"]),
            note=step.get("note"),
        )
    if kind == "indicator":
        return lambda c: c.define_indicator(
            actor=a,
            name=step["name"],
            unit=step["unit"],
            baseline=step["baseline"],
            target=step["target"],
        )
    if kind == "measurement":
        return lambda c: c.record_measurement(
            actor=a,
            indicator_id=_indicator_id(c, step["indicator"]),
            value=step["value"],
            as_of=_date_required(step["as_of"]),
            note=step.get("note"),
        )
    if kind == "evidence":
        return lambda c: c.attach_evidence(
            actor=a,
            evidence=Evidence(
                url=step["url"],
                title=step["title"],
                publisher=step.get("publisher"),
                published_on=_date(step.get("published_on")),
            ),
        )
    if kind == "revise":
        reason = step.pop("reason")
        changes = {k: _date(v) if k == "target_date" else v for k, v in step.items()}
        return lambda c: c.revise_details(actor=a, changes=changes, reason=reason)
    raise SeedError(f"unknown sample event type {kind!r}")


def _milestone_id(commitment: Commitment, title: str) -> str:
    milestone = commitment.milestone_by_title(title)
    if milestone is None:
        raise SeedError(f"no milestone titled {title!r} on {commitment.code}")
    return milestone.id


def _indicator_id(commitment: Commitment, name: str) -> str:
    indicator = commitment.indicator_by_name(name)
    if indicator is None:
        raise SeedError(f"no indicator named {name!r} on {commitment.code}")
    return indicator.id


def _date(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise SeedError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _date_required(value: Any) -> date:
    result = _date(value)
    if result is None:
        raise SeedError("a date is required")
    return result
