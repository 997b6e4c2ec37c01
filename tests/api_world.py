"""A small, fast world for the API tests: two workspaces, teams, people, one user per role, tokens.

Use it as ``with build_world(db) as world:``.

Accounts are created without passwords (argon2 is slow) and tokens through the auth service, all in one
transaction by the system actor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from okrflow.api.app import create_app
from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.domain.delivery import ChangeRecord, DeploymentRecord, IncidentRecord
from okrflow.domain.work import StatusChangeRecord, WorkRecord
from okrflow.services import auth, catalog, delivery, imports, sources, tenancy, traceability
from okrflow.services import okr as okr_service
from okrflow.store.db import Database
from okrflow.store.models_work import WorkItem

API = "/api/v1"
ROLES = ("anonymous", "viewer", "contributor_team", "contributor_ws", "admin", "superuser", "outsider")
ALL_SCOPES = "read,write,admin"


@dataclass
class World:
    db: Database
    client: TestClient
    ws_a: int = 0
    ws_b: int = 0
    team_alpha: int = 0  # in A; contributor_team is contributor here
    team_beta: int = 0  # in A; nobody has a team role here
    team_b: int = 0  # in B
    person_alpha: int = 0
    person_beta: int = 0
    person_b: int = 0
    users: dict[str, int] = field(default_factory=dict)  # role -> user id
    memberships: dict[str, int] = field(default_factory=dict)  # role -> membership id
    tokens: dict[str, str] = field(default_factory=dict)  # role -> bearer secret
    token_ids: dict[str, int] = field(default_factory=dict)
    spare_token_id: int = 0  # a second token of the viewer
    target_membership: int = 0  # a viewer membership of ``target`` in A, safe to change
    # One disposable object per role, so every role's request in a matrix row meets the same state:
    del_team: dict[str, int] = field(default_factory=dict)  # a team in A without children or people
    del_person: dict[str, int] = field(default_factory=dict)  # a person on team alpha
    loner: dict[str, int] = field(default_factory=dict)  # an account without memberships
    del_membership: dict[str, int] = field(default_factory=dict)  # a viewer membership in A
    # With ``okr=True``: periods, objectives, key results, check-ins and a metric in A (names in ``okr``), and
    # with ``disposables`` one objective, key result and check-in per role (``okr_mine[role]``).
    okr: dict[str, int] = field(default_factory=dict)
    okr_mine: dict[str, dict[str, int]] = field(default_factory=dict)
    # With ``work=True`` (implies ``okr``): a files source in A with work items and delivery data (names in
    # ``work``), and per role an unlinked story (``item_mine``) and a story linked to KR alpha (``linked_mine``).
    work: dict[str, int] = field(default_factory=dict)
    work_mine: dict[str, dict[str, int]] = field(default_factory=dict)

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.__exit__(None, None, None)

    def headers(self, role: str, **extra: str) -> dict[str, str]:
        h = dict(extra)
        if role != "anonymous":
            h["Authorization"] = f"Bearer {self.tokens[role]}"
        return h

    def ids(self, role: str = "anonymous") -> dict[str, int]:
        """Names usable in path templates and bodies; the ``*_mine`` ones are the role's disposable objects."""
        mine = {
            "team_del_mine": self.del_team.get(role, 0),
            "person_del_mine": self.del_person.get(role, 0),
            "loner_mine": self.loner.get(role, 0),
            "m_del_mine": self.del_membership.get(role, 0),
        }
        mine.update(self.okr_mine.get(role, {}))
        mine.update(self.work_mine.get(role, {}))
        return {
            **mine,
            **self.okr,
            **self.work,
            "ws_a": self.ws_a,
            "ws_b": self.ws_b,
            "team_alpha": self.team_alpha,
            "team_beta": self.team_beta,
            "team_b": self.team_b,
            "person_alpha": self.person_alpha,
            "person_beta": self.person_beta,
            "person_b": self.person_b,
            "viewer_user": self.users["viewer"],
            "m_contributor_team": self.memberships["contributor_team"],
            "m_target": self.target_membership,
            "spare_token": self.spare_token_id,
        }


