"""The dashboard: server-rendered pages for people (Jinja2), no scripts, no external calls.

`/` is the portfolio (the report's headline and charts, a filterable table) and
`/c/{code}` one commitment with its milestones, indicators and history. Unless
COMMITMENTS_PUBLIC_READ=true a person signs in once with a token, which starts a
server-side session (adapters/sessions.py) whose random id the HttpOnly cookie holds;
the JSON API itself only takes bearer tokens.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any, cast
from urllib.parse import quote, urlencode

import orjson
from babel.dates import format_date
from cachetools import LRUCache
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from adapters.bootstrap import Services
from adapters.event_text import REVISED_FIELDS, item_names, summary
from adapters.history import (
    PROGRESS_TOPIC,
    commitment_log,
    progress_points,
    revisions,
    versions_in_view,
)
from adapters.i18n import LANGUAGE_NAMES, add_translations, label, translator
from adapters.reports.render import MEDIA_TYPES
from adapters.tokens import TooManyFailures
from api.dependencies import ServicesDep, client_address
from api.form_specs import actions
from api.language import chosen_language, remember_language
from api.portfolio import (
    ORDERS,
    SORTS,
    PortfolioQuery,
    filter_groups,
    keeps,
    ordered,
    portfolio,
    read_query,
)
from api.security import CSRF_COOKIE, CsrfTokens, set_csrf_cookie
from api.session_cookie import (
    SESSION_COOKIE,
    forget_session_cookie,
    session_holder,
    set_session_cookie,
)
from api.time_travel import Moment, read_moment, utc_text
from api.untranslated import marked
from domain.errors import DomainError, InvalidValue, NotFound
from domain.schedule import MAX_PERIOD_DAYS
from domain.translations import localized
from domain.views import CommitmentResource, describe, judgement_day
from domain.vocabulary import EARLIEST_DATE, LATEST_DATE, Status

router = APIRouter(include_in_schema=False)


@cache
def templates_for(language: str) -> Jinja2Templates:
    """The pages in `language`. Autoescape everything: titles and notes are user input
    (the .j2 suffix would otherwise switch Jinja's default escaping off)."""
    environment = Environment(
        loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "templates"),
        autoescape=True,
    )
    environment.filters["shown_value"] = lambda value, field: _shown_value(value, field, language)
    return Jinja2Templates(env=add_translations(environment, language))


def _render(
    request: Request,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A page in the reader's language, with the switch to the others."""
    language = chosen_language(request)
    switch = []
    for code, name in LANGUAGE_NAMES.items():
        url = request.url.include_query_params(lang=code)
        switch.append((code, name, f"{url.path}?{url.query}"))
    response = templates_for(language).TemplateResponse(
        request,
        template,
        context | {"languages": switch},
        status_code=status_code,
        headers=headers,
    )
    remember_language(request, response)
    return response


def _signed_in(request: Request, services: Services) -> bool | None:
    """True or False (public read) when the page may be shown; None when a sign-in is needed."""
    if session_holder(request, services) is not None:
        return True
    return False if services.settings.public_read else None


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"/login?next={quote(target)}", status_code=303)
    # Ended, revoked or expired: forget it, so that each later page view does not count
    # as another failed sign-in from this address (and lock it out with 429s).
    forget_session_cookie(response, request)
    return response


def _page(
    request: Request,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
    *,
    form: bool = False,
    headers: dict[str, str] | None = None,
) -> Response:
    """A page. One with a form that posts (sign-in; sign-out, on every signed-in page)
    carries a CSRF token, and its cookie (kept or made)."""
    if not (form or context.get("signed_in")):
        return _render(request, template, context, status_code, headers)
    csrf: CsrfTokens = request.app.state.csrf
    cookie, token = csrf.issue(request)
    response = _render(request, template, context | {"csrf_token": token}, status_code, headers)
    if cookie != request.cookies.get(CSRF_COOKIE):
        set_csrf_cookie(response, request, cookie)
    return response


