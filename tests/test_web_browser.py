"""The web UI in a real headless Chromium, against the real app under uvicorn, with the network cut off."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from okrflow.api.app import create_app
from okrflow.store.db import Database
from tests._browser import SCREENSHOTS, PageWatch, live_server, offline_context, watch_page
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def server(db: Database, admin_setup: object) -> Iterator[str]:
    with live_server(create_app(db)) as url:
        yield url


def _shot(page: Any, name: str, db: Database) -> None:
    if db.backend != "sqlite":  # one set of screenshots is enough
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _nav(page: Any, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


def test_login_teams_tokens_in_browser(browser: Any, server: str, db: Database) -> None:
    watch = PageWatch()
    context = offline_context(browser, watch, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    watch_page(page, watch)
    expect = sync_api.expect

    # an unauthenticated visit lands on the login page
    page.goto(f"{server}/teams")
    expect(page).to_have_url(f"{server}/login?next=%2Fteams")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_label("Username")).to_be_focused()
    _shot(page, "login", db)

    # a wrong password keeps us on the form with a message
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")
    _shot(page, "login-error", db)

    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server}/teams")

    # home: empty state with the next step
    _nav(page, "Home")
    expect(page.get_by_role("link", name="Create your first team")).to_be_visible()
    _shot(page, "home-empty", db)

    # teams: create through the HTMX form, without a page load
    page.get_by_role("link", name="Create your first team").click()
    expect(page.get_by_role("heading", name="New team")).to_be_visible()
    page.wait_for_load_state("load")
    page.evaluate("window.__okrflowMarker = 'same page'")
    loads: list[str] = []
    page.on("load", lambda: loads.append(page.url))
    for name, parent, kind in [
        ("Product", "", "leadership"),
        ("Checkout", "Product", "product"),
        ("Payments", "Checkout", "product"),
        ("Platform", "", "platform"),
        ("Developer Experience", "Platform", "enabling"),
    ]:
        page.get_by_label("Name", exact=True).fill(name)
        if parent:
            page.get_by_label("Parent team").select_option(
                label=parent if parent == "Product" or parent == "Platform" else f"\u00a0\u00a0{parent}"
            )
        page.get_by_label("Kind").select_option(kind)
        page.get_by_role("button", name="Create team").click()
        expect(page.get_by_role("status").filter(has_text=f"Team “{name}” created.")).to_be_visible()
    expect(page.locator("#team-tree li")).to_have_count(5)
    expect(page.locator('li[data-team-slug="payments"]')).to_have_class(re.compile(r"depth-2"))
    assert page.evaluate("window.__okrflowMarker") == "same page", "the page was reloaded"
    assert loads == []

    # an inline validation error, still without a reload
    page.get_by_label("Name", exact=True).fill("Checkout")
    page.get_by_role("button", name="Create team").click()
    expect(page.locator(".field-error")).to_contain_text("exists already")
    assert page.evaluate("window.__okrflowMarker") == "same page"
    _shot(page, "teams-validation", db)
    page.goto(f"{server}/teams")
    _shot(page, "teams", db)

    # people
    _nav(page, "People")
    page.get_by_label("Name", exact=True).fill("Ada Lovelace")
    page.get_by_label("Title").fill("Group product manager")
    page.get_by_label("E-mail").fill("ada@example.com")
    page.get_by_label("Team", exact=True).select_option(label="Product")
    page.get_by_role("button", name="Add person").click()
    expect(page.locator("#people-table")).to_contain_text("Ada Lovelace")
    page.get_by_label("Name", exact=True).fill("Grace Hopper")
    page.get_by_label("Title").fill("Staff engineer")
    page.get_by_label("Team", exact=True).select_option(label="\u00a0\u00a0Developer Experience")
    page.get_by_role("button", name="Add person").click()
    expect(page.locator("#people-table tbody tr")).to_have_count(2)
    page.wait_for_timeout(2600)
    _shot(page, "people", db)

    # home again: counts and checklist
    _nav(page, "Home")
    expect(page.locator('[data-testid="count-teams"]')).to_have_text("5")
    expect(page.locator('[data-testid="count-people"]')).to_have_text("2")
    _shot(page, "home", db)

    # account: a token is shown once, then never again
    _nav(page, "Account")
    page.get_by_label("Name", exact=True).fill("CI import job")
    page.get_by_label("write").check()
    page.get_by_role("button", name="Create token").click()
    box = page.locator("#new-token-value")
    expect(box).to_be_visible()
    secret = box.input_value()
    assert secret.startswith("okf_")
    expect(page.locator("#tokens-table")).to_contain_text("CI import job")
    _shot(page, "account", db)
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    page.reload()
    expect(page.locator("#new-token-value")).to_have_count(0)
    assert secret not in page.content()

    # revoke (HTMX, with a confirm dialog)
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("#tokens-table")).to_contain_text("revoked")

    # a 404 in the layout
    page.goto(f"{server}/no/such/page")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    _shot(page, "not-found", db)

    # logout
    page.goto(f"{server}/")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{server}/login")
    page.goto(f"{server}/account")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    # the wrong password (401) and the duplicate team (422) are expected failed loads; nothing else
    assert watch.problems(allowed_statuses=(401, 404, 422)) == []
    assert watch.blocked == [], f"requests left localhost: {watch.blocked}"
    context.close()


def test_mobile_layout_and_csrf_expiry(browser: Any, server: str, db: Database) -> None:
    watch = PageWatch()
    context = offline_context(browser, watch, viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page = context.new_page()
    watch_page(page, watch)
    expect = sync_api.expect
    page.goto(f"{server}/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator('[data-testid="count-teams"]')).to_be_visible()
    _shot(page, "home-mobile", db)
    # no horizontal scrolling on a phone
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

    # an HTMX post with a stale CSRF token is refused; okrflow.js says so
    page.goto(f"{server}/teams")
    page.evaluate(
        "document.body.setAttribute('hx-headers', '{\"X-CSRF-Token\": \"stale\"}');"
        "document.querySelectorAll('input[name=csrf_token]').forEach(i => i.value = 'stale')"
    )
    page.get_by_label("Name", exact=True).fill("Sneaky")
    page.get_by_role("button", name="Create team").click()
    expect(page.locator("#toast")).to_contain_text("form expired")
    expect(page.locator("#team-tree li")).to_have_count(0)
    assert watch.problems(allowed_statuses=(403,)) == []
    assert watch.blocked == []
    context.close()
