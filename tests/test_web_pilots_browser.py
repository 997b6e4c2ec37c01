"""The pilot pages and the decision log in a real headless Chromium (SQLite), network cut off: open the running
pilot, see the recommendation (scale) and its charts, evaluate it with HTMX, try to override it without a
rationale (the service's message next to the field), record the decision, open it, and find it in the log with
the HTMX filters. No console errors, no CSP violations. Screenshots in /tmp/shots/pilots-*.png."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from okrflow.api.app import create_app
from okrflow.services import setup
from okrflow.store.db import Database
from okrflow.store.models_pilots import Decision, Pilot
from tests._browser import PageWatch, live_server, offline_context, watch_page
from tests.test_web_pilots import PilotWorld, build_world

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip("playwright.sync_api")
PASSWORD = "pilot-browser-password"
SHOTS = Path("/tmp/shots")


@pytest.fixture
def pilot_db(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[Database, PilotWorld]]:
    path = tmp_path / "pilots.db"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    done = setup.initialize(
        db, admin_username="admin", admin_password=PASSWORD, workspace_slug="acme", workspace_name="Acme"
    )
    world = build_world(db, done.workspace_id)
    yield db, world
    db.dispose()


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    # caret="initial": hiding the caret leaves style="" on inputs, which HTMX copies when it swaps them (CSP)
    page.screenshot(path=str(SHOTS / f"pilots-{name}.png"), full_page=True, caret="initial")


def _htmx_idle(page: Any) -> None:
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping, .htmx-added')"
    )


def _charts_drawn(page: Any, expected: int) -> None:
    page.wait_for_function(
        f"() => document.querySelectorAll('canvas[data-chart-kind=effect][data-rendered-points]').length === {expected}"
    )


def test_record_the_recommended_decision_and_find_it_in_the_log(
    browser: Any, pilot_db: tuple[Database, PilotWorld]
) -> None:
    db, world = pilot_db
    watch = PageWatch()
    expect = sync_api.expect
    with live_server(create_app(db)) as server:
        context = offline_context(browser, watch, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        watch_page(page, watch)
        page.goto(f"{server}/login?next=/pilots")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{server}/pilots")
        expect(page.locator('[data-testid="pilot-total"]')).to_have_text("2")
        _shot(page, "list")

        # open the running pilot: the recommendation is scale, with the rule and the numbers behind it
        page.locator('tr[data-pilot="P-1"] a.pilot-title').click()
        expect(page).to_have_url(f"{server}/pilots/P-1")
        page.wait_for_load_state("load")
        expect(page.locator('[data-testid="pilot-status"]')).to_have_text("running")
        rec = page.locator('[data-testid="recommendation"]')
        expect(rec).to_have_attribute("data-action", "scale")
        expect(rec.locator('[data-testid="recommendation-rule"]')).to_contain_text("scale_when")
        expect(rec).to_contain_text("chance to win")
        expect(page.locator('[data-testid="srm"]').first).to_have_attribute("data-srm", "ok")
        # the plan's power analysis on the Sample tile, with a progress bar of the units needed
        expect(page.locator('[data-testid="power-hint"]')).to_contain_text("needed for 80% power")
        expect(page.locator('[data-testid="sample-tile"] progress')).to_be_visible()
        expect(page.locator('[data-testid="hypothesis"]')).to_contain_text("by 15% in four weeks")
        _charts_drawn(page, 2)  # the primary metric and the guardrail, one treatment each
        points = page.eval_on_selector_all(
            "canvas[data-chart-kind=effect]", "els => els.map(e => e.getAttribute('data-rendered-points'))"
        )
        assert points == ["1", "1"]
        expect(page.locator(".ninety-svg .today-line")).to_have_count(1)

        # Evaluate now: the recommendation is stored, the fragment swapped without a page load
        page.evaluate("window.__okrflowMarker = 'same page'")
        page.locator('[data-testid="evaluate"]').click()
        expect(page.locator('[data-testid="evaluated"]')).to_contain_text("scale")
        expect(page.locator('[data-testid="last-evaluation"]')).to_contain_text("Last stored evaluation")
        _htmx_idle(page)
        assert page.evaluate("window.__okrflowMarker") == "same page", "the page was reloaded"
        expect(page.locator("#dc-action")).to_have_value("scale")  # preselected with the recommendation
        _shot(page, "pilot")

        # overriding without a rationale: the service refuses, its message next to the field, nothing stored
        page.locator("#dc-action").select_option("rollback")
        page.locator("#dc-decision").fill("Roll the one-page checkout out to every EU buyer")
        page.get_by_role("button", name="Record decision").click()
        expect(page.locator("#err-rationale")).to_contain_text("overrides the recommendation (scale)")
        expect(page.locator("#dc-decision")).to_have_value("Roll the one-page checkout out to every EU buyer")
        _htmx_idle(page)
        assert page.evaluate("window.__okrflowMarker") == "same page"
        with db.read() as s:
            assert s.scalars(select(Decision)).all() == []

        # record the recommended decision: it is created and linked from the pilot page
        page.locator("#dc-action").select_option("scale")
        page.locator("#dc-rationale").fill("A clear win on conversion, latency within its guardrail")
        page.get_by_role("button", name="Record decision").click()
        expect(page).to_have_url(re.compile(r"/pilots/P-1\?decision=\d+"))
        expect(page.locator('[data-testid="decision-recorded"]')).to_be_visible()
        expect(page.locator('[data-testid="pilot-status"]')).to_have_text("decided")
        with db.read() as s:
            (d,) = s.scalars(select(Decision)).all()
            assert d.action == "scale" and d.evidence["recommendation"]["action"] == "scale"
            assert s.get(Pilot, world.running_id).status == "decided"  # type: ignore[union-attr]
        page.locator('[data-testid="decision-link"]').click()
        expect(page).to_have_url(f"{server}/decisions/{d.id}")
        expect(page.locator('[data-testid="decision-action"]')).to_have_text("scale")
        expect(page.locator('[data-testid="frozen-recommendation"]')).to_have_attribute("data-action", "scale")
        _charts_drawn(page, 2)  # the frozen chart from the evidence
        _shot(page, "decision")

        # find it in the log: filters swap the list with HTMX and push a bookmarkable URL
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Decisions").click()
        expect(page).to_have_url(f"{server}/decisions")
        page.wait_for_load_state("load")  # okrflow.js (deferred) listens for the filter changes
        page.evaluate("window.__okrflowMarker = 'same page'")
        page.locator("#df-action").select_option("scale")
        expect(page).to_have_url(re.compile(r"/decisions\?action=scale"))
        _htmx_idle(page)
        page.locator("#df-q").fill("one-page")
        expect(page).to_have_url(re.compile(r"q=one-page"))
        expect(page.locator('[data-testid="decision-total"]')).to_have_text("1")
        entry = page.locator(f'[data-decision-id="{d.id}"]')
        expect(entry).to_contain_text(d.title)
        expect(entry.locator('[data-action="scale"]')).to_be_visible()
        _htmx_idle(page)
        assert page.evaluate("window.__okrflowMarker") == "same page", "the page was reloaded"
        page.locator("#df-action").select_option("rollback")
        expect(page.locator('[data-testid="decision-total"]')).to_have_text("0")
        _htmx_idle(page)
        page.go_back()  # Back brings the previous filter back (HTMX history), still without a page load
        expect(page).to_have_url(re.compile(r"/decisions\?action=scale&q=one-page$"))
        expect(page.locator(f'[data-decision-id="{d.id}"]')).to_be_visible()
        assert page.evaluate("window.__okrflowMarker") == "same page", "the page was reloaded"
        page.goto(f"{server}/decisions?action=scale")  # the URL is bookmarkable
        expect(page.locator(f'[data-decision-id="{d.id}"]')).to_be_visible()
        expect(page.locator("#df-action")).to_have_value("scale")
        _shot(page, "log")

        assert watch.problems(allowed_statuses=(422,)) == []
        assert watch.blocked == [], f"requests left localhost: {watch.blocked}"
        context.close()
