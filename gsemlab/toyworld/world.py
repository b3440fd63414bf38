"""ShapesWorld: a seeded, captioned world of coloured shapes with ground-truth masks per word.

A scene holds one to three non-overlapping objects (shape, colour, size, centre) on a plain
background.  Its caption names every object ("a small red circle floating slowly above a large
blue square") and, for two or more objects, the spatial relation between the first two.  The
renderer paints each object with hard edges on pixel centres, so the ground-truth mask of a word is
exactly the set of pixels the renderer coloured for the object(s) that word describes.

The vocabulary is closed and every caption word is one token of the bundled tokenizer.  All
parts of speech of the paper's Table II occur: nouns (shape words, "background", "shapes"), a
proper noun ("ShapesWorld"), numerals ("one", "two", "three"), adjectives (colours, sizes),
verbs ("floating", ...), adverbs ("slowly", ...), adpositions ("above", "of", "in", ...) and the
rest (determiners, "and", punctuation), which spaCy tags X in the paper's scheme.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..checks import check_seed

SIZE = 64
SHAPES = ("circle", "square", "triangle", "star")
COLOURS = {
    "red": (215, 35, 35),
    "green": (35, 165, 60),
    "blue": (35, 75, 225),
    "yellow": (240, 220, 30),
    "purple": (140, 45, 190),
    "orange": (245, 125, 15),
}
BACKGROUNDS = {"white": (245, 245, 245), "gray": (155, 155, 155), "black": (25, 25, 25)}
BACKGROUND_PROBS = {"white": 0.6, "gray": 0.25, "black": 0.15}  # how often sample_scene draws each
SIZES = {"small": 7.0, "large": 11.0}  # object "radius" in pixels
RELATIONS = ("above", "below", "left", "right")
RELATION_PHRASES = {
    "above": ("above",),
    "below": ("below",),
    "left": ("left of", "to the left of"),
    "right": ("right of", "to the right of"),
}
VERBS = ("floating", "resting", "sitting", "hovering", "drifting", "lying")
ADVERBS = ("slowly", "gently", "quietly", "calmly", "lightly")
NUMBER_WORDS = {1: "one", 2: "two", 3: "three"}
#: shapes outside ShapesWorld: no sampled scene holds them and the tokenizer has no word for them; the
#: knowledge-alignment chapter's new subject (:func:`with_new_shape`)
NEW_SHAPES = ("cross",)
#: (colour, shape) pairs never seen in the training split; they test composition.
HELD_OUT = (("purple", "triangle"), ("orange", "star"))
SPLITS = {"train": 0, "val": 1, "test": 2}

#: every word a caption can contain (lower case), in a fixed order: the tokenizer's vocabulary.
VOCAB = (
    ("a", "an", "the", "and", "of", "to", "on", "in", "background", "shape", "shapes", "shapesworld",
     ":", ",") + tuple(NUMBER_WORDS.values()) + tuple(SIZES) + tuple(COLOURS) + tuple(BACKGROUNDS)
    + SHAPES + ("above", "below", "left", "right") + VERBS + ADVERBS
)
#: token positions of the toy text encoder (``[CLS]``, up to 30 caption words, ``[SEP]``, padding).
MAX_LENGTH = 32


@dataclass(frozen=True)
class SceneObject:
    """One object of a scene.

    Attributes
    ----------
    shape, colour, size : str
        Entries of ``SHAPES``, ``COLOURS`` and ``SIZES``.
    cx, cy : float
        Centre in pixels (x to the right, y down, origin at the top-left corner of the image).
    """

    shape: str
    colour: str
    size: str
    cx: float
    cy: float

    @property
    def radius(self) -> float:
        """Radius of the object's circumscribing construction circle, in pixels."""
        return SIZES[self.size]


