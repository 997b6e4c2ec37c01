"""The newcomer path, as the README tells it: `okrflow demo`, then `okrflow serve`, then log in.

Runs the real console commands in subprocesses (no in-process shortcuts), waits for /healthz, and logs in as
the printed demo account in headless Chromium with the network cut off. A screenshot of the first page a
leader sees is saved to artifacts/screenshots/first-run.png.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests._browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, PageWatch, offline_context, watch_page
from tests.conftest import IN_CI

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _okrflow(*args: str, env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "okrflow", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def test_demo_then_serve_then_login(tmp_path: Path) -> None:
    if not os.path.exists(CHROMIUM):
        if IN_CI:
            pytest.fail(f"Chromium is required under CI=true but {CHROMIUM} is missing")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    env = {k: v for k, v in os.environ.items() if k != "OKRFLOW_DATABASE_URL"} | {"COLUMNS": "120"}
    # `okrflow demo` with no flags writes ./okrflow.db in the working directory, as in the README.
    demo = _okrflow("demo", env=env, cwd=tmp_path)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert (tmp_path / "okrflow.db").exists()
    assert "okrflow serve" in demo.stdout
    password = re.search(r"sign in\s+demo / (\S+)", demo.stdout)
    assert password, demo.stdout
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "okrflow", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        health = None
        while time.monotonic() < deadline:
            try:
                health = httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                time.sleep(0.2)
        assert health is not None and health.status_code == 200, health
        assert health.json()["status"] == "ok" and health.json()["database"] == "sqlite"

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            watch = PageWatch()
            context = offline_context(browser, watch, viewport={"width": 1280, "height": 800})
            page = context.new_page()
            watch_page(page, watch)
            page.goto(f"{base}/")
            assert "/login" in page.url
            page.get_by_label("Username").fill("demo")
            page.get_by_label("Password").fill(password.group(1))
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base}/")
            assert "Northwind" in page.content()
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "first-run.png"), full_page=True)
            assert not watch.problems(), watch.problems()
            assert not watch.blocked, watch.blocked
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
