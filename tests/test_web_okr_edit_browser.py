"""Editing on the OKR pages in headless Chromium (SQLite, network cut off): the /okr filters swap the tree with
HTMX and push the URL; edit a key result's title and see it change without a page load; a stale edit (someone
else saved meanwhile) shows the reload message and keeps the input; edit and delete a check-in (two steps)."""

from __future__ import annotations

from typing import Any

import pytest

from okrflow.api.app import create_app
from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.services import okr
from okrflow.store.db import Database
from tests import test_web_okr as okr_pages
from tests._browser import SCREENSHOTS, PageWatch, live_server, offline_context, watch_page
from tests.conftest import ADMIN_PASSWORD
from tests.test_web_okr import World

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]

sync_api = pytest.importorskip("playwright.sync_api")
world = okr_pages.world


def test_edit_in_browser(browser: Any, db: Database, world: World) -> None:
    watch = PageWatch()
    expect = sync_api.expect
    with live_server(create_app(db)) as server:
        context = offline_context(browser, watch, viewport={"width": 1280, "height": 800})
        page = context.new_page()
        watch_page(page, watch)
        page.goto(f"{server}/login?next=/okr")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{server}/okr")
        page.wait_for_load_state()  # the URL is there before the scripts that bind the filters

        # filters swap the board and push the URL, without a page load
        page.evaluate("window.__okrflowMarker = 'same page'")
        page.locator("#okr-period").select_option("all")
        expect(page).to_have_url(f"{server}/okr?period=all&team=")
        page.locator("#okr-team").select_option(str(world.team_id))
        expect(page).to_have_url(f"{server}/okr?period=all&team={world.team_id}")
        expect(page.locator("#okr-team")).to_have_value(str(world.team_id))
        expect(page.locator("details.okr-node")).to_have_count(1)
        assert page.evaluate("window.__okrflowMarker") == "same page", "the page was reloaded"

        # edit the key result's title: the heading follows, no page load
        page.goto(f"{server}/okr/kr/{world.kr_increase}")
        page.evaluate("window.__okrflowMarker = 'same page'")
        page.get_by_text("Edit key result").click()
        page.locator("#kre-title").fill("Ship 12 payment methods")
        page.locator("#kre-target").fill("12")
        page.get_by_role("button", name="Save key result").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Ship 12 payment methods")
        expect(page.locator('[data-testid="saved"]')).to_be_visible()
        expect(page.locator('[data-testid="kr-progress"]')).to_have_text("33%")

        # someone else saves meanwhile: our save is refused (412), the input stays, the message says reload
        page.get_by_text("Edit key result").click()
        page.locator("#kre-title").fill("My version of the title")
        with db.write() as s:
            okr.update_key_result(s, SYSTEM_ACTOR, world.kr_increase, {"title": "Their version"})
        page.get_by_role("button", name="Save key result").click()
        expect(page.locator('[data-testid="stale"]')).to_contain_text("Someone else changed this key result")
        expect(page.locator("#kre-title")).to_have_value("My version of the title")
        expect(page.get_by_role("heading", level=1)).to_have_text("Their version")
        assert page.evaluate("window.__okrflowMarker") == "same page", "the page was reloaded"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "kr-stale-edit.png"), full_page=True)

        # a check-in: edit it in its row, then delete another one in two steps
        page.goto(f"{server}/okr/kr/{world.kr_increase}")
        expect(page.locator('[data-testid="checkin-count"]')).to_have_text("4")
        page.locator('[data-testid="edit-checkin"]').first.click()
        page.locator("#cie-value").fill("7")
        page.locator("#checkin-table").get_by_role("button", name="Save check-in").click()
        expect(page.locator('[data-testid="checkin-notice"]')).to_have_text("Check-in updated.")
        expect(page.locator('[data-testid="kr-current"]')).to_have_text("7 methods")
        page.locator('[data-testid="delete-checkin"]').last.click()
        page.locator('[data-testid="confirm-delete-checkin"]').click()
        expect(page.locator('[data-testid="checkin-notice"]')).to_have_text("Check-in deleted.")
        expect(page.locator('[data-testid="checkin-count"]')).to_have_text("3")

        assert watch.problems(allowed_statuses=(412,)) == []
        assert watch.blocked == [], f"requests left localhost: {watch.blocked}"
        context.close()
