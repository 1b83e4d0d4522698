"""Which language a person reads: `?lang=` (remembered in a cookie), then the cookie,
then the browser's Accept-Language, then English."""

from __future__ import annotations

from fastapi import Request, Response

from adapters.i18n import LANGUAGES, choose, preferred
from api.security import served_over_https

LANGUAGE_COOKIE = "commitments_lang"
_ONE_YEAR = 365 * 24 * 3600


def chosen_language(request: Request) -> str:
    return choose(
        (
            request.query_params.get("lang"),
            request.cookies.get(LANGUAGE_COOKIE),
            preferred(request.headers.get("accept-language")),
        )
    )


def remember_language(request: Request, response: Response) -> None:
    """A language chosen with `?lang=` is kept for the next pages."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES and request.cookies.get(LANGUAGE_COOKIE) != asked:
        response.set_cookie(
            LANGUAGE_COOKIE,
            asked,
            max_age=_ONE_YEAR,
            httponly=True,
            samesite="lax",
            secure=served_over_https(request),
            path="/",
        )
