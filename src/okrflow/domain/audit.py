"""The tamper-evident audit chain (pure rules).

Each entry's hash is SHA-256 over a canonical JSON of its fields and the previous entry's hash, so changing,
inserting or deleting any entry breaks every hash after it. ``verify_chain`` names the first broken entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class AuditRecord:
    """One audit entry as hashed."""

    seq: int
    at: datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str
    workspace_id: int | None
    before: Any
    after: Any
    prev_hash: str
    hash: str = ""


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(record: AuditRecord) -> str:
    """SHA-256 (hex) of the entry's content chained to ``prev_hash``."""
    payload = canonical_json(
        {
            "seq": record.seq,
            "at": record.at.isoformat(),
            "actor": record.actor,
            "action": record.action,
            "entity_type": record.entity_type,
            "entity_id": record.entity_id,
            "workspace_id": record.workspace_id,
            "before": record.before,
            "after": record.after,
            "prev_hash": record.prev_hash,
        }
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainVerdict:
    """Result of a chain check: ``ok`` or the first entry that does not verify, and why."""

    checked: int
    first_bad_seq: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


def verify_chain(records: Iterable[AuditRecord]) -> ChainVerdict:
    """Recompute the chain in ``seq`` order and report the first entry that was altered, inserted or removed."""
    previous = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for rec in records:
        if rec.seq != expected_seq:
            return ChainVerdict(checked, rec.seq, f"entry {rec.seq} follows {expected_seq - 1}: entries are missing")
        if rec.prev_hash != previous:
            return ChainVerdict(checked, rec.seq, f"entry {rec.seq} does not link to the entry before it")
        if entry_hash(rec) != rec.hash:
            return ChainVerdict(checked, rec.seq, f"entry {rec.seq} was changed after it was written")
        previous = rec.hash
        expected_seq = rec.seq + 1
        checked += 1
    return ChainVerdict(checked)
