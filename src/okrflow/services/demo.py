"""The demo workspace: a realistic company to look at right after install (``okrflow demo``).

Later capabilities add their parts here (objectives, work, flow, pilots), so the demo always shows
everything okrflow does. It must stay fast (well under a minute).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select

from okrflow.domain.access import SYSTEM_ACTOR, Actor, Role
from okrflow.domain.errors import ConflictError
from okrflow.services import demo_okr, demo_pilots, demo_work, tenancy
from okrflow.store import migrate
from okrflow.store.db import Database
from okrflow.store.models import User, Workspace
from okrflow.store.models_okr import CheckIn, KeyResult, Objective

DEMO_SLUG = "northwind"
DEMO_NAME = "Northwind Commerce"
DEMO_ADMIN = "demo"

# slug, name, kind, parent slug, description
TEAMS: tuple[tuple[str, str, str, str | None, str], ...] = (
    ("product-eng", "Product & Engineering", "leadership", None, "The product and engineering organisation."),
    ("payments", "Payments", "product", "product-eng", "Card, wallet and invoice payments at checkout."),
    ("checkout", "Checkout", "product", "product-eng", "Basket, checkout flow and order confirmation."),
    ("discovery", "Search & Discovery", "product", "product-eng", "Search, recommendations and browse."),
    ("platform", "Platform", "platform", "product-eng", "CI/CD, runtime, observability and the data platform."),
)

# name, title, team slug
PEOPLE: tuple[tuple[str, str, str], ...] = (
    ("Amara Okafor", "VP Product & Engineering", "product-eng"),
    ("Jonas Weber", "Head of Engineering", "product-eng"),
    ("Priya Raman", "Product Manager", "payments"),
    ("Mateo García", "Tech Lead", "payments"),
    ("Lena Fischer", "Backend Engineer", "payments"),
    ("Kwame Mensah", "Backend Engineer", "payments"),
    ("Sofia Rossi", "QA Engineer", "payments"),
    ("Hannah Schmidt", "Product Manager", "checkout"),
    ("Yusuf Demir", "Tech Lead", "checkout"),
    ("Chloé Martin", "Frontend Engineer", "checkout"),
    ("Daniel Kim", "Frontend Engineer", "checkout"),
    ("Aisha Bello", "Product Designer", "checkout"),
    ("Lucas Silva", "Product Manager", "discovery"),
    ("Mei Chen", "Data Scientist", "discovery"),
    ("Oliver Brown", "Backend Engineer", "discovery"),
    ("Fatima Zahra", "ML Engineer", "discovery"),
    ("Erik Johansson", "Platform Lead", "platform"),
    ("Nadia Petrova", "Site Reliability Engineer", "platform"),
    ("Tomás Novak", "DevOps Engineer", "platform"),
    ("Grace Liu", "Data Engineer", "platform"),
)

# username, person name, role, team slug (None = workspace-wide)
ACCOUNTS: tuple[tuple[str, str, Role, str | None], ...] = (
    ("amara", "Amara Okafor", Role.VIEWER, None),
    ("priya", "Priya Raman", Role.CONTRIBUTOR, "payments"),
    ("hannah", "Hannah Schmidt", Role.CONTRIBUTOR, "checkout"),
    ("lucas", "Lucas Silva", Role.CONTRIBUTOR, "discovery"),
    ("erik", "Erik Johansson", Role.CONTRIBUTOR, "platform"),
)


@dataclass(frozen=True)
class DemoSummary:
    workspace_slug: str
    workspace_name: str
    teams: list[str]
    people: int
    admin_username: str
    admin_password: str
    database_url: str
    accounts: list[str] = field(default_factory=list)
    objectives: int = 0
    key_results: int = 0
    checkins: int = 0
    metrics: int = 0
    metric_values: int = 0
    headlines: list[str] = field(default_factory=list)
    work_items: int = 0
    status_changes: int = 0
    deployments: int = 0
    links: int = 0
    pilots: int = 0
    decisions: int = 0
    anticipated_outcomes: int = 0
    actual_outcomes: int = 0
    retrospectives: int = 0


def _email(name: str) -> str:
    local = name.lower().replace(" ", ".")
    for a, b in (("é", "e"), ("í", "i"), ("á", "a"), ("ó", "o"), ("ç", "c")):
        local = local.replace(a, b)
    return f"{local}@northwind.example"


def _wipe(db: Database) -> None:
    """Empty the database for ``--force``: only when it holds nothing but the demo."""
    with db.read() as s:
        others = s.scalars(select(Workspace.slug).where(Workspace.slug != DEMO_SLUG)).all()
    if others:
        raise ConflictError(
            f"--force would delete other workspaces too ({', '.join(others)}); use a separate database for the demo"
        )
    migrate.reset(db)


def work_scale() -> float:
    """``OKRFLOW_DEMO_SCALE`` (0 < s ≤ 1) shrinks the demo's work data for quick trials and the test suite."""
    import os

    try:
        value = float(os.environ.get("OKRFLOW_DEMO_SCALE", "1"))
    except ValueError:
        return 1.0
    return min(1.0, max(0.01, value))


