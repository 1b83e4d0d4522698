"""Report format version 3, frozen: the renderers of reports archived with format version
3 (verbatim, with their own templates and charts under v3/), so that those reports
regenerate byte for byte. Never change their output; the current renderers are
adapters/reports/render.py."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
EXTENSIONS = {"json": "json", "csv": "csv", "md": "md", "html": "html", "xlsx": "xlsx"}

CSV_COLUMNS = [
    "code", "title", "pillar", "lead_party", "parties", "status", "status_at_start", "health",
    "progress", "progress_at_start", "progress_as_of", "confidence", "target_date", "overdue",
    "milestones_total", "milestones_completed", "milestones_missed", "next_milestone",
    "next_milestone_due", "health_rationale", "version", "report_as_of", "period_days",
    "log_position", "chain_head", "tree_size", "root_hash", "language", "format_version",
]  # fmt: skip


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


_html_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
# Markdown is not HTML: every value is made inert by `finalize` instead (secure by
# default: a field added later is escaped too); links go through `link`/`autolink`.
_markdown_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=False,
    finalize=_finalize,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_markdown_templates.filters["link"] = markdown_link
_markdown_templates.filters["autolink"] = markdown_autolink

# Spreadsheet programs run cells starting with these as formulas (CSV/formula injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def render(report: dict[str, Any], fmt: str) -> bytes:
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


def _csv_row(item: dict[str, Any], footer: dict[str, Any]) -> dict[str, Any]:
    row = {k: _inert(item.get(k)) for k in CSV_COLUMNS}
    row["parties"] = " ".join(item["parties"])
    row["next_milestone"] = (
        _inert(item["next_milestone"]["title"]) if item["next_milestone"] else None
    )
    row["next_milestone_due"] = (
        item["next_milestone"]["due_date"] if item["next_milestone"] else None
    )
    row["report_as_of"] = footer["as_of"]
    row["log_position"] = footer["log_position"]
    row["chain_head"] = footer["chain_head"]
    row["tree_size"] = footer["tree_size"]
    row["root_hash"] = footer["root_hash"]
    row["period_days"] = footer["period_days"]
    row["language"] = footer["language"]
    row["format_version"] = footer["format_version"]
    return row


def to_csv(report: dict[str, Any]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for item in report["commitments"]:
        writer.writerow(_csv_row(item, report["footer"]))
    return buffer.getvalue().encode("utf-8")


def to_markdown(report: dict[str, Any]) -> bytes:
    return _markdown_templates.get_template("report.md.j2").render(r=report).encode("utf-8")


def to_html(report: dict[str, Any]) -> bytes:
    from adapters.reports.v3.charts import all_charts  # matplotlib: slow to import, so here

    charts = {title: Markup(svg) for title, svg in all_charts(report).items()}
    template = _html_templates.get_template("report.html.j2")
    return template.render(r=report, charts=charts).encode("utf-8")


def to_xlsx(report: dict[str, Any]) -> bytes:
    from openpyxl import Workbook  # slow to import: only where it is used
    from openpyxl.styles import Font

    workbook = Workbook()
    summary = workbook.active
    assert summary is not None
    summary.title = "Summary"
    bold = Font(bold=True)
    head = report["headline"]
    summary.append([report["title"]])
    summary["A1"].font = Font(bold=True, size=14)
    for label, value in [
        ("As of", report["as_of"]),
        ("Period", f"{report['period']['start']} to {report['period']['end']}"),
        ("Commitments", head["commitments"]),
        ("Weighted progress (%)", head["progress"]["end"]),
        ("Change over the period (points)", head["progress"]["change"]),
        ("Period (days)", report["period"]["days"]),
        ("Log position", report["footer"]["log_position"]),
        ("Chain head", report["footer"]["chain_head"]),
        ("Tree size", report["footer"]["tree_size"]),
        ("Tree root", report["footer"]["root_hash"]),
        ("Language", report["footer"]["language"]),
        ("Format version", report["footer"]["format_version"]),
    ]:
        summary.append([label, value])
    summary.append([])
    summary.append(["Pillar", "Commitments", "Progress start", "Progress end", "Change"])
    for cell in summary[summary.max_row]:
        cell.font = bold
    for group in head["by_pillar"]:
        p = group["progress"]
        summary.append([group["pillar"], group["commitments"], p["start"], p["end"], p["change"]])
    summary.append([])
    summary.append(["Status", "Commitments"])
    for status, count in head["by_status"].items():
        summary.append([status, count])
    summary.column_dimensions["A"].width = 34

    sheet = workbook.create_sheet("Commitments")
    sheet.append(CSV_COLUMNS)
    for cell in sheet[1]:
        cell.font = bold
    for item in report["commitments"]:
        row = _csv_row(item, report["footer"])
        sheet.append([row[c] for c in CSV_COLUMNS])

    milestones = workbook.create_sheet("Milestones")
    milestones.append(["State", "Commitment", "Milestone", "Due date", "Days from as-of"])
    for cell in milestones[1]:
        cell.font = bold
    for state, items in (
        ("overdue", report["milestones"]["overdue"]),
        ("due in 90 days", report["milestones"]["due_next_90_days"]),
    ):
        for m in items:
            milestones.append([state, m["code"], _inert(m["milestone"]), m["due_date"], m["days"]])

    indicators = workbook.create_sheet("Indicators")
    columns = ["code", "indicator", "unit", "baseline", "target", "latest", "latest_as_of",
               "achieved_percent"]  # fmt: skip
    indicators.append(columns)
    for cell in indicators[1]:
        cell.font = bold
    for i in report["indicators"]:
        indicators.append([_inert(i[c]) for c in columns])

    if report.get("pending_closures"):  # only when some are pending, like the section
        closures = workbook.create_sheet("Pending closures")
        columns = ["code", "status", "proposed_status", "as_of", "proposed_by_party",
                   "proposed_by", "awaiting", "reason"]  # fmt: skip
        closures.append(columns)
        for cell in closures[1]:
            cell.font = bold
        for p in report["pending_closures"]:
            closures.append([_inert(" ".join(p[c]) if c == "awaiting" else p[c]) for c in columns])

    # Same data, same bytes: fixed document times, and fixed times inside the zip.
    moment = datetime.fromisoformat(report["as_of"] + "T00:00:00")
    workbook.properties.created = moment
    workbook.properties.modified = moment
    workbook.properties.creator = "commitments-tracker"
    raw = io.BytesIO()
    workbook.save(raw)
    return _normalise_zip(raw.getvalue(), moment)


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
