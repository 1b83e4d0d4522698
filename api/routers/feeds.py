"""Atom feeds of changes (adapters/feeds.py): all commitments, one commitment, one pillar.

Read like the dashboard and the API: open with COMMITMENTS_PUBLIC_READ=true, else with a
bearer token (feed readers send one as a header) or the dashboard's sign-in cookie.
Every page links the feeds in its head (`<link rel="alternate" type="application/atom+xml">`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from adapters.feeds import (
    ATOM_MEDIA_TYPE,
    FeedSpec,
    changes_feed,
    commitment_feed,
    pillar_feed,
    render_feed,
)
from api.conditional import (
    NOT_MODIFIED,
    REVALIDATE,
    IfNoneMatch,
    bytes_tag,
    cache_headers,
    none_match,
    not_modified,
)
from api.dependencies import Credentials, ServicesDep, client_address, principal_of
from api.json_body import JsonRoute
from api.language import chosen_language
from api.problems import Problem
from api.schemas import READ_PROBLEMS, problems
from api.session_cookie import session_holder
from domain.vocabulary import Pillar

router = APIRouter(prefix="/feeds", tags=["feeds"], route_class=JsonRoute)

Lang = Annotated[
    Literal["en", "fr", "es"] | None,
    Query(
        description="Language of the feed's text (codes stay codes); default: the "
        "language cookie, then Accept-Language, then English"
    ),
]
_ATOM: dict[int | str, dict[str, Any]] = {
    200: {"content": {ATOM_MEDIA_TYPE: {}}, "description": "An Atom feed, newest first"}
}


async def feed_reader(request: Request, services: ServicesDep, credentials: Credentials) -> None:
    """A bearer token, the dashboard's sign-in cookie, or public read."""
    if credentials is not None:
        await principal_of(services, credentials, client_address(request))
        return
    if services.settings.public_read:
        return
    if await run_in_threadpool(session_holder, request, services) is not None:
        return  # signed in to the dashboard
    raise Problem(
        401,
        "this feed needs `Authorization: Bearer <token>` or the dashboard's sign-in",
        headers={"WWW-Authenticate": "Bearer"},
    )


FeedReader = Annotated[None, Depends(feed_reader)]


def _atom(
    request: Request,
    services: ServicesDep,
    spec: FeedSpec,
    lang: str | None,
    if_none_match: str | None,
) -> Response:
    """The feed; its ETag a hash of its bytes, so a reader polling with If-None-Match
    gets a 304 (no body) until something in it changes."""
    xml = render_feed(
        services.read_database,
        services.tracker,
        spec,
        base_url=str(request.base_url),
        log_origin=services.settings.log_origin,
        lang=lang or chosen_language(request),
    )
    etag = bytes_tag(xml)
    if none_match(if_none_match, etag):
        return not_modified(etag, REVALIDATE)
    response = Response(xml, media_type=f"{ATOM_MEDIA_TYPE}; charset=utf-8")
    cache_headers(response, etag, REVALIDATE)
    return response


@router.get(
    "/changes.atom",
    summary="Atom feed of the latest changes to every commitment",
    response_class=Response,
    responses=_ATOM | READ_PROBLEMS | NOT_MODIFIED,
)
def changes(
    request: Request,
    services: ServicesDep,
    _: FeedReader,
    lang: Lang = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    return _atom(request, services, changes_feed(), lang, if_none_match)


@router.get(
    "/commitments/{code}.atom",
    summary="Atom feed of the latest changes to one commitment",
    response_class=Response,
    responses=_ATOM | READ_PROBLEMS | NOT_MODIFIED | problems(e404="No such commitment"),
)
def commitment_changes(
    request: Request,
    services: ServicesDep,
    _: FeedReader,
    code: Annotated[str, Path(max_length=64, description="The commitment's code or id")],
    lang: Lang = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    commitment = services.tracker.get(code)  # NotFound: 404
    return _atom(request, services, commitment_feed(commitment), lang, if_none_match)


@router.get(
    "/pillars/{pillar}.atom",
    summary="Atom feed of the latest changes to the commitments of one pillar",
    response_class=Response,
    responses=_ATOM | READ_PROBLEMS | NOT_MODIFIED,
)
def pillar_changes(
    request: Request,
    services: ServicesDep,
    _: FeedReader,
    pillar: Pillar,
    lang: Lang = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    spec = pillar_feed(services.read_database, pillar.value)
    return _atom(request, services, spec, lang, if_none_match)
