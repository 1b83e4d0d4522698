"""Webhooks (admins only): register a URL for event types (the secret in that answer
only), list, remove, and read each one's delivery log. Delivery: adapters/webhooks.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from adapters.event_text import EVENT_TYPES
from adapters.webhooks import MAX_DESCRIPTION, MAX_URL
from api.dependencies import Admin, ServicesDep
from api.json_body import JsonRoute
from api.schemas import ADMIN_PROBLEMS, problems

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], route_class=JsonRoute)


class WebhookIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://receiver.example/commitments",
                    "event_types": ["ProgressLogged", "StatusChanged"],
                    "description": "Ministry dashboard",
                }
            ]
        },
    )

    url: str = Field(max_length=MAX_URL, description="An http:// or https:// URL")
    event_types: list[str] = Field(
        default_factory=list,
        max_length=len(EVENT_TYPES),
        description="Event types to deliver (" + ", ".join(EVENT_TYPES) + "); empty: every type",
    )
    description: str = Field(default="", max_length=MAX_DESCRIPTION)


class WebhookOut(BaseModel):
    id: str
    url: str
    event_types: list[str] = Field(description="Empty: every type")
    description: str
    created_at: str
    created_by: str
    removed_at: str | None
    position: int = Field(description="The last log position handled (delivered or passed over)")
    failed_attempts: int = Field(description="Failed attempts at the next event to deliver")
    next_attempt_at: str | None = Field(description="When it is tried again (null: at once)")


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="The key of the X-Commitments-Signature HMAC, in this answer only"
    )


class DeliveryOut(BaseModel):
    id: int = Field(description="Pass as ?before= for older attempts")
    delivery_id: str = Field(description="X-Commitments-Delivery: the same for each attempt")
    position: int = Field(description="The event's log position (X-Commitments-Event-Id)")
    event_type: str
    attempt: int = Field(description="1 for the first attempt at this event, then 2, ...")
    delivered: bool
    status_code: int | None = Field(description="The receiver's answer (null: none)")
    error: str | None
    attempted_at: str
    duration_ms: int


_INVALID = problems(e422="Not an http(s) URL, or an unknown event type")


@router.get(
    "",
    response_model=list[WebhookOut],
    summary="The webhooks registered (removed ones with ?include_removed=true), no secrets",
    responses=ADMIN_PROBLEMS,
)
def list_webhooks(_: Admin, services: ServicesDep, include_removed: bool = False) -> Any:
    return [w.as_dict() for w in services.webhooks.list(include_removed=include_removed)]


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreated,
    summary="Register a webhook: the answer carries its secret, which is never shown again",
    description="Events recorded from now on, of the types asked for, are posted to the URL "
    "as CloudEvents, signed with `X-Commitments-Signature: sha256=<HMAC-SHA256 hex of the "
    "body under the secret>`; in log order, at least once, retried with backoff.",
    responses=ADMIN_PROBLEMS | _INVALID,
)
def register_webhook(body: WebhookIn, admin: Admin, services: ServicesDep) -> Response:
    webhook, secret = services.webhooks.register(
        body.url, body.event_types, body.description, admin.actor
    )
    services.deliverer.wake()
    return JSONResponse(
        webhook.as_dict() | {"secret": secret},
        status_code=201,
        headers={"Location": f"{router.prefix}/{webhook.id}"},
    )


@router.get(
    "/{webhook_id}",
    response_model=WebhookOut,
    summary="One webhook, without its secret",
    responses=ADMIN_PROBLEMS | problems(e404="No such webhook"),
)
def get_webhook(webhook_id: str, _: Admin, services: ServicesDep) -> Any:
    return services.webhooks.get(webhook_id).as_dict()


@router.delete(
    "/{webhook_id}",
    status_code=204,
    summary="Stop delivering to a webhook (listed as removed with ?include_removed=true)",
    responses=ADMIN_PROBLEMS | problems(e404="No such webhook"),
)
def remove_webhook(webhook_id: str, _: Admin, services: ServicesDep) -> Response:
    services.webhooks.remove(webhook_id)
    return Response(status_code=204)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=list[DeliveryOut],
    summary="A webhook's delivery attempts, newest first",
    responses=ADMIN_PROBLEMS | problems(e404="No such webhook"),
)
def list_deliveries(
    webhook_id: str,
    _: Admin,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="An attempt's id")] = None,
) -> Any:
    return services.webhooks.deliveries(webhook_id, limit=limit, before=before)
