"""Open pages in a real headless Chromium (Debian's) and report what happened."""
from __future__ import annotations

import functools
import http.server
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("MEMBERPORTAL_ARTIFACTS",
                                Path(__file__).resolve().parent.parent / "output" / "test-artifacts"))
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@dataclass
class PageReport:
    url: str
    status: int | None
    title: str
    text: str
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)  # to any other host: blocked
    screenshot: Path | None = None


@contextmanager
def serve(folder: Path):
    """Serve `folder` on a free loopback port for the duration; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextmanager
def chromium():
    """A headless Chromium browser (Playwright driving the system's Chromium)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, url: str, screenshot: str | None = None, width: int = 1280,
              height: int = 900, full_page: bool = True, scripts: bool = True) -> PageReport:
    """Load `url`; requests to any host but the page's own are recorded and blocked."""
    home = urlsplit(url).netloc
    page = browser.new_page(viewport={"width": width, "height": height},
                            java_script_enabled=scripts)
    errors: list[str] = []
    requests: list[str] = []
    foreign: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(r):
        requests.append(r.request.url)
        target = urlsplit(r.request.url)
        if target.scheme in ("data", "blob", "about") or target.netloc == home:
            return r.continue_()
        foreign.append(r.request.url)
        return r.abort()

    page.route("**/*", route)
    response = page.goto(url, wait_until="networkidle")
    shot = None
    if screenshot:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / screenshot
        page.screenshot(path=str(shot), full_page=full_page)
    report = PageReport(url, response.status if response else None, page.title(),
                        page.inner_text("body"), errors, requests, foreign, shot)
    page.close()
    return report
