"""The flow and DORA pages in a real headless Chromium on the demo workspace (SQLite), network cut off: the
dashboard and its HTMX filter, the value-stream map with the testing bottleneck highlighted, the forecast
histogram drawn with its markers, the CFD and the DORA tiles; screenshots of each."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from okrflow.api.app import create_app
from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.services import flow
from okrflow.store.db import Database
from tests._browser import SCREENSHOTS, PageWatch, live_server, offline_context, watch_page
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip("playwright.sync_api")
PASSWORD = ADMIN_PASSWORD  # the password of the session's shared demo template (conftest.demo_copy)


@pytest.fixture
def demo_db(demo_copy: Callable[..., str]) -> Iterator[Database]:
    db = Database(demo_copy("sqlite", password=PASSWORD))  # as demo.build(db, password=PASSWORD) leaves it
    yield db
    db.dispose()


def _shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _drawn(page: Any, selector: str) -> int:
    """Wait for the chart on ``selector`` and return the points of its first dataset as Chart.js holds them."""
    page.wait_for_function(f"() => document.querySelector({selector!r})?.hasAttribute('data-rendered-points')")
    held = page.evaluate(f"Chart.getChart(document.querySelector({selector!r})).data.datasets[0].data.length")
    assert int(page.locator(selector).first.get_attribute("data-rendered-points") or -1) == held
    return int(held)


def test_flow_pages_in_browser(browser: Any, demo_db: Database) -> None:
    watch = PageWatch()
    expect = sync_api.expect
    with live_server(create_app(demo_db)) as server:
        context = offline_context(browser, watch, viewport={"width": 1320, "height": 900})
        page = context.new_page()
        watch_page(page, watch)
        page.goto(f"{server}/login?next=/flow")
        page.get_by_label("Username").fill("demo")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{server}/flow")

        # the dashboard: six tiles with sparklines; the team filter swaps the tiles and pushes the URL
        expect(page.locator(".flow-tile")).to_have_count(6)
        # one point per week the 90-day window touches: 13 when it starts on a Monday or Tuesday, else 14
        with demo_db.read() as s:
            weeks = flow.report(s, SYSTEM_ACTOR, 1).weekly.height
        assert weeks in (13, 14) and _drawn(page, '[data-testid="tile-velocity"] canvas') == weeks
        _shot(page, "flow")
        before = page.locator('[data-testid="velocity"]').inner_text()
        page.evaluate("window.__okrflowMarker = 'same page'")
        page.get_by_label("Team").select_option(label="\u00a0\u00a0Payments")
        expect(page).to_have_url(f"{server}/flow?team=2")
        page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')")
        assert page.locator('[data-testid="velocity"]').inner_text() != before
        assert page.evaluate("window.__okrflowMarker") == "same page"  # no reload
        _drawn(page, '[data-testid="tile-velocity"] canvas')

        # value-stream map: testing is the bottleneck, highlighted
        page.goto(f"{server}/flow/value-stream")
        box = page.locator('[data-testid="vsm-bottleneck"]')
        expect(box).to_have_attribute("data-step", "testing")
        expect(box).to_have_class("vsm-box is-bottleneck")
        expect(page.locator('[data-testid="bottleneck"]')).to_contain_text("Bottleneck: testing")
        assert box.evaluate("el => getComputedStyle(el).borderTopColor") == "rgb(185, 28, 28)"
        _shot(page, "vsm")

        # forecast: the histogram is drawn (bars as Chart.js holds them) with its markers
        page.goto(f"{server}/flow/forecast?items=30&seed=7")
        canvas = 'canvas[data-chart-kind="histogram"]'
        bars = _drawn(page, canvas)
        sent = page.evaluate(f"JSON.parse(document.querySelector({canvas!r}).getAttribute('data-chart')).bars.length")
        assert bars == sent > 5
        expect(page.locator('[data-testid="forecast-p85"]')).not_to_have_text("—")
        _shot(page, "forecast")

        page.goto(f"{server}/flow/cfd")
        assert _drawn(page, 'canvas[data-chart-kind="cfd"]') > 60
        _shot(page, "cfd")

        page.goto(f"{server}/dora")
        expect(page.locator(".dora-service")).to_have_count(4)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.dora-tile canvas')]"
            ".every(c => c.hasAttribute('data-rendered-points'))"
        )
        levels = set(page.locator(".dora-tile .badge-level").evaluate_all("els => els.map(e => e.dataset.level)"))
        assert {"elite", "high", "medium"} <= levels
        _shot(page, "dora")
        context.close()
    assert watch.problems() == [], watch.problems()
    assert watch.blocked == []
