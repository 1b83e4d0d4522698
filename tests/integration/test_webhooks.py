"""Webhook delivery to a real receiver on loopback: each event once, in log order, signed;
retried with backoff while the receiver is down, and resumed in order when it is back.

The deliverer is driven step by step with a clock the test moves (no waiting), except in
the last test, which runs its real loop and waits for the receiver's signal."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from adapters.bootstrap import Services
from adapters.leases import Lease
from adapters.webhooks import (
    SIGNATURE_HEADER,
    WebhookDeliverer,
    backoff_seconds,
    check_url,
)
from domain.commands import LogProgress, RateHealth
from domain.errors import InvalidValue
from domain.vocabulary import Health
from tests.conftest import open_services
from tests.support import write

SEEDED_BOTH = pytest.mark.parametrize("seeded_url", ["sqlite", "postgresql"], indirect=True)
RAIL = "CMAP-PROS-RAIL"
PORTS = "CMAP-PROS-PORTS"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that keeps what is posted to it; `down()` closes its
    socket (connections are refused), `up()` listens on the same port again."""

    port: int = 0
    status: int = 200
    received: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.status
                if status < 300:
                    with receiver.arrived:
                        receiver.received.append(Received(dict(self.headers.items()), body))
                        receiver.arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        """Until `count` posts have arrived (a deadline, not a sleep)."""
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout), (
                f"{len(self.received)} of {count} arrived"
            )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    served = Receiver()
    served.up()
    yield served
    served.down()


@pytest.fixture
def services(seeded_url: str) -> Iterator[Services]:
    built = open_services(seeded_url)
    yield built
    built.close()


class Clock:
    def __init__(self) -> None:
        self.time = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.time

    def advance(self, seconds: float) -> None:
        self.time += timedelta(seconds=seconds)


def deliverer(services: Services, clock: Clock) -> WebhookDeliverer:
    return WebhookDeliverer(
        services.database, services.tracker, log_origin=services.settings.log_origin, now=clock
    )


def progress(services: Services, percent: int, code: str = RAIL) -> int:
    written = write(
        services,
        LogProgress(percent=percent, as_of=date(2026, 11, 1), note=f"now {percent}%"),
        ref=code,
    )
    return written.position


def health(services: Services, code: str = PORTS) -> int:
    written = write(services, RateHealth(rating=Health.AMBER, rationale="slipping"), ref=code)
    return written.position


def signed_by(secret: str, received: Received) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(received.headers[SIGNATURE_HEADER], expected)


@SEEDED_BOTH
def test_each_event_arrives_once_in_order_signed(services: Services, receiver: Receiver) -> None:
    webhook, secret = services.webhooks.register(receiver.url, [], "all", "admin")
    positions = [progress(services, 61), health(services), progress(services, 62)]
    clock = Clock()
    sender = deliverer(services, clock)

    assert sender.step() == 3
    assert [int(r.headers["X-Commitments-Event-Id"]) for r in receiver.received] == positions
    for received, position in zip(receiver.received, positions, strict=True):
        assert signed_by(secret, received)
        assert not signed_by("whsec_other", received)
        assert received.headers["Content-Type"] == "application/cloudevents+json"
        event = received.event
        assert event["specversion"] == "1.0" and event["id"] == str(position)
        assert received.headers["X-Commitments-Event-Type"] == event["data"]["type"]
        assert received.headers["X-Commitments-Timestamp"] == str(int(clock().timestamp()))
        assert received.headers["X-Commitments-Delivery"]
    assert [r.event["subject"] for r in receiver.received] == [RAIL, PORTS, RAIL]
    assert receiver.received[0].event["data"]["data"]["percent"] == 61

    # Nothing is sent again.
    assert sender.step() == 0
    assert len(receiver.received) == 3
    log = services.webhooks.deliveries(webhook.id)
    assert [(d["position"], d["attempt"], d["delivered"], d["status_code"]) for d in log] == [
        (p, 1, True, 200) for p in reversed(positions)
    ]
    assert services.webhooks.get(webhook.id).position == positions[-1]


def test_only_the_types_asked_for_are_delivered(services: Services, receiver: Receiver) -> None:
    webhook, _ = services.webhooks.register(receiver.url, ["ProgressLogged"], "", "admin")
    health(services)
    wanted = progress(services, 63)
    last = health(services)
    assert deliverer(services, Clock()).step() == 1
    assert [int(r.headers["X-Commitments-Event-Id"]) for r in receiver.received] == [wanted]
    assert services.webhooks.get(webhook.id).position == last  # passed over the others
    # Only unwanted events left: passing over them is still progress (no poll's wait).
    health(services)
    sender = deliverer(services, Clock())
    assert sender.step() == 0 and sender.advanced
    assert sender.step() == 0 and not sender.advanced  # nothing left to pass over


