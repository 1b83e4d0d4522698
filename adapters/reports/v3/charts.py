"""Report format version 3, frozen (verbatim): the charts of its HTML, as SVG text.

Deterministic on purpose: a fixed hash salt for element ids, no date in the metadata,
text kept as text (no embedded glyph paths), so the same data gives the same bytes.
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display here or on servers

import matplotlib.pyplot as plt
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, DateFormatter, date2num

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

PILLAR_LABELS = {
    "prosperity": "Prosperity",
    "mobility_inclusivity_wellbeing": "Mobility, inclusivity, well-being",
    "security": "Security",
    "environment_sustainability": "Environment, sustainability",
    "governance": "Governance",
}


def _svg(figure: Any, title: str) -> str:
    buffer = io.StringIO()
    # A salt per chart keeps element ids distinct between charts inlined in one page.
    with plt.rc_context({"svg.hashsalt": f"commitments-tracker:{title}"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Title": title})
    plt.close(figure)
    svg = buffer.getvalue()
    # Drop the XML prolog and DOCTYPE: the SVG is inlined into HTML.
    return svg[svg.index("<svg") :]


def progress_by_pillar(report: dict[str, Any]) -> str:
    groups = report["headline"]["by_pillar"]
    with plt.rc_context(_STYLE):
        figure, axes = plt.subplots(figsize=(7, 2.8))
        labels = [PILLAR_LABELS.get(g["pillar"], g["pillar"]) for g in groups][::-1]
        ends = [g["progress"]["end"] for g in groups][::-1]
        starts = [g["progress"]["start"] for g in groups][::-1]
        bars = axes.barh(labels, ends, color="#1565c0", label="as of the report date")
        axes.scatter(
            starts, labels, marker="|", s=200, color="#212121", label="period start", zorder=3
        )
        for bar, value in zip(bars, ends, strict=True):
            axes.text(
                bar.get_width() + 1,
                bar.get_y() + bar.get_height() / 2,
                f"{value:.1f}%",
                va="center",
            )
        axes.set_xlim(0, 100)
        axes.set_xlabel("weighted progress (%)")
        axes.legend(loc="lower right", frameon=False, fontsize=8)
        figure.tight_layout()
        return _svg(figure, "Progress by pillar")


def progress_over_time(report: dict[str, Any]) -> str:
    points = report["trend"]
    with plt.rc_context(_STYLE):
        figure, axes = plt.subplots(figsize=(7, 2.6))
        days = [date2num(date.fromisoformat(p["date"])) for p in points]
        values = [p["progress"] for p in points]
        axes.plot(days, values, marker="o", color="#1565c0")
        axes.fill_between(days, values, color="#1565c0", alpha=0.1)
        axes.xaxis.set_major_formatter(DateFormatter("%b %Y"))
        axes.set_ylim(0, 100)
        axes.set_ylabel("weighted progress (%)")
        figure.autofmt_xdate()
        figure.tight_layout()
        return _svg(figure, "Progress over time")


def status_mix(report: dict[str, Any]) -> str:
    groups = report["headline"]["by_pillar"]
    statuses = list(report["headline"]["by_status"])
    with plt.rc_context(_STYLE):
        figure, axes = plt.subplots(figsize=(7, 2.8))
        labels = [PILLAR_LABELS.get(g["pillar"], g["pillar"]) for g in groups][::-1]
        left = [0] * len(groups)
        for status in statuses:
            counts = [g["by_status"][status] for g in groups][::-1]
            if not any(counts):
                continue
            axes.barh(
                labels, counts, left=left, color=COLOURS[status], label=status.replace("_", " ")
            )
            left = [a + b for a, b in zip(left, counts, strict=True)]
        axes.set_xlabel("commitments")
        axes.legend(
            loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=4, frameon=False, fontsize=8
        )
        figure.tight_layout()
        return _svg(figure, "Status mix by pillar")


def milestone_timeline(report: dict[str, Any]) -> str:
    """Open milestones overdue and due soon, plus key dates ahead, on one time axis."""
    items = {
        (m["code"], m["milestone"], m["due_date"], "missed")
        for m in report["milestones"]["overdue"]
    } | {(k["code"], k["what"], k["date"], "planned") for k in report["key_dates"]}
    rows = sorted(items, key=lambda i: (i[2], i[0], i[1]))[:24]
    with plt.rc_context(_STYLE):
        height = max(2.0, 0.28 * len(rows) + 1.0)
        figure, axes = plt.subplots(figsize=(7, height))
        as_of = date2num(date.fromisoformat(report["as_of"]))
        for index, (_, _, due, state) in enumerate(rows):
            axes.scatter(
                date2num(date.fromisoformat(due)), index, color=COLOURS[state], s=30, zorder=3
            )
        axes.set_yticks(
            range(len(rows)), [f"{code}: {_short(what)}" for code, what, _, _ in rows], fontsize=7
        )
        axes.axvline(as_of, color="#212121", linewidth=1, linestyle="--")
        axes.text(as_of, len(rows) - 0.4 if rows else 0, " as of", fontsize=7, va="bottom")
        axes.invert_yaxis()
        locator = AutoDateLocator(maxticks=8)
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        figure.tight_layout()
        return _svg(figure, "Milestone timeline")


def _short(text: str, limit: int = 38) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def all_charts(report: dict[str, Any]) -> dict[str, str]:
    return {
        "Progress by pillar": progress_by_pillar(report),
        "Progress over time": progress_over_time(report),
        "Status mix by pillar": status_mix(report),
        "Milestone timeline (red: overdue, blue: ahead)": milestone_timeline(report),
    }
