"""Checking a report file by its content: read the inputs it records, regenerate it from
them, compare byte for byte, and say where the two differ (section and line, or sheet and
cell). The footer's chain head is checked against the log as well."""

from __future__ import annotations

import csv
import difflib
import html
import io
import json
import re
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from adapters.ledger import Verification
from adapters.reports.data import LANGUAGE, ReportInputs
from adapters.reports.render import FOOTER_PREFIX

# Differences named in one answer at most (the first ones, in document order).
MAX_DIFFERENCES = 5


class UnreadableReport(Exception):
    """The file is not a report this program wrote, or records no inputs."""


@dataclass(frozen=True)
class Recorded:
    """What a report file says about how it was made."""

    format: str
    as_of: date
    period_days: int
    log_position: int
    chain_head: str | None
    language: str
    format_version: int
    # The log's Merkle tree at the position (format version 2 on): checkpoints cover it.
    tree_size: int | None = None
    root_hash: str | None = None

    def inputs(self) -> ReportInputs:
        return ReportInputs(
            self.log_position, self.as_of, self.period_days, self.language, self.format_version
        )

    def as_dict(self) -> dict[str, Any]:
        fields = asdict(self)
        fields["as_of"] = self.as_of.isoformat()
        return fields


# The footer line of the Markdown and HTML formats (data.py: "footer").
_TEXT_FOOTER = re.compile(
    r"As of (\d{4}-\d{2}-\d{2}) · period (\d+) days · log position (\d+) · "
    r"chain head ([0-9a-f]{64}|None)(?: · tree size (\d+) · tree root ([0-9a-f]{64}))?"
    r"(?: · language ([a-z]{2}))? · "
    r"commitments-tracker progress report v(\d+)"
)


def read_recorded(content: bytes) -> Recorded:
    """The inputs a report records, whatever its format; UnreadableReport if none."""
    if content.startswith(b"PK"):
        return _from_xlsx(content)
    text = content.decode("utf-8", errors="replace")
    if text.lstrip().startswith("{"):
        return _from_json(text)
    if text.startswith("code,"):
        return _from_csv(text)
    fmt = "html" if text.lstrip().lower().startswith(("<!doctype", "<html")) else "md"
    # The last one: the footer ends the report, so text people typed above it that looks
    # like a footer cannot stand in for it (the offline verifier reads it the same way).
    footers = list(_TEXT_FOOTER.finditer(html.unescape(text) if fmt == "html" else text))
    match = footers[-1] if footers else None
    if match is None:
        raise UnreadableReport("no report footer (as-of date, period, log position) found")
    as_of, period, position, head, size, root, language, version = match.groups()
    return _recorded(fmt, as_of, period, position, head, language or LANGUAGE, version, size, root)


def _recorded(
    fmt: str,
    as_of: Any,
    period: Any,
    position: Any,
    head: Any,
    language: Any,
    version: Any,
    tree_size: Any = None,
    root_hash: Any = None,
) -> Recorded:
    try:
        return Recorded(
            fmt,
            date.fromisoformat(str(as_of)),
            int(period),
            int(position),
            None if head in (None, "", "None") else str(head),
            str(language),
            int(version),
            None if tree_size in (None, "") else int(tree_size),
            None if root_hash in (None, "") else str(root_hash),
        )
    except (TypeError, ValueError):
        raise UnreadableReport(f"the {fmt} report's recorded inputs are malformed") from None


def _from_json(text: str) -> Recorded:
    try:
        footer = json.loads(text)["footer"]
        version = footer.get("format_version", 1)
        return _recorded(
            "json",
            footer["as_of"],
            footer["period_days"],
            footer["log_position"],
            footer["chain_head"],
            footer.get("language", LANGUAGE),
            version,
            footer.get("tree_size"),
            footer.get("root_hash"),
        )
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise UnreadableReport("the file is JSON but not a progress report") from None