@dataclass(frozen=True)
class Scene:
    """A ShapesWorld scene: objects, background, relation and its caption.

    Attributes
    ----------
    objects : tuple of SceneObject
        One to three objects, in caption order.
    background : str
        Key of ``BACKGROUNDS``.
    relation : str or None
        Relation of ``objects[0]`` to ``objects[1]`` (one of ``RELATIONS``), None for one object.
    caption : str
        The caption.
    words : dict
        Caption word -> indices of the objects it describes (nouns, adjectives, relation words).
    """

    objects: tuple
    background: str
    relation: str | None
    caption: str
    words: dict = field(default_factory=dict, compare=False)

    def render(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Render the scene.

        Returns
        -------
        image : ndarray of uint8, shape (64, 64, 3)
            RGB image, hard-edged objects on the background colour.
        masks : dict of str -> ndarray of bool, shape (64, 64)
            Ground-truth region of every noun, adjective and relation word of the caption: a shape
            or colour word -> its object's pixels; a size word -> the union of the objects of that
            size named with it; a relation word ("above", "below", "left", "right") -> the union
            of the two related objects; "shapes" -> all objects; "background" and the background's
            colour word -> the pixels no object covers; "ShapesWorld" -> the whole image.
        """
        image = np.empty((SIZE, SIZE, 3), np.uint8)
        image[:] = BACKGROUNDS[self.background]
        obj_masks = [object_mask(o) for o in self.objects]
        for o, m in zip(self.objects, obj_masks):
            image[m] = COLOURS[o.colour]
        any_obj = np.zeros((SIZE, SIZE), bool)
        for m in obj_masks:
            any_obj |= m
        masks = {}
        for word, idx in self.words.items():
            if idx == "background":
                masks[word] = ~any_obj
            elif idx == "all":
                masks[word] = np.ones((SIZE, SIZE), bool)
            else:
                m = np.zeros((SIZE, SIZE), bool)
                for i in idx:
                    m |= obj_masks[i]
                masks[word] = m
        return image, masks


def _polygon_mask(xs: np.ndarray, ys: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test of points (xs, ys) against vertices poly (K, 2)."""
    inside = np.zeros(xs.shape, bool)
    k = len(poly)
    for i in range(k):
        x1, y1 = poly[i]
        x2, y2 = poly[(i + 1) % k]
        cond = (y1 > ys) != (y2 > ys)
        with np.errstate(divide="ignore", invalid="ignore"):
            xint = (x2 - x1) * (ys - y1) / (y2 - y1) + x1
        inside ^= cond & (xs < xint)
    return inside


def shape_polygon(shape: str, cx: float, cy: float, r: float) -> np.ndarray | None:
    """Vertices (K, 2) of a polygonal shape, None for the circle.

    The square has half-side 0.85 r; the triangle is equilateral, pointing up, with circumradius
    1.15 r; the star has five points, outer radius 1.2 r and inner radius 0.5 of that; the cross (of
    :data:`NEW_SHAPES`) is a plus sign of arm reach 1.1 r and arm half-width 0.42 r.
    """
    if shape == "circle":
        return None
    if shape == "square":
        s = 0.85 * r
        return np.array([[cx - s, cy - s], [cx + s, cy - s], [cx + s, cy + s], [cx - s, cy + s]])
    if shape == "triangle":
        R = 1.15 * r
        ang = np.deg2rad([-90.0, 30.0, 150.0])
        return np.stack([cx + R * np.cos(ang), cy + 0.15 * r + R * np.sin(ang)], 1)
    if shape == "star":
        R = 1.2 * r
        ang = np.deg2rad(-90.0 + 36.0 * np.arange(10))
        rad = np.where(np.arange(10) % 2 == 0, R, 0.5 * R)
        return np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1)
    if shape == "cross":
        R, w = 1.1 * r, 0.42 * r
        pts = [(w, R), (w, w), (R, w), (R, -w), (w, -w), (w, -R), (-w, -R), (-w, -w), (-R, -w), (-R, w),
               (-w, w), (-w, R)]
        return np.array([[cx + x, cy + y] for x, y in pts])
    raise ValueError(f"shape must be one of {SHAPES + NEW_SHAPES}, got {shape!r}")


