"""`commitments report --lang`: the language is one of the report's inputs, recorded in it."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_cli import Cli, one_line_error


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(monkeypatch, capsys)


def report(run: Cli, url: str, *args: str) -> bytes:
    return run.ok(url, "report", "--format", "json", "--at-position", "40", *args).stdout


def test_the_report_records_the_language_asked_for(run: Cli, seeded_url: str) -> None:
    english, french, spanish = (
        report(run, seeded_url, *args) for args in ((), ("--lang", "fr"), ("--lang", "es"))
    )
    assert english != french != spanish
    for content, language in ((english, "en"), (french, "fr"), (spanish, "es")):
        assert json.loads(content)["footer"]["language"] == language
    # The same inputs give the same bytes.
    assert report(run, seeded_url, "--lang", "fr") == french


def test_a_language_we_do_not_have_is_one_line_on_stderr(run: Cli, seeded_url: str) -> None:
    assert "--lang must be one of en, fr, es" in one_line_error(
        run(seeded_url, "report", "--lang", "de")
    )
    assert "give no others" in one_line_error(
        run(seeded_url, "report", "--reproduce", "x", "--lang", "fr")
    )
