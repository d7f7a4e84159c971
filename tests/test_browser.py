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
    for start in range(0, len(pages), 4):  # four tabs at a time: each one's idle waits overlap the others' work
        opened = []
        for rel in pages[start:start + 4]:
            page, errors, external = context.new_page(), [], []
            page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e, errors=errors: errors.append(f"uncaught: {e}"))
            page.on("request", lambda r, external=external: external.append(r.url)
                    if urlparse(r.url).hostname not in ("127.0.0.1", None) else None)
            opened.append((rel, page, page.goto(f"{site_url}/{rel}", wait_until="commit"), errors, external))
        for _, page, *_ in opened:
            page.wait_for_load_state("networkidle")
        opened[-1][1].wait_for_timeout(200)  # late scripts (MathJax, icons) get to log too
        for rel, page, response, errors, external in opened:
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
        caption = page.locator("figure.lessonlib-animation figcaption").first
        assert caption.is_visible() and caption.inner_text().strip() == img.get_attribute("alt")
        assert not errors, errors
        page.close()


def test_search_finds_the_mean_shift_chapter(built_site, site_url, context):
    page, _, errors = open_page(context, f"{site_url}/search.html?q=bandwidth")
    page.wait_for_selector("#search-results li a", timeout=15_000)
    links = [a.get_attribute("href") for a in page.locator("#search-results li a").all()]
    assert any("meanshift" in href for href in links), links
    assert not errors, errors
    SUMMARY.append(f"search: 'bandwidth' gives {len(links)} results, the mean shift chapter among them")
    page.close()


LESSON = ["CLIP and inverse problems", "Einstein summation", "GPU kernels", "Mean shift",
          "Homework: k-means, DBSCAN and LSH", "Calculus with infinitesimals"]


def test_navigation_follows_the_lecture_with_numbers_and_prev_next(built_site, site_url, context):
    page, _, errors = open_page(context, f"{site_url}/book/clustering.html")
    entries = [t.strip() for t in page.locator("nav.bd-docs-nav a.reference.internal").all_inner_texts()]
    numbered = [e for e in entries if e[:1].isdigit()]
    assert [e.split(". ", 1)[1] for e in numbered] == LESSON, entries
    assert [e.split(".", 1)[0] for e in numbered] == [str(i) for i in range(1, len(LESSON) + 1)]
    after = entries[entries.index(numbered[-1]) + 1:]
    assert after[:3] == ["GPU kernels, going further", "How this book runs", "Build status"], entries
    assert "Benchmarks" in after, entries
    number = LESSON.index("Homework: k-means, DBSCAN and LSH") + 1
    assert page.locator("h1 .section-number").first.inner_text().strip() == f"{number}."
    assert page.locator("a.left-prev").get_attribute("href").endswith("meanshift.html")
    assert page.locator("a.right-next").get_attribute("href").endswith("calculus.html")
    assert not errors, errors
    SUMMARY.append(f"navigation: {len(numbered)} numbered chapters in the lecture's order, then {len(after)} more pages")
    page.close()


def test_exercise_solutions_are_hidden_until_clicked(built_site, site_url, context):
    shown = 0
    for chapter in ("einsum", "gpu_kernels", "clustering", "calculus"):
        page, _, errors = open_page(context, f"{site_url}/book/{chapter}.html")
        solutions = page.locator("section#exercises details.hide")
        assert solutions.count() >= 2, f"{chapter}: no hidden solutions under Exercises"
        for i in range(solutions.count()):
            box = solutions.nth(i)
            code = box.locator(".cell_input").first
            assert not code.is_visible(), f"{chapter}: solution {i + 1} is visible before a click"
            box.locator("summary").first.click()
            code.wait_for(state="visible", timeout=3000)
            shown += 1
        assert not errors, errors
        page.close()
    SUMMARY.append(f"exercises: {shown} solutions hidden until clicked, each opened by a click")


