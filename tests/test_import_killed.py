"""A killed import leaves the database as it was before the run began (both engines).

A real ``okrflow import`` subprocess reads a large generated CSV pair into a ``files`` source and is killed
with SIGKILL while it writes; afterwards there are no work items and no status changes, the dead run's row
still says "running", and re-running the same command completes and closes the dead run as interrupted.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from okrflow.domain.access import Actor
from okrflow.services import sources
from okrflow.services.setup import SetupResult
from okrflow.store.db import Database
from okrflow.store.models_work import StatusChange, SyncRun, WorkItem

ITEMS = 10_000
CHANGES_PER_ITEM = 10
STATUSES = [
    "To Do",
    "In Progress",
    "In Review",
    "Testing",
    "Blocked",
    "In Progress",
    "In Review",
    "Testing",
    "Ready",
    "Done",
]
START_TIMEOUT = 90.0  # reading and validating 300k rows before the run row is written
KILL_DELAY = 0.3  # seconds after the run row appears: the child is then inside its write transaction
RERUN_TIMEOUT = 180.0


def _write_csvs(tmp_path: Path) -> tuple[Path, Path]:
    """Work items and status changes in the columns of docs/connectors/files.md."""
    items = ["external_id,key,title,type,status,created,resolved"]
    changes = ["external_id,at,from_status,to_status,author"]
    for i in range(ITEMS):
        day = 1 + i % 28
        items.append(f"W-{i},BIG-{i},Item {i},Story,Done,2026-01-{day:02d}T08:00:00Z,2026-03-{day:02d}T17:00:00Z")
        previous = ""
        for j, status in enumerate(STATUSES[:CHANGES_PER_ITEM]):
            changes.append(f"W-{i},2026-02-{day:02d}T{8 + j:02d}:00:00Z,{previous},{status},dev{j}")
            previous = status
    items_csv, changes_csv = tmp_path / "items.csv", tmp_path / "status_changes.csv"
    items_csv.write_text("\n".join(items) + "\n", encoding="utf-8")
    changes_csv.write_text("\n".join(changes) + "\n", encoding="utf-8")
    return items_csv, changes_csv


def _run_statuses(url: str) -> list[str]:
    """Statuses of all sync runs, read in a short-lived session of its own."""
    db = Database(url)
    try:
        with db.read() as s:
            return list(s.scalars(select(SyncRun.status).order_by(SyncRun.id)))
    finally:
        db.dispose()


def test_sigkill_during_a_real_okrflow_import_leaves_nothing_behind(
    db: Database, db_url: str, admin_setup: SetupResult, admin_actor: Actor, tmp_path: Path
) -> None:
    with db.write() as s:
        sources.create_source(s, admin_actor, admin_setup.workspace_id, "big", "files")
    items_csv, changes_csv = _write_csvs(tmp_path)
    command = [
        sys.executable, "-m", "okrflow", "--database-url", db_url,
        "import", str(items_csv), str(changes_csv), "--source", "big",
    ]  # fmt: skip
    log = tmp_path / "killed.log"
    with log.open("w") as output:
        child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "running" not in _run_statuses(db_url):
            if child.poll() is not None:
                raise AssertionError(
                    f"okrflow import ended (exit {child.returncode}) before its run row was seen; if it succeeded, "
                    f"the file is too small to catch it mid-write — raise ITEMS. Output:\n{log.read_text()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no running sync run after {START_TIMEOUT:.0f}s:\n{log.read_text()}")
            time.sleep(0.05)
        time.sleep(KILL_DELAY)
        if child.poll() is not None:
            raise AssertionError(
                f"okrflow import finished (exit {child.returncode}) within {KILL_DELAY}s of starting its run, before "
                f"the kill; use a bigger file (raise ITEMS or CHANGES_PER_ITEM). Output:\n{log.read_text()}"
            )
        child.send_signal(signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, log.read_text()
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(WorkItem)) == 0
        assert s.scalar(select(func.count()).select_from(StatusChange)) == 0
        assert list(s.scalars(select(SyncRun.status))) == ["running"]  # the dead run's own row, written before it began

    # The same command again closes the dead run as interrupted and imports everything.
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=RERUN_TIMEOUT)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(WorkItem)) == ITEMS
        assert s.scalar(select(func.count()).select_from(StatusChange)) == ITEMS * CHANGES_PER_ITEM
        runs = s.scalars(select(SyncRun).order_by(SyncRun.id)).all()
        assert [r.status for r in runs] == ["failed", "succeeded"]
        assert "interrupted" in runs[0].errors[0]
