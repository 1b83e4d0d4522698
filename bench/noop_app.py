"""The baseline of the HTTP benchmarks: a FastAPI endpoint that does nothing, served by
uvicorn exactly as `commitments serve` serves the API (one process, same log level)."""

from __future__ import annotations

import gc
import sys
from typing import Any

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.post("/noop")
def noop(body: dict[str, Any]) -> dict[str, bool]:
    return {"ok": True}


@app.get("/noop")
def noop_read() -> dict[str, bool]:
    return {"ok": True}


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    # As `commitments serve` does (api/cli.py).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="info")
