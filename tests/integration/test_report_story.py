"""Report format 4 tells the period's story: every change of the month in every format,
traceable to its event; a workbook an analyst can filter; a CSV with the fields an analyst
expects; the same report in English, French and Spanish, each reproducing byte for byte.
Figures worked out by hand from report_history.month_of_work and `more_of_the_story`."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from adapters.bootstrap import Services
from adapters.reports.data import ReportInputs
from adapters.reports.render import render
from domain.access import system
from domain.commands import (
    AddMilestone,
    ChangeStatus,
    Command,
    CompleteMilestone,
    LogProgress,
    RateHealth,
)
from domain.vocabulary import Health, Status
from tests.conftest import open_services
from tests.integration.report_history import AS_OF, CYBER, EVAL, RAIL, at, month_of_work
from tests.support import write

FORMATS = ["json", "csv", "md", "html", "xlsx"]


def more_of_the_story(services: Services) -> None:
    a = system("a")

    def by(ref: str, command: Command) -> None:
        write(services, command, ref=ref, principal=a)

    with at("2026-03-30T09:00"):
        by(RAIL, AddMilestone(title="Survey", due_date=date(2026, 3, 1)))
        by(RAIL, CompleteMilestone(milestone_id="m2", completed_on=date(2026, 3, 12), note="late"))
        by(RAIL, RateHealth(rating=Health.AMBER, rationale="moving", as_of=date(2026, 3, 28)))
        by(RAIL, RateHealth(rating=Health.AMBER, rationale="same again", as_of=date(2026, 3, 29)))
        by(EVAL, LogProgress(percent=60, as_of=date(2026, 3, 14), note="most of it"))
        by(EVAL, ChangeStatus(status=Status.COMPLETED, reason="enough", partial=True,
                              as_of=date(2026, 3, 30)))  # fmt: skip


@pytest.fixture
def app(sqlite_url: str) -> Iterator[Services]:
    built = open_services(sqlite_url)
    month_of_work(built)
    more_of_the_story(built)
    yield built
    built.close()


@pytest.fixture
def report(app: Services) -> dict[str, Any]:
    return app.reports.build(ReportInputs(app.reports.head(), AS_OF, 30))


def _story(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(c["date"], c["code"], c["kind"], c["from"], c["to"]) for c in report["changes"]]


def test_the_changes_of_the_period_are_its_story(report: dict[str, Any]) -> None:
    assert _story(report) == [
        ("2026-03-05", CYBER, "progress", None, 50),
        ("2026-03-09", EVAL, "evidence", None, None),
        ("2026-03-10", EVAL, "milestone_completed", None, None),
        ("2026-03-10", RAIL, "progress", 20, 40),
        ("2026-03-12", RAIL, "milestone_completed", None, None),
        ("2026-03-14", EVAL, "progress", None, 60),
        ("2026-03-14", EVAL, "status", "not_started", "in_progress"),
        ("2026-03-20", RAIL, "health", "amber", "red"),
        ("2026-03-20", RAIL, "risk_new", "amber", "red"),
        ("2026-03-24", RAIL, "health", "red", "amber_red"),
        ("2026-03-24", CYBER, "progress", 50, 60),
        ("2026-03-24", CYBER, "evidence", None, None),
        ("2026-03-28", RAIL, "health", "amber_red", "amber"),
        ("2026-03-28", RAIL, "risk_resolved", "amber_red", "amber"),
        ("2026-03-30", EVAL, "status", "in_progress", "completed"),
    ]
    # Not changes: CYBER's green re-rated green (5 March), RAIL's amber re-rated amber (29th).
    assert not [c for c in report["changes"] if c["from"] == c["to"] and c["from"] is not None]
    by_kind = {(c["code"], c["kind"], c["date"]): c for c in report["changes"]}
    on_time = by_kind[(EVAL, "milestone_completed", "2026-03-10")]
    assert (on_time["milestone"], on_time["due_date"], on_time["on_time"]) == (
        "Joint review", "2026-06-15", True,
    )  # fmt: skip
    late = by_kind[(RAIL, "milestone_completed", "2026-03-12")]
    assert (late["milestone"], late["due_date"], late["completed_on"]) == (
        "Survey", "2026-03-01", "2026-03-12",
    )  # fmt: skip
    assert (late["on_time"], late["days_late"], late["note"]) == (False, 11, "late")
    evidence = by_kind[(EVAL, "evidence", "2026-03-09")]
    assert (evidence["url"], evidence["note"], evidence["publisher"]) == (
        "https://example.org/minutes", "Minutes of the first meeting", "SRE",
    )  # fmt: skip
    closed = by_kind[(EVAL, "status", "2026-03-30")]
    assert (closed["partial"], closed["note"]) == (True, "enough")


def test_each_change_names_its_event(app: Services, report: dict[str, Any]) -> None:
    with app.database.reading() as connection:
        from sqlalchemy import select

        from adapters.tables import events

        rows = {
            r.id: (r.originator_version, r.topic)
            for r in connection.execute(
                select(events.c.id, events.c.originator_version, events.c.topic)
            )
        }
    topics = {
        "progress": "ProgressLogged", "status": "StatusChanged", "health": "HealthRated",
        "risk_new": "HealthRated", "risk_resolved": "HealthRated",
        "milestone_completed": "MilestoneCompleted",
    }  # fmt: skip
    for change in report["changes"]:
        version, topic = rows[change["position"]]
        assert version == change["version"], change
        expected = topics.get(change["kind"])
        if expected is None:  # evidence comes with progress or on its own
            assert topic.endswith(("ProgressLogged", "EvidenceAttached")), change
        else:
            assert topic.endswith(expected), change


def test_a_full_completion_counts_100_and_a_partial_one_its_figure(
    app: Services, report: dict[str, Any]
) -> None:
    rows = {c["code"]: c for c in report["commitments"]}
    assert (rows[EVAL]["status"], rows[EVAL]["completion_partial"]) == ("completed", True)
    assert (rows[EVAL]["progress"], rows[EVAL]["counted_progress"]) == (60, 60)
    # RAIL 40, CYBER 60, EVAL 60 (partial): 53.3.
    assert report["headline"]["progress"]["end"] == 53.3
    markdown = render(report, "md").decode()
    assert f"| {EVAL} | Title of {EVAL} | Governance | Completed (partial, 60%) |" in markdown
    with at("2026-03-31T09:00"):
        for status, reason in ((Status.IN_PROGRESS, "reopened"), (Status.COMPLETED, "all")):
            change = ChangeStatus(status=status, reason=reason, as_of=date(2026, 3, 31))
            write(app, change, ref=EVAL, principal=system("a"))
    full = app.reports.build(ReportInputs(app.reports.head(), AS_OF, 30))
    row = next(c for c in full["commitments"] if c["code"] == EVAL)
    assert (row["progress"], row["counted_progress"], row["completion_partial"]) == (60, 100, False)
    assert full["headline"]["progress"]["end"] == round((40 + 60 + 100) / 3, 1)
    assert full["trend"][-1]["progress"] == full["headline"]["progress"]["end"]


def test_the_story_in_markdown_and_html(report: dict[str, Any]) -> None:
    markdown = render(report, "md").decode()
    late = next(c for c in report["changes"] if c["kind"] == "milestone_completed" and
                not c["on_time"])  # fmt: skip
    assert "### Milestones completed" in markdown
    assert (
        f"- 2026-03-12 **{RAIL}** Survey: completed 11 days late (due 2026-03-01): late "
        f"(event {late['position']})"
    ) in markdown
    assert f"- 2026-03-10 **{RAIL}** 20% → **40%**: Mar (event " in markdown
    assert "### New evidence" in markdown and "[Exercise report](https://example.org/exercise)" in (
        markdown
    )
    assert "### Risks resolved" in markdown and "### New risks" in markdown
    assert f"**{RAIL}** Amber-red → **Amber**: moving" in markdown
    assert "Green → **Green**" not in markdown and "same again" not in markdown
    html = render(report, "html").decode()
    assert "completed 11 days late (due 2026-03-01)" in html
    assert "<h3>Progress updates</h3>" in html and "<h3>Risks resolved</h3>" in html


def test_the_workbook_an_analyst_can_filter(report: dict[str, Any]) -> None:
    book = load_workbook(io.BytesIO(render(report, "xlsx")))
    assert book.sheetnames == [
        "Summary", "Commitments", "Changes", "Milestones", "Risks", "Indicators",
        "Pending closures",
    ]  # fmt: skip
    for name in book.sheetnames[1:]:
        sheet = book[name]
        assert sheet.freeze_panes == "A2", name
        last = get_column_letter(sheet.max_column)
        assert sheet.auto_filter.ref == f"A1:{last}{sheet.max_row}", name
        headers = [str(c.value) for c in sheet[1]]
        assert all("_" not in h and h[0].isupper() for h in headers), (name, headers)
        letters = [get_column_letter(i + 1) for i in range(len(headers))]
        assert all(sheet.column_dimensions[c].width >= 8 for c in letters), name
    # Every milestone (5 here), with real dates.
    milestones = book["Milestones"]
    assert milestones.max_row - 1 == sum(c["milestones_total"] for c in report["commitments"]) == 5
    survey = next(r for r in milestones.iter_rows(min_row=2) if r[1].value == "Survey")
    assert survey[2].value == datetime(2026, 3, 1) and survey[2].number_format == "yyyy-mm-dd"
    assert (survey[4].value, survey[5].value, survey[6].value, survey[7].value) == (
        "Completed", datetime(2026, 3, 12), False, 11,
    )  # fmt: skip
    commitments = book["Commitments"]
    headers = [str(c.value) for c in commitments[1]]
    rail = next(r for r in commitments.iter_rows(min_row=2) if r[0].value == RAIL)
    cell = dict(zip(headers, rail, strict=True))
    assert cell["Start date"].value == datetime(2025, 9, 18)
    assert cell["Start date"].number_format == "yyyy-mm-dd"
    assert cell["Last update (UTC)"].value == datetime(2026, 3, 30, 9, 0)
    assert cell["Overdue"].value is False and cell["Status"].value == "In progress"
    changes = book["Changes"]
    assert changes.max_row - 1 == len(report["changes"])
    first = [c.value for c in changes[2]]
    assert first[:6] == [datetime(2026, 3, 5), "Progress update", CYBER, f"Title of {CYBER}",
                         None, 50]  # fmt: skip
    risks = [[c.value for c in r] for r in book["Risks"].iter_rows(min_row=2)]
    assert risks == []  # RAIL is back to amber by the 31st
    summary = {r[0]: r[1] for r in book["Summary"].iter_rows(values_only=True) if r and r[0]}
    assert summary["As of"] == datetime(2026, 3, 31) and summary["Format version"] == 4


def test_the_csv_an_analyst_reads(report: dict[str, Any]) -> None:
    text = render(report, "csv").decode()
    *table, footer = text.splitlines()
    rows = {r["code"]: r for r in csv.DictReader(table)}
    rail = rows[RAIL]
    assert (rail["start_date"], rail["sectors"], rail["agencies"]) == (
        "2025-09-18", "railways", "CA: Transport Canada; MX: SICT",
    )  # fmt: skip
    assert (rail["latest_note"], rail["last_update"]) == ("Mar", "2026-03-30T09:00:00+00:00")
    assert (rail["overdue"], rows[CYBER]["next_milestone_missed"]) == ("false", "true")
    assert (rows[EVAL]["completion_partial"], rows[EVAL]["counted_progress"]) == ("true", "60")
    assert "False" not in text and "True" not in text
    # The provenance once, as the last line; no row repeats the chain head.
    head = report["footer"]["chain_head"]
    assert text.count(head) == 1 and footer.startswith("# As of 2026-03-31 ·")
    assert "chain_head" not in table[0]
    # A cell that looks like a formula stays text.
    assert rows[CYBER]["latest_note"] == "exercise held"


@pytest.mark.parametrize("language", ["fr", "es"])
def test_a_report_in_french_or_spanish_is_another_report_that_reproduces(
    app: Services, language: str
) -> None:
    inputs = ReportInputs(app.reports.head(), AS_OF, 30, language)
    stored = app.reports.archive(inputs, FORMATS, generated_by="t")
    assert stored is not None and stored["language"] == language
    english = {a.format: a for a in app.reports.generate(ReportInputs(inputs.at_position, AS_OF),
                                                         FORMATS)}  # fmt: skip
    words = {"fr": ("Changements de la période", "Jalons atteints", "Résumé"),
             "es": ("Cambios en el periodo", "Hitos cumplidos", "Resumen")}[language]  # fmt: skip
    for fmt in FORMATS:
        artefact = app.reports.artefact(stored["id"], fmt)
        assert app.reports.reproduce(stored["id"], fmt).content == artefact.content
        checked = app.reports.check(artefact.content)
        assert checked["verified"] and checked["recorded"]["language"] == language, checked
        if fmt != "csv":  # the CSV holds codes: only its footer says the language
            assert artefact.content != english[fmt].content, fmt
    markdown = app.reports.artefact(stored["id"], "md").content.decode()
    assert f"## {words[0]}" in markdown and f"### {words[1]}" in markdown
    assert f"· language {language} · commitments-tracker progress report v4" in markdown
    # Figures as Canada writes them in French, and Mexico in Spanish.
    assert {"fr": "53,3\u00a0%", "es": "53.3%"}[language] in markdown
    html = app.reports.artefact(stored["id"], "html").content.decode()
    assert f'<html lang="{language}">' in html and words[0] in html
    book = load_workbook(io.BytesIO(app.reports.artefact(stored["id"], "xlsx").content))
    assert book.sheetnames[0] == words[2]
    data = json.loads(app.reports.artefact(stored["id"], "json").content)
    assert data["footer"]["language"] == language and data["title"] != english_title()


def english_title() -> str:
    return "Canada-Mexico Action Plan 2025-2028: progress report"


def test_the_seeded_plan_lists_every_milestone(seeded_url: str) -> None:
    """The Action Plan's seeds and sample history: every milestone in the workbook, not
    only the overdue and the soon due (format 3 listed 4 of them)."""
    services = open_services(seeded_url)
    try:
        report = services.reports.build(ReportInputs(services.reports.head(), date(2026, 11, 27)))
    finally:
        services.close()
    total = sum(c["milestones_total"] for c in report["commitments"])
    open_soon = len(report["milestones"]["overdue"]) + len(report["milestones"]["due_next_90_days"])
    assert total == len(report["milestones_all"]) == 19 > open_soon
    book = load_workbook(io.BytesIO(render(report, "xlsx")))
    assert book["Milestones"].max_row - 1 == total
    states = {r[4] for r in book["Milestones"].iter_rows(min_row=2, values_only=True)}
    assert states <= {"Planned", "Completed", "Missed"} and "Missed" in states


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_offline_verifier_reads_a_french_report(app: Services, fmt: str) -> None:
    """The verifier that needs no database (domain/offline_verifier.py) finds the footer of
    format 4 in every format and language: the CSV's last line, the first sheet."""
    from domain.offline_verifier import read_report_head

    inputs = ReportInputs(app.reports.head(), AS_OF, 30, "fr")
    [artefact] = app.reports.generate(inputs, [fmt])
    head = read_report_head(artefact.content)
    assert (head.log_position, head.chain_head) == (
        inputs.at_position,
        app.reports.chain_head_at(inputs.at_position),
    )
    assert head.tree_size == inputs.at_position


