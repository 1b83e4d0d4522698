"""Schemathesis against the real server, on SQLite and on PostgreSQL: every phase
(examples, coverage, fuzzing, stateful) and every check, response schemas included.
It must find nothing: a client's error is a 4xx problem+json, never a 5xx; every
status, header and media type answered is in the OpenAPI document, and every body
matches its schema. tests/e2e/schemathesis.toml says which statuses the two data
checks accept besides their defaults, and why.

Bounded to a few examples per operation (MAX_EXAMPLES) with a fixed seed, so that a
failure is reproduced by running the test again (or the command it prints)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import serve

SCHEMATHESIS = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
CONFIG = Path(__file__).with_name("schemathesis.toml")
MAX_EXAMPLES = 8
SEED = 20261127
RUN_SECONDS = 300  # far above what it takes; only so that a hung server fails the test


@pytest.mark.slow
@pytest.mark.parametrize("seeded_url", ["sqlite", "postgresql"], indirect=True)
def test_schemathesis_finds_nothing(seeded_url: str, tmp_path: Path) -> None:
    assert SCHEMATHESIS is not None, "schemathesis is not installed (the `test` extra)"
    # Schemathesis sends requests without a token and with wrong ones (ignored_auth):
    # the lock-out of an address after failed sign-ins would then answer every later
    # request with 429 and leave the operations untested.
    with serve(seeded_url, tmp_path, auth_failure_limit="off") as server:
        command = [
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
            "--workers",
            "1",
            "--no-color",
            "-H",
            f"Authorization: Bearer {server.token}",
        ]
        result = subprocess.run(
            command,
            cwd=tmp_path,  # where it would leave files of its own
            capture_output=True,
            text=True,
            timeout=RUN_SECONDS,
            check=False,
        )
    print(result.stdout[-20000:], result.stderr[-5000:])  # shown when the test failed
    assert result.returncode == 0, "Schemathesis found failures (see the output above)"
    assert "No issues found" in result.stdout or " passed" in result.stdout
