"""Words to token positions: which columns of the cross-attention probabilities belong to a word.

A word covers every token whose characters overlap its own, through the pipeline's tokenizer (CLIP's
byte-level BPE, or any tokenizer with offsets). Pure Python and transformers' tokenizer; no torch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["align_tokens", "bytes_to_unicode", "word_tokens"]

_WORD = re.compile(r"\w+(?:['\u2019-]\w+)*")


def _token_spans(tokenizer, prompt: str) -> list[tuple[int, int]]:
    """Character span of every token of ``prompt`` (without BOS/EOS), truncated like the pipeline does."""
    limit = int(tokenizer.model_max_length) - 2
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
        return [tuple(map(int, s)) for s in enc["offset_mapping"]][:limit]
    return align_tokens(tokenizer, prompt)[:limit]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte-level alphabet: every byte mapped to a printable character."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1))
    bs += list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


_BYTE_OF = {c: b for b, c in bytes_to_unicode().items()}


def _decode_token(token: str) -> str:
    """Text of one token: byte-level BPE (CLIP marks a word's end with ``</w>``) or WordPiece (``##``)."""
    token = token.replace("</w>", "").removeprefix("##")
    if all(c in _BYTE_OF for c in token):
        return bytes(_BYTE_OF[c] for c in token).decode("utf-8", errors="replace")
    return token  # not a byte-level vocabulary: the token is its text


def align_tokens(tokenizer, prompt: str) -> list[tuple[int, int]]:
    """Character spans for tokenizers without offsets: find each decoded token, in order, in the prompt."""
    spans, pos, text = [], 0, prompt.lower()
    for token in tokenizer.tokenize(prompt):
        piece = _decode_token(token).strip().lower()
        start = text.find(piece, pos) if piece else -1
        if start < 0 or text[pos:start].strip():
            raise ValueError(f"cannot align token {token!r} with the prompt {prompt!r} at character {pos}")
        spans.append((start, start + len(piece)))
        pos = start + len(piece)
    return spans


def _find_words(prompt: str, words: Sequence[str]) -> list[tuple[str, tuple[int, int]]]:
    found = []
    for word in words:
        if not isinstance(word, str) or not word.strip():
            raise TypeError(f"words must be non-empty strings, got {word!r}")
        pattern = re.compile(r"(?<!\w)" + re.escape(word) + r"(?!\w)", re.IGNORECASE)
        hits = [(word, m.span()) for m in pattern.finditer(prompt)]
        if not hits:
            listed = ", ".join(repr(w) for w in _WORD.findall(prompt))
            raise ValueError(f"word {word!r} is not in the prompt {prompt!r} (its words: {listed})")
        found += hits
    return found


def word_tokens(tokenizer, prompt: str, words: Sequence[str] | None = None, *,
                spans: Sequence[tuple[int, int]] | None = None) -> dict[str, list[int]]:
    """Token positions of each word of a prompt, through the pipeline's tokenizer.

    A word covers every token whose characters overlap the word's characters, so a word that the BPE
    tokenizer splits into sub-tokens gets all of them; a word that occurs several times gets the tokens
    of every occurrence. Positions count the start-of-text token as 0, like the columns of the
    cross-attention probabilities.

    Parameters
    ----------
    tokenizer : transformers tokenizer
        The pipeline's ``pipe.tokenizer`` (CLIP).
    prompt : str
        The prompt the maps were generated with.
    words : sequence of str, optional
        Words to locate (whole-word, case-insensitive match, every occurrence). Default: every word of
        the prompt (runs of letters and digits, with inner apostrophes or hyphens), each at its place.
    spans : sequence of (int, int), optional
        Character spans ``(start, end)`` of the words in ``prompt``, e.g.
        ``gsemlab.prompt.deconstruct(prompt).spans``; then ``words`` defaults to ``prompt[start:end]``.

    Returns
    -------
    dict of str to list of int
        Word -> sorted token positions (1-based among the text tokens, 0 being the start token).

    Raises
    ------
    ValueError
        A word is not in the prompt, or lies beyond the tokenizer's maximum length.
    """
    if not isinstance(prompt, str) or not prompt.strip():
        raise TypeError(f"prompt must be a non-empty string, got {prompt!r}")
    if spans is not None:
        spans = [tuple(map(int, s)) for s in spans]
        if any(len(s) != 2 or not 0 <= s[0] < s[1] <= len(prompt) for s in spans):
            raise ValueError(f"spans must be (start, end) pairs inside the prompt (length {len(prompt)}), got {spans}")
        if words is None:
            words = [prompt[s:e] for s, e in spans]
        if len(words) != len(spans):
            raise ValueError(f"words and spans must have the same length, got {len(words)} and {len(spans)}")
        located = list(zip(words, spans))
    else:
        if isinstance(words, str):
            raise TypeError("words must be a sequence of strings, not a single string")
        if words is None:  # every word at its own place; equal words (same case) are summed
            located = [(m.group(), m.span()) for m in _WORD.finditer(prompt)]
        else:
            located = _find_words(prompt, list(words))
    token_spans = _token_spans(tokenizer, prompt)
    out: dict[str, list[int]] = {}
    for word, (start, end) in located:
        pos = [j + 1 for j, (a, b) in enumerate(token_spans) if a < end and start < b]
        if not pos:
            raise ValueError(f"word {word!r} at characters {start}-{end} has no token within the tokenizer's "
                             f"{tokenizer.model_max_length} positions")
        out[word] = sorted(set(out.get(word, [])) | set(pos))
    return out
