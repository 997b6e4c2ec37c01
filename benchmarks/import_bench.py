"""Import speed: Jira-shaped JSON pages → the Jira connector → one sync run, against a naive one-row-at-a-time ORM
path.

    python benchmarks/import_bench.py [--items 100000] [--changes-per-item 10] [--naive-sample 2000]
                                      [--database-url URL]

Generates ``--items`` issues shaped like Jira Cloud REST v3 search responses (``fields`` + ``changelog``
with ``--changes-per-item`` status transitions each), in pages of 100 (``{"issues": [...], "nextPageToken": …}``)
serialized to JSON bytes as if received over HTTP, and serves them (with ``/status``) from an in-memory Jira: an
``httpx.MockTransport`` behind the real ``JiraClient``. Then times, separately and in total, the two steps of
``okrflow sync`` (``okrflow.services.sync.sync_source``):

(a) parse: ``sync.read_jira`` — the search page by page, decoding every page and
    ``okrflow.connectors.jira.parser.parse_issue`` for every issue (statuses named by id, the default);
(b) import: ``sync.import_read`` → ``okrflow.services.imports.import_records`` — one run (validate, map, hash,
    bulk insert items and history, link parents, audit, move the cursor);
(c) re-import of the same records (idempotence: 0 created, all unchanged);
(d) baseline in the same run: a naive ORM path — for a sample of ``--naive-sample`` parsed items, each
    ``WorkItem`` and each ``StatusChange`` is ``session.add()``-ed and ``session.flush()``-ed one by one inside
    one transaction; its time is extrapolated per item to the full size and compared with (b).

Target (issue 5 / PRODUCT.md): 100k items / 1M status changes in ≤ 30 s per engine (SQLite and PostgreSQL).
The database (default: a temp SQLite file) is reset first.

The target is judged on wall-clock seconds. The CPU seconds of this process are printed next to them, with the
load average before and after: on a busy machine wall time grows with the other processes, CPU time much less
(PostgreSQL's own work runs in the server process and is not in this process's CPU time).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx

from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.domain.work import WorkRecord
from okrflow.services import imports, setup, sources, sync
from okrflow.store import migrate
from okrflow.store.db import Database
from okrflow.store.models_work import StatusChange, WorkItem

BASE_URL = "https://bench.atlassian.net"
PAGE_SIZE = 100
STORY_POINTS_FIELD = "customfield_10016"  # one of FieldConfig's default story-point fields
# (name, id, statusCategory.key) as Jira's /status lists them
FLOW = [
    ("To Do", "10000", "new"),
    ("Selected for Development", "10001", "new"),
    ("In Progress", "3", "indeterminate"),
    ("Code Review", "10002", "indeterminate"),
    ("Ready for QA", "10003", "indeterminate"),
    ("In QA", "10004", "indeterminate"),
    ("Done", "10005", "done"),
]
AUTHORS = ("Ada Lovelace", "Grace Hopper", "Alan Turing", "Barbara Liskov")


def jira_ts(dt: datetime) -> str:
    """Jira's timestamp format: ``2024-01-05T10:15:30.000+0000``."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def status_obj(i: int) -> dict[str, Any]:
    name, sid, cat = FLOW[i]
    return {
        "self": f"{BASE_URL}/rest/api/3/status/{sid}",
        "name": name,
        "id": sid,
        "statusCategory": {"id": {"new": 2, "indeterminate": 4, "done": 3}[cat], "key": cat, "name": cat.title()},
    }


