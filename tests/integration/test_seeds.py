"""Seeds: the Action Plan's commitments, and the sample history, loaded idempotently
through the unit of work; a bad file is refused naming its file and entry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from adapters.bootstrap import Services
from adapters.history import commitment_history
from adapters.ledger import verify
from adapters.seeds import SAMPLE_ACTOR, SAMPLE_PREFIX, SEED_ACTOR, SEEDS_DIR, SeedError, seed
from adapters.tables import events
from domain.commitment import Commitment
from domain.vocabulary import Pillar
from tests.conftest import open_services

EVAL_ENTRY = (
    "  - {code: CMAP-GOV-EVAL, title: Evaluation, pillar: governance, sectors: [governance],"
    " parties: [CA, MX], lead_party: joint}\n"
)


@pytest.fixture
def app(sqlite_url: str) -> Iterator[Services]:
    built = open_services(sqlite_url)
    yield built
    built.close()


@pytest.fixture
def seeded(seeded_url: str) -> Iterator[Services]:
    built = open_services(seeded_url)
    yield built
    built.close()


def event_count(services: Services) -> int:
    with services.database.reading() as connection:
        return int(connection.execute(select(func.count()).select_from(events)).scalar_one())


def seeded_codes() -> list[str]:
    document = yaml.safe_load((SEEDS_DIR / "commitments.yaml").read_text())
    return [entry["code"] for entry in document["commitments"]]


def test_seeding_registers_the_plan_then_the_samples_then_nothing(app: Services) -> None:
    commits: list[int] = []
    app.unit_of_work.after_commit.append(lambda: commits.append(1))
    plain = seed(app.unit_of_work, app.tracker)
    codes = seeded_codes()
    assert (plain.registered, plain.already_registered, plain.samples_applied) == (len(codes), 0, 0)
    # Per entry, one write through the unit of work registers it, one translates it.
    assert plain.translated == len(codes) and len(commits) == 2 * len(codes)
    commitments = [app.tracker.get(code) for code in codes]
    assert len(commitments) >= 15
    assert {c.pillar for c in commitments} == set(Pillar)
    # Planned milestones come in the registration's write; then French, then Spanish.
    assert all(c.version == 1 + len(c.milestones) + 2 for c in commitments)
    sectors = {s for c in commitments for s in c.sectors}
    assert {"railways", "ports", "airports", "cybersecurity"} <= sectors
    assert all(c.source is not None and c.source.title for c in commitments)
    usmca = next(c for c in commitments if "US" in c.parties)
    assert any(m.due_date.isoformat() == "2026-07-01" for m in usmca.milestones.values())
    # Without --demo nothing is sample data.
    histories = [commitment_history(app.database, app.tracker, c) for c in codes]
    assert {h["actor"] for history in histories for h in history} == {SEED_ACTOR}

    demo = seed(app.unit_of_work, app.tracker, demo=True)
    assert (demo.registered, demo.already_registered, demo.translated) == (0, len(codes), 0)
    assert demo.samples_applied > 10 and demo.samples_already_applied == 0
    assert len(commits) == 2 * len(codes) + demo.samples_applied  # one atomic write per entry
    count = event_count(app)

    again = seed(app.unit_of_work, app.tracker, demo=True)
    assert (again.registered, again.samples_applied, again.translated) == (0, 0, 0)
    assert again.already_registered == len(codes)
    assert again.samples_already_applied == demo.samples_applied
    assert event_count(app) == count
    assert verify(app.database).verified


def test_seeding_a_seeded_database_again_adds_no_event(seeded: Services) -> None:
    count = event_count(seeded)
    again = seed(seeded.unit_of_work, seeded.tracker, demo=True)
    assert (again.registered, again.samples_applied) == (0, 0)
    assert again.already_registered == len(seeded_codes()) and again.samples_already_applied > 0
    assert event_count(seeded) == count


def test_every_sample_fact_says_it_is_sample_data(seeded: Services) -> None:
    sample_events = [
        h
        for c in seeded_codes()
        for h in commitment_history(seeded.database, seeded.tracker, c)
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
        if event["type"] == "ClosureConfirmed" and event["data"]["alone"]:
            continue  # the seeds close joint commitments as an admin: alone, with no text
        assert texts and all(t.startswith(SAMPLE_PREFIX) for t in texts), event
    # Each commitment's sample history is one write: its events sit together in the log.
    by_commitment: dict[str, list[int]] = {}
    for event in sample_events:
        by_commitment.setdefault(event["commitment_id"], []).append(event["position"])
    for positions in by_commitment.values():
        assert positions == list(range(positions[0], positions[0] + len(positions)))


def test_a_bad_seed_file_is_refused_with_its_entry_named(app: Services, tmp_path: Path) -> None:
    (tmp_path / "commitments.yaml").write_text(
        "commitments:\n"
        + EVAL_ENTRY
        + "  - {code: CMAP-GOV-BAD, title: Bad, pillar: nowhere, sectors: [x1], parties: [CA],"
        " lead_party: CA}\n"
    )
    with pytest.raises(SeedError, match=r"commitments.yaml entry 2 \(CMAP-GOV-BAD\): pillar"):
        seed(app.unit_of_work, app.tracker, seeds_dir=tmp_path)
    assert app.tracker.exists("CMAP-GOV-EVAL")  # the entries before it are in
    assert not app.tracker.exists("CMAP-GOV-BAD") and event_count(app) == 1

    (tmp_path / "commitments.yaml").write_text(
        "commitments:\n"
        + EVAL_ENTRY
        + "  - {code: CMAP-GOV-TWO, title: Two, pillar: governance, sectors: [governance],"
        " parties: [CA, MX], lead_party: US}\n"
    )
    with pytest.raises(SeedError, match=r"entry 2 \(CMAP-GOV-TWO\): lead_party"):
        seed(app.unit_of_work, app.tracker, seeds_dir=tmp_path)
    assert event_count(app) == 1

    (tmp_path / "commitments.yaml").write_text("commitments: {}\n")
    with pytest.raises(SeedError, match="list of mappings"):
        seed(app.unit_of_work, app.tracker, seeds_dir=tmp_path)
    (tmp_path / "commitments.yaml").write_text("commitments: [\n")
    with pytest.raises(SeedError, match="cannot read"):
        seed(app.unit_of_work, app.tracker, seeds_dir=tmp_path)


def write_sample(directory: Path, events_yaml: str, header: str = "    sample: true\n") -> None:
    (directory / "commitments.yaml").write_text("commitments:\n" + EVAL_ENTRY)
    (directory / "sample_history.yaml").write_text(
        "sample_history:\n  - commitment: CMAP-GOV-EVAL\n" + header + "    events:\n" + events_yaml
    )


OK_STEP = "      - {type: progress, percent: 10, as_of: 2025-11-01, note: 'SAMPLE DATA: ok'}\n"


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        pytest.param(
            OK_STEP + "      - {type: progress, percent: 120, as_of: 2025-12-01,"
            " note: 'SAMPLE DATA: too much'}\n",
            "percent",
            id="out-of-bounds",
        ),
        pytest.param(
            OK_STEP + "      - {type: health, rating: purple, rationale: 'SAMPLE DATA: r',"
            " as_of: 2025-12-01}\n",
            "rating",
            id="unknown-rating",
        ),
        pytest.param(
            OK_STEP + "      - {type: complete_milestone, milestone: 'SAMPLE DATA: nothing',"
            " completed_on: 2025-12-01}\n",
            "has no milestone called 'SAMPLE DATA: nothing'",
            id="unknown-milestone",
        ),
        pytest.param(
            OK_STEP + "      - {type: teleport}\n", "unknown sample event type", id="unknown-type"
        ),
        pytest.param(
            OK_STEP + "      - {type: health, rating: red, rationale: 'real', as_of: 2025-12-01}\n",
            "must start with 'SAMPLE DATA: '",
            id="not-marked",
        ),
        pytest.param(
            OK_STEP + "      - {type: status, status: not_started, reason: 'SAMPLE DATA: r'}\n",
            "already not_started|cannot change status",
            id="breaks-a-rule",
        ),
    ],
)
def test_a_sample_history_that_breaks_a_rule_adds_nothing(
    app: Services, tmp_path: Path, steps: str, message: str
) -> None:
    write_sample(tmp_path, steps)
    with pytest.raises(
        SeedError, match=rf"sample_history.yaml entry 1 \(CMAP-GOV-EVAL\): .*{message}"
    ):
        seed(app.unit_of_work, app.tracker, demo=True, seeds_dir=tmp_path)
    assert app.tracker.get("CMAP-GOV-EVAL").version == 1  # all of the entry, or none of it


def test_a_sample_entry_must_say_it_is_sample_data(app: Services, tmp_path: Path) -> None:
    write_sample(tmp_path, OK_STEP, header="")
    with pytest.raises(SeedError, match="must say `sample: true`"):
        seed(app.unit_of_work, app.tracker, demo=True, seeds_dir=tmp_path)
    assert app.tracker.get("CMAP-GOV-EVAL").version == 1


def test_every_seeded_title_reads_in_french_and_spanish(app: Services) -> None:
    seed(app.unit_of_work, app.tracker)
    codes = seeded_codes()
    assert len(codes) == 22
    for code in codes:
        commitment = app.tracker.get(code)
        for language in ("fr", "es"):
            texts = commitment.translations[language]
            assert texts["title"] and texts["title"] != commitment.title, (code, language)
            # Every planned milestone too, by its id.
            assert {f"milestones.{m}" for m in commitment.milestones} <= set(texts), code
        assert commitment.translations["fr"]["title"] != commitment.translations["es"]["title"]
    events = [
        e
        for e in app.tracker.events_of("CMAP-GOV-USMCA")
        if isinstance(e, Commitment.TextTranslated)
    ]
    assert [(e.language, e.actor) for e in events] == [("fr", SEED_ACTOR), ("es", SEED_ACTOR)]
    usmca = app.tracker.get("CMAP-GOV-USMCA")
    review = next(m for m in usmca.milestones.values() if "34.7" in m.title)
    assert "T-MEC" in usmca.translations["es"][f"milestones.{review.id}"]


def test_seeding_never_overwrites_a_translation_or_translates_a_revised_title(
    app: Services,
) -> None:
    """A database seeded before the seeds had translations gets them; one somebody
    translated or revised since keeps what they wrote."""
    from domain.commands import ReviseDetails, TranslateText
    from tests.support import write

    path = SEEDS_DIR / "commitments.yaml"
    document = yaml.safe_load(path.read_text())
    untranslated = {
        "commitments": [
            {k: v for k, v in entry.items() if k != "translations"}
            for entry in document["commitments"]
        ]
    }
    folder = Path(app.settings.database_url.removeprefix("sqlite:///")).parent / "old-seeds"
    folder.mkdir()
    (folder / "commitments.yaml").write_text(yaml.safe_dump(untranslated, allow_unicode=True))
    assert seed(app.unit_of_work, app.tracker, seeds_dir=folder).translated == 0
    write(app, TranslateText(language="fr", title="Titre d'un traducteur"), ref="CMAP-PROS-RAIL")
    write(app, ReviseDetails(title="Ports 2.0", reason="renamed"), ref="CMAP-PROS-PORTS")

    report = seed(app.unit_of_work, app.tracker)
    # All but PORTS, whose revised title (and no milestone) leaves nothing to translate.
    assert report.translated == len(seeded_codes()) - 1
    rail, ports = app.tracker.get("CMAP-PROS-RAIL"), app.tracker.get("CMAP-PROS-PORTS")
    assert rail.translations["fr"]["title"] == "Titre d'un traducteur"
    assert rail.translations["es"]["title"].startswith("Infraestructura")
    assert "title" not in ports.translations.get("fr", {})
    assert "title" not in ports.translations.get("es", {})
    count = event_count(app)
    assert seed(app.unit_of_work, app.tracker).translated == 0
    assert event_count(app) == count
