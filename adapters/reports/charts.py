"""Charts of the report, drawn by matplotlib as SVG text.

Deterministic on purpose: a fixed hash salt for element ids, no date in the metadata,
text kept as text (no embedded glyph paths), so the same data gives the same bytes.
"""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any, TypeVar, cast

import matplotlib

matplotlib.use("Agg")  # no display here or on servers

from babel.dates import format_date
from matplotlib.dates import (
    MONTHLY,
    AutoDateLocator,
    date2num,
    num2date,
)
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from matplotlib.transforms import blended_transform_factory

from adapters.i18n import DEFAULT_LANGUAGE, N_, label, translator
from adapters.reports.numbers import colon, percent
from adapters.reports.render import untranslated_mark

COLOURS = {
    "green": "#2e7d32",
    "amber_green": "#9e9d24",
    "amber": "#f9a825",
    "amber_red": "#ef6c00",
    "red": "#c62828",
    "unrated": "#9e9e9e",
    "not_started": "#bdbdbd",
    "in_progress": "#1565c0",
    "stalled": "#ef6c00",
    "completed": "#2e7d32",
    "suspended": "#6d4c41",
    "cancelled": "#424242",
    "superseded": "#7b1fa2",
    "planned": "#1565c0",
    "missed": "#c62828",
}

