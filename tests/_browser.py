"""Helpers for browser tests: the real app under uvicorn in a thread, and an offline headless Chromium."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvicorn

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port in a background thread; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@dataclass
class PageWatch:
    """What the page said on the console, the errors it threw, and the requests that left localhost."""

    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def problems(self, allowed_statuses: tuple[int, ...] = ()) -> list[str]:
        """Console errors, CSP violations and page errors, minus failed loads with an expected status."""
        bad = []
        for line in self.console:
            if any(f"status of {s}" in line or f"Error Code {s} " in line for s in allowed_statuses):
                continue
            bad.append(line)
        return bad + [f"pageerror: {e}" for e in self.errors]


def offline_context(browser: Any, watch: PageWatch, **kwargs: Any) -> Any:
    """A browser context whose every non-localhost request is aborted (and recorded)."""
    context = browser.new_context(**kwargs)

    def guard(route: Any) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if host in LOCAL_HOSTS:
            route.continue_()
        else:
            watch.blocked.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    return context


def watch_page(page: Any, watch: PageWatch) -> None:
    def on_console(msg: Any) -> None:
        text = msg.text
        if msg.type == "error" or "Content Security Policy" in text or "Content-Security-Policy" in text:
            watch.console.append(f"{msg.type}: {text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: watch.errors.append(str(exc)))
