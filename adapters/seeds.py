"""Loading seeds/: the Action Plan's commitments, and (with --demo) the sample history.

Every entry becomes a command of domain/commands.py, read with the same models as the
API's request bodies (adapters/wire.py), and is written through the unit of work.
Idempotent: a commitment already registered is left alone, and a sample history is
applied to a commitment in one atomic write, so a commitment either has all of it
(recognised by its actor) or none of it. An entry's `translations` (title and planned
milestones' titles in fr and es) are recorded in one write after its registration, each
text only while it has no translation yet and its original still reads as in the file:
a translation someone made, or an original someone revised, is never overwritten.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from adapters.unit_of_work import UnitOfWork, Write
from domain import commands
from domain.access import system
from domain.commitment import Commitment
from domain.errors import DomainError
from domain.tracker import Tracker
from domain.translations import milestone_path

C = TypeVar("C")

SEEDS_DIR = Path(__file__).resolve().parent.parent / "seeds"
COMMITMENTS_FILE = "commitments.yaml"
SAMPLE_FILE = "sample_history.yaml"
SEED_ACTOR = "seed"
SAMPLE_ACTOR = "sample-data"
SAMPLE_PREFIX = "SAMPLE DATA: "

# The `type` of a sample step, and the command it is.
SAMPLE_STEPS: dict[str, type[commands.CommitmentCommand]] = {
    "progress": commands.LogProgress,
    "health": commands.RateHealth,
    "status": commands.ChangeStatus,
    "milestone": commands.AddMilestone,
    "reschedule_milestone": commands.ChangeMilestone,
    "complete_milestone": commands.CompleteMilestone,
    "indicator": commands.DefineIndicator,
    "measurement": commands.RecordMeasurement,
    "evidence": commands.AttachEvidence,
    "revise": commands.ReviseDetails,
}


class SeedError(Exception):
    """A seed file is malformed or breaks a rule; the message names file and entry."""


@dataclass
class SeedReport:
    registered: int = 0
    already_registered: int = 0
    translated: int = 0
    samples_applied: int = 0
    samples_already_applied: int = 0


def seed(
    unit_of_work: UnitOfWork,
    tracker: Tracker,
    *,
    demo: bool = False,
    seeds_dir: Path = SEEDS_DIR,
) -> SeedReport:
    report = SeedReport()
    path = seeds_dir / COMMITMENTS_FILE
    for index, entry in enumerate(_entries(path, "commitments")):
        where = f"{path.name} entry {index + 1} ({entry.get('code', '?')})"
        with _explained(where):
            entry = dict(entry)
            translations = entry.pop("translations", {})
            command = _parse(commands.RegisterCommitment, entry)
            if tracker.exists(command.code):
                report.already_registered += 1
            else:
                unit_of_work.run(Write(system(SEED_ACTOR), command))
                report.registered += 1
            if _translate(unit_of_work, tracker, command, translations):
                report.translated += 1
    if demo:
        path = seeds_dir / SAMPLE_FILE
        for index, entry in enumerate(_entries(path, "sample_history")):
            where = f"{path.name} entry {index + 1} ({entry.get('commitment', '?')})"
            with _explained(where):
                if _apply_sample(unit_of_work, tracker, entry):
                    report.samples_applied += 1
                else:
                    report.samples_already_applied += 1
    return report


def _translate(
    unit_of_work: UnitOfWork,
    tracker: Tracker,
    registered: commands.RegisterCommitment,
    translations: Any,
) -> bool:
    """Record the entry's translations not yet made, in one write; False: none to make."""
    if not isinstance(translations, dict):
        raise SeedError("'translations' must map languages to texts")
    commitment = tracker.get(registered.code)
    steps: list[commands.CommitmentCommand] = []
    for language, texts in translations.items():
        if not isinstance(texts, dict) or not set(texts) <= {"title", "milestones"}:
            raise SeedError(f"translations.{language} may give a title and milestones only")
        done = commitment.translations.get(str(language), {})
        given: dict[str, Any] = {}
        if "title" in texts and commitment.title == registered.title and "title" not in done:
            given["title"] = texts["title"]
        milestones = texts.get("milestones") or {}
        if not isinstance(milestones, dict):
            raise SeedError(f"translations.{language}.milestones must map titles to titles")
        by_id = {}
        for original, translated in milestones.items():
            found = commitment.milestone_by_title(str(original))
            if found is None:
                if any(m.title == original for m in registered.milestones):
                    continue  # renamed since: its translation would be of another text
                raise SeedError(f"{registered.code} plans no milestone called {original!r}")
            if found.title == original and milestone_path(found.id) not in done:
                by_id[found.id] = translated
        if by_id:
            given["milestones"] = by_id
        if given:
            steps.append(_parse(commands.TranslateText, given, language=str(language)))
    if not steps:
        return False
    unit_of_work.run(
        Write(system(SEED_ACTOR), commands.Together(tuple(steps)), ref=registered.code)
    )
    return True


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
        if isinstance(error, SeedError):
            raise SeedError(f"{self.where}: {error}") from error
        if isinstance(error, DomainError | KeyError | TypeError | ValueError):
            message = error.message if isinstance(error, DomainError) else str(error)
            raise SeedError(f"{self.where}: {message}") from error


def _apply_sample(unit_of_work: UnitOfWork, tracker: Tracker, entry: dict[str, Any]) -> bool:
    if entry.get("sample") is not True:
        raise SeedError("every sample entry must say `sample: true`")
    code = entry.get("commitment")
    if not isinstance(code, str):
        raise SeedError("missing field 'commitment'")
    if any(event.actor == SAMPLE_ACTOR for event in tracker.events_of(code)):
        return False
    steps = entry.get("events")
    if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
        raise SeedError("'events' must be a list of mappings")
    # Steps name milestones and indicators by title; their ids are found on a scratch
    # copy that runs the steps as they are read (a step may name what an earlier added).
    scratch = deepcopy(tracker.get(code))
    steps_done = []
    for step in steps:
        command = _sample_command(dict(step), scratch)
        command.apply(scratch, SAMPLE_ACTOR, system(SAMPLE_ACTOR))
        steps_done.append(command)
    unit_of_work.run(Write(system(SAMPLE_ACTOR), commands.Together(tuple(steps_done)), ref=code))
    return True


def _sample_command(step: dict[str, Any], commitment: Commitment) -> commands.CommitmentCommand:
    kind = step.pop("type", None)
    if kind not in SAMPLE_STEPS:
        raise SeedError(f"unknown sample event type {kind!r}")
    for key in ("note", "rationale", "reason", "title", "name"):
        if key in step and not str(step[key]).startswith(SAMPLE_PREFIX):
            raise SeedError(f"sample {kind} {key} must start with {SAMPLE_PREFIX!r}")
    # Steps name a milestone by its title and an indicator by its name: find their ids.
    path: dict[str, str] = {}
    for key, find in (
        ("milestone", commitment.milestone_by_title),
        ("indicator", commitment.indicator_by_name),
    ):
        if key in step:
            named = step.pop(key)
            found = find(named)
            if found is None:
                raise SeedError(f"{commitment.code} has no {key} called {named!r}")
            path[f"{key}_id"] = found.id
    return _parse(SAMPLE_STEPS[kind], step, **path)


def _parse(command: type[C], data: dict[str, Any], **path: str) -> C:
    from adapters import wire  # pydantic: slow to import, and commands need not wait for it

    return wire.parse(command, data, **path)