def _from_csv(text: str) -> Recorded:
    lines = text.splitlines()
    if lines and lines[-1].startswith(FOOTER_PREFIX):
        # Format 4 on: the provenance is the last line (the text footer), not columns.
        match = _TEXT_FOOTER.fullmatch(lines[-1][len(FOOTER_PREFIX) :])
        if match is None:
            raise UnreadableReport("the CSV's last line is not a report footer")
        as_of, period, position, head, size, root, language, version = match.groups()
        return _recorded(
            "csv", as_of, period, position, head, language or LANGUAGE, version, size, root
        )
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        raise UnreadableReport("the CSV lists no commitment, so it records no inputs")
    row = rows[0]
    inputs = ("report_as_of", "period_days", "log_position", "chain_head", "language")
    if any(other.get(key) != row.get(key) for other in rows[1:] for key in inputs):
        raise UnreadableReport("the CSV's rows record different report inputs")
    try:
        return _recorded(
            "csv",
            row["report_as_of"],
            row["period_days"],
            row["log_position"],
            row["chain_head"],
            row.get("language") or LANGUAGE,
            row.get("format_version") or 1,
            row.get("tree_size"),
            row.get("root_hash"),
        )
    except KeyError:
        raise UnreadableReport("the CSV has no report columns (report_as_of, ...)") from None


def _from_xlsx(content: bytes) -> Recorded:
    values = _summary_values(content)
    try:
        as_of = values["As of"]
        return _recorded(
            "xlsx",
            as_of.date() if hasattr(as_of, "date") else as_of,
            values["Period (days)"],
            values["Log position"],
            values.get("Chain head"),
            values.get("Language") or LANGUAGE,
            values.get("Format version") or 1,
            values.get("Tree size"),
            values.get("Tree root"),
        )
    except KeyError:
        raise UnreadableReport("the workbook records no inputs on its Summary sheet") from None


def _summary_values(content: bytes) -> dict[str, Any]:
    from openpyxl import load_workbook  # slow to import: only where it is used

    try:
        book = load_workbook(io.BytesIO(content), read_only=True)
        # "Summary" up to format 3; from 4 the first sheet, named in the report's language.
        sheet = book["Summary"] if "Summary" in book.sheetnames else book.worksheets[0]
    except Exception:
        raise UnreadableReport("the file is not a workbook with a Summary sheet") from None
    values: dict[str, Any] = {}
    for row in sheet.iter_rows(values_only=True):
        if row and isinstance(row[0], str) and len(row) > 1:
            values.setdefault(row[0], row[1])
    return values


# ---- comparing ---------------------------------------------------------------------------


def differences(expected: bytes, found: bytes, fmt: str) -> list[str]:
    """Where `found` differs from the regenerated `expected` (empty: identical)."""
    if expected == found:
        return []
    if fmt == "xlsx":
        return _workbook_differences(expected, found)
    if fmt == "json":
        named = _json_differences(expected, found)
        if named:
            return named
    return _line_differences(expected, found, fmt)


def _line_differences(expected: bytes, found: bytes, fmt: str) -> list[str]:
    old = expected.decode("utf-8", errors="replace").splitlines()
    new = found.decode("utf-8", errors="replace").splitlines()
    columns = next(csv.reader(old[:1]), []) if fmt == "csv" else []
    result = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, _, j1, _ in matcher.get_opcodes():
        if tag == "equal":
            continue
        where = f"line {j1 + 1}" + _section(old, i1, fmt)
        if tag == "delete":
            what = f"missing: {_short(old[i1])}"
        elif tag == "insert":
            what = f"not in the regenerated report: {_short(new[j1])}"
        else:
            what = _changed(old[i1], new[j1], fmt, columns)
        result.append(f"{where}: {what}")
        if len(result) == MAX_DIFFERENCES:
            break
    return result or ["the bytes differ (line endings or encoding)"]


_HEADING = {
    "md": re.compile(r"^#+\s+(.*)$"),
    "html": re.compile(r"<h[1-3][^>]*>(.*?)</h[1-3]>"),
}


def _section(lines: list[str], index: int, fmt: str) -> str:
    """The heading the line is under (Markdown, HTML), or the commitment (CSV)."""
    if fmt == "csv":
        row = next(csv.reader([lines[index]]), []) if index < len(lines) else []
        return f" (commitment {row[0]})" if index and row else " (the header)"
    pattern = _HEADING.get(fmt)
    if pattern is None:
        return ""
    for line in reversed(lines[: index + 1]):
        match = pattern.search(line)
        if match:
            return f" (section {html.unescape(re.sub('<[^>]+>', '', match.group(1))).strip()!r})"
    return ""


def _short(line: str, limit: int = 120) -> str:
    line = line.strip()
    return repr(line if len(line) <= limit else line[:limit] + "...")


