"""Atom feeds of the log's changes (RFC 4287), written with feedgen.

A feed holds the latest events of commitments (all of them, one, or one pillar's),
newest first, one entry per event: its id a tag: URI of the event's log position (stable
for ever: positions are never reused, and an export keeps them), `updated` and
`published` the time the event was recorded, its author the actor, its title the
commitment's code and what happened, its content the sentence the dashboard's history
shows (adapters/event_text.py). The routes, and who may read them, are in
api/routers/feeds.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from feedgen.feed import FeedGenerator
from sqlalchemy import select

from adapters.database import Database
from adapters.event_text import item_names, summary
from adapters.history import recent_commitment_events
from adapters.i18n import N_, label, translator
from adapters.tables import commitment_summaries
from domain.commitment import Commitment
from domain.tracker import Tracker
from domain.views import describe

# Entries per feed: feed readers poll, and keep what they saw.
FEED_ENTRIES = 50
ATOM_MEDIA_TYPE = "application/atom+xml"

# The feeds' own words (English msgids; the event sentences are adapters/event_text.py's).
GENERATOR = N_("Commitments tracker")
CHANGES_TITLE = N_("Canada-Mexico Action Plan: all changes")
CHANGES_SUBTITLE = N_("Every change recorded to the commitments, newest first")
COMMITMENT_TITLE = N_("%(code)s: changes")
COMMITMENT_SUBTITLE = N_("Every change recorded to %(title)s, newest first")
PILLAR_TITLE = N_("Canada-Mexico Action Plan: changes in the %(pillar)s pillar")
PILLAR_SUBTITLE = N_("Every change recorded to the commitments of this pillar, newest first")
ENTRY_TITLE = N_("%(code)s: %(label)s")


@dataclass(frozen=True)
class FeedSpec:
    """Which feed: its path under the site (`/feeds/changes.atom`), its page on the
    dashboard, its title and subtitle (msgids, and what they name), and the commitments
    it covers (None: all)."""

    path: str
    page: str
    title: str
    subtitle: str
    commitment_ids: frozenset[UUID] | None = None
    named: tuple[tuple[str, str], ...] = ()  # (placeholder, value); a pillar's code is labelled

    def words(self, language: str) -> tuple[str, str]:
        """Title and subtitle in `language`."""
        gettext = translator(language).gettext
        values = {
            name: label(value, language) if name == "pillar" else value
            for name, value in self.named
        }
        return gettext(self.title) % values, gettext(self.subtitle) % values


def changes_feed() -> FeedSpec:
    return FeedSpec("/feeds/changes.atom", "/", CHANGES_TITLE, CHANGES_SUBTITLE, None)


def commitment_feed(commitment: Commitment) -> FeedSpec:
    return FeedSpec(
        f"/feeds/commitments/{commitment.code}.atom",
        f"/c/{commitment.code}",
        COMMITMENT_TITLE,
        COMMITMENT_SUBTITLE,
        frozenset({commitment.id}),
        (("code", commitment.code), ("title", commitment.title)),
    )


def pillar_feed(database: Database, pillar: str) -> FeedSpec:
    """The commitments of a pillar, as the read models know them (a pillar is set at
    registration and never changes)."""
    with database.reading() as connection:
        ids = connection.execute(
            select(commitment_summaries.c.commitment_id).where(
                commitment_summaries.c.pillar == pillar
            )
        ).scalars()
        commitment_ids = frozenset(UUID(value) for value in ids)
    return FeedSpec(
        f"/feeds/pillars/{pillar}.atom",
        f"/?pillar={pillar}",
        PILLAR_TITLE,
        PILLAR_SUBTITLE,
        commitment_ids,
        (("pillar", pillar),),
    )


def tag_authority(log_origin: str) -> str:
    """`tracker.example,2025:canada-mexico-...`: a tag: URI's authority and the start of
    its specific part (RFC 4151), from the checkpoint origin that names this log."""
    host, _, rest = log_origin.partition("/")
    return f"{host},2025:{rest or 'log'}"


def render_feed(
    database: Database,
    tracker: Tracker,
    spec: FeedSpec,
    *,
    base_url: str,
    log_origin: str,
    lang: str = "en",
    limit: int = FEED_ENTRIES,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> bytes:
    """The feed as Atom XML (UTF-8)."""
    base_url = base_url.rstrip("/")
    tag = tag_authority(log_origin)
    changes = recent_commitment_events(
        database, tracker, limit=limit, commitment_ids=spec.commitment_ids
    )
    gettext = translator(lang).gettext
    generator = gettext(GENERATOR)
    title, subtitle = spec.words(lang)
    feed = FeedGenerator()
    feed.id(f"tag:{tag}{spec.path.removesuffix('.atom')}")
    feed.title(title)
    feed.subtitle(subtitle)
    feed.language(lang)
    feed.author({"name": generator})
    feed.generator(generator)
    query = f"?lang={lang}"
    page = f"{base_url}{spec.page}{'&' if '?' in spec.page else '?'}lang={lang}"
    feed.link(href=f"{base_url}{spec.path}{query}", rel="self", type=ATOM_MEDIA_TYPE)
    feed.link(href=page, rel="alternate", type="text/html")
    newest = _recorded(changes[0]) if changes else now()
    feed.updated(newest)
    about: dict[str, dict[str, Any]] = {}
    today = now().date()
    for change in changes:  # newest first, kept so
        commitment_id = change["commitment_id"]
        if commitment_id not in about:
            described = dict(describe(tracker.get(commitment_id), today))
            about[commitment_id] = {"code": described["code"], "names": item_names(described)}
        code, names = about[commitment_id]["code"], about[commitment_id]["names"]
        entry = feed.add_entry(order="append")
        entry.id(f"tag:{tag}/events/{change['position']}")
        kind = label(change["type"], lang)
        entry.title(gettext(ENTRY_TITLE) % {"code": code, "label": kind})
        entry.content(summary(change["type"], change["data"], names, lang), type="text")
        entry.author({"name": change["actor"] or generator})
        entry.link(href=f"{base_url}/c/{code}?lang={lang}", rel="alternate", type="text/html")
        entry.category(term=change["type"], label=kind)
        recorded = _recorded(change)
        entry.published(recorded)
        entry.updated(recorded)
    xml: bytes = feed.atom_str(pretty=True, encoding="UTF-8")
    return xml


def _recorded(change: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(change["recorded_at"])
