"""The equation-to-function map of the book, and the links between it and the API reference.

How a docstring names an equation (CONTRIBUTING.md, *Equations*):

* ``Eq. 7 of [G-SemCom]`` in the docstring of a function, class or method says that this object
  **implements** Eq. 7 of the paper tagged ``G-SemCom``; the map lists it in the equation's row.
  Several at once: ``Eq. 10-11 of [G-SemCom]`` (a range), ``Eq. 4, 4a of [G-SemCom]`` (a list).
* A bare ``Eq. 7`` (anywhere in a docstring, module docstrings included) only **refers** to the
  equation; a bare number always means the course's paper, G-SemCom. An equation of another paper is
  always written with its tag: ``Eq. 3 of [DeKA-g]`` implements, ``Eq. 3 in [DeKA-g]`` refers.

The catalogue of each paper's equations (what each defines, or why nothing implements it) is the
body of an ``equation-map`` directive in ``book/equations.md``; the directive turns it into a table
with one row per equation, each row a link target ``eq-<paper>-<number>`` (``eq-gsemcom-7``), listing
the objects whose docstrings implement the equation, each a link to its API entry (and, under the
table, those that only name it). A transform turns every ``Eq. N`` of the book, in the chapters'
prose and in the API reference's docstrings, into a link to that row. At the end
of reading, :func:`check` runs and every problem becomes a warning, so that ``-W`` fails the build:
an equation of the catalogue that nothing implements and that has no stated reason, a reason that
has become stale, a docstring that names an equation (or a paper) the catalogue lacks, a public
module of ``gsemlab`` that no API page documents.

``tests/test_equations.py`` runs the same :func:`check` without Sphinx.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import yaml

#: The tag of the course's paper: a bare ``Eq. N`` means this paper's Eq. N.
DEFAULT_PAPER = "G-SemCom"

_NUM = r"\d+[a-z]?(?![\w]|\.\d)"
_SEP = r"\s*(?:-|–|,|and)\s*"
#: ``Eq. 7``, ``Eqs. 10-11``, ``Eq. 4, 4a``, ``Eq. 15-18 of [G-SemCom]``, ``Eq. 3 in [DeKA-g]``.
EQ_RE = re.compile(
    rf"\bEqs?\.\s+(?P<nums>{_NUM}(?:{_SEP}{_NUM})*)"
    r"(?:\s+(?P<rel>of|in)\s+\[(?P<paper>[A-Za-z][\w-]*)\])?"
)
_NUM_RE = re.compile(_NUM)


def slug(paper: str) -> str:
    """Label-safe form of a paper tag: ``G-SemCom`` -> ``gsemcom``."""
    return re.sub(r"[^a-z0-9]", "", paper.lower())


def label(paper: str, eq: str) -> str:
    """The link target of an equation's row in the map: ``eq-gsemcom-7``."""
    return f"eq-{slug(paper)}-{eq.lower()}"


def expand(nums: str) -> list[str]:
    """The equation numbers a match names: ``"10-11"`` -> 10, 11; ``"4, 4a"`` -> 4, 4a.

    A range between two plain numbers names every number in it; a range with a lettered end
    (``4a-4b``) names its two ends.
    """
    tokens = [(m.group(), m.start(), m.end()) for m in _NUM_RE.finditer(nums)]
    out: list[str] = []
    for k, (tok, _start, end) in enumerate(tokens):
        if k > 0 and re.fullmatch(r"\s*[-–]\s*", nums[tokens[k - 1][2]:tokens[k][1]]):
            prev = tokens[k - 1][0]
            if prev.isdigit() and tok.isdigit() and int(prev) < int(tok):
                out.extend(str(n) for n in range(int(prev) + 1, int(tok)))
        out.append(tok)
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Mention:
    """One equation named in one docstring."""

    paper: str  #: paper tag, e.g. "G-SemCom"
    eq: str  #: equation number as the paper prints it, e.g. "4a"
    obj: str  #: full dotted name of the documented object, e.g. "gsemlab.jpsq.jpsq"
    objtype: str  #: "module", "class", "function", "method" or "property"
    implements: bool  #: written "Eq. N of [PAPER]" in a function, class or method docstring


