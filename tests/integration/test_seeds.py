"""Seeds: the Action Plan's commitments, and the sample history, loaded idempotently."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from adapters.event_store import engine_of
from adapters.history import commitment_history
from adapters.seeds import SAMPLE_ACTOR, SAMPLE_PREFIX, SEEDS_DIR, SeedError, seed
from adapters.tables import events
from domain.tracker import Tracker
from domain.vocabulary import Pillar


def event_count(tracker: Tracker) -> int:
    with engine_of(tracker).connect() as connection:
        return int(connection.execute(select(func.count()).select_from(events)).scalar_one())


def seeded_codes() -> list[str]:
    document = yaml.safe_load((SEEDS_DIR / "commitments.yaml").read_text())
    return [entry["code"] for entry in document["commitments"]]


def test_seed_twice_adds_no_event(tracker: Tracker) -> None:
    first = seed(tracker, demo=True)
    count = event_count(tracker)
    assert first.registered == len(seeded_codes()) and first.samples_applied > 0
    again = seed(tracker, demo=True)
    assert not again.events_added
    assert again.already_registered == first.registered
    assert again.samples_already_applied == first.samples_applied
    assert event_count(tracker) == count


def test_seeded_commitments_cover_the_plan(tracker: Tracker) -> None:
    seed(tracker)
    commitments = [tracker.get(code) for code in seeded_codes()]
    assert len(commitments) >= 15
    assert {c.pillar for c in commitments} == set(Pillar)
    sectors = {s for c in commitments for s in c.sectors}
    assert {"railways", "ports", "airports", "cybersecurity"} <= sectors
    assert all(c.source is not None and c.source.title for c in commitments)
    usmca = next(c for c in commitments if "US" in c.parties)
    assert any(m.due_date.isoformat() == "2026-07-01" for m in usmca.milestones.values())
    # Without --demo nothing is sample data.
    assert all(
        h["actor"] != SAMPLE_ACTOR for c in seeded_codes() for h in commitment_history(tracker, c)
    )


def test_every_sample_fact_says_it_is_sample_data(tracker: Tracker) -> None:
    seed(tracker, demo=True)
    sample_events = [
        h
        for c in seeded_codes()
        for h in commitment_history(tracker, c)
        if h["actor"] == SAMPLE_ACTOR
    ]
    assert len(sample_events) > 50
    for event in sample_events:
        data = dict(event["data"], **(event["data"].get("evidence") or {}))
        texts = [
            v
            for k, v in data.items()
            if k in {"note", "rationale", "reason", "title", "name"} and v
        ]
        if event["type"] == "StatusChanged" and event["data"]["reason"] == "progress logged":
            continue  # the automatic move to in_progress on first progress
        assert texts and all(t.startswith(SAMPLE_PREFIX) for t in texts), event


def test_a_bad_seed_file_is_refused_with_its_entry_named(tracker: Tracker, tmp_path: Path) -> None:
    (tmp_path / "commitments.yaml").write_text(
        "commitments:\n"
        "  - {code: CMAP-GOV-EVAL, title: Evaluation, pillar: governance, sectors: [governance],"
        " parties: [CA, MX], lead_party: joint}\n"
        "  - {code: CMAP-GOV-BAD, title: Bad, pillar: nowhere, sectors: [x1], parties: [CA],"
        " lead_party: CA}\n"
    )
    with pytest.raises(SeedError, match=r"entry 2 \(CMAP-GOV-BAD\): pillar must be one of"):
        seed(tracker, seeds_dir=tmp_path)
    assert tracker.exists("CMAP-GOV-EVAL")
    (tmp_path / "commitments.yaml").write_text("commitments: {}\n")
    with pytest.raises(SeedError, match="list of mappings"):
        seed(tracker, seeds_dir=tmp_path)


def test_a_sample_history_that_breaks_a_rule_adds_nothing(tracker: Tracker, tmp_path: Path) -> None:
    (tmp_path / "commitments.yaml").write_text(
        "commitments:\n"
        "  - {code: CMAP-GOV-EVAL, title: Evaluation, pillar: governance, sectors: [governance],"
        " parties: [CA, MX], lead_party: joint}\n"
    )
    (tmp_path / "sample_history.yaml").write_text(
        "sample_history:\n"
        "  - commitment: CMAP-GOV-EVAL\n"
        "    sample: true\n"
        "    events:\n"
        "      - {type: progress, percent: 10, as_of: 2025-11-01, note: 'SAMPLE DATA: ok'}\n"
        "      - {type: progress, percent: 120, as_of: 2025-12-01, note: 'SAMPLE DATA: too much'}\n"
    )
    with pytest.raises(SeedError, match="percent must be a whole number"):
        seed(tracker, demo=True, seeds_dir=tmp_path)
    assert tracker.get("CMAP-GOV-EVAL").version == 1  # all of the entry, or none of it