def shape_mask(shape: str, cx: float, cy: float, r: float, size: int = SIZE) -> np.ndarray:
    """Boolean (size, size) mask of a shape; pixel (row y, column x) is in when its centre
    (x + 0.5, y + 0.5) lies inside the shape.  A circle of radius r covers about pi r^2 pixels."""
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    poly = shape_polygon(shape, cx, cy, r)
    if poly is None:
        return (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r
    return _polygon_mask(xs, ys, poly)


def object_mask(obj: SceneObject) -> np.ndarray:
    """Boolean (64, 64) mask of one object (see `shape_mask`)."""
    return shape_mask(obj.shape, obj.cx, obj.cy, obj.radius)


def relation_holds(relation: str, c1: tuple, c2: tuple) -> bool:
    """Whether centre ``c1 = (x, y)`` is `relation` of centre ``c2``.

    The relation's axis must dominate: "above" means ``y1 < y2`` and ``|y1 - y2| > |x1 - x2|``
    (image y points down); "left" means ``x1 < x2`` and ``|x1 - x2| > |y1 - y2|``; likewise
    "below", "right".
    """
    dx, dy = c1[0] - c2[0], c1[1] - c2[1]
    if relation == "above":
        return dy < 0 and abs(dy) > abs(dx)
    if relation == "below":
        return dy > 0 and abs(dy) > abs(dx)
    if relation == "left":
        return dx < 0 and abs(dx) > abs(dy)
    if relation == "right":
        return dx > 0 and abs(dx) > abs(dy)
    raise ValueError(f"relation must be one of {RELATIONS}, got {relation!r}")


def _place(rng: np.random.Generator, radii: list, relation: str | None) -> list | None:
    """Rejection-sample non-overlapping centres; the first two satisfy `relation`."""
    centres: list = []
    for k, r in enumerate(radii):
        lo, hi = r + 2.0, SIZE - r - 2.0
        for _ in range(200):
            c = (float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi)))
            ok = all(np.hypot(c[0] - p[0], c[1] - p[1]) > 1.25 * (r + radii[j]) + 3.0
                     for j, p in enumerate(centres))
            if ok and k == 1 and relation is not None:
                ok = relation_holds(relation, centres[0], c) and _margin(relation, centres[0], c) > 4.0
            if ok:
                centres.append(c)
                break
        else:
            return None
    return centres


def _margin(relation, c1, c2) -> float:
    dx, dy = abs(c1[0] - c2[0]), abs(c1[1] - c2[1])
    return dy - dx if relation in ("above", "below") else dx - dy


def _article(word: str, rng: np.random.Generator, p_one: float = 0.15) -> str:
    u = rng.random()
    if u < p_one:
        return "one"
    if u < p_one + 0.25:
        return "the"
    return "an" if word[0] in "aeiou" else "a"


def _sample_scene(rng: np.random.Generator, split: str) -> Scene:
    n = int(rng.choice([1, 2, 3], p=[0.25, 0.5, 0.25]))
    while True:
        colours = [str(c) for c in rng.choice(list(COLOURS), n, replace=False)]
        shapes = [str(s) for s in rng.choice(SHAPES, n, replace=False)]
        combos = set(zip(colours, shapes))
        if split == "train" and combos & set(HELD_OUT):
            continue
        break
    sizes = [str(s) for s in rng.choice(list(SIZES), n)]
    relation = str(rng.choice(RELATIONS)) if n >= 2 else None
    centres = None
    while centres is None:
        centres = _place(rng, [SIZES[s] for s in sizes], relation)
    background = str(rng.choice(list(BACKGROUNDS), p=[BACKGROUND_PROBS[b] for b in BACKGROUNDS]))
    objects = tuple(SceneObject(sh, co, si, cx, cy)
                    for sh, co, si, (cx, cy) in zip(shapes, colours, sizes, centres))

    words: dict = {}
    parts: list = []
    prefix = rng.random() < 0.2
    if prefix:
        parts += [NUMBER_WORDS[n], "shape" if n == 1 else "shapes", "in", "ShapesWorld", ":"]
        words["shape" if n == 1 else "shapes"] = tuple(range(n))
        words["ShapesWorld"] = "all"

    def noun_phrase(i: int) -> list:
        o = objects[i]
        with_size = rng.random() < 0.75
        first = o.size if with_size else o.colour
        phrase = [_article(first, rng)]
        if with_size:
            phrase.append(o.size)
            words[o.size] = tuple(sorted(set(words.get(o.size, ())) | {i}))
        phrase += [o.colour, o.shape]
        words[o.colour] = (i,)
        words[o.shape] = (i,)
        return phrase

    parts += noun_phrase(0)
    if rng.random() < 0.5:
        parts.append(str(rng.choice(VERBS)))
        if rng.random() < 0.7:
            parts.append(str(rng.choice(ADVERBS)))
    if n >= 2:
        phrase = str(rng.choice(RELATION_PHRASES[relation]))
        parts += phrase.split()
        words[relation] = (0, 1)
        parts += noun_phrase(1)
    if n == 3:
        parts.append("and")
        parts += noun_phrase(2)
    if rng.random() < 0.3:
        parts += ["on", "a", background, "background"]
        words[background] = "background"
        words["background"] = "background"
    if not prefix and rng.random() < 0.2:
        parts += ["in", "ShapesWorld"]
        words["ShapesWorld"] = "all"
    caption = " ".join(parts).replace(" :", ":")
    return Scene(objects, background, relation, caption, words)


