"""Pydantic models: the wire contract of CONTRACT section 4, as documented in /docs."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SourceOut(BaseModel):
    title: str
    url: str | None = None
    quote: str | None = None


class EvidenceOut(BaseModel):
    url: str
    title: str
    publisher: str | None = None
    published_on: date | None = None


class MilestoneOut(BaseModel):
    id: str = Field(examples=["m1"])
    title: str
    due_date: date
    original_due_date: date
    times_rescheduled: int
    status: str = Field(description="planned, completed or missed (derived)", examples=["planned"])
    completed_on: date | None = None
    completion_note: str | None = None


class MeasurementOut(BaseModel):
    value: float
    as_of: date


class IndicatorOut(BaseModel):
    id: str = Field(examples=["i1"])
    name: str
    unit: str
    baseline: float
    target: float
    latest: MeasurementOut | None = None
    measurements: int


class CommitmentOut(BaseModel):
    """A commitment as it is (or was, for time-travel queries)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "ab0bedc0-4ee2-5269-8b9d-eab3359f6db2",
                    "code": "CMAP-PROS-RAIL",
                    "version": 7,
                    "title": "Long-term rail infrastructure and corridors",
                    "pillar": "prosperity",
                    "status": "in_progress",
                    "health": "amber",
                    "progress": 40,
                }
            ]
        }
    )

    id: str
    code: str
    version: int
    title: str
    description: str
    pillar: str
    sectors: list[str]
    parties: list[str]
    lead_party: str
    agencies: dict[str, list[str]]
    start_date: date | None
    target_date: date | None
    status: str
    status_reason: str | None
    status_as_of: date | None
    superseded_by: str | None
    health: str | None
    health_rationale: str | None
    health_as_of: date | None
    progress: int | None
    progress_as_of: date | None
    confidence: int | None
    overdue: bool
    milestones: list[MilestoneOut]
    indicators: list[IndicatorOut]
    evidence: list[EvidenceOut]
    source: SourceOut | None
    registered_at: str
    updated_at: str


class HistoryEntry(BaseModel):
    position: int = Field(description="Position of the event in the global log")
    version: int
    type: str = Field(examples=["ProgressLogged"])
    recorded_at: str
    actor: str
    data: dict[str, Any]
    hash: str | None = Field(description="Hash-chain entry of the event (comes with the ledger)")


class ProblemOut(BaseModel):
    type: str
    title: str
    status: int
    detail: str


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemOut, "content": {"application/problem+json": {}}, "description": text}
    for code, text in {
        401: "No token, or an unknown or revoked one",
        404: "No such commitment (or version)",
        422: "Invalid query or body",
    }.items()
}
