"""Open every page of the built book in headless Chromium with the network cut off; check what renders.

A script, not a pytest module (its name does not start with ``test_``): ``.ci/run`` calls it after
``make book``::

    .venv/bin/python tests/browser_check.py _build/html

An author checking a few pages of a partial build (``book/_scripts/build_one.sh``) names them::

    .venv/bin/python tests/browser_check.py /tmp/jb-02_cross_attention/_build/html \
        --page book/02_cross_attention.html --screenshots /tmp/shots

It serves the built folder on 127.0.0.1, opens every page with Debian's ``/usr/bin/chromium`` through
playwright in a 1280 x 900 window, and on every page checks that

- **nothing is requested from outside the book**: every request that does not go to the local server
  is aborted and reported (MathJax, RequireJS and the ipywidgets manager are vendored, see
  ``book/_scripts/vendor.sh``); no local request is answered with an error status;
- **the console stays clean**: no uncaught JavaScript error and no ``console.error`` message, apart
  from those in :data:`ALLOWED_PAGE_ERRORS` and :data:`ALLOWED_CONSOLE_ERRORS`, each listed with the
  reason it is harmless;
- **math is typeset** where the page has math (an ``mjx-container`` element), and **widgets render**
  where it has an ipywidgets view (``.jupyter-widgets``);
- **every image loaded and is not empty**: decoded with a non-zero size, and, in the text column,
  not a single flat colour (drawn on a canvas);
- **every cell-output figure is shown at >= 72 % of its natural width** (:data:`MIN_FIGURE_SCALE`,
  the limit ``gsemlab.viz.style`` designs for: a 7-inch figure at 100 dpi in the ~720 px column)
  and, on the chapter pages ``book/NN_*``, **numbered and captioned** (a ``<figure>`` with a
  numbered ``<figcaption>``, from the cell's ``mystnb: figure:`` metadata), apart from figures in
  exercise solutions and in widget outputs;
- **every exercise solution is a dropdown that opens on a click**: hidden when the page loads,
  visible after a real click on its toggle button;
- **nothing is wider than its container**: with every solution and every hidden cell opened, no code
  block, output block, display equation or table is wider than the box that holds it or sticks out
  of the text column (the measuring script of ``book/_scripts/screenshot.py``, extended);
- **internal links resolve**: every ``<a href>`` to the local server names a file that exists in the
  build and, when it has a ``#fragment``, an element with that id in the target page;
- in the whole book (not with ``--page``): the figures, tables and exercises of chapter NN are
  numbered NN.1, NN.2, ... (numbered per chapter, not across the book);
- on the chapter 5 page in particular: three slider widgets, the widget's output figure and at least
  three figures in the cell outputs.

It saves a full-page screenshot of every page, taken with its solutions opened (hidden-input cells
stay closed, as a reader first sees them; they are opened afterwards for the measuring), to
``--screenshots`` (default: ``screenshots/`` beside the HTML folder, i.e. ``_build/screenshots/`` for
``_build/html``), one PNG per page under the page's own path (``book/05_ofdma_capacity.png``).

Prints one line per page; exits 1 and lists the problems (``FAIL page: ...``) if anything fails.
Needs ``apt-get install -y chromium`` and ``pip install playwright`` (in the ``[dev]`` extra).
"""

from __future__ import annotations

import argparse
import functools
import html as html_lib
import http.server
import re
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
VIEWPORT = {"width": 1280, "height": 900}

# Uncaught page errors that are known and harmless (see ../shared/OFFLINE.md). Each entry: a substring
# of the error message and why it may stay.
ALLOWED_PAGE_ERRORS = {
    "'THEBE_JS_URL' has already been declared": "sphinx-thebe's script declares THEBE_JS_URL at top "
    "level and is included twice by sphinx-book-theme; the second declaration throws, nothing else "
    "on the page depends on it (the launch buttons still work).",
    "reading 'Queue'": "@jupyter-widgets/html-manager 1.0.x calls MathJax 2's MathJax.Hub.Queue to "
    "typeset a widget's label; the book uses MathJax 3, which has no Hub; the label is shown as text.",
    "MathJax.Hub": "the same html-manager call, as Firefox and older Chromium word it.",
}
# console.error messages that are known and harmless: a substring and why it may stay.
ALLOWED_CONSOLE_ERRORS = {
    "Got invalid theme mode": "pydata-sphinx-theme 0.17 reads the light/dark mode from localStorage; "
    "a fresh browser profile has none, so it logs this once and falls back to 'auto' (the default).",
}
# Back-compatible name: the substrings of the allowed page errors.
KNOWN_PAGE_ERRORS = tuple(ALLOWED_PAGE_ERRORS)

