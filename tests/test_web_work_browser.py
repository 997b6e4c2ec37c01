"""The work pages in a real headless Chromium on the demo workspace (SQLite), network cut off: filter the work
items with HTMX, open an unaligned item, link it to a key result and see the chip; upload a file with a bad
line and see the errors; the unaligned-work bars on /trace. Screenshots of each page."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from okrflow.api.app import create_app
from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.services import sources
from okrflow.store.db import Database
from okrflow.store.models import Team
from okrflow.store.models_work import WorkItem, WorkItemLink
from tests._browser import SCREENSHOTS, PageWatch, live_server, offline_context, watch_page
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip("playwright.sync_api")
PASSWORD = ADMIN_PASSWORD  # the password of the session's shared demo template (conftest.demo_copy)


@pytest.fixture
def demo_db(demo_copy: Callable[..., str]) -> Iterator[Database]:
    db = Database(demo_copy("sqlite", password=PASSWORD))  # as demo.build(db, password=PASSWORD) leaves it
    with db.write() as s:
        payments = s.scalar(select(Team.id).where(Team.slug == "payments"))
        ws = s.scalar(select(Team.workspace_id).where(Team.id == payments))
        sources.create_source(s, SYSTEM_ACTOR, ws, "spreadsheet", "files", team_id=payments)
    yield db
    db.dispose()


def _shot(page: Any, name: str, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def _htmx_idle(page: Any) -> None:
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping, .htmx-added')"
    )


def test_work_pages_in_browser(browser: Any, demo_db: Database, tmp_path: Path) -> None:
    watch = PageWatch()
    expect = sync_api.expect
    with demo_db.read() as s:
        total = s.scalar(select(func.count()).select_from(WorkItem))
        links = s.scalar(select(func.count()).select_from(WorkItemLink))
    with live_server(create_app(demo_db)) as server:
        context = offline_context(browser, watch, viewport={"width": 1280, "height": 800})
        page = context.new_page()
        watch_page(page, watch)
        page.goto(f"{server}/login?next=/work")
        page.get_by_label("Username").fill("demo")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{server}/work")
        expect(page.locator('[data-testid="work-total"]')).to_have_text(str(total))
        page.wait_for_load_state("load")

        # filters swap the table with HTMX and push the URL; no page load
        page.evaluate("window.__okrflowMarker = 'same page'")
        page.locator("#wf-team").select_option(label="\u00a0\u00a0Payments")
        expect(page).to_have_url(re.compile(r"/work\?team=\d+"))
        _htmx_idle(page)
        page.get_by_label("Unaligned only").check()
        expect(page).to_have_url(re.compile(r"unaligned=1"))
        _htmx_idle(page)
        expect(page.locator(".work-table tbody tr").first).to_contain_text("unaligned")
        # the key cell may also hold tags ("unaligned"): the key is its first word
        first_key = page.locator(".work-table tbody tr td").first.inner_text().split()[0]
        page.locator("#wf-q").fill(first_key)
        expect(page.locator(".work-table tbody tr")).to_have_count(1)
        expect(page).to_have_url(re.compile(rf"q={first_key}"))
        _htmx_idle(page)
        assert page.evaluate("window.__okrflowMarker") == "same page", "the page was reloaded"
        page.locator("#wf-q").fill("")
        expect(page.locator('[data-testid="work-page"]')).to_contain_text("of")
        _htmx_idle(page)
        expect(page.locator(".work-table tbody .unaligned-tag").first).to_be_visible()
        _shot(page, "work", full_page=False)

        # open an unaligned item and link it to a key result with the HTMX form
        # (one that has started, so it has a status history to show)
        row = page.locator(".work-table tbody tr", has_text=re.compile("development|testing")).first
        key = row.locator("td").first.inner_text().split()[0]  # the key, without the link arrow
        row.locator("a.work-title").click()
        expect(page).to_have_url(re.compile(r"/work/\d+$"))
        expect(page.locator(".breadcrumb")).to_contain_text(key)
        expect(page.locator('[data-testid="item-kr-count"]')).to_have_text("0")
        expect(page.locator(".timeline .tl-entry").first).to_be_visible()
        option = page.locator("#link-kr option:not([disabled]):not([value=''])").first
        kr_value = option.get_attribute("value")
        page.locator("#link-kr").select_option(kr_value)
        page.evaluate("window.__okrflowMarker = 'same page'")
        page.get_by_role("button", name="Link", exact=True).click()
        expect(page.locator('[data-testid="link-message"]')).to_contain_text(f"KR-{kr_value}")
        expect(page.locator("#work-links .kr-chip").first).to_have_text(f"KR-{kr_value}")
        assert page.evaluate("window.__okrflowMarker") == "same page", "the page was reloaded"
        with demo_db.read() as s:
            assert s.scalar(select(func.count()).select_from(WorkItemLink)) == links + 1
        _htmx_idle(page)
        _shot(page, "work-item")

        # sources: a file with a bad line is rejected with its errors, nothing written
        page.goto(f"{server}/sources")
        card = page.locator('[data-source="spreadsheet"]')
        bad = tmp_path / "items.csv"
        bad.write_text("external_id,type,status,created\nX-1,Story,Done,2026-09-01\nX-2,Story,Done,someday\n")
        card.locator('input[type="file"]').set_input_files(str(bad))
        card.get_by_role("button", name="Upload and import").click()
        card = page.locator('[data-source="spreadsheet"]')
        expect(card.locator('[data-testid="source-error"]')).to_contain_text("items.csv: line 3")
        expect(card.locator(".runs-table")).to_contain_text("failed")
        with demo_db.read() as s:
            assert s.scalar(select(func.count()).select_from(WorkItem)) == total
        _htmx_idle(page)
        _shot(page, "sources")

        # traceability: the unaligned bars per team, the matrix
        page.get_by_role("navigation", name="Work pages").get_by_role("link", name="Traceability").click()
        expect(page).to_have_url(f"{server}/trace")
        bars = page.locator(".ubar-row")
        expect(bars).to_have_count(3)
        values = page.eval_on_selector_all("progress.is-unaligned-flow", "els => els.map(e => e.value)")
        assert all(0 < v < 100 for v in values), values
        expect(page.locator('[data-testid="unaligned-total"]')).to_have_text(re.compile(r"^\d+%$"))
        expect(page.locator(".matrix-table")).to_contain_text("via")
        _shot(page, "trace")
        page.locator(".matrix-inherited summary").first.click()
        expect(page.locator(".matrix-inherited .via-tag").first).to_be_visible()

        assert watch.problems(allowed_statuses=(422,)) == []
        assert watch.blocked == [], f"requests left localhost: {watch.blocked}"
        context.close()
