"""Progress reports: figures checked against a scripted history worked out by hand, every
format parsed back, and reproducibility (same inputs, same bytes and sha256)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from adapters.event_store import engine_of
from adapters.ledger import verify
from adapters.reports import verification
from adapters.reports.archive import archive, generate, get_artefact
from adapters.reports.data import (
    ReportInputs,
    build_report,
    chain_head_at,
    log_head,
    resolve_inputs,
)
from adapters.reports.render import render
from domain import clock
from domain.tracker import Tracker

AS_OF = date(2026, 3, 31)


def at(moment: str) -> Any:
    return clock.frozen_at(datetime.fromisoformat(moment).replace(tzinfo=UTC))


def register(tracker: Tracker, code: str, pillar: str, lead: str, **extra: Any) -> None:
    tracker.register(
        actor="seed",
        code=code,
        title=f"Title of {code}",
        pillar=pillar,
        sectors=["trade"],
        parties=["CA", "MX"],
        lead_party=lead,
        **extra,
    )


def scripted(tracker: Tracker) -> None:
    with at("2026-01-05T09:00"):
        register(tracker, "CMAP-PROS-RAIL", "prosperity", "joint", target_date=date(2026, 12, 31))
        register(tracker, "CMAP-SEC-CYBER", "security", "CA")
        register(tracker, "CMAP-GOV-EVAL", "governance", "joint")
    with at("2026-02-01T09:00"):
        tracker.log_progress(
            "CMAP-PROS-RAIL", actor="a", percent=20, as_of=date(2026, 1, 31), note="Jan"
        )
        tracker.rate_health(
            "CMAP-PROS-RAIL", actor="a", rating="amber", rationale="slow", as_of=date(2026, 2, 1)
        )
        tracker.add_milestone(
            "CMAP-PROS-RAIL", actor="a", title="Study", due_date=date(2026, 2, 15)
        )
        tracker.add_milestone(
            "CMAP-GOV-EVAL", actor="a", title="Joint review", due_date=date(2026, 6, 15)
        )
    with at("2026-02-11T09:00"):
        tracker.change_status(
            "CMAP-SEC-CYBER",
            actor="b",
            status="in_progress",
            reason="kick-off",
            as_of=date(2026, 2, 10),
        )
        tracker.add_milestone("CMAP-SEC-CYBER", actor="b", title="Plan", due_date=date(2026, 3, 15))
        tracker.define_indicator(
            "CMAP-SEC-CYBER", actor="b", name="Exercises", unit="count", baseline=0, target=4
        )
    with at("2026-03-06T09:00"):
        tracker.log_progress(
            "CMAP-SEC-CYBER", actor="b", percent=50, as_of=date(2026, 3, 5), note="Mar"
        )
        tracker.record_measurement(
            "CMAP-SEC-CYBER", "i1", actor="b", value=1, as_of=date(2026, 3, 1)
        )
    with at("2026-03-11T09:00"):
        tracker.log_progress(
            "CMAP-PROS-RAIL", actor="a", percent=40, as_of=date(2026, 3, 10), note="Mar"
        )
    with at("2026-03-21T09:00"):
        tracker.rate_health(
            "CMAP-PROS-RAIL", actor="a", rating="red", rationale="blocked", as_of=date(2026, 3, 20)
        )
        tracker.reschedule_milestone(
            "CMAP-PROS-RAIL", "m1", actor="a", due_date=date(2026, 4, 30), reason="late data"
        )
    with at("2026-03-25T09:00"):
        tracker.revise_details(
            "CMAP-PROS-RAIL",
            actor="a",
            changes={"target_date": date(2027, 6, 30)},
            reason="re-planned",
        )


@pytest.fixture
def report(tracker: Tracker) -> dict[str, Any]:
    scripted(tracker)
    return build_report(tracker, ReportInputs(log_head(tracker), AS_OF, 30))


def test_headline_figures_worked_out_by_hand(report: dict[str, Any]) -> None:
    head = report["headline"]
    assert head["commitments"] == 3
    assert report["period"] == {"start": "2026-03-01", "end": "2026-03-31", "days": 30}
    assert head["by_status"]["in_progress"] == 2 and head["by_status"]["not_started"] == 1
    assert head["by_status_at_start"] == head["by_status"]
    # Now: 40, 50, 0. At the start (1 March): 20, none yet (5 March), 0.
    assert head["progress"] == {"start": 6.7, "end": 30.0, "change": 23.3}
    assert (head["by_health"]["red"], head["by_health"]["unrated"]) == (1, 2)
    assert (head["by_health_at_start"]["amber"], head["by_health_at_start"]["red"]) == (1, 0)
    pillars = {g["pillar"]: g for g in head["by_pillar"]}
    assert pillars["prosperity"]["progress"] == {"start": 20.0, "end": 40.0, "change": 20.0}
    assert pillars["security"]["progress"] == {"start": 0.0, "end": 50.0, "change": 50.0}
    assert pillars["environment_sustainability"]["commitments"] == 0
    parties = {g["lead_party"]: g["commitments"] for g in head["by_lead_party"]}
    assert parties == {"CA": 1, "joint": 2}


def test_sections_worked_out_by_hand(report: dict[str, Any]) -> None:
    [change] = report["changes"]
    assert (change["code"], change["kind"], change["from"], change["to"], change["reason"]) == (
        "CMAP-PROS-RAIL",
        "health",
        "amber",
        "red",
        "blocked",
    )
    assert report["milestones"]["overdue"] == [
        {"code": "CMAP-SEC-CYBER", "milestone": "Plan", "due_date": "2026-03-15", "days": -16}
    ]
    assert [(m["code"], m["days"]) for m in report["milestones"]["due_next_90_days"]] == [
        ("CMAP-PROS-RAIL", 30),
        ("CMAP-GOV-EVAL", 76),
    ]
    [indicator] = report["indicators"]
    assert (indicator["baseline"], indicator["target"], indicator["latest"]) == (0, 4, 1)
    assert indicator["achieved_percent"] == 25.0
    assert [(r["code"], r["health"], r["rationale"]) for r in report["risks"]] == [
        ("CMAP-PROS-RAIL", "red", "blocked")
    ]
    [moved] = report["drift"]["rescheduled_milestones"]
    assert (moved["original_due_date"], moved["due_date"], moved["slip_days"]) == (
        "2026-02-15",
        "2026-04-30",
        74,
    )
    [target] = report["drift"]["revised_target_dates"]
    assert (target["from"], target["to"], target["reason"]) == (
        "2026-12-31",
        "2027-06-30",
        "re-planned",
    )
    assert [k["date"] for k in report["key_dates"]] == ["2026-04-30", "2026-06-15"]
    trend = {p["date"]: p["progress"] for p in report["trend"]}
    assert len(trend) == 12
    assert (trend["2025-12-31"], trend["2026-01-31"], trend["2026-02-28"], trend["2026-03-31"]) == (
        0.0,
        6.7,
        6.7,
        30.0,
    )


def test_footer_names_position_and_chain_head(tracker: Tracker, report: dict[str, Any]) -> None:
    footer = report["footer"]
    assert footer["log_position"] == log_head(tracker)
    assert footer["chain_head"] == verify(engine_of(tracker)).chain_head


def test_a_past_position_ignores_later_events(tracker: Tracker) -> None:
    scripted(tracker)
    early = build_report(tracker, ReportInputs(3, AS_OF, 30))  # the three registrations only
    assert early["headline"]["commitments"] == 3
    assert early["headline"]["progress"]["end"] == 0.0 and early["risks"] == []
    assert early["footer"]["chain_head"] == chain_head_at(tracker, 3)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_every_format_parses_back(tracker: Tracker, report: dict[str, Any]) -> None:
    assert json.loads(render(report, "json")) == report

    rows = list(csv.DictReader(io.StringIO(render(report, "csv").decode())))
    assert [r["code"] for r in rows] == ["CMAP-GOV-EVAL", "CMAP-PROS-RAIL", "CMAP-SEC-CYBER"]
    rail = rows[1]
    assert (rail["progress"], rail["health"], rail["target_date"]) == ("40", "red", "2027-06-30")
    assert rail["log_position"] == str(report["footer"]["log_position"])

    book = load_workbook(io.BytesIO(render(report, "xlsx")))
    assert book.sheetnames == ["Summary", "Commitments", "Milestones", "Indicators"]
    summary = {r[0]: r[1] for r in book["Summary"].iter_rows(values_only=True) if r and r[0]}
    assert summary["Commitments"] == 3 and summary["Weighted progress (%)"] == 30.0
    assert summary["Chain head"] == report["footer"]["chain_head"]
    assert book["Commitments"].max_row == 4
    milestones = list(book["Milestones"].iter_rows(min_row=2, values_only=True))
    assert ("overdue", "CMAP-SEC-CYBER", "Plan", "2026-03-15", -16) in milestones

    parsed = _Text()
    parsed.feed(render(report, "html").decode())
    text = " ".join(parsed.text)
    assert parsed.tags.count("svg") == 4  # the charts, inline
    assert "link" not in parsed.tags and "script" not in parsed.tags  # self-contained
    assert "blocked" in text and "Exercises" in text
    assert f"chain head {report['footer']['chain_head']}" in text

    markdown = render(report, "md").decode()
    assert "## Risks (amber-red and red)" in markdown and "**CMAP-PROS-RAIL** (red" in markdown


def test_same_inputs_same_bytes_and_archived_sha256(tracker: Tracker, tmp_path: Path) -> None:
    scripted(tracker)
    inputs = ReportInputs(log_head(tracker), AS_OF, 30)
    stored = archive(tracker, inputs, ["json", "csv", "md", "html", "xlsx"], generated_by="t")
    assert stored is not None
    with at("2026-04-02T09:00"):  # the log moves on
        tracker.log_progress(
            "CMAP-GOV-EVAL", actor="c", percent=5, as_of=date(2026, 4, 1), note="n"
        )
    again = {a.format: a for a in generate(tracker, inputs, ["json", "csv", "md", "html", "xlsx"])}
    for fmt, digest in stored["sha256"].items():
        assert again[fmt].sha256 == digest
        assert get_artefact(engine_of(tracker), stored["id"], fmt).content == again[fmt].content

    # Each archived artefact can be checked against the log later.
    chain = verify(engine_of(tracker))
    for fmt in stored["formats"]:
        path = tmp_path / f"report.{fmt}"
        path.write_bytes(get_artefact(engine_of(tracker), stored["id"], fmt).content)
        footer = verification.read_footer(path)
        assert footer.log_position == inputs.at_position
        head = chain_head_at(tracker, footer.log_position)
        assert verification.check(footer, chain, head) is None
    forged = verification.Footer(inputs.at_position, "0" * 64)
    problem = verification.check(forged, chain, chain_head_at(tracker, inputs.at_position))
    assert problem is not None and "is not the log's" in problem


def test_a_position_alone_takes_the_inputs_of_the_report_archived_then(tracker: Tracker) -> None:
    scripted(tracker)
    position = log_head(tracker)
    stored = archive(tracker, ReportInputs(position, AS_OF, 45), ["json"], generated_by="t")
    assert stored is not None
    with at("2026-04-02T09:00"):
        tracker.log_progress(
            "CMAP-GOV-EVAL", actor="c", percent=5, as_of=date(2026, 4, 1), note="n"
        )
    inputs = resolve_inputs(
        tracker, at_position=position, as_of=None, period_days=None, today=date(2026, 11, 24)
    )
    assert (inputs.as_of, inputs.period_days) == (AS_OF, 45)
    [again] = generate(tracker, inputs, ["json"])
    assert again.sha256 == stored["sha256"]["json"]
    assert resolve_inputs(
        tracker, at_position=None, as_of=None, period_days=None, today=date(2026, 11, 24)
    ).as_of == date(2026, 11, 24)
