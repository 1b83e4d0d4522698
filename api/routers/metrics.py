"""Prometheus metrics (no auth, no prefix): counts, latencies and the projection's lag,
nothing about any person or commitment (README, Operations)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.dependencies import ServicesDep
from api.json_body import JsonRoute

router = APIRouter(tags=["health"], route_class=JsonRoute)


@router.get(
    "/metrics",
    summary="Prometheus metrics of this process (text exposition format)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
)
def metrics(services: ServicesDep) -> Response:
    return Response(services.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
