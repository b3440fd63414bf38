"""Control maps extracted from any ShapesWorld image, and their downscaling for transmission ([Control]).

The sender of [Control] (Sec. IV-A, Fig. 3) does not send pixels: it extracts a control map from the image
(Canny edges, segmentation, depth, pose, ...), downscales it by a factor to save bandwidth, and sends it
with the prompt; the receiver upscales the map and regenerates the image with a ControlNet. Every map
here is computed from the pixels alone, so it works on a generated image as well as on a render.

:data:`METHODS`

``"canny"``
    Canny edges (``skimage.feature.canny``, ``sigma`` :data:`CANNY_SIGMA`) of the grey image
    (``skimage.color.rgb2gray``): uint8 (64, 64), 255 on an edge, 0 elsewhere. The stand-in for
    the paper's Canny and HED maps (HED needs downloaded weights: hub path only). Colours of nearly
    the background's grey level leave no edge: an orange object on the gray background (grey levels
    0.56 and 0.61) has none at this ``sigma`` and scikit-image's default thresholds.
``"segmentation"``
    A label map from :func:`gsemlab.toyworld.locate.detect_objects`: 0 for the background, ``k + 1``
    on the pixels of a detected object whose palette colour is ``list(COLOURS)[k]``
    (:data:`SEGMENT_COLOURS`): uint8 (64, 64) in 0..6. Smaller objects are painted over larger ones.
``"depth"``
    A depth-like map (the paper's depth / MiDaS maps are inverse depth: brighter is nearer).
    ShapesWorld has no depth, so the design reads apparent size as nearness and gives every object a
    dome: for an object of ``A`` pixels with equivalent radius ``r = sqrt(A / pi)``, nearness
    ``n = min(1, r / DEPTH_RADIUS)``; at a pixel whose Euclidean distance to the object's outside is
    ``d`` (``d_max`` at its deepest pixel) the value is ``round(255 n (DEPTH_RIM + (1 - DEPTH_RIM) d /
    d_max))``: brightest at the object's centre, ``DEPTH_RIM`` of that on its rim, 0 (far) on the
    background. uint8 (64, 64). A large object (radius 11) is nearer than a small one (radius 7).

The segmentation and depth maps read only each detection's colour and mask, never its shape, so the
bundled shape classifier is not run.

Downscaling (:func:`downscale`) by a factor ``f`` in :data:`FACTORS` maps 64 x 64 to ``64/f`` squared:

* ``"canny"``: max-pool over ``f x f`` blocks: a block holding any edge pixel is an edge, so one-pixel
  edges survive every factor (they thicken to ``f`` pixels on the way back).
* ``"segmentation"``: nearest: the label at pixel ``(f // 2, f // 2)`` of each block (PIL's NEAREST);
  labels are never averaged into labels that do not exist.
* ``"depth"``: area: the mean of each block, rounded.

Upscaling (:func:`upscale`) back to 64 x 64 repeats each pixel ``f x f`` times for ``"canny"`` and
``"segmentation"`` and interpolates ``"depth"`` bilinearly (pixel centres at half-pixel offsets, edges
clamped, as ``skimage.transform.resize`` with ``order=1, mode="edge"``), rounded to uint8.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import ndimage
from skimage.color import rgb2gray
from skimage.feature import canny

from ..toyworld.locate import detect_objects
from ..toyworld.world import COLOURS, SHAPES

__all__ = ["CANNY_SIGMA", "DEPTH_RADIUS", "DEPTH_RIM", "FACTORS", "IMAGE_SIDE", "METHODS", "SEGMENT_COLOURS",
           "check_factor", "check_image", "check_map", "check_method", "downscale", "extract", "upscale"]

#: the extraction methods, in the order of a ControlNet's input channels (:mod:`gsemlab.control.net`)
METHODS = ("canny", "segmentation", "depth")
#: the downscaling factors of the paper's Fig. 3 that divide the toy images' 64 pixels
FACTORS = (1, 2, 4, 8)
#: side of the toy backend's images and of every full-size control map (pixels)
IMAGE_SIDE = 64
#: Gaussian width of the Canny detector (pixels): scikit-image's default
CANNY_SIGMA = 1.0
#: palette colour of each segmentation label ``k + 1`` (label 0 is the background)
SEGMENT_COLOURS = tuple(COLOURS)
#: equivalent radius (pixels) at which an object is nearest (depth 255 at its centre)
DEPTH_RADIUS = 12.0
#: depth on an object's rim as a share of its centre's
DEPTH_RIM = 0.6


class _ColourOnly:
    """A stand-in shape classifier for ``detect_objects``: the maps here use colours and masks only."""

    config = {"classes": list(SHAPES)}  # noqa: RUF012 (read only, as ShapeClassifier.config)

    @staticmethod
    def predict_proba(masks) -> np.ndarray:
        return np.full((len(masks), len(SHAPES)), 1.0 / len(SHAPES))


# ------------------------------------------------------------------------------------------ checks
def check_method(method) -> str:
    """Return ``method``, raising unless it is one of :data:`METHODS`.

    Parameters
    ----------
    method : str
        An extraction method.
    """
    if not isinstance(method, str):
        raise TypeError(f"method must be a str, one of {METHODS}, got {type(method).__name__} {method!r}")
    if method not in METHODS:
        raise ValueError(f"unknown control method {method!r}: expected one of {METHODS}")
    return method


def check_factor(factor) -> int:
    """Return ``factor`` as an int, raising unless it is one of :data:`FACTORS` (1, 2, 4, 8).

    Parameters
    ----------
    factor : int
        A downscaling factor (the map's side is divided by it).
    """
    if isinstance(factor, bool) or not isinstance(factor, numbers.Integral):
        raise TypeError(f"factor must be an integer, one of {FACTORS}, "
                        f"got {type(factor).__name__} {factor!r}")
    if int(factor) not in FACTORS:
        raise ValueError(f"factor must be one of {FACTORS} (a divisor of the {IMAGE_SIDE}-pixel side), "
                         f"got {factor!r}")
    return int(factor)


def check_image(image, name: str = "image") -> np.ndarray:
    """Return ``image`` as an array, raising unless it is uint8 of shape (64, 64, 3).

    Parameters
    ----------
    image : ndarray of uint8, shape (64, 64, 3)
        An RGB image (a render or a generation of the toy backend).
    name : str
        Argument name used in the error message.
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of uint8, shape ({IMAGE_SIDE}, {IMAGE_SIDE}, 3), "
                        f"got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8 (0-255), got dtype {image.dtype}")
    if image.shape != (IMAGE_SIDE, IMAGE_SIDE, 3):
        raise ValueError(f"{name} must have shape ({IMAGE_SIDE}, {IMAGE_SIDE}, 3), got {image.shape}")
    return image


