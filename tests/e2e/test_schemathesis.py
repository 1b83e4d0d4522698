"""Schemathesis against the real server, on SQLite and on PostgreSQL: every phase
(examples, coverage, fuzzing, stateful) and every check, response schemas included.
It must find nothing: a client's error is a 4xx problem+json, never a 5xx; every
status, header and media type answered is in the OpenAPI document, and every body
matches its schema. tests/e2e/schemathesis.toml says which statuses the two data
checks accept besides their defaults, and why.

The two databases are fuzzed at once (a server and a Schemathesis each), with few
examples per operation (MAX_EXAMPLES; the coverage phase, most of the requests, is
not bounded by it) and a fixed seed, so that a failure is reproduced by running the
test again."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.conftest import PostgresDatabases
from tests.e2e.conftest import serve

SCHEMATHESIS = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
CONFIG = Path(__file__).with_name("schemathesis.toml")
MAX_EXAMPLES = 5
SEED = 20261127
RUN_SECONDS = 900  # far above what it takes; only so that a hung server fails the test


@pytest.fixture
def seeded_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A seeded SQLite database and a seeded PostgreSQL database, for one test."""
    sqlite = tmp_path / "fuzzed.sqlite"
    shutil.copyfile(request.getfixturevalue("sqlite_seeded_template"), sqlite)
    postgres: PostgresDatabases = request.getfixturevalue("postgres")
    name = postgres.create(template=request.getfixturevalue("postgres_seeded_template"))
    yield {"sqlite": f"sqlite:///{sqlite}", "postgresql": postgres.url_of(name)}
    postgres.drop(name)


def _stop(run: subprocess.Popen[str]) -> None:
    if run.poll() is None:  # it timed out
        run.kill()
        run.wait(timeout=15)


@pytest.mark.slow
def test_schemathesis_finds_nothing(seeded_databases: dict[str, str], tmp_path: Path) -> None:
    assert SCHEMATHESIS is not None, "schemathesis is not installed (the `test` extra)"
    runs: dict[str, subprocess.Popen[str]] = {}
    with ExitStack() as stack:
        for kind, url in seeded_databases.items():
            folder = tmp_path / kind
            folder.mkdir()
            # Schemathesis sends requests without a token and with wrong ones
            # (ignored_auth): the lock-out of an address after failed sign-ins would then
            # answer every later request with 429 and leave the operations untested.
            server = stack.enter_context(serve(url, folder, auth_failure_limit="off"))
            runs[kind] = run = subprocess.Popen(
                [
                    SCHEMATHESIS,
                    "--config-file",
                    str(CONFIG),
                    "run",
                    f"{server.base}/openapi.json",
                    "--checks",
                    "all",
                    "--phases",
                    "examples,coverage,fuzzing,stateful",
                    "--max-examples",
                    str(MAX_EXAMPLES),
                    "--seed",
                    str(SEED),
                    "--generation-database",
                    "none",
                    # Threads: Python 3.11's ast.parse, which Hypothesis calls to
                    # describe a filter, is not safe in threads (a SystemError).
                    "--workers",
                    "1",
                    # A report with charts takes seconds, more on a busy machine: its time
                    # says how loaded the machine is, not whether input was handled right.
                    "--request-timeout",
                    "60",
                    "--max-response-time",
                    "60",
                    "--no-color",
                    "-H",
                    f"Authorization: Bearer {server.token}",
                ],
                cwd=folder,  # where it would leave files of its own
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            stack.callback(_stop, run)  # before its server stops
        outputs = {kind: run.communicate(timeout=RUN_SECONDS)[0] for kind, run in runs.items()}
    failed = [kind for kind, run in runs.items() if run.returncode != 0]
    for kind in failed:
        print(f"---- Schemathesis on {kind} ----\n{outputs[kind][-30000:]}")
    assert failed == [], f"Schemathesis found failures on {failed} (see the output above)"
    for output in outputs.values():  # every phase ran, and tested something
        for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
            assert f"✅  {phase}" in output, output
