"""Open every page of the built site in headless Chromium, offline.

Debian's chromium is driven by playwright (``executable_path``; playwright's own
browser download is never used). Every request to a host other than 127.0.0.1
is blocked and counted: the site must work with no internet.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import SUMMARY

pytestmark = pytest.mark.book

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site_url(built_site):
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def context():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        ctx = browser.new_context()
        ctx.external = []  # every blocked request, as a URL

        def route(r):
            if urlparse(r.request.url).hostname == "127.0.0.1":
                r.continue_()
            else:
                ctx.external.append(r.request.url)
                r.abort()

        ctx.route("**/*", route)
        yield ctx
        browser.close()


def html_pages(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*.html")
        if not p.relative_to(root).parts[0].startswith("_")
    )


def open_page(context, url):
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    response = page.goto(url, wait_until="networkidle")
    return page, response, errors


def test_every_page_loads_with_no_errors_and_no_external_requests(built_site, site_url, context):
    pages = html_pages(built_site)
    assert "index.html" in pages and len(pages) >= 4
    problems, n_errors = [], 0
    for rel in pages:
        before = len(context.external)
        page, response, errors = open_page(context, f"{site_url}/{rel}")
        page.wait_for_timeout(200)  # late scripts (MathJax, icons) get to log too
        external = context.external[before:]
        n_errors += len(errors)
        if response.status != 200 or errors or external:
            problems.append(f"{rel}: HTTP {response.status}, errors {errors}, external {external}")
        page.close()
    SUMMARY.append(
        f"browser check: {len(pages)} pages checked, {n_errors} console errors, "
        f"{len(context.external)} external requests"
    )
    assert not problems, "\n".join(problems)


def test_math_renders_without_a_cdn(built_site, site_url, context):
    page, _, _ = open_page(context, f"{site_url}/book/intro.html")
    page.wait_for_selector("mjx-container", timeout=10_000)
    assert page.locator("mjx-container").count() >= 1
    page.close()


def test_animations_play_and_show_their_icons(built_site, site_url, context):
    with_anim = [rel for rel in html_pages(built_site) if "_anim_img" in (built_site / rel).read_text()]
    assert with_anim, "no page has an animation"
    for rel in with_anim:
        page, _, errors = open_page(context, f"{site_url}/{rel}")
        img = page.locator('img[id^="_anim_img"]').first
        play = page.locator('button[title="Play"]').first
        # Font Awesome comes from the theme, drawn as inline SVG: no CDN, still an icon
        assert play.locator("svg").count() == 1, f"{rel}: play button has no icon"
        assert play.bounding_box()["width"] > 0
        page.locator('button[title="Pause"]').first.click()
        page.locator('button[title="First frame"]').first.click()
        shown = img.get_attribute("src")
        play.click()
        page.wait_for_function(
            "([el, src]) => el.getAttribute('src') !== src", arg=[img.element_handle(), shown], timeout=5000
        )
        assert img.get_attribute("src") != shown
        assert not errors, errors
        page.close()


def test_search_finds_the_mean_shift_chapter(built_site, site_url, context):
    page, _, errors = open_page(context, f"{site_url}/search.html?q=bandwidth")
    page.wait_for_selector("#search-results li a", timeout=15_000)
    links = [a.get_attribute("href") for a in page.locator("#search-results li a").all()]
    assert any("meanshift" in href for href in links), links
    assert not errors, errors
    page.close()