def mentions_in(text: str, obj: str, objtype: str) -> list[Mention]:
    """Every equation a docstring names (see the module docstring for the convention)."""
    out = []
    for m in EQ_RE.finditer(text or ""):
        paper = m.group("paper") or DEFAULT_PAPER
        implements = m.group("rel") == "of" and objtype != "module"
        for eq in expand(m.group("nums")):
            out.append(Mention(paper, eq, obj, objtype, implements))
    return out


#: Other ways of writing an equation's number, which the map would not see: "equation 7", "Eq (7)",
#: "Eq.7", "eq. 7", "Eqn. 7", "(Eq. (7))".
NONSTANDARD_RE = re.compile(
    r"\b(?:[Ee]quations?\s*\(?\d|[Ee]qns?\.?\s*\(?\d|eqs?\.?\s*\(?\d|Eqs?\.?\s*\(\d|Eqs?\.\d|Eqs?\s+\d)"
)


def nonstandard(text: str) -> list[str]:
    """The equation numbers of a docstring written otherwise than ``Eq. N``."""
    return [text[m.start():m.end() + 4].strip() for m in NONSTANDARD_RE.finditer(text or "")]


def docstrings(package: str = "gsemlab", exclude: tuple[str, ...] = ()):
    """(full name, objtype, docstring) of every public module and object the API reference shows."""
    for modname in public_modules(package):
        if any(modname == e or modname.startswith(e + ".") for e in exclude):
            continue
        module = importlib.import_module(modname)
        yield modname, "module", inspect.getdoc(module) or ""
        for qualname, obj, objtype in _members(module):
            yield f"{modname}.{qualname}", objtype, inspect.getdoc(obj) or ""


def public_modules(package: str = "gsemlab") -> list[str]:
    """Names of the public modules of a package (no ``_private`` part, no ``__main__``), sorted."""
    pkg = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(pkg.__path__, package + "."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        names.append(info.name)
    return sorted(names)


def _members(module):
    """(qualified name, object, objtype) of the public objects the API reference documents."""
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj):
            yield name, obj, "class"
            for mname, member in vars(obj).items():
                if mname.startswith("_"):
                    continue
                if isinstance(member, property):
                    yield f"{name}.{mname}", member, "property"
                elif isinstance(member, (staticmethod, classmethod)) or inspect.isfunction(member):
                    yield f"{name}.{mname}", inspect.unwrap(getattr(member, "__func__", member)), "method"
        elif inspect.isfunction(obj):
            yield name, obj, "function"


def scan(package: str = "gsemlab", exclude: tuple[str, ...] = ()) -> list[Mention]:
    """Every equation named in the docstrings of a package's public modules and objects."""
    return [m for name, objtype, doc in docstrings(package, exclude) for m in mentions_in(doc, name, objtype)]


# -- the catalogue ----------------------------------------------------------------------------------


@dataclass
class Equation:
    """One row of the map: an equation of a paper, what it defines, or why nothing implements it."""

    paper: str
    eq: str
    defines: str
    math: str = ""
    not_implemented: str = ""  #: the reason no function implements it ("" when one does)


@dataclass
class Catalogue:
    """The equations of one paper, in the order it numbers them."""

    paper: str
    title: str = ""
    cite: str = ""
    equations: list[Equation] = field(default_factory=list)

    def get(self, eq: str) -> Equation | None:
        return next((e for e in self.equations if e.eq == eq), None)