def _changed(old: str, new: str, fmt: str, columns: list[str], context: int = 50) -> str:
    """What changed in a line: the CSV column, else the text around the first character
    that differs (long lines would otherwise show the same beginning twice)."""
    if fmt == "csv":
        before, after = next(csv.reader([old]), []), next(csv.reader([new]), [])
        for column, (a, b) in enumerate(zip(before, after, strict=False)):
            if a != b:
                name = columns[column] if column < len(columns) else f"#{column + 1}"
                return f"column {name}: expected {_short(a)}, found {_short(b)}"
    if len(old) <= 120 and len(new) <= 120:
        return f"expected {_short(old)}, found {_short(new)}"
    start = next(
        (i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b),
        min(len(old), len(new)),
    )
    first = max(0, start - context)

    def around(line: str) -> str:
        cut = line[first : start + context]
        return repr(("..." if first else "") + cut + ("..." if start + context < len(line) else ""))

    return f"at character {start + 1}: expected {around(old)}, found {around(new)}"


def _json_differences(expected: bytes, found: bytes) -> list[str]:
    result: list[str] = []
    try:
        _walk(json.loads(expected), json.loads(found), "", result)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to walk: by lines
        return []
    return result[:MAX_DIFFERENCES]


def _walk(old: Any, new: Any, path: str, result: list[str]) -> None:
    if len(result) >= MAX_DIFFERENCES:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            where = f"{path}.{key}" if path else str(key)
            if key not in new:
                result.append(f"{where}: missing")
            elif key not in old:
                result.append(f"{where}: not in the regenerated report")
            else:
                _walk(old[key], new[key], where, result)
    elif isinstance(old, list) and isinstance(new, list):
        for index, (a, b) in enumerate(zip(old, new, strict=False)):
            _walk(a, b, f"{path}[{index}]", result)
        if len(old) != len(new):
            result.append(f"{path}: {len(old)} items expected, {len(new)} found")
    elif old != new or type(old) is not type(new):
        result.append(f"{path}: expected {json.dumps(old)[:80]}, found {json.dumps(new)[:80]}")


def _workbook_differences(expected: bytes, found: bytes) -> list[str]:
    from openpyxl import load_workbook  # slow to import: only where it is used

    try:
        new_book = load_workbook(io.BytesIO(found), read_only=True)
    except Exception:
        return ["the file is not a readable workbook"]
    old_book = load_workbook(io.BytesIO(expected), read_only=True)
    result: list[str] = []
    if old_book.sheetnames != new_book.sheetnames:
        result.append(f"sheets: expected {old_book.sheetnames}, found {new_book.sheetnames}")
    for name in old_book.sheetnames:
        if name not in new_book.sheetnames:
            continue
        old_rows = list(old_book[name].iter_rows(values_only=True))
        new_rows = list(new_book[name].iter_rows(values_only=True))
        for number in range(max(len(old_rows), len(new_rows))):
            a = old_rows[number] if number < len(old_rows) else ()
            b = new_rows[number] if number < len(new_rows) else ()
            for column in range(max(len(a), len(b))):
                va = a[column] if column < len(a) else None
                vb = b[column] if column < len(b) else None
                if va != vb:
                    cell = f"{_column_letter(column)}{number + 1}"
                    result.append(f"sheet {name}, cell {cell}: expected {va!r}, found {vb!r}")
                    if len(result) == MAX_DIFFERENCES:
                        return result
    return result or ["the workbook's bytes differ (formatting or metadata), not its values"]


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def check_footer(recorded: Recorded, chain: Verification | None, head_at: str | None) -> str | None:
    """None when the report's chain head is the log's at its position; otherwise why not.
    With `chain` (a full verification of the log), also that the log verifies up to there."""
    if chain is not None:
        bad = chain.first_bad_position
        if bad is not None and bad <= recorded.log_position:
            return (
                f"the log does not verify at position {bad}, "
                f"before the report's position {recorded.log_position}"
            )
        if recorded.log_position > chain.head_position:
            return f"the log ends at position {chain.head_position}, before the report's position"
    if head_at != recorded.chain_head:
        return (
            f"the report's chain head {recorded.chain_head} is not the log's "
            f"{head_at} at position {recorded.log_position}"
        )
    return None
