"""The audit hash chain (pure): any change, insertion or removal is found, and the first bad entry named."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from okrflow.domain.audit import GENESIS_HASH, AuditRecord, entry_hash, verify_chain


def build_chain(n: int) -> list[AuditRecord]:
    chain: list[AuditRecord] = []
    prev = GENESIS_HASH
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(1, n + 1):
        rec = AuditRecord(
            seq=i,
            at=t0 + timedelta(minutes=i),
            actor="user:a",
            action="update",
            entity_type="team",
            entity_id=str(i % 3),
            workspace_id=1,
            before={"name": f"old {i}"},
            after={"name": f"new {i}", "n": i},
            prev_hash=prev,
        )
        rec = replace(rec, hash=entry_hash(rec))
        prev = rec.hash
        chain.append(rec)
    return chain


def test_intact_chain_verifies():
    verdict = verify_chain(build_chain(20))
    assert verdict.ok and verdict.checked == 20


def test_hash_is_stable_for_key_order():
    a = build_chain(1)[0]
    b = replace(a, after={"n": 1, "name": "new 1"})
    assert entry_hash(a) == entry_hash(b)


@given(st.integers(min_value=0, max_value=14), st.sampled_from(["after", "actor", "at", "entity_id"]))
def test_changed_entry_is_named(index, field):
    chain = build_chain(15)
    victim = chain[index]
    changed = {
        "after": {"name": "forged"},
        "actor": "user:mallory",
        "at": victim.at + timedelta(seconds=1),
        "entity_id": "999",
    }[field]
    chain[index] = replace(victim, **{field: changed})
    verdict = verify_chain(chain)
    assert not verdict.ok
    assert verdict.first_bad_seq == victim.seq
    assert "changed" in verdict.reason


@given(st.integers(min_value=0, max_value=14))
def test_removed_entry_is_found(index):
    chain = build_chain(15)
    del chain[index]
    verdict = verify_chain(chain)
    if index == 14:  # removing the newest entry leaves a valid, shorter chain: documented limitation
        assert verdict.ok
    else:
        assert not verdict.ok
        assert verdict.first_bad_seq == index + 2


def test_rehashed_forgery_still_breaks_the_link_to_the_next_entry():
    chain = build_chain(5)
    forged = replace(chain[2], after={"name": "forged"})
    chain[2] = replace(forged, hash=entry_hash(forged))
    verdict = verify_chain(chain)
    assert verdict.first_bad_seq == 4
    assert "does not link" in verdict.reason