# A page that must show math, widgets and figures; other pages are checked when they have them.
CHAPTER_5 = "book/05_ofdma_capacity.html"
# Chapter pages: their cell-output figures are numbered and captioned (those in solutions and in
# widgets, whose output changes with the sliders, excepted).
CHAPTER_PAGE = re.compile(r"book/\d\d_[^/]*\.html")
TIMEOUT_MS = 30_000
MIN_FIGURE_SCALE = 0.72  # gsemlab.viz.style: a figure is never shown below 72 % of its size
ASSET_DIRS = {"_static", "_sources", "_images", "_sphinx_design_static", "_panels_static"}

# Eager-load every image (a lazy one below the fold would never load in a headless window).
EAGER_JS = "() => document.querySelectorAll('img[loading=\"lazy\"]').forEach(i => { i.loading = 'eager'; })"

IMAGES_JS = """
() => Array.from(document.images).map(img => {
  const r = {src: img.currentSrc || img.src, complete: img.complete, nw: img.naturalWidth,
             nh: img.naturalHeight, cw: img.getBoundingClientRect().width,
             article: !!img.closest('article'),
             output: !!img.closest('div.cell_output, div.output, .widget-output, .jupyter-widgets'),
             widget: !!img.closest('.widget-output, .jupyter-widgets'),
             solution: !!img.closest('div.solution'),
             captioned: !!(img.closest('figure')
                           && img.closest('figure').querySelector('figcaption .caption-number')),
             flat: null};
  if (r.article && r.complete && r.nw > 0 && r.nh > 0) {
    try {
      const w = Math.min(r.nw, 400), h = Math.max(1, Math.round(r.nh * w / r.nw));
      const c = document.createElement('canvas');
      c.width = w; c.height = h;
      const ctx = c.getContext('2d');
      ctx.drawImage(img, 0, 0, w, h);
      const d = ctx.getImageData(0, 0, w, h).data;
      let flat = true;
      for (let i = 4; i < d.length && flat; i += 4) {
        if (Math.abs(d[i] - d[0]) + Math.abs(d[i + 1] - d[1]) + Math.abs(d[i + 2] - d[2])
            + Math.abs(d[i + 3] - d[3]) > 24) flat = false;
      }
      r.flat = flat;
    } catch (e) { r.flat = null; }
  }
  return r;
})
"""

# Each solution: its state before any click.
SOLUTIONS_JS = """
() => Array.from(document.querySelectorAll('article div.solution')).map(s => {
  const body = Array.from(s.children).filter(c => !c.classList.contains('admonition-title'));
  return {id: s.id, title: (s.querySelector('.admonition-title') || s).textContent.trim().slice(0, 60),
          toggle: s.classList.contains('toggle'), hidden: s.classList.contains('toggle-hidden'),
          bodyVisible: body.some(c => c.getClientRects().length > 0 && c.offsetHeight > 0),
          button: !!s.querySelector('button.toggle-button')};
})
"""
SOLUTION_VISIBLE_JS = """
(i) => {
  const s = document.querySelectorAll('article div.solution')[i];
  const body = Array.from(s.children).filter(c => !c.classList.contains('admonition-title'));
  return !s.classList.contains('toggle-hidden')
         && body.some(c => c.getClientRects().length > 0 && c.offsetHeight > 0);
}
"""
# Open whatever is still closed (hidden-input cells, other toggles) so it is measured and photographed.
OPEN_ALL_JS = """
() => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  document.querySelectorAll('.toggle-hidden button.toggle-button').forEach(b => b.click());
}
"""