def parse_catalogue(paper: str, body: str, title: str = "", cite: str = "") -> Catalogue:
    """Parse the YAML body of an ``equation-map`` directive: a list of rows with the keys ``eq``,
    ``defines``, optional ``math`` (LaTeX) and optional ``not_implemented`` (the reason)."""
    rows = yaml.safe_load(body) or []
    if not isinstance(rows, list):
        raise TypeError(f"equation-map {paper}: the body must be a YAML list of rows")
    cat = Catalogue(paper, title, cite)
    for row in rows:
        if not isinstance(row, dict) or "eq" not in row or "defines" not in row:
            raise ValueError(f"equation-map {paper}: every row needs 'eq' and 'defines': {row!r}")
        unknown = set(row) - {"eq", "defines", "math", "not_implemented"}
        if unknown:
            raise ValueError(f"equation-map {paper}: unknown keys {sorted(unknown)} in {row!r}")
        eq = str(row["eq"])
        if cat.get(eq) is not None:
            raise ValueError(f"equation-map {paper}: Eq. {eq} is listed twice")
        cat.equations.append(Equation(paper, eq, str(row["defines"]), str(row.get("math") or ""),
                                      str(row.get("not_implemented") or "")))
    return cat


_FENCE_RE = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{equation-map\}[ \t]+(?P<paper>\S+)[ \t]*\n(?P<body>.*?)^(?P=fence)[ \t]*$",
    re.DOTALL | re.MULTILINE,
)


def split_options(body: str) -> tuple[dict[str, str], str]:
    """Split a directive body into its leading ``:key: value`` options and the rest."""
    lines = body.splitlines()
    opts = {}
    k = 0
    while k < len(lines) and (m := re.match(r"^:(\w+):\s*(.*)$", lines[k])):
        opts[m.group(1)] = m.group(2).strip()
        k += 1
    return opts, "\n".join(lines[k:])


def catalogues_from_markdown(path: str | Path) -> dict[str, Catalogue]:
    """The catalogues of every ``equation-map`` directive of a MyST page, by paper tag."""
    text = Path(path).read_text(encoding="utf-8")
    out = {}
    for m in _FENCE_RE.finditer(text):
        opts, body = split_options(m.group("body"))
        out[m.group("paper")] = parse_catalogue(m.group("paper"), body, opts.get("title", ""),
                                                opts.get("cite", ""))
    return out


def check(catalogues: dict[str, Catalogue], mentions: list[Mention]) -> list[str]:
    """Problems of the map against the docstrings; an empty list when they agree.

    * a docstring names a paper or an equation that no catalogue lists;
    * an equation of a catalogue is implemented by no function and gives no reason;
    * an equation says why nothing implements it, yet a docstring implements it (a stale reason).
    """
    problems = []
    for m in mentions:
        cat = catalogues.get(m.paper)
        if cat is None:
            problems.append(f"{m.obj}: names Eq. {m.eq} of [{m.paper}], a paper the map lacks "
                            f"(known: {', '.join(sorted(catalogues)) or 'none'})")
        elif cat.get(m.eq) is None:
            problems.append(f"{m.obj}: names Eq. {m.eq} of [{m.paper}], which the map lacks")
    for cat in catalogues.values():
        for e in cat.equations:
            impl = sorted({m.obj for m in mentions if m.implements and m.paper == e.paper and m.eq == e.eq})
            if not impl and not e.not_implemented:
                problems.append(f"Eq. {e.eq} of [{e.paper}] names no function: no docstring says "
                                f"'Eq. {e.eq} of [{e.paper}]', and the map gives no reason")
            elif impl and e.not_implemented:
                problems.append(f"Eq. {e.eq} of [{e.paper}] is marked not implemented "
                                f"({e.not_implemented!r}) but {', '.join(impl)} implement it")
    return problems


# -- Sphinx -------------------------------------------------------------------------------------------

try:
    from docutils import nodes
    from docutils.parsers.rst import directives
    from sphinx import addnodes
    from sphinx.transforms import SphinxTransform
    from sphinx.util import logging
    from sphinx.util.docutils import SphinxDirective
except ImportError:  # the checker above works without Sphinx
    SphinxDirective = SphinxTransform = object  # type: ignore[misc,assignment]

_log = None


def _logger():
    global _log
    if _log is None:
        _log = logging.getLogger(__name__)
    return _log


