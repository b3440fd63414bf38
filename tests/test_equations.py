"""The equation-to-function map (book/equations.md) against the docstrings of gsemlab.

The map and its checker live in ``book/_ext/gsem_equations.py`` (the book's local Sphinx extension,
which runs the same check at build time). A docstring implements an equation with
"Eq. 7 of [G-SemCom]" and refers to one with a bare "Eq. 7"; see that module's docstring.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))

import gsem_equations as ge

MAP = ROOT / "book" / "equations.md"
PAPER = next(iter(sorted((ROOT.parent / "shared" / "papers").glob("001_*.txt"))), None)

# The numbered equations of the G-SemCom paper, as its text numbers them.
GSEMCOM_EQUATIONS = ["1", "2", "3", "4", "4a", "4b", *map(str, range(5, 20)), "19a", "20", "21", "22",
                     "23"]


@pytest.fixture(scope="module")
def catalogues():
    return ge.catalogues_from_markdown(MAP)


@pytest.fixture(scope="module")
def mentions():
    return ge.scan("gsemlab")


# -- the real map and the real docstrings -----------------------------------------------------------


def test_map_agrees_with_docstrings(catalogues, mentions):
    """Every equation implemented (or its reason given), every named equation in the map."""
    assert ge.check(catalogues, mentions) == []


def test_map_lists_every_equation_of_the_paper(catalogues):
    assert [e.eq for e in catalogues["G-SemCom"].equations] == GSEMCOM_EQUATIONS


@pytest.mark.skipif(PAPER is None, reason="the paper's text (../shared/papers) is not checked out")
def test_equation_list_is_the_papers():
    """The list above against the equation numbers printed at the ends of the paper's lines."""
    text = PAPER.read_text(encoding="utf-8")
    found = re.findall(r"(?:\\tag\{(\d+[a-z]?)\}|\((\d{1,2}[a-z]?)\))\s*\$*\s*$", text, re.MULTILINE)
    assert {a or b for a, b in found} == set(GSEMCOM_EQUATIONS)


def test_the_papers_are_told_apart(catalogues):
    """DeKA-g's equations are a catalogue of their own, so "Eq. 3 of [DeKA-g]" is not G-SemCom's."""
    assert set(catalogues) == {"G-SemCom", "DeKA-g"}
    assert [e.eq for e in catalogues["DeKA-g"].equations] == [str(n) for n in range(1, 11)]
    assert ge.label("G-SemCom", "4a") == "eq-gsemcom-4a"
    assert ge.label("DeKA-g", "4") == "eq-dekag-4"


def test_every_implemented_equation_names_a_documented_function(catalogues, mentions):
    impl = {(m.paper, m.eq) for m in mentions if m.implements}
    for cat in catalogues.values():
        for e in cat.equations:
            assert bool(e.not_implemented) != ((cat.paper, e.eq) in impl), (cat.paper, e.eq)
    assert all(m.objtype in ("class", "function", "method", "property") for m in mentions if m.implements)


def test_every_public_module_has_an_api_entry():
    """Each public module of gsemlab is documented by an automodule on a book/api*.md page."""
    documented = set()
    for page in (ROOT / "book").glob("api*.md"):
        documented |= set(re.findall(r"^\.\. automodule:: (\S+)\s*$", page.read_text(), re.MULTILINE))
    missing = sorted(set(ge.public_modules("gsemlab")) - documented)
    assert missing == [], f"add an automodule for {missing} to a book/api*.md page"


# -- how a docstring names an equation --------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("Eq. 7 of [G-SemCom]", [("G-SemCom", "7", True)]),
    ("Eq. 7", [("G-SemCom", "7", False)]),
    ("(Eq. 10-11 of [G-SemCom])", [("G-SemCom", "10", True), ("G-SemCom", "11", True)]),
    ("Eq. 15-18", [("G-SemCom", str(n), False) for n in range(15, 19)]),
    ("Eq. 4, 4a, 4b of [G-SemCom].", [("G-SemCom", e, True) for e in ("4", "4a", "4b")]),
    ("Eqs. 2 and 3", [("G-SemCom", "2", False), ("G-SemCom", "3", False)]),
    ("Eq. 3 of [DeKA-g]", [("DeKA-g", "3", True)]),
    ("Eq. 3 in [DeKA-g]", [("DeKA-g", "3", False)]),
    ("Eq. 1, Eq. 19a", [("G-SemCom", "1", False), ("G-SemCom", "19a", False)]),
    ("(NIMA mean, Eq. 16, in [1, 10])", [("G-SemCom", "16", False)]),
    ("thresholds of Eq. 8, 0.9 and 0.8", [("G-SemCom", "8", False)]),
    ("ends a sentence with Eq. 14.", [("G-SemCom", "14", False)]),
    ("Sec. IV-C, Fig. 10, Table III, Algorithm 1, problem (19)", []),
])
def test_mentions_in(text, expected):
    got = [(m.paper, m.eq, m.implements) for m in ge.mentions_in(text, "pkg.f", "function")]
    assert got == expected


def test_docstrings_write_equation_numbers_one_way():
    """"Eq. N" only, so that the map sees every equation a docstring names."""
    odd = {name: ge.nonstandard(doc) for name, _t, doc in ge.docstrings("gsemlab") if ge.nonstandard(doc)}
    assert odd == {}


