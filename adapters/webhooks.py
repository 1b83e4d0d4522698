"""Webhooks: an admin registers a URL and the event types it wants; the deliverer posts
each such event of the log to it, signed, at least once, in log order.

Registration (WebhookStore) gives the secret once; the webhook starts after the log's head
at that moment (it gets what happens from then on, not the past: that is the export's
job). Webhooks are configuration, not facts about commitments: rows, not events.

Delivery (WebhookDeliverer): for each webhook, the next commitment event after its
`position` that is of a type it asked for is posted; on a 2xx answer the position moves
past it in the same transaction that logs the delivery, so a crash between the post and
the commit posts it again (at least once: receivers de-duplicate on
X-Commitments-Delivery). Any other answer, or no answer, is logged and retried with
exponential backoff (tenacity's wait_exponential: 2 s, 4 s, ... up to 10 min), never
skipping past it: a webhook sees the log in order, hence each commitment's events in
order. One webhook's failures do not hold up the others.

The body is the event as a CloudEvent (adapters/open_data.py, the same bytes as
`export --format cloudevents`), `Content-Type: application/cloudevents+json`, and the
headers say:

- `X-Commitments-Signature: sha256=<hex>`: HMAC-SHA256 of the exact body bytes under the
  webhook's secret;
- `X-Commitments-Event-Id`: the event's log position (the CloudEvent's id);
- `X-Commitments-Event-Type`: ProgressLogged, ...;
- `X-Commitments-Delivery`: one id per (webhook, event), the same for every attempt;
- `X-Commitments-Timestamp`: when this attempt was made (Unix seconds).

One deliverer is active across processes: the one holding the lease `webhooks`
(adapters/leases.py), as for the projection follower; every write it makes checks the
lease in its transaction. It runs inside `commitments serve` (unless
COMMITMENTS_WEBHOOKS=false) and alone as `commitments webhooks deliver`.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection, func, insert, select, update
from tenacity import RetryCallState, Retrying, wait_exponential

from adapters.database import Database
from adapters.event_text import EVENT_TYPES
from adapters.history import commitment_events
from adapters.leases import Lease, LeaseLost, failure
from adapters.open_data import CLOUDEVENTS_MEDIA_TYPE, cloudevent_bytes, code_of, log_source
from adapters.projection import log_head
from adapters.tables import webhook_deliveries, webhooks
from domain import clock, vocabulary
from domain.errors import InvalidValue, NotFound
from domain.tracker import Tracker

log = logging.getLogger(__name__)

LEASE_NAME = "webhooks"
SIGNATURE_HEADER = "X-Commitments-Signature"
MAX_URL = vocabulary.MAX_URL
MAX_DESCRIPTION = vocabulary.MAX_TITLE
POLL_SECONDS = 1.0
# How long a receiver has to answer: 10 s, or half the lease if that is less (a leader
# waiting longer would lose its lease mid-post, and the event be posted again).
TIMEOUT_SECONDS = 10.0
ERROR_BACKOFF_MAX = 10.0
# Events examined per webhook per step (delivered or passed over).
BATCH = 100
# 2 s, 4 s, 8 s, ... at most 10 minutes between attempts at one event.
BACKOFF = wait_exponential(multiplier=2, min=2, max=600)
_DELIVERY_NAMESPACE = uuid.UUID("7f0b7a52-8f3e-4b8e-9a53-0c4a5e1d2b61")


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: `sha256=` and the HMAC-SHA256 of the body, in hex."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def backoff_seconds(attempts: int) -> float:
    """How long to wait after the `attempts`-th failed attempt at an event (tenacity)."""
    state = RetryCallState(Retrying(), None, (), {})
    state.attempt_number = max(1, attempts)
    return float(BACKOFF(state))


def delivery_id(webhook_id: str, position: int) -> str:
    return str(uuid.uuid5(_DELIVERY_NAMESPACE, f"{webhook_id}/{position}"))


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host (the domain's rule for every URL), without a
    user name or password, or InvalidValue."""
    url = vocabulary.check_url(url.strip(), "url")
    if urlsplit(url).username is not None:
        raise InvalidValue("url must not carry a user name or password")
    return url


