"""Import speed: N work items with ~10 status changes each, through a full sync run, against plain inserts.

    python benchmarks/import_bench.py [--items 100000] [--changes-per-item 10] [--database-url URL]

Prints the time of (a) a first import run (validate, map, hash, bulk insert items + history, link parents,
audit), (b) a re-run of the same data (idempotence: everything unchanged), and (c) the baseline in the same run:
the same item and status-change rows written with plain multi-row INSERTs and nothing else. Target
(PRODUCT.md): 100k items / 1M status changes in ≤ 30 s on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.domain.work import StatusChangeRecord, WorkRecord
from okrflow.services import imports, setup, sources
from okrflow.store import migrate
from okrflow.store.db import Database
from okrflow.store.models_work import StatusChange, WorkItem

FLOW = ["To Do", "Selected for Development", "In Progress", "Code Review", "Ready for QA", "In QA", "Done"]


def synthetic(n: int, per_item: int, seed: int = 1) -> list[WorkRecord]:
    rng = random.Random(seed)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        created = t0 + timedelta(minutes=rng.randrange(0, 60 * 24 * 600))
        at, hist, status = created, [], "To Do"
        for _ in range(per_item):
            nxt = FLOW[min(len(FLOW) - 1, max(1, FLOW.index(status) + rng.choice((1, 1, 1, -1))))]
            at = at + timedelta(minutes=rng.randrange(10, 60 * 24 * 5))
            hist.append(StatusChangeRecord(at, nxt, status, "dev"))
            status = nxt
        out.append(
            WorkRecord(
                external_id=str(10_000 + i),
                key=f"BEN-{i}",
                issue_type=rng.choice(("Story", "Bug", "Task")),
                status=status,
                created=created,
                title=f"Synthetic item {i}",
                resolved=at if status == "Done" else None,
                updated=at,
                parent_external_id=str(10_000 + i - i % 20) if i % 20 else None,
                labels=("bench",),
                story_points=float(rng.choice((1, 2, 3, 5, 8))),
                history=tuple(hist),
            )
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--changes-per-item", type=int, default=10)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    db = Database(url)
    migrate.reset(db)
    res = setup.initialize(
        db, admin_username="bench", admin_password="bench-password", workspace_slug="bench", workspace_name="Bench"
    )
    with db.write() as s:
        src = sources.create_source(s, SYSTEM_ACTOR, res.workspace_id, "bench", "jira")
        base_src = sources.create_source(s, SYSTEM_ACTOR, res.workspace_id, "baseline", "files")

    t = time.perf_counter()
    records = synthetic(args.items, args.changes_per_item)
    gen_s = time.perf_counter() - t
    n_changes = sum(len(r.history) for r in records)

    t = time.perf_counter()
    first = imports.import_records(db, SYSTEM_ACTOR, src.id, records)
    first_s = time.perf_counter() - t
    t = time.perf_counter()
    again = imports.import_records(db, SYSTEM_ACTOR, src.id, records)
    again_s = time.perf_counter() - t
    assert first.created == args.items and again.unchanged == args.items and again.status_changes == 0

    # Baseline: the same rows, plain multi-row INSERTs, no validation, hashing, mapping, parents or audit.
    t = time.perf_counter()
    now = datetime.now(UTC)
    with db.write() as s:
        rows = [
            {
                "workspace_id": res.workspace_id,
                "source_id": base_src.id,
                "external_id": r.external_id,
                "key": r.key,
                "url": "",
                "title": r.title,
                "issue_type": r.issue_type,
                "status": r.status,
                "created": r.created,
                "resolved": r.resolved,
                "updated": r.updated,
                "labels": list(r.labels),
                "story_points": r.story_points,
                "content_hash": "",
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
            for r in records
        ]
        ids = []
        for i in range(0, len(rows), 2000):
            ids += [
                x
                for (x,) in s.execute(insert(WorkItem.__table__).returning(WorkItem.__table__.c.id), rows[i : i + 2000])
            ]
        changes = [
            {
                "work_item_id": item_id,
                "at": h.at,
                "from_status": h.from_status,
                "to_status": h.to_status,
                "author": h.author,
            }
            for item_id, r in zip(ids, records, strict=True)
            for h in r.history
        ]
        for i in range(0, len(changes), 10_000):
            s.execute(insert(StatusChange.__table__), changes[i : i + 10_000])
    base_s = time.perf_counter() - t
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"database              {db.display_url} ({db.backend})")
    print(f"items / changes       {args.items:,} / {n_changes:,}  (generated in {gen_s:.1f} s)")
    print(f"first import          {first_s:8.2f} s   ({args.items / first_s:,.0f} items/s)  target ≤ 30 s at 100k/1M")
    print(f"re-import (no change) {again_s:8.2f} s")
    print(f"baseline plain insert {base_s:8.2f} s   [same rows, same run]")
    print(f"import / baseline     {first_s / base_s:8.2f} x")
    print(f"peak RSS              {rss_mb:8.0f} MB")


if __name__ == "__main__":
    main()
