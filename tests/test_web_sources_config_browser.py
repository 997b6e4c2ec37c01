"""Adding a source in a real headless Chromium (demo workspace, SQLite, network cut off): a refused setting is
explained next to the field without a page load and without sending the token back; the corrected form adds the
source, whose card then shows its settings and never the token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from okrflow.api.app import create_app
from okrflow.services import sources
from okrflow.store.db import Database
from okrflow.store.models_work import Source
from tests._browser import SCREENSHOTS, PageWatch, live_server, offline_context, watch_page
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip("playwright.sync_api")
TOKEN = "s3cret-t0ken-never-shown"


@pytest.fixture
def demo_db(demo_copy: Callable[..., str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    monkeypatch.setenv("OKRFLOW_SECRET_KEY", Fernet.generate_key().decode())
    db = Database(demo_copy("sqlite", password=ADMIN_PASSWORD))
    yield db
    db.dispose()


def test_add_a_source_in_browser(browser: Any, demo_db: Database) -> None:
    watch = PageWatch()
    expect = sync_api.expect
    with live_server(create_app(demo_db)) as server:
        context = offline_context(browser, watch, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        watch_page(page, watch)
        page.goto(f"{server}/login?next=/sources")
        page.get_by_label("Username").fill("demo")
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{server}/sources")
        page.wait_for_load_state("load")

        page.evaluate("window.__okrflowMarker = 'same page'")
        page.get_by_text("Add a source").click()
        page.locator("#sn-name").fill("jira-search")
        page.locator("#sn-url").fill("https://northwind.atlassian.net")
        page.locator("#sn-settings").fill("jql: project = SRCH\napi: clod")
        page.locator("#sn-email").fill("bot@northwind.example")
        page.locator("#sn-token").fill(TOKEN)
        page.get_by_role("button", name="Add source").click()
        expect(page.locator("#err-settings")).to_contain_text("settings.api of a Jira source is one of cloud, server")
        expect(page.locator("#sn-settings")).to_have_value("jql: project = SRCH\napi: clod")
        expect(page.locator("#sn-token")).to_have_value("")  # the token is never sent back
        assert page.evaluate("window.__okrflowMarker") == "same page", "the page was reloaded"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.locator("#source-new").screenshot(path=str(SCREENSHOTS / "source-new-error.png"))

        page.locator("#sn-settings").fill("jql: project = SRCH\napi: cloud")
        page.locator("#sn-token").fill(TOKEN)
        page.get_by_role("button", name="Add source").click()
        card = page.locator('[data-source="jira-search"]')
        expect(card).to_be_visible()
        expect(card).to_contain_text("project = SRCH")
        assert TOKEN not in page.content()
        with demo_db.read() as s:
            src = s.scalar(select(Source).where(Source.name == "jira-search"))
            assert src is not None and sources.decrypt_credentials(src.credentials)["api_token"] == TOKEN
        page.screenshot(path=str(SCREENSHOTS / "sources-added.png"), full_page=True)
        context.close()
    assert watch.problems(allowed_statuses=(422,)) == [] and watch.blocked == []
