"""Static checks of the chapter sources ``book/NN_*.md``: what CONTRIBUTING.md asks of every chapter
and can be read off the MyST text without building the book.

- code lines (code cells and code blocks) at most 88 characters;
- the opener: an admonition with the class ``chapter-opener`` before the first code cell, with
  **You will learn**, **You need** and **Time**;
- ``## Summary`` and then ``## Exercises``;
- every exercise has a title, a label ``ex-chNN-*`` and exactly one solution, a dropdown, whose text
  gives reasoning (prose, not only code);
- labels of figures, tables, exercises and equations are ``fig-chNN-*``, ... and unique in the book;
  every figure cell has a caption and a name, and every figure is referenced with ``{numref}``;
- links to other pages name a file that exists and is in ``_toc.yml``; no text names a chapter
  number the book does not have;
- no development history ("when we measured it", ``OLD_RUN``, "earlier settings");
- in the maths of the prose, subscripts of more than one character are braced (``s_{10}``, not
  ``s_10``, which renders as s with subscript 1, then 0).

The built book is checked separately (``book/_scripts/check_html.py``, ``tests/browser_check.py``).
The MyST reader below is small and independent of myst-parser: fenced blocks (backticks or colons,
the closing fence at least as long as the opening one) and the bodies of directives that hold
Markdown, read recursively.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]_*.md"))
PAGES = sorted(BOOK.glob("*.md"))  # every page of the book's sources (labels are book-wide)
MAX_CODE_LINE = 88
# Directives whose body is code or maths, not Markdown.
RAW_DIRECTIVES = {"code-cell", "code", "code-block", "sourcecode", "math", "raw", "eval-rst",
                  "literalinclude", "mermaid", "glue:math"}
CODE_DIRECTIVES = {"code-cell", "code", "code-block", "sourcecode"}
HISTORY = ("when we measured it", "old_run", "earlier settings", "ten times slower")
LABEL_KINDS = ("fig", "tab", "ex", "eq")

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|:{3,})(?P<info>.*)$")
_DIRECTIVE = re.compile(r"^\{(?P<name>[\w:.-]+)\}\s*(?P<arg>.*)$")


@dataclass
class Block:
    """A fenced block: a directive (``name``) or a plain code block (``name`` None)."""

    name: str | None
    arg: str
    line: int  # 1-based line of the opening fence
    body: list[str]  # lines between the fences
    options: dict = field(default_factory=dict)
    content: list[str] = field(default_factory=list)  # body without the options
    content_line: int = 0  # 1-based line of content[0]
    items: list = field(default_factory=list)  # parsed content of a Markdown directive


@dataclass
class Prose:
    line: int
    text: str


def _split_options(body: list[str]) -> tuple[dict, list[str], int]:
    """Options of a directive or code cell (a ``---`` YAML block or ``:key: value`` lines) and the rest."""
    options: dict = {}
    if body and body[0].strip() == "---":
        end = next((i for i in range(1, len(body)) if body[i].strip() == "---"), None)
        if end is not None:
            try:
                options = yaml.safe_load("\n".join(body[1:end])) or {}
            except yaml.YAMLError:
                options = {}
            return (options if isinstance(options, dict) else {}), body[end + 1 :], end + 1
    i = 0
    while i < len(body):
        m = re.match(r"^:([\w-]+):\s*(.*)$", body[i])
        if not m:
            break
        value = m.group(2).strip()
        if value.startswith("["):
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError:
                pass
        options[m.group(1)] = value
        i += 1
    return options, body[i:], i


def parse(lines: list[str], first_line: int = 1) -> list:
    """The items (:class:`Prose` lines and :class:`Block` s) of MyST text, in order."""
    items: list = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            items.append(Prose(first_line + i, lines[i]))
            i += 1
            continue
        fence, info = m.group("fence"), m.group("info").strip()
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = next((j for j in range(i + 1, len(lines)) if closing.match(lines[j])), len(lines))
        body = lines[i + 1 : end]
        d = _DIRECTIVE.match(info)
        name, arg = (d.group("name"), d.group("arg").strip()) if d else (None, info)
        block = Block(name, arg, first_line + i, body)
        if name is not None:
            block.options, block.content, skip = _split_options(body)
        else:
            block.content, skip = body, 0
        block.content_line = first_line + i + 1 + skip
        if name is not None and name not in RAW_DIRECTIVES:
            block.items = parse(block.content, block.content_line)
        items.append(block)
        i = end + 1
    return items


def walk(items: list):
    """Every item, depth first (a directive, then what it holds)."""
    for item in items:
        yield item
        if isinstance(item, Block):
            yield from walk(item.items)


def blocks(items: list, *names: str | None) -> list[Block]:
    return [b for b in walk(items) if isinstance(b, Block) and (not names or b.name in names)]


def prose(items: list) -> list[Prose]:
    return [p for p in walk(items) if isinstance(p, Prose)]


def read(path: Path) -> list:
    text = path.read_text(encoding="utf-8")
    if text.startswith("---\n"):  # the jupytext header: keep the line numbers, drop the YAML
        end = text.index("\n---\n", 4) + 5
        text = "\n" * text[:end].count("\n") + text[end:]
    return parse(text.split("\n"))


def chapter_number(path: Path) -> str:
    return path.name[:2]


def toc_files() -> set[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    found = {toc["root"]}

    def visit(node):
        if isinstance(node, dict):
            if "file" in node:
                found.add(node["file"])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit({k: v for k, v in toc.items() if k != "root"})
    return {str(Path(f).with_suffix("")) for f in found}


def existing_chapter_numbers() -> set[int]:
    return {int(Path(f).name[:2]) for f in toc_files() if re.match(r"book/\d\d_", f)}


def labels(items: list) -> list[tuple[str, int]]:
    """Every label a page defines: ``(label)=`` targets, ``:label:``/``:name:`` options, figure names."""
    found = []
    for p in prose(items):
        m = re.match(r"^\(([\w-]+)\)=\s*$", p.text.strip())
        if m:
            found.append((m.group(1), p.line))
    for b in blocks(items):
        for key in ("label", "name"):
            if isinstance(b.options.get(key), str):
                found.append((b.options[key].strip(), b.line))
        figure = (b.options.get("mystnb") or {}).get("figure") if b.name == "code-cell" else None
        if isinstance(figure, dict) and figure.get("name"):
            found.append((str(figure["name"]), b.line))
    return found


def _strip_code_spans(text: str) -> str:
    return re.sub(r"(`+)(?:(?!\1).)+?\1", " ", text)


_CHAPTER_REF = re.compile(r"\bchapters?\s+((?:\d+\s*(?:-|–|,|and|or|to)\s*)*\d+)", re.IGNORECASE)


def chapters_named(line: str) -> list[tuple[str, list[int]]]:
    """The chapter numbers a line of text names ("chapter 8", "chapters 3-5", "chapters 2 and 9")."""
    found = []
    for m in _CHAPTER_REF.finditer(line):
        numbers = [int(n) for n in re.findall(r"\d+", m.group(1))]
        if re.search(r"\d\s*(?:-|–|to)\s*\d", m.group(1)) and len(numbers) == 2:
            numbers = list(range(numbers[0], numbers[1] + 1))
        found.append((m.group(0), numbers))
    return found


def link_targets(text: str) -> list[str]:
    """The targets of ``{doc}`` roles and Markdown links ``[text](target)`` in a line of prose."""
    targets = []
    for content in re.findall(r"\{doc\}`([^`]*)`", text):
        m = re.search(r"<([^>]+)>", content)
        targets.append((m.group(1) if m else content).strip())
    text = _strip_code_spans(re.sub(r"\{[\w:.-]+\}`[^`]*`", " ", text))  # roles, then code spans
    return re.findall(r"\]\(([^)\s]+)\)", text) + targets


def inline_maths(text: str) -> list[tuple[int, str]]:
    """``(offset, tex)`` of each ``$$...$$`` and ``$...$`` in prose (code spans removed first)."""
    text = _strip_code_spans(text)
    return [(m.start(), m.group(1) or m.group(2))
            for m in re.finditer(r"\$\$(.+?)\$\$|(?<![\\$])\$([^$]+?)\$", text, re.DOTALL)]


def long_subscripts(tex: str) -> list[str]:
    """Subscripts of more than one character without braces (``s_10``, ``x_ij``) in TeX."""
    return re.findall(r"(?<!\\)_[A-Za-z0-9]{2,}", tex)


PARSED = {p: read(p) for p in PAGES}
ids = [p.stem for p in CHAPTERS]


def test_there_are_chapters():
    assert len(CHAPTERS) >= 8, [p.name for p in CHAPTERS]


def test_the_reader_reads_nested_fences():
    """The MyST reader itself, on a hand-written sample (so the checks below can be trusted)."""
    sample = [
        "# T", "", "::::{exercise} A title", ":label: ex-ch09-a", "", "Body $x_{10}$.",
        "```python", "x = 1", "```", "::::", "", "```{code-cell} ipython3", "---",
        "tags: [hide-input]", "mystnb:", "  figure:", "    name: fig-ch09-x", "---", "print(1)", "```",
    ]
    items = parse(sample)
    ex = blocks(items, "exercise")
    assert len(ex) == 1 and ex[0].arg == "A title" and ex[0].options == {"label": "ex-ch09-a"}
    assert [b.content for b in blocks(ex[0].items, None)] == [["x = 1"]]
    cell = blocks(items, "code-cell")[0]
    assert cell.content == ["print(1)"] and cell.content_line == 19
    assert cell.options["mystnb"]["figure"]["name"] == "fig-ch09-x"
    assert sorted(labels(items)) == [("ex-ch09-a", 3), ("fig-ch09-x", 12)]


def test_the_helpers_on_samples():
    """The text checks below, on hand-written lines."""
    assert [n for _, n in chapters_named("see chapter 8, and Chapters 3-5 or chapters 2 and 9")] == [
        [8], [3, 4, 5], [2, 9]]
    assert chapters_named("the chapter opener; 8 chapters") == []
    assert link_targets("[a](01_x.md#sec) and {doc}`the map <equations>` and {doc}`notation`, "
                        "not `[b](c.md)`") == ["01_x.md#sec", "equations", "notation"]
    assert [t for _, t in inline_maths("$\\mathbf{s}_10$ and `$x_ab$` then $$y_{10}$$")] == [
        "\\mathbf{s}_10", "y_{10}"]
    assert long_subscripts("\\mathbf{s}_10 + x_i + y_{10} + q_\\mathrm{th} + \\_ab") == ["_10"]
    sol = parse(["```{solution-start} ex-ch09-a", ":class: dropdown", "```", "",
                 "Because $a = b$, so 12 follows.", "```{code-cell} ipython3", "print(12)", "```",
                 "```{solution-end}", "```"])
    assert _words(_solution_text(sol, sol[0])) == 4  # Because, so, 12, follows; not the code


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_code_lines_fit(md):
    long = []
    for b in blocks(PARSED[md], None, *CODE_DIRECTIVES):
        for k, line in enumerate(b.content):
            if len(line) > MAX_CODE_LINE:
                long.append(f"line {b.content_line + k}: {len(line)} characters: {line.strip()[:50]}")
    assert not long, f"{md.name}: code lines over {MAX_CODE_LINE} characters:\n" + "\n".join(long)


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_opener(md):
    items = PARSED[md]
    top = [i for i in items if isinstance(i, Block)]
    openers = [
        b for b in top
        if b.name == "admonition" and "chapter-opener" in str(b.options.get("class", "")).split()
    ]
    assert len(openers) == 1, f"{md.name}: needs one admonition with :class: chapter-opener"
    opener = openers[0]
    first_code = next((b.line for b in top if b.name == "code-cell"), 10**9)
    assert opener.line < first_code, f"{md.name}: the opener comes before the first code cell"
    text = "\n".join(opener.content)
    for part in ("**You will learn**", "**You need**", "**Time**"):
        assert part in text, f"{md.name}: the opener lacks {part}"


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_summary_then_exercises(md):
    heads = [p.text.strip() for p in PARSED[md] if isinstance(p, Prose) and p.text.startswith("## ")]
    assert "## Summary" in heads, f"{md.name}: no '## Summary' section"
    assert "## Exercises" in heads, f"{md.name}: no '## Exercises' section"
    assert heads.index("## Summary") < heads.index("## Exercises"), f"{md.name}: Summary first"


def _solution_text(items: list, start: Block) -> list[str]:
    """The Markdown of a gated solution: the items between its solution-start and solution-end."""
    body, inside = [], False
    for item in items:
        if item is start:
            inside = True
            continue
        if inside and isinstance(item, Block) and item.name == "solution-end":
            return body
        if inside:
            body.append(item)
    return body


def _words(items: list) -> int:
    """Words and numbers of the prose in the items (maths counts: a derivation is reasoning; code
    blocks and code spans do not)."""
    text = " ".join(p.text for p in prose([i for i in items if not (
        isinstance(i, Block) and i.name in (None, *CODE_DIRECTIVES))]))
    text = _strip_code_spans(text)
    return len(re.findall(r"[A-Za-z]{2,}|\d+(?:\.\d+)?", text))


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_exercises_have_title_label_and_reasoned_solution(md):
    items = PARSED[md]
    nn = chapter_number(md)
    exercises = blocks(items, "exercise")
    assert exercises, f"{md.name}: no exercises"
    problems = []
    solutions: dict[str, list] = {}
    for b in walk(items):
        if isinstance(b, Block) and b.name in ("solution", "solution-start"):
            solutions.setdefault(b.arg, []).append(b)
    containers = [items] + [b.items for b in blocks(items) if b.items]
    for ex in exercises:
        label = str(ex.options.get("label", "")).strip()
        where = f"exercise at line {ex.line}"
        if not ex.arg:
            problems.append(f"{where}: no title")
        if not label:
            problems.append(f"{where}: no :label:")
            continue
        if not label.startswith(f"ex-ch{nn}-"):
            problems.append(f"{where}: label {label} does not start with ex-ch{nn}-")
        found = solutions.get(label, [])
        if len(found) != 1:
            problems.append(f"{where} ({label}): {len(found)} solutions, want 1")
            continue
        sol = found[0]
        if "dropdown" not in str(sol.options.get("class", "")).split():
            problems.append(f"{where} ({label}): the solution is not a dropdown (:class: dropdown)")
        if sol.name == "solution":
            body = sol.items
        else:
            body = next((_solution_text(c, sol) for c in containers if sol in c), [])
        if _words(body) < 12:
            problems.append(f"{where} ({label}): the solution gives no reasoning in words "
                            f"({_words(body)} words of prose)")
    labels_ex = {str(e.options.get("label", "")).strip() for e in exercises}
    for label, found in solutions.items():
        if label not in labels_ex:
            problems.append(f"solution at line {found[0].line} names no exercise of this page: {label}")
    assert not problems, f"{md.name}:\n" + "\n".join(problems)


def test_labels_unique_in_the_book():
    seen: dict[str, str] = {}
    twice = []
    for page, items in PARSED.items():
        for label, line in labels(items):
            where = f"{page.name}:{line}"
            if label in seen:
                twice.append(f"{label}: {seen[label]} and {where}")
            else:
                seen[label] = where
    assert not twice, "labels defined twice:\n" + "\n".join(twice)


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_labels_name_their_chapter(md):
    nn = chapter_number(md)
    wrong = [
        f"line {line}: {label}"
        for label, line in labels(PARSED[md])
        if label.split("-")[0] in LABEL_KINDS and not label.startswith(f"{label.split('-')[0]}-ch{nn}-")
    ]
    assert not wrong, (
        f"{md.name}: labels must be fig-ch{nn}-*, tab-ch{nn}-*, ex-ch{nn}-*, eq-ch{nn}-*:\n"
        + "\n".join(wrong)
    )


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_figures_captioned_and_referenced(md):
    all_text = "\n".join(p.read_text(encoding="utf-8") for p in PAGES)
    problems = []
    for b in blocks(PARSED[md], "code-cell"):
        figure = (b.options.get("mystnb") or {}).get("figure")
        if figure is None:
            continue
        if not isinstance(figure, dict) or not figure.get("caption") or not figure.get("name"):
            problems.append(f"line {b.line}: a figure cell needs mystnb.figure.caption and .name")
            continue
        name = str(figure["name"])
        if not re.search(rf"\{{numref\}}`(?:[^`<]*<)?{re.escape(name)}>?`", all_text):
            problems.append(f"line {b.line}: figure {name} is never referenced with {{numref}}")
    for b in blocks(PARSED[md], "figure", "glue:figure"):
        if not b.options.get("name"):
            problems.append(f"line {b.line}: a {b.name} directive needs a :name:")
    assert not problems, f"{md.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_links_to_pages_that_exist(md):
    in_toc = toc_files()
    problems = []
    for p in prose(PARSED[md]):
        for target in link_targets(p.text):
            if re.match(r"^(?:[a-z]+:|#)", target):
                continue
            path = target.split("#")[0]
            if not path:
                continue
            resolved = (md.parent / path).resolve()
            if not resolved.exists() and not resolved.with_suffix(".md").exists():
                problems.append(f"line {p.line}: link to {target}, which does not exist")
            elif resolved.suffix in (".md", ".ipynb", "") and resolved.is_relative_to(ROOT):
                page = str(resolved.relative_to(ROOT).with_suffix(""))
                if page not in in_toc:
                    problems.append(f"line {p.line}: link to {target}, which is not in _toc.yml")
    assert not problems, f"{md.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_no_chapter_that_does_not_exist(md):
    have = existing_chapter_numbers() | {0}
    problems = []
    for k, line in enumerate(md.read_text(encoding="utf-8").split("\n"), start=1):
        for text, numbers in chapters_named(line):
            missing = sorted(set(numbers) - have)
            if missing:
                problems.append(f"line {k}: '{text}' names chapter(s) {missing}, not in the book")
    assert not problems, f"{md.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_no_development_history(md):
    problems = []
    for k, line in enumerate(md.read_text(encoding="utf-8").split("\n"), start=1):
        for phrase in HISTORY:
            if phrase in line.lower():
                problems.append(f"line {k}: '{phrase}': {line.strip()[:80]}")
    assert not problems, (
        f"{md.name}: development history belongs in the appendix (CONTRIBUTING.md):\n" + "\n".join(problems)
    )


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_long_subscripts_braced(md):
    items = PARSED[md]
    lines = prose(items)
    joined = "\n".join(p.text for p in lines)
    offsets, pos = [], 0
    for p in lines:
        offsets.append(pos)
        pos += len(p.text) + 1
    maths = []
    for offset, tex in inline_maths(joined):
        k = max(i for i, off in enumerate(offsets) if off <= offset)
        maths.append((lines[k].line, tex))
    maths += [(b.line, "\n".join(b.content)) for b in blocks(items, "math")]
    bad = [f"line {line}: {hit} in ${tex.strip()[:60]}$" for line, tex in maths for hit in long_subscripts(tex)]
    assert not bad, f"{md.name}: brace subscripts of more than one character (s_{{10}}):\n" + "\n".join(bad)