def _objref(env, name: str, docname: str) -> list[nodes.Node]:
    """A link to an object's API entry: its qualified name in code, then its module in plain text
    (``word_maps`` of ``gsemlab.attention.store.AttentionStore.word_maps`` reads
    "AttentionStore.word_maps (attention.store)"), short enough for a table cell."""
    module, qualname = _split_name(name)
    ref = nodes.literal(qualname, qualname, classes=["xref", "py", "py-obj"])
    if env.config.gsem_api_doc in env.found_docs:  # a partial build without the API: names only
        ref = addnodes.pending_xref("", ref, refdomain="py", reftype="obj", reftarget=name,
                                    refexplicit=True, refwarn=True, refdoc=docname)
    shown = module.removeprefix(env.config.gsem_api_package + ".")
    if module == env.config.gsem_api_package:
        return [ref]
    return [ref, nodes.Text(" "), nodes.inline(f"({shown})", f"({shown})", classes=["gsem-module"])]


def _split_name(name: str) -> tuple[str, str]:
    """(module, qualified name) of a documented object's full dotted name."""
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        modname = ".".join(parts[:k])
        try:
            importlib.import_module(modname)
        except ImportError:
            continue
        return modname, ".".join(parts[k:]) or modname
    return "", name


class EquationMap(SphinxDirective):
    """``equation-map PAPER``: the catalogue of a paper's equations (YAML rows) as a linked table."""

    required_arguments = 1
    has_content = True
    option_spec: ClassVar = {"title": directives.unchanged, "cite": directives.unchanged}

    def run(self):
        env = self.env
        paper = self.arguments[0]
        try:
            cat = parse_catalogue(paper, "\n".join(self.content), self.options.get("title", ""),
                                  self.options.get("cite", ""))
        except (TypeError, ValueError, yaml.YAMLError) as exc:
            raise self.error(str(exc)) from exc
        if not hasattr(env, "gsem_equation_maps"):
            env.gsem_equation_maps = {}
        env.gsem_equation_maps[paper] = (env.docname, cat)
        mentions = _mentions(env)
        for modname in public_modules(env.config.gsem_api_package):  # re-read when a docstring changes
            path = getattr(importlib.import_module(modname), "__file__", None)
            if path:
                env.note_dependency(path)
        std = env.get_domain("std")

        table = nodes.table(classes=["equation-map", "colwidths-given"])
        tgroup = nodes.tgroup(cols=3)
        table += tgroup
        for width in (7, 55, 38):
            tgroup += nodes.colspec(colwidth=width)
        thead = nodes.thead()
        tgroup += thead
        head = nodes.row()
        for text in ("Eq.", "What it defines", "Implemented by"):
            head += nodes.entry("", nodes.paragraph(text, text))
        thead += head
        tbody = nodes.tbody()
        tgroup += tbody
        also = nodes.bullet_list(classes=["equation-mentions"])
        for e in cat.equations:
            row = nodes.row()
            lab = label(paper, e.eq)
            # the row's anchor, registered as a std label so that {ref} and the docstrings' links find it
            cell = nodes.entry(ids=[lab])
            cell += nodes.paragraph("", "", nodes.strong(e.eq, e.eq))
            std.note_hyperlink_target(lab, env.docname, lab, f"Eq. {e.eq} of {paper}")
            row += cell

            what = nodes.entry()
            para = nodes.paragraph()
            para += self.parse_inline(e.defines)
            what += para
            if e.math:
                what += nodes.paragraph("", "", nodes.math(e.math, e.math))
            row += what

            impl_cell = nodes.entry()
            impl = sorted({m.obj for m in mentions if m.implements and m.paper == paper and m.eq == e.eq})
            for name in impl:
                impl_cell += nodes.paragraph("", "", *_objref(env, name, env.docname))
            if not impl:
                para = nodes.paragraph(classes=["not-implemented"])
                para += nodes.emphasis("Not implemented: ", "Not implemented: ")
                para += self.parse_inline(e.not_implemented)
                impl_cell += para
            row += impl_cell
            tbody += row

            named = sorted({m.obj for m in mentions if not m.implements and m.paper == paper
                            and m.eq == e.eq and m.objtype != "module"} - set(impl))
            if named:
                item = nodes.list_item()
                para = nodes.paragraph()
                ref = nodes.reference("", "", internal=True, refid=lab)
                ref += nodes.strong(f"Eq. {e.eq}", f"Eq. {e.eq}")
                para += ref
                para += nodes.Text(": ")
                for k, name in enumerate(named):
                    if k:
                        para += nodes.Text(", ")
                    para += _objref(env, name, env.docname)
                item += para
                also += item
        out = [table]
        if len(also):
            intro = nodes.paragraph()
            text = f"These docstrings name an equation of {paper} without implementing it:"
            intro += nodes.Text(text)
            out += [nodes.rubric("Where else they are named", "Where else they are named"), intro, also]
        return out

    def parse_inline(self, text: str) -> list[nodes.Node]:
        """MyST inline markup of a catalogue cell ($math$, `code`, {cite:p}`key`)."""
        container = nodes.paragraph()
        self.state.nested_parse(self.content.__class__([text], source=self.get_source_info()[0]),
                                self.content_offset, container)
        # nested_parse wraps the text in a paragraph: return that paragraph's children
        children = []
        for child in container.children:
            children.extend(child.children if isinstance(child, nodes.paragraph) else [child])
        return children