def sample_scenes(n: int, seed: int = 0, *, split: str = "train") -> list[Scene]:
    """Sample `n` ShapesWorld scenes, reproducibly.

    Parameters
    ----------
    n : int
        Number of scenes (>= 0).
    seed : int
        Seed, an integer >= 0 (TypeError otherwise); the same (n, seed, split) gives the same
        scenes, and the first k scenes of a longer draw equal a draw of k scenes.
    split : {"train", "val", "test"}
        The split seeds a separate random stream (``SeedSequence([seed, split_id])``), so the
        splits never share a stream; the train split never contains a ``HELD_OUT``
        (colour, shape) pair, val and test do.

    Returns
    -------
    list of Scene
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    seed = check_seed(seed)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {tuple(SPLITS)}, got {split!r}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, SPLITS[split], 20261123]))
    return [_sample_scene(rng, split) for _ in range(int(n))]


def with_new_shape(scene: Scene, shape: str = "cross") -> Scene:
    """The scene with its first object's shape replaced by a shape of :data:`NEW_SHAPES`, caption too.

    Parameters
    ----------
    scene : Scene
        A sampled scene (not modified).
    shape : str
        One of :data:`NEW_SHAPES`.

    Returns
    -------
    Scene
        Same objects, places, background and relation; object 0 has ``shape``, and the caption names it
        in place of the old shape word (the word table moves with it).
    """
    if shape not in NEW_SHAPES:
        raise ValueError(f"shape must be one of {NEW_SHAPES}, got {shape!r}")
    first = scene.objects[0]
    caption = " ".join(shape if w == first.shape else w for w in scene.caption.split(" "))
    table = {(shape if k == first.shape else k): v for k, v in scene.words.items()}
    objects = (SceneObject(shape, first.colour, first.size, first.cx, first.cy),) + scene.objects[1:]
    return Scene(objects, scene.background, scene.relation, caption, table)


def render_batch(scenes: list[Scene]) -> np.ndarray:
    """Render scenes to a uint8 array (N, 64, 64, 3)."""
    return np.stack([s.render()[0] for s in scenes]) if scenes else np.zeros((0, SIZE, SIZE, 3), np.uint8)


def edit_scene(scene: Scene, k: int, rng: np.random.Generator) -> Scene:
    """A copy of a scene with ``k`` distinct attributes changed.

    Parameters
    ----------
    scene : Scene
        The scene to change (not modified).
    k : int
        Attributes to change, each an object's colour, shape or size or the background, at most one
        change per (object, attribute); capped at the number of such slots.
    rng : numpy.random.Generator
        Draws the attributes, their new values and a jitter of every centre by up to 1 px.

    Returns
    -------
    Scene
        Same relation, caption and word table as ``scene`` (the caption describes the original).
    """
    objs = [dict(shape=o.shape, colour=o.colour, size=o.size, cx=o.cx, cy=o.cy) for o in scene.objects]
    slots = [(i, a) for i in range(len(objs)) for a in ("colour", "shape", "size")] + [(-1, "background")]
    picks = rng.choice(len(slots), size=min(k, len(slots)), replace=False)
    bg = scene.background
    for j in picks:
        i, a = slots[j]
        if a == "background":
            bg = str(rng.choice([b for b in BACKGROUNDS if b != bg]))
            continue
        pool = {"colour": list(COLOURS), "shape": list(SHAPES), "size": list(SIZES)}[a]
        objs[i][a] = str(rng.choice([v for v in pool if v != objs[i][a]]))
    for o in objs:
        o["cx"] += float(rng.uniform(-1, 1))
        o["cy"] += float(rng.uniform(-1, 1))
    return Scene(tuple(SceneObject(**o) for o in objs), bg, scene.relation, scene.caption, scene.words)