def check_map(control_map, method, *, side: int = IMAGE_SIDE, name: str = "control_map") -> np.ndarray:
    """Return ``control_map``, raising unless it is a valid uint8 (side, side) map of ``method``.

    Parameters
    ----------
    control_map : ndarray of uint8, shape (side, side)
        A map of :func:`extract` (``side`` 64) or of :func:`downscale` (``side`` 64 / factor).
    method : str
        One of :data:`METHODS`: a Canny map holds only 0 and 255, a segmentation map labels 0 to 6.
    side : int
        The expected side (pixels).
    name : str
        Argument name used in the error message.
    """
    check_method(method)
    if not isinstance(control_map, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of uint8, got {type(control_map).__name__}")
    if control_map.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8, got dtype {control_map.dtype}")
    if control_map.shape != (side, side):
        raise ValueError(f"{name} must have shape ({side}, {side}), got {control_map.shape}")
    if method == "canny" and not np.isin(control_map, (0, 255)).all():
        raise ValueError(f"a canny {name} holds only 0 and 255, "
                         f"got values {np.unique(control_map)[:8].tolist()}")
    if method == "segmentation" and control_map.max(initial=0) > len(SEGMENT_COLOURS):
        raise ValueError(f"a segmentation {name} holds labels 0 to {len(SEGMENT_COLOURS)}, "
                         f"got {int(control_map.max())}")
    return control_map


# ------------------------------------------------------------------------------------------ extraction
def extract(image, method: str) -> np.ndarray:
    """The control map of an image ([Control], Sec. IV-A and Fig. 3).

    Parameters
    ----------
    image : ndarray of uint8, shape (64, 64, 3)
        Any RGB image of the toy backend: a render or a generation.
    method : {"canny", "segmentation", "depth"}
        The extraction method (module docstring: what each map holds).

    Returns
    -------
    ndarray of uint8, shape (64, 64)
        ``"canny"``: 0 or 255; ``"segmentation"``: labels 0 (background) to 6; ``"depth"``: 0 (far,
        background) to 255 (nearest).
    """
    method = check_method(method)
    image = check_image(image)
    if method == "canny":
        edges = canny(rgb2gray(image), sigma=CANNY_SIGMA)
        return np.where(edges, 255, 0).astype(np.uint8)
    dets = detect_objects(image, classifier=_ColourOnly())  # largest first
    out = np.zeros((IMAGE_SIDE, IMAGE_SIDE), np.uint8)
    if method == "segmentation":
        for det in dets:  # smaller objects over larger ones
            out[det.mask] = SEGMENT_COLOURS.index(det.colour) + 1
        return out
    depth = np.zeros((IMAGE_SIDE, IMAGE_SIDE), np.float64)
    for det in dets:
        nearness = min(1.0, float(np.sqrt(det.area / np.pi)) / DEPTH_RADIUS)
        inside = ndimage.distance_transform_edt(det.mask)  # (64, 64), pixels to the object's outside
        dome = DEPTH_RIM + (1.0 - DEPTH_RIM) * inside / inside.max()
        depth = np.where(det.mask, np.maximum(depth, 255.0 * nearness * dome), depth)  # the nearer surface
    return np.rint(depth).astype(np.uint8)


# ------------------------------------------------------------------------------------------ scaling
def downscale(control_map, factor: int, method: str) -> np.ndarray:
    """Shrink a 64 x 64 control map by ``factor`` before transmission ([Control], Sec. IV-A, Fig. 3).

    Parameters
    ----------
    control_map : ndarray of uint8, shape (64, 64)
        A map of :func:`extract`.
    factor : {1, 2, 4, 8}
        The downscaling factor: the map's side is divided by it (its pixels by ``factor**2``).
    method : {"canny", "segmentation", "depth"}
        How the map was extracted; it picks the rule: max-pool for ``"canny"`` (thin edges survive),
        nearest for ``"segmentation"`` (pixel ``(f // 2, f // 2)`` of each block), block mean (area) for
        ``"depth"``.

    Returns
    -------
    ndarray of uint8, shape (64 / factor, 64 / factor)
    """
    method, factor = check_method(method), check_factor(factor)
    check_map(control_map, method)
    if factor == 1:
        return control_map.copy()
    side = IMAGE_SIDE // factor
    blocks = control_map.reshape(side, factor, side, factor)  # (block row, row in it, block col, col in it)
    if method == "canny":
        return blocks.max(axis=(1, 3)).astype(np.uint8)
    if method == "segmentation":
        return np.ascontiguousarray(blocks[:, factor // 2, :, factor // 2])
    return np.rint(blocks.mean(axis=(1, 3))).astype(np.uint8)


def _bilinear_1d(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix of linear interpolation with half-pixel centres and clamped edges."""
    x = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    x = np.clip(x, 0, n_in - 1)
    lo = np.floor(x).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    w = x - lo
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), lo] += 1 - w
    m[np.arange(n_out), hi] += w
    return m


def upscale(control_map, factor: int, method: str) -> np.ndarray:
    """Bring a received map back to 64 x 64 at the receiver, before the ControlNet ([Control], Fig. 3).

    Parameters
    ----------
    control_map : ndarray of uint8, shape (64 / factor, 64 / factor)
        A map of :func:`downscale` (as :func:`gsemlab.control.wire.unpack` returns it).
    factor : {1, 2, 4, 8}
        The factor it was downscaled by.
    method : {"canny", "segmentation", "depth"}
        Nearest (each pixel repeated ``factor x factor`` times) for ``"canny"`` and ``"segmentation"``;
        bilinear for ``"depth"`` (half-pixel centres, clamped edges), rounded.

    Returns
    -------
    ndarray of uint8, shape (64, 64)
    """
    method, factor = check_method(method), check_factor(factor)
    side = IMAGE_SIDE // factor
    check_map(control_map, method, side=side)
    if factor == 1:
        return control_map.copy()
    if method in ("canny", "segmentation"):
        return np.repeat(np.repeat(control_map, factor, axis=0), factor, axis=1)
    m = _bilinear_1d(side, IMAGE_SIDE)  # (64, side)
    return np.clip(np.rint(m @ control_map.astype(np.float64) @ m.T), 0, 255).astype(np.uint8)