def build_world(
    db: Database,
    *,
    disposables: bool = False,
    raise_server_exceptions: bool = False,
    okr: bool = False,
    work: bool = False,
) -> World:
    """The world; ``disposables`` adds one team, person, loner account and membership per role; ``okr`` adds
    the OKR objects of :func:`_add_okr`; ``work`` adds those and the work of :func:`_add_work`."""
    okr = okr or work
    client = TestClient(create_app(db), raise_server_exceptions=raise_server_exceptions)
    client.__enter__()  # one event-loop thread for all requests (much faster); closed by ``World.__exit__``
    w = World(db=db, client=client)
    s_ = SYSTEM_ACTOR
    with db.write() as s:
        a = tenancy.create_workspace(s, s_, "acme", "Acme")
        b = tenancy.create_workspace(s, s_, "globex", "Globex")
        w.ws_a, w.ws_b = a.id, b.id
        w.team_alpha = tenancy.create_team(s, s_, a.id, "alpha", "Alpha").id
        w.team_beta = tenancy.create_team(s, s_, a.id, "beta", "Beta").id
        w.team_b = tenancy.create_team(s, s_, b.id, "bx", "B team").id
        w.person_alpha = tenancy.create_person(s, s_, a.id, "Ada", "ada@acme.test", team_id=w.team_alpha).id
        w.person_beta = tenancy.create_person(s, s_, a.id, "Bea", "bea@acme.test", team_id=w.team_beta).id
        w.person_b = tenancy.create_person(s, s_, b.id, "Bob", "bob@globex.test", team_id=w.team_b).id
        grants = {
            "viewer": (a.id, "viewer", None),
            "contributor_team": (a.id, "contributor", w.team_alpha),
            "contributor_ws": (a.id, "contributor", None),
            "admin": (a.id, "admin", None),
            "superuser": None,
            "outsider": (b.id, "admin", None),
        }
        for role, grant in grants.items():
            user = tenancy.create_user(s, s_, role.replace("_", "-"), None, is_superuser=grant is None)
            w.users[role] = user.id
            if grant is not None:
                w.memberships[role] = tenancy.create_membership(s, s_, grant[0], user.id, grant[1], grant[2]).id
            token, secret = auth.create_token(s, s_, user.id, "main", ALL_SCOPES)
            w.tokens[role], w.token_ids[role] = secret, token.id
        w.spare_token_id = auth.create_token(s, s_, w.users["viewer"], "spare", "read")[0].id
        target = tenancy.create_user(s, s_, "target", None)
        w.target_membership = tenancy.create_membership(s, s_, a.id, target.id, "viewer").id
        for i, role in enumerate(ROLES if disposables else ()):
            w.del_team[role] = tenancy.create_team(s, s_, a.id, f"del-{i}", f"Disposable {i}").id
            w.del_person[role] = tenancy.create_person(s, s_, a.id, f"Disposable {i}", team_id=w.team_alpha).id
            w.loner[role] = tenancy.create_user(s, s_, f"loner-{i}", None).id
            other = tenancy.create_user(s, s_, f"member-{i}", None)
            w.del_membership[role] = tenancy.create_membership(s, s_, a.id, other.id, "viewer").id
        if okr:
            _add_okr(w, s, disposables)
    if work:
        _add_work(w)
    return w


WORK_T0 = datetime(2026, 10, 1, tzinfo=UTC)


def _story(ext: str, key: str, *, start: int | None = None, done: int | None = None, **kw: object) -> WorkRecord:
    """A story created on ``WORK_T0``, started ``start`` days later, done ``done`` days later."""
    hist = []
    if start is not None:
        hist.append(StatusChangeRecord(WORK_T0 + timedelta(days=start), "In Progress", "To Do"))
    if done is not None:
        hist.append(StatusChangeRecord(WORK_T0 + timedelta(days=done), "Done", "In Progress"))
    status = "Done" if done is not None else "In Progress" if start is not None else "To Do"
    return WorkRecord(
        ext, str(kw.pop("type", "Story")), status, WORK_T0, key=key, title=f"Item {key}", history=tuple(hist), **kw
    )  # type: ignore[arg-type]


