"""Checks of the built book (run by .ci/run after ``make book``).

For every page in ``_toc.yml``: the HTML exists; no executed cell shows an error, a traceback or
text on stderr (warnings belong in the prose, not in the output); every chapter ``book/NN_*``
opens with the chapter opener (class ``chapter-opener``) and ends with a Summary and Exercises;
and no page links a script, style sheet or image from outside
the built folder (``https://`` in ``src=`` or ``<link href=``), apart from the launch-button and
repository links that are meant to leave the book.

Usage: ``python book/_scripts/check_html.py _build/html``; exits 1 and lists the problems.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def toc_files(toc_path: Path) -> list[str]:
    toc = yaml.safe_load(toc_path.read_text())
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: v for k, v in toc.items() if k != "root"})
    return [str(Path(f).with_suffix("")) for f in files]


def check(html_dir: Path) -> list[str]:
    problems = []
    for name in toc_files(ROOT / "_toc.yml"):
        page = html_dir / f"{name}.html"
        if not page.exists():
            problems.append(f"{page}: missing")
            continue
        html = page.read_text(encoding="utf-8")
        for cls in ("output error", "output traceback", "output stderr"):
            if f'class="{cls}' in html or f"cell_output {cls}" in html:
                problems.append(f"{page}: a cell shows '{cls.split()[1]}' output")
        if re.fullmatch(r"book/\d\d_.*", name):
            if not re.search(r'<div class="[^"]*\bchapter-opener\b', html):
                problems.append(f"{page}: no chapter opener (admonition of class chapter-opener)")
            for heading in ("Summary", "Exercises"):
                # the Chapters part is numbered: "<h2><span class="section-number">6.7. </span>Summary"
                number = r'(?:<span class="section-number">[^<]*</span>)?'
                if not re.search(rf"<h[12][^>]*>\s*{number}\s*{heading}", html):
                    problems.append(f"{page}: no '{heading}' section")
        for url in re.findall(r'(?:<script[^>]+src|<link[^>]+href|<img[^>]+src)="(https?://[^"]+)"', html):
            problems.append(f"{page}: loads {url} from outside the book")
    return problems


def main(argv: list[str]) -> int:
    html_dir = Path(argv[1] if len(argv) > 1 else "_build/html")
    problems = check(html_dir)
    for p in problems:
        print(p)
    print(f"check_html: {len(problems)} problem(s) in {html_dir}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
