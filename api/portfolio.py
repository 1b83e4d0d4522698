"""The portfolio page: its data (the report's headline and charts, each commitment's
summary) from the read models, and its search, filters and sorting.

The filters are the JSON list's (adapters/read_models.py `ListFilters`: several values
of one filter mean either, different filters all apply), judged here on the commitment
resources the page holds; the search also reads the agencies, which the list's read
model does not keep. Unlike the API, the page ignores values it does not know: a stale
bookmark still opens.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson
from cachetools import LRUCache
from markupsafe import Markup

from adapters.bootstrap import Services
from adapters.i18n import N_, translator
from adapters.projection import log_head, projection_position
from adapters.read_models import UNRATED, ListFilters, commitments_listed, list_commitments
from adapters.reports import fast
from adapters.reports.data import ReportInputs
from domain.views import describe
from domain.vocabulary import Health, Pillar, Status

_lock = threading.Lock()
# Per process's report archive: the report and charts, and what they were built for, and
# (per language) the report's rows kept for the next build.
_built: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
# Each chart's SVG by its inputs: a write redraws only the charts whose figures it moved.
_charts: LRUCache[tuple[str, str, bytes], Markup] = LRUCache(maxsize=64)


def portfolio(
    services: Services, language: str
) -> tuple[dict[str, Any], dict[str, Markup], list[dict[str, Any]]]:
    """The report in `language` as of today, its charts, and each commitment's summary
    (what the table filters and sorts), rebuilt only when the log position they are of
    or the day moves.

    Read from the read models (adapters/reports/fast.py, the list's summaries): at the
    log's head when they have caught up with it; else, while this process projects, at
    the position they have reached (the page lags the log as the JSON list does); else
    (no projector here) from the log up to its head, replayed, so the page is never
    older than a write.
    """
    today = datetime.now(UTC).date()
    reports = services.read_reports  # the replica's, if any
    with services.read_database.reading() as connection:
        position = log_head(connection)
        if not fast.ready(connection, position) and services.settings.projector:
            position = projection_position(connection)
        projected = fast.ready(connection, position)
    with _lock:
        built = _built.setdefault(reports, {})
        key = (position, today)
        mine = built.setdefault(language, {})
        if mine.get("key") != key:
            # Only the commitments written to since the last build are loaded again.
            kept = mine.setdefault("kept", fast.KeptRows())
            report = reports.build_kept(ReportInputs(position, today, language=language), kept)
            mine.update(key=key, report=report, charts=_drawn(report, language))
        # The rows do not depend on the language (pages localize them): one copy for all.
        shared = built.setdefault("rows", {})
        if shared.get("key") != key:
            codes = [c["code"] for c in mine["report"]["commitments"]]
            rows = (
                _rows(services, mine["report"], today, position, shared.setdefault("kept", {}))
                if projected
                else [dict(describe(services.tracker.get(code), today)) for code in codes]
            )
            shared.update(key=key, rows=rows)
        return mine["report"], mine["charts"], shared["rows"]


def _drawn(report: dict[str, Any], language: str) -> dict[str, Markup]:
    """The report's charts (adapters/reports/charts.py), each drawn again only when the
    figures it shows changed."""
    from adapters.reports import charts  # matplotlib: slow to import, so here

    _ = translator(language).gettext
    inputs: list[tuple[str, Callable[[dict[str, Any], str], str], Any]] = [
        (_("Progress by pillar"), charts.progress_by_pillar, report["headline"]["by_pillar"]),
        (_("Progress over time"), charts.progress_over_time, report["trend"]),
        (
            _("Status mix by pillar"),
            charts.status_mix,
            [report["headline"]["by_pillar"], list(report["headline"]["by_status"])],
        ),
        (
            _("Milestone timeline (red: overdue, blue: ahead)"),
            charts.milestone_timeline,
            [report["milestones"]["overdue"], report["key_dates"], report["as_of"]],
        ),
    ]
    drawn = {}
    for title, draw, figures in inputs:
        key = (draw.__name__, language, orjson.dumps(figures, option=orjson.OPT_SORT_KEYS))
        if key not in _charts:
            _charts[key] = Markup(draw(report, language))
        drawn[title] = _charts[key]
    return drawn


def _rows(
    services: Services, report: dict[str, Any], today: date, position: int, kept: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each commitment of the report as the list's read model summarizes it, with what the
    page reads besides: its agencies (searched) and counted progress (the headline's).

    The summaries are `kept` from the last call (with the position and day they are of):
    on the same day, a later position reads again only the commitments written since (as
    fast.KeptRows does for the report's rows); else every one."""
    of_report = {c["code"]: c for c in report["commitments"]}
    with services.read_database.reading() as connection:
        since = kept.get("position")
        summaries: dict[str, Any] = kept.get("summaries", {})
        if (
            kept.get("today") != today
            or since is None
            or not since <= position <= since + fast.KEPT_GAP
        ):
            listed, _ = list_commitments(
                connection, ListFilters(), today=today, limit=len(of_report) + 1
            )
            summaries = {s["id"]: s for s in listed}
        elif position > since:
            again = fast.written(connection, since, position)
            summaries |= {s["id"]: s for s in commitments_listed(connection, again, today=today)}
    kept.update(position=position, today=today, summaries=summaries)
    return [
        dict(s)
        | {
            "agencies": of_report[s["code"]]["agencies"],
            "counted_progress": of_report[s["code"]]["counted_progress"],
        }
        for s in sorted(summaries.values(), key=lambda s: s["code"])
        if s["code"] in of_report
    ]


MAX_QUERY = 200

STATUS_ORDER = [s.value for s in Status]
HEALTH_ORDER = [h.value for h in Health] + [UNRATED]

# How the table can be ordered: the parameter's value, the words people read, the key.
SORTS: dict[str, tuple[str, Callable[[Mapping[str, Any]], Any]]] = {
    "code": (N_("Code"), lambda c: c["code"]),
    "title": (N_("Title"), lambda c: c["title"].casefold()),
    "status": (N_("Status"), lambda c: STATUS_ORDER.index(c["status"])),
    "health": (N_("Health"), lambda c: HEALTH_ORDER.index(c["health"] or UNRATED)),
    "progress": (N_("Progress"), lambda c: c["progress"]),
    "next": (
        N_("Next milestone due"),
        lambda c: c["next_milestone"]["due_date"] if c["next_milestone"] else None,
    ),
    "target": (N_("Target date"), lambda c: c["target_date"]),
}
ORDERS = {"asc": N_("ascending"), "desc": N_("descending")}


@dataclass(frozen=True)
class PortfolioQuery:
    """What the reader asked for, with the values the page does not know left out."""

    filters: ListFilters
    sort: str = "code"
    order: str = "asc"

    @property
    def filtered(self) -> bool:
        return self.filters != ListFilters()

    def chosen(self, name: str) -> tuple[str, ...]:
        value: tuple[str, ...] = getattr(self.filters, name)
        return value


def filter_groups(
    commitments: Iterable[Mapping[str, Any]],
) -> list[tuple[str, str, list[str]]]:
    """The checkbox groups: (parameter, heading, values), the values the data has where
    the vocabulary is open (parties, sectors)."""
    rows = list(commitments)
    return [
        ("pillar", N_("Pillar"), [p.value for p in Pillar]),
        ("party", N_("Party"), sorted({p for c in rows for p in c["parties"]})),
        ("status", N_("Status"), STATUS_ORDER),
        ("health", N_("Health"), HEALTH_ORDER),
        ("sector", N_("Sector"), sorted({s for c in rows for s in c["sectors"]})),
    ]


def read_query(
    params: Mapping[str, Sequence[str]], groups: Sequence[tuple[str, str, list[str]]]
) -> PortfolioQuery:
    """The query from the page's parameters (each a list: `status=a&status=b`)."""
    chosen = {
        name: tuple(v for v in options if v in params.get(name, ())) for name, _, options in groups
    }
    overdue = {"yes": True, "no": False}.get(_last(params, "overdue"))
    q = " ".join(_last(params, "q").split())[:MAX_QUERY] or None
    sort = _last(params, "sort")
    order = _last(params, "order")
    return PortfolioQuery(
        ListFilters(**chosen, overdue=overdue, q=q),
        sort=sort if sort in SORTS else "code",
        order=order if order in ORDERS else "asc",
    )


def _last(params: Mapping[str, Sequence[str]], name: str) -> str:
    values = params.get(name) or [""]
    return values[-1]


def keeps(filters: ListFilters, c: Mapping[str, Any]) -> bool:
    """Does the commitment resource `c` pass the filters (as the JSON list's do)?"""
    checks = (
        (filters.pillar, [c["pillar"]]),
        (filters.status, [c["status"]]),
        (filters.health, [c["health"] or UNRATED]),
        (filters.party, c["parties"]),
        (filters.sector, c["sectors"]),
    )
    if any(wanted and not set(wanted) & set(values) for wanted, values in checks):
        return False
    if filters.overdue is not None and c["overdue"] is not filters.overdue:
        return False
    return not filters.q or filters.q.casefold() in _searched(c)


def _searched(c: Mapping[str, Any]) -> str:
    """The text the search reads: code, title, description, sectors, agencies."""
    agencies = [name for names in c.get("agencies", {}).values() for name in names]
    return "\n".join([c["code"], c["title"], c["description"], *c["sectors"], *agencies]).casefold()


def ordered(rows: Iterable[Mapping[str, Any]], query: PortfolioQuery) -> list[Any]:
    """The rows by the chosen column (then by code); rows without a value come last
    whichever the direction."""
    key = SORTS[query.sort][1]
    by_code = sorted(rows, key=lambda c: c["code"])
    with_value = [c for c in by_code if key(c) is not None]
    without = [c for c in by_code if key(c) is None]
    return sorted(with_value, key=key, reverse=query.order == "desc") + without
