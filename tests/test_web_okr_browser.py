"""The OKR and KPI pages in a real headless Chromium on the demo workspace (SQLite), with the network cut off:
create an objective and a key result through the UI, check in twice with the HTMX form and watch the burn-up
chart and the status change without a page load; screenshots of every page."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from okrflow.api.app import create_app
from okrflow.store.db import Database
from okrflow.store.models_okr import KeyResult, Objective
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


def _htmx_idle(page: Any) -> None:
    """Wait until htmx has finished swapping and settling (it copies attributes for a moment while settling)."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping, .htmx-added')"
    )


def _rendered_points(page: Any) -> int:
    """Points of the first dataset as Chart.js holds them (not just what the server sent)."""
    return int(page.evaluate("Chart.getChart(document.querySelector('#burnup canvas')).data.datasets[0].data.length"))


def test_okr_pages_in_browser(browser: Any, demo_db: Database) -> None:
    watch = PageWatch()
    expect = sync_api.expect
    with demo_db.read() as s:
        payment_kr = s.query(KeyResult).filter(KeyResult.title.like("Bring checkout API%")).one().id
        company = s.query(Objective).filter(Objective.aligned_to_kr_id.is_(None)).one().id
    with live_server(create_app(demo_db)) as server:
        context = offline_context(browser, watch, viewport={"width": 1280, "height": 800})
        page = context.new_page()
        watch_page(page, watch)
        page.goto(f"{server}/login?next=/okr")
        page.get_by_label("Username").fill("demo")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{server}/okr")

        # the tree: four objectives, cascaded; one check-in due
        expect(page.locator("details.okr-node")).to_have_count(4)
        expect(page.locator('[data-testid="count-due"]')).to_have_text("1")
        expect(page.locator("#checkins-due")).to_contain_text("Raise search click-through")
        # collapse and reopen a branch (<details>)
        first = page.locator("details.okr-node").first
        first.locator(":scope > summary .chev").click()
        expect(first).not_to_have_attribute("open", "")
        first.locator(":scope > summary .chev").click()
        expect(first).to_have_attribute("open", "")
        _shot(page, "okr-tree")

        # create an objective aligned to a company key result (HTMX form, then the new objective's page)
        page.locator("#obj-title").fill("Make returns painless")
        page.locator("#obj-commitment").select_option("aspirational")
        page.locator("#obj-align").select_option(
            label="Become the easiest place to buy online › Lift checkout conversion from 2.8 % to 3.4 %"
        )
        page.get_by_role("button", name="Create objective").click()
        expect(page).to_have_url(re.compile(r"/okr/objective/\d+\?created=1$"))
        expect(page.get_by_role("heading", name="Make returns painless")).to_be_visible()
        expect(page.locator(".breadcrumb")).to_contain_text("Lift checkout conversion")

        # an inline validation error, then a key result, without a page load
        page.evaluate("window.__okrflowMarker = 'same page'")
        page.locator("#kr-title").fill("Self-service returns")
        page.locator("#kr-baseline").fill("0")
        page.locator("#kr-target").fill("not a number")
        page.get_by_role("button", name="Add key result").click()
        expect(page.locator("#err-target")).to_contain_text("must be a number")
        page.locator("#kr-direction").select_option("band")
        expect(page.locator("#kr-band-low")).to_be_visible()
        expect(page.locator("#kr-target")).to_be_hidden()
        page.locator("#kr-direction").select_option("increase")
        page.locator("#kr-target").fill("60")
        page.locator("#kr-unit").fill("%")
        page.get_by_role("button", name="Add key result").click()
        expect(page.locator("#kr-list")).to_contain_text("Self-service returns")
        expect(page.locator('[data-testid="kr-count"]')).to_have_text("1")
        assert page.evaluate("window.__okrflowMarker") == "same page", "the page was reloaded"

        # the key result page: check in twice; the chart and the status follow without a reload
        page.get_by_role("link", name="Self-service returns").click()
        expect(page.get_by_role("heading", name="Self-service returns")).to_be_visible()
        expect(page.locator('[data-testid="kr-status"]')).to_have_text("no check-in")
        page.wait_for_function("() => document.querySelector('#burnup canvas').hasAttribute('data-rendered-points')")
        assert _rendered_points(page) == 0
        page.evaluate("window.__okrflowMarker = 'same page'")
        loads: list[str] = []
        page.on("load", lambda: loads.append(page.url))
        for value, confidence, status, points in [("12", "8", "on track", 1), ("18", "2", "off track", 2)]:
            page.locator("#ci-value").fill(value)
            page.locator("#ci-confidence").fill(confidence)
            page.locator("#ci-note").fill(f"check-in {points}")
            page.get_by_role("button", name="Save check-in").click()
            expect(page.locator('[data-testid="kr-status"]')).to_have_text(status)
            expect(page.locator("#burnup canvas")).to_have_attribute("data-rendered-points", str(points))
            assert _rendered_points(page) == points
            expect(page.locator('[data-testid="checkin-count"]')).to_have_text(str(points))
        expect(page.locator('[data-testid="kr-current"]')).to_have_text("18%")
        expect(page.locator("#checkin-table tbody tr").first).to_contain_text("check-in 2")
        # a bad value comes back inline (422) and changes nothing
        page.locator("#ci-value").fill("lots")
        page.get_by_role("button", name="Save check-in").click()
        expect(page.locator("#err-value")).to_contain_text("must be a number")
        expect(page.locator('[data-testid="checkin-count"]')).to_have_text("2")
        assert page.evaluate("window.__okrflowMarker") == "same page", "the page was reloaded"
        assert loads == []
        # the slider and the number field stay in step
        page.locator("#ci-confidence-range").fill("4")
        expect(page.locator("#ci-confidence")).to_have_value("4")
        _shot(page, "kr-checkins")

        # a demo key result with a quarter of history: burn-up with forecast cone
        page.goto(f"{server}/okr/kr/{payment_kr}")
        page.wait_for_function("() => document.querySelector('#burnup canvas').hasAttribute('data-rendered-points')")
        assert _rendered_points(page) >= 5
        _shot(page, "kr")

        page.goto(f"{server}/okr/objective/{company}")
        expect(page.locator(".readings")).to_contain_text("Aspirational")
        _shot(page, "objective")

        # KPI catalog: sparklines drawn for every metric, north star first
        page.get_by_role("navigation", name="Main").get_by_role("link", name="KPIs").click()
        expect(page.locator('[data-testid="north-star"]')).to_contain_text("Weekly active buyers")
        page.wait_for_function(
            "() => [...document.querySelectorAll('canvas[data-chart-kind=spark]')]"
            ".every(c => c.dataset.renderedPoints > 0)"
        )
        expect(page.locator("#metric-table tbody tr").first).to_have_attribute(
            "data-metric-key", "weekly_active_buyers"
        )
        _shot(page, "metrics")

        # a metric with two versions: compare view swaps in with HTMX
        page.get_by_role("link", name="Checkout conversion", exact=True).click()
        expect(page.locator("#version-table tbody tr")).to_have_count(2)
        page.wait_for_function("() => document.getElementById('metric-chart').dataset.renderedPoints > 0")
        assert page.evaluate("Chart.getChart(document.getElementById('metric-chart')).data.datasets.length") >= 3
        page.locator("#cmp-a").select_option("2")
        expect(page.locator('[data-testid="changed-count"]')).to_have_text("0 fields changed")
        _htmx_idle(page)
        page.locator("#cmp-a").select_option("1")
        expect(page.locator("#diff-table")).to_contain_text("excluding sessions flagged as bots")
        _shot(page, "metric")

        # glossary: server-side search while typing
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Glossary").click()
        expect(page).to_have_url(f"{server}/glossary")
        page.wait_for_load_state("load")  # htmx is set up on the input
        page.get_by_label("Search the glossary").fill("conversion")
        expect(page.locator('[data-testid="glossary-count"]')).to_contain_text("match “conversion”")
        expect(page.locator(".glossary-entry").first).to_contain_text("Checkout conversion")
        expect(page).to_have_url(re.compile(r"/glossary\?q=conversion$"))
        page.get_by_label("Search the glossary").fill("")
        expect(page.locator('[data-testid="glossary-count"]')).to_contain_text("entries")
        _shot(page, "glossary")

        # home: the OKR and KPI cards link to the pages
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Home").click()
        expect(page.locator('[data-testid="card-due"]')).to_contain_text("1")
        page.locator('[data-testid="card-kpis"]').click()
        expect(page).to_have_url(f"{server}/metrics")

        # the two 422 answers are expected failed loads; nothing else went wrong or left localhost
        assert watch.problems(allowed_statuses=(422,)) == []
        assert watch.blocked == [], f"requests left localhost: {watch.blocked}"
        context.close()

        # a phone (390×844): nothing pushes the page sideways; screenshots of the tree, a KR and the catalog
        phone = offline_context(browser, watch, viewport={"width": 390, "height": 844}, is_mobile=True)
        page = phone.new_page()
        watch_page(page, watch)
        page.goto(f"{server}/login")
        page.get_by_label("Username").fill("demo")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{server}/")
        for name, path in [("okr", "/okr"), ("kr", f"/okr/kr/{payment_kr}"), ("metrics", "/metrics")]:
            page.goto(server + path)
            page.wait_for_load_state("load")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} scrolls sideways on a phone ({width}px wide)"
            _shot(page, f"phone-{name}")
        assert watch.problems(allowed_statuses=(422,)) == []
        phone.close()
