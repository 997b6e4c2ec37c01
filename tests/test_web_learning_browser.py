"""The learning pages in a real headless Chromium (SQLite, network cut off): record the actual outcome of an
initiative from the "Outcome reviews due" list and see it leave the list (HTMX, no reload) while the realization
chart is drawn again; the Outcome panel loaded into a work item page; record a postmortem; add an action item to
it and mark it done. No console error, no CSP violation. Screenshots of each page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from okrflow.api.app import create_app
from okrflow.services import setup
from okrflow.store.db import Database
from okrflow.store.models_pilots import ActionItem, ActualOutcome, Retrospective
from tests._browser import SCREENSHOTS, PageWatch, live_server, offline_context, watch_page
from tests.conftest import ADMIN_PASSWORD
from tests.test_web_learning import LearningWorld, build_world

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def learning_db(tmp_path: Path) -> Iterator[tuple[Database, LearningWorld]]:
    db = Database(f"sqlite:///{tmp_path / 'learning.db'}")
    result = setup.initialize(
        db, admin_username="admin", admin_password=ADMIN_PASSWORD, workspace_slug="acme", workspace_name="Acme"
    )
    world = build_world(db, result.workspace_id)
    yield db, world
    db.dispose()


def _shot(page: Any, name: str, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    # caret="initial": hiding the caret leaves style="" on every input, which an HTMX swap would then copy
    # (settle) into the new content, and the CSP refuses inline styles
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page, caret="initial")


def _htmx_idle(page: Any) -> None:
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping, .htmx-added')"
    )


def test_learning_pages_in_browser(browser: Any, learning_db: tuple[Database, LearningWorld]) -> None:
    db, world = learning_db
    watch = PageWatch()
    expect = sync_api.expect
    with live_server(create_app(db)) as server:
        context = offline_context(browser, watch, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        watch_page(page, watch)
        page.goto(f"{server}/login?next=/outcomes")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{server}/outcomes")
        page.wait_for_load_state("load")
        expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Learning")).to_have_attribute(
            "aria-current", "page"
        )

        # the due list and the realization chart (one team: one bar)
        due = page.locator(".due-review")
        expect(due).to_have_count(1)
        expect(due.first).to_contain_text("PAY-1")
        expect(due.first.locator('[data-testid="days-overdue"]')).to_have_text("10 days overdue")
        expect(page.locator('canvas[data-chart-kind="realization"]')).to_have_attribute("data-rendered-points", "1")
        _shot(page, "outcomes")

        # record the outcome inline: the item leaves the list, the page is not reloaded
        page.evaluate("window.__okrflowMarker = 'same page'")
        row = due.first
        row.get_by_text("Record outcome").click()
        row.get_by_text("Partially").click()  # a validation error first: no date
        row.locator('input[name="observed_on"]').fill("")
        row.get_by_role("button", name="Save outcome").click()
        expect(page.locator("#err-observed_on")).to_have_text("Say when you observed it (a date).")
        _htmx_idle(page)
        row = page.locator(".due-review").first
        row.get_by_text("Achieved", exact=True).click()
        row.locator('input[name="observed_on"]').fill(date.today().isoformat())
        row.locator('input[name="observed_value"]').fill("0.14")
        row.locator('textarea[name="learning"]').fill("Wallets moved conversion more than expected.")
        row.get_by_role("button", name="Save outcome").click()
        expect(page.locator('[data-testid="outcome-message"]')).to_have_text("Outcome of PAY-1 recorded: achieved.")
        expect(page.locator(".due-review")).to_have_count(0)
        expect(page.locator('[data-testid="due-count"]')).to_have_text("0")
        expect(page.locator('[data-testid="rate-total"]')).to_have_text("100%")
        _htmx_idle(page)
        expect(page.locator('canvas[data-chart-kind="realization"]')).to_have_attribute("data-rendered-points", "1")
        assert page.evaluate("window.__okrflowMarker") == "same page", "the page was reloaded"
        with db.read() as s:
            actual = s.scalar(select(ActualOutcome).where(ActualOutcome.work_item_id == world.ini))
            assert actual is not None and actual.result == "achieved" and actual.observed_value == 0.14

        # the work item page loads its Outcome panel with HTMX
        page.goto(f"{server}/work/{world.ini}")
        panel = page.locator('[data-testid="outcome-panel"]')
        expect(panel).to_contain_text("people abandon the cart (PAY-1)")
        expect(panel.locator('[data-testid="actual-outcome"]')).to_contain_text("Wallets moved conversion")
        _htmx_idle(page)
        _shot(page, "work-item-outcome")

        # a new postmortem, linked to the incident
        page.goto(f"{server}/retros")
        page.get_by_text("+ New retrospective / postmortem").click()
        form = page.locator("#retro-new form")
        form.get_by_role("radio", name=re.compile("^Postmortem")).check()
        form.get_by_label("Title").fill("Search latency spike")
        form.get_by_label("What happened").fill("The index rebuild ran at noon and search slowed down.")
        form.get_by_label("Impact").fill("Search p95 latency tripled for 50 minutes.")
        form.get_by_label("Contributing factors").fill("rebuild not scheduled off-peak\nno load test of the rebuild")
        form.locator("#rn-incident").select_option(str(world.incident))
        form.get_by_role("button", name="Record it").click()
        expect(page).to_have_url(re.compile(r"/retros/\d+$"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Search latency spike")
        expect(page.locator('[data-testid="factors"] li')).to_have_count(2)
        expect(page.locator('[data-testid="incident"]')).to_contain_text("Payments down")
        with db.read() as s:
            assert s.scalar(select(Retrospective).where(Retrospective.title == "Search latency spike")) is not None

        # add an action item and mark it done, with HTMX
        page.evaluate("window.__okrflowMarker = 'same page'")
        page.get_by_text("+ Add action item").click()
        actions = page.locator("#retro-actions")
        actions.get_by_label("Action", exact=True).fill("Schedule rebuilds at night")
        actions.get_by_label("Owner").select_option(label="Ben Builder")
        actions.get_by_label("Due on").fill((date.today() + timedelta(days=14)).isoformat())
        actions.get_by_label("Playbook or runbook").fill("/docs/runbooks/search-rebuild")
        actions.get_by_role("button", name="Add action").click()
        expect(page.locator('[data-testid="action-message"]')).to_have_text(
            "Action “Schedule rebuilds at night” added."
        )
        item = page.locator(".action-row", has_text="Schedule rebuilds at night")
        expect(item).to_have_attribute("data-status", "open")
        expect(item.get_by_role("link", name="Playbook / runbook")).to_have_attribute(
            "href", "/docs/runbooks/search-rebuild"
        )
        _htmx_idle(page)
        item.get_by_role("button", name="Mark “Schedule rebuilds at night” done").click()
        expect(page.locator('[data-testid="action-message"]')).to_have_text("“Schedule rebuilds at night” marked done.")
        item = page.locator(".action-row", has_text="Schedule rebuilds at night")
        expect(item).to_have_attribute("data-status", "done")
        expect(item.get_by_role("button", name="Reopen “Schedule rebuilds at night”")).to_be_visible()
        assert page.evaluate("window.__okrflowMarker") == "same page", "the page was reloaded"
        with db.read() as s:
            action = s.scalar(select(ActionItem).where(ActionItem.title == "Schedule rebuilds at night"))
            assert action is not None and action.status == "done" and action.version == 2
        _htmx_idle(page)
        _shot(page, "postmortem")

        # the list and the overdue panel
        page.goto(f"{server}/retros")
        expect(page.locator('[data-testid="retro-total"]')).to_have_text("3")
        expect(page.locator("#overdue-actions")).to_contain_text("Canary for config pushes")
        page.locator("#rf-kind").select_option("postmortem")
        expect(page).to_have_url(re.compile(r"/retros\?kind=postmortem$"))
        expect(page.locator('[data-testid="retro-total"]')).to_have_text("2")
        _htmx_idle(page)
        _shot(page, "retros")

        assert watch.problems(allowed_statuses=(422,)) == []
        assert watch.blocked == [], f"requests left localhost: {watch.blocked}"
        context.close()
