"""Processes, write load over HTTP, and the checks every resilience test ends with.

A `Launcher` starts `commitments` processes on the test's database (tests/processes.py).

`Writers` are client threads logging progress, each request with an Idempotency-Key
(and half of them with If-Match); a request that got no answer, or a 503, is sent again
with the same key (to another server when there are several), as a client would.
What was acknowledged (2xx) is then compared with the log: `check_log`, `check_verify`,
`check_rebuild`.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from adapters.bootstrap import Services
from adapters.history import MAX_FEED_LIMIT, event_feed
from adapters.projection import log_head
from adapters.tables import events
from adapters.unit_of_work import Write
from api.cli import main
from domain.access import system
from domain.commands import Command, LogProgress, RegisterCommitment
from domain.vocabulary import Pillar
from tests.integration.test_projection import dump, solo_rebuild
from tests.processes import (
    START_SECONDS,
    Process,
    Server,
    start_scheduler,
    start_server,
    start_worker,
    wait_for,
)

# How long a process may take to start, then do what a test waits for (a loaded
# machine is slow); also a client's patience with one request through a restart.
PATIENCE = START_SECONDS + 30.0
RETRY_SECONDS = PATIENCE
RETRY_PAUSE = 0.05  # between two tries of one request: a client's back-off
AS_OF = date(2026, 1, 31)
LOAD = system("resilience")


@dataclass
class Launcher:
    """Starts `commitments` processes on `url`; all of them are stopped at teardown."""

    url: str
    token: str
    folder: Path
    started: list[Process] = field(default_factory=list)

    def server(self, name: str = "serve", port: int | None = None, **settings: str) -> Server:
        # The scheduler runs as processes of its own here, where a test wants one.
        started = start_server(
            self.url, self.token, self.folder, name, port, **({"scheduler": "false"} | settings)
        )
        self.started.append(started.process)
        return started

    def worker(self, name: str = "project") -> Process:
        self.started.append(start_worker(self.url, self.folder, name))
        return self.started[-1]

    def scheduler(self, name: str = "scheduler") -> Process:
        self.started.append(start_scheduler(self.url, self.folder, name))
        return self.started[-1]

    def stop_all(self) -> None:
        for process in self.started:
            if process.running:
                process.popen.terminate()
        for process in self.started:
            process.stop()


def prepare(services: Services, count: int) -> list[str]:
    """`count` commitments in progress (so each progress logged is one event)."""
    codes = []
    for i in range(count):
        code = f"CMAP-LOAD-C{i:02d}"
        register = RegisterCommitment(
            code=code, title="Load", pillar=Pillar.PROSPERITY, sectors=("trade",),
            parties=("CA", "MX"), lead_party="joint",
        )  # fmt: skip
        services.unit_of_work.run(_write(register))
        services.unit_of_work.run(_write(LogProgress(percent=1, as_of=AS_OF, note="start"), code))
        codes.append(code)
    return codes


def _write(command: Command, ref: str | None = None) -> Write:
    return Write(LOAD, command, ref=ref)


@dataclass(frozen=True)
class Answer:
    """The final answer to one write: its key (also its note), status and headers."""

    key: str
    code: str
    body: dict[str, Any]
    if_match: str | None
    status: int
    position: int | None
    replayed: bool
    attempts: int

    @property
    def acknowledged(self) -> bool:
        return 200 <= self.status < 300


class Writers:
    """`count` writer threads; writer k writes to codes[k % len(codes)], with If-Match
    when k is even. Each writes `per_writer` times, or until `stop()` when None."""

    def __init__(
        self,
        bases: Callable[[], list[str]],
        token: str,
        codes: list[str],
        *,
        count: int = 32,
        per_writer: int | None = None,
        prefix: str = "w",
    ) -> None:
        self.bases = bases
        self.headers = {"Authorization": f"Bearer {token}"}
        self.codes = codes
        self.per_writer = per_writer
        self.prefix = prefix
        self.answers: list[Answer] = []
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(k,), name=f"writer-{k}", daemon=True)
            for k in range(count)
        ]

    def start(self) -> Writers:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float = RETRY_SECONDS + 30) -> list[Answer]:
        for thread in self._threads:
            thread.join(timeout)
            assert not thread.is_alive(), f"{thread.name} still writing after {timeout} s"
        assert not self.failures, self.failures[:5]
        return self.answers

    def acknowledged(self) -> int:
        with self.lock:
            return sum(a.acknowledged for a in self.answers)

    def _run(self, k: int) -> None:
        code = self.codes[k % len(self.codes)]
        conditional = k % 2 == 0
        with httpx.Client(headers=self.headers, timeout=30) as client:
            for i in itertools.count():
                if self._stop.is_set() or (self.per_writer is not None and i >= self.per_writer):
                    return
                key = f"{self.prefix}{k}-{i}"
                body = {"percent": (k * 7 + i) % 101, "as_of": AS_OF.isoformat(), "note": key}
                try:
                    etag = self._etag(client, code, k) if conditional else None
                    answer = self.send(client, code, key, body, etag, k)
                except Exception as error:  # the thread's failure, reported by join()
                    with self.lock:
                        self.failures.append(f"{key}: {error!r}")
                    return
                with self.lock:
                    self.answers.append(answer)

    def _servers(self, k: int) -> itertools.cycle[str]:
        bases = self.bases()
        return itertools.cycle(bases[k % len(bases) :] + bases[: k % len(bases)])

    def _etag(self, client: httpx.Client, code: str, k: int) -> str:
        response = self._retrying(lambda base: client.get(f"{base}/api/v1/commitments/{code}"), k)
        assert response.status_code == 200, response.text
        return response.headers["ETag"]

    def send(
        self,
        client: httpx.Client,
        code: str,
        key: str,
        body: dict[str, Any],
        if_match: str | None,
        k: int = 0,
        base: str | None = None,
    ) -> Answer:
        headers = {"Idempotency-Key": key} | ({"If-Match": if_match} if if_match else {})
        attempts = 0

        def post(base: str) -> httpx.Response:
            nonlocal attempts
            attempts += 1
            return client.post(
                f"{base}/api/v1/commitments/{code}/progress", json=body, headers=headers
            )

        response = post(base) if base else self._retrying(post, k)
        assert response.status_code in (201, 412), f"{key}: {response.status_code} {response.text}"
        position = response.headers.get("X-Log-Position")
        return Answer(
            key,
            code,
            body,
            if_match,
            response.status_code,
            None if position is None else int(position),
            response.headers.get("Idempotent-Replayed") == "true",
            attempts,
        )

    def _retrying(self, request: Callable[[str], httpx.Response], k: int) -> httpx.Response:
        """The first answer that is not a 503, trying the servers in turn (polling, with
        a deadline, for one that is up)."""
        deadline = time.monotonic() + RETRY_SECONDS
        for base in self._servers(k):
            try:
                response = request(base)
            except httpx.TransportError:
                pass  # the server is down (or was killed in the middle of answering)
            else:
                if response.status_code != 503:
                    return response
            if time.monotonic() > deadline:
                break
            time.sleep(RETRY_PAUSE)
        raise AssertionError(f"no answer within {RETRY_SECONDS} s")


def kill_and_restart_mid_load(
    launcher: Launcher, server: Server, writers: Writers, **settings: str
) -> tuple[Server, list[Answer]]:
    """SIGKILL `server` once 50 writes are acknowledged, start it again on its port and
    let 50 more be acknowledged; the restarted server, and what was acknowledged
    before the kill."""
    wait_for(lambda: writers.acknowledged() >= 50, timeout=PATIENCE, what="50 writes acknowledged")
    server.process.kill()
    with writers.lock:
        before = [a for a in writers.answers if a.acknowledged]
    name = server.log.stem.rsplit("-", 1)[0]
    port = int(server.base.rsplit(":", 1)[1])
    restarted = launcher.server(name, port=port, **settings)
    enough = len(before) + 50
    wait_for(
        lambda: writers.acknowledged() >= enough, timeout=PATIENCE, what="writes after restart"
    )
    return restarted, before


def check_replays(writers: Writers, base: str, acknowledged: list[Answer]) -> None:
    """Each request sent again (the last 40) is answered from the stored answer."""
    with httpx.Client(headers=writers.headers) as client:
        for first in acknowledged[-40:]:
            again = writers.send(
                client, first.code, first.key, first.body, first.if_match, base=base
            )
            assert (again.status, again.position, again.replayed) == (
                first.status,
                first.position,
                True,
            ), first.key


# ---- checks --------------------------------------------------------------------------------


def feed(services: Services, after: int) -> list[dict[str, Any]]:
    """Every event after the position `after`, as GET /events gives them."""
    entries: list[dict[str, Any]] = []
    while page := event_feed(
        services.database, services.tracker, after=after, limit=MAX_FEED_LIMIT
    ):
        entries += page
        after = page[-1]["position"]
    return entries


def check_log(services: Services, before: int, answers: list[Answer]) -> dict[str, int]:
    """The events after `before` are exactly the acknowledged writes, once each, and
    every aggregate's versions run 1, 2, 3... in log order. Returns counts."""
    acknowledged = [a for a in answers if a.acknowledged]
    keys = Counter(a.key for a in acknowledged)
    assert max(keys.values(), default=1) == 1, "a key was answered twice"
    written = feed(services, before)
    assert all(e["type"] == "ProgressLogged" for e in written), Counter(e["type"] for e in written)
    notes = Counter(e["data"]["note"] for e in written)
    duplicated = sorted(note for note, n in notes.items() if n > 1)
    assert not duplicated, f"written twice: {duplicated[:10]}"
    assert set(notes) == set(keys), (
        f"acknowledged but not logged: {sorted(set(keys) - set(notes))[:10]}; "
        f"logged but not acknowledged: {sorted(set(notes) - set(keys))[:10]}"
    )
    assert len(written) == len(acknowledged)
    # A write's answer names the position of its event.
    position_of = {e["data"]["note"]: e["position"] for e in written}
    assert all(position_of[a.key] == a.position for a in acknowledged)
    check_versions(services)
    return {
        "acknowledged": len(acknowledged),
        "rejected": len(answers) - len(acknowledged),
        "replayed": sum(a.replayed for a in acknowledged),
        "retried": sum(a.attempts > 1 for a in answers),
    }


