"""Progress reports: figures checked against a scripted history worked out by hand, every
format parsed back, reproducibility (same inputs, same bytes and sha256) and the archive."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from adapters.bootstrap import Services
from adapters.ledger import verify
from adapters.proofs import tree_head_at
from adapters.reports import verification
from adapters.reports.data import REPORT_FORMAT_VERSION, ReportInputs
from adapters.reports.render import render
from domain import clock
from domain.access import system
from domain.commands import (
    AddMilestone,
    ChangeMilestone,
    ChangeStatus,
    Command,
    ConfirmClosure,
    DefineIndicator,
    LogProgress,
    RateHealth,
    RecordMeasurement,
    ReviseDetails,
)
from domain.errors import InvalidValue, NotFound
from domain.vocabulary import Health, Pillar, Status
from tests.conftest import open_services
from tests.support import CA_EDITOR, MX_EDITOR, registration, write

AS_OF = date(2026, 3, 31)
FORMATS = ["json", "csv", "md", "html", "xlsx"]
RAIL, CYBER, EVAL = "CMAP-PROS-RAIL", "CMAP-SEC-CYBER", "CMAP-GOV-EVAL"


def at(moment: str) -> Any:
    return clock.frozen_at(datetime.fromisoformat(moment).replace(tzinfo=UTC))


@pytest.fixture
def app(sqlite_url: str) -> Iterator[Services]:
    built = open_services(sqlite_url)
    yield built
    built.close()


def scripted(services: Services) -> None:
    a, b = system("a"), system("b")

    def by(principal: Any, ref: str, command: Command) -> None:
        write(services, command, ref=ref, principal=principal)

    seed = system("seed")
    with at("2026-01-05T09:00"):
        write(
            services,
            registration(RAIL, title=f"Title of {RAIL}", target_date=date(2026, 12, 31)),
            principal=seed,
        )
        write(
            services,
            registration(CYBER, title=f"Title of {CYBER}", pillar=Pillar.SECURITY, lead_party="CA"),
            principal=seed,
        )
        write(
            services,
            registration(EVAL, title=f"Title of {EVAL}", pillar=Pillar.GOVERNANCE),
            principal=seed,
        )
    with at("2026-02-01T09:00"):
        by(a, RAIL, LogProgress(percent=20, as_of=date(2026, 1, 31), note="Jan"))
        by(a, RAIL, RateHealth(rating=Health.AMBER, rationale="slow", as_of=date(2026, 2, 1)))
        by(a, RAIL, AddMilestone(title="Study", due_date=date(2026, 2, 15)))
        by(a, EVAL, AddMilestone(title="Joint review", due_date=date(2026, 6, 15)))
    with at("2026-02-11T09:00"):
        by(
            b,
            CYBER,
            ChangeStatus(status=Status.IN_PROGRESS, reason="kick-off", as_of=date(2026, 2, 10)),
        )
        by(b, CYBER, AddMilestone(title="Plan", due_date=date(2026, 3, 15)))
        by(
            b,
            CYBER,
            DefineIndicator(name="Exercises", unit="count", baseline=Decimal(0), target=Decimal(4)),
        )
    with at("2026-03-06T09:00"):
        by(b, CYBER, LogProgress(percent=50, as_of=date(2026, 3, 5), note="Mar"))
        by(
            b,
            CYBER,
            RecordMeasurement(indicator_id="i1", value=Decimal(1), as_of=date(2026, 3, 1)),
        )
    with at("2026-03-11T09:00"):
        by(a, RAIL, LogProgress(percent=40, as_of=date(2026, 3, 10), note="Mar"))
    with at("2026-03-21T09:00"):
        by(a, RAIL, RateHealth(rating=Health.RED, rationale="blocked", as_of=date(2026, 3, 20)))
        by(
            a,
            RAIL,
            ChangeMilestone(milestone_id="m1", due_date=date(2026, 4, 30), reason="late data"),
        )
    with at("2026-03-25T09:00"):
        by(a, RAIL, ReviseDetails(target_date=date(2027, 6, 30), reason="re-planned"))


@pytest.fixture
def report(app: Services) -> dict[str, Any]:
    scripted(app)
    return app.reports.build(ReportInputs(app.reports.head(), AS_OF, 30))


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
    # In the period (1-31 March): two progress figures, a health change and the risk it
    # makes; the measurement and the reschedule are not changes of the period's story.
    assert [
        (c["date"], c["code"], c["kind"], c["from"], c["to"], c["note"]) for c in report["changes"]
    ] == [
        ("2026-03-05", CYBER, "progress", None, 50, "Mar"),
        ("2026-03-10", RAIL, "progress", 20, 40, "Mar"),
        ("2026-03-20", RAIL, "health", "amber", "red", "blocked"),
        ("2026-03-20", RAIL, "risk_new", "amber", "red", "blocked"),
    ]
    change = report["changes"][2]
    assert (change["actor"], change["recorded_at"]) == ("a", "2026-03-21T09:00:00+00:00")
    assert (change["position"], change["version"]) == (15, 7)
    assert report["milestones"]["overdue"] == [
        {"code": CYBER, "milestone": "Plan", "untranslated": [], "due_date": "2026-03-15",
         "days": -16}
    ]  # fmt: skip
    assert [(m["code"], m["days"]) for m in report["milestones"]["due_next_90_days"]] == [
        (RAIL, 30),
        (EVAL, 76),
    ]
    [indicator] = report["indicators"]
    assert (indicator["baseline"], indicator["target"], indicator["latest"]) == (0, 4, 1)
    assert indicator["achieved_percent"] == 25.0
    assert [(r["code"], r["health"], r["rationale"]) for r in report["risks"]] == [
        (RAIL, "red", "blocked")
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
    rows = {c["code"]: c for c in report["commitments"]}
    assert (rows[CYBER]["milestones_missed"], rows[CYBER]["overdue"]) == (1, False)
    assert (rows[RAIL]["progress_at_start"], rows[RAIL]["status_at_start"]) == (20, "in_progress")


def test_a_pending_closure_is_listed_from_its_date_in_every_format(app: Services) -> None:
    scripted(app)
    assert "pending_closures" not in app.reports.build(ReportInputs(app.reports.head(), AS_OF))
    cancel = ChangeStatus(status=Status.CANCELLED, reason="merged", as_of=date(2026, 3, 27))
    with at("2026-03-28T09:00"):
        write(app, cancel, ref=CYBER, principal=MX_EDITOR)
    inputs = ReportInputs(app.reports.head(), AS_OF, 30)
    report = app.reports.build(inputs)
    assert report["pending_closures"] == [
        {
            "code": CYBER,
            "title": f"Title of {CYBER}",
            "untranslated": [],
            "status": "in_progress",
            "proposed_status": "cancelled",
            "partial": False,
            "as_of": "2026-03-27",
            "reason": "merged",
            "superseded_by": None,
            "proposed_by": "luis.mx",
            "proposed_by_party": "MX",
            "proposed_at": "2026-03-28T09:00:00+00:00",
            "awaiting": ["CA"],
        }
    ]
    assert list(report).index("pending_closures") == list(report).index("changes") + 1
    # Before the date of the status it proposes, nothing is pending.
    earlier = app.reports.build(ReportInputs(inputs.at_position, date(2026, 3, 26)))
    assert "pending_closures" not in earlier

    markdown = render(report, "md").decode()
    assert (
        f"## Closures awaiting confirmation\n\n- **{CYBER}** In progress → **Cancelled** as of "
        "2026-03-27, proposed by MX (luis.mx), awaiting CA: merged\n"
    ) in markdown
    parsed = _Text()
    parsed.feed(render(report, "html").decode())
    assert "Closures awaiting confirmation" in parsed.text
    book = load_workbook(io.BytesIO(render(report, "xlsx")))
    rows = list(book["Pending closures"].iter_rows(values_only=True))
    assert rows[1] == (
        CYBER,
        "In progress",
        "Cancelled",
        datetime(2026, 3, 27),
        "MX",
        "luis.mx",
        "CA",
        "merged",
    )
    for fmt in FORMATS:  # regenerated from the inputs it records, byte for byte
        [artefact] = app.reports.generate(inputs, [fmt])
        assert app.reports.check(artefact.content)["verified"], fmt

    with at("2026-03-29T09:00"):
        write(app, ConfirmClosure(), ref=CYBER, principal=CA_EDITOR)
    confirmed = app.reports.build(ReportInputs(app.reports.head(), AS_OF, 30))
    assert "pending_closures" not in confirmed
    change = next(c for c in confirmed["changes"] if c["code"] == CYBER and c["kind"] == "status")
    assert (change["from"], change["to"], change["date"], change["actor"]) == (
        "in_progress",
        "cancelled",
        "2026-03-27",
        "ana.ca",
    )
    # The report at the position of the proposal still lists it: the log as it stood.
    assert app.reports.build(inputs)["pending_closures"] == report["pending_closures"]


def test_footer_names_position_and_chain_head(app: Services, report: dict[str, Any]) -> None:
    footer = report["footer"]
    assert footer["log_position"] == app.reports.head() == 17
    assert footer["chain_head"] == verify(app.database).chain_head
    assert (footer["as_of"], footer["period_days"]) == ("2026-03-31", 30)


def test_a_past_position_ignores_later_events(app: Services) -> None:
    scripted(app)
    early = app.reports.build(ReportInputs(3, AS_OF, 30))  # the three registrations only
    assert early["headline"]["commitments"] == 3
    assert early["headline"]["progress"]["end"] == 0.0 and early["risks"] == []
    assert early["footer"]["chain_head"] == app.reports.chain_head_at(3)
    assert app.reports.chain_head_at(3) != app.reports.chain_head_at(4)
    empty = app.reports.build(ReportInputs(0, AS_OF, 30))
    assert (empty["headline"]["commitments"], empty["footer"]["chain_head"]) == (0, None)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_every_format_parses_back(report: dict[str, Any]) -> None:
    assert json.loads(render(report, "json")) == report

    *table, footer = render(report, "csv").decode().splitlines()
    rows = list(csv.DictReader(table))
    assert [r["code"] for r in rows] == [EVAL, RAIL, CYBER]
    rail = rows[1]
    assert (rail["progress"], rail["health"], rail["target_date"]) == ("40", "red", "2027-06-30")
    assert footer.startswith("# As of 2026-03-31 · period 30 days · log position 17 ·")

    book = load_workbook(io.BytesIO(render(report, "xlsx")))
    assert book.sheetnames == [
        "Summary", "Commitments", "Changes", "Milestones", "Risks", "Indicators"
    ]  # fmt: skip
    summary = {r[0]: r[1] for r in book["Summary"].iter_rows(values_only=True) if r and r[0]}
    assert summary["Commitments"] == 3 and summary["Weighted progress (%)"] == 30.0
    assert summary["Chain head"] == report["footer"]["chain_head"]
    assert book["Commitments"].max_row == 4
    milestones = list(book["Milestones"].iter_rows(min_row=2, values_only=True))
    assert (CYBER, "Plan", datetime(2026, 3, 15), datetime(2026, 3, 15), "Missed") == (
        milestones[0][:5]
    )

    parsed = _Text()
    parsed.feed(render(report, "html").decode())
    text = " ".join(parsed.text)
    assert parsed.tags.count("svg") == 4  # the charts, inline
    assert "link" not in parsed.tags and "script" not in parsed.tags  # self-contained
    assert "blocked" in text and "Exercises" in text
    assert f"chain head {report['footer']['chain_head']}" in text

    markdown = render(report, "md").decode()
    assert "## Risks (amber-red and red)" in markdown and f"**{RAIL}** (Red" in markdown


def test_same_inputs_same_bytes_and_archived_sha256(app: Services, tmp_path: Path) -> None:
    scripted(app)
    inputs = ReportInputs(app.reports.head(), AS_OF, 30)
    with at("2026-04-01T08:00"):
        stored = app.reports.archive(inputs, FORMATS, generated_by="t")
    assert stored is not None
    assert (stored["formats"], stored["log_position"], stored["as_of"]) == (
        FORMATS,
        inputs.at_position,
        "2026-03-31",
    )
    assert stored["generated_at"] == "2026-04-01T08:00:00+00:00"
    assert stored["chain_head"] == app.reports.chain_head_at(inputs.at_position)
    with at("2026-04-02T09:00"):  # the log moves on
        write(
            app,
            LogProgress(percent=5, as_of=date(2026, 4, 1), note="n"),
            ref=EVAL,
            principal=system("c"),
        )
    again = {a.format: a for a in app.reports.generate(inputs, FORMATS)}
    for fmt, digest in stored["sha256"].items():
        assert again[fmt].sha256 == digest
        assert app.reports.artefact(stored["id"], fmt).content == again[fmt].content
    # Another process regenerates the very same bytes.
    other = open_services(app.settings.database_url)
    try:
        [json_again] = other.reports.generate(inputs, ["json"])
    finally:
        other.close()
    assert json_again.sha256 == stored["sha256"]["json"]

    # Each archived artefact checks out by its content, and reproduces by its id.
    chain = verify(app.database)
    with app.database.reading() as connection:
        tree_size, root_hash = tree_head_at(connection, inputs.at_position)
    assert tree_size == inputs.at_position  # positions and leaves go together here
    for fmt in stored["formats"]:
        content = app.reports.artefact(stored["id"], fmt).content
        checked = app.reports.check(content, chain)
        assert checked["verified"] and checked["differences"] == [], (fmt, checked)
        assert checked["archived_as"] == [stored["id"]]
        assert checked["recorded"] == {
            "format": fmt,
            "as_of": "2026-03-31",
            "period_days": 30,
            "log_position": inputs.at_position,
            "chain_head": stored["chain_head"],
            "language": "en",
            "format_version": REPORT_FORMAT_VERSION,
            "tree_size": tree_size,
            "root_hash": root_hash,
        }
        assert app.reports.reproduce(stored["id"], fmt).content == content


def test_a_position_alone_means_the_log_up_to_it_as_of_today(app: Services) -> None:
    """Whatever was archived at that position: one meaning (an archived report is
    reproduced by its id)."""
    scripted(app)
    position = app.reports.head()
    stored = app.reports.archive(ReportInputs(position, AS_OF, 45), ["json"], generated_by="t")
    assert stored is not None
    today = date(2026, 11, 24)
    inputs = app.reports.inputs(at_position=position, as_of=None, period_days=None, today=today)
    assert (inputs.at_position, inputs.as_of, inputs.period_days) == (position, today, 30)
    other = app.reports.inputs(at_position=5, as_of=None, period_days=7, today=today)
    assert (other.at_position, other.as_of, other.period_days) == (5, today, 7)
    latest = app.reports.inputs(at_position=None, as_of=AS_OF, period_days=None, today=today)
    assert (latest.at_position, latest.as_of, latest.period_days) == (position, AS_OF, 30)


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()


def _replaced(lines: list[str], index: int, old: str, new: str) -> bytes:
    return "".join(
        [*lines[:index], lines[index].replace(old, new, 1), *lines[index + 1 :]]
    ).encode()


def _edited(content: bytes, fmt: str, title: str) -> list[tuple[str, bytes, str]]:
    """Edits of a report file (a figure, a name, a row), each with words its check must
    name; `title` is a commitment's title in it."""
    if fmt == "xlsx":
        book = load_workbook(io.BytesIO(content))
        book["Summary"]["B5"] = 99.8
        raw = io.BytesIO()
        book.save(raw)
        return [("a figure", raw.getvalue(), "sheet Summary, cell B5")]
    text = content.decode()
    if fmt == "json":
        figure, renamed, dropped = json.loads(text), json.loads(text), json.loads(text)
        figure["headline"]["progress"]["end"] += 70
        renamed["commitments"][0]["title"] = "Forged"
        del dropped["commitments"][-1]
        french = json.loads(text)
        french["footer"]["language"] = "fr"
        return [
            ("a figure", _json_bytes(figure), "headline.progress.end"),
            ("a name", _json_bytes(renamed), "commitments[0].title"),
            ("a row removed", _json_bytes(dropped), "commitments"),
            ("the language", _json_bytes(french), "title"),  # regenerated in French
        ]
    lines = text.splitlines(keepends=True)
    named = next(i for i, line in enumerate(lines) if title in line)
    renamed = ("a name", _replaced(lines, named, title, "Forged"), f"line {named + 1}")
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        column = rows[0].index("progress")
        rows[1][column] = str(int(rows[1][column] or 0) + 5)
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows[:2])
        figure = out.getvalue().encode() + "".join(lines[2:]).encode()
        # (Its language is not an edit to find: the CSV holds codes, the same in each.)
        return [
            renamed,
            ("a row removed", "".join(lines[:-2] + lines[-1:]).encode(), "missing"),
            ("a figure", figure, "column progress: expected"),
        ]
    headline = next(i for i, line in enumerate(lines) if "%" in line)
    french = text.replace("· language en ·", "· language fr ·").encode()
    klingon = text.replace("· language en ·", "· language tl ·").encode()
    return [
        ("a figure", _replaced(lines, headline, "%", "0%"), f"line {headline + 1}"),
        renamed,
        ("the language", french, "line "),  # regenerated in French: other words
        ("a language it does not write", klingon, "language is 'tl'"),
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_edited_report_fails_its_check_saying_where(app: Services, fmt: str) -> None:
    scripted(app)
    inputs = ReportInputs(app.reports.head(), AS_OF, 30)
    [artefact] = app.reports.generate(inputs, [fmt])
    assert app.reports.check(artefact.content)["verified"]
    title = app.reports.build(inputs)["commitments"][0]["title"]
    for edit, content, where in _edited(artefact.content, fmt, title):
        checked = app.reports.check(content)
        assert not checked["verified"] and not checked["matches_content"], (fmt, edit)
        assert checked["matches_log"], (fmt, edit)  # the footer alone would have passed
        assert any(where in d for d in checked["differences"]), (fmt, edit, checked)


def test_a_report_whose_footer_names_another_chain_head_fails(app: Services) -> None:
    scripted(app)
    [artefact] = app.reports.generate(ReportInputs(app.reports.head(), AS_OF, 30), ["md"])
    head = app.reports.chain_head_at(app.reports.head())
    assert head is not None
    forged = artefact.content.replace(head.encode(), b"0" * 64)
    checked = app.reports.check(forged, verify(app.database))
    assert not checked["verified"] and not checked["matches_log"]
    assert "is not the log's" in checked["problem"]
    with pytest.raises(verification.UnreadableReport):
        app.reports.check(b"# just some markdown\n")


def test_json_nested_too_deep_to_parse_is_an_unreadable_report_not_a_crash(
    app: Services,
) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(verification.UnreadableReport, match="not a progress report"):
        app.reports.check(b'{"footer": ' + deep + b"}")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param({"at_position": -1}, "at_position must be from 0 to 17", id="negative"),
        pytest.param({"at_position": 18}, "at_position must be from 0 to 17", id="past-head"),
        pytest.param({"as_of": date(1999, 12, 31)}, "as_of must be from", id="as-of"),
        pytest.param({"period_days": 0}, "period_days must be from 1 to 366", id="no-days"),
        pytest.param({"period_days": 367}, "period_days must be from 1 to 366", id="too-many"),
    ],
)
def test_report_inputs_are_checked(app: Services, arguments: dict[str, Any], message: str) -> None:
    scripted(app)
    given = {"at_position": None, "as_of": None, "period_days": None} | arguments
    with pytest.raises(InvalidValue, match=message):
        app.reports.inputs(**given, today=AS_OF)


