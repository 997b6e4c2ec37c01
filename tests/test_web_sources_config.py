"""Adding and configuring sources on /sources (admins): settings checked by the connector, credentials encrypted and
never shown, the version checked (no lost update), every refusal a message next to its field."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import select

from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.services import sources
from okrflow.store.db import Database
from okrflow.store.models_work import Source
from tests import test_web_work
from tests.test_web_ui import HX, _csrf
from tests.test_web_work import WorkWorld, _text

TOKEN = "s3cret-t0ken-never-shown"
world, admin, viewer = test_web_work.world, test_web_work.admin, test_web_work.viewer  # the work pages' fixtures


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKRFLOW_SECRET_KEY", Fernet.generate_key().decode())


def _source(db: Database, name: str) -> Source:
    with db.read() as s:
        src = s.scalar(select(Source).where(Source.name == name))
        assert src is not None
        s.expunge(src)
        return src


def new_source(**extra: str) -> dict[str, str]:
    return {
        "name": "jira-search",
        "kind": "jira",
        "base_url": "https://acme.atlassian.net/",
        "settings": "jql: project = SRCH\napi: cloud",
        "email": "bot@acme.example",
        "token": TOKEN,
    } | extra


def test_only_admins_get_the_forms(db: Database, admin: TestClient, viewer: TestClient, world: WorkWorld) -> None:
    html = admin.get("/sources").text
    assert 'id="source-new"' in html and 'action="/sources"' in html and "Add source" in html
    assert f'action="/sources/{world.jira_id}/config"' in html and 'name="version"' in html
    assert "project = PAY" in html  # the settings as YAML in the configure form
    page = viewer.get("/sources").text
    assert 'id="source-new"' not in page and "/config" not in page and "Save source" not in page
    token = _csrf(page)
    refused = viewer.post("/sources", data=new_source() | {"csrf_token": token})
    assert refused.status_code == 403
    edit = viewer.post(f"/sources/{world.jira_id}/config", data={"csrf_token": token, "version": "1"})
    assert edit.status_code == 403
    assert admin.post("/sources", data=new_source()).status_code == 403  # no CSRF token
    with db.read() as s:
        assert s.scalar(select(Source).where(Source.name == "jira-search")) is None


def test_add_a_source_with_encrypted_credentials(db: Database, admin: TestClient, world: WorkWorld) -> None:
    token = _csrf(admin.get("/sources").text)
    resp = admin.post(
        "/sources", data=new_source(team_id=str(world.team_id)) | {"csrf_token": token}, follow_redirects=False
    )
    src = _source(db, "jira-search")
    assert resp.status_code == 303 and resp.headers["location"] == f"/sources?added={src.id}#source-{src.id}"
    assert src.kind == "jira" and src.base_url == "https://acme.atlassian.net" and src.team_id == world.team_id
    assert src.settings == {"jql": "project = SRCH", "api": "cloud"}
    assert src.credentials and TOKEN not in src.credentials  # encrypted at rest
    assert sources.decrypt_credentials(src.credentials) == {"email": "bot@acme.example", "api_token": TOKEN}
    page = admin.get(resp.headers["location"]).text
    assert 'id="source-' + str(src.id) + '"' in page and TOKEN not in page and "bot@acme.example" not in page
    github = new_source(name="gh-shop", kind="github", email="", settings="repository: acme/shop")
    hx = admin.post("/sources", data=github | {"csrf_token": token, "base_url": "https://api.github.com"}, headers=HX)
    assert hx.status_code == 204 and hx.headers["HX-Redirect"].startswith("/sources?added=")
    assert sources.decrypt_credentials(_source(db, "gh-shop").credentials) == {"token": TOKEN}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"settings": "jql: [unclosed"}, "settings", "The settings are not valid YAML (line 1)"),
        ({"settings": "- a list"}, "settings", "The settings are &#39;key: value&#39; lines"),
        ({"settings": "api: clod"}, "settings", "The jira connector refuses these settings: settings.api"),
        ({"kind": "github", "email": "", "settings": "repository: shop"}, "settings", "is &#39;owner/name&#39;"),
        ({"kind": "gitlab", "email": "", "settings": ""}, "settings", "needs settings.project"),
        ({"name": "Jira Search"}, "name", "A source name is lower-case letters"),
        ({"name": "jira-pay"}, "name", "A source named &#39;jira-pay&#39; exists already"),
        ({"kind": "github", "settings": "repository: a/b"}, "email", "authenticates with a token only"),
        ({"token": ""}, "token", "An e-mail needs a token too"),
        ({"kind": "svn"}, "kind", "Source kind is one of jira, github, gitlab, files"),
        ({"team_id": "999999"}, "team_id", "Choose a team of this workspace"),
    ],
)
def test_a_refused_source_is_explained_next_to_its_field_and_keeps_no_token(
    db: Database, admin: TestClient, world: WorkWorld, changes: dict[str, str], field: str, message: str
) -> None:
    token = _csrf(admin.get("/sources").text)
    before = _count_sources(db)
    resp = admin.post("/sources", data=new_source(**changes) | {"csrf_token": token}, headers=HX)
    assert resp.status_code in (409, 422), resp.text
    assert "<html" not in resp.text and 'id="source-new"' in resp.text and " open" in resp.text
    assert f'id="err-{field}"' in resp.text and message in resp.text, resp.text
    assert TOKEN not in resp.text  # typed values come back, the token never does
    plain = admin.post("/sources", data=new_source(**changes) | {"csrf_token": token})
    assert plain.status_code in (409, 422) and "<html" in plain.text and message in plain.text
    assert _count_sources(db) == before


def _count_sources(db: Database) -> int:
    with db.read() as s:
        return len(s.scalars(select(Source.id)).all())


def test_configure_a_source_keeps_connector_state_and_checks_the_version(
    db: Database, admin: TestClient, world: WorkWorld
) -> None:
    with db.write() as s:
        src = sources.get_source(s, SYSTEM_ACTOR, world.jira_id)
        src.settings = dict(src.settings or {}) | {"etag_cache": {"/x": "W/1"}}
        s.flush()
        version = src.version
    token = _csrf(admin.get("/sources").text)
    form = {
        "csrf_token": token,
        "version": str(version),
        "base_url": "https://acme.atlassian.net",
        "team_id": "",
        "settings": "jql: project = PAY AND type != Sub-task\napi: server",
        "token": TOKEN,
    }
    frag = admin.post(f"/sources/{world.jira_id}/config", data=form, headers=HX)
    assert frag.status_code == 200 and "Source saved." in frag.text and "<html" not in frag.text
    assert TOKEN not in frag.text
    saved = _source(db, "jira-pay")
    assert saved.settings == {"jql": "project = PAY AND type != Sub-task", "api": "server", "etag_cache": {"/x": "W/1"}}
    assert saved.team_id is None and saved.version == version + 1
    assert sources.decrypt_credentials(saved.credentials) == {"token": TOKEN}  # a PAT alone: Server / Data Center
    assert "etag_cache" not in frag.text  # kept, not shown for editing

    stale = admin.post(f"/sources/{world.jira_id}/config", data=form | {"settings": "jql: project = X"}, headers=HX)
    assert stale.status_code == 412 and 'data-testid="stale"' in stale.text and "Someone else changed" in stale.text
    assert "project = X" in stale.text  # what was typed stays in the form
    assert _source(db, "jira-pay").settings["jql"] == "project = PAY AND type != Sub-task"

    bad = admin.post(
        f"/sources/{world.jira_id}/config",
        data=form | {"version": str(version + 1), "settings": "page_size: 5000"},
        headers=HX,
    )
    assert bad.status_code == 422 and "settings.page_size is 1…1000" in _text(bad.text)
    cleared = admin.post(
        f"/sources/{world.jira_id}/config",
        data=form | {"version": str(version + 1), "token": "", "clear_credentials": "1"},
        follow_redirects=False,
    )
    assert cleared.status_code == 303 and cleared.headers["location"] == f"/sources#source-{world.jira_id}"
    assert _source(db, "jira-pay").credentials is None
    no_version = admin.post(f"/sources/{world.jira_id}/config", data=form | {"version": ""}, headers=HX)
    assert no_version.status_code == 422 and "the form has no version" in _text(no_version.text).lower()