_CACHE: dict[tuple, list[Mention]] = {}


def _summary(modname: str) -> str:
    """The first line of a module's docstring, with its rST markup turned into MyST's."""
    doc = inspect.getdoc(importlib.import_module(modname)) or ""
    line = doc.strip().split("\n\n")[0].replace("\n", " ")
    line = re.sub(r":\w+:`~?\.?([^`]+)`", r"`\1`", line)  # :func:`x` -> `x`
    return line.replace("``", "`")


class ModuleIndex(SphinxDirective):
    """``gsemlab-modules``: a table of every public module, linked to its entry, with its summary."""

    has_content = False

    def run(self):
        env = self.env
        table = nodes.table(classes=["module-index"])
        tgroup = nodes.tgroup(cols=2)
        table += tgroup
        for width in (35, 65):
            tgroup += nodes.colspec(colwidth=width)
        thead = nodes.thead()
        tgroup += thead
        head = nodes.row()
        for text in ("Module", "What it holds"):
            head += nodes.entry("", nodes.paragraph(text, text))
        thead += head
        tbody = nodes.tbody()
        tgroup += tbody
        for modname in public_modules(env.config.gsem_api_package):
            if any(modname == e or modname.startswith(e + ".") for e in env.config.gsem_api_exclude):
                continue
            row = nodes.row()
            ref = addnodes.pending_xref("", refdomain="py", reftype="mod", reftarget=modname,
                                        refexplicit=True, refwarn=True, refdoc=env.docname)
            ref += nodes.literal(modname, modname, classes=["xref", "py", "py-mod"])
            row += nodes.entry("", nodes.paragraph("", "", ref))
            cell = nodes.entry()
            para = nodes.paragraph()
            para += EquationMap.parse_inline(self, _summary(modname))
            cell += para
            row += cell
            tbody += row
            path = getattr(importlib.import_module(modname), "__file__", None)
            if path:
                env.note_dependency(path)
        return [table]


def _mentions(env) -> list[Mention]:
    """The docstrings' mentions, scanned once per process (the modules are imported once anyway)."""
    key = (env.config.gsem_api_package, tuple(env.config.gsem_api_exclude))
    if key not in _CACHE:
        _CACHE[key] = scan(*key)
    return _CACHE[key]


_SKIP = (nodes.literal, nodes.literal_block, nodes.math, nodes.math_block, nodes.reference,
         nodes.raw, nodes.FixedTextElement)