def test_download_menu_offers_the_notebook_and_the_source(built_site, site_url, context):
    import json

    page, _, errors = open_page(context, f"{site_url}/book/meanshift.html")
    page.locator("button.dropdown-download-buttons, .dropdown-download-buttons button").first.click()
    ipynb = page.locator('a[href$="meanshift.ipynb"]').first
    ipynb.wait_for(state="visible", timeout=3000)
    for link in (ipynb, page.locator('a[href$="meanshift.md"]').first):
        response = page.request.get(f"{site_url}/book/{link.get_attribute('href')}")
        assert response.status == 200
    nb = json.loads(page.request.get(f"{site_url}/book/{ipynb.get_attribute('href')}").body())
    assert nb["nbformat"] == 4 and any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
    assert not errors, errors
    SUMMARY.append("download menu: meanshift.ipynb (executed) and meanshift.md both served")
    page.close()


def _luminance(png: bytes, xy) -> float:
    import io

    from PIL import Image

    r, g, b = Image.open(io.BytesIO(png)).convert("RGB").getpixel(xy)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_figures_stay_readable_in_dark_mode(built_site, site_url, context):
    """Screenshots in both modes: the page turns dark, the figures keep their white background."""
    shots = built_site.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    seen = {}
    for mode in ("light", "dark"):
        page, _, errors = open_page(context, f"{site_url}/book/meanshift.html")
        page.evaluate(f"document.documentElement.dataset.theme = '{mode}'")
        page.wait_for_timeout(300)
        figure = page.locator(".cell_output img").first
        figure.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / f"meanshift-{mode}.png"))
        body = page.screenshot(clip={"x": 5, "y": 5, "width": 10, "height": 10})
        fig = figure.screenshot()
        seen[mode] = (_luminance(body, (5, 5)), _luminance(fig, (2, 2)))
        assert not errors, errors
        page.close()
    assert seen["light"][0] > 200 and seen["dark"][0] < 80, seen  # the theme really switched
    # Figures keep their white background (lessonlib.book.setup sets it; a transparent one would put
    # black axis labels on a black page). The theme dims images in dark mode (brightness 0.8), which
    # leaves a light panel: dark ink on it stays readable, with less glare.
    assert seen["light"][1] > 240 and seen["dark"][1] > 150, seen
    SUMMARY.append(f"dark mode: page luminance {seen['light'][0]:.0f} → {seen['dark'][0]:.0f}, figure corner "
                   f"{seen['dark'][1]:.0f}; screenshots in {shots.relative_to(built_site.parent.parent)}")


SIDEWAYS_JS = """max => {
  document.querySelectorAll('details').forEach(d => d.open = true);
  const over = [], narrow = [];
  for (const el of document.querySelectorAll('article pre, article div.cell_output div.output, article table')) {
    if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1)
      over.push(`${el.tagName} ${el.scrollWidth} > ${el.clientWidth} px: ${el.innerText.trim().split('\\n')[0].slice(0, 60)}`);
  }
  for (const pre of document.querySelectorAll('article div.highlight pre')) {  // code blocks, inputs and listings
    const line = document.createElement('span');
    line.textContent = 'x'.repeat(max);
    pre.appendChild(line);
    const style = getComputedStyle(pre);
    const room = pre.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    if (pre.clientWidth > 0 && line.getBoundingClientRect().width > room) narrow.push(`${Math.round(room)} px`);
    line.remove();
  }
  return [over, narrow];
}"""


def test_nothing_scrolls_sideways_at_1280_px(built_site, site_url, context):
    """At 1280 × 900, with every dropdown open, no code block, output or table in a page's article scrolls
    sideways, and every code block has room for a line of visible_code.MAX_LINE characters."""
    from conftest import book_ext

    max_line = book_ext("visible_code").MAX_LINE
    over, narrow = [], []
    for rel in html_pages(built_site):
        page, _, _ = open_page(context, f"{site_url}/{rel}")
        page.set_viewport_size({"width": 1280, "height": 900})
        page.wait_for_timeout(100)
        scrolls, too_narrow = page.evaluate(SIDEWAYS_JS, max_line)
        over += [f"{rel}: {o}" for o in scrolls]
        narrow += [f"{rel}: a code block with {n} of room" for n in too_narrow]
        page.close()
    assert not over, "blocks that scroll sideways at 1280 px:\n" + "\n".join(over)
    assert not narrow, f"code blocks too narrow for {max_line} characters:\n" + "\n".join(sorted(set(narrow)))
    SUMMARY.append(f"width: nothing scrolls sideways at 1280 px; every code block holds {max_line} characters")
