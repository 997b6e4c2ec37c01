from __future__ import annotations

from okrflow.services import audit, tenancy
from okrflow.store import migrate


def test_schema_is_current_and_setup_audited(db, admin_setup, admin_actor):
    assert migrate.is_current(db)
    with db.write() as s:
        team = tenancy.create_team(s, admin_actor, admin_setup.workspace_id, "payments", "Payments")
    with db.read() as s:
        assert audit.verify(s).ok
        hist = audit.history(s, admin_actor, workspace_id=admin_setup.workspace_id, entity_type="team")
        assert [h.entity_id for h in hist] == [str(team.id)]