# Elements wider than their box, or sticking out of the text column (book/_scripts/screenshot.py).
# Sphinx's generated index pages: their two-column tables of every documented name are laid out by
# the theme, not by the book, and hold no code, maths or figures; their width is not measured.
SPHINX_INDEXES = ("genindex.html", "py-modindex.html")
OVERFLOW_JS = """
() => {
  const out = [];
  const article = document.querySelector('article.bd-article') || document.querySelector('article');
  if (!article) return out;
  const cs = getComputedStyle(article);
  const right = article.getBoundingClientRect().right - parseFloat(cs.paddingRight);
  const sel = 'article pre, article mjx-container[display="true"], article .MathJax_Display, article table';
  for (const el of document.querySelectorAll(sel)) {
    if (el.getClientRects().length === 0) continue;  // not rendered
    if (el.tagName === 'PRE' && el.closest('table')) continue;  // measured with its table
    const box = el.closest('div.highlight, div.math-wrapper, div.pst-scrollable-table-container,'
                           + ' div.table-wrapper, div.cell_output, div.output, div.math')
                || el.parentElement;
    let kind = el.tagName === 'TABLE' ? 'table'
             : el.tagName === 'PRE' ? (el.closest('div.cell_output, div.output') ? 'output' : 'code')
             : 'equation';
    const text = (el.textContent || '').replace(/\\s+/g, ' ').trim().slice(0, 70);
    const section = (el.closest('section[id]') || {}).id || '';
    const where = section ? ` [#${section}]` : '';
    if (el.scrollWidth > box.clientWidth + 1) {
      out.push(`${kind} ${el.scrollWidth} px wide in a ${box.clientWidth} px box${where}: ${text}`);
    } else if (box.getBoundingClientRect().right > right + 1) {
      const r = Math.round(box.getBoundingClientRect().right - right);
      out.push(`${kind} sticks ${r} px out of the text column${where}: ${text}`);
    }
  }
  return out;
}
"""

LINKS_JS = "() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"
# The numbers Sphinx gave the page's figures, tables and exercises ("Fig. 2.3", "Exercise 2.1").
NUMBERS_JS = (
    "() => Array.from(document.querySelectorAll('article .caption-number'))"
    ".map(e => e.textContent.trim())"
)
IDS_JS = (
    "() => Array.from(document.querySelectorAll('[id], a[name]'))"
    ".map(e => e.id || e.getAttribute('name'))"
)