@SEEDED_BOTH
def test_a_receiver_that_was_down_gets_everything_in_order_once(
    services: Services, receiver: Receiver
) -> None:
    webhook, secret = services.webhooks.register(receiver.url, [], "", "admin")
    clock = Clock()
    sender = deliverer(services, clock)
    first = progress(services, 64)
    receiver.down()

    assert sender.step() == 1  # refused
    later = [health(services), progress(services, 65)]
    assert sender.step() == 0  # not due yet: backoff
    clock.advance(backoff_seconds(1) - 0.5)
    assert sender.step() == 0
    clock.advance(0.5)
    assert sender.step() == 1  # refused again, never past the first event
    stored = services.webhooks.get(webhook.id)
    assert stored.attempts == 2 and stored.position < first
    assert stored.next_attempt_at == clock() + timedelta(seconds=backoff_seconds(2))

    # Back, but answering 500: a failure too, with its status code logged.
    receiver.up()
    receiver.status = 500
    clock.advance(backoff_seconds(2))
    assert sender.step() == 1
    receiver.status = 200
    clock.advance(backoff_seconds(3))
    assert sender.step() == 3

    expected = [first, *later]
    assert [int(r.headers["X-Commitments-Event-Id"]) for r in receiver.received] == expected
    assert all(signed_by(secret, r) for r in receiver.received)
    log = list(reversed(services.webhooks.deliveries(webhook.id)))
    assert [(d["position"], d["attempt"], d["delivered"]) for d in log] == [
        (first, 1, False),
        (first, 2, False),
        (first, 3, False),
        (first, 4, True),
        (later[0], 1, True),
        (later[1], 1, True),
    ]
    assert log[0]["status_code"] is None and "ConnectError" in (log[0]["error"] or "")
    assert log[2]["status_code"] == 500 and log[2]["error"] == "HTTP 500"
    # One delivery id per event, whatever the attempts.
    assert len({d["delivery_id"] for d in log if d["position"] == first}) == 1
    # Delivered once each in the successful log.
    assert sorted(d["position"] for d in log if d["delivered"]) == expected
    assert services.webhooks.get(webhook.id).attempts == 0


def test_one_failing_webhook_does_not_hold_up_another(
    services: Services, receiver: Receiver
) -> None:
    services.webhooks.register("http://127.0.0.1:9/refused", [], "", "admin")
    services.webhooks.register(receiver.url, [], "", "admin")
    position = progress(services, 66)
    assert deliverer(services, Clock()).step() == 2
    assert [int(r.headers["X-Commitments-Event-Id"]) for r in receiver.received] == [position]


def test_a_removed_webhook_gets_nothing_more(services: Services, receiver: Receiver) -> None:
    webhook, _ = services.webhooks.register(receiver.url, [], "", "admin")
    services.webhooks.remove(webhook.id)
    progress(services, 67)
    assert deliverer(services, Clock()).step() == 0
    assert receiver.received == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/x",
        "javascript:alert(1)",
        "http://",
        "/relative",
        "http://user:pw@example.org/",
        "http://example.org:99999/",
    ],
)
def test_only_http_urls_are_taken(url: str) -> None:
    with pytest.raises(InvalidValue):
        check_url(url)


@SEEDED_BOTH
def test_the_running_deliverer_delivers_what_is_written_under_its_lease(
    services: Services, receiver: Receiver
) -> None:
    """The long-running loop: woken by the write, it posts without a poll's delay; a
    second deliverer on the same database stands by (the lease)."""
    services.webhooks.register(receiver.url, [], "", "admin")
    services.deliverer.poll_seconds = 60.0  # only the wake-up can be quick
    other = open_services(services.settings.database_url)
    try:
        standby = other.deliverer
        services.deliverer.start()
        assert services.deliverer.active.wait(10)
        standby.start()
        position = progress(services, 68)  # the unit of work wakes the deliverer
        receiver.wait_for(1)
        assert int(receiver.received[0].headers["X-Commitments-Event-Id"]) == position
        assert not standby.active.is_set()
        assert isinstance(standby.lease, Lease)
    finally:
        other.close()
    assert len(receiver.received) == 1
