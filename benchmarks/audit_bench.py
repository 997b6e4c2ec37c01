"""Audit log cost: appending N hash-chained entries and verifying the chain, against plain inserts.

    python benchmarks/audit_bench.py [--entries 20000] [--database-url sqlite:///bench.db]

Prints entries/second for (a) chained appends through ``services.audit.record`` (hash + link + unique
prev_hash), (b) the baseline: the same rows inserted without hashing or chaining, in the same run, and
(c) a full ``audit verify``. The ratio (a)/(b) is the price of tamper evidence on this machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, insert

from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.services import audit
from okrflow.store import migrate
from okrflow.store.db import Database
from okrflow.store.types import JSONType


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=500, help="entries per transaction")
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
    db = Database(url)
    migrate.reset(db)
    n, batch = args.entries, args.batch

    t0 = time.perf_counter()
    for start in range(0, n, batch):
        with db.write() as s:
            for i in range(start, min(n, start + batch)):
                audit.record(
                    s, SYSTEM_ACTOR, "update", "team", i % 50, workspace_id=1, before={"v": i}, after={"v": i + 1}
                )
    chained = time.perf_counter() - t0

    baseline_table = Table(
        "bench_plain",
        MetaData(),
        Column("seq", Integer, primary_key=True),
        Column("actor", String(200)),
        Column("action", String(64)),
        Column("entity_type", String(64)),
        Column("entity_id", String(64)),
        Column("before", JSONType),
        Column("after", JSONType),
    )
    baseline_table.drop(db.engine, checkfirst=True)
    baseline_table.create(db.engine)
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        with db.write() as s:
            for i in range(start, min(n, start + batch)):
                s.execute(
                    insert(baseline_table).values(
                        seq=i + 1,
                        actor="system",
                        action="update",
                        entity_type="team",
                        entity_id=str(i % 50),
                        before={"v": i},
                        after={"v": i + 1},
                    )
                )
    plain = time.perf_counter() - t0
    baseline_table.drop(db.engine)

    t0 = time.perf_counter()
    with db.read() as s:
        verdict = audit.verify(s)
    verify_s = time.perf_counter() - t0
    assert verdict.ok and verdict.checked == n, verdict

    print(f"database            {db.display_url} ({db.backend})")
    print(f"entries             {n:,} in batches of {batch}")
    print(f"chained appends     {n / chained:10,.0f} entries/s  ({chained:.2f} s)")
    print(f"plain inserts       {n / plain:10,.0f} entries/s  ({plain:.2f} s)  [baseline, same run]")
    print(f"chain overhead      {chained / plain:10.2f} x the baseline")
    print(f"audit verify        {n / verify_s:10,.0f} entries/s  ({verify_s:.2f} s)")
    db.dispose()


if __name__ == "__main__":
    main()