def test_a_french_report_reads_the_commitments_translated_text(app: Services) -> None:
    """Titles, milestones and indicators in the report's language where translated; the
    original, marked, where not."""
    from domain.commands import TranslateText

    with at("2026-03-30T10:00"):
        write(
            app,
            TranslateText(language="fr", title="Titre du rail", milestones={"m2": "Relevé"}),
            ref=RAIL,
            principal=system("a"),
        )
    report = app.reports.build(ReportInputs(app.reports.head(), AS_OF, 30, "fr"))
    rows = {c["code"]: c for c in report["commitments"]}
    assert (rows[RAIL]["title"], rows[RAIL]["untranslated"]) == ("Titre du rail", ["milestones.m1"])
    assert (rows[CYBER]["title"], rows[CYBER]["untranslated"]) == (
        f"Title of {CYBER}", ["indicators.i1", "milestones.m1", "title"],
    )  # fmt: skip
    late = next(c for c in report["changes"] if c["kind"] == "milestone_completed" and
                c["code"] == RAIL)  # fmt: skip
    assert (late["title"], late["milestone"]) == ("Titre du rail", "Relevé")
    markdown = render(report, "md").decode()
    assert f"| {RAIL} | Titre du rail | " in markdown
    assert f"| {CYBER} | Title of {CYBER} (EN) | " in markdown
    english = app.reports.build(ReportInputs(app.reports.head(), AS_OF, 30))
    assert next(c for c in english["commitments"] if c["code"] == RAIL)["untranslated"] == []
    assert next(c["title"] for c in english["commitments"] if c["code"] == RAIL) == (
        f"Title of {RAIL}"
    )


