"""Find the objects a caption names in any 64x64 image (a render or a generation).

``detect_objects`` separates the foreground from the background (the image's median border
colour), names each connected foreground component's colour by the majority nearest palette colour
(splitting components where two colours hold a large share), its shape with the bundled shape
classifier and its size from its area.  ``locate``
matches the caption's objects to those components (same colour first, then the asked shape) and
returns a boolean region per caption word, with the same keys as ``Scene.render``'s masks.
``score_caption`` turns that into the per-object and per-image checks of the benchmark.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage

from .world import BACKGROUNDS, COLOURS, NEW_SHAPES, RELATION_PHRASES, SHAPES, SIZES, relation_holds

#: area of a shape of construction radius r, in units of r**2 (see world.shape_polygon)
AREA_FACTOR = {"circle": np.pi, "square": 4 * 0.85 ** 2, "triangle": 3 * np.sqrt(3) / 4 * 1.15 ** 2,
               "star": 5 * 1.2 * 0.6 * np.sin(np.deg2rad(36.0)),
               "cross": 8 * 1.1 * 0.42 - 4 * 0.42 ** 2}
SIZE_THRESHOLD = (SIZES["small"] + SIZES["large"]) / 2.0
MIN_AREA = 20
MAX_COLOUR_DIST = 130.0
FG_DIST = 60.0
SPLIT_SHARE = 0.3


@dataclass
class Detection:
    """A connected region of one palette colour.

    Attributes
    ----------
    colour, shape, size : str
    mask : ndarray of bool (H, W)
    centre : tuple (x, y) in pixels
    area : int, pixels
    shape_probs : dict shape -> probability
    """

    colour: str
    shape: str
    size: str
    mask: np.ndarray
    centre: tuple
    area: int
    shape_probs: dict


@dataclass
class CaptionObject:
    colour: str | None
    shape: str
    size: str | None


def parse_caption(caption: str) -> tuple[list[CaptionObject], str | None, str | None]:
    """Caption -> (objects in order, relation of objects[0] to objects[1] or None, background colour
    or None).  A shape of ``NEW_SHAPES`` counts as a shape.  Raises ValueError for a caption naming no
    shape."""
    if not isinstance(caption, str):
        raise TypeError(f"caption must be a str, got {type(caption).__name__}")
    words = caption.lower().replace(":", " ").replace(",", " ").split()
    objs, colour, size, relation, background = [], None, None, None, None
    for i, w in enumerate(words):
        if w in COLOURS:
            colour = w
        elif w in BACKGROUNDS and i + 1 < len(words) and words[i + 1] == "background":
            background = w
        elif w in SIZES:
            size = w
        elif w in SHAPES or w in NEW_SHAPES:
            objs.append(CaptionObject(colour, w, size))
            colour = size = None
        elif w in ("above", "below", "left", "right") and relation is None and len(objs) == 1:
            relation = w
    if not objs:
        raise ValueError(f"caption names no shape of {SHAPES + NEW_SHAPES}: {caption!r}")
    return objs, relation, background


@lru_cache(maxsize=1)
def _bundled_classifier():
    from .nets import ShapeClassifier

    return ShapeClassifier.from_pretrained()


def _size_of(shape: str, area: int) -> str:
    r = np.sqrt(area / AREA_FACTOR[shape])
    return "large" if r > SIZE_THRESHOLD else "small"


def _segments(img: np.ndarray, min_area: int) -> list[tuple[str, np.ndarray]]:
    """(colour, mask) regions: foreground components split by nearest palette colour."""
    f = img.astype(np.float32)
    border = np.concatenate([f[0], f[-1], f[:, 0], f[:, -1]])
    bg = np.median(border, 0)
    names = list(COLOURS)
    pal = np.array([COLOURS[c] for c in names], np.float32)
    d_bg = np.linalg.norm(f - bg, axis=-1)
    d_pal = np.linalg.norm(f[:, :, None, :] - pal[None, None], axis=-1)
    nearest = d_pal.argmin(-1)
    fg = (d_bg > FG_DIST) & (d_pal.min(-1) < MAX_COLOUR_DIST)
    lab, n = ndimage.label(fg, structure=np.ones((3, 3)))
    out = []
    for j in range(1, n + 1):
        comp = lab == j
        area = int(comp.sum())
        if area < min_area:
            continue
        counts = np.bincount(nearest[comp], minlength=len(names))
        kept = [k for k in np.argsort(-counts) if counts[k] >= max(min_area, SPLIT_SHARE * area)]
        if len(kept) <= 1:
            name = names[int(kept[0]) if kept else int(counts.argmax())]
            out.append((name, ndimage.binary_fill_holes(comp)))
            continue
        # several colours of substantial share: each pixel to the nearest kept colour, then components
        sub = np.asarray(kept)[d_pal[comp][:, kept].argmin(-1)]
        lab_c = np.full(comp.shape, -1)
        lab_c[comp] = sub
        for k in kept:
            lk, nk = ndimage.label(lab_c == k, structure=np.ones((3, 3)))
            for i in range(1, nk + 1):
                m = lk == i
                if m.sum() >= min_area:
                    out.append((names[int(k)], ndimage.binary_fill_holes(m)))
    return out


def detect_objects(image: np.ndarray, *, classifier=None, min_area: int = MIN_AREA) -> list[Detection]:
    """Segment a uint8 (64, 64, 3) image into coloured objects.

    Foreground pixels differ from the median border colour (the background) by more than
    ``FG_DIST`` and lie within ``MAX_COLOUR_DIST`` of some object colour (Euclidean RGB); each
    8-connected foreground component of at least ``min_area`` pixels takes the majority nearest
    palette colour of its pixels, so blurred rims of another hue stay part of their object; a
    component where a second colour holds at least ``SPLIT_SHARE`` of the pixels is split by
    nearest colour (two touching objects).  Holes are filled.  Shape from ``classifier`` (default:
    the bundled ShapeClassifier), size from the area (``AREA_FACTOR``, threshold 9 px radius).
    Objects are returned largest first.
    """
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise TypeError("image must be a uint8 array of shape (H, W, 3)")
    segs = _segments(img, min_area)
    if not segs:
        return []
    clf = classifier if classifier is not None else _bundled_classifier()
    probs = clf.predict_proba([m for _, m in segs])
    classes = clf.config["classes"]
    out = []
    for (name, m), p in zip(segs, probs):
        shape = classes[int(p.argmax())]
        ys, xs = np.nonzero(m)
        out.append(Detection(name, shape, _size_of(shape, int(m.sum())), m,
                             (float(xs.mean() + 0.5), float(ys.mean() + 0.5)), int(m.sum()),
                             {c: float(v) for c, v in zip(classes, p)}))
    out.sort(key=lambda t: -t.area)
    return out


def match_objects(objects: list[CaptionObject], dets: list[Detection]) -> list[Detection | None]:
    """Match caption objects to detections: same colour (preferring the asked shape, then the
    larger), else an unclaimed detection of the asked shape; None when nothing fits."""
    claimed, out = set(), []
    for o in objects:
        best = None
        cands = [i for i, t in enumerate(dets) if i not in claimed and t.colour == o.colour]
        if cands:
            best = max(cands, key=lambda i: (dets[i].shape_probs.get(o.shape, 0.0), dets[i].area))
        out.append(best)
        if best is not None:
            claimed.add(best)
    for n, o in enumerate(objects):
        if out[n] is None:
            cands = [i for i, t in enumerate(dets) if i not in claimed and t.shape == o.shape]
            if cands:
                out[n] = max(cands, key=lambda i: dets[i].area)
                claimed.add(out[n])
    return [dets[i] if i is not None else None for i in out]


def locate(image: np.ndarray, caption: str, *, classifier=None) -> dict[str, np.ndarray]:
    """Regions of the caption's words found in an image by colour and shape.

    Parameters
    ----------
    image : ndarray of uint8, shape (64, 64, 3)
        Any image: a clean render or a generated one.
    caption : str
        A ShapesWorld caption.
    classifier : ShapeClassifier, optional
        Default: the bundled one.

    Returns
    -------
    dict of str -> ndarray of bool (64, 64)
        One entry per noun, adjective and relation word, as ``Scene.render``: each object's
        colour, shape and size words -> the detection matched to it (`match_objects`; an empty
        mask when none matched; a size word shared by several objects -> their union); the
        relation word -> the union of the first two objects; "shape"/"shapes" -> all matched
        objects; "background" and its colour word -> the pixels of no detection; "ShapesWorld"
        -> the whole image.
    """
    objs, relation, background = parse_caption(caption)
    dets = detect_objects(image, classifier=classifier)
    found = match_objects(objs, dets)
    h, w = np.asarray(image).shape[:2]
    empty = np.zeros((h, w), bool)
    regions = [t.mask if t is not None else empty for t in found]
    out: dict[str, np.ndarray] = {}
    for o, m in zip(objs, regions):
        for word in (o.colour, o.shape, o.size):
            if word is not None:
                out[word] = out.get(word, empty) | m
    if relation is not None and len(regions) >= 2:
        out[relation] = regions[0] | regions[1]
    any_det = empty.copy()
    for t in dets:
        any_det |= t.mask
    words = caption.lower().replace(":", " ").split()
    for w_ in ("shape", "shapes"):
        if w_ in words:
            out[w_] = np.logical_or.reduce(regions) if regions else empty
    if background is not None:
        out[background] = ~any_det
        out["background"] = ~any_det
    if "shapesworld" in words:
        out["ShapesWorld"] = np.ones((h, w), bool)
    return out


def score_caption(image: np.ndarray, caption: str, *, classifier=None) -> dict:
    """Benchmark checks of one generated image against its caption.

    Returns
    -------
    dict
        With the keys

        * ``n_asked``, ``n_found``: objects named / detected (components of at least ``MIN_AREA``
          pixels);
        * ``count_ok``: bool, ``n_found == n_asked``;
        * ``attributes_ok``: list of bool per named object: a matched detection has the asked
          colour, the asked shape (classifier) and the asked size (when the caption gives one);
        * ``colour_ok``: list of bool, a detection of the asked colour exists;
        * ``relation_ok``: bool or None (one object): the first two objects are both found with
          their colours and their centres satisfy :func:`gsemlab.toyworld.world.relation_holds`.
    """
    objs, relation, _ = parse_caption(caption)
    dets = detect_objects(image, classifier=classifier)
    found = match_objects(objs, dets)
    attrs, cols = [], []
    for o, t in zip(objs, found):
        ok = (t is not None and t.colour == o.colour and t.shape == o.shape
              and (o.size is None or t.size == o.size))
        attrs.append(bool(ok))
        cols.append(any(t_.colour == o.colour for t_ in dets))
    rel = None
    if relation is not None:
        a, b = found[0], found[1]
        rel = bool(a is not None and b is not None and a.colour == objs[0].colour
                   and b.colour == objs[1].colour and relation_holds(relation, a.centre, b.centre))
    return {"n_asked": len(objs), "n_found": len(dets), "count_ok": len(dets) == len(objs),
            "attributes_ok": attrs, "colour_ok": cols, "relation_ok": rel}


__all__ = [
    "AREA_FACTOR",
    "RELATION_PHRASES",
    "CaptionObject",
    "Detection",
    "detect_objects",
    "locate",
    "match_objects",
    "parse_caption",
    "score_caption",
]
