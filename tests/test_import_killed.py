"""A killed import leaves the database as it was before the run began (both engines).

A child process starts a large import and is killed with SIGKILL while it writes; afterwards there are no
work items, no status changes, and the next run closes the dead run as interrupted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from sqlalchemy import func, select

from okrflow.services import imports, sources
from okrflow.store.models_work import StatusChange, SyncRun, WorkItem

CHILD = textwrap.dedent(
    """
    import sys
    from okrflow.domain.access import SYSTEM_ACTOR
    from okrflow.services import imports
    from okrflow.store.db import Database
    sys.path.insert(0, {bench!r})
    from import_bench import synthetic

    db = Database({url!r})
    records = synthetic(30_000, 10)

    def progress(phase, done, total):
        if phase == "items":
            print("WRITING", flush=True)

    imports.import_records(db, SYSTEM_ACTOR, {source_id}, records, progress=progress)
    print("FINISHED", flush=True)
    """
)


def test_sigkill_during_an_import_leaves_nothing_behind(db, db_url, admin_setup, admin_actor):
    with db.write() as s:
        source_id = sources.create_source(s, admin_actor, admin_setup.workspace_id, "big", "jira").id
    bench = os.path.join(os.path.dirname(__file__), "..", "benchmarks")
    code = CHILD.format(bench=os.path.abspath(bench), url=db_url, source_id=source_id)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()  # the child reports once the items are being written
        assert line.strip() == "WRITING", line
        time.sleep(0.1)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(WorkItem)) == 0
        assert s.scalar(select(func.count()).select_from(StatusChange)) == 0
        assert s.scalar(select(SyncRun.status)) == "running"  # the dead run's own row, written before it began
    # The next run closes the dead one as interrupted and imports normally.
    imports.import_records(db, admin_actor, source_id, [])
    with db.read() as s:
        runs = s.scalars(select(SyncRun).order_by(SyncRun.id)).all()
        assert runs[0].status == "failed" and "interrupted" in runs[0].errors[0]