def test_every_format_marks_each_text_that_reads_in_english(app: Services) -> None:
    """A Spanish report marks every untranslated title, milestone and indicator "(EN)"
    wherever it shows it (Markdown, HTML, XLSX, CSV, the timeline chart), and nothing else."""
    from domain.commands import TranslateText

    with at("2026-03-30T10:00"):
        write(
            app,
            TranslateText(language="es", title="Título del tren", milestones={"m2": "Estudio"}),
            ref=RAIL,
            principal=system("a"),
        )
    report = app.reports.build(ReportInputs(app.reports.head(), AS_OF, 30, "es"))
    [overdue] = report["milestones"]["overdue"]
    [indicator] = report["indicators"]
    assert (overdue["code"], overdue["untranslated"]) == (CYBER, ["milestone"])
    assert (indicator["code"], indicator["untranslated"]) == (CYBER, ["indicator"])
    english_texts = [f"Title of {CYBER}", overdue["milestone"], indicator["indicator"]]

    markdown = render(report, "md").decode()
    assert f"{CYBER}: {overdue['milestone']} (EN) (" in markdown
    assert f"| {CYBER} | {indicator['indicator']} (EN) |" in markdown
    assert "Título del tren (EN)" not in markdown and "Estudio (EN)" not in markdown
    assert "Estudio" in markdown

    html = render(report, "html").decode()
    for text in english_texts:
        assert f'<span lang="en">{text}</span> <span class="ev">(EN)</span>' in html
    assert f"<td>{overdue['milestone']}</td>" not in html
    assert f"<td>{indicator['indicator']}</td>" not in html
    assert '<span lang="en">Título del tren</span>' not in html
    assert f"{CYBER}: {overdue['milestone']} (EN)" in html  # the timeline's label

    book = load_workbook(io.BytesIO(render(report, "xlsx")))
    cells = {
        str(cell)
        for sheet in book.worksheets
        for row in sheet.iter_rows(min_row=2, values_only=True)
        for cell in row
        if cell is not None
    }
    assert {f"{text} (EN)" for text in english_texts} <= cells
    assert not set(english_texts) & cells
    assert "Título del tren" in cells and "Título del tren (EN)" not in cells

    rows = {r["code"]: r for r in csv.DictReader(io.StringIO(render(report, "csv").decode()))
            if not r["code"].startswith("#")}  # fmt: skip
    assert (rows[CYBER]["title"], rows[RAIL]["title"]) == (
        f"Title of {CYBER} (EN)", "Título del tren",
    )  # fmt: skip

    english = app.reports.build(ReportInputs(app.reports.head(), AS_OF, 30))
    assert all(b"(EN)" not in render(english, fmt) for fmt in ("md", "html", "csv"))


