"""What every benchmark shares: throw-away databases, results and their table."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from adapters.bootstrap import Services, bootstrap
from adapters.migrate import upgrade
from adapters.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results.json"


@dataclass(frozen=True)
class Result:
    """One figure against its baseline measured in the same run (bench/results.json)."""

    name: str
    database: str
    value: float
    unit: str
    # None where the target alone judges the figure (report, dashboard).
    baseline: str | None
    baseline_value: float | None
    ratio: float | None
    target: str
    passed: bool
    # Other figures of the measurement (latency percentiles, ...), as more keys of its row.
    details: dict[str, float] = field(default_factory=dict)

    def row(self) -> dict[str, object]:
        fields: dict[str, object] = asdict(self)
        fields["pass"] = fields.pop("passed")
        details = self.details
        del fields["details"]
        return fields | details


def databases() -> Iterator[str]:
    """SQLite always; PostgreSQL too when COMMITMENTS_BENCH_POSTGRES_URL is set."""
    yield "sqlite"
    if os.environ.get("COMMITMENTS_BENCH_POSTGRES_URL"):
        yield "postgresql"


@contextmanager
def fresh_database(kind: str) -> Iterator[str]:
    """A new, migrated database of that kind, dropped afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'bench.sqlite'}"
            upgrade(url)
            yield url
        return
    admin_url = os.environ["COMMITMENTS_BENCH_POSTGRES_URL"]
    name = f"commitments_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@contextmanager
def step(kind: str, what: str) -> Iterator[None]:
    """Say on stderr how long a step took: a million-event run takes a while."""
    start = time.perf_counter()
    yield
    print(f"{kind}: {what} in {time.perf_counter() - start:,.1f} s", file=sys.stderr, flush=True)


def services_on(url: str) -> Services:
    return bootstrap(
        Settings(database_url=url, public_read=False, scheduler=False, projector=False)
    )


def print_table(results: list[Result]) -> None:
    print(f"{'name':<26} {'db':<10} {'value':>12} {'baseline':>10} {'ratio':>7}  target")
    for r in results:
        mark = "ok" if r.passed else "MISSED"
        baseline = "-" if r.baseline_value is None else f"{r.baseline_value:,.1f}"
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}"
        value = f"{r.value:,.1f}" if abs(r.value) >= 100 else f"{r.value:.3g}"
        print(
            f"{r.name:<26} {r.database:<10} {value:>10}{r.unit:<2} "
            f"{baseline:>10} {ratio:>7}  {r.target} {mark}"
        )
        if r.baseline is not None:
            print(f"{'':<38}baseline: {r.baseline}")
        if r.details:
            print(f"{'':<38}" + ", ".join(f"{k} {v:,}" for k, v in r.details.items()))


def write_results(results: list[Result]) -> None:
    RESULTS.write_text(json.dumps([r.row() for r in results], indent=2) + "\n")
