"""A real `commitments serve` process on a free port, for end-to-end and browser tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

SCRIPT = shutil.which("commitments", path=str(Path(sys.executable).parent)) or "commitments"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMITMENTS_")}
    env["COMMITMENTS_DATABASE_URL"] = database_url
    subprocess.run([SCRIPT, "seed", "--demo"], env=env, check=True, capture_output=True)
    token = subprocess.run(
        [SCRIPT, "token", "bootstrap"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    port = free_port()
    log = (tmp_path / "serve.log").open("w")  # a file, not a pipe: a full pipe blocks the server
    process = subprocess.Popen(
        [SCRIPT, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"server exited: {(tmp_path / 'serve.log').read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("server did not answer /healthz within 30 s")
        yield base, token
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()