def test_the_archive_lists_newest_first_by_cursor_and_finds_each_report(app: Services) -> None:
    scripted(app)
    made = []
    for day in range(1, 6):
        with at(f"2026-04-0{day}T08:00"):
            stored = app.reports.archive(
                ReportInputs(app.reports.head(), AS_OF, day), ["json", "md"], generated_by="t"
            )
        assert stored is not None
        made.append(stored)
    with at("2026-04-06T08:00"):
        scheduled = app.reports.archive(
            ReportInputs(app.reports.head(), AS_OF, 30),
            ["csv"],
            generated_by="scheduler",
            schedule="weekly",
            scheduled_for=datetime(2026, 4, 6, 8, tzinfo=UTC),
        )
    assert scheduled is not None
    # The same schedule tick is archived once, whoever asks again.
    with at("2026-04-06T08:01"):
        assert (
            app.reports.archive(
                ReportInputs(app.reports.head(), AS_OF, 30),
                ["csv"],
                generated_by="scheduler",
                schedule="weekly",
                scheduled_for=datetime(2026, 4, 6, 8, tzinfo=UTC),
            )
            is None
        )
    assert app.reports.last_scheduled("weekly") == datetime(2026, 4, 6, 8, tzinfo=UTC)
    assert app.reports.last_scheduled("monthly") is None

    listed: list[dict[str, Any]] = []
    cursor = None
    while True:
        page, cursor = app.reports.list(limit=2, cursor=cursor)
        listed.extend(page)
        if cursor is None:
            break
    assert listed == [scheduled, *reversed(made)]
    assert app.reports.list(schedule="weekly") == ([scheduled], None)
    assert app.reports.get(made[2]["id"]) == made[2]
    assert app.reports.artefact(made[2]["id"], "md").content == render(
        app.reports.build(ReportInputs(made[2]["log_position"], AS_OF, 3)), "md"
    )
    with pytest.raises(NotFound, match="no archived report"):
        app.reports.get("nope")
    with pytest.raises(NotFound, match="no archived report"):
        app.reports.artefact("nope", "json")
    with pytest.raises(NotFound, match="not archived as xlsx"):
        app.reports.artefact(made[0]["id"], "xlsx")
    with pytest.raises(InvalidValue, match="cursor"):
        app.reports.list(cursor="nope")


