"""The portfolio and commitment pages in French and Spanish: words, not codes; commitment
text in the chosen language, and every text not yet translated shown in the original with
a visible, spoken marker."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest

from adapters.i18n import LABELS
from tests.api.client import BASE, Api, serving

USMCA = "CMAP-GOV-USMCA"
RAIL = "CMAP-PROS-RAIL"
# Codes people must never read (status, health, pillar values, event types).
CODES = [code for code in LABELS if "_" in code or re.fullmatch(r"[A-Z][a-z]+[A-Z]\w+", code)]
WORDS = {
    "fr": ["Portefeuille", "Prospérité", "Mobilité, inclusion et bien-être", "Jalons"],
    "es": ["Cartera", "Prosperidad", "Movilidad, inclusión y bienestar", "Hitos"],
}
TITLES = {
    "fr": ("Préparation conjointe de l\u2019examen conjoint de l\u2019ACEUM de 2026",
           "Examen conjoint au titre de l\u2019article 34.7 de l\u2019ACEUM"),
    "es": ("Preparación conjunta de la revisión conjunta del T-MEC de 2026",
           "Revisión conjunta conforme al artículo 34.7 del T-MEC"),
}  # fmt: skip
NOTE = {
    "fr": "Pas encore traduit\u00a0; affiché dans la langue originale (anglais).",
    "es": "Aún no traducido; se muestra en el idioma original (inglés).",
}
MARKED = re.compile(
    r'<span lang="en">([^<]*)</span> <small class="untranslated" title="([^"]*)"[^>]*>'
    r'<span aria-hidden="true">EN</span><span [^>]*>([^<]*)</span></small>'
)


class _Text(HTMLParser):
    """The text a person reads on a page (no markup, attributes, styles or scripts)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def text_of(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return " ".join(parser.parts)


@pytest.fixture
def public(seeded_url: str) -> Iterator[Api]:
    with serving(seeded_url, public_read=True) as api:
        yield api


@pytest.mark.parametrize("language", ["fr", "es"])
@pytest.mark.parametrize("path", ["/", f"/c/{USMCA}"])
def test_pages_read_in_the_language_without_raw_codes(
    public: Api, language: str, path: str
) -> None:
    page = public.client.get(path, params={"lang": language})
    assert page.status_code == 200, page.text
    assert f'<html lang="{language}">' in page.text
    text = text_of(page.text)
    shown = [word for word in WORDS[language] if word in text]
    assert len(shown) >= 2, (language, path, shown)
    raw = [code for code in CODES if re.search(rf"\b{code}\b", text)]
    assert not raw, f"codes people read on {path} in {language}: {raw}"
    title, milestone = TITLES[language]
    assert title in text
    if path != "/":
        assert f"<h1>{title}</h1>" in page.text
        assert milestone in text


def test_the_portfolio_names_titles_and_next_milestones_in_the_language(public: Api) -> None:
    spanish = public.client.get("/", params={"lang": "es"}).text
    row = spanish[spanish.index(f'href="/c/{USMCA}"') :].split("</tr>")[0]
    assert TITLES["es"][0] in row and TITLES["es"][1] in row
    assert "Joint review under USMCA Article 34.7" not in row and "untranslated" not in row
    english = public.client.get("/", params={"lang": "en"}).text
    assert "Joint preparation for the 2026 USMCA joint review" in english
    assert 'class="untranslated"' not in english


@pytest.mark.parametrize("language", ["fr", "es"])
def test_untranslated_text_is_the_original_with_a_marker(public: Api, language: str) -> None:
    page = public.client.get(f"/c/{USMCA}", params={"lang": language}).text
    marks = MARKED.findall(page)
    originals = [original for original, _, _ in marks]
    # The seeds translate titles, not descriptions.
    description = public.commitment(USMCA)["description"]
    assert description.replace("'", "&#39;") in originals
    for _, tooltip, spoken in marks:
        assert tooltip == spoken == NOTE[language].replace("'", "&#39;")
    # Translated text carries no marker.
    assert TITLES[language][0] not in originals


def test_a_translated_text_loses_its_marker_and_english_has_none(public: Api) -> None:
    before = public.client.get(f"/c/{RAIL}", params={"lang": "fr"}).text
    milestone = public.commitment(RAIL)["milestones"][0]
    assert milestone["title"] in [original for original, _, _ in MARKED.findall(before)]
    written = public.request(
        "PUT",
        f"{BASE}/{RAIL}/translations/fr",
        "ca",
        json={"milestones": {milestone["id"]: "Étude des corridors définie"}},
    )
    assert written.status_code == 200, written.text
    after = public.client.get(f"/c/{RAIL}", params={"lang": "fr"}).text
    assert "Étude des corridors définie" in after
    assert milestone["title"] not in [original for original, _, _ in MARKED.findall(after)]
    # The timeline says what was translated, in words.
    assert "Texte traduit" in after and "en français\u00a0: “Étude des corridors définie”" in after
    english = public.client.get(f"/c/{RAIL}", params={"lang": "en"}).text
    assert 'class="untranslated"' not in english and milestone["title"] in english
    # The portfolio reads it from the read model once the projection has it.
    public.project()
    portfolio = public.client.get("/", params={"lang": "fr"}).text
    row = portfolio[portfolio.index(f'href="/c/{RAIL}"') :].split("</tr>")[0]
    assert "Infrastructures et corridors ferroviaires à long terme" in row


@pytest.mark.parametrize(
    ("language", "sectors", "parties"),
    [
        ("fr", "<dt>Secteurs</dt><dd>Commerce, Gouvernance</dd>", "Canada, Mexique, États-Unis"),
        ("es", "<dt>Sectores</dt><dd>Comercio, Gobernanza</dd>", "Canadá, México, Estados Unidos"),
        ("en", "<dt>Sectors</dt><dd>Trade, Governance</dd>", "Canada, Mexico, United States"),
    ],
)
def test_sectors_and_parties_read_as_words(
    public: Api, language: str, sectors: str, parties: str
) -> None:
    page = public.client.get(f"/c/{USMCA}", params={"lang": language}).text
    assert sectors in page and parties in page


def test_the_portfolio_charts_and_its_report_links_speak_the_page_language(public: Api) -> None:
    french = public.client.get("/?lang=fr").text
    assert "Avancement par pilier" in french and "Progress by pillar" not in french
    public.client.cookies.clear()  # ?lang=fr was remembered
    spanish = public.client.get("/", headers={"Accept-Language": "es-MX"}).text
    assert "Avance por pilar" in spanish
    # The report behind the page's links is the reader's language too, and says so.
    report = public.client.get("/report.json?lang=es").json()
    assert report["footer"]["language"] == "es"
    english = public.client.get("/report.json?lang=en").json()
    assert english["footer"]["language"] == "en"


def test_a_missing_commitment_and_a_wrong_access_key_are_told_in_the_language(
    public: Api,
) -> None:
    missing = public.client.get("/c/CMAP-NOPE-NOPE?lang=es")
    assert missing.status_code == 404
    assert "No existe ningún compromiso con la clave «CMAP-NOPE-NOPE»" in missing.text
    form = public.client.get("/login?lang=fr").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf
    refused = public.client.post(
        "/login", data={"token": "wrong", "csrf_token": csrf.group(1), "next": "/"}
    )
    assert refused.status_code == 401
    assert "Cette clé d\N{RIGHT SINGLE QUOTATION MARK}accès est inconnue" in refused.text


def test_a_page_report_for_a_chosen_month_and_a_bad_one(public: Api) -> None:
    chosen = public.client.get("/report.json?as_of=2026-10-31&period_days=31&lang=en")
    assert chosen.status_code == 200
    assert chosen.json()["as_of"] == "2026-10-31"
    bad = public.client.get("/report.json?as_of=9999-01-01&lang=es")
    assert bad.status_code == 400 and "Elija para as_of una fecha" in bad.text
