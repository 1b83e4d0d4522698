"""The dashboard: server-rendered pages for people (Jinja2), no scripts, no external calls.

`/` is the portfolio (the report's headline and charts, a filterable table) and
`/c/{code}` one commitment with its milestones, indicators and history. Unless
COMMITMENTS_PUBLIC_READ=true a person signs in once with a token, which starts a
server-side session (adapters/sessions.py) whose random id the HttpOnly cookie holds;
the JSON API itself only takes bearer tokens.
"""

from __future__ import annotations

import threading
import weakref
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any, cast
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from adapters.bootstrap import Services
from adapters.event_text import item_names, summary
from adapters.history import commitment_history
from adapters.i18n import LANGUAGE_NAMES, N_, add_translations, label, translator
from adapters.read_models import commitment_texts
from adapters.reports.data import ReportInputs
from adapters.reports.render import MEDIA_TYPES
from adapters.tokens import TooManyFailures
from api.dependencies import ServicesDep, client_address
from api.form_specs import actions
from api.language import chosen_language, remember_language
from api.security import CSRF_COOKIE, CsrfTokens, set_csrf_cookie
from api.session_cookie import (
    SESSION_COOKIE,
    forget_session_cookie,
    session_holder,
    set_session_cookie,
)
from api.untranslated import marked
from domain.errors import NotFound
from domain.translations import ORIGINAL_LANGUAGE, localized
from domain.views import CommitmentResource, describe
from domain.vocabulary import Health, Pillar, Status

router = APIRouter(include_in_schema=False)


@cache
def templates_for(language: str) -> Jinja2Templates:
    """The pages in `language`. Autoescape everything: titles and notes are user input
    (the .j2 suffix would otherwise switch Jinja's default escaping off)."""
    environment = Environment(
        loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "templates"),
        autoescape=True,
    )
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


_cache_lock = threading.Lock()
# Per process's report archive: the report and charts, and what they were built for.
_cache: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _portfolio(services: Services) -> tuple[dict[str, Any], dict[str, Markup]]:
    """The report (and its charts) for today at the log's head, rebuilt only when either moves."""
    from adapters.reports.charts import all_charts  # matplotlib: slow to import, so here

    key = (services.reports.head(), datetime.now(UTC).date())
    with _cache_lock:
        cache = _cache.setdefault(services.reports, {})
        if cache.get("key") != key:
            report = services.reports.build(ReportInputs(*key))
            charts = {title: Markup(svg) for title, svg in all_charts(report).items()}
            cache.update(key=key, report=report, charts=charts)
        return cache["report"], cache["charts"]


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


@router.get("/", response_class=HTMLResponse)
def overview(
    request: Request,
    services: ServicesDep,
    pillar: str = "",
    party: str = "",
    status: str = "",
    health: str = "",
) -> Response:
    signed_in = _signed_in(request, services)
    if signed_in is None:
        return _to_login(request)
    report, charts = _portfolio(services)
    parties = sorted({p for c in report["commitments"] for p in c["parties"]})
    selects = [
        ("pillar", N_("Pillar"), [p.value for p in Pillar]),
        ("party", N_("Party"), parties),
        ("status", N_("Status"), [s.value for s in Status]),
        ("health", N_("Health"), [h.value for h in Health] + ["unrated"]),
    ]
    requested = {"pillar": pillar, "party": party, "status": status, "health": health}
    # Unknown values are ignored rather than refused: this is a page, not an API.
    chosen = {
        name: value if value in options else ""
        for (name, _, options), value in zip(selects, requested.values(), strict=True)
    }
    shown = [
        c
        for c in report["commitments"]
        if (not chosen["pillar"] or c["pillar"] == chosen["pillar"])
        and (not chosen["party"] or chosen["party"] in c["parties"])
        and (not chosen["status"] or c["status"] == chosen["status"])
        and (not chosen["health"] or (c["health"] or "unrated") == chosen["health"])
    ]
    shown = _in_language(services, shown, chosen_language(request))
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
            "shown": shown,
            "selects": selects,
            "chosen": chosen,
            "filtered": any(chosen.values()),
            "counts": counts,
            "progress": progress,
            "at_risk": sum(1 for c in shown if c["health"] in ("amber_red", "red")),
            "overdue": sum(1 for c in shown if c["overdue"]),
            # Closures proposed by one party, awaiting another, by code.
            "closing": {p["code"]: p for p in report.get("pending_closures", [])},
            "signed_in": signed_in,
        },
    )


