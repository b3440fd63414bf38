"""Each chapter ``book/NN_*.md`` has an output-free ``.ipynb`` twin with the same cells, and opens with
the canonical execution note and setup cell.

The comparison here is independent of ``book/_scripts/pair_notebooks.py``: it reads the MyST source
with jupytext and the stored notebook with nbformat and compares cell types and sources directly. The
last test checks that the script's ``--check`` flags a twin that has drifted.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]_*.md"))


def _cells(nb):
    return [(c.cell_type, c.source) for c in nb.cells]


def test_there_are_chapters():
    # chapters 0 and 5 exist from issue 4 on
    names = {p.stem for p in CHAPTERS}
    assert {"00_introduction", "05_ofdma_capacity"} <= names


@pytest.mark.parametrize("md", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_ipynb_twin_in_sync_and_output_free(md):
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} missing: run `make notebooks` and commit it"
    source = jupytext.read(md)
    stored = nbformat.read(ipynb, as_version=4)
    assert _cells(stored) == _cells(source), (
        f"{ipynb.name} is out of sync with {md.name}: run `make notebooks`"
    )
    assert all(not c.outputs and c.execution_count is None for c in stored.cells if c.cell_type == "code")
    assert stored.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("md", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_opens_with_canonical_setup(md):
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")
    template = (BOOK / "_templates" / "setup_cell.md").read_text().replace("@REPOSITORY_URL@", url).strip()
    text = md.read_text()
    assert template in text, f"{md.name} lacks the note and setup cell of book/_templates/setup_cell.md"
    first_code = next(c for c in jupytext.read(md).cells if c.cell_type == "code")
    assert first_code.source.startswith("# Setup: install the course's package")
    assert f'"gsemlab[hub] @ git+{url}"' in first_code.source
    assert "hide-input" in first_code.metadata.get("tags", [])
    # the note comes before the setup cell, and both before the first section
    assert (
        text.index(":::{admonition} How this page was executed")
        < text.index("# Setup:")
        < text.index("\n## ")
    )


@pytest.mark.parametrize("md", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_repository_links_follow_config(md):
    # _config.yml's repository.url is the source of truth; chapters that spell it out must agree
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")
    for link in re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", md.read_text()):
        assert link == url, f"{md.name} links {link}, but _config.yml says {url}"


def test_pair_script_flags_a_drifted_twin(tmp_path):
    spec = importlib.util.spec_from_file_location("pair_notebooks", BOOK / "_scripts" / "pair_notebooks.py")
    pair = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pair)
    md = tmp_path / CHAPTERS[0].name
    shutil.copy(CHAPTERS[0], md)
    assert pair.write(md)  # fresh twin
    assert not pair.write(md)  # regenerating an unchanged chapter changes nothing
    assert pair.problems(md) == []
    md.write_text(md.read_text() + "\n```{code-cell} ipython3\nprint('new cell')\n```\n")
    assert any("out of sync" in p for p in pair.problems(md))
    md.with_suffix(".ipynb").unlink()
    assert any("no paired" in p for p in pair.problems(md))