def check_event_types(types: list[str]) -> list[str]:
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        raise InvalidValue(
            f"unknown event types {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}"
        )
    return sorted(set(types))


@dataclass
class Webhook:
    id: str
    url: str
    event_types: list[str]
    description: str
    secret: str
    created_at: datetime
    created_by: str
    removed_at: datetime | None
    position: int
    attempts: int
    next_attempt_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> Webhook:
        return cls(
            row.id,
            row.url,
            json.loads(row.event_types),
            row.description,
            row.secret,
            clock.as_utc(row.created_at),
            row.created_by,
            None if row.removed_at is None else clock.as_utc(row.removed_at),
            int(row.position),
            int(row.attempts),
            None if row.next_attempt_at is None else clock.as_utc(row.next_attempt_at),
        )

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types

    def as_dict(self) -> dict[str, Any]:
        """As the API shows it: never the secret."""
        return {
            "id": self.id,
            "url": self.url,
            "event_types": self.event_types,
            "description": self.description,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "removed_at": None if self.removed_at is None else self.removed_at.isoformat(),
            "position": self.position,
            "failed_attempts": self.attempts,
            "next_attempt_at": None
            if self.next_attempt_at is None
            else self.next_attempt_at.isoformat(),
        }


class WebhookStore:
    """Registering, listing and removing webhooks; their delivery logs."""

    def __init__(
        self,
        database: Database,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.database = database
        self.now = now

    def register(
        self, url: str, event_types: list[str], description: str, created_by: str
    ) -> tuple[Webhook, str]:
        """A new webhook, starting after the log's head; returns it and its secret."""
        url = check_url(url)
        types = check_event_types(event_types)
        description = vocabulary.check_text(
            description, "description", required=False, limit=MAX_DESCRIPTION
        )
        secret = "whsec_" + secrets.token_urlsafe(32)
        webhook_id = str(uuid.uuid4())
        with self.database.writing() as connection:
            connection.execute(
                insert(webhooks).values(
                    id=webhook_id,
                    url=url,
                    event_types=json.dumps(types),
                    description=description,
                    secret=secret,
                    created_at=self.now(),
                    created_by=created_by,
                    removed_at=None,
                    position=log_head(connection),
                    attempts=0,
                    next_attempt_at=None,
                )
            )
        return self.get(webhook_id), secret

    def list(self, *, include_removed: bool = False) -> list[Webhook]:
        query = select(webhooks).order_by(webhooks.c.created_at, webhooks.c.id)
        if not include_removed:
            query = query.where(webhooks.c.removed_at.is_(None))
        with self.database.reading() as connection:
            return [Webhook.of(row) for row in connection.execute(query)]

    def get(self, webhook_id: str) -> Webhook:
        """An active webhook (a removed one is gone: NotFound, as an unknown one)."""
        with self.database.reading() as connection:
            row = connection.execute(
                select(webhooks).where(webhooks.c.id == webhook_id, webhooks.c.removed_at.is_(None))
            ).one_or_none()
        if row is None:
            raise NotFound(f"no webhook {webhook_id!r}")
        return Webhook.of(row)

    def remove(self, webhook_id: str) -> None:
        """Stop delivering to it. Its row and delivery log stay in the database, and it
        in the list with `include_removed`."""
        with self.database.writing() as connection:
            removed = connection.execute(
                update(webhooks)
                .where(webhooks.c.id == webhook_id, webhooks.c.removed_at.is_(None))
                .values(removed_at=self.now())
            )
        if removed.rowcount != 1:
            raise NotFound(f"no webhook {webhook_id!r}")

    def deliveries(
        self, webhook_id: str, *, limit: int = 100, before: int | None = None
    ) -> builtins.list[dict[str, Any]]:
        """Its delivery attempts, newest first (`before`: an id, to page back)."""
        self.get(webhook_id)
        query = (
            select(webhook_deliveries)
            .where(webhook_deliveries.c.webhook_id == webhook_id)
            .order_by(webhook_deliveries.c.id.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(webhook_deliveries.c.id < before)
        with self.database.reading() as connection:
            return [
                {
                    "id": int(row.id),
                    "delivery_id": row.delivery_id,
                    "position": int(row.position),
                    "event_type": row.event_type,
                    "attempt": int(row.attempt),
                    "delivered": bool(row.delivered),
                    "status_code": row.status_code,
                    "error": row.error,
                    "attempted_at": clock.as_utc(row.attempted_at).isoformat(),
                    "duration_ms": int(row.duration_ms),
                }
                for row in connection.execute(query)
            ]


@dataclass(frozen=True)
class Attempt:
    """What one post gave: delivered (a 2xx), else the status code or the error."""

    delivered: bool
    status_code: int | None
    error: str | None
    duration_ms: int


class WebhookDeliverer:
    """Delivers the log's events to the registered webhooks until stopped; safe to run
    in several processes (one leads, by the lease)."""

    def __init__(
        self,
        database: Database,
        tracker: Tracker,
        *,
        log_origin: str,
        lease: Lease | None = None,
        client: httpx.Client | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.database = database
        self.tracker = tracker
        self.source = log_source(log_origin)
        self.lease = lease or Lease(database, LEASE_NAME)
        self._client = client
        self.now = now
        self.poll_seconds = poll_seconds
        self._codes: dict[str, str] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.active = threading.Event()  # set while this deliverer holds the lease
        self.last_error: str | None = None
        self.advanced = False  # the last step moved a webhook past events it does not want

    # ---- control ----------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="webhook-deliverer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._client is not None:
            self._client.close()
            self._client = None

    def wake(self) -> None:
        """New events or a new webhook: look now rather than at the next poll."""
        self._wake.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                timeout=min(TIMEOUT_SECONDS, max(1.0, self.lease.seconds / 2)),
                follow_redirects=False,
                headers={"User-Agent": "commitments-tracker-webhooks/1"},
            )
        return self._client

    # ---- the loop -----------------------------------------------------------------------

    def run(self) -> None:
        backoff = 0.5
        while not self.stopped:
            try:
                if not self.lease.acquire():
                    self._stop.wait(self.lease.look_every)
                    continue
                try:
                    self.active.set()
                    self._lead()
                finally:
                    self.active.clear()
                    self.lease.release()
                backoff = 0.5
            except Exception as error:  # a lost connection, a database restart: retry
                self.last_error = failure(error)
                if self.lease.replaced:
                    log.warning("webhook deliverer: %s; standing by", self.last_error)
                else:
                    log.exception("webhook deliverer failed; retrying in %.1f s", backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, ERROR_BACKOFF_MAX)

    def _lead(self) -> None:
        while not self.stopped:
            try:
                worked = self.step(fence=self.lease)
            except LeaseLost:
                return
            # Moving past events a webhook does not want is work too: a filtered webhook
            # catching up must not wait a poll between batches.
            if not (worked or self.advanced):
                timeout = min(self.poll_seconds, self.lease.due_in(), self.due_in())
                self._wake.wait(max(0.01, timeout))
                self._wake.clear()
            if not self.lease.renew_if_due():
                return

    def due_in(self) -> float:
        """Seconds until the earliest retry is due (the poll interval if none is)."""
        with self.database.reading() as connection:
            earliest = connection.execute(
                select(func.min(webhooks.c.next_attempt_at)).where(webhooks.c.removed_at.is_(None))
            ).scalar_one_or_none()
        if earliest is None:
            return self.poll_seconds
        return max(0.0, (clock.as_utc(earliest) - self.now()).total_seconds())

    # ---- one step -------------------------------------------------------------------------

    def step(self, fence: Lease | None = None) -> int:
        """One pass over the active webhooks whose next attempt is due: deliver their
        pending events in log order, up to the first that fails. Returns the number of
        posts made. Tests drive delivery with this, with the clock they choose."""
        posts = 0
        self.advanced = False
        for webhook in self._active():
            if webhook.next_attempt_at is not None and webhook.next_attempt_at > self.now():
                continue
            posts += self._deliver(webhook, fence)
        return posts

    def _active(self) -> list[Webhook]:
        with self.database.reading() as connection:
            rows = connection.execute(
                select(webhooks)
                .where(webhooks.c.removed_at.is_(None))
                .order_by(webhooks.c.created_at, webhooks.c.id)
            )
            return [Webhook.of(row) for row in rows]

    def _deliver(self, webhook: Webhook, fence: Lease | None) -> int:
        entries = commitment_events(
            self.database, self.tracker, after=webhook.position, limit=BATCH
        )
        position, attempts, posts = webhook.position, webhook.attempts, 0
        for entry in entries:
            if self.stopped:
                break
            if not webhook.wants(entry["type"]):
                position = entry["position"]  # passed over
                continue
            entry = entry | {"code": code_of(entry, self.tracker, self._codes)}
            if fence is not None and not fence.renew_if_due():
                raise LeaseLost(f"the lease {fence.name} was lost")
            attempt = self._post(webhook, entry)
            posts += 1
            if not self._record(webhook, entry, position, attempts + 1, attempt, fence):
                return posts  # removed meanwhile, or moved by another deliverer
            if not attempt.delivered:
                return posts
            position, attempts = entry["position"], 0
        if position != webhook.position:  # only passed over: move past them
            self._advance(webhook, position, fence)
            self.advanced = True
        return posts

    def _post(self, webhook: Webhook, entry: dict[str, Any]) -> Attempt:
        body = cloudevent_bytes(entry, self.source)
        headers = {
            "Content-Type": CLOUDEVENTS_MEDIA_TYPE,
            SIGNATURE_HEADER: sign(webhook.secret, body),
            "X-Commitments-Event-Id": str(entry["position"]),
            "X-Commitments-Event-Type": entry["type"],
            "X-Commitments-Delivery": delivery_id(webhook.id, entry["position"]),
            "X-Commitments-Timestamp": str(int(self.now().timestamp())),
        }
        started = time.monotonic()
        try:
            response = self.client.post(webhook.url, content=body, headers=headers)
        except httpx.HTTPError as failure:
            return Attempt(False, None, _why(failure), _ms_since(started))
        ok = 200 <= response.status_code < 300
        why = None if ok else f"HTTP {response.status_code}"
        return Attempt(ok, response.status_code, why, _ms_since(started))

    def _record(
        self,
        webhook: Webhook,
        entry: dict[str, Any],
        passed_to: int,
        attempt_number: int,
        attempt: Attempt,
        fence: Lease | None,
    ) -> bool:
        """Log the attempt and move the webhook on (delivered) or schedule the retry, in
        one transaction; False when the webhook was removed or moved meanwhile."""
        now = self.now()
        if attempt.delivered:
            values: dict[str, Any] = {
                "position": entry["position"],
                "attempts": 0,
                "next_attempt_at": None,
            }
        else:
            values = {
                "position": passed_to,
                "attempts": attempt_number,
                "next_attempt_at": now + timedelta(seconds=backoff_seconds(attempt_number)),
            }
            log.warning(
                "webhook %s: event %s not delivered (attempt %s: %s); next try at %s",
                webhook.id,
                entry["position"],
                attempt_number,
                attempt.error,
                values["next_attempt_at"].isoformat(),
            )
        with self.database.writing() as connection:
            if fence is not None:
                fence.fence(connection)
            if not self._move(connection, webhook, values):
                return False
            connection.execute(
                insert(webhook_deliveries).values(
                    webhook_id=webhook.id,
                    delivery_id=delivery_id(webhook.id, entry["position"]),
                    position=entry["position"],
                    event_type=entry["type"],
                    attempt=attempt_number,
                    delivered=attempt.delivered,
                    status_code=attempt.status_code,
                    error=attempt.error,
                    attempted_at=now,
                    duration_ms=attempt.duration_ms,
                )
            )
        # As stored now: the next compare-and-set starts from here.
        webhook.position, webhook.attempts = values["position"], values["attempts"]
        return True

    def _advance(self, webhook: Webhook, position: int, fence: Lease | None) -> None:
        with self.database.writing() as connection:
            if fence is not None:
                fence.fence(connection)
            self._move(connection, webhook, {"position": position})

    @staticmethod
    def _move(connection: Connection, webhook: Webhook, values: dict[str, Any]) -> bool:
        """Compare-and-set from the position this step started from."""
        moved = connection.execute(
            update(webhooks)
            .where(
                webhooks.c.id == webhook.id,
                webhooks.c.removed_at.is_(None),
                webhooks.c.position == webhook.position,
            )
            .values(**values)
        )
        return moved.rowcount == 1


def _why(error: httpx.HTTPError) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
