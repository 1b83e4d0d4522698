"""The portfolio page's search, filters and sorting, on the commitments it shows.

The filters are the JSON list's (adapters/read_models.py `ListFilters`: several values
of one filter mean either, different filters all apply), judged here on the commitment
resources the page holds; the search also reads the agencies, which the list's read
model does not keep. Unlike the API, the page ignores values it does not know: a stale
bookmark still opens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.i18n import N_
from adapters.read_models import UNRATED, ListFilters
from domain.vocabulary import Health, Pillar, Status

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
