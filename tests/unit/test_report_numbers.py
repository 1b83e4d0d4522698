"""Report figures as each language writes them."""

from __future__ import annotations

import pytest

from adapters.reports.numbers import percent, signed


@pytest.mark.parametrize(
    ("language", "whole", "decimal", "change"),
    [
        ("en", "40%", "33.3%", "-4.4"),
        ("fr", "40\u00a0%", "33,3\u00a0%", "-4,4"),
        ("es", "40%", "33.3%", "-4.4"),
    ],
)
def test_figures_in_each_language(language: str, whole: str, decimal: str, change: str) -> None:
    assert percent(40, language) == whole
    assert percent(33.3, language) == decimal
    assert signed(-4.4, language) == change
    assert signed(0.0, language).startswith("+0")
