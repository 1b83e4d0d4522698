"""The ledger: the hash chain over the event log, recomputed on request."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from adapters.ledger import verify
from api.dependencies import Reader, ServicesDep
from api.json_body import JsonRoute
from api.schemas import READ_PROBLEMS, LedgerOut

router = APIRouter(prefix="/api/v1/ledger", tags=["ledger"], route_class=JsonRoute)


@router.get(
    "",
    response_model=LedgerOut,
    summary="Recompute the hash chain and name the first position that does not match",
    responses=READ_PROBLEMS,
)
def get_ledger(services: ServicesDep, _: Reader) -> Any:
    return verify(services.database, services.checkpoints.operator, services.sealer).as_dict()