def _in_language(
    services: Services, rows: list[dict[str, Any]], language: str
) -> list[dict[str, Any]]:
    """The report's rows with their titles and next milestones in `language`, untranslated
    ones marked. The translations come from the read model, which names each row's next
    milestone by id (a report row names it by title only)."""
    if language == ORIGINAL_LANGUAGE or not rows:
        return rows
    with services.database.reading() as connection:
        texts = commitment_texts(connection)
    shown = []
    for row in rows:
        known = texts.get(row["code"], {})
        view = {"title": row["title"], "translations": known.get("translations")}
        upcoming, stored = row["next_milestone"], known.get("next_milestone")
        if upcoming is not None:
            if stored is not None and stored["title"] == upcoming["title"]:
                upcoming = upcoming | {"id": stored["id"]}
            view["next_milestone"] = upcoming
        words = marked(localized(view, language))
        shown.append(row | {k: words[k] for k in ("title", "next_milestone") if k in words})
    return shown


@router.get("/c/{code}", response_class=HTMLResponse)
def commitment_page(
    code: str, request: Request, services: ServicesDep, saved: str = ""
) -> Response:
    holder = session_holder(request, services)
    signed_in = holder is not None or (False if services.settings.public_read else None)
    if signed_in is None:
        return _to_login(request)
    try:
        commitment = services.tracker.get(code)
    except NotFound as error:
        return _page(
            request,
            "not_found.html.j2",
            {"message": error.message, "signed_in": signed_in},
            status_code=404,
        )
    language = chosen_language(request)
    described = localized(describe(commitment, datetime.now(UTC).date()), language)
    names = item_names(described)
    history = [
        e
        | {
            "label": label(e["type"], language),
            "summary": summary(e["type"], e["data"], names, language),
        }
        for e in commitment_history(services.database, services.tracker, code)
    ]
    return _page(
        request,
        "commitment.html.j2",
        {
            # Sectors are an open list of slugs: the known ones read as words.
            "c": marked(described)
            | {"sectors": [label(s, language) for s in described["sectors"]]},
            "history": history,
            "signed_in": signed_in,
            # The forms the holder may use here (api/routers/forms.py), or why none.
            "actions": actions(cast(CommitmentResource, described), holder, saved, language),
        },
    )


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
    inputs = ReportInputs(services.reports.head(), datetime.now(UTC).date())
    [artefact] = services.reports.generate(inputs, [fmt])
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
    # Before the token is looked at: a forged sign-in (login CSRF) counts as no attempt.
    if not request.app.state.csrf.valid(request, csrf_token):
        return _login_page(
            request,
            next,
            "This form expired or did not come from this site; sign in again.",
            status_code=403,
        )
    try:
        principal = services.authenticate.check(token.strip(), client_address(request))
    except TooManyFailures as error:
        return _login_page(
            request,
            next,
            f"Too many failed sign-ins from here; try again in {error.seconds} s.",
            status_code=429,
            **{"Retry-After": str(error.seconds)},
        )
    if principal is None:
        return _login_page(
            request, next, "That token is unknown or revoked, or has expired.", status_code=401
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
            "This form expired or did not come from this site; sign out again.",
            status_code=403,
        )
    # Ended on the server: the old cookie no longer works, wherever it was copied to.
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        services.sessions.end(session_id)
    response = RedirectResponse("/login", status_code=303)
    forget_session_cookie(response, request)
    return response