# The rows of the portfolio's table listed at once, in the order chosen: a page of a
# thousand takes a tenth of a second to build and is long to scroll; the headline still
# counts every commitment that passes the filters. `?rows=all` lists every one.
PORTFOLIO_LISTED = 100


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, services: ServicesDep, rows: str = "") -> Response:
    """The portfolio: headline, a searchable, filterable, sortable table (its first
    PORTFOLIO_LISTED rows; `?rows=all`: every one), the charts. Filters repeat
    (`status=a&status=b`: either); see api/portfolio.py."""
    signed_in = _signed_in(request, services)
    if signed_in is None:
        return _to_login(request)
    language = chosen_language(request)
    report, charts, summaries = portfolio(services, language)
    # Searched and sorted in the reader's language; untranslated text marked once listed.
    every = [localized(c, language) for c in summaries]
    groups = filter_groups(every)
    params = {name: request.query_params.getlist(name) for name in request.query_params}
    query = read_query(params, groups)
    shown = ordered((c for c in every if keeps(query.filters, c)), query)
    listed = [marked(c) for c in (shown if rows == "all" else shown[:PORTFOLIO_LISTED])]
    counts = {s.value: sum(1 for c in shown if c["status"] == s.value) for s in Status}
    # As in the report: a commitment completed in full counts 100 (counted_progress).
    counted = [c["counted_progress"] or 0 for c in shown]
    progress = round(sum(counted) / len(shown), 1) if shown else 0.0
    return _page(
        request,
        "overview.html.j2",
        {
            "r": report,
            "charts": charts,
            "total": len(every),
            "shown": shown,
            "listed": listed,
            "all_rows": rows == "all",
            "at_most": PORTFOLIO_LISTED,
            "first_rows": _as_asked(request, drop=("rows",)),
            "every_row": _as_asked(request, drop=("rows",), add=("rows", "all")),
            "groups": groups,
            "query": query,
            "sorts": SORTS,
            "orders": ORDERS,
            "sort_links": _sort_links(request, query),
            "counts": counts,
            "progress": progress,
            "at_risk": sum(1 for c in shown if c["health"] in ("amber_red", "red")),
            "overdue": sum(1 for c in shown if c["overdue"]),
            "closing": sum(1 for c in shown if c["pending_closure"]),
            "signed_in": signed_in,
        },
    )


def _as_asked(
    request: Request, *, drop: tuple[str, ...], add: tuple[str, str] | None = None
) -> str:
    """A link to this page as asked, without the parameters `drop` and with `add`."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in drop]
    return "?" + urlencode(kept + ([add] if add else []))


def _sort_links(request: Request, query: PortfolioQuery) -> dict[str, str]:
    """For each column: this page ordered by it (the other way round if it already is)."""
    links = {}
    for name in SORTS:
        order = "desc" if name == query.sort and query.order == "asc" else "asc"
        url = request.url.remove_query_params(["sort", "order"]).include_query_params(
            sort=name, order=order
        )
        links[name] = f"{url.path}?{url.query}"
    return links


# The newest entries of the timeline a commitment's page shows: one logged weekly for
# three years has about 300, and a page of a thousand takes a quarter of a second to
# build and is long to scroll. `?timeline=all` shows every one.
TIMELINE_SHOWN = 100


@router.get("/c/{code}", response_class=HTMLResponse)
def commitment_page(
    code: str, request: Request, services: ServicesDep, saved: str = "", timeline: str = ""
) -> Response:
    """One commitment, now or as it was (`?as_of=`, `?known_at=`, `?version=`: the
    questions GET /api/v1/commitments/{ref} answers), with its progress chart and timeline
    (the newest TIMELINE_SHOWN entries; `?timeline=all`: every one)."""
    holder = session_holder(request, services)
    signed_in = holder is not None or (False if services.settings.public_read else None)
    if signed_in is None:
        return _to_login(request)
    language = chosen_language(request)
    gettext = translator(language).gettext
    try:
        current = services.tracker.get(code)
    except NotFound:
        return not_found_page(request, code, signed_in)
    moment = read_moment(request.query_params, gettext)
    problems = list(moment.problems)
    commitment = current
    if moment.past:
        try:
            commitment = services.tracker.state(
                code, version=moment.version, as_of=moment.as_of, known_at=moment.known_at
            )
        except (NotFound, InvalidValue) as error:
            problems.append(_not_then(error, moment, current.version, gettext))
            moment = Moment()
    shown = moment if not problems else Moment()
    today = datetime.now(UTC).date()
    day = judgement_day(
        commitment,
        today=today,
        version=shown.version,
        as_of=shown.as_of,
        known_at=shown.known_at,
    )
    described = localized(describe(commitment, day), language)
    names = item_names(described)
    # The commitment's events read once, for the timeline, the revisions and the chart;
    # each decoded only if one of them needs it (now: the entries shown, the progress).
    log = commitment_log(services.database, services.tracker, current.id)
    in_view = (
        versions_in_view(
            (logged.event for logged in log),
            version=shown.version,
            as_of=shown.as_of,
            known_at=shown.known_at,
        )
        if shown.past
        else {logged.version for logged in log}
    )
    viewed = [logged for logged in log if logged.version in in_view]
    hidden = 0 if timeline == "all" else max(0, len(viewed) - TIMELINE_SHOWN)
    entries = [logged.entry() for logged in viewed[hidden:]]
    revised = revisions((logged.event for logged in log), entries)
    history = [
        e
        | {
            "label": label(e["type"], language),
            "summary": summary(e["type"], e["data"], names, language),
            "changes": revised.get(e["version"], {}),
        }
        for e in entries
    ]
    points = progress_points(logged.event for logged in viewed if logged.topic == PROGRESS_TOPIC)
    return _page(
        request,
        "commitment.html.j2",
        {
            # Sectors are an open list of slugs: the known ones read as words.
            "c": marked(described),
            "history": history,
            "history_hidden": hidden,
            # The page as asked, with every entry (not "saved": that was the last visit's).
            "whole_timeline": _as_asked(
                request, drop=("saved", "timeline"), add=("timeline", "all")
            ),
            "timeline": timeline,
            "moment": shown,
            "asked": request.query_params,
            "problems": problems,
            "latest_version": current.version,
            "recorded": utc_text(commitment.modified_on),
            "known_at": utc_text(shown.known_at) if shown.known_at else None,
            "points": points,
            "chart": _progress_chart(points, described, day, language),
            "c_day": day,
            "field_names": REVISED_FIELDS,
            "signed_in": signed_in,
            # The forms the holder may use here (api/routers/forms.py), or why none.
            # None on a past state: what is recorded is recorded now, so no forms there.
            "actions": None
            if shown.past or problems
            else actions(cast(CommitmentResource, described), holder, saved, language),
        },
        status_code=400 if problems else 200,
    )


def not_found_page(request: Request, code: str, signed_in: bool) -> Response:
    """The page for a code (or id) that names no commitment, in the reader's words."""
    _ = translator(chosen_language(request)).gettext
    message = _("There is no commitment “%(code)s”. Check its code on the portfolio.")
    return _page(
        request,
        "not_found.html.j2",
        {"message": message % {"code": code}, "signed_in": signed_in},
        status_code=404,
    )