def test_report_words_in_french_and_spanish(app: Services) -> None:
    """The workbook's Changes sheet names the kind of change; Spanish says "semáforo" for
    health, and "estado" for status only; French puts a no-break space
    before its colons and semicolons, the report's own as well as its messages'."""
    import re

    def build(language: str) -> dict[str, Any]:
        return app.reports.build(ReportInputs(app.reports.head(), AS_OF, 30, language))

    french, spanish = build("fr"), build("es")
    headers = {
        language: {
            sheet.title: [c.value for c in sheet[1]]
            for sheet in load_workbook(io.BytesIO(render(report, "xlsx"))).worksheets[1:]
        }
        for language, report in (("fr", french), ("es", spanish))
    }
    assert headers["fr"]["Changements"][1] == "Type de changement"
    assert headers["es"]["Cambios"][1] == "Tipo de cambio"
    assert {"Semáforo", "Justificación del semáforo"} <= set(headers["es"]["Compromisos"])
    assert "Semáforo" in headers["es"]["Riesgos"]
    markdown = render(spanish, "md").decode()
    assert "Semáforo:" in markdown and "### Cambios de semáforo" in markdown
    # Status is "estado", never health's word.
    assert "### Cambios de estado" in markdown and "Estado de salud" not in markdown

    typed_texts = sorted(
        {c["note"] for c in french["changes"] if c["note"]}
        | {k["rationale"] for k in french["risks"] if k["rationale"]},
        key=len,
        reverse=True,
    )
    for fmt in ("md", "html"):
        text = render(french, fmt).decode()
        if fmt == "html":
            text = re.sub(r"<style>.*?</style>|<svg.*?</svg>|<[^>]+>", " ", text, flags=re.S)
        text = re.sub(r"https?://\S+", "", text)
        for typed in typed_texts:  # people's words keep their own punctuation
            text = text.replace(typed, "")
        loose = re.findall(r".{0,30}(?<!\u00a0)[:;?!](?=\s).{0,10}", text)
        assert loose == [], fmt
        assert re.search(r"\d %", text) is None  # 40,0 % with a no-break space
    assert "CMAP-SEC-CYBER\u00a0: Plan" in render(french, "md").decode()