def test_a_difference_on_a_long_line_is_shown_around_where_it_is() -> None:
    line = "<svg>" + "a" * 300 + "{}" + "b" * 300 + "</svg>\n"
    [found] = verification.differences(
        line.format("70").encode(), line.format("75").encode(), "html"
    )
    assert "at character 307" in found
    assert "'..." + "a" * 49 + "70" in found and "a" * 49 + "75" in found


def test_a_footer_is_read_from_the_end_and_csv_rows_must_agree(app: Services) -> None:
    scripted(app)
    inputs = ReportInputs(app.reports.head(), AS_OF, 30)
    [md] = app.reports.generate(inputs, ["md"])
    [csv_file] = app.reports.generate(inputs, ["csv"])
    decoy = (
        "As of 2001-01-01 · period 1 days · log position 1 · chain head None · "
        "commitments-tracker progress report v2\n"
    )
    recorded = verification.read_recorded(decoy.encode() + md.content)
    assert (recorded.as_of, recorded.log_position) == (AS_OF, inputs.at_position)
    # The CSV's inputs are its last line: a footer typed into a cell does not count.
    lines = csv_file.content.decode().splitlines(keepends=True)
    forged = [lines[0], '"# ' + decoy.strip() + '",x\n', *lines[1:]]
    recorded = verification.read_recorded("".join(forged).encode())
    assert (recorded.as_of, recorded.log_position) == (AS_OF, inputs.at_position)
    with pytest.raises(verification.UnreadableReport, match="not a report footer"):
        verification.read_recorded("".join([*lines[:-1], "# As of yesterday\n"]).encode())