def check_versions(services: Services) -> None:
    """Each aggregate's events have versions 1..n, in log order, without gaps."""
    versions: dict[Any, list[int]] = defaultdict(list)
    with services.database.reading() as connection:
        rows = connection.execute(
            select(events.c.originator_id, events.c.originator_version).order_by(events.c.id)
        )
        for originator, version in rows:
            versions[originator].append(version)
        assert connection.execute(select(func.count()).select_from(events)).scalar_one() == (
            log_head(connection)
        ), "the log's positions have a gap"
    gaps = {o: v for o, v in versions.items() if v != list(range(1, len(v) + 1))}
    assert not gaps, f"versions with gaps: {list(gaps.items())[:3]}"


def check_verify(database_url: str) -> None:
    """`commitments verify`: the hash chain and the Merkle tree recomputed from event 1.
    (The command's own code, run in this process: a process more would only add its
    start-up to the suite's time.)"""
    saved = os.environ.get("COMMITMENTS_DATABASE_URL")
    os.environ["COMMITMENTS_DATABASE_URL"] = database_url
    try:
        with redirect_stdout(io.StringIO()) as out:
            status = main(["verify"])
    finally:
        if saved is None:
            del os.environ["COMMITMENTS_DATABASE_URL"]
        else:
            os.environ["COMMITMENTS_DATABASE_URL"] = saved
    summary = json.loads(out.getvalue())
    assert status == 0 and summary["verified"] is True, summary


def check_rebuild(services: Services) -> None:
    """The live read models (caught up with the log, every process stopped) equal those
    a fresh worker replays from the first event."""
    assert services.projection.position() == services.projection.head()
    live = dump(services)
    rebuilt = solo_rebuild(services)
    assert live.keys() == rebuilt.keys()
    for table in live:
        assert live[table] == rebuilt[table], f"{table} differs from its rebuild"


def check_api_reads(base: str, token: str, codes: list[str]) -> None:
    """The list (a projection) agrees with each commitment read from the event store."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
        listed = client.get("/api/v1/commitments", params={"q": "CMAP-LOAD", "limit": 500})
        assert listed.status_code == 200, listed.text
        items = {item["code"]: item for item in listed.json()["items"]}
        assert sorted(items) == sorted(codes)
        for code in codes:
            one = client.get(f"/api/v1/commitments/{code}").json()
            assert (items[code]["progress"], items[code]["status"]) == (
                one["progress"],
                one["status"],
            ), code
