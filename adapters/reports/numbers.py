"""Figures (Babel's locale data) and punctuation as each report language writes them."""

from __future__ import annotations

from typing import Any

from babel.numbers import format_decimal

# The locale whose number conventions each language's report follows: the Canadian and
# Mexican ones (decimal comma and a space before % in French, a point in Mexico).
NUMBER_LOCALES = {"en": "en_CA", "fr": "fr_CA", "es": "es_MX"}


def percent(value: Any, language: str) -> str:
    """A figure of 0-100 as the language writes it: whole ones as they are (40%, 40 %),
    others with one decimal (40.0%, 40,0 %)."""
    pattern = "#,##0" if isinstance(value, int) else "#,##0.0"
    text = format_decimal(value, pattern, locale=NUMBER_LOCALES[language])
    return text + ("\u00a0%" if language == "fr" else "%")


def signed(value: Any, language: str) -> str:
    """A change in points with its sign and one decimal: +4.4, +4,4."""
    return format_decimal(value, "+#,##0.0;-#,##0.0", locale=NUMBER_LOCALES[language])


def colon(language: str) -> str:
    """The colon that joins a label and its text: French typography puts a no-break space
    before it, as the catalogues' French messages do."""
    return "\u00a0:" if language == "fr" else ":"


def semicolon(language: str) -> str:
    """The semicolon between items of a list, likewise."""
    return "\u00a0;" if language == "fr" else ";"