def _not_then(error: DomainError, moment: Moment, latest: int, gettext: Any) -> str:
    """Why the past state asked for cannot be shown, in the reader's words."""
    if moment.version is not None and isinstance(error, NotFound):
        return str(
            gettext("There is no version %(asked)s: the latest is version %(latest)s.")
            % {"asked": moment.version, "latest": latest}
        )
    if moment.known_at is not None and isinstance(error, NotFound):
        return str(
            gettext("This commitment was not registered yet at %(when)s.")
            % {"when": utc_text(moment.known_at)}
        )
    return error.message


# Each commitment chart's SVG by what it shows: a page viewed again, or by another
# reader, is not drawn again (matplotlib takes tens of milliseconds a chart).
_charts: LRUCache[tuple[str, date, bytes], Markup] = LRUCache(maxsize=256)
_charts_lock = threading.Lock()


def _progress_chart(
    points: list[tuple[date, int]], described: Any, day: date, language: str
) -> Markup:
    """The commitment's chart (adapters/reports/charts.py) in the reader's words."""
    from adapters.reports.charts import (  # matplotlib: slow to import
        COMMITMENT_CHART_WORDS,
        commitment_progress,
    )

    milestones = [
        {key: m[key] for key in ("due_date", "completed_on", "status")}
        for m in described["milestones"]
    ]
    shown = (language, day, orjson.dumps([points, milestones]))
    with _charts_lock:
        if shown in _charts:
            return _charts[shown]
    gettext = translator(language).gettext
    words = {key: gettext(message) for key, message in COMMITMENT_CHART_WORDS.items()}
    svg = Markup(
        commitment_progress(
            points,
            milestones,
            day,
            words=words,
            month=lambda d: format_date(d, "MMM y", locale=language),
        )
    )
    with _charts_lock:
        _charts[shown] = svg
    return svg


def _shown_value(value: Any, field: str, language: str) -> str:
    """A revised field's value as people read it: sectors and parties in words, lists
    joined, agencies by party."""
    if value is None or value == "" or value == [] or value == {}:
        return "\N{EN DASH}"
    if isinstance(value, dict):
        return "; ".join(
            f"{label(party, language)}: {', '.join(names)}" for party, names in value.items()
        )
    if isinstance(value, list):
        return ", ".join(label(v, language) if field == "sectors" else str(v) for v in value)
    return str(value)