def test_a_text_written_in_spanish_is_marked_es_in_an_english_report(app: Services) -> None:
    """A Spanish title reads as it is in a Spanish report; an English report shows it
    marked with its own language, "(ES)", in every format."""
    from domain.commands import ReviseDetails

    title = "Corredores ferroviarios"
    with at("2026-03-30T10:00"):
        write(
            app,
            ReviseDetails(title=title, reason="Título en español", language="es"),
            ref=RAIL,
            principal=system("a"),
        )
    english = app.reports.build(ReportInputs(app.reports.head(), AS_OF, 30))
    row = next(c for c in english["commitments"] if c["code"] == RAIL)
    assert (row["title"], row["untranslated"], row["original_language"]) == (
        title, ["title"], {"title": "es"},
    )  # fmt: skip
    # English texts in an English report carry no marks, as before.
    assert all("original_language" not in c for c in english["commitments"] if c["code"] != RAIL)
    assert f"| {RAIL} | {title} (ES) | " in render(english, "md").decode()
    html = render(english, "html").decode()
    assert f'<span lang="es">{title}</span> <span class="ev">(ES)</span>' in html
    assert f"{title} (EN)" not in html
    rows = {r["code"]: r for r in csv.DictReader(io.StringIO(render(english, "csv").decode()))
            if not r["code"].startswith("#")}  # fmt: skip
    assert rows[RAIL]["title"] == f"{title} (ES)"
    spanish = app.reports.build(ReportInputs(app.reports.head(), AS_OF, 30, "es"))
    row = next(c for c in spanish["commitments"] if c["code"] == RAIL)
    assert (row["title"], row["untranslated"]) == (title, ["milestones.m1", "milestones.m2"])
    assert f"{title} (ES)" not in render(spanish, "md").decode()