def build(
    db: Database,
    *,
    force: bool = False,
    password: str | None = None,
    actor: Actor = SYSTEM_ACTOR,
    now: datetime | None = None,
) -> DemoSummary:
    """Create the demo workspace in ``db`` (migrating it first). Refuses to overwrite unless ``force``."""
    now = now or datetime.now(UTC)
    migrate.upgrade(db)
    with db.read() as s:
        exists = s.scalar(select(Workspace.id).where(Workspace.slug == DEMO_SLUG)) is not None
        admin_taken = s.scalar(select(User.id).where(User.username == DEMO_ADMIN)) is not None
    if exists or admin_taken:
        if not force:
            raise ConflictError(
                f"the demo workspace exists already in {db.display_url}; run `okrflow demo --force` to rebuild it"
            )
        _wipe(db)
    password = password or secrets.token_urlsafe(9)

    with db.write() as s:
        admin = tenancy.create_user(s, actor, DEMO_ADMIN, password, display_name="Demo Admin", is_superuser=True)
        ws = tenancy.create_workspace(s, actor, DEMO_SLUG, DEMO_NAME, "A mid-size online retailer (demo data).")
        tenancy.create_membership(s, actor, ws.id, admin.id, Role.ADMIN.value)
        team_ids: dict[str, int] = {}
        for slug, name, kind, parent, description in TEAMS:
            team = tenancy.create_team(s, actor, ws.id, slug, name, team_ids.get(parent or ""), kind, description)
            team_ids[slug] = team.id
        person_ids: dict[str, int] = {}
        for name, title, team_slug in PEOPLE:
            person = tenancy.create_person(s, actor, ws.id, name, _email(name), title, team_ids[team_slug])
            person_ids[name] = person.id
        accounts = []
        for username, person_name, role, team_slug in ACCOUNTS:
            tenancy.create_user(
                s,
                actor,
                username,
                None,  # demo colleagues cannot log in until an admin sets a password
                email=_email(person_name),
                display_name=person_name,
                person_id=person_ids[person_name],
                workspace_id=ws.id,
                role=role.value,
                team_id=team_ids[team_slug] if team_slug else None,
            )
            accounts.append(f"{username} ({role.value}{' on ' + team_slug if team_slug else ''})")

    okr_summary = demo_okr.build(db, ws.id, team_ids, person_ids, actor=actor, now=now)
    work_summary = demo_work.build(db, ws.id, team_ids, actor=actor, now=now, scale=work_scale())
    pilot_summary = demo_pilots.build(db, ws.id, team_ids, person_ids, actor=actor, now=now)
    with db.read() as s:  # counted at the end: the work step adds a key result on a flow metric
        okr_summary["objectives"] = (
            s.scalar(select(func.count(Objective.id)).where(Objective.workspace_id == ws.id)) or 0
        )
        okr_summary["key_results"] = (
            s.scalar(
                select(func.count(KeyResult.id))
                .join(Objective, KeyResult.objective_id == Objective.id)
                .where(Objective.workspace_id == ws.id)
            )
            or 0
        )
        okr_summary["checkins"] = (
            s.scalar(
                select(func.count(CheckIn.id))
                .join(KeyResult, CheckIn.key_result_id == KeyResult.id)
                .join(Objective, KeyResult.objective_id == Objective.id)
                .where(Objective.workspace_id == ws.id)
            )
            or 0
        )
    return DemoSummary(
        workspace_slug=DEMO_SLUG,
        workspace_name=DEMO_NAME,
        teams=[name for _, name, _, _, _ in TEAMS],
        people=len(PEOPLE),
        admin_username=DEMO_ADMIN,
        admin_password=password,
        database_url=db.display_url,
        accounts=accounts,
        **okr_summary,
        **work_summary,
        **pilot_summary,
    )