def synthetic_issue(i: int, per_item: int, rng: random.Random, t0: datetime) -> dict[str, Any]:
    created = t0 + timedelta(minutes=rng.randrange(0, 60 * 24 * 600))
    at, state, histories = created, 0, []
    for h in range(per_item):
        nxt = min(len(FLOW) - 1, max(1, state + rng.choice((1, 1, 1, -1))))
        at = at + timedelta(minutes=rng.randrange(10, 60 * 24 * 5), seconds=rng.randrange(60))
        author = rng.choice(AUTHORS)
        histories.append(
            {
                "id": str(1_000_000 + i * per_item + h),
                "author": {"accountId": f"acc-{author[:3].lower()}", "displayName": author, "active": True},
                "created": jira_ts(at),
                "items": [
                    {
                        "field": "status",
                        "fieldtype": "jira",
                        "fieldId": "status",
                        "from": FLOW[state][1],
                        "fromString": FLOW[state][0],
                        "to": FLOW[nxt][1],
                        "toString": FLOW[nxt][0],
                    }
                ],
            }
        )
        state = nxt
    ext_id = 10_000 + i
    parent_i = i - i % 20
    fields: dict[str, Any] = {
        "summary": f"Synthetic item {i}",
        "issuetype": {"id": "10001", "name": "Epic" if i % 20 == 0 else rng.choice(("Story", "Bug", "Task"))},
        "status": status_obj(state),
        "created": jira_ts(created),
        "updated": jira_ts(at),
        "resolutiondate": jira_ts(at) if FLOW[state][2] == "done" else None,
        "labels": ["bench"] + (["okr:KR-1"] if i % 7 == 0 else []),
        STORY_POINTS_FIELD: float(rng.choice((1, 2, 3, 5, 8))),
        "assignee": {"displayName": rng.choice(AUTHORS)},
        "parent": (
            {
                "id": str(10_000 + parent_i),
                "key": f"BEN-{parent_i}",
                "fields": {"summary": f"Synthetic item {parent_i}"},
            }
            if i % 20
            else None
        ),
    }
    return {
        "expand": "changelog",
        "id": str(ext_id),
        "self": f"{BASE_URL}/rest/api/3/issue/{ext_id}",
        "key": f"BEN-{i}",
        "fields": fields,
        "changelog": {"startAt": 0, "maxResults": per_item, "total": per_item, "histories": histories},
    }


def synthetic_pages(n: int, per_item: int, seed: int = 1) -> list[bytes]:
    """``n`` issues as Jira search-response pages of 100, each already JSON bytes (a response body)."""
    rng = random.Random(seed)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    pages = []
    for start in range(0, n, PAGE_SIZE):
        issues = [synthetic_issue(i, per_item, rng, t0) for i in range(start, min(n, start + PAGE_SIZE))]
        page: dict[str, Any] = {"issues": issues}
        if start + PAGE_SIZE < n:
            page["nextPageToken"] = f"tok-{start + PAGE_SIZE}"
        else:
            page["isLast"] = True
        pages.append(json.dumps(page).encode())
    return pages