class LinkEquations(SphinxTransform):
    """Turn every ``Eq. N`` of the book's text into a link to the map's row of Eq. N.

    ``gsem_link_equations = "all"`` (the default): every page but the map itself, the chapters'
    prose and the API reference's docstrings alike; ``"api"``: the API reference only. Titles, code,
    maths and existing links are left alone.
    """

    default_priority = 500

    def apply(self, **kwargs):
        mapdoc = self.config.gsem_equation_map_doc
        if mapdoc not in self.env.found_docs or self.env.docname == mapdoc:
            return  # a partial build without the map (nothing to link to), or the map itself
        if self.config.gsem_link_equations == "all" or self.env.docname.startswith(self.config.gsem_api_doc):
            roots = [self.document]
        else:
            roots = list(self.document.findall(addnodes.desc_content))
        for root in roots:
            for text in list(root.findall(nodes.Text)):
                if not any(isinstance(a, _SKIP + (addnodes.pending_xref, nodes.title, nodes.subtitle))
                           for a in _ancestors(text)):
                    self._link(text)

    def _link(self, text: nodes.Text) -> None:
        source = str(text)
        matches = list(EQ_RE.finditer(source))
        if not matches:
            return
        new: list[nodes.Node] = []
        pos = 0
        for m in matches:
            new.append(nodes.Text(source[pos:m.start()]))
            paper = m.group("paper") or DEFAULT_PAPER
            nums_start = m.start("nums")
            inner = source[m.start():nums_start]  # "Eq. "
            cursor = nums_start
            for k, num in enumerate(_NUM_RE.finditer(m.group("nums"))):
                start, end = nums_start + num.start(), nums_start + num.end()
                if k:
                    new.append(nodes.Text(source[cursor:start]))
                    shown = source[start:end]
                else:
                    shown = inner + source[start:end]
                ref = addnodes.pending_xref("", refdomain="std", reftype="ref",
                                            reftarget=label(paper, num.group()), refexplicit=True,
                                            refwarn=True, refdoc=self.env.docname)
                ref += nodes.inline(shown, shown, classes=["equation-link"])
                new.append(ref)
                cursor = end
            new.append(nodes.Text(source[cursor:m.end()]))
            pos = m.end()
        new.append(nodes.Text(source[pos:]))
        parent = text.parent
        index = parent.index(text)
        parent.remove(text)
        for k, node in enumerate(n for n in new if not (isinstance(n, nodes.Text) and not str(n))):
            parent.insert(index + k, node)


def _ancestors(node):
    node = node.parent
    while node is not None:
        yield node
        node = node.parent


_UNDERLINE_RE = re.compile(r"^\s*([-=~^])\1{2,}\s*$")


def _titles_to_rubrics(app, what, name, obj, options, lines) -> None:
    """Turn the section titles left in a docstring (``Functions``, ``Helpers``, ``Readings of the
    paper ...`` underlined with dashes; napoleon has already converted its own sections) into
    rubrics: a docstring is a part of its page, not a section of the page's table of contents, and
    two modules on one page may share a title."""
    k = 1
    while k < len(lines):
        title, under = lines[k - 1], lines[k]
        if (_UNDERLINE_RE.match(under) and title.strip() and len(under.strip()) >= len(title.strip())
                and (k < 2 or not lines[k - 2].strip())):
            indent = title[: len(title) - len(title.lstrip())]
            lines[k - 1:k + 1] = [f"{indent}.. rubric:: {title.strip()}", ""]
        else:
            k += 1


def _factory_defaults(app, what, name, obj, options, signature, return_annotation):
    """A dataclass field with a ``default_factory`` shows its default as ``<factory>``, which is not
    Python, so Sphinx would print the whole signature as raw text (``~numpy.ndarray``); show it as
    ``...`` instead, and the signature is parsed and linked like any other."""
    if signature and "<factory>" in signature:
        return signature.replace("<factory>", "..."), return_annotation
    return None


