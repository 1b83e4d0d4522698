"""Seals: keyed MACs over what is stored beside the log and served as fact.

A snapshot's digest record and an artefact's sha256 are unkeyed: someone with write
access to the database who edits a derivative and its digest together gets it served.
A seal is an HMAC-SHA256 under a key the database does not hold: it is derived (HKDF,
with a purpose label) from the operator's Ed25519 checkpoint signing key
(COMMITMENTS_SIGNING_KEY_FILE), which every production server has and the database
never sees. What is sealed names where it belongs, so a seal cannot be moved:

- a snapshot: its aggregate id, version, the position and chain hash of the event it was
  taken at, and its state bytes (adapters/snapshots.py);
- an archived artefact: its report id, format and bytes (adapters/reports/archive.py).

A process without the signing key (a witness or a dev process) has no Sealer: it writes
no seals and checks none (sha256 only, as before seals existed). A server with another key
than the one that sealed finds every seal wrong: rotating the key means snapshots fall
back to replay until they are re-taken and artefacts are refused (docs/trust.md).
"""

from __future__ import annotations

import hashlib
import hmac
from uuid import UUID

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection, select

from adapters.tables import report_artefacts
from domain.checkpoint import Signer

# HKDF's info: a key for this purpose only (never the signing key itself).
PURPOSE = b"commitments-tracker/derivative-seals/v1"


class Sealer:
    """Seals and checks derivatives with a MAC key derived from the signing key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def from_signer(cls, signer: Signer) -> Sealer:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE)
        return cls(hkdf.derive(signer.private_key))

    def _mac(self, kind: bytes, *fields: bytes) -> str:
        mac = hmac.new(self._key, kind, hashlib.sha256)
        for value in fields:  # length-prefixed: no two field lists give the same bytes
            mac.update(len(value).to_bytes(8, "big"))
            mac.update(value)
        return mac.hexdigest()

    def snapshot(
        self, originator_id: UUID, version: int, position: int, chain_hash: str, state: bytes
    ) -> str:
        return self._mac(
            b"snapshot",
            as_uuid(originator_id).bytes,
            str(version).encode(),
            str(position).encode(),
            chain_hash.encode(),
            state,
        )

    def artefact(self, report_id: str, fmt: str, content: bytes) -> str:
        return self._mac(b"artefact", report_id.encode(), fmt.encode(), content)

    @staticmethod
    def same(expected: str, stored: str | None) -> bool:
        return stored is not None and hmac.compare_digest(expected, stored)


def as_uuid(value: object) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def artefact_problem(
    sealer: Sealer | None,
    report_id: str,
    fmt: str,
    content: bytes,
    sha256: str,
    seal: str | None,
) -> str | None:
    """What is wrong with an archived artefact (None: nothing): bytes without their
    recorded sha256 and, given a sealer, a seal that is not theirs. A missing seal is no
    problem here (rows archived before seals, or by a process without the key): the
    artefact is then served on its sha256 alone, and says so."""
    found = hashlib.sha256(content).hexdigest()
    if found != sha256:
        return (
            f"report {report_id} as {fmt} is damaged: its archived bytes have sha256 "
            f"{found}, not the {sha256} recorded with them; the archive was changed"
        )
    if sealer is None or seal is None:
        return None
    if not sealer.same(sealer.artefact(report_id, fmt, content), seal):
        return (
            f"report {report_id} as {fmt} is damaged: its archived bytes do not carry "
            "their seal; the archive was changed (or sealed with another signing key)"
        )
    return None


def check_artefacts(connection: Connection, sealer: Sealer) -> str | None:
    """The first archived artefact that is damaged or carries a wrong seal (what is wrong
    with it), or None. Reads the stored bytes only: nothing is regenerated."""
    query = select(
        report_artefacts.c.report_id,
        report_artefacts.c.format,
        report_artefacts.c.content,
        report_artefacts.c.sha256,
        report_artefacts.c.seal,
    ).order_by(report_artefacts.c.report_id, report_artefacts.c.format)
    # A few artefacts at a time: they can be large.
    rows = connection.execute(query.execution_options(stream_results=True, yield_per=_BATCH))
    for row in rows:
        problem = artefact_problem(
            sealer, row.report_id, row.format, bytes(row.content), row.sha256, row.seal
        )
        if problem is not None:
            return problem
    return None


_BATCH = 32
