"""Utility curves: what the G-SemCom pipeline delivers to a user at each bandwidth, per prompt.

The MASP packs whole segments in importance order and stops at the first that does not fit (the
default rule ``"stop"`` of :func:`gsemlab.packing.pack`). A budget of ``b`` pixels therefore sends the
longest prefix of the prompt's segments whose size is at most ``b``: what the user receives, and so the
distance ``D`` (Eq. 15) and quality ``Q`` (Eq. 16) of its image, changes only where ``b`` reaches a
prefix size ``c_k`` (the *steps* of the curve) and is constant in between. A :class:`CurveSet` holds,
for P prompts generated with fixed seeds, the prompt's 16 x 16 binary semantic map (the state of
Sec. V-C of [G-SemCom]), its prefix sizes and ``D`` and ``Q`` at each of them. That is the whole
curve, exactly: at any whole-pixel budget the pipeline gives the value of the last step at or below
it. JPSQ (Eq. 17) follows from ``D`` and ``Q`` for any ``omega_0`` (Fig. 16b changes it), so it is
recomputed rather than stored. The environment (:mod:`gsemlab.rl.env`) reads these curves instead of
running the pipeline at every step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..checks import as_float_array
from ..config import JPSQConfig
from ..jpsq import jpsq as jpsq_of
from .optimum import UtilityCurve

__all__ = ["MAP_SIDE", "MAX_STEPS", "CurveSet", "bundled"]

MAP_SIDE = 16  # the paper resizes attention maps to 16 x 16 for the state
MAX_STEPS = 12  # prefix sizes a user's observation carries (more segments: the first 11 and the whole)

_NO_STEP = np.iinfo(np.int64).max  # padding of the step table: a size no budget reaches


def _ragged(values, name: str, dtype) -> tuple:
    try:
        rows = tuple(np.array(v, dtype=dtype).reshape(-1) for v in values)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a sequence of 1-D number sequences") from exc
    return rows


@dataclass(frozen=True)
class CurveSet:
    """D and Q at every step of the budget, for P prompts, with their semantic maps.

    Attributes
    ----------
    captions : tuple of str, length P
        The prompts.
    seeds : numpy.ndarray of int, shape (P,)
        The generation seed of each prompt.
    maps : numpy.ndarray of bool, shape (P, 16, 16)
        Each prompt's binary semantic map at 16 x 16 (a cell is True when any segment pixel lies in it).
    packet_pixels : numpy.ndarray of int, shape (P,)
        ``|S_i|``: pixels in the prompt's whole packet (the most a budget can send).
    steps : tuple of numpy.ndarray
        One int array per prompt, of its ``K_p`` prefix sizes in pixels: ``0``, then the size of the
        first segment, of the first two, ..., the whole packet last; strictly increasing. A budget
        of ``b`` pixels sends ``max(steps <= b)``.
    distance, quality : tuple of numpy.ndarray
        One float array per prompt, of length ``K_p``: ``D`` and ``Q`` of the recovered image at each
        step (step 0 is the prompt alone, the fully masked baseline).
    t_max : float
        The distance bound of Eq. 18 the curves were scored with.
    split : numpy.ndarray of str, shape (P,)
        ``"train"`` or ``"heldout"`` for each prompt.
    """

    captions: tuple
    seeds: np.ndarray
    maps: np.ndarray
    packet_pixels: np.ndarray
    steps: tuple
    distance: tuple
    quality: tuple
    t_max: float
    split: np.ndarray

    def __post_init__(self) -> None:
        p = len(self.captions)
        if p < 1:
            raise ValueError("a CurveSet needs at least one prompt")
        object.__setattr__(self, "captions", tuple(str(c) for c in self.captions))
        maps = np.asarray(self.maps, dtype=bool)
        if maps.shape != (p, MAP_SIDE, MAP_SIDE):
            raise ValueError(f"maps must have shape ({p}, {MAP_SIDE}, {MAP_SIDE}), got {maps.shape}")
        for name in ("seeds", "packet_pixels", "split"):
            value = np.asarray(getattr(self, name))
            if value.shape != (p,):
                raise ValueError(f"{name} must have shape ({p},), got {value.shape}")
            if name != "split":
                value = value.astype(np.int64)
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        if not set(np.unique(self.split)) <= {"train", "heldout"}:
            raise ValueError("split must hold only 'train' and 'heldout'")
        if np.any(self.packet_pixels < 0):
            raise ValueError("packet_pixels must be >= 0")
        steps = _ragged(self.steps, "steps", np.float64)
        dist = tuple(as_float_array(d, "distance").reshape(-1) for d in _ragged(self.distance, "distance", float))
        qual = tuple(as_float_array(q, "quality").reshape(-1) for q in _ragged(self.quality, "quality", float))
        if not (len(steps) == len(dist) == len(qual) == p):
            raise ValueError(f"steps, distance and quality must hold one row per prompt ({p})")
        for i, (s, d, q) in enumerate(zip(steps, dist, qual)):
            if not (s.size == d.size == q.size) or s.size < 1:
                raise ValueError(f"prompt {i}: steps, distance and quality must be non-empty and of one length")
            if s[0] != 0 or np.any(np.diff(s) <= 0) or np.any(s != np.round(s)) \
                    or s[-1] != self.packet_pixels[i]:
                raise ValueError(f"prompt {i}: steps must be whole pixel counts strictly increasing from 0 "
                                 f"to packet_pixels ({self.packet_pixels[i]}), got {s.tolist()}")
            if not (np.all(np.isfinite(d)) and np.all(np.isfinite(q))) or np.any(q <= 0):
                raise ValueError(f"prompt {i}: distances must be finite and qualities finite and > 0")
        for rows in (steps, dist, qual):
            for r in rows:
                r.setflags(write=False)
        maps.setflags(write=False)
        object.__setattr__(self, "maps", maps)
        object.__setattr__(self, "steps", tuple(s.astype(np.int64) for s in steps))
        object.__setattr__(self, "distance", dist)
        object.__setattr__(self, "quality", qual)
        object.__setattr__(self, "t_max", float(self.t_max))

    def __len__(self) -> int:
        return len(self.captions)

    def indices(self, split: str | None = None) -> np.ndarray:
        """Indices of the prompts of ``split`` ("train", "heldout"; ``None``: all)."""
        if split is None:
            return np.arange(len(self))
        if split not in ("train", "heldout"):
            raise ValueError(f"split must be 'train', 'heldout' or None, got {split!r}")
        return np.flatnonzero(self.split == split)

    def jpsq(self, index: int, *, omega0: float | None = None, q_th: float | None = None) -> np.ndarray:
        """JPSQ (Eq. 17) of prompt ``index`` at each of its steps, shape (K_p,)."""
        cfg = JPSQConfig()
        omega0 = cfg.omega0 if omega0 is None else omega0
        q_th = cfg.q_th if q_th is None else q_th
        return np.asarray(jpsq_of(self.distance[index], self.quality[index], self.t_max, omega0=omega0,
                                  q_th=q_th), dtype=float)

    def curve(self, index: int, *, omega0: float | None = None, q_th: float | None = None) -> UtilityCurve:
        """Prompt ``index``'s :class:`UtilityCurve` (JPSQ from Eq. 17 with ``omega0`` and ``q_th``).

        The curve is a step function; as a piecewise-linear :class:`UtilityCurve` it holds each step
        ``(c_k, v_k)`` and, one pixel before the next step, ``(c_{k+1} - 1, v_k)``, so that linear
        interpolation gives the step's value at every whole pixel count (and the exact optimum of
        :func:`~gsemlab.rl.optimum.optimal_allocation` sees every step as a breakpoint).
        """
        s, q, j = self.steps[index], self.quality[index], self.jpsq(index, omega0=omega0, q_th=q_th)
        grid, jj, qq = [0], [j[0]], [q[0]]
        for k in range(1, s.size):
            if s[k] - 1 > s[k - 1]:
                grid.append(int(s[k] - 1))
                jj.append(j[k - 1])
                qq.append(q[k - 1])
            grid.append(int(s[k]))
            jj.append(j[k])
            qq.append(q[k])
        return UtilityCurve(np.asarray(grid), np.asarray(jj), np.asarray(qq))

    def step_table(self, *, omega0: float | None = None, q_th: float | None = None):
        """Every prompt's steps, JPSQ and quality as padded (P, K_max) arrays, for fast look-ups.

        Returns
        -------
        sizes : numpy.ndarray of int, shape (P, K_max)
            Prefix sizes, padded with a size no budget reaches.
        jpsq, quality : numpy.ndarray of float, shape (P, K_max)
            The values at each step (padding repeats the last one).

        A budget ``b`` of prompt ``p`` gets column ``(sizes[p] <= b).sum() - 1``.
        """
        k_max = max(s.size for s in self.steps)
        p = len(self)
        sizes = np.full((p, k_max), _NO_STEP, np.int64)
        jp, qu = np.zeros((p, k_max)), np.zeros((p, k_max))
        for i, s in enumerate(self.steps):
            j = self.jpsq(i, omega0=omega0, q_th=q_th)
            sizes[i, : s.size] = s
            jp[i, : s.size], jp[i, s.size:] = j, j[-1]
            qu[i, : s.size], qu[i, s.size:] = self.quality[i], self.quality[i][-1]
        return sizes, jp, qu

    def prefix_features(self, n: int = MAX_STEPS) -> np.ndarray:
        """The first ``n`` non-zero prefix sizes of each prompt in pixels, shape (P, n).

        Prompts with fewer steps repeat their whole packet; a prompt with more than ``n`` segments
        keeps its first ``n - 1`` and its whole packet last.
        """
        out = np.zeros((len(self), n), np.int64)
        for i, s in enumerate(self.steps):
            c = s[1:]
            if c.size == 0:
                continue
            if c.size > n:
                c = np.r_[c[: n - 1], c[-1]]
            out[i, : c.size], out[i, c.size:] = c, c[-1]
        return out

    # ------------------------------------------------------------------ files
    def to_json(self, path) -> None:
        """Write the set to ``path`` (maps as hexadecimal bit strings)."""
        bits = np.packbits(self.maps.reshape(len(self), -1), axis=1)
        data = {
            "format": "gsemlab.rl.CurveSet/steps-1",
            "captions": list(self.captions), "seeds": self.seeds.tolist(),
            "maps_hex": [row.tobytes().hex() for row in bits],
            "packet_pixels": self.packet_pixels.tolist(),
            "steps": [s.tolist() for s in self.steps],
            "distance": [np.round(d, 6).tolist() for d in self.distance],
            "quality": [np.round(q, 6).tolist() for q in self.quality],
            "t_max": self.t_max, "split": self.split.tolist(),
        }
        Path(path).write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")

    @classmethod
    def from_json(cls, path) -> "CurveSet":
        """Read a set written by :meth:`to_json`."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != "gsemlab.rl.CurveSet/steps-1":
            raise ValueError(f"{path} is not a curve set of this version (format {data.get('format')!r}); "
                             "regenerate it with python -m gsemlab.rl.make_curves")
        n_bytes = MAP_SIDE * MAP_SIDE // 8
        raw = np.array([np.frombuffer(bytes.fromhex(h), dtype=np.uint8, count=n_bytes)
                        for h in data["maps_hex"]])
        maps = np.unpackbits(raw, axis=1).reshape(-1, MAP_SIDE, MAP_SIDE).astype(bool)
        return cls(captions=tuple(data["captions"]), seeds=np.array(data["seeds"]), maps=maps,
                   packet_pixels=np.array(data["packet_pixels"]), steps=tuple(data["steps"]),
                   distance=tuple(data["distance"]), quality=tuple(data["quality"]), t_max=data["t_max"],
                   split=np.array(data["split"]))


def bundled() -> CurveSet:
    """The curves shipped with the package (``gsemlab/data/rl/curves.json``): 300 train prompts from
    ShapesWorld's ``val`` captions and 300 held-out prompts from its ``test`` captions, measured with
    the toy backend by ``python -m gsemlab.rl.make_curves --n-train 300 --n-heldout 300``."""
    from importlib import resources

    with resources.as_file(resources.files("gsemlab") / "data" / "rl" / "curves.json") as path:
        return CurveSet.from_json(path)