def _resolve_reexport(app, env, node, contnode):
    """Resolve a Python reference to a ``gsemlab`` name by the path users import it from.

    A docstring may name ``gsemlab.attention.AttentionStore`` (the package re-exports it) or, inside
    a module, a short ``AttentionStore.word_maps``; the API reference documents each object once,
    where it is defined (``gsemlab.attention.store.AttentionStore``). The object whose full name
    starts with the named package and ends with the named tail is the target, if there is exactly one.
    """
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "").lstrip(".~")
    package = app.config.gsem_api_package
    py = env.get_domain("py")
    searches = []  # (prefix, tail) pairs, most specific first
    if target.startswith(package + "."):
        parts = target.split(".")
        searches += [(".".join(parts[:k]) + ".", "." + ".".join(parts[k:]))
                     for k in range(len(parts) - 1, 1, -1)]
    elif (node.get("py:module") or "").startswith(package) and not (
            node.get("reftype") == "class" and re.fullmatch(r"[a-z_]\w*", target)):
        # a short name inside a module: that module's, or a sibling module's (a lowercase word in a
        # type, "shape", "optional", is a word, not a name)
        ctx = node["py:module"]
        searches.append((ctx + ".", "." + target))
        if ctx.count(".") >= 2:
            searches.append((ctx.rsplit(".", 1)[0] + ".", "." + target))
    for prefix, tail in searches:
        cands = [n for n in py.objects if n.startswith(prefix) and n.endswith(tail)]
        if len(cands) == 1:
            from sphinx.util.nodes import make_refnode

            entry = py.objects[cands[0]]
            return make_refnode(app.builder, node.get("refdoc", ""), entry.docname, entry.node_id,
                                contnode, cands[0])
        if cands:
            break
    # a module attribute without a doc comment (a constant) has no entry: link to its module's
    if target.startswith(package + ".") and node.get("reftype") in ("data", "const", "obj", "attr"):
        modname, _, attr = target.rpartition(".")
        if modname in py.modules:
            try:
                known = hasattr(importlib.import_module(modname), attr)
            except ImportError:
                known = False
            if known:
                from sphinx.util.nodes import make_refnode

                entry = py.modules[modname]
                return make_refnode(app.builder, node.get("refdoc", ""), entry.docname, entry.node_id,
                                    contnode, modname)
    return None


def _check_consistency(app, env) -> None:
    """After reading: the map against the docstrings, and every public module documented."""
    log = _logger()
    maps = getattr(env, "gsem_equation_maps", {})
    mapdoc = app.config.gsem_equation_map_doc
    if mapdoc in env.found_docs and maps:
        cats = {paper: cat for paper, (_doc, cat) in maps.items()}
        for problem in check(cats, _mentions(env)):
            log.warning("equation map: %s", problem, location=mapdoc, type="gsem", subtype="equations")
    apidoc = app.config.gsem_api_doc
    if apidoc in env.found_docs:
        documented = set(env.get_domain("py").modules)
        for modname in public_modules(app.config.gsem_api_package):
            if modname not in documented and not any(
                    modname == e or modname.startswith(e + ".") for e in app.config.gsem_api_exclude):
                log.warning("API reference: public module %s is documented on no page (add an "
                            "automodule to a book/api*.md page)", modname, location=apidoc,
                            type="gsem", subtype="api")


def _purge(app, env, docname) -> None:
    maps = getattr(env, "gsem_equation_maps", {})
    for paper in [p for p, (doc, _c) in maps.items() if doc == docname]:
        del maps[paper]


def _merge(app, env, docnames, other) -> None:
    env.gsem_equation_maps = {**getattr(env, "gsem_equation_maps", {}),
                              **getattr(other, "gsem_equation_maps", {})}


def setup(app):
    app.add_config_value("gsem_api_package", "gsemlab", "env")
    app.add_config_value("gsem_api_exclude", [], "env")
    app.add_config_value("gsem_api_doc", "book/api", "env")
    app.add_config_value("gsem_equation_map_doc", "book/equations", "env")
    app.add_config_value("gsem_link_equations", "all", "env")
    app.add_directive("equation-map", EquationMap)
    app.add_directive("gsemlab-modules", ModuleIndex)
    app.add_transform(LinkEquations)
    app.connect("env-check-consistency", _check_consistency)
    app.connect("autodoc-process-docstring", _titles_to_rubrics, priority=600)
    app.connect("missing-reference", _resolve_reexport)
    app.connect("autodoc-process-signature", _factory_defaults)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True,
            "env_version": 1}