_STYLE: Any = {
    "svg.hashsalt": "commitments-tracker",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def _month_year(language: str) -> FuncFormatter:
    """Month and year in the report's language (matplotlib's own names are English)."""
    return FuncFormatter(
        lambda value, _: format_date(num2date(value).date(), "MMM y", locale=language)
    )


# matplotlib's settings (rcParams, which each chart changes for its drawing) are one per
# process: two threads drawing at once (a page, a scheduled report) could each draw with
# the other's, and an archived report's bytes would then depend on timing. One chart at
# a time, in each process (re-entrant: `all_charts` holds it over its four).
DRAWING = threading.RLock()
Chart = TypeVar("Chart", bound=Callable[..., Any])


def one_at_a_time(draw: Chart) -> Chart:
    """`draw` holding DRAWING."""

    @functools.wraps(draw)
    def drawn(*args: Any, **kwargs: Any) -> Any:
        with DRAWING:
            return draw(*args, **kwargs)

    return cast(Chart, drawn)


def _figure(width: float, height: float) -> tuple[Figure, Any]:
    """A figure and its axes, without pyplot: matplotlib's advice for servers (pyplot
    keeps every figure in a global registry until closed)."""
    figure = Figure(figsize=(width, height))
    return figure, figure.subplots()


def _svg(figure: Any, title: str) -> str:
    buffer = io.StringIO()
    # A salt per chart keeps element ids distinct between charts inlined in one page.
    with matplotlib.rc_context({"svg.hashsalt": f"commitments-tracker:{title}"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Title": title})
    svg = buffer.getvalue()
    # Drop the XML prolog and DOCTYPE: the SVG is inlined into HTML.
    return svg[svg.index("<svg") :]


@one_at_a_time
def progress_by_pillar(report: dict[str, Any], language: str = DEFAULT_LANGUAGE) -> str:
    _ = translator(language).gettext
    groups = report["headline"]["by_pillar"]
    with matplotlib.rc_context(_STYLE):
        figure, axes = _figure(7, 2.8)
        labels = [label(g["pillar"], language) for g in groups][::-1]
        ends = [g["progress"]["end"] for g in groups][::-1]
        starts = [g["progress"]["start"] for g in groups][::-1]
        bars = axes.barh(labels, ends, color="#1565c0", label=_("as of the report date"))
        axes.scatter(
            starts, labels, marker="|", s=200, color="#212121", label=_("period start"), zorder=3
        )
        for bar, value in zip(bars, ends, strict=True):
            axes.text(
                bar.get_width() + 1,
                bar.get_y() + bar.get_height() / 2,
                percent(value, language),
                va="center",
            )
        axes.set_xlim(0, 100)
        axes.set_xlabel(_("weighted progress (%)"))
        axes.legend(loc="lower right", frameon=False, fontsize=8)
        figure.tight_layout()
        return _svg(figure, _("Progress by pillar"))


@one_at_a_time
def progress_over_time(report: dict[str, Any], language: str = DEFAULT_LANGUAGE) -> str:
    _ = translator(language).gettext
    points = report["trend"]
    with matplotlib.rc_context(_STYLE):
        figure, axes = _figure(7, 2.6)
        days = [date2num(date.fromisoformat(p["date"])) for p in points]
        values = [p["progress"] for p in points]
        axes.plot(days, values, marker="o", color="#1565c0")
        axes.fill_between(days, values, color="#1565c0", alpha=0.1)
        axes.xaxis.set_major_formatter(_month_year(language))
        axes.set_ylim(0, 100)
        axes.set_ylabel(_("weighted progress (%)"))
        figure.autofmt_xdate()
        figure.tight_layout()
        return _svg(figure, _("Progress over time"))


@one_at_a_time
def status_mix(report: dict[str, Any], language: str = DEFAULT_LANGUAGE) -> str:
    _ = translator(language).gettext
    groups = report["headline"]["by_pillar"]
    statuses = list(report["headline"]["by_status"])
    with matplotlib.rc_context(_STYLE):
        figure, axes = _figure(7, 2.8)
        labels = [label(g["pillar"], language) for g in groups][::-1]
        left = [0] * len(groups)
        for status in statuses:
            counts = [g["by_status"][status] for g in groups][::-1]
            if not any(counts):
                continue
            axes.barh(
                labels, counts, left=left, color=COLOURS[status], label=label(status, language)
            )
            left = [a + b for a, b in zip(left, counts, strict=True)]
        axes.set_xlabel(_("commitments"))
        axes.legend(
            loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=4, frameon=False, fontsize=8
        )
        figure.tight_layout()
        return _svg(figure, _("Status mix by pillar"))


@one_at_a_time
def milestone_timeline(report: dict[str, Any], language: str = DEFAULT_LANGUAGE) -> str:
    """Open milestones overdue and due soon, plus key dates ahead, on one time axis."""
    _ = translator(language).gettext
    items = {
        (m["code"], _short(m["milestone"], 32) + _mark(m, "milestone"), m["due_date"], "missed")
        for m in report["milestones"]["overdue"]
    } | {
        (k["code"], _short(k["what"], 32) + _mark(k, "what"), k["date"], "planned")
        for k in report["key_dates"]
    }
    rows = sorted(items, key=lambda i: (i[2], i[0], i[1]))[:24]
    with matplotlib.rc_context(_STYLE):
        height = max(2.0, 0.28 * len(rows) + 1.0)
        figure, axes = _figure(7, height)
        as_of = date2num(date.fromisoformat(report["as_of"]))
        for index, (_code, _what, due, state) in enumerate(rows):
            axes.scatter(
                date2num(date.fromisoformat(due)), index, color=COLOURS[state], s=30, zorder=3
            )
        axes.set_yticks(
            range(len(rows)),
            [f"{code}{colon(language)} {what}" for code, what, _due, _state in rows],
            fontsize=8,
        )
        axes.axvline(as_of, color="#212121", linewidth=1, linestyle="--")
        # Above the plot, at the line (x in data, y in axes units): never on a tick label.
        axes.text(
            as_of,
            1.0,
            _("as of %(date)s") % {"date": report["as_of"]} + " ",
            fontsize=8,
            ha="right",
            va="bottom",
            transform=blended_transform_factory(axes.transData, axes.transAxes),
        )
        axes.invert_yaxis()
        axes.xaxis.set_major_locator(AutoDateLocator(maxticks=4))
        axes.xaxis.set_major_formatter(_month_year(language))
        axes.tick_params(axis="x", labelsize=8)
        figure.tight_layout()
        return _svg(figure, _("Milestone timeline"))


def _mark(item: dict[str, Any], field: str) -> str:
    """ " (EN)" (" (ES)", " (FR)") after a text that reads in its original language for
    want of a translation (render.py)."""
    return untranslated_mark(item, field)


def _short(text: str, limit: int = 38) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@one_at_a_time
def all_charts(report: dict[str, Any], language: str = DEFAULT_LANGUAGE) -> dict[str, str]:
    """Each chart's caption (in `language`) and its SVG."""
    _ = translator(language).gettext
    return {
        _("Progress by pillar"): progress_by_pillar(report, language),
        _("Progress over time"): progress_over_time(report, language),
        _("Status mix by pillar"): status_mix(report, language),
        _("Milestone timeline (red: overdue, blue: ahead)"): milestone_timeline(report, language),
    }


# The words of the commitment chart (`commitment_progress`), as msgids: pages pass them
# translated into the reader's language.
COMMITMENT_CHART_WORDS = {
    "progress": N_("progress (%)"),
    "logged": N_("progress logged"),
    "completed": N_("milestone completed"),
    "planned": N_("milestone due"),
    "missed": N_("milestone missed"),
    "day": N_("shown as of"),
    "title": N_("Progress over time"),  # the SVG's <title>, its accessible name
}


# The commitment chart's bottom margin by its legend's rows (two entries a row): what
# tight_layout gives in English, French and Spanish, with and without points and
# milestones of each kind (left, right and top: the largest margin it gave).
_PAGE_CHART_BOTTOM = {0: 0.129, 1: 0.257, 2: 0.318}
_PAGE_LEFT, _PAGE_RIGHT = 0.14, 0.91
# 5 inches wide: its 9-point text stays readable on a 400-pixel phone screen.
_PAGE_WIDTH_IN = 5
_PAGE_PLOT_WIDTH_PT = _PAGE_WIDTH_IN * (_PAGE_RIGHT - _PAGE_LEFT) * 72
_EM_PER_CHARACTER = 0.62  # DejaVu Sans's average, generous


@one_at_a_time
def commitment_progress(
    points: Sequence[tuple[date, int]],
    milestones: Sequence[Mapping[str, Any]],
    day: date,
    *,
    words: Mapping[str, str] = COMMITMENT_CHART_WORDS,
    month: Callable[[date], str] = lambda d: d.strftime("%b %Y"),
) -> str:
    """One commitment's progress over time (each logged percent held until the next),
    its milestones along the top (completed on their day, open ones on their due date,
    coloured planned or missed) and the day shown. `milestones` are milestone resources
    (domain/views.py); `month` writes a tick's date in the reader's language."""
    marks = [
        (
            date.fromisoformat(m["completed_on"] or m["due_date"]),
            "completed" if m["completed_on"] else m["status"],
        )
        for m in milestones
    ]
    with matplotlib.rc_context(_STYLE):
        figure, axes = _figure(_PAGE_WIDTH_IN, 2.8)
        if points:
            days = [date2num(d) for d, _ in points] + [date2num(max(day, points[-1][0]))]
            values = [v for _, v in points] + [points[-1][1]]
            axes.step(days, values, where="post", color=COLOURS["in_progress"], linewidth=2)
            axes.plot(
                days[:-1],
                values[:-1],
                "o",
                color=COLOURS["in_progress"],
                label=words["logged"],
            )
        for state in ("completed", "planned", "missed"):
            when = [date2num(d) for d, s in marks if s == state]
            if when:
                axes.scatter(
                    when,
                    [106] * len(when),
                    marker="v" if state == "completed" else "D",
                    s=36,
                    color=COLOURS["green" if state == "completed" else state],
                    label=words[state],
                    clip_on=False,
                    zorder=3,
                )
        axes.axvline(date2num(day), color="#212121", linewidth=1, linestyle="--")
        # Beside the line: left of it, unless the plot has too little room there for
        # the words (they would run over the y axis), by their width in 7-point type.
        start, end = axes.get_xlim()
        room = (date2num(day) - start) / (end - start) * _PAGE_PLOT_WIDTH_PT
        right = room < len(words["day"]) * 7 * _EM_PER_CHARACTER + 4
        axes.text(
            date2num(day),
            2,
            f" {words['day']}" if right else f"{words['day']} ",
            fontsize=7,
            va="bottom",
            ha="left" if right else "right",
        )
        axes.set_ylim(0, 110)
        axes.set_yticks([0, 25, 50, 75, 100])
        axes.set_ylabel(words["progress"])
        # At least 3 ticks (not 5), and yearly steps of months too: spans of two and three
        # years found no interval, and monthly ticks ran together (matplotlib warned).
        locator = AutoDateLocator(minticks=3, maxticks=5)
        locator.intervald[MONTHLY] = [1, 2, 3, 4, 6, 12]
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(
            FuncFormatter(lambda value, _: month(num2date(value).date()))
        )
        entries = len(axes.get_legend_handles_labels()[0])
        if entries:  # nothing logged or planned: no legend
            axes.legend(
                loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, frameon=False, fontsize=8
            )
        # Margins measured, not computed on each page view: tight_layout would take half
        # the chart's time (60 ms), and here only the legend's rows change the room needed.
        figure.subplots_adjust(
            left=_PAGE_LEFT,
            right=_PAGE_RIGHT,
            top=0.952,
            bottom=_PAGE_CHART_BOTTOM[(entries + 1) // 2],
        )
        return _svg(figure, words["title"])