@router.get("/report.{fmt}")
def report_file(fmt: str, request: Request, services: ServicesDep) -> Response:
    """Today's full report for people signed in to the dashboard (the API wants a bearer)."""
    if fmt not in MEDIA_TYPES:
        message = translator(chosen_language(request)).gettext(
            "There is no report format %(format)s."
        )
        return _render(
            request,
            "not_found.html.j2",
            {"message": message % {"format": repr(fmt)}, "signed_in": False},
            status_code=404,
        )
    signed_in = _signed_in(request, services)
    if signed_in is None:
        return _to_login(request)
    language = chosen_language(request)
    _ = translator(language).gettext
    # The month (or any period) an official asks for: ?as_of=DATE&period_days=N, as the API.
    as_of, period = (
        request.query_params.get("as_of", ""),
        request.query_params.get("period_days", ""),
    )
    try:
        inputs = services.read_reports.inputs(
            at_position=None,
            as_of=date.fromisoformat(as_of) if as_of else None,
            period_days=int(period) if period else None,
            today=datetime.now(UTC).date(),
            language=language,
        )
    except (ValueError, InvalidValue):
        message = _(
            "Choose a date from %(first)s to %(last)s (such as 2026-03-31) for as_of, "
            "and from 1 to %(days)s days for period_days."
        ) % {"first": EARLIEST_DATE, "last": LATEST_DATE, "days": MAX_PERIOD_DAYS}
        return _page(
            request,
            "not_found.html.j2",
            {"heading": _("This report cannot be made"), "message": message, "signed_in": True},
            status_code=400,
        )
    [artefact] = services.read_reports.generate(inputs, [fmt])
    disposition = "inline" if fmt in ("html", "json") else "attachment"
    return Response(
        artefact.content,
        media_type=artefact.media_type,
        headers={"Content-Disposition": f'{disposition}; filename="progress-{inputs.as_of}.{fmt}"'},
    )


def _safe_next(target: str) -> str:
    """Only paths of this site, so the sign-in cannot send anyone elsewhere."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _login_page(
    request: Request, next: str, error: str | None, status_code: int = 200, **headers: str
) -> Response:
    """The sign-in form."""
    return _page(
        request,
        "login.html.j2",
        {"next": _safe_next(next), "error": error, "signed_in": False},
        status_code,
        form=True,
        headers=headers or None,
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:
    return _login_page(request, next, None)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    services: ServicesDep,
    token: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=2000)] = "/",
    csrf_token: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    _ = translator(chosen_language(request)).gettext
    # Before the token is looked at: a forged sign-in (login CSRF) counts as no attempt.
    if not request.app.state.csrf.valid(request, csrf_token):
        return _login_page(
            request,
            next,
            _("This form expired or did not come from this site; sign in again."),
            status_code=403,
        )
    try:
        principal = services.authenticate.check(token.strip(), client_address(request))
    except TooManyFailures as error:
        return _login_page(
            request,
            next,
            _("Too many failed sign-ins from here; try again in %(seconds)s seconds.")
            % {"seconds": error.seconds},
            status_code=429,
            **{"Retry-After": str(error.seconds)},
        )
    if principal is None:
        return _login_page(
            request,
            next,
            _("That access key is unknown, has been revoked or has expired."),
            status_code=401,
        )
    # The cookie holds a new session's id, never the token (adapters/sessions.py).
    session_id = services.sessions.start(principal)
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_session_cookie(response, request, session_id)
    return response


@router.get("/logout", response_class=HTMLResponse)
def logout_form(request: Request, services: ServicesDep) -> Response:
    """Signing out changes state, so it is a POST with a CSRF token: a link or an image
    on another site cannot sign anyone out. GET shows the form."""
    return _logout_page(request, _signed_in(request, services) is True, None)


def _logout_page(
    request: Request, signed_in: bool, error: str | None, status_code: int = 200
) -> Response:
    return _page(
        request,
        "logout.html.j2",
        {"signed_in": signed_in, "error": error},
        status_code=status_code,
    )


@router.post("/logout", response_class=HTMLResponse)
def logout(
    request: Request,
    services: ServicesDep,
    csrf_token: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if not request.app.state.csrf.valid(request, csrf_token):
        return _logout_page(
            request,
            _signed_in(request, services) is True,
            translator(chosen_language(request)).gettext(
                "This form expired or did not come from this site; sign out again."
            ),
            status_code=403,
        )
    # Ended on the server: the old cookie no longer works, wherever it was copied to.
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        services.sessions.end(session_id)
    response = RedirectResponse("/login", status_code=303)
    forget_session_cookie(response, request)
    return response