@pytest.mark.parametrize("text", ["see equation 7", "Eq (7)", "Eq.7", "eq. 7", "Eqn. 7", "(Eq. (17))",
                                  "Equations 2-4"])
def test_nonstandard_forms_are_caught(text):
    """The map does not see these forms (no mention), so the lint above must."""
    assert ge.mentions_in(text, "pkg.f", "function") == []
    assert ge.nonstandard(text) != []


@pytest.mark.parametrize("text", ["Eq. 7 of [G-SemCom]", "Eqs. 10-11", "frequency 7 Hz", "sequence 3"])
def test_standard_forms_pass(text):
    assert ge.nonstandard(text) == []


def test_a_module_docstring_never_implements():
    (m,) = ge.mentions_in("Packing, Eq. 14 of [G-SemCom].", "pkg", "module")
    assert (m.eq, m.implements) == ("14", False)


# -- the checker fails on bad input -----------------------------------------------------------------


def _cat(paper="G-SemCom", rows="- eq: 1\n  defines: capacity\n- eq: 2\n  defines: noising\n"):
    return {paper: ge.parse_catalogue(paper, rows)}


def _impl(eq, paper="G-SemCom", obj="pkg.f"):
    return ge.Mention(paper, eq, obj, "function", True)


def test_check_passes_a_consistent_map():
    assert ge.check(_cat(), [_impl("1"), _impl("2", obj="pkg.g")]) == []


def test_check_fails_when_an_equation_names_no_function():
    problems = ge.check(_cat(), [_impl("1"), ge.Mention("G-SemCom", "2", "pkg.g", "function", False)])
    assert len(problems) == 1 and "Eq. 2 of [G-SemCom] names no function" in problems[0]


def test_check_fails_when_a_docstring_names_an_equation_the_map_lacks():
    problems = ge.check(_cat(), [_impl("1"), _impl("2"), ge.Mention("G-SemCom", "99", "pkg.h", "method", False)])
    assert problems == ["pkg.h: names Eq. 99 of [G-SemCom], which the map lacks"]


def test_check_fails_on_an_unknown_paper():
    problems = ge.check(_cat(), [_impl("1"), _impl("2"), _impl("3", paper="DeKA-g")])
    assert len(problems) == 1 and "a paper the map lacks" in problems[0]


def test_check_fails_on_a_stale_reason():
    cat = _cat(rows="- eq: 1\n  defines: capacity\n  not_implemented: later\n")
    problems = ge.check(cat, [_impl("1")])
    assert len(problems) == 1 and "marked not implemented" in problems[0]


def test_a_reason_stands_in_for_a_function():
    cat = _cat(rows="- eq: 20\n  defines: the policy\n  not_implemented: taught later\n")
    assert ge.check(cat, []) == []


@pytest.mark.parametrize("rows", [
    "- eq: 1\n",  # no 'defines'
    "- eq: 1\n  defines: a\n- eq: 1\n  defines: b\n",  # listed twice
    "- eq: 1\n  defines: a\n  implements: f\n",  # unknown key
    "eq: 1\n",  # not a list
])
def test_catalogue_rejects_malformed_rows(rows):
    with pytest.raises((TypeError, ValueError)):
        ge.parse_catalogue("G-SemCom", rows)


def test_scan_and_check_on_a_bad_package(tmp_path, monkeypatch):
    """End to end on a throw-away package: one equation implemented, one named that the map lacks,
    one of the map implemented by nothing."""
    pkg = tmp_path / "badpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('"""A package (Eq. 1-2)."""\n')
    (pkg / "maths.py").write_text(textwrap.dedent('''\
        """Maths."""


        def capacity(x):
            """Capacity, Eq. 1 of [G-SemCom]."""


        class Thing:
            """A thing."""

            def method(self):
                """Uses Eq. 42, which no paper has."""

            def _private(self):
                """Eq. 77 of [G-SemCom], ignored: not in the API reference."""
        '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    mentions = ge.scan("badpkg")
    assert {(m.obj, m.eq, m.implements) for m in mentions} == {
        ("badpkg", "1", False), ("badpkg", "2", False),
        ("badpkg.maths.capacity", "1", True), ("badpkg.maths.Thing.method", "42", False)}
    problems = ge.check(_cat(), mentions)
    assert sorted(problems) == sorted([
        "badpkg.maths.Thing.method: names Eq. 42 of [G-SemCom], which the map lacks",
        ("Eq. 2 of [G-SemCom] names no function: no docstring says 'Eq. 2 of [G-SemCom]', and the map "
        "gives no reason"),
    ])
    assert ge.public_modules("badpkg") == ["badpkg", "badpkg.maths"]


def test_catalogues_from_markdown(tmp_path):
    page = tmp_path / "map.md"
    page.write_text(textwrap.dedent("""\
        # Map

        ```{equation-map} G-SemCom
        :title: The paper
        :cite: liu2024gsemcom
        - eq: 1
          defines: Capacity.
          math: 'c = W\\log_2(1 + \\rho)'
        ```

        ::::{equation-map} DeKA-g
        - eq: 1
          defines: Training.
          not_implemented: later
        ::::
        """))
    cats = ge.catalogues_from_markdown(page)
    assert set(cats) == {"G-SemCom", "DeKA-g"}
    assert cats["G-SemCom"].cite == "liu2024gsemcom"
    assert cats["G-SemCom"].equations[0].math == "c = W\\log_2(1 + \\rho)"
    assert cats["DeKA-g"].equations[0].not_implemented == "later"
