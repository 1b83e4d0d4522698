"""Hostile text people typed (HTML, links, raw URLs, Markdown) is shown as text in the
Markdown and HTML reports: nothing runs, nothing becomes a link nobody meant."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from markdown_it import MarkdownIt

from adapters.bootstrap import Services
from adapters.reports import archive
from adapters.reports.data import ReportInputs
from adapters.reports.render import markdown_text, render
from domain import clock
from domain.commands import AddMilestone, AttachEvidence, ChangeStatus, RateHealth
from domain.errors import InvalidValue
from domain.vocabulary import Health, Status
from tests.conftest import open_services
from tests.support import registration, write

CODE = "CMAP-PROS-XSS"
SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'
JS_LINK = "[click](javascript:alert(3))"
IMAGE = "![tracker](http://evil.example/pixel.png)"
RAW_URLS = "see http://evil.example/a and www.evil.example or mail x@evil.example"
EMPHASIS = "*bold* _it_ `code` ~~gone~~ | cell \\ end\n# not a heading"


@pytest.fixture
def services(sqlite_url: str) -> Iterator[Services]:
    built = open_services(sqlite_url)
    yield built
    built.close()


@pytest.fixture
def report(services: Services) -> dict[str, object]:
    with clock.frozen_at(datetime(2026, 3, 2, 9, tzinfo=UTC)):
        write(services, registration(CODE, title=f"Rail {SCRIPT} {IMG}"))
        write(
            services,
            ChangeStatus(status=Status.IN_PROGRESS, reason=JS_LINK, as_of=date(2026, 3, 2)),
            ref=CODE,
        )
        write(
            services,
            RateHealth(rating=Health.RED, rationale=f"{IMAGE} {EMPHASIS}", as_of=date(2026, 3, 2)),
            ref=CODE,
        )
        write(services, AddMilestone(title=RAW_URLS, due_date=date(2026, 4, 1)), ref=CODE)
        write(
            services,
            AttachEvidence(
                url="https://example.org/a_(b)<c>",
                title=f"Statement {SCRIPT}",
                published_on=date(2026, 3, 2),
            ),
            ref=CODE,
        )
    return services.reports.build(ReportInputs(services.reports.head(), date(2026, 3, 31)))


def _links_and_html(markdown: str) -> tuple[list[str], list[str], str]:
    """(link targets, image sources, HTML) as a CommonMark renderer with GFM tables sees it."""
    parser = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    links, images = [], []
    for block in parser.parse(markdown):
        for token in block.children or []:
            if token.type == "link_open":
                links.append(str(token.attrGet("href")))
            elif token.type in ("image", "html_inline"):
                images.append(token.content)
        if block.type == "html_block":
            images.append(block.content)
    return links, images, parser.render(markdown)


def test_typed_html_links_and_urls_are_text_in_the_markdown_report(
    report: dict[str, object],
) -> None:
    markdown = render(report, "md").decode()
    links, raw_html, html = _links_and_html(markdown)
    # The only links are the evidence and the source people gave; a URL cannot break out.
    assert set(links) == {"https://example.org/a_%28b%29%3Cc%3E", "https://example.org/plan"}
    assert raw_html == []  # no HTML passed through, no image
    assert "<script" not in html and "<img" not in html and "javascript:" not in links
    # ... and every payload still reads as typed.
    for shown in ("&lt;script&gt;alert(1)&lt;/script&gt;", "onerror=", "[click](javascript:"):
        assert shown in html, shown
    assert "*bold* _it_ `code` ~~gone~~ | cell \\ end # not a heading" in html
    assert "<em>" not in html and "<code>" not in html and "<s>" not in html
    # Raw URLs would be links under GFM's extended autolinks: their triggers are escaped.
    assert r"http\://evil.example" in markdown and r"www\.evil.example" in markdown
    assert r"x\@evil.example" in markdown
    assert "<h1>" in html and html.count("<h1>") == 1  # only the report's title


def test_the_markdown_report_stays_deterministic(report: dict[str, object]) -> None:
    assert render(report, "md") == render(report, "md")


def test_plain_text_is_unchanged_by_the_escaping() -> None:
    """Existing reports of ordinary text keep their bytes: slugs, dates, sentences."""
    for plain in ("in_progress", "2026-03-31", "Study half done (phase 1); 40% - on track."):
        assert markdown_text(plain) == plain


def test_typed_html_is_escaped_in_the_html_report(report: dict[str, object]) -> None:
    html = render(report, "html").decode()
    assert SCRIPT not in html and IMG not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript:' not in html


def test_a_report_of_another_format_version_is_checked_by_its_archived_bytes(
    services: Services, report: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As after an upgrade that dropped the layout (version 2, say): an archived
    report is vouched for by its sha256, and reproducing it says to fetch the bytes."""
    inputs = ReportInputs(services.reports.head(), date(2026, 3, 31))
    stored = services.reports.archive(inputs, ["md"], generated_by="test")
    assert stored is not None
    content = services.reports.artefact(stored["id"], "md").content
    monkeypatch.setattr(archive, "REGENERATED_VERSIONS", (99,))  # a release long after
    checked = services.reports.check(content)
    assert (checked["regenerated"], checked["matches_content"]) == (False, True)
    assert checked["archived_as"] == [stored["id"]] and checked["verified"]
    assert services.reports.check(content + b" ")["verified"] is False
    with pytest.raises(InvalidValue, match="fetch the archived bytes"):
        services.reports.reproduce(stored["id"], "md")
