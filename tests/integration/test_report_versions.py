"""Reports archived with an earlier format version regenerate byte for byte.

`golden/v3-log.jsonl` is an export (events with their chain, and one archived report in
all five formats) made by the release whose reports were format version 3, from
`report_history.month_of_work`; `golden/v3-report.*` are those artefacts as files. This
release must import the log and reproduce every one of them from its recorded inputs,
and check each file by its content, although it writes format version 4 itself."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters import backup
from adapters.bootstrap import Services
from adapters.reports.data import REPORT_FORMAT_VERSION, ReportInputs
from api.cli import app as cli
from tests.conftest import open_services
from tests.integration.report_history import AS_OF
from tests.support import lock_probe

GOLDEN = Path(__file__).parent / "golden"
FORMATS = ["json", "csv", "md", "html", "xlsx"]


@pytest.fixture
def imported(sqlite_url: str) -> Iterator[Services]:
    services = open_services(sqlite_url)
    backup.import_log(services.database, GOLDEN / "v3-log.jsonl")
    yield services
    services.close()


def _archived_v3(services: Services) -> dict[str, object]:
    [report], _ = services.reports.list()
    assert report["format_version"] == 3
    return report


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_version_3_report_reproduces_byte_for_byte(imported: Services, fmt: str) -> None:
    report = _archived_v3(imported)
    golden = (GOLDEN / f"v3-report.{fmt}").read_bytes()
    assert report["sha256"][fmt] == hashlib.sha256(golden).hexdigest()  # type: ignore[index]
    assert imported.reports.reproduce(str(report["id"]), fmt).content == golden
    checked = imported.reports.check(golden)
    assert checked["regenerated"] and checked["matches_content"], checked
    assert checked["recorded"]["format_version"] == 3
    # The current version is another report from the same log: other bytes.
    [current] = imported.reports.generate(ReportInputs(imported.reports.head(), AS_OF, 30), [fmt])
    assert current.content != golden


def test_an_edited_version_3_report_fails_saying_where(imported: Services) -> None:
    golden = (GOLDEN / "v3-report.md").read_bytes()
    edited = golden.replace(b"blocked", b"fine", 1)
    checked = imported.reports.check(edited)
    assert checked["regenerated"] and not checked["verified"]
    assert any("fine" in d for d in checked["differences"]), checked["differences"]


def test_the_cli_reproduces_a_version_3_report(imported: Services, tmp_path: Path) -> None:
    report = _archived_v3(imported)
    out = tmp_path / "again.html"
    result = CliRunner().invoke(
        cli,
        ["report", "--reproduce", str(report["id"]), "--format", "html", "--out", str(out)],
        env={"COMMITMENTS_DATABASE_URL": imported.settings.database_url},
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == (GOLDEN / "v3-report.html").read_bytes()


def test_new_reports_are_the_current_version(imported: Services) -> None:
    inputs = ReportInputs(imported.reports.head(), AS_OF, 30)
    stored = imported.reports.archive(inputs, ["json"], generated_by="t")
    assert stored is not None and stored["format_version"] == REPORT_FORMAT_VERSION == 4
    assert imported.reports.build(inputs)["footer"]["format_version"] == 4


def test_workbooks_do_not_depend_on_whether_lxml_is_installed(
    imported: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """openpyxl writes other XML bytes with lxml (which feedgen installs): the adapters
    package keeps it on the standard library's writer, and rendering refuses otherwise,
    rather than archive a workbook that will not reproduce."""
    import openpyxl.xml

    from adapters.reports import render as renderers

    assert openpyxl.xml.LXML is False
    report = _archived_v3(imported)
    golden = (GOLDEN / "v3-report.xlsx").read_bytes()
    assert imported.reports.reproduce(str(report["id"]), "xlsx").content == golden
    monkeypatch.setattr(openpyxl.xml, "LXML", True)
    with pytest.raises(renderers.SerializerChanged, match="import adapters first"):
        imported.reports.generate(ReportInputs(imported.reports.head(), AS_OF), ["xlsx"])


@pytest.mark.parametrize("language", ["en", "fr", "es"])
def test_a_version_4_html_report_keeps_its_bytes(imported: Services, language: str) -> None:
    """The HTML of format 4 (charts included) from the same log, as this format's code
    wrote it before its rendering was made faster (golden/v4-report.*.html): speed-ups of
    the charts or templates must not move a byte, or archived reports stop reproducing."""
    inputs = ReportInputs(imported.reports.head(), AS_OF, 30, language)
    [html] = imported.reports.generate(inputs, ["html"])
    assert html.content == (GOLDEN / f"v4-report.{language}.html").read_bytes()


def test_a_version_3_report_draws_its_charts_holding_the_drawing_lock(
    imported: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its charts change matplotlib's global settings as the current ones do: while they
    draw, no other thread may (adapters/reports/charts.py DRAWING)."""
    free, _ = lock_probe(monkeypatch)
    report = _archived_v3(imported)
    content = imported.reports.reproduce(str(report["id"]), "html").content
    assert content == (GOLDEN / "v3-report.html").read_bytes()
    assert free and not any(free)  # every chart drawn with the lock held
