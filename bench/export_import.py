"""export_import: a round trip of the shared log through the real CLI, each command in a
process of its own (bench/child.py): `commitments export --out FILE`, then
`commitments import FILE` into a fresh database (which checks every line against the
chain, writes the log and rebuilds the read models). Reported: events/s each way, from
each command's wall time (start-up included; `start_s`, `commitments --help` in the same
run, says how much of it that is), and each command's peak RSS over the shared log and
over the log of a tenth. No baseline: the target is flatness, each command's peak within
TARGET_GROWTH of its peak over the tenth. The imported log must end where the exported
one does: the same last chain entry and Merkle root.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from adapters.database import Database
from adapters.ledger import Tip, read_tip
from bench.child import Run, run_cli
from bench.common import Result, fresh_database

TARGET_GROWTH = 1.2


@dataclass(frozen=True)
class Trip:
    events: int
    exported: Run
    imported: Run
    file_mb: float


def _tip(url: str) -> Tip:
    database = Database(url)
    try:
        with database.reading() as connection:
            return read_tip(connection)
    finally:
        database.close()


def round_trip(kind: str, url: str) -> Trip:
    """Export the log at `url` and import it into a new database of the same kind."""
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "log.jsonl"
        exported = run_cli(url, "export", "--out", str(file))
        file_mb = file.stat().st_size / 1e6
        with fresh_database(kind) as target:
            imported = run_cli(target, "import", str(file))
            source, copy = _tip(url), _tip(target)
    if source.entry is None or (source.entry, source.frontier.root()) != (
        copy.entry,
        copy.frontier.root(),
    ):
        raise RuntimeError(f"the imported log ends at {copy.entry}, the exported at {source.entry}")
    return Trip(source.entry.leaf + 1, exported, imported, file_mb)


def measure(kind: str, url: str, small_url: str) -> Result:
    """`url`: the shared log; `small_url`: the log of a tenth of its events."""
    start = run_cli(url, "--help").seconds
    small = round_trip(kind, small_url)
    large = round_trip(kind, url)
    export_growth = large.exported.peak_mb / small.exported.peak_mb
    import_growth = large.imported.peak_mb / small.imported.peak_mb
    seconds = large.exported.seconds + large.imported.seconds
    return Result(
        "export_import",
        kind,
        round(large.events / seconds, 1),
        "/s",
        None,
        None,
        None,
        f"peak RSS of export and of import <= {TARGET_GROWTH}x the log of a tenth",
        export_growth <= TARGET_GROWTH and import_growth <= TARGET_GROWTH,
        {
            "events": float(large.events),
            "export_rate": round(large.events / large.exported.seconds, 1),
            "import_rate": round(large.events / large.imported.seconds, 1),
            "export_s": round(large.exported.seconds, 2),
            "import_s": round(large.imported.seconds, 2),
            "start_s": round(start, 2),
            "file_mb": round(large.file_mb, 1),
            "export_mb": round(large.exported.peak_mb, 1),
            "import_mb": round(large.imported.peak_mb, 1),
            "small_events": float(small.events),
            "small_export_mb": round(small.exported.peak_mb, 1),
            "small_import_mb": round(small.imported.peak_mb, 1),
            "export_growth": round(export_growth, 3),
            "import_growth": round(import_growth, 3),
        },
    )
