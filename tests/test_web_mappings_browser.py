"""The Mappings page in headless Chromium (SQLite, network cut off): the unmapped Chinese status is highlighted;
an admin maps it with its form and sees it move to the mapped statuses, and the summary count drop, without a
page load; the YAML snippet's Copy button works. Screenshot: artifacts/screenshots/mappings.png."""

from __future__ import annotations

from typing import Any

import pytest

from okrflow.api.app import create_app
from okrflow.services import sources
from okrflow.store.db import Database
from tests import test_web_mappings as mapping_pages
from tests._browser import SCREENSHOTS, PageWatch, live_server, offline_context, watch_page
from tests.conftest import ADMIN_PASSWORD
from tests.test_web_mappings import MapWorld

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]

sync_api = pytest.importorskip("playwright.sync_api")
world = mapping_pages.world


def test_map_a_status_in_browser(browser: Any, db: Database, world: MapWorld) -> None:
    watch = PageWatch()
    expect = sync_api.expect
    with live_server(create_app(db)) as server:
        context = offline_context(browser, watch, viewport={"width": 1280, "height": 800})
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
        page = context.new_page()
        watch_page(page, watch)
        page.goto(f"{server}/login?next=/mappings")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{server}/mappings")
        page.wait_for_load_state("load")  # htmx and okrflow.js bound
        expect(page.locator('[data-testid="unmapped-total"]')).to_have_text("4 unmapped values across 2 sources")
        expect(page.get_by_role("link", name="Mappings")).to_have_attribute("aria-current", "page")

        card = page.locator(f"#mapping-source-{world.jira_id}")
        unmapped = card.locator('tr[data-testid="unmapped-status"][data-value="待测试"]')
        expect(unmapped).to_be_visible()
        expect(unmapped.locator(".badge-danger")).to_have_text("unmapped")
        expect(card.locator('tr[data-testid="category-status"][data-value="Triage"]')).to_be_visible()

        # the YAML snippet of the value, copied with its button
        snippet = unmapped.locator("xpath=following-sibling::tr[1]").locator('[data-testid="yaml-snippet"]')
        expect(snippet).to_contain_text("待测试:")
        copy = unmapped.locator("xpath=following-sibling::tr[1]").get_by_role("button", name="Copy")
        copy.click()
        page.wait_for_function("async () => (await navigator.clipboard.readText()).includes('待测试: {step:')")
        assert page.evaluate("navigator.clipboard.readText()") == snippet.text_content()

        # map it in place: the card is swapped, the value moves to the mapped statuses, the summary follows
        page.evaluate("window.__okrflowMarker = 'same page'")
        form = unmapped.locator("xpath=following-sibling::tr[1]").locator("form")
        form.get_by_label("Step").select_option("testing")
        form.get_by_label("Stage").select_option("delivery")
        form.get_by_label("Time there is").select_option("waiting")
        form.get_by_role("button", name="Map status").click()
        mapped = card.locator('tr[data-testid="mapped-status"][data-value="待测试"]')
        expect(mapped).to_be_visible()
        expect(mapped).to_contain_text("testing")
        expect(mapped).to_contain_text("own rule")
        expect(card.locator('tr[data-testid="unmapped-status"][data-value="待测试"]')).to_have_count(0)
        expect(card.locator('[data-testid="mapping-message"]')).to_contain_text("Status “待测试” → testing")
        expect(page.locator('[data-testid="unmapped-total"]')).to_have_text("3 unmapped values across 2 sources")
        assert page.evaluate("window.__okrflowMarker") == "same page", "the page was reloaded"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(SCREENSHOTS / "mappings.png"), full_page=True)

        # a bad value from a tampered form comes back next to the form (422), still without a page load
        other = card.locator('tr[data-value="Awaiting Sign-off"]').locator("xpath=following-sibling::tr[1]")
        other.locator("select[name=step]").evaluate("el => { el.options[0].value = 'sideways'; el.selectedIndex = 0; }")
        other.get_by_role("button", name="Map status").click()
        expect(card.locator('[data-testid="map-error"]')).to_contain_text("Choose a value-stream step")
        assert page.evaluate("window.__okrflowMarker") == "same page", "the page was reloaded"

        with db.read() as s:
            report = sources.mapping_report(s, mapping_pages.SYSTEM_ACTOR, world.jira_id)
        assert "待测试" not in report.unmapped_statuses and "Awaiting Sign-off" in report.unmapped_statuses
        context.close()
    assert watch.problems(allowed_statuses=(422,)) == []
    assert watch.blocked == []
