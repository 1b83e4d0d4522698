"""The report in each format, rendered from its data dict: JSON is the source."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup, escape

from adapters.i18n import N_, add_translations, label, translator
from adapters.reports.numbers import colon, percent, semicolon, signed

MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
EXTENSIONS = {"json": "json", "csv": "csv", "md": "md", "html": "html", "xlsx": "xlsx"}

# The CSV is one row per commitment with machine names and codes (a data file: snake_case
# headers, codes, ISO dates, true/false); the report's provenance is its last line, a
# comment starting with "# " (FOOTER_PREFIX) that holds the same footer as the Markdown and
# HTML formats, so it is not repeated on every row.
CSV_COLUMNS = [
    "code", "title", "pillar", "lead_party", "parties", "sectors", "agencies", "start_date",
    "target_date", "status", "status_as_of", "completion_partial", "status_at_start", "health",
    "health_as_of", "health_rationale", "progress", "counted_progress", "progress_at_start",
    "progress_as_of", "confidence", "latest_note", "last_update", "overdue", "milestones_total",
    "milestones_completed", "milestones_missed", "next_milestone", "next_milestone_due",
    "next_milestone_missed", "evidence_total", "version",
]  # fmt: skip
FOOTER_PREFIX = "# "

# The words for each kind of change (data.CHANGE_KINDS), as section titles.
CHANGE_TITLES = {
    "milestone_completed": N_("Milestones completed"),
    "progress": N_("Progress updates"),
    "evidence": N_("New evidence"),
    "status": N_("Status changes"),
    "health": N_("Health changes"),
    "risk_new": N_("New risks"),
    "risk_resolved": N_("Risks resolved"),
}
CHANGE_LABELS = {
    "milestone_completed": N_("Milestone completed"),
    "progress": N_("Progress update"),
    "evidence": N_("New evidence"),
    "status": N_("Status change"),
    "health": N_("Health change"),
    "risk_new": N_("New risk"),
    "risk_resolved": N_("Risk resolved"),
}


def english(item: dict[str, Any], field: str) -> bool:
    """Whether `item[field]` reads in the original for want of a translation (the item's
    `untranslated` names such fields; a commitment's names paths, its title's is "title")."""
    return field in (item.get("untranslated") or ())


def original_language(item: dict[str, Any], field: str) -> str:
    """The language an untranslated `item[field]` is written in (English unless the item's
    `original_language` says otherwise; adapters/reports/data.py `_Row.marks`)."""
    return str((item.get("original_language") or {}).get(field, "en"))


def untranslated_mark(item: dict[str, Any], field: str) -> str:
    """What follows a text that reads in its original language for want of a translation:
    that language's code, " (EN)", " (ES)" or " (FR)"; "" for a text in the report's."""
    return f" ({original_language(item, field).upper()})" if english(item, field) else ""


def marked(item: dict[str, Any], field: str) -> Any:
    """`item[field]`, followed by "(EN)" ("(ES)", "(FR)") when it reads in its original
    language for want of a translation: the words of the XLSX and CSV cells (the templates
    mark it their own way)."""
    value = item.get(field)
    return f"{value}{untranslated_mark(item, field)}" if value is not None else value


def _markdown_marked(item: dict[str, Any], field: str) -> str:
    return MarkdownSafe(markdown_text(marked(item, field)))


def _html_marked(item: dict[str, Any], field: str) -> Markup:
    value = item.get(field)
    if value is None:
        return Markup("")
    if english(item, field):
        language = original_language(item, field)
        return Markup('<span lang="{}">{}</span> <span class="ev">({})</span>').format(
            language, value, language.upper()
        )
    # What Markup("{}").format(value) gives (the value escaped), without a formatter per
    # call: the report's table calls this for each of its rows.
    return escape(value)


def footer_line(footer: dict[str, Any]) -> str:
    """The report's provenance in one line, the same words in every language: verifiers
    (verification.py, domain/offline_verifier.py) read it back."""
    return (
        f"As of {footer['as_of']} · period {footer['period_days']} days · log position "
        f"{footer['log_position']} · chain head {footer['chain_head']} · tree size "
        f"{footer['tree_size']} · tree root {footer['root_hash']} · language "
        f"{footer['language']} · {footer['generator']}"
    )


class MarkdownSafe(str):
    """Markdown the template means (a link to a checked URL): `finalize` leaves it as is."""


# Text people typed, made inert in Markdown (CommonMark/GFM): HTML as entities, and the
# characters that make links, images, emphasis, code or table cells backslash-escaped.
# `_` only at word edges (intraword `_` is plain text) so slugs like in_progress stay.
# Line breaks become spaces, so no typed text can start a block (heading, list, HTML).
_MD_SPECIAL = re.compile(r"[\\`*\[\]|~@]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_AUTOLINK = re.compile(r"(?i)(?<=[a-z0-9])(:)(?=//)|(?<![a-z0-9])(www)(\.)")


def markdown_text(value: Any) -> str:
    """Any value as Markdown that renders as exactly that text, and never as a link."""
    text = "" if value is None else str(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = re.sub(r"\r\n|\r|\n", " ", text)
    text = _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text)
    # Raw URLs (GFM extended autolinks): http://x and www.x stay text.
    return _AUTOLINK.sub(lambda m: "\\:" if m.group(1) else m.group(2) + "\\.", text)


def _finalize(value: Any) -> Any:
    return value if isinstance(value, MarkdownSafe) else markdown_text(value)


# RFC 3986 characters that cannot end or break a Markdown link; the rest is percent-encoded.
_URL_SAFE = "/:?#=&%+,;$!*'@~._-"


def markdown_link(text: Any, url: Any) -> str:
    """A link people meant (evidence, a source): http(s) only; otherwise the text alone.
    The URL is percent-encoded where Markdown would end or break the destination."""
    label = markdown_text(text)
    target = "" if url is None else str(url)
    if not re.match(r"(?i)https?://", target):
        return MarkdownSafe(label)
    return MarkdownSafe(f"[{label}]({quote(target, safe=_URL_SAFE)})")


def markdown_autolink(url: Any) -> str:
    target = "" if url is None else str(url)
    if not re.match(r"(?i)https?://", target):
        return MarkdownSafe(markdown_text(target))
    return MarkdownSafe(f"<{quote(target, safe=_URL_SAFE)}>")


@cache
def _templates(kind: str, language: str) -> Environment:
    """The HTML or Markdown templates, speaking `language` (`_()`, the `label` filter)."""
    if kind == "html":
        environment = Environment(
            loader=FileSystemLoader(Path(__file__).parent / "templates"),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
    else:
        # Markdown is not HTML: every value is made inert by `finalize` instead (secure by
        # default: a field added later is escaped too); links go through `link`/`autolink`.
        environment = Environment(
            loader=FileSystemLoader(Path(__file__).parent / "templates"),
            autoescape=False,
            finalize=_finalize,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        environment.filters["link"] = markdown_link
        environment.filters["autolink"] = markdown_autolink
    environment.globals["en"] = _html_marked if kind == "html" else _markdown_marked
    environment.globals["marked"] = marked  # plain text, for a message's placeholder
    environment.globals["COLON"] = colon(language)
    environment.globals["SEMICOLON"] = semicolon(language)
    add_translations(environment, language)
    environment.filters["percent"] = lambda value: percent(value, language)
    environment.filters["signed"] = lambda value: signed(value, language)
    environment.globals["footer_line"] = footer_line
    environment.globals["CHANGE_TITLES"] = CHANGE_TITLES
    return environment


# Spreadsheet programs run cells starting with these as formulas (CSV/formula injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class SerializerChanged(RuntimeError):
    """openpyxl writes XML with lxml in this process: its workbooks would not be the bytes
    archived (adapters/__init__.py must be imported before openpyxl)."""


def _check_workbook_writer() -> None:
    from openpyxl import xml

    if xml.LXML:
        raise SerializerChanged(
            "openpyxl was imported with lxml before the adapters package set "
            "OPENPYXL_LXML=False: its workbooks would not reproduce; import adapters first"
        )


def render(report: dict[str, Any], fmt: str) -> bytes:
    """The report in `fmt`, by the renderers of the format version its data records."""
    if fmt == "xlsx":
        _check_workbook_writer()
    if report.get("format_version") == 3:
        from adapters.reports.v3 import render as v3

        if fmt != "html":
            return v3.render(report, fmt)
        # Its charts change matplotlib's settings too: one chart at a time (charts.py),
        # held here since the format's code is kept verbatim.
        from adapters.reports.charts import DRAWING

        with DRAWING:
            return v3.render(report, fmt)
    renderers = {
        "json": to_json,
        "csv": to_csv,
        "md": to_markdown,
        "html": to_html,
        "xlsx": to_xlsx,
    }
    return renderers[fmt](report)


def to_json(report: dict[str, Any]) -> bytes:
    return (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _csv_value(value: Any) -> Any:
    """true/false for booleans (not Python's True/False); text made inert."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _inert(value)


def _agencies_text(agencies: dict[str, list[str]]) -> str:
    return "; ".join(f"{party}: {', '.join(names)}" for party, names in agencies.items())


def _csv_row(item: dict[str, Any]) -> dict[str, Any]:
    upcoming = item["next_milestone"]
    row = {k: item.get(k) for k in CSV_COLUMNS}
    row["parties"] = " ".join(item["parties"])
    row["sectors"] = " ".join(item["sectors"])
    row["agencies"] = _agencies_text(item["agencies"])
    row["title"] = marked(item, "title")
    row["next_milestone"] = marked(upcoming, "title") if upcoming else None
    row["next_milestone_due"] = upcoming["due_date"] if upcoming else None
    row["next_milestone_missed"] = upcoming["missed"] if upcoming else None
    return {k: _csv_value(v) for k, v in row.items()}


def to_csv(report: dict[str, Any]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for item in report["commitments"]:
        writer.writerow(_csv_row(item))
    buffer.write(FOOTER_PREFIX + footer_line(report["footer"]) + "\n")
    return buffer.getvalue().encode("utf-8")


def _language(report: dict[str, Any]) -> str:
    return str(report["footer"]["language"])


def to_markdown(report: dict[str, Any]) -> bytes:
    template = _templates("md", _language(report)).get_template("report.md.j2")
    return template.render(r=report).encode("utf-8")


def to_html(report: dict[str, Any]) -> bytes:
    from adapters.reports.charts import all_charts  # matplotlib: slow to import, so here

    language = _language(report)
    charts = {title: Markup(svg) for title, svg in all_charts(report, language).items()}
    template = _templates("html", language).get_template("report.html.j2")
    return template.render(r=report, charts=charts).encode("utf-8")


# ---- XLSX ---------------------------------------------------------------------------------

DATE_FORMAT = "yyyy-mm-dd"
TIME_FORMAT = "yyyy-mm-dd hh:mm"
# Inputs on the Summary sheet, under these names in every language: verifiers read them.
INPUT_NAMES = (
    "As of", "Period (days)", "Log position", "Chain head", "Tree size", "Tree root",
    "Language", "Format version",
)  # fmt: skip


def _day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _moment(value: str | None) -> datetime | None:
    """A recorded time as a spreadsheet date-time: UTC, without the offset (Excel has none)."""
    if value is None:
        return None
    return datetime.fromisoformat(value).astimezone(UTC).replace(tzinfo=None)


class _Sheets:
    """Writes the workbook's tables: human headers (bold, frozen, filtered), real dates
    and times with a number format, booleans as booleans, widths from the content."""

    def __init__(self, workbook: Any, language: str) -> None:
        from openpyxl.styles import Font

        self.workbook = workbook
        self.language = language
        self._ = translator(language).gettext
        self.bold = Font(bold=True)

    def label(self, code: str | None) -> str:
        return label(code, self.language)

    def table(self, title: str, headers: list[str], rows: list[list[Any]]) -> Any:
        sheet = self.workbook.create_sheet(self._(title))
        sheet.append([self._(h) for h in headers])
        for cell in sheet[1]:
            cell.font = self.bold
        for row in rows:
            sheet.append([_inert(v) for v in row])
        self.finish(sheet, first_row=1)
        return sheet

    def finish(self, sheet: Any, *, first_row: int) -> None:
        """Frozen header row, a filter over the table, date formats and column widths."""
        from openpyxl.utils import get_column_letter

        last = get_column_letter(max(sheet.max_column, 1))
        sheet.auto_filter.ref = f"A{first_row}:{last}{max(sheet.max_row, first_row)}"
        sheet.freeze_panes = f"A{first_row + 1}"
        widths: dict[int, int] = {}
        for row in sheet.iter_rows(min_row=first_row):
            for cell in row:
                value = cell.value
                if isinstance(value, datetime):
                    cell.number_format = TIME_FORMAT
                    size = 16
                elif isinstance(value, date):
                    cell.number_format = DATE_FORMAT
                    size = 10
                else:
                    size = len(str(value)) if value is not None else 0
                widths[cell.column] = max(widths.get(cell.column, 0), size)
        for column, size in widths.items():
            sheet.column_dimensions[get_column_letter(column)].width = min(max(size + 2, 8), 60)


def to_xlsx(report: dict[str, Any]) -> bytes:
    from openpyxl import Workbook  # slow to import: only where it is used
    from openpyxl.styles import Font

    language = _language(report)
    _ = translator(language).gettext
    workbook = Workbook()
    sheets = _Sheets(workbook, language)
    summary = workbook.active
    assert summary is not None
    summary.title = _("Summary")
    head = report["headline"]
    footer = report["footer"]
    summary.append([report["title"]])
    summary["A1"].font = Font(bold=True, size=14)
    for name, value in [
        (_("Period start"), _day(report["period"]["start"])),
        (_("Period end"), _day(report["period"]["end"])),
        (_("Commitments"), head["commitments"]),
        (_("Weighted progress (%)"), head["progress"]["end"]),
        (_("Change over the period (points)"), head["progress"]["change"]),
        (_("At risk (amber-red, red)"), len(report["risks"])),
        (_("Milestones overdue"), len(report["milestones"]["overdue"])),
        (_("Changes in the period"), len(report["changes"])),
    ]:
        summary.append([name, value])
    summary.append([])
    summary.append([_("Pillar"), _("Commitments"), _("Progress at start (%)"),
                    _("Progress (%)"), _("Change (points)")])  # fmt: skip
    for cell in summary[summary.max_row]:
        cell.font = sheets.bold
    for group in head["by_pillar"]:
        p = group["progress"]
        summary.append(
            [sheets.label(group["pillar"]), group["commitments"], p["start"], p["end"], p["change"]]
        )
    summary.append([])
    summary.append([_("Status"), _("Commitments")])
    for cell in summary[summary.max_row]:
        cell.font = sheets.bold
    for status, count in head["by_status"].items():
        summary.append([sheets.label(status), count])
    summary.append([])
    summary.append([_("Health"), _("Commitments")])
    for cell in summary[summary.max_row]:
        cell.font = sheets.bold
    for health, count in head["by_health"].items():
        summary.append([sheets.label(health), count])
    summary.append([])
    summary.append([_("Report inputs (named in English in every language, for verifiers)")])
    summary.cell(row=summary.max_row, column=1).font = sheets.bold
    for name, value in zip(
        INPUT_NAMES,
        [_day(footer["as_of"]), footer["period_days"], footer["log_position"],
         footer["chain_head"], footer["tree_size"], footer["root_hash"], footer["language"],
         footer["format_version"]],
        strict=True,
    ):  # fmt: skip
        summary.append([name, value])
    for row in summary.iter_rows():
        for cell in row:
            if isinstance(cell.value, date):
                cell.number_format = DATE_FORMAT
    summary.column_dimensions["A"].width = 44
    summary.column_dimensions["B"].width = 22

    def yes(value: bool | None) -> bool | None:
        return value

    sheets.table(
        N_("Commitments"),
        [N_("Code"), N_("Title"), N_("Pillar"), N_("Lead party"), N_("Parties"), N_("Sectors"),
         N_("Agencies"), N_("Start date"), N_("Target date"), N_("Status"), N_("Status since"),
         N_("Completed in part"), N_("Status at period start"), N_("Health"), N_("Rated on"),
         N_("Health rationale"), N_("Progress (%)"), N_("Counted progress (%)"),
         N_("Progress at period start (%)"), N_("Progress as of"), N_("Confidence (0-10)"),
         N_("Latest note"), N_("Last update (UTC)"), N_("Overdue"), N_("Milestones"),
         N_("Milestones completed"), N_("Milestones missed"), N_("Next milestone"),
         N_("Next milestone due"), N_("Evidence"), N_("Version")],
        [
            [c["code"], marked(c, "title"), sheets.label(c["pillar"]),
             sheets.label(c["lead_party"]), ", ".join(c["parties"]), ", ".join(c["sectors"]),
             _agencies_text(c["agencies"]),
             _day(c["start_date"]), _day(c["target_date"]), sheets.label(c["status"]),
             _day(c["status_as_of"]), yes(c["completion_partial"]),
             sheets.label(c["status_at_start"]),
             sheets.label(c["health"]) if c["health"] else None, _day(c["health_as_of"]),
             c["health_rationale"], c["progress"], c["counted_progress"],
             c["progress_at_start"], _day(c["progress_as_of"]), c["confidence"],
             c["latest_note"], _moment(c["last_update"]), c["overdue"],
             c["milestones_total"], c["milestones_completed"], c["milestones_missed"],
             marked(c["next_milestone"], "title") if c["next_milestone"] else None,
             _day(c["next_milestone"]["due_date"]) if c["next_milestone"] else None,
             c["evidence_total"], c["version"]]
            for c in report["commitments"]
        ],
    )  # fmt: skip

    def moved(change: dict[str, Any], key: str) -> Any:
        value = change[key]
        return sheets.label(value) if change["kind"] in _CODED_KINDS and value else value

    sheets.table(
        N_("Changes"),
        [N_("Date"), N_("Kind of change"), N_("Code"), N_("Commitment"), N_("From"), N_("To"),
         N_("Note or reason"), N_("Milestone"), N_("Due date"), N_("On time"), N_("Days late"),
         N_("Completed in part"), N_("Document"), N_("Actor"), N_("Recorded (UTC)"),
         N_("Log position"), N_("Version")],
        [
            [_day(c["date"]), _(CHANGE_LABELS[c["kind"]]), c["code"], marked(c, "title"),
             moved(c, "from"), moved(c, "to"), c["note"], marked(c, "milestone"),
             _day(c.get("due_date")), c.get("on_time"), c.get("days_late"), c.get("partial"),
             c.get("url"), c["actor"], _moment(c["recorded_at"]), c["position"], c["version"]]
            for c in report["changes"]
        ],
    )  # fmt: skip
    sheets.table(
        N_("Milestones"),
        [N_("Code"), N_("Milestone"), N_("Due date"), N_("Originally due"), N_("State"),
         N_("Completed on"), N_("On time"), N_("Days late"), N_("Times rescheduled"),
         N_("Days from the as-of date"), N_("Note")],
        [
            [m["code"], marked(m, "milestone"), _day(m["due_date"]), _day(m["original_due_date"]),
             sheets.label(m["status"]), _day(m["completed_on"]), m["on_time"], m["days_late"],
             m["times_rescheduled"],
             None if m["completed_on"] else (_day(m["due_date"]) - _day(report["as_of"])).days,  # type: ignore[operator]
             m["note"]]
            for m in report["milestones_all"]
        ],
    )  # fmt: skip
    sheets.table(
        N_("Risks"),
        [N_("Code"), N_("Title"), N_("Pillar"), N_("Lead party"), N_("Health"), N_("Rated on"),
         N_("Rationale"), N_("Status"), N_("New in the period")],
        [
            [k["code"], marked(k, "title"), sheets.label(k["pillar"]),
             sheets.label(k["lead_party"]),
             sheets.label(k["health"]), _day(k["rated_as_of"]), k["rationale"],
             sheets.label(k["status"]), k["new_in_period"]]
            for k in report["risks"]
        ],
    )  # fmt: skip
    sheets.table(
        N_("Indicators"),
        [N_("Code"), N_("Indicator"), N_("Unit"), N_("Baseline"), N_("Target"), N_("Latest"),
         N_("Latest as of"), N_("Achieved (%)")],
        [
            [i["code"], marked(i, "indicator"), i["unit"], i["baseline"], i["target"], i["latest"],
             _day(i["latest_as_of"]), i["achieved_percent"]]
            for i in report["indicators"]
        ],
    )  # fmt: skip
    if report.get("pending_closures"):  # only when some are pending, like the section
        sheets.table(
            N_("Pending closures"),
            [N_("Code"), N_("Status"), N_("Proposed status"), N_("As of"),
             N_("Proposed by party"), N_("Proposed by"), N_("Awaiting"), N_("Reason")],
            [
                [p["code"], sheets.label(p["status"]), sheets.label(p["proposed_status"]),
                 _day(p["as_of"]), p["proposed_by_party"], p["proposed_by"],
                 ", ".join(p["awaiting"]), p["reason"]]
                for p in report["pending_closures"]
            ],
        )  # fmt: skip

    # Same data, same bytes: fixed document times, and fixed times inside the zip.
    moment = datetime.fromisoformat(report["as_of"] + "T00:00:00")
    workbook.properties.created = moment
    workbook.properties.modified = moment
    workbook.properties.creator = "commitments-tracker"
    workbook.properties.language = language
    raw = io.BytesIO()
    workbook.save(raw)
    return _normalise_zip(raw.getvalue(), moment)


# Changes whose from/to are codes people read as words (status, health).
_CODED_KINDS = {"status", "health", "risk_new", "risk_resolved"}


_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


def _normalise_zip(data: bytes, moment: datetime) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in sorted(source.infolist(), key=lambda i: i.filename):
            fixed = zipfile.ZipInfo(info.filename, date_time=moment.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                # openpyxl stamps the save time as "modified": use the report's date.
                content = _MODIFIED.sub(
                    rb"\g<1>" + moment.strftime("%Y-%m-%dT%H:%M:%SZ").encode() + rb"\g<2>",
                    content,
                )
            target.writestr(fixed, content)
    return out.getvalue()
