"""Keep each chapter's output-free ``.ipynb`` twin (for Colab) in sync with its MyST ``.md`` source.

The ``.md`` file is the source of truth; ``book/NN_name.ipynb`` is generated from it with jupytext,
without outputs, with stable cell ids (so regenerating an unchanged chapter changes nothing).

The execution note and the setup cell are written once, in ``book/_templates/setup_cell.md``, with the
repository URL of ``_config.yml`` (the one place where that URL is set) filled in. ``--write`` stamps
the template's current text into every chapter's opening, replacing the old note and setup cell (from
the ``:::{admonition}`` just before the first code cell that starts with ``# Setup:`` to the end of
that cell), so editing the template once updates every chapter; ``--check`` fails on a chapter whose
opening differs from it.

Usage (from the repository root; ``make notebooks`` runs ``--write``)::

    python book/_scripts/pair_notebooks.py --write   # stamp the openings, regenerate the twins that changed
    python book/_scripts/pair_notebooks.py --check   # exit 1 and list out-of-sync pairs
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
TEMPLATE = BOOK / "_templates" / "setup_cell.md"
URL_PLACEHOLDER = "@REPOSITORY_URL@"
#: The first code cell whose source starts with "# Setup:" (its fence, its options, then the comment).
SETUP_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(?::[^\n]*\n)*\n*# Setup:", re.MULTILINE)
TITLE = re.compile(r"^# [^\n]*\n", re.MULTILINE)


def chapter_sources(book: Path = BOOK) -> list[Path]:
    """The chapters' MyST sources ``book/NN_*.md``, sorted."""
    return sorted(p for p in book.glob("[0-9][0-9]_*.md") if p.is_file())


def repository_url(config: Path = ROOT / "_config.yml") -> str:
    """``repository.url`` of the book's ``_config.yml``, without a trailing slash."""
    url = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("repository", {}).get("url", "")
    if not url:
        raise ValueError(f"{config}: repository.url is not set")
    return url.rstrip("/")


def canonical_opening(url: str | None = None) -> str:
    """The execution note and setup cell every chapter must contain, with the repository URL filled in."""
    return TEMPLATE.read_text(encoding="utf-8").replace(URL_PLACEHOLDER, url or repository_url()).strip()


def setup_cell_source(url: str | None = None) -> str:
    """Source of the canonical setup cell (the first code cell of every chapter)."""
    cells = jupytext.reads(canonical_opening(url), fmt="md:myst").cells
    return next(c.source for c in cells if c.cell_type == "code")


def stamped(text: str, opening: str) -> str:
    """``text`` (a chapter's MyST source) with its opening note and setup cell replaced by ``opening``.

    The old opening runs from the last ``:::{admonition}`` line between the title and the setup cell
    (or, without one, the setup cell's fence) to the closing fence of the setup cell. A chapter without a setup cell gets the
    opening inserted after its title.
    """
    body = text.index("\n---", 3) + 4 if text.startswith("---") else 0  # after the front matter
    title = TITLE.search(text, body)
    if title is None:
        raise ValueError("the chapter has no '# ' title line")
    cell = SETUP_CELL.search(text, title.end())
    if cell is None:
        return f"{text[:title.end()]}\n{opening}\n{text[title.end():]}"
    note = text.rfind("\n:::{admonition}", title.end(), cell.start())  # the one just before the cell
    start = note + 1 if note >= 0 else cell.start()
    end = text.index("\n```", cell.end()) + len("\n```")
    return text[:start] + opening + text[end:]


def stamp(md_path: Path, url: str | None = None) -> bool:
    """Write the template's current opening into ``md_path``; return whether the file changed."""
    text = md_path.read_text(encoding="utf-8")
    new = stamped(text, canonical_opening(url))
    if new == text:
        return False
    md_path.write_text(new, encoding="utf-8")
    return True


def to_notebook(md_path: Path) -> nbformat.NotebookNode:
    """The output-free notebook of a MyST chapter, with stable cell ids."""
    nb = jupytext.read(md_path)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"
        if cell.cell_type == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    nb.metadata.get("jupytext", {}).pop("text_representation", None)
    return nb


def cell_signature(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """What a pair must agree on: each cell's type and source, in order."""
    return [(c.cell_type, c.source) for c in nb.cells]


def problems(md_path: Path, url: str | None = None) -> list[str]:
    """Why ``md_path`` and its ``.ipynb`` twin are out of sync, or its opening is not canonical."""
    out = []
    rel = md_path.relative_to(ROOT) if md_path.is_relative_to(ROOT) else md_path
    ipynb = md_path.with_suffix(".ipynb")
    expected = to_notebook(md_path)
    if not ipynb.exists():
        out.append(f"{rel}: no paired {ipynb.name} (run `make notebooks`)")
    else:
        stored = nbformat.read(ipynb, as_version=4)
        if cell_signature(stored) != cell_signature(expected):
            out.append(f"{rel}: {ipynb.name} is out of sync with it (run `make notebooks`)")
        if any(c.get("outputs") for c in stored.cells if c.cell_type == "code"):
            out.append(f"{rel}: {ipynb.name} holds outputs; the twins must be output-free")
    text = md_path.read_text(encoding="utf-8")
    if canonical_opening(url) not in text:
        out.append(
            f"{rel}: does not contain the execution note and setup cell of "
            f"{TEMPLATE.relative_to(ROOT) if TEMPLATE.is_relative_to(ROOT) else TEMPLATE} verbatim"
        )
    code = [c for c in expected.cells if c.cell_type == "code"]
    if not code or code[0].source != setup_cell_source(url):
        out.append(f"{rel}: its first code cell is not the canonical setup cell")
    return out


def write(md_path: Path, url: str | None = None) -> bool:
    """Stamp the opening into ``md_path`` and regenerate its ``.ipynb`` twin where either differs; return
    whether anything was written."""
    stamped_md = stamp(md_path, url)
    ipynb = md_path.with_suffix(".ipynb")
    new = nbformat.writes(to_notebook(md_path)) + "\n"
    if ipynb.exists() and ipynb.read_text(encoding="utf-8") == new:
        return stamped_md
    ipynb.write_text(new, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate the .ipynb twins that changed")
    mode.add_argument("--check", action="store_true", help="exit 1 when a pair is out of sync")
    args = parser.parse_args(argv)
    chapters = chapter_sources()
    if not chapters:
        print(f"pair_notebooks: no chapters book/NN_*.md under {BOOK}", file=sys.stderr)
        return 1
    url = repository_url()
    if args.write:
        for md in chapters:
            if stamp(md, url):
                print(f"stamped the opening of {md.relative_to(ROOT)}")
            if write(md, url):
                print(f"wrote {md.with_suffix('.ipynb').relative_to(ROOT)}")
        return 0
    found = [p for md in chapters for p in problems(md, url)]
    for p in found:
        print(p)
    print(f"pair_notebooks: {len(chapters)} chapter(s), {len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
