"""Utility curves: what the G-SemCom pipeline delivers to a user at each bandwidth, per prompt.

A :class:`CurveSet` holds, for P prompts generated with fixed seeds, the prompt's 16 x 16 binary
semantic map (the state of Sec. V-C of [G-SemCom]), the size of its whole packet ``|S_i|`` in pixels,
and the distance ``D`` (Eq. 15) and quality ``Q`` (Eq. 16) of the recovered image at each budget of a
grid shared by all prompts, plus at the whole packet. JPSQ (Eq. 17) follows from ``D`` and ``Q`` for any
``omega_0`` (Fig. 16b changes it), so it is recomputed rather than stored. The environment
(:mod:`gsemlab.rl.env`) reads these curves instead of running the pipeline at every step.
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

__all__ = ["MAP_SIDE", "CurveSet"]

MAP_SIDE = 16  # the paper resizes attention maps to 16 x 16 for the state


@dataclass(frozen=True)
class CurveSet:
    """J, Q and D against the budget for P prompts, with their semantic maps.

    Attributes
    ----------
    captions : tuple of str, length P
        The prompts.
    seeds : numpy.ndarray of int, shape (P,)
        The generation seed of each prompt.
    maps : numpy.ndarray of bool, shape (P, 16, 16)
        Each prompt's binary semantic map at 16 x 16 (a cell is True when any sent pixel lies in it).
    packet_pixels : numpy.ndarray of int, shape (P,)
        ``|S_i|``: pixels in the prompt's whole packet (the most a budget can send).
    grid : numpy.ndarray of int, shape (K,)
        Budgets in pixels, strictly increasing from 0, shared by every prompt.
    distance, quality : numpy.ndarray, shape (P, K)
        ``D`` and ``Q`` of the recovered image at ``min(grid[k], packet_pixels[p])`` pixels.
    whole_distance, whole_quality : numpy.ndarray, shape (P,)
        ``D`` and ``Q`` when the whole packet is sent.
    t_max : float
        The distance bound of Eq. 18 the curves were scored with.
    split : numpy.ndarray of str, shape (P,)
        ``"train"`` or ``"heldout"`` for each prompt.
    """

    captions: tuple
    seeds: np.ndarray
    maps: np.ndarray
    packet_pixels: np.ndarray
    grid: np.ndarray
    distance: np.ndarray
    quality: np.ndarray
    whole_distance: np.ndarray
    whole_quality: np.ndarray
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
        grid = np.asarray(self.grid)
        if grid.ndim != 1 or grid.size < 2 or grid[0] != 0 or np.any(np.diff(grid) <= 0):
            raise ValueError("grid must be a 1-D array of budgets strictly increasing from 0")
        k = grid.size
        arrays = {"seeds": (p,), "packet_pixels": (p,), "distance": (p, k), "quality": (p, k),
                  "whole_distance": (p,), "whole_quality": (p,), "split": (p,)}
        for name, shape in arrays.items():
            value = np.asarray(getattr(self, name))
            if value.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {value.shape}")
            if name != "split":
                value = as_float_array(value, name) if name not in ("seeds", "packet_pixels") \
                    else value.astype(np.int64)
                if not np.all(np.isfinite(value)):
                    raise ValueError(f"{name} must be finite")
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        if not set(np.unique(self.split)) <= {"train", "heldout"}:
            raise ValueError("split must hold only 'train' and 'heldout'")
        if np.any(self.packet_pixels < 0) or np.any(self.quality <= 0) or np.any(self.whole_quality <= 0):
            raise ValueError("packet_pixels must be >= 0 and qualities > 0")
        maps.setflags(write=False)
        grid = grid.astype(np.int64)
        grid.setflags(write=False)
        object.__setattr__(self, "maps", maps)
        object.__setattr__(self, "grid", grid)
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

    def curve(self, index: int, *, omega0: float | None = None, q_th: float | None = None) -> UtilityCurve:
        """Prompt ``index``'s :class:`UtilityCurve` (JPSQ from Eq. 17 with ``omega0`` and ``q_th``).

        The grid is the shared one cut at ``|S_i|``, with the whole packet as its last point. JPSQ is
        computed at the grid points and interpolated linearly between them, like ``Q``, so that the
        utility is piecewise linear (what :func:`~gsemlab.rl.optimum.optimal_allocation` relies on).
        """
        cfg = JPSQConfig()
        omega0 = cfg.omega0 if omega0 is None else omega0
        q_th = cfg.q_th if q_th is None else q_th
        whole = int(self.packet_pixels[index])
        keep = self.grid < whole
        grid = np.r_[self.grid[keep], whole] if whole > 0 else np.array([0])
        dist = np.r_[self.distance[index, keep], self.whole_distance[index]][: grid.size]
        qual = np.r_[self.quality[index, keep], self.whole_quality[index]][: grid.size]
        j = jpsq_of(dist, qual, self.t_max, omega0=omega0, q_th=q_th)
        return UtilityCurve(grid, np.asarray(j, dtype=float), qual)

    # ------------------------------------------------------------------ files
    def to_json(self, path) -> None:
        """Write the set to ``path`` (maps as hexadecimal bit strings)."""
        bits = np.packbits(self.maps.reshape(len(self), -1), axis=1)
        data = {
            "captions": list(self.captions), "seeds": self.seeds.tolist(),
            "maps_hex": [row.tobytes().hex() for row in bits],
            "packet_pixels": self.packet_pixels.tolist(), "grid": self.grid.tolist(),
            "distance": np.round(self.distance, 6).tolist(), "quality": np.round(self.quality, 6).tolist(),
            "whole_distance": np.round(self.whole_distance, 6).tolist(),
            "whole_quality": np.round(self.whole_quality, 6).tolist(),
            "t_max": self.t_max, "split": self.split.tolist(),
        }
        Path(path).write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")

    @classmethod
    def from_json(cls, path) -> "CurveSet":
        """Read a set written by :meth:`to_json`."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        n_bytes = MAP_SIDE * MAP_SIDE // 8
        raw = np.array([np.frombuffer(bytes.fromhex(h), dtype=np.uint8, count=n_bytes)
                        for h in data["maps_hex"]])
        maps = np.unpackbits(raw, axis=1).reshape(-1, MAP_SIDE, MAP_SIDE).astype(bool)
        return cls(captions=tuple(data["captions"]), seeds=np.array(data["seeds"]), maps=maps,
                   packet_pixels=np.array(data["packet_pixels"]), grid=np.array(data["grid"]),
                   distance=np.array(data["distance"]), quality=np.array(data["quality"]),
                   whole_distance=np.array(data["whole_distance"]),
                   whole_quality=np.array(data["whole_quality"]), t_max=data["t_max"],
                   split=np.array(data["split"]))
