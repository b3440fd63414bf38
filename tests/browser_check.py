"""Open every page of the built book in headless Chromium with the network cut off; check what renders.

A script, not a pytest module (its name does not start with ``test_``): ``.ci/run`` calls it after
``make book``::

    .venv/bin/python tests/browser_check.py _build/html

It serves the built folder on 127.0.0.1, opens every page with Debian's ``/usr/bin/chromium`` through
playwright, and

- aborts and counts every request that does not go to that local server (the book must load nothing
  from outside: MathJax, RequireJS and the ipywidgets manager are vendored, see
  ``book/_scripts/vendor.sh``);
- fails on local requests answered with an error status (a missing font, script or figure), on
  broken images and on uncaught JavaScript errors other than the two known, harmless upstream ones;
- on pages with math, waits until MathJax has typeset it (an ``mjx-container`` element);
- on pages with ipywidgets state, waits until the widgets are rendered (``.jupyter-widgets``);
- on the chapter 5 page in particular: math typeset, three slider widgets, the widget's output figure
  and at least three figures in the cell outputs.

Exits 1 and lists the problems if anything fails; prints one line per page either way.
Needs ``apt-get install -y chromium`` and ``pip install playwright`` (in the ``[dev]`` extra).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
# Upstream page errors known to be harmless (see ../shared/OFFLINE.md): sphinx-thebe declares
# THEBE_JS_URL twice; html-manager 1.0.x calls MathJax 2's MathJax.Hub when it renders a widget label.
# (html-manager's call reads as "Cannot read properties of undefined (reading 'Queue')" in Chromium.)
KNOWN_PAGE_ERRORS = ("'THEBE_JS_URL' has already been declared", "reading 'Queue'", "MathJax.Hub")
# A page that must show math, widgets and figures; other pages are checked when they have them.
CHAPTER_5 = "book/05_ofdma_capacity.html"
TIMEOUT_MS = 30_000


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve ``root`` on 127.0.0.1 on a free port in a daemon thread; return the server and its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def pages(root: Path) -> list[str]:
    """Every HTML page of the built book, relative to ``root`` (assets folders skipped)."""
    skip = {"_static", "_sources", "_images", "_sphinx_design_static", "_panels_static"}
    found = [
        p.relative_to(root).as_posix()
        for p in root.rglob("*.html")
        if not (set(p.relative_to(root).parts) & skip)
    ]
    return sorted(found)


def check_page(context, base: str, rel: str, html: str) -> tuple[list[str], str]:
    """Open one page; return its problems and a one-line summary."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    problems: list[str] = []
    blocked: list[str] = []
    failed_local: list[str] = []
    page_errors: list[str] = []

    def route(r):
        url = r.request.url
        if url.startswith(base) or urlparse(url).scheme in ("data", "blob", "about"):
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    def on_response(response):
        url = response.url
        if url.startswith(base) and response.status >= 400 and not url.endswith("/favicon.ico"):
            failed_local.append(f"{response.status} {url[len(base) :]}")

    page = context.new_page()
    page.route("**/*", route)
    page.on("response", on_response)
    page.on("pageerror", lambda err: page_errors.append(str(err)))
    page.goto(base + rel, wait_until="load", timeout=TIMEOUT_MS)

    has_math = 'class="math' in html or "\\(" in html
    has_widgets = "application/vnd.jupyter.widget-state+json" in html
    n_math = n_widgets = 0
    if has_math or rel == CHAPTER_5:
        try:  # wait until MathJax has started and typeset the page, then count its output
            page.wait_for_function(
                "() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=TIMEOUT_MS
            )
            page.evaluate("() => MathJax.startup.promise")
            page.wait_for_selector("mjx-container", state="attached", timeout=TIMEOUT_MS)
            n_math = page.locator("mjx-container").count()
        except PlaywrightTimeout:
            problems.append(f"{rel}: MathJax did not typeset the page's math (no mjx-container)")
    if has_widgets or rel == CHAPTER_5:
        try:
            page.wait_for_selector(".jupyter-widgets", state="attached", timeout=TIMEOUT_MS)
            n_widgets = page.locator(".jupyter-widgets").count()
        except PlaywrightTimeout:
            problems.append(f"{rel}: the ipywidgets were not rendered (no .jupyter-widgets element)")
    if rel == CHAPTER_5:
        sliders = page.locator(".widget-slider").count()
        if sliders < 3:
            problems.append(f"{rel}: expected 3 slider widgets, found {sliders}")
        if page.locator(".jupyter-widgets img, .widget-output img").count() < 1:
            problems.append(f"{rel}: the interactive explorer shows no figure")
        figures = page.locator(".cell_output img").count()
        if figures < 3:
            problems.append(f"{rel}: expected at least 3 figures in the cell outputs, found {figures}")
    page.wait_for_load_state("networkidle", timeout=TIMEOUT_MS)
    broken = page.evaluate(
        "() => Array.from(document.images).filter(i => i.complete && i.naturalWidth === 0).map(i => i.src)"
    )
    page.close()

    for url in blocked:
        problems.append(f"{rel}: requested {url} from outside the book (blocked)")
    for item in failed_local:
        problems.append(f"{rel}: local request failed: {item}")
    for src in broken:
        problems.append(f"{rel}: broken image {src}")
    unexpected = [e for e in page_errors if not any(k in e for k in KNOWN_PAGE_ERRORS)]
    for err in unexpected:
        problems.append(f"{rel}: JavaScript error: {err.splitlines()[0]}")
    summary = (
        f"{rel}: {len(blocked)} outside request(s), {len(failed_local)} failed local, "
        f"math {n_math}, widgets {n_widgets}, page errors {len(page_errors)} "
        f"({len(page_errors) - len(unexpected)} known)"
    )
    return problems, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check the built book in headless Chromium, offline.")
    parser.add_argument("html_dir", nargs="?", default="_build/html", type=Path)
    args = parser.parse_args(argv)
    root = args.html_dir.resolve()
    if not (root / CHAPTER_5).exists():
        print(f"browser_check: {root / CHAPTER_5} does not exist; build the book first", file=sys.stderr)
        return 1
    if not Path(CHROMIUM).exists():
        print(f"browser_check: {CHROMIUM} not found (apt-get install -y chromium)", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    server, base = serve(root)
    problems: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            context = browser.new_context(service_workers="block")
            for rel in pages(root):
                html = (root / rel).read_text(encoding="utf-8", errors="replace")
                found, summary = check_page(context, base, rel, html)
                print(summary)
                problems += found
            browser.close()
    finally:
        server.shutdown()
    for p in problems:
        print("FAIL", p)
    print(f"browser_check: {len(pages(root))} page(s), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
