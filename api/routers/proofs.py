"""RFC 9162 proofs over the log's Merkle tree, for witnesses and readers who keep a
checkpoint and want to check an event or a newer log against it (docs/api.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from adapters import proofs
from api.dependencies import Reader, ServicesDep
from api.json_body import JsonRoute
from api.schemas import MAX_POSITION, ConsistencyProofOut, InclusionProofOut, problems

router = APIRouter(prefix="/api/v1/proofs", tags=["proofs"], route_class=JsonRoute)

_PROBLEMS = problems(
    e401="No token, or an unknown or revoked one",
    e404="No event at that position",
    e409="The stored tree is damaged (commitments verify says where)",
    e422="A tree size out of range",
)


@router.get(
    "/inclusion",
    response_model=InclusionProofOut,
    summary="Prove that the event at a position is in the tree of tree_size leaves",
    responses=_PROBLEMS,
)
def get_inclusion_proof(
    services: ServicesDep,
    _: Reader,
    position: Annotated[int, Query(ge=1, le=MAX_POSITION, description="The event's position")],
    tree_size: Annotated[
        int | None,
        Query(ge=1, le=MAX_POSITION, description="The tree to prove it in (default: the log now)"),
    ] = None,
) -> Any:
    return proofs.inclusion(services.database, position, tree_size)


@router.get(
    "/consistency",
    response_model=ConsistencyProofOut,
    summary="Prove that the tree of `to` leaves extends the tree of `from` leaves",
    responses=_PROBLEMS,
)
def get_consistency_proof(
    services: ServicesDep,
    _: Reader,
    from_: Annotated[
        int, Query(alias="from", ge=1, le=MAX_POSITION, description="The older tree's size")
    ],
    to: Annotated[
        int | None,
        Query(ge=1, le=MAX_POSITION, description="The newer tree's size (default: the log now)"),
    ] = None,
) -> Any:
    return proofs.consistency(services.database, from_, to)