_ID_RE = re.compile(r"""\s(?:id|name)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_REFRESH_RE = re.compile(
    r"""<meta\s+http-equiv=["']refresh["']\s+content=["'][^"']*url=([^"']+)["']""", re.IGNORECASE
)


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
    found = [
        p.relative_to(root).as_posix()
        for p in root.rglob("*.html")
        if not (set(p.relative_to(root).parts) & ASSET_DIRS)
    ]
    return sorted(found)


def redirect_target(html: str) -> str | None:
    """The URL of a ``<meta http-equiv="refresh">`` redirect page (the book's index.html), else None."""
    m = _REFRESH_RE.search(html)
    return html_lib.unescape(m.group(1)).strip() if m else None


class Anchors:
    """The ids (and ``<a name>``) of the built pages, read once per file."""

    def __init__(self, root: Path):
        self.root = root
        self._ids: dict[Path, set[str]] = {}

    def ids(self, path: Path) -> set[str]:
        if path not in self._ids:
            text = path.read_text(encoding="utf-8", errors="replace")
            self._ids[path] = {html_lib.unescape(a or b) for a, b in _ID_RE.findall(text)}
        return self._ids[path]


def check_links(root: Path, base: str, rel: str, hrefs: list[str], live_ids: set[str],
                anchors: Anchors) -> list[str]:
    """Problems with the local links of page ``rel``: target files that are missing, fragments that
    name no element of the target page. Links that leave the book are not followed (no network)."""
    problems: list[str] = []
    seen: set[str] = set()
    for href in hrefs:
        if not href.startswith(base) or href in seen:
            continue
        seen.add(href)
        parsed = urlparse(href)
        path = unquote(parsed.path[len(urlparse(base).path) :])
        target = root / path
        if path == "" or path.endswith("/"):
            target = target / "index.html"
        if not target.is_file():
            problems.append(f"{rel}: link to {path or '/'}, which is not in the build")
            continue
        fragment = unquote(parsed.fragment)
        if not fragment or target.suffix != ".html":
            continue
        ids = live_ids if target == root / rel else anchors.ids(target)
        if fragment not in ids and fragment not in anchors.ids(target):
            problems.append(f"{rel}: link to {path}#{fragment}: no element with that id there")
    return problems


def screenshot_path(shots: Path, rel: str) -> Path:
    return shots / Path(rel).with_suffix(".png")


def _allowed(message: str, allowed: dict[str, str]) -> bool:
    return any(k in message for k in allowed)


def check_page(context, base: str, rel: str, html: str, *, root: Path, anchors: Anchors,
               shots: Path | None = None, whole_book: bool = True) -> tuple[list[str], str]:
    """Open one page; return its problems and a one-line summary.

    With ``whole_book`` (the full build, not a few pages), the figures, tables and exercises of
    chapter ``book/NN_*`` (NN >= 1) must be numbered NN.k: numbered per chapter."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    problems: list[str] = []
    blocked: list[str] = []
    failed_local: list[str] = []
    page_errors: list[str] = []
    console_errors: list[tuple[str, str]] = []  # (text, url of the resource it is about)

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

    def on_console(msg):
        if msg.type == "error":
            console_errors.append((msg.text, (msg.location or {}).get("url", "")))

    page = context.new_page()
    page.route("**/*", route)
    page.on("response", on_response)
    page.on("pageerror", lambda err: page_errors.append(str(err)))
    page.on("console", on_console)
    page.goto(base + rel, wait_until="load", timeout=TIMEOUT_MS)
    page.evaluate(EAGER_JS)

    has_math = 'class="math' in html or "\\(" in html
    # a widget *view* in the page must render; widget state without a view (a cell whose output is
    # removed, as chapter 1's slider, which needs a live kernel) has nothing to show
    has_widgets = "application/vnd.jupyter.widget-view+json" in html
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
    try:
        page.wait_for_function(
            "() => Array.from(document.images).every(i => i.complete)", timeout=TIMEOUT_MS
        )
    except PlaywrightTimeout:
        pass  # reported below as images that did not load

    # Exercise solutions: hidden on load, opened by a click on their toggle button.
    solutions = page.evaluate(SOLUTIONS_JS)
    for i, sol in enumerate(solutions):
        name = sol["title"] or sol["id"]
        if not sol["toggle"] or not sol["button"]:
            problems.append(f"{rel}: solution '{name}' is not a dropdown (add :class: dropdown)")
            continue
        if sol["bodyVisible"] or not sol["hidden"]:
            problems.append(f"{rel}: solution '{name}' is open before any click")
            continue
        page.locator("article div.solution").nth(i).locator("button.toggle-button").first.click()
        try:
            page.wait_for_function(SOLUTION_VISIBLE_JS, arg=i, timeout=5_000)
        except PlaywrightTimeout:
            problems.append(f"{rel}: solution '{name}' did not open on a click")
    if shots is not None:  # as a reader sees the page with its solutions opened
        out = screenshot_path(shots, rel)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=True)
    page.evaluate(OPEN_ALL_JS)
    page.wait_for_timeout(300)  # let the opened content lay out
    if has_math:
        page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")

    # Images: loaded, not empty, figures shown large enough.
    images = page.evaluate(IMAGES_JS)
    n_figures = 0
    for img in images:
        src = img["src"]
        short = src[len(base) :] if src.startswith(base) else src[:80]
        if not img["complete"] or img["nw"] == 0 or img["nh"] == 0:
            problems.append(f"{rel}: image did not load or is empty: {short}")
            continue
        if img["flat"]:
            problems.append(f"{rel}: image is a single flat colour: {short}")
        if img["article"] and img["output"]:
            n_figures += 1
            if CHAPTER_PAGE.fullmatch(rel) and not (img["captioned"] or img["widget"] or img["solution"]):
                problems.append(
                    f"{rel}: figure without a number and caption (mystnb figure metadata): "
                    f"{short.split('/')[-1][:40]}"
                )
            scale = img["cw"] / img["nw"]
            if scale < MIN_FIGURE_SCALE:
                problems.append(
                    f"{rel}: figure shown at {100 * scale:.0f}% of its width "
                    f"({img['cw']:.0f} of {img['nw']} px; at least {100 * MIN_FIGURE_SCALE:.0f}%): "
                    f"{short.split('/')[-1][:40]}"
                )

    overflow = page.evaluate(OVERFLOW_JS)
    if rel not in SPHINX_INDEXES:
        problems += [f"{rel}: {line}" for line in overflow]

    chapter = CHAPTER_PAGE.fullmatch(rel) and int(Path(rel).name[:2])
    if whole_book and chapter:
        for number in page.evaluate(NUMBERS_JS):
            m = re.match(r"^(?:Fig\.|Table|Exercise|Listing)\s+(\d+)(?:\.\d+)+\b", number)
            if m is None or int(m.group(1)) != chapter:
                problems.append(f"{rel}: '{number}' is not numbered within chapter {chapter}")
    hrefs = page.evaluate(LINKS_JS)
    live_ids = set(page.evaluate(IDS_JS))
    link_problems = check_links(root, base, rel, hrefs, live_ids, anchors)
    problems += link_problems

    page.close()

    for url in blocked:
        problems.append(f"{rel}: requested {url} from outside the book (blocked)")
    for item in failed_local:
        problems.append(f"{rel}: local request failed: {item}")
    unexpected = [e for e in page_errors if not _allowed(e, ALLOWED_PAGE_ERRORS)]
    for err in unexpected:
        problems.append(f"{rel}: JavaScript error: {err.splitlines()[0]}")
    reported = set(blocked) | {item.split(" ", 1)[1] for item in failed_local}
    bad_console = []
    for text, url in console_errors:
        if _allowed(text, ALLOWED_CONSOLE_ERRORS):
            continue
        # a failed resource is reported above, as a blocked or failed request
        if text.startswith("Failed to load resource") and (
            url in reported or url[len(base) :] in reported
        ):
            continue
        bad_console.append(text)
    for text in bad_console:
        problems.append(f"{rel}: console error: {text.splitlines()[0][:200]}")
    summary = (
        f"{rel}: {len(blocked)} outside request(s), {len(failed_local)} failed local, "
        f"math {n_math}, widgets {n_widgets}, images {len(images)} (figures {n_figures}), "
        f"solutions {len(solutions)}, links {len(set(hrefs))} ({len(link_problems)} broken), "
        f"overflowing {len(overflow)}, page errors {len(page_errors)} "
        f"({len(page_errors) - len(unexpected)} allowed), console errors {len(console_errors)} "
        f"({len(console_errors) - len(bad_console)} allowed or counted above)"
    )
    return problems, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check the built book in headless Chromium, offline.")
    parser.add_argument("html_dir", nargs="?", default="_build/html", type=Path)
    parser.add_argument("--page", action="append", default=[],
                        help="check only this page (path relative to html_dir; repeatable)")
    parser.add_argument("--screenshots", type=Path, default=None,
                        help="folder for the full-page screenshots (default: screenshots/ beside html_dir)")
    parser.add_argument("--no-screenshots", action="store_true", help="take no screenshots")
    args = parser.parse_args(argv)
    root = args.html_dir.resolve()
    if not args.page and not (root / CHAPTER_5).exists():
        print(f"browser_check: {root / CHAPTER_5} does not exist; build the book first", file=sys.stderr)
        return 1
    if not Path(CHROMIUM).exists():
        print(f"browser_check: {CHROMIUM} not found (apt-get install -y chromium)", file=sys.stderr)
        return 1
    todo = args.page or pages(root)
    missing = [p for p in todo if not (root / p).is_file()]
    if missing:
        print(f"browser_check: not in {root}: {', '.join(missing)}", file=sys.stderr)
        return 1
    shots = None if args.no_screenshots else (args.screenshots or root.parent / "screenshots").resolve()
    from playwright.sync_api import sync_playwright

    anchors = Anchors(root)
    server, base = serve(root)
    problems: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            context = browser.new_context(service_workers="block", viewport=VIEWPORT)
            for rel in todo:
                html = (root / rel).read_text(encoding="utf-8", errors="replace")
                target = redirect_target(html)
                if target is not None:  # index.html: a redirect; its target must exist
                    if not (root / rel).parent.joinpath(urlparse(target).path).is_file():
                        problems.append(f"{rel}: redirects to {target}, which is not in the build")
                    print(f"{rel}: redirect to {target}")
                    continue
                found, summary = check_page(context, base, rel, html, root=root, anchors=anchors,
                                            shots=shots, whole_book=not args.page)
                print(summary)
                problems += found
            browser.close()
    finally:
        server.shutdown()
    for p in problems:
        print("FAIL", p)
    if shots is not None:
        print(f"browser_check: screenshots in {shots}")
    print(f"browser_check: {len(todo)} page(s), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
