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
from adapters.event_text import item_names, label, summary
from adapters.history import recent_commitment_events
from adapters.tables import commitment_summaries
from domain.commitment import Commitment
from domain.tracker import Tracker
from domain.views import describe

# Entries per feed: feed readers poll, and keep what they saw.
FEED_ENTRIES = 50
ATOM_MEDIA_TYPE = "application/atom+xml"
LANGUAGES = ("en", "fr", "es")

# The feeds' own words, in one place (the event sentences are adapters/event_text.py's).
TEXT = {
    "generator": "Commitments tracker",
    "changes_title": "Canada-Mexico Action Plan: all changes",
    "changes_subtitle": "Every change recorded to the commitments, newest first",
    "commitment_title": "{code}: changes",
    "commitment_subtitle": "Every change recorded to {title}, newest first",
    "pillar_title": "Canada-Mexico Action Plan: changes in the {pillar} pillar",
    "pillar_subtitle": "Every change recorded to the commitments of this pillar, newest first",
    "entry_title": "{code}: {label}",
}


@dataclass(frozen=True)
class FeedSpec:
    """Which feed: its path under the site (`/feeds/changes.atom`), its page on the
    dashboard, its title and subtitle, and the commitments it covers (None: all)."""

    path: str
    page: str
    title: str
    subtitle: str
    commitment_ids: frozenset[UUID] | None = None


def changes_feed() -> FeedSpec:
    return FeedSpec(
        "/feeds/changes.atom", "/", TEXT["changes_title"], TEXT["changes_subtitle"], None
    )


def commitment_feed(commitment: Commitment) -> FeedSpec:
    return FeedSpec(
        f"/feeds/commitments/{commitment.code}.atom",
        f"/c/{commitment.code}",
        TEXT["commitment_title"].format(code=commitment.code),
        TEXT["commitment_subtitle"].format(title=commitment.title),
        frozenset({commitment.id}),
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
        TEXT["pillar_title"].format(pillar=pillar),
        TEXT["pillar_subtitle"],
        commitment_ids,
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
    feed = FeedGenerator()
    feed.id(f"tag:{tag}{spec.path.removesuffix('.atom')}")
    feed.title(spec.title)
    feed.subtitle(spec.subtitle)
    feed.language(lang)
    feed.author({"name": TEXT["generator"]})
    feed.generator(TEXT["generator"])
    query = "" if lang == "en" else f"?lang={lang}"
    feed.link(href=f"{base_url}{spec.path}{query}", rel="self", type=ATOM_MEDIA_TYPE)
    feed.link(href=f"{base_url}{spec.page}", rel="alternate", type="text/html")
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
        entry.title(TEXT["entry_title"].format(code=code, label=label(change["type"])))
        entry.content(summary(change["type"], change["data"], names), type="text")
        entry.author({"name": change["actor"] or TEXT["generator"]})
        entry.link(href=f"{base_url}/c/{code}", rel="alternate", type="text/html")
        entry.category(term=change["type"], label=label(change["type"]))
        recorded = _recorded(change)
        entry.published(recorded)
        entry.updated(recorded)
    xml: bytes = feed.atom_str(pretty=True, encoding="UTF-8")
    return xml


def _recorded(change: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(change["recorded_at"])
