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
    assert f'"gsemlab{{EXTRA}} @ git+{url}"' in first_code.source
    assert "--no-deps daam==0.2.0" in first_code.source
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


def _pair_script():
    spec = importlib.util.spec_from_file_location("pair_notebooks", BOOK / "_scripts" / "pair_notebooks.py")
    pair = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pair)
    return pair


def test_pair_script_flags_a_drifted_twin(tmp_path):
    pair = _pair_script()
    md = tmp_path / CHAPTERS[0].name
    shutil.copy(CHAPTERS[0], md)
    assert pair.write(md)  # fresh twin
    assert not pair.write(md)  # regenerating an unchanged chapter changes nothing
    assert pair.problems(md) == []
    md.write_text(md.read_text() + "\n```{code-cell} ipython3\nprint('new cell')\n```\n")
    assert any("out of sync" in p for p in pair.problems(md))
    md.with_suffix(".ipynb").unlink()
    assert any("no paired" in p for p in pair.problems(md))


OLD_OPENING = """:::{admonition} How this page was executed
:class: note

An older note.
:::

```{code-cell} ipython3
:tags: [hide-input]

# Setup: an older setup cell.
try:
    import gsemlab
except ImportError:
    %pip install -q "gsemlab[hub] @ git+https://github.com/gsem-course/gsem-course"
    import gsemlab
```"""


def test_write_stamps_the_template_into_every_opening(tmp_path, monkeypatch):
    # editing the template once updates every chapter: --write replaces the old note and setup cell
    pair = _pair_script()
    body = "\nSome prose.\n\n```{code-cell} ipython3\nx = 1\n```\n\n## A section\n"
    front = CHAPTERS[0].read_text().split("\n# ", 1)[0]  # the front matter
    md = tmp_path / "01_x.md"
    md.write_text(f"{front}\n# A title\n\n{OLD_OPENING}\n{body}")
    assert pair.write(md)
    text = md.read_text()
    assert text == f"{front}\n# A title\n\n{pair.canonical_opening()}\n{body}"
    assert pair.problems(md) == []
    assert not pair.write(md)  # stamping twice changes nothing
    template = tmp_path / "setup_cell.md"
    template.write_text(pair.TEMPLATE.read_text().replace("How this page was executed", "How it ran"))
    monkeypatch.setattr(pair, "TEMPLATE", template)
    assert pair.problems(md)  # the chapter now lags behind the edited template
    assert pair.write(md)
    assert md.read_text() == f"{front}\n# A title\n\n{pair.canonical_opening()}\n{body}"
    assert "How it ran" in md.read_text() and "How this page was executed" not in md.read_text()
    assert pair.problems(md) == []
    # a chapter without any opening gets one after its title
    bare = tmp_path / "02_y.md"
    bare.write_text(f"{front}\n# Bare\n{body}")
    assert pair.write(bare)
    assert bare.read_text() == f"{front}\n# Bare\n\n{pair.canonical_opening()}\n{body}"


def _run_setup_cell(monkeypatch, installed, gpu):
    """Execute the canonical setup cell with pip, find_spec and nvidia-smi faked; return the pip lines."""
    from IPython.core.inputtransformer2 import TransformerManager

    pair = _pair_script()
    code = TransformerManager().transform_cell(pair.setup_cell_source())
    ns: dict = {}
    lines = []

    class FakeShell:
        def run_line_magic(self, magic, line):
            assert magic == "pip"
            lines.append(line.format_map(ns))  # IPython expands {NAME} from the cell's namespace

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name in installed else None)
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/nvidia-smi" if gpu is not None else None)
    import subprocess

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0 if gpu else 9))
    ns["get_ipython"] = FakeShell
    exec(compile(code, "setup_cell", "exec"), ns)  # noqa: S102 (the cell's own source, pip faked)
    return lines


def test_setup_cell_installs_only_what_is_missing(monkeypatch):
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")
    assert _run_setup_cell(monkeypatch, {"gsemlab", "daam"}, gpu=None) == []
    # a CPU runtime (no nvidia-smi, or one that finds no GPU) never gets the [hub] extra
    for gpu in (None, False):
        assert _run_setup_cell(monkeypatch, set(), gpu=gpu) == [
            f'install -q "gsemlab @ git+{url}"', "install -q --no-deps daam==0.2.0"]
    assert _run_setup_cell(monkeypatch, set(), gpu=True) == [
        f'install -q "gsemlab[hub] @ git+{url}"', "install -q --no-deps daam==0.2.0"]
    assert _run_setup_cell(monkeypatch, {"gsemlab"}, gpu=True) == ["install -q --no-deps daam==0.2.0"]
    assert _run_setup_cell(monkeypatch, {"daam"}, gpu=False) == [f'install -q "gsemlab @ git+{url}"']
    assert _run_setup_cell(monkeypatch, {"gsemlab", "daam"}, gpu=True) == []


def test_stamping_keeps_what_precedes_the_note():
    pair = _pair_script()
    goals = ":::{admonition} Learning goals\n:class: tip\n\nRead a map.\n:::\n\n"
    text = f"---\nkernelspec:\n  name: python3\n---\n\n# T\n\n{goals}{OLD_OPENING}\n\n## S\n"
    assert pair.stamped(text, "NEW") == f"---\nkernelspec:\n  name: python3\n---\n\n# T\n\n{goals}NEW\n\n## S\n"