def fake_jira(pages: list[bytes]) -> httpx.MockTransport:
    """An in-memory Jira Cloud: ``/status`` and the search pages (by ``nextPageToken``)."""
    statuses = json.dumps([status_obj(i) for i in range(len(FLOW))]).encode()

    def handle(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "application/json"}
        if request.url.path == "/rest/api/3/status":
            return httpx.Response(200, content=statuses, headers=headers)
        if request.url.path == "/rest/api/3/search/jql":
            token = parse_qs(request.url.query.decode()).get("nextPageToken", ["tok-0"])[0]
            return httpx.Response(200, content=pages[int(token.removeprefix("tok-")) // PAGE_SIZE], headers=headers)
        return httpx.Response(404, json={"errorMessages": [f"no {request.url.path}"]})

    return httpx.MockTransport(handle)


def naive_orm(db: Database, workspace_id: int, source_id: int, records: list[WorkRecord]) -> int:
    """One row at a time: ``session.add`` + ``session.flush`` per item and per status change, one transaction."""
    n = 0
    with db.write() as s:
        for r in records:
            item = WorkItem(
                workspace_id=workspace_id,
                source_id=source_id,
                external_id=r.external_id,
                key=r.key,
                url=r.url,
                title=r.title,
                issue_type=r.issue_type,
                status=r.status,
                status_category=r.status_category,
                parent_external_id=r.parent_external_id,
                created=r.created,
                resolved=r.resolved,
                updated=r.updated,
                labels=list(r.labels),
                story_points=r.story_points,
                assignee=r.assignee,
            )
            s.add(item)
            s.flush()
            for h in r.history:
                s.add(
                    StatusChange(
                        work_item_id=item.id, at=h.at, from_status=h.from_status, to_status=h.to_status, author=h.author
                    )
                )
                s.flush()
                n += 1
    return n


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>12,.0f}" if seconds > 0 else f"{'∞':>12}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--changes-per-item", type=int, default=10)
    ap.add_argument("--naive-sample", type=int, default=2_000, help="items written by the naive ORM path")
    ap.add_argument("--database-url", default=None, help="default: a temp SQLite file")
    args = ap.parse_args()
    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    db = Database(url)
    migrate.reset(db)
    res = setup.initialize(
        db, admin_username="bench", admin_password="bench-password", workspace_slug="bench", workspace_name="Bench"
    )
    with db.write() as s:
        src = sources.create_source(s, SYSTEM_ACTOR, res.workspace_id, "bench", "jira", base_url=BASE_URL)
        naive_src = sources.create_source(s, SYSTEM_ACTOR, res.workspace_id, "naive", "files")

    t = time.perf_counter()
    pages = synthetic_pages(args.items, args.changes_per_item)
    gen_s = time.perf_counter() - t
    mb = sum(len(p) for p in pages) / 1e6

    transport = fake_jira(pages)
    load_before = os.getloadavg()
    t, c = time.perf_counter(), time.process_time()
    read = sync.read_jira(db, SYSTEM_ACTOR, src.id, transport=transport, full=True)
    parse_s, parse_cpu = time.perf_counter() - t, time.process_time() - c
    del pages, transport
    records = read.fetched.records
    n_items = len(records)
    n_changes = sum(len(r.history) for r in records)
    assert n_items == args.items and n_changes == args.items * args.changes_per_item

    t, c = time.perf_counter(), time.process_time()
    first = sync.import_read(db, SYSTEM_ACTOR, src.id, read).imported
    import_s, import_cpu = time.perf_counter() - t, time.process_time() - c
    load_after = os.getloadavg()
    assert first.created == n_items and first.status_changes == n_changes, first
    t = time.perf_counter()
    again = imports.import_records(db, SYSTEM_ACTOR, src.id, records)
    again_s = time.perf_counter() - t
    assert again.created == 0 and again.unchanged == n_items and again.status_changes == 0, again

    sample = records[: max(1, min(args.naive_sample, n_items))]
    t = time.perf_counter()
    naive_changes = naive_orm(db, res.workspace_id, naive_src.id, sample)
    naive_s = time.perf_counter() - t
    naive_full_s = naive_s * n_items / len(sample)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    total_s = parse_s + import_s

    print(f"database               {db.display_url} ({db.backend})")
    print(
        f"items / changes        {n_items:,} / {n_changes:,}  in {len(range(0, n_items, PAGE_SIZE)):,} pages of "
        f"{PAGE_SIZE} ({mb:,.0f} MB JSON, generated in {gen_s:.1f} s)"
    )
    print(f"{'':22} {'seconds':>8}   {'items/s':>12} {'changes/s':>12}   {'CPU s':>7}")
    print(
        f"parse (fetch + parser) {parse_s:8.2f}   {rate(n_items, parse_s)} {rate(n_changes, parse_s)}   "
        f"{parse_cpu:7.2f}"
    )
    print(
        f"import (one sync run)  {import_s:8.2f}   {rate(n_items, import_s)} {rate(n_changes, import_s)}   "
        f"{import_cpu:7.2f}"
    )
    print(
        f"total parse + import   {total_s:8.2f}   {rate(n_items, total_s)} {rate(n_changes, total_s)}   "
        f"{parse_cpu + import_cpu:7.2f}"
    )
    if n_items >= 100_000:
        print(f"  target ≤ 30 s per engine at 100k / 1M: {'met' if total_s <= 30 else 'MISSED'}")
    else:
        print(f"  target ≤ 30 s at 100k / 1M: not judged (smaller run; linear: {total_s * 100_000 / n_items:.0f} s)")
    print(
        f"re-import (no change)  {again_s:8.2f}   {rate(n_items, again_s)} {'':>12}  "
        f"created {again.created}, unchanged {again.unchanged:,}"
    )
    print(
        f"naive ORM (sample)     {naive_s:8.2f}   {rate(len(sample), naive_s)} {rate(naive_changes, naive_s)}  "
        f"{len(sample):,} items / {naive_changes:,} changes, add+flush per row"
    )
    print(f"naive extrapolated     {naive_full_s:8.2f}   to {n_items:,} items")
    print(f"naive ÷ ours (import)  {naive_full_s / import_s:8.1f} x")
    print(f"naive ÷ ours (total)   {naive_full_s / total_s:8.1f} x   (ours including JSON parse)")
    print(f"peak RSS               {rss_mb:8.0f} MB")
    print(
        f"load average (1 min)   {load_before[0]:8.2f} before parse, {load_after[0]:.2f} after import "
        f"({os.cpu_count()} CPUs)"
    )


if __name__ == "__main__":
    main()
