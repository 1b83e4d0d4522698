"""Checking a report file against the log: does its recorded chain head still match?"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.ledger import Verification


class UnreadableReport(Exception):
    """The file is not a report this program wrote, or has no footer."""


@dataclass(frozen=True)
class Footer:
    log_position: int
    chain_head: str | None


_TEXT_FOOTER = re.compile(r"log position (\d+) · chain head ([0-9a-f]{64}|None)")


def read_footer(path: Path) -> Footer:
    try:
        content = path.read_bytes()
    except OSError as error:
        raise UnreadableReport(f"cannot read {path}: {error.strerror}") from None
    if content.startswith(b"PK"):
        return _xlsx_footer(content)
    text = content.decode("utf-8", errors="replace")
    if text.lstrip().startswith("{"):
        try:
            footer = json.loads(text)["footer"]
            return Footer(int(footer["log_position"]), footer["chain_head"])
        except (ValueError, KeyError, TypeError):
            raise UnreadableReport(f"{path} is JSON but not a progress report") from None
    if text.startswith("code,"):
        rows = list(csv.DictReader(io.StringIO(text)))
        if not rows:
            raise UnreadableReport(f"{path} lists no commitment, so it records no position")
        return Footer(int(rows[0]["log_position"]), rows[0]["chain_head"] or None)
    match = _TEXT_FOOTER.search(text)
    if match is None:
        raise UnreadableReport(f"{path} has no report footer (log position, chain head)")
    head = match.group(2)
    return Footer(int(match.group(1)), None if head == "None" else head)


def _xlsx_footer(content: bytes) -> Footer:
    from openpyxl import load_workbook  # slow to import: only where it is used

    sheet = load_workbook(io.BytesIO(content), read_only=True)["Summary"]
    values: dict[str, Any] = {}
    for row in sheet.iter_rows(values_only=True):
        if row and isinstance(row[0], str) and len(row) > 1:
            values[row[0]] = row[1]
    try:
        return Footer(int(values["Log position"]), values.get("Chain head"))
    except (KeyError, TypeError, ValueError):
        raise UnreadableReport("the workbook has no log position on its Summary sheet") from None


def check(footer: Footer, chain: Verification, head_at_position: str | None) -> str | None:
    """None when the report matches the log; otherwise why not."""
    if chain.first_bad_position is not None and chain.first_bad_position <= footer.log_position:
        return (
            f"the log does not verify at position {chain.first_bad_position}, "
            f"before the report's position {footer.log_position}"
        )
    if footer.log_position > chain.head_position:
        return f"the log ends at position {chain.head_position}, before the report's position"
    if head_at_position != footer.chain_head:
        return (
            f"the report's chain head {footer.chain_head} is not the log's "
            f"{head_at_position} at position {footer.log_position}"
        )
    return None