def _add_work(w: World) -> None:
    """In A, source ``files-a`` (kind files, team alpha): epic PAY-1 (linked to KR alpha) with story PAY-2 (done
    after 4 days of flow: Oct 2 → Oct 6); PAY-3 (10 days: Oct 3 → Oct 13); PAY-4 in progress since Oct 5;
    per role a backlog story. Delivery data for service ``checkout`` in the week of Mon Oct 5: deployments
    on Mon, Tue, Wed (each shipping one PR whose first commit was 10 hours earlier), an incident 1 hour after
    Tuesday's deployment, resolved 3 hours after it."""
    s_ = SYSTEM_ACTOR
    with w.db.write() as s:
        src = sources.create_source(s, s_, w.ws_a, "files-a", "files", team_id=w.team_alpha)
    recs = [
        _story("E-1", "PAY-1", type="Epic", start=1),
        _story("S-1", "PAY-2", start=1, done=5, parent_external_id="E-1"),
        _story("S-2", "PAY-3", start=2, done=12),
        _story("S-3", "PAY-4", start=4),
    ]
    recs += [_story(f"D-{i}", f"PAY-D{i}") for i in range(len(ROLES))]
    recs += [_story(f"L-{i}", f"PAY-L{i}") for i in range(len(ROLES))]
    result = imports.import_records(w.db, s_, src.id, recs)
    deploy_at = [datetime(2026, 10, 5 + d, 12, tzinfo=UTC) for d in range(3)]
    deps = [
        DeploymentRecord(
            f"d{d}", "checkout", "production", "success", at, at - timedelta(minutes=10), f"sha{d}", (f"sha{d}",)
        )
        for d, at in enumerate(deploy_at)
    ]
    changes = [
        ChangeRecord(
            f"pr{d}",
            "pull_request",
            "checkout",
            at - timedelta(hours=5),
            first_commit_at=at - timedelta(hours=10),
            merged_at=at - timedelta(hours=1),
            merge_commit_sha=f"sha{d}",
        )
        for d, at in enumerate(deploy_at)
    ]
    incidents = [
        IncidentRecord(
            "inc1", "checkout", deploy_at[1] + timedelta(hours=1), resolved_at=deploy_at[1] + timedelta(hours=3)
        )
    ]
    delivery.import_delivery(w.db, s_, src.id, deployments=deps, changes=changes, incidents=incidents)
    with w.db.write() as s:
        ids = {i.key: i.id for i in s.scalars(select(WorkItem).where(WorkItem.source_id == src.id))}
        traceability.link(s, s_, ids["PAY-1"], w.okr["kr_alpha"])
        for i, role in enumerate(ROLES):
            traceability.link(s, s_, ids[f"PAY-L{i}"], w.okr["kr_alpha"])
            w.work_mine[role] = {"item_mine": ids[f"PAY-D{i}"], "linked_mine": ids[f"PAY-L{i}"]}
    w.work.update(
        source_a=src.id, run_a=result.run_id, item_epic=ids["PAY-1"], item_story=ids["PAY-2"], item_free=ids["PAY-3"]
    )


OKR_YEAR = 2026


def _add_okr(w: World, s: Session, disposables: bool) -> None:
    """In A: the year 2026 and its quarters; a workspace-level objective, one of team alpha and one of team
    beta (each with a key result and a check-in); a metric ``conversion`` with a ``team`` dimension."""
    s_ = SYSTEM_ACTOR
    year, q1 = okr_service.create_year(s, s_, w.ws_a, OKR_YEAR)[:2]
    w.okr.update(period_year=year.id, period_q1=q1.id)
    for name, team in (("ws", None), ("alpha", w.team_alpha), ("beta", w.team_beta)):
        obj = okr_service.create_objective(s, s_, w.ws_a, q1.id, f"Objective {name}", team_id=team)
        kr = okr_service.create_key_result(s, s_, obj.id, f"KR {name}", "increase", baseline=0, target=10)
        checkin = okr_service.create_checkin(
            s, s_, kr.id, value=1, confidence=7, at=datetime(OKR_YEAR, 1, 15, tzinfo=UTC)
        )
        w.okr.update({f"obj_{name}": obj.id, f"kr_{name}": kr.id, f"checkin_{name}": checkin.id})
    w.okr["version_one"] = 1  # the first version of any metric
    w.okr["metric_a"] = catalog.define_metric(s, s_, w.ws_a, "conversion", name="Conversion", dimensions=["team"]).id
    for role in ROLES if disposables else ():
        obj = okr_service.create_objective(s, s_, w.ws_a, q1.id, f"Disposable {role}", team_id=w.team_alpha)
        kr = okr_service.create_key_result(
            s, s_, w.okr["obj_alpha"], f"Disposable {role}", "decrease", baseline=9, target=1
        )
        checkin = okr_service.create_checkin(s, s_, w.okr["kr_alpha"], value=2, confidence=5)
        w.okr_mine[role] = {"obj_del_mine": obj.id, "kr_del_mine": kr.id, "checkin_del_mine": checkin.id}


def user_token(db: Database, user_id: int, scopes: str, **kwargs: object) -> str:
    with db.write() as s:
        return auth.create_token(s, SYSTEM_ACTOR, user_id, f"t-{scopes}", scopes, **kwargs)[1]  # type: ignore[arg-type]
