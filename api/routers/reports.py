"""Progress reports: the live report in any format, and the archive (byte for byte)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from adapters.reports.render import EXTENSIONS, MEDIA_TYPES
from adapters.reports.verification import UnreadableReport
from api.conditional import (
    IMMUTABLE,
    NOT_MODIFIED,
    REVALIDATE,
    IfNoneMatch,
    cache_headers,
    none_match,
    not_modified,
)
from api.dependencies import Reader, ServicesDep
from api.json_body import JsonRoute
from api.projection_reads import ProjectionReadDep, require_replayed
from api.schemas import (
    ADMIN_PROBLEMS,
    MAX_POSITION,
    PROJECTION_READ_PROBLEMS,
    READ_PROBLEMS,
    ArchivedPage,
    ArchivedReport,
    ReportCheck,
    ReportRequest,
    problems,
)
from api.writes import IDEMPOTENCY_HEADERS, AdminWriteDep
from domain.errors import InvalidValue

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], route_class=JsonRoute)

Format = Literal["json", "csv", "md", "html", "xlsx"]
Language = Literal["en", "fr", "es"]


def _artefacts(description: str, json_schema: dict[str, Any] | None) -> dict[int | str, Any]:
    """The 200 of a route answering with a report artefact: one media type per format
    (application/json: `json_schema`, or the route's response model's when None)."""
    content: dict[str, Any] = {
        media_type.split(";")[0]: {"schema": {"type": "string"}}
        for fmt, media_type in MEDIA_TYPES.items()
        if fmt != "json"
    }
    if json_schema is not None:
        content["application/json"] = {"schema": json_schema}
    # xlsx is binary
    content[MEDIA_TYPES["xlsx"]] = {"schema": {"type": "string", "format": "binary"}}
    return {200: {"description": description, "content": content}}


def _artefact_response(
    content: bytes,
    media_type: str,
    fmt: str,
    name: str,
    sha256: str,
    *,
    if_none_match: str | None,
    cache_control: str,
) -> Response:
    """The artefact, its sha256 as ETag; 304 if If-None-Match names it."""
    etag = f'"{sha256}"'
    if none_match(if_none_match, etag):
        return not_modified(etag, cache_control)
    disposition = "inline" if fmt in ("json", "html") else "attachment"
    response = Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'{disposition}; filename="{name}.{EXTENSIONS[fmt]}"',
            "X-Content-SHA256": sha256,
        },
    )
    cache_headers(response, etag, cache_control)
    return response


@router.get(
    "/progress",
    summary="The progress report, now or as the log stood at a position",
    description=(
        "Built from the event log up to `at_position` (default: the last event), for the "
        "`as_of` date (default: today) and a period of `period_days` (default 30). The same "
        "three inputs always give the same bytes. The ETag is their sha256 (a 304 for "
        "If-None-Match naming it); `Cache-Control: no-cache`, as the head moves."
    ),
    responses=PROJECTION_READ_PROBLEMS
    | problems(e422="Invalid format, date or position, or a min_position beyond the log's head")
    | _artefacts("The report in the format asked for (json by default)", {"type": "object"})
    | NOT_MODIFIED,
    response_class=Response,
)
def get_progress_report(
    services: ServicesDep,
    _: Reader,
    # Read-your-writes on a read replica: ?min_position= waits until it has replayed them.
    __: ProjectionReadDep,
    format: Format = "json",
    as_of: date | None = None,
    at_position: Annotated[int | None, Query(ge=0, le=MAX_POSITION)] = None,
    period_days: Annotated[int | None, Query(ge=1, le=366)] = None,
    lang: Language = "en",
    if_none_match: IfNoneMatch = None,
) -> Response:
    require_replayed(services, at_position)
    reports = services.read_reports  # the replica's, if any
    inputs = reports.inputs(
        at_position=at_position,
        as_of=as_of,
        period_days=period_days,
        today=datetime.now(UTC).date(),
        language=lang,
    )
    artefact = reports.served(inputs, format)
    name = f"progress-{inputs.as_of.isoformat()}-at-{inputs.at_position}"
    response = _artefact_response(
        artefact.content,
        artefact.media_type,
        format,
        name,
        artefact.sha256,
        if_none_match=if_none_match,
        cache_control=REVALIDATE,
    )
    # Built from the log itself (always current), up to this position.
    response.headers["X-Log-Position"] = str(inputs.at_position)
    return response


@router.get(
    "",
    response_model=ArchivedPage,
    summary="Archived reports, newest first, paged by cursor",
    responses=READ_PROBLEMS,
)
def list_reports(
    services: ServicesDep,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    schedule: Annotated[str | None, Query(max_length=64)] = None,
) -> Any:
    items, next_cursor = services.reports.list(limit=limit, cursor=cursor, schedule=schedule)
    return {"items": items, "next_cursor": next_cursor}


@router.post(
    "",
    status_code=201,
    response_model=ArchivedReport,
    summary="Generate a report now and archive it",
    responses=ADMIN_PROBLEMS
    | problems(
        e400="Malformed Idempotency-Key header",
        e422="Invalid formats, date or position, or an Idempotency-Key reused with another request",
    ),
    openapi_extra=IDEMPOTENCY_HEADERS,
)
def create_report(body: ReportRequest, write: AdminWriteDep, response: Response) -> Any:
    reports, actor = write.services.reports, write.principal.actor
    request = write.idempotency(body)
    stored = reports.answered(actor, request) if request else None
    replayed = stored is not None
    if stored is None:
        inputs = reports.inputs(
            at_position=body.at_position,
            as_of=body.as_of,
            period_days=body.period_days,
            today=datetime.now(UTC).date(),
            language=body.lang,
        )
        stored = reports.archive(inputs, body.formats, generated_by=actor, request=request)
        if stored is None:  # the same request, at the same moment: its report is the answer
            assert request is not None
            stored, replayed = reports.answered(actor, request), True
    assert stored is not None  # (a key's record is committed with its report)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"{router.prefix}/{stored['id']}"
    return stored


@router.post(
    "/verify",
    response_model=ReportCheck,
    summary="Check a report file: regenerate it from the inputs it records and compare",
    description="The body is the report file as it was received, in any of the five "
    "formats (up to 32 MiB). The answer says whether it is the report its inputs give "
    "(else where it differs) and whether its chain head is the log's at its position.",
    responses=READ_PROBLEMS | problems(e413="Over 32 MiB", e422="Not a report of this program"),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def verify_report(request: Request, services: ServicesDep, _: Reader) -> Any:
    content = await request.body()
    try:
        return await run_in_threadpool(services.reports.check, content)
    except UnreadableReport as error:
        raise InvalidValue(f"the body is not a report this program wrote: {error}") from None


@router.get(
    "/{report_id}",
    response_model=ArchivedReport,
    summary="An archived report's description, or with ?format= its artefact byte for byte",
    responses=READ_PROBLEMS
    | problems(
        e404="No such report, or not archived in that format",
        e409="The archived bytes no longer have their recorded sha256 or seal (the archive "
        "was changed)",
    )
    | _artefacts(
        "The description (no ?format=), or the stored artefact byte for byte",
        None,
    )
    | NOT_MODIFIED,
    description="An artefact's bytes never change (content-addressed): its ETag is their "
    "sha256 (a 304 for If-None-Match naming it) and it may be kept for a year "
    "(`Cache-Control: private, max-age=31536000, immutable`).",
)
def get_report(
    report_id: str,
    services: ServicesDep,
    _: Reader,
    format: Format | None = None,
    if_none_match: IfNoneMatch = None,
) -> Any:
    if format is None:
        return services.reports.get(report_id)
    artefact = services.reports.artefact(report_id, format)
    response = _artefact_response(
        artefact.content,
        artefact.media_type,
        format,
        f"report-{report_id}",
        artefact.sha256,
        if_none_match=if_none_match,
        cache_control=IMMUTABLE,
    )
    if artefact.sealed is not None:  # a server with the signing key checked for a seal
        response.headers["X-Content-Sealed"] = "true" if artefact.sealed else "false"
    return response
