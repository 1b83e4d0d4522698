"""The witness: run by the other party on its own machine, with its own key and its own
state file, it co-signs the operator's checkpoints only while the log keeps extending the
one it saw last (docs/trust.md).

One run: fetch the newest checkpoint; check the operator's signature and the origin;
compare with the state file (the last checkpoint this witness co-signed): a smaller tree
means events were removed, the same size with another root a fork, a larger tree needs
a consistency proof (RFC 9162) from the old root to the new one, checked here with the
old root from the state file, never the server's word for it. Only then is the
checkpoint co-signed (C2SP cosignature/v1), the cosignature posted and the state file
replaced. Any refusal leaves the state file as it was.

Depends on the standard library and domain/ (which needs only `cryptography`).
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from domain import merkle
from domain.checkpoint import Checkpoint, Note, NoteError, Signer, Verifier, verified_by

TIMEOUT_SECONDS = 30.0


class WitnessRefused(Exception):
    """The witness will not co-sign; the message names both checkpoints."""


class WitnessFailed(Exception):
    """The run could not finish (network, server, state file): nothing was co-signed."""


class Transport(Protocol):
    def get(self, path: str) -> tuple[int, str]: ...

    def post(self, path: str, body: str) -> tuple[int, str]: ...


class HttpTransport:
    """The tracker's API over HTTP(S), with an optional bearer token."""

    def __init__(self, url: str, token: str | None = None) -> None:
        try:
            parts = urllib.parse.urlsplit(url)
        except ValueError:
            parts = None
        if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise WitnessFailed(f"--url must be an http(s) URL; got {url!r}")
        self.url = url.rstrip("/")
        self.token = token

    def get(self, path: str) -> tuple[int, str]:
        return self._send(urllib.request.Request(self.url + path, method="GET"))

    def post(self, path: str, body: str) -> tuple[int, str]:
        request = urllib.request.Request(
            self.url + path,
            data=body.encode("utf-8"),
            method="POST",
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
        return self._send(request)

    def _send(self, request: urllib.request.Request) -> tuple[int, str]:
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                return int(response.status), response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            return int(error.code), error.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise WitnessFailed(f"cannot reach {request.full_url}: {reason}") from None


@dataclass(frozen=True)
class WitnessState:
    """The last checkpoint this witness co-signed."""

    origin: str
    tree_size: int
    root_hash: str
    note: str

    @classmethod
    def load(cls, path: Path) -> WitnessState | None:
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                str(data["origin"]),
                int(data["tree_size"]),
                str(data["root_hash"]),
                str(data["note"]),
            )
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as error:
            raise WitnessFailed(f"the state file {path} is unreadable: {error}") from None

    def save(self, path: Path) -> None:
        """Replace the state file at once (a crash leaves the old one or the new one)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(asdict(self), out, indent=2)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


@dataclass(frozen=True)
class Cosigned:
    checkpoint: Checkpoint
    previous: WitnessState | None

    def message(self) -> str:
        if self.previous is None:
            seen = "first checkpoint seen by this witness"
        elif self.previous.tree_size == self.checkpoint.size:
            seen = "the checkpoint this witness co-signed last, unchanged"
        else:
            seen = f"extends checkpoint {self.previous.tree_size} ({self.previous.root_hash})"
        return (
            f"co-signed checkpoint {self.checkpoint.size} ({self.checkpoint.root.hex()}) "
            f"of {self.checkpoint.origin}: {seen}"
        )


def witness(
    transport: Transport,
    signer: Signer,
    operator: Verifier,
    state_path: Path,
    *,
    origin: str | None = None,
    now: Callable[[], int],
) -> Cosigned:
    """Co-sign the newest checkpoint if the log extends the last one co-signed."""
    if signer.kind != "cosignature":
        raise WitnessFailed("the witness key is not a cosignature key (keygen --witness)")
    if operator.kind != "ed25519":
        raise WitnessFailed(
            f"the operator key {operator.name} is a witness's cosignature key, not the "
            "operator's (commitments checkpoint --public-key prints that one)"
        )
    previous = WitnessState.load(state_path)
    note, checkpoint = _newest(transport, operator)
    expected_origin = origin or (previous.origin if previous else None)
    if expected_origin is not None and checkpoint.origin != expected_origin:
        raise WitnessRefused(
            f"checkpoint {checkpoint.size} is of log {checkpoint.origin!r}, not {expected_origin!r}"
        )
    if previous is not None:
        _check_extends(transport, previous, checkpoint)
    mine = signer.verifier()
    if mine.verify(note) is not None:  # co-signed on an earlier run: nothing to add
        _save(checkpoint, note, state_path)
        return Cosigned(checkpoint, previous)
    signature = signer.sign(note.body, timestamp=now())
    # Only the operator's signature and ours: the server must accept ours on its own
    # merits, not because the note also carries other witnesses' valid cosignatures.
    [operator_line] = [s for s in note.signatures if operator.verify(Note(note.body, (s,)))]
    sent = Note(note.body, (operator_line, signature))
    status, text = transport.post("/api/v1/checkpoint/cosignatures", sent.text())
    if status != 200:
        raise WitnessFailed(f"the server did not keep the cosignature: {status} {_brief(text)}")
    try:
        served = mine.verify(Note.parse(text))
    except NoteError:
        served = None
    if served is None:
        raise WitnessFailed(
            "the server answered 200 but does not serve this witness's cosignature of "
            f"checkpoint {checkpoint.size}: is {signer.name}'s key in its "
            "COMMITMENTS_WITNESS_KEYS?"
        )
    _save(checkpoint, note, state_path)
    return Cosigned(checkpoint, previous)


def _save(checkpoint: Checkpoint, note: Note, state_path: Path) -> None:
    WitnessState(checkpoint.origin, checkpoint.size, checkpoint.root.hex(), note.text()).save(
        state_path
    )


def _newest(transport: Transport, operator: Verifier) -> tuple[Note, Checkpoint]:
    status, text = transport.get("/api/v1/checkpoint")
    if status != 200:
        raise WitnessFailed(f"no checkpoint to co-sign: {status} {_brief(text)}")
    try:
        note = Note.parse(text)
        checkpoint = Checkpoint.parse(note.body)
        signed = verified_by(note, [operator])
    except NoteError as error:
        raise WitnessRefused(
            f"the server's checkpoint is not a valid signed note: {error}"
        ) from None
    if not signed:
        raise WitnessRefused(
            f"checkpoint {checkpoint.size} is not signed by the operator key {operator.name}"
        )
    return note, checkpoint


def _check_extends(transport: Transport, previous: WitnessState, checkpoint: Checkpoint) -> None:
    old = f"checkpoint {previous.tree_size} ({previous.root_hash}) co-signed before"
    new = f"checkpoint {checkpoint.size} ({checkpoint.root.hex()})"
    if checkpoint.size < previous.tree_size:
        raise WitnessRefused(f"the log shrank: {new} is smaller than {old}: events were removed")
    if checkpoint.size == previous.tree_size:
        if checkpoint.root.hex() != previous.root_hash:
            raise WitnessRefused(f"the log forked: {new} has the size of {old} but another root")
        return
    status, text = transport.get(
        f"/api/v1/proofs/consistency?from={previous.tree_size}&to={checkpoint.size}"
    )
    if status != 200:
        raise WitnessRefused(f"no consistency proof from {old} to {new}: {status} {_brief(text)}")
    try:
        proof = [bytes.fromhex(node) for node in json.loads(text)["path"]]
    except (ValueError, KeyError, TypeError, RecursionError):
        raise WitnessRefused(f"the consistency proof from {old} to {new} is malformed") from None
    if not merkle.verify_consistency(
        previous.tree_size,
        checkpoint.size,
        bytes.fromhex(previous.root_hash),
        checkpoint.root,
        proof,
    ):
        raise WitnessRefused(
            f"{new} does not extend {old}: the consistency proof fails, so the log was rewritten"
        )


def _brief(text: str) -> str:
    try:
        detail = json.loads(text).get("detail")
    except (ValueError, AttributeError, RecursionError):
        detail = None
    return str(detail or text.strip().splitlines()[0] if text.strip() else "")[:200]
