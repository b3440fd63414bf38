"""Screenshot built pages at 1280 px in headless Chromium (for authors; not used by CI).

    .venv/bin/python book/_scripts/screenshot.py /tmp/jb-02_cross_attention/_build/html \
        book/02_cross_attention.html /tmp/shot.png

Saves the whole page as one PNG (view it with an image viewer or the editor's file view) and prints
each element that is wider than its container (code blocks, equations, tables) and each figure shown
at less than its natural size.
"""

from __future__ import annotations

import functools
import http.server
import sys
import threading

OVERFLOW_JS = """
() => {
  const out = [];
  for (const el of document.querySelectorAll('article pre, article mjx-container[display="true"],'
                                            + ' article table, article .MathJax_Display')) {
    const box = el.closest('div.highlight, div.math-wrapper, div.table-wrapper, div.cell_output,'
                           + ' div.output, div.math') || el.parentElement;
    if (el.scrollWidth > box.clientWidth + 1) {
      out.push(`overflow ${el.tagName.toLowerCase()} ${el.scrollWidth}>${box.clientWidth}: `
               + (el.textContent || '').trim().slice(0, 60));
    }
  }
  for (const img of document.querySelectorAll('article img')) {
    if (img.naturalWidth && img.clientWidth / img.naturalWidth < 0.72) {
      out.push(`figure at ${Math.round(100 * img.clientWidth / img.naturalWidth)}%: ${img.src.split('/').pop()}`);
    }
  }
  return out;
}
"""


def main(root: str, page: str, png: str) -> None:
    from playwright.sync_api import sync_playwright

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=root)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{page}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.route("**/*", lambda r: r.continue_() if r.request.url.startswith("http://127.0.0.1")
                      else r.abort())
        pg = context.new_page()
        pg.goto(url, wait_until="load")
        pg.wait_for_timeout(3000)  # MathJax
        for line in pg.evaluate(OVERFLOW_JS):
            print(line)
        pg.screenshot(path=png, full_page=True)
        browser.close()
    server.shutdown()
    print(f"saved {png}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
