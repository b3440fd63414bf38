"""The G-SemCom pipeline end to end: Algorithm 1 (MASP side) and Sec. IV-D (the user's decoder).

MASP side, :meth:`GSemCom.encode`:

1. **Generation** (Eq. 2-4): the text-to-image pipeline generates the source image ``g0`` from the
   prompt in ``generation_steps`` (25) steps while an :class:`~gsemlab.attention.AttentionStore`
   records the cross-attention maps, a by-product of the generation (Eq. 5-6).
2. **Extraction**: the maps are aggregated per word (Eq. 7); the prompt is tagged and parsed
   (Table II, Eq. 9: C and C*); the kept words' maps are binarised (Eq. 8) and their IoU matrix D*
   (Eq. 10-11) gives the importance ``s`` (Eq. 12); each word's map is binarised again with the
   threshold of its importance rank and cleaned with DBSCAN (Eq. 13).
3. **Packing** (Eq. 14): the clean segments, most important first, are made disjoint and sent
   while the budget lasts, with the prompt, in a :class:`~gsemlab.packing.Packet`.

User side, :meth:`GSemCom.decode`: the user inpaints every pixel it did not receive with the
inpainting pipeline in ``decode_steps`` (5) steps, the prompt as the condition, and keeps the
received pixels as they are.

Readings of the paper where it is silent (chapter 7 discusses them)
-------------------------------------------------------------------
* **The xi scheme** (Table III: 0.9, 0.8, 0.5) is read as one threshold per importance rank: the
  most important word is binarised at 0.9, the second at 0.8 and every other word at 0.5
  (:func:`xi_per_rank`). A single value applies to every word.
* **Ranking needs binary maps and binary maps need the rank.** D* (hence ``s``) is computed from
  maps binarised at one common threshold, ``ranking_xi`` (default: the last value of the scheme,
  0.5 for Table III's); then each word is binarised again at the threshold of its rank.
* **Known pixels.** The user received them exactly, so they are pasted back into the decoded image
  (the VAE round trip would blur them otherwise). The mask given to diffusers marks a latent cell
  for repainting when any pixel of its ``f x f`` block (``f`` = the VAE's scale factor) is missing
  (``latent_mask="cover"``, default), so that no known latent is a block of fill values; with
  ``latent_mask="nearest"`` the pixel mask goes to diffusers unchanged and diffusers samples it
  with nearest-neighbour interpolation (one pixel per block decides).
* **What the missing pixels start from.** Each hole of the received image is filled with one
  colour, the median of the received pixels around it; the hole around the objects is background
  and takes the colour of the received border pixels, or the backend's prior background when none
  arrived (``fill="ring"``). The decoder then runs its 5 steps from 5/6 of the way down the noise
  schedule (``strength=0.9``) instead of from pure noise, so the fill decides the colour of what is
  regenerated and the prompt its content.
* **Seeds.** The MASP generates with ``seed``; the user's sampler noise (inpainting and the local
  AIGC baseline) uses :func:`user_seed` of it, a different stream, as a real user would.
* **Damaged packets.** The user sent the prompt to the MASP, so it still knows the prompt when the
  packet is lost or fails its CRC: :meth:`GSemCom.receive` then falls back to prompt-only
  inpainting (the fully masked baseline) and flags the result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import numbers
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import jpsq as _jpsq
from .config import GSemComConfig, JPSQConfig
from .packing import Packet, PacketError, disjoint_segments, jpeg_bytes, pack, png_bytes
from .prompt import Deconstruction, deconstruct, importance, iou_matrix
from .segment import clean_mask

__all__ = [
    "STAGES",
    "Encoded",
    "GSemCom",
    "Generation",
    "Reception",
    "Transmission",
    "user_seed",
    "xi_per_rank",
]

#: The stages whose time (and optionally peak memory) every result records (Table IV analogue).
STAGES = ("generation", "extraction", "packing", "decoding")

_METHODS = ("gsemcom", "traditional", "local_aigc", "fully_masked")


# ----------------------------------------------------------------------------------------- helpers
def xi_per_rank(xi, n_words: int) -> tuple[float, ...]:
    """Binarisation threshold (Eq. 8) of each word by importance rank.

    The course's reading of Table III's scheme ``xi = (0.9, 0.8, 0.5)``: the word of rank 1 (most
    important, Eq. 12) gets 0.9, rank 2 gets 0.8, and every rank from 3 on gets 0.5; in general rank
    ``k`` gets ``xi[min(k, len(xi)) - 1]``. A single number applies to every rank.

    Parameters
    ----------
    xi : float or sequence of float
        Threshold(s) in (0, 1], as fractions of each map's maximum after normalisation (Eq. 8).
    n_words : int
        Number of ranked words, >= 0.

    Returns
    -------
    tuple of float, length n_words
        Threshold of the word of rank 1, 2, ..., n_words.

    Examples
    --------
    >>> xi_per_rank((0.9, 0.8, 0.5), 5)
    (0.9, 0.8, 0.5, 0.5, 0.5)
    >>> xi_per_rank(0.7, 2)
    (0.7, 0.7)
    """
    scheme = _check_xi(xi)
    if isinstance(n_words, bool) or not isinstance(n_words, numbers.Integral) or n_words < 0:
        raise ValueError(f"n_words must be an integer >= 0, got {n_words!r}")
    return tuple(scheme[min(k, len(scheme) - 1)] for k in range(int(n_words)))


def _check_xi(xi) -> tuple[float, ...]:
    values = (xi,) if isinstance(xi, numbers.Real) and not isinstance(xi, bool) else xi
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence | np.ndarray):
        raise TypeError(f"xi must be a number or a sequence of numbers in (0, 1], got {type(xi).__name__}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"xi must hold real numbers, got {type(v).__name__}")
        if not 0.0 < float(v) <= 1.0:  # also rejects NaN
            raise ValueError(f"xi values must lie in (0, 1], got {v!r}")
        out.append(float(v))
    if not out:
        raise ValueError("xi must hold at least one threshold, got an empty sequence")
    return tuple(out)


def user_seed(seed: int) -> int:
    """Seed of the user's sampler noise derived from the MASP's ``seed`` (an independent stream).

    Parameters
    ----------
    seed : int
        The MASP's generation seed, >= 0.

    Returns
    -------
    int
        ``numpy.random.SeedSequence([seed, 1]).generate_state(1)[0]``, in [0, 2**32).
    """
    seed = _check_seed(seed)
    return int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def _check_prompt(prompt) -> str:
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
    if not prompt.strip():
        raise ValueError("prompt must contain at least one word, got an empty or whitespace-only string")
    return prompt


def _to_uint8(images) -> np.ndarray:
    """First image of a diffusers ``output_type="np"`` batch (floats in [0, 1]) as uint8 (H, W, 3)."""
    arr = np.asarray(images[0], dtype=np.float32)
    return (np.clip(arr, 0.0, 1.0) * 255).round().astype(np.uint8)  # as diffusers' numpy_to_pil


def _cover(repaint: np.ndarray, f: int) -> np.ndarray:
    """Mark every pixel of an ``f x f`` block when any pixel of the block is marked (block max-pool)."""
    h, w = repaint.shape
    hb, wb = -(-h // f), -(-w // f)
    padded = np.zeros((hb * f, wb * f), dtype=bool)
    padded[:h, :w] = repaint
    blocks = padded.reshape(hb, f, wb, f).any(axis=(1, 3))  # (hb, wb)
    return np.repeat(np.repeat(blocks, f, axis=0), f, axis=1)[:h, :w]


def _border(a: np.ndarray) -> np.ndarray:
    """The outermost rows and columns of an (H, W, ...) array, each pixel once."""
    return np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])


def _filled(packet: Packet, fill, background=None) -> np.ndarray:
    """The received image with its missing pixels filled (see ``GSemCom``'s ``fill``).

    ``fill`` is an int (one grey level), ``"nearest"`` (the nearest received pixel) or ``"ring"``:
    each 4-connected hole takes one colour, the per-channel median of the received pixels that share
    an edge with it; a hole that touches the image's border is background, and takes the median of
    the received pixels on the border, or ``background`` (RGB) when none was received (the ring
    median when ``background`` is None too). Nothing received: ``background`` for ``"ring"`` when
    given, else grey 128.
    """
    if fill not in ("nearest", "ring"):
        return packet.image(fill=fill)
    known = packet.mask
    if not known.any():
        return packet.image(fill=background if fill == "ring" and background is not None else 128)
    from scipy import ndimage

    img = packet.image(fill=0)
    if fill == "nearest":
        _, (iy, ix) = ndimage.distance_transform_edt(~known, return_indices=True)
        return img[iy, ix]
    holes, n = ndimage.label(~known)  # 4-connected holes
    edge_known = _border(known)
    # one background colour for every hole that reaches the border
    edge_colour = np.median(_border(img)[edge_known], axis=0) if edge_known.any() else background
    on_edge = set(np.unique(_border(holes)).tolist()) - {0}
    out = img.copy()
    for k in range(1, n + 1):
        hole = holes == k
        if k in on_edge and edge_colour is not None:
            colour = np.asarray(edge_colour, dtype=float)
        else:
            ring = ndimage.binary_dilation(hole) & known  # received pixels sharing an edge with the hole
            colour = np.median(img[ring], axis=0)
        out[hole] = np.round(colour).astype(np.uint8)
    return out


class _Profiler:
    """Wall time, CPU time and (optionally) peak memory of named stages."""

    def __init__(self, device=None, memory: bool = False):
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}
        self.peak_mb: dict[str, float] = {}
        self._memory = memory
        self._cuda = device is not None and getattr(device, "type", str(device)) == "cuda"

    @contextlib.contextmanager
    def stage(self, name: str):
        sampler = None
        if self._memory:
            if self._cuda:
                import torch

                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated()
            else:
                sampler = _MemorySampler()
                sampler.start()
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            if self._cuda:
                import torch

                torch.cuda.synchronize()
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
            self.cpu_seconds[name] = self.cpu_seconds.get(name, 0.0) + time.process_time() - c0
            if self._memory:
                if self._cuda:
                    peak = (torch.cuda.max_memory_allocated() - base) / 2**20
                else:
                    peak = sampler.stop()
                self.peak_mb[name] = max(self.peak_mb.get(name, 0.0), peak)


class _MemorySampler:
    """Peak increase (MiB) of the memory the process has allocated, sampled every 0.5 ms while running.

    On Linux with glibc it reads ``mallinfo2()`` (bytes in use by malloc, which is where PyTorch's
    CPU tensors live): freed memory is counted as freed even when the allocator keeps it resident.
    Elsewhere it falls back to the resident set size (psutil), which misses reused memory.
    """

    def __init__(self, interval: float = 0.0005):
        self._read = _malloc_in_use() or _rss_reader()
        self._interval = interval
        self._stop = threading.Event()
        self._base = self._read()
        self._peak = self._base
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self._peak = max(self._peak, self._read())
            self._stop.wait(self._interval)

    def start(self):
        self._thread.start()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._read())
        return (self._peak - self._base) / 2**20


def _malloc_in_use():
    """A function returning glibc's bytes in use (``uordblks + hblkhd`` of ``mallinfo2``), or None."""
    import ctypes
    import ctypes.util

    class _MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                   "fsmblks", "uordblks", "fordblks", "keepcost")]

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2

    def read() -> int:
        info = fn()
        return int(info.uordblks + info.hblkhd)

    return read


def _rss_reader():
    import psutil

    proc = psutil.Process()
    return lambda: proc.memory_info().rss


# ----------------------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class Generation:
    """The MASP's source image and the attention it recorded while generating it (Eq. 2-6).

    Attributes
    ----------
    prompt : str
    seed : int
        Seed of the generation.
    source : ndarray of uint8, shape (H, W, 3)
        The source image ``g0``.
    store : gsemlab.attention.AttentionStore
        The recorded cross-attention (aggregated per word in the extraction stage, Eq. 7).
    seconds : float
        Wall time of the generation.
    """

    prompt: str
    seed: int
    source: np.ndarray = field(repr=False)
    store: object = field(repr=False)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_mb: float | None = None


@dataclass(frozen=True, eq=False)
class Encoded:
    """Everything the MASP computed for one prompt (Algorithm 1).

    Attributes
    ----------
    prompt : str
    seed : int
    source : ndarray of uint8, shape (H, W, 3)
        The source image ``g0``.
    word_maps : dict of str -> ndarray of float, shape (H, W)
        Aggregated cross-attention map of every kept word (Eq. 7).
    deconstruction : gsemlab.prompt.Deconstruction
        Tokens, Table II classes, C and C* (Eq. 9).
    D_star : ndarray of float, shape (K, K)
        IoU matrix of the kept words' maps binarised at ``ranking_xi`` (Eq. 10-11).
    importance : ndarray of float, shape (K,)
        ``s`` (Eq. 12), in ``deconstruction.words`` order.
    order : tuple of int, length K
        Indices into ``deconstruction.words`` by decreasing importance (ties in prompt order).
    words : tuple of str, length K
        The kept words by decreasing importance.
    xi : tuple of float, length K
        Threshold used for each ranked word (:func:`xi_per_rank`).
    binary_maps : tuple of ndarray of bool, shape (H, W)
        Ranked words' maps binarised at their thresholds (Eq. 8).
    clean_maps : tuple of ndarray of bool, shape (H, W)
        The same after DBSCAN noise removal (Eq. 13), or the binary maps when clustering is off.
    segments : tuple of ndarray of bool, shape (H, W)
        Disjoint segments in importance order (Eq. 14).
    packet : gsemlab.packing.Packet
        What is sent: the budgeted pixels and the prompt.
    timings : dict of str -> float
        Wall seconds of the stages ``generation``, ``extraction`` and ``packing``.
    """

    prompt: str
    seed: int
    source: np.ndarray = field(repr=False)
    word_maps: dict = field(repr=False)
    deconstruction: Deconstruction = field(repr=False)
    D_star: np.ndarray = field(repr=False)
    importance: np.ndarray = field(repr=False)
    order: tuple
    words: tuple
    xi: tuple
    binary_maps: tuple = field(repr=False)
    clean_maps: tuple = field(repr=False)
    segments: tuple = field(repr=False)
    packet: Packet = field(repr=False)
    timings: dict = field(default_factory=dict)
    cpu_timings: dict = field(default_factory=dict)
    peak_mb: dict = field(default_factory=dict)

    @property
    def semantic_pixels(self) -> int:
        """Pixels of the union of all segments: what an unlimited budget sends (the 'size' of Fig. 12a)."""
        return int(sum(int(s.sum()) for s in self.segments))

    @property
    def map_pixels(self) -> int:
        """Pixels of the ranked words' binary maps (Eq. 8), summed over the words (overlaps counted twice).

        Without binarisation every word's map holds all ``H * W`` pixels, so
        ``1 - map_pixels / (len(words) * H * W)`` is the per-word size reduction of Fig. 12(a).
        """
        return int(sum(int(b.sum()) for b in self.binary_maps))


@dataclass(frozen=True, eq=False)
class Reception:
    """What the user made of the bytes it received.

    Attributes
    ----------
    image : ndarray of uint8, shape (H, W, 3)
        The decoded image.
    packet : Packet or None
        The parsed packet; None when it was lost or damaged.
    fallback : bool
        True when the packet was lost or damaged and the image is prompt-only inpainting.
    error : str or None
        Why the packet was rejected.
    seconds : float
        Wall time of the decoding.
    """

    image: np.ndarray = field(repr=False)
    packet: Packet | None = field(repr=False)
    fallback: bool
    error: str | None
    seconds: float
    cpu_seconds: float = 0.0
    peak_mb: float | None = None


@dataclass(frozen=True, eq=False)
class Transmission:
    """One user's outcome: the source, what it recovered, what it cost and how good it is.

    Attributes
    ----------
    method : {"gsemcom", "traditional", "local_aigc", "fully_masked"}
    prompt : str
    seed : int
        The MASP's generation seed.
    source : ndarray of uint8, shape (H, W, 3)
        ``g0``, the MASP's image.
    recovered : ndarray of uint8, shape (H, W, 3)
        ``g1``, the user's image.
    pixels_sent : int
        Pixels transmitted (the bandwidth at O = 1 per pixel, Table III).
    pixels_full : int
        Pixels of the whole image, ``H * W`` (what the traditional method sends).
    bytes_sent : int
        Bytes on the wire: the packet (G-SemCom, fully masked: prompt only), the PNG file
        (traditional), 0 (local AIGC).
    distance : float
        ``D(g0, g1)``, the backend's perceptual distance (Eq. 15).
    quality : float
        ``Q(g1)``, the backend's quality score (Eq. 16).
    jpsq : float
        ``J(g0, g1)`` (Eq. 17-18) with the backend's calibrated ``t_max``.
    timings : dict of str -> float
        Wall seconds of the stages that ran (keys from :data:`STAGES`).
    fallback : bool
        True when the packet was damaged or lost and the user fell back to prompt-only inpainting.
    encoded : Encoded or None
        The MASP's intermediate results (G-SemCom only).
    extra : dict
        Method-specific values (traditional: ``png_bytes``, ``jpeg_bytes``).
    """

    method: str
    prompt: str
    seed: int
    source: np.ndarray = field(repr=False)
    recovered: np.ndarray = field(repr=False)
    pixels_sent: int
    pixels_full: int
    bytes_sent: int
    distance: float
    quality: float
    jpsq: float
    timings: dict = field(default_factory=dict)
    cpu_timings: dict = field(default_factory=dict)
    peak_mb: dict = field(default_factory=dict)
    fallback: bool = False
    encoded: Encoded | None = field(default=None, repr=False)
    extra: dict = field(default_factory=dict)

    @property
    def bandwidth_saving(self) -> float:
        """``1 - pixels_sent / pixels_full``: the fraction of the traditional bandwidth saved."""
        return 1.0 - self.pixels_sent / self.pixels_full


# ------------------------------------------------------------------------------------------ system
class GSemCom:
    """The G-SemCom system on one backend: MASP encoder, user decoder, baselines (Algorithm 1, Sec. IV-D).

    Parameters
    ----------
    backend : gsemlab.models.Backend
        Provides ``pipe`` (text-to-image), ``inpaint`` (inpainting on the user side), ``distance``,
        ``quality``, ``image_size`` and ``name``.
    config : GSemComConfig, optional
        ``xi`` (one value or one per rank), step counts, DBSCAN settings and the pixel cost ``O``;
        default Table III.
    binarize : bool
        Threshold the word maps with Eq. 8 (default). False keeps every pixel with positive
        attention, which for softmax attention is the whole image (Fig. 12a ablation).
    cluster : bool
        Remove noise and small clusters with DBSCAN, Eq. 13 (default; Fig. 12c ablation).
    ranking_xi : float, optional
        Common threshold of the maps that give D* and the importance ranking; default the last
        value of ``config.xi``.
    guidance_scale : float
        Classifier-free guidance of generation, local AIGC and inpainting (> 1 enables it).
    latent_mask : {"cover", "nearest"}
        How the pixel mask reaches the latent grid (see the module docstring).
    fill : {"ring", "nearest"} or int
        What the pixels the user did not receive hold in the image given to the inpainting
        pipeline. ``"ring"`` (default): each hole (4-connected region of missing pixels) takes one
        colour, the median of the received pixels around it; the hole that reaches the image's
        border is background and takes the median of the received border pixels, or ``background``
        when no border pixel arrived. ``"nearest"`` copies the nearest received pixel (Euclidean
        distance transform); an int (0-255) is one grey level (128 is 0 after diffusers' [-1, 1]
        normalisation). The fill matters twice: the VAE encoder has self-attention in its middle
        block, so it reaches every latent, the known ones too; and with ``strength < 1`` the
        sampler starts from the noised fill rather than from pure noise. A grey fill is far from
        any ShapesWorld image and the regenerated region came out as texture; a nearest fill
        smears an object's colour over the background (see chapter 7).
    strength : float in (0, 1], optional
        Share of the noise schedule the decoder runs (diffusers' img2img ``strength``). Default 0.9
        for a decoder that inpaints by latent blending (4-channel UNet, the toy backend), 1.0 for a
        dedicated inpainting UNet (9 input channels: the hub backend's SD 2 inpainting), which was
        trained to start from pure noise with the masked image as input.
        The schedule is lengthened to :attr:`inpaint_schedule` steps so that the decoder still
        runs ``config.decode_steps`` UNet steps; with 5 steps, every strength in [0.84, 1) gives
        the same 6-step schedule started at its second step.
    background : tuple of 3 ints, optional
        RGB guess of the background for ``fill="ring"`` when no border pixel arrived; default the
        backend's ``background`` (ShapesWorld's most frequent, white, for the toy backend).
    t_max : float, optional
        Upper distance bound of Eq. 18; default the backend's calibrated value
        (:func:`gsemlab.calibration.load_t_max`).
    jpsq_config : JPSQConfig, optional
        ``omega0``, ``q_th``, ``t_min`` of Eq. 17-18; default Table III.
    profile_memory : bool
        Also record each stage's peak memory increase (CUDA allocator; on CPU, malloc's bytes in use,
        sampled every 0.5 ms).
    """

    def __init__(
        self,
        backend,
        config: GSemComConfig | None = None,
        *,
        binarize: bool = True,
        cluster: bool = True,
        ranking_xi: float | None = None,
        guidance_scale: float = 5.0,
        latent_mask: str = "cover",
        fill: int | str = "ring",
        strength: float | None = None,
        background=None,
        t_max: float | None = None,
        jpsq_config: JPSQConfig | None = None,
        profile_memory: bool = False,
    ):
        for attr in ("pipe", "inpaint", "distance", "quality"):
            if not hasattr(backend, attr):
                raise TypeError(f"backend must have a .{attr} attribute (see gsemlab.models.Backend)")
        config = GSemComConfig() if config is None else config
        if not isinstance(config, GSemComConfig):
            raise TypeError(f"config must be a GSemComConfig, got {type(config).__name__}")
        jpsq_config = JPSQConfig() if jpsq_config is None else jpsq_config
        if not isinstance(jpsq_config, JPSQConfig):
            raise TypeError(f"jpsq_config must be a JPSQConfig, got {type(jpsq_config).__name__}")
        scheme = _check_xi(config.xi)
        for name, value in (("generation_steps", config.generation_steps), ("decode_steps", config.decode_steps)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"config.{name} must be an integer >= 1, got {value!r}")
        if not isinstance(config.pixel_cost, numbers.Real) or not config.pixel_cost > 0:
            raise ValueError(f"config.pixel_cost must be a number > 0, got {config.pixel_cost!r}")
        for name, value in (("binarize", binarize), ("cluster", cluster), ("profile_memory", profile_memory)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
        if ranking_xi is not None:
            ranking_xi = _check_xi(ranking_xi)[0]
        if isinstance(guidance_scale, bool) or not isinstance(guidance_scale, numbers.Real) or guidance_scale < 0:
            raise ValueError(f"guidance_scale must be a number >= 0, got {guidance_scale!r}")
        if latent_mask not in ("cover", "nearest"):
            raise ValueError(f"latent_mask must be 'cover' or 'nearest', got {latent_mask!r}")
        grey = isinstance(fill, numbers.Integral) and not isinstance(fill, bool) and 0 <= fill <= 255
        if not (grey or fill in ("nearest", "ring")):
            raise ValueError(f"fill must be 'nearest', 'ring' or an int in [0, 255], got {fill!r}")
        if strength is None:
            unet = getattr(getattr(backend, "inpaint", None), "unet", None)
            channels = getattr(getattr(unet, "config", None), "in_channels", 4)
            strength = 1.0 if channels == 9 else 0.9  # an inpainting UNet was trained from pure noise
        if isinstance(strength, bool) or not isinstance(strength, numbers.Real) or not 0 < strength <= 1:
            raise ValueError(f"strength must be a number in (0, 1], got {strength!r}")
        if t_max is not None:
            t_max = float(t_max)
            if not np.isfinite(t_max) or t_max <= jpsq_config.t_min:
                raise ValueError(f"t_max must be a finite number > t_min ({jpsq_config.t_min}), got {t_max}")
        self.backend = backend
        self.config = config
        self.xi = scheme
        self.binarize = binarize
        self.cluster = cluster
        self.ranking_xi = scheme[-1] if ranking_xi is None else ranking_xi
        self._ranking_xi_arg = ranking_xi
        self.guidance_scale = float(guidance_scale)
        self.latent_mask = latent_mask
        self.fill = int(fill) if grey else fill
        self.strength = float(strength)
        if background is None:
            background = getattr(backend, "background", None)
        if background is not None:
            bg = np.asarray(background)
            if bg.shape != (3,) or not np.issubdtype(bg.dtype, np.number) or not ((bg >= 0) & (bg <= 255)).all():
                raise ValueError(f"background must be 3 numbers in [0, 255] (RGB) or None, got {background!r}")
            background = tuple(int(round(float(v))) for v in bg)
        self.background = background
        self.jpsq_config = jpsq_config
        self.profile_memory = profile_memory
        self._t_max = t_max

    def __repr__(self) -> str:
        return (f"GSemCom(backend={getattr(self.backend, 'name', '?')!r}, xi={self.xi}, "
                f"binarize={self.binarize}, cluster={self.cluster}, steps="
                f"{self.config.generation_steps}/{self.config.decode_steps})")

    def with_options(self, **changes) -> GSemCom:
        """A copy with some options changed, e.g. ``gs.with_options(cluster=False)`` or ``xi=(0.8,)``.

        Keys are the constructor's keyword arguments, plus ``xi``, ``decode_steps`` and
        ``generation_steps``, which replace those fields of ``config``.
        """
        cfg_fields = {k: changes.pop(k) for k in ("xi", "decode_steps", "generation_steps") if k in changes}
        if "xi" in cfg_fields and isinstance(cfg_fields["xi"], numbers.Real):
            cfg_fields["xi"] = (cfg_fields["xi"],)
        current = {
            "config": self.config, "binarize": self.binarize, "cluster": self.cluster,
            "ranking_xi": self._ranking_xi_arg,
            "guidance_scale": self.guidance_scale, "latent_mask": self.latent_mask, "fill": self.fill,
            "strength": self.strength, "background": self.background,
            "t_max": self._t_max, "jpsq_config": self.jpsq_config, "profile_memory": self.profile_memory,
        }
        unknown = set(changes) - set(current)
        if unknown:
            raise TypeError(f"unknown option(s): {sorted(unknown)}")
        current.update(changes)
        if cfg_fields:
            current["config"] = dataclasses.replace(current["config"], **cfg_fields)
        return GSemCom(self.backend, **current)

    # ------------------------------------------------------------------ properties of the backend
    @property
    def inpaint_schedule(self) -> int:
        """``num_inference_steps`` given to the inpainting pipeline: ``ceil(decode_steps / strength)``.

        Diffusers skips the first ``1 - strength`` of the schedule, so the user's decoder runs
        ``int(inpaint_schedule * strength) == decode_steps`` UNet steps whatever the strength.
        """
        n = self.config.decode_steps
        return n if self.strength == 1.0 else int(np.ceil(n / self.strength - 1e-9))

    @property
    def image_shape(self) -> tuple[int, int]:
        """(H, W) of the backend's images."""
        size = getattr(self.backend, "image_size", None)
        if size is None:
            pipe = self.backend.pipe
            size = int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)
        return (size, size) if isinstance(size, numbers.Integral) else tuple(size)

    @property
    def t_max(self) -> float:
        """Upper distance bound of Eq. 18: the value passed in, or the backend's calibrated one."""
        if self._t_max is None:
            from .calibration import load_t_max

            self._t_max = load_t_max(getattr(self.backend, "name", None))
        return self._t_max

    def _generator(self, seed: int):
        import torch

        return torch.Generator(device="cpu").manual_seed(int(seed))

    def _profiler(self) -> _Profiler:
        return _Profiler(getattr(self.backend, "device", None), memory=self.profile_memory)

    # ------------------------------------------------------------------------------- MASP side
    def generate(self, prompt: str, seed: int = 0) -> Generation:
        """Generate the source image while recording cross-attention (Eq. 2-6): stage 'generation'.

        Parameters
        ----------
        prompt : str
            The user's prompt.
        seed : int
            Seed of the initial latent noise.

        Returns
        -------
        Generation
        """
        from .attention import AttentionStore

        prompt, seed = _check_prompt(prompt), _check_seed(seed)
        h, w = self.image_shape
        prof = self._profiler()
        with prof.stage("generation"):
            with AttentionStore(self.backend.pipe, keep_steps=False) as store:  # Eq. 7 needs only the sum
                out = self.backend.pipe(
                    prompt, height=h, width=w, num_inference_steps=self.config.generation_steps,
                    guidance_scale=self.guidance_scale, generator=self._generator(seed), output_type="np",
                )
            source = _to_uint8(out.images)
        return Generation(prompt, seed, source, store, prof.seconds["generation"],
                          prof.cpu_seconds["generation"], prof.peak_mb.get("generation"))

    def extract(self, generation: Generation, budget=None) -> Encoded:
        """Extract and pack the semantic information of a generation (Algorithm 1, Eq. 7-14).

        Parameters
        ----------
        generation : Generation
            From :meth:`generate`; one generation can be extracted with several settings.
        budget : float, optional
            Bandwidth available, in units of the pixel cost ``O`` (pixels at O = 1); None sends
            every segment pixel. Must be > 0.

        Returns
        -------
        Encoded
        """
        from .attention import binarize as binarize_map

        if not isinstance(generation, Generation):
            raise TypeError(f"generation must be a Generation from GSemCom.generate, got {type(generation).__name__}")
        n_budget = self._budget_pixels(budget)
        prompt, source = generation.prompt, generation.source
        h, w = source.shape[:2]
        prof = self._profiler()
        with prof.stage("extraction"):
            dec = deconstruct(prompt)
            # one map per distinct kept word; a repeated word sums its occurrences (Eq. 7)
            raw = generation.store.word_maps(prompt, words=list(dec.words), size=(h, w), spans=dec.spans)
            maps = {word: np.asarray(raw[word], dtype=np.float64) for word in dict.fromkeys(dec.words)}

            def binary(word: str, xi: float) -> np.ndarray:
                if not self.binarize:
                    return maps[word] > 0  # the raw map: every pixel with attention
                return np.asarray(binarize_map(maps[word], xi), dtype=bool)

            D = iou_matrix([binary(wd, self.ranking_xi) for wd in dec.words])
            s = importance(dec.C_star, D)
            order = tuple(int(k) for k in np.argsort(-s, kind="stable"))
            words = tuple(dec.words[k] for k in order)
            xis = xi_per_rank(self.xi, len(words))
            binary_maps = tuple(binary(wd, x) for wd, x in zip(words, xis))
            cfg = self.config
            if self.cluster:
                clean = tuple(
                    clean_mask(b, eps=cfg.dbscan_eps, min_samples=cfg.dbscan_min_samples,
                               min_cluster_size=cfg.min_cluster_size)
                    for b in binary_maps
                )
            else:
                clean = binary_maps
            segments = tuple(disjoint_segments(list(clean)))
        with prof.stage("packing"):
            packet = pack(source, list(segments), n_budget, prompt=prompt)
            packet.to_bytes()  # the encoded size is part of packing (cached by the packet)
        timings = {"generation": generation.seconds, **prof.seconds}
        cpu = {"generation": generation.cpu_seconds, **prof.cpu_seconds}
        peak = {"generation": generation.peak_mb, **prof.peak_mb} if self.profile_memory else {}
        return Encoded(prompt, generation.seed, source, maps, dec, D, s, order, words, xis, binary_maps,
                       clean, segments, packet, timings, cpu, peak)

    def encode(self, prompt: str, seed: int = 0, *, budget=None) -> Encoded:
        """MASP side of Algorithm 1: generate, extract and pack. ``generate`` then ``extract``.

        Parameters
        ----------
        prompt : str
        seed : int
            Seed of the generation.
        budget : float, optional
            Bandwidth in units of O (pixels at O = 1), > 0; None sends all segment pixels.

        Returns
        -------
        Encoded
        """
        return self.extract(self.generate(prompt, seed), budget=budget)

    def _budget_pixels(self, budget) -> int | None:
        if budget is None:
            return None
        if isinstance(budget, bool) or not isinstance(budget, numbers.Real):
            raise TypeError(f"budget must be a number (pixels at O = 1) or None, got {type(budget).__name__}")
        if not np.isfinite(budget) or budget <= 0:
            raise ValueError(f"budget must be a finite number > 0 (pixels at O = 1) or None, got {budget!r}")
        return int(budget // self.config.pixel_cost)

    # -------------------------------------------------------------------------------- user side
    def decode(self, packet: Packet, *, seed: int = 0) -> np.ndarray:
        """The user's generative decoder (Sec. IV-D): inpaint the pixels that were not received.

        Runs the backend's inpainting pipeline for ``config.decode_steps`` steps with the packet's
        prompt as the condition, the received pixels as the known image and the missing ones as the
        mask, then puts the received pixels back unchanged.

        Parameters
        ----------
        packet : Packet
            The received packet (RGB, the backend's image size).
        seed : int
            Seed of the user's sampler noise.

        Returns
        -------
        ndarray of uint8, shape (H, W, 3)
            The recovered image ``g1``; equal to the packet's pixels where ``packet.mask`` is True.
        """
        return self._decode(packet, seed=seed)[0]

    def fill_image(self, packet: Packet) -> np.ndarray:
        """The image the user's decoder starts from: received pixels, the rest filled per ``fill``.

        Parameters
        ----------
        packet : Packet
            The received packet.

        Returns
        -------
        ndarray of uint8, shape (H, W, 3)
            Equal to the packet's pixels where ``packet.mask`` is True.
        """
        if not isinstance(packet, Packet):
            raise TypeError(f"packet must be a gsemlab.packing.Packet, got {type(packet).__name__}")
        return _filled(packet, self.fill, self.background)

    def _decode(self, packet: Packet, *, seed: int, prompt: str | None = None):
        import PIL.Image

        if not isinstance(packet, Packet):
            raise TypeError(f"packet must be a gsemlab.packing.Packet, got {type(packet).__name__}")
        seed = _check_seed(seed)
        prompt = _check_prompt(packet.prompt if prompt is None else prompt)
        h, w, c = packet.shape
        if c != 3:
            raise ValueError(f"packet must carry RGB pixels (3 channels), got {c}")
        if (h, w) != self.image_shape:
            raise ValueError(f"packet must be {self.image_shape} pixels for this backend, got {(h, w)}")
        known = packet.mask
        repaint = ~known
        if self.latent_mask == "cover":
            repaint = _cover(repaint, int(self.backend.inpaint.vae_scale_factor))
        prof = self._profiler()
        with prof.stage("decoding"):
            out = self.backend.inpaint(
                prompt=prompt,
                image=PIL.Image.fromarray(self.fill_image(packet)),
                mask_image=PIL.Image.fromarray(repaint.astype(np.uint8) * 255),  # 2-D uint8: mode "L"
                height=h, width=w, strength=self.strength, num_inference_steps=self.inpaint_schedule,
                guidance_scale=self.guidance_scale, generator=self._generator(seed), output_type="np",
            )
            image = _to_uint8(out.images)
            image[known] = packet.pixels  # the user keeps what it received
        return image, prof

    def receive(self, data, prompt: str, *, seed: int = 0) -> Reception:
        """Parse received bytes and decode them; fall back to prompt-only inpainting when damaged.

        Parameters
        ----------
        data : bytes-like or None
            What arrived: ``Packet.to_bytes()`` after the channel, or None when nothing arrived.
        prompt : str
            The user's own copy of the prompt it sent to the MASP (used when the packet is lost).
        seed : int
            Seed of the user's sampler noise.

        Returns
        -------
        Reception
            ``fallback`` is True, and ``error`` says why, when the packet was lost or failed its
            checks (CRC-32, structure): the image is then the fully masked baseline, never garbage.
        """
        prompt = _check_prompt(prompt)
        error = None
        packet = None
        if data is None:
            error = "packet lost"
        else:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError(f"data must be bytes-like or None, got {type(data).__name__}")
            try:
                packet = Packet.from_bytes(data)
                h, w, c = packet.shape
                if c != 3 or (h, w) != self.image_shape or not packet.prompt.strip():
                    raise PacketError(f"packet of shape {packet.shape} with prompt {packet.prompt!r} does not fit "
                                      f"this backend's {self.image_shape} RGB images")
            except PacketError as err:
                error, packet = str(err), None
        if packet is None:
            packet = self._empty_packet(prompt)
            image, prof = self._decode(packet, seed=seed)
            return Reception(image, None, True, error, prof.seconds["decoding"], prof.cpu_seconds["decoding"],
                             prof.peak_mb.get("decoding"))
        image, prof = self._decode(packet, seed=seed)
        return Reception(image, packet, False, None, prof.seconds["decoding"], prof.cpu_seconds["decoding"],
                         prof.peak_mb.get("decoding"))

    def _empty_packet(self, prompt: str) -> Packet:
        h, w = self.image_shape
        return Packet(mask=np.zeros((h, w), bool), pixels=np.zeros((0, 3), np.uint8), prompt=prompt)

    # ------------------------------------------------------------------------------ evaluation
    def score(self, source, recovered) -> tuple[float, float, float]:
        """Distance (Eq. 15), quality (Eq. 16) and JPSQ (Eq. 17-18) of a recovered image.

        Parameters
        ----------
        source, recovered : ndarray of uint8, shape (H, W, 3)

        Returns
        -------
        (distance, quality, jpsq) : tuple of float
        """
        d = float(self.backend.distance(source, recovered))
        q = float(self.backend.quality(recovered))
        cfg = self.jpsq_config
        j = float(_jpsq.jpsq(d, q, self.t_max, omega0=cfg.omega0, q_th=cfg.q_th, t_min=cfg.t_min))
        return d, q, j

    def _result(self, method, gen: Generation, recovered, *, pixels_sent, bytes_sent, timings, cpu, peak,
                fallback=False, encoded=None, extra=None) -> Transmission:
        d, q, j = self.score(gen.source, recovered)
        h, w = gen.source.shape[:2]
        return Transmission(method, gen.prompt, gen.seed, gen.source, recovered, int(pixels_sent), h * w,
                            int(bytes_sent), d, q, j, timings, cpu, peak, fallback, encoded, extra or {})

    def _generation(self, prompt, seed, generation) -> Generation:
        if generation is None:
            return self.generate(prompt, seed)
        if not isinstance(generation, Generation):
            raise TypeError(f"generation must be a Generation or None, got {type(generation).__name__}")
        if generation.prompt != prompt or generation.seed != seed:
            raise ValueError(
                f"generation was made for ({generation.prompt!r}, seed {generation.seed}), "
                f"not for ({prompt!r}, seed {seed})"
            )
        return generation

    def transmit(self, prompt: str, budget=None, *, seed: int = 0, channel: Callable | None = None,
                 generation: Generation | None = None) -> Transmission:
        """G-SemCom for one user: encode at the MASP, send, decode at the user, score.

        Parameters
        ----------
        prompt : str
        budget : float, optional
            Bandwidth in units of O (pixels at O = 1), > 0; None sends all segment pixels.
        seed : int
            Seed of the MASP's generation; the user's noise uses :func:`user_seed` of it.
        channel : callable, optional
            ``channel(bytes) -> bytes or None`` applied to the packet's bytes, e.g.
            ``functools.partial(gsemlab.channel.bsc, p=1e-4, rng=0)``; None is a perfect link.
        generation : Generation, optional
            A generation of the same prompt and seed to reuse (skips the generation stage).

        Returns
        -------
        Transmission
            ``method="gsemcom"``; ``fallback`` tells whether the packet was damaged.
        """
        prompt, seed = _check_prompt(prompt), _check_seed(seed)
        if channel is not None and not callable(channel):
            raise TypeError(f"channel must be callable or None, got {type(channel).__name__}")
        gen = self._generation(prompt, seed, generation)
        enc = self.extract(gen, budget=budget)
        data = enc.packet.to_bytes()
        received = data if channel is None else channel(data)
        rec = self.receive(received, prompt, seed=user_seed(seed))
        timings = {**enc.timings, "decoding": rec.seconds}
        cpu = {**enc.cpu_timings, "decoding": rec.cpu_seconds}
        peak = {**enc.peak_mb, "decoding": rec.peak_mb} if self.profile_memory else {}
        return self._result("gsemcom", gen, rec.image, pixels_sent=enc.packet.n_pixels, bytes_sent=len(data),
                            timings=timings, cpu=cpu, peak=peak, fallback=rec.fallback, encoded=enc,
                            extra={"error": rec.error} if rec.fallback else {})

    # ------------------------------------------------------------------------------- baselines
    def traditional(self, prompt: str, seed: int = 0, *, jpeg_quality: int = 75,
                    generation: Generation | None = None) -> Transmission:
        """Traditional mobile AIGC: the MASP sends the whole source image.

        Parameters
        ----------
        prompt : str
        seed : int
        jpeg_quality : int
            JPEG quality (1-95) of the size comparison.
        generation : Generation, optional
            Reuse a generation of the same prompt and seed.

        Returns
        -------
        Transmission
            ``pixels_sent = H * W``; ``bytes_sent`` is the PNG size; ``extra`` holds ``png_bytes``
            and ``jpeg_bytes``.
        """
        prompt, seed = _check_prompt(prompt), _check_seed(seed)
        gen = self._generation(prompt, seed, generation)
        png, jpg = len(png_bytes(gen.source)), len(jpeg_bytes(gen.source, quality=jpeg_quality))
        h, w = gen.source.shape[:2]
        return self._result("traditional", gen, gen.source.copy(), pixels_sent=h * w, bytes_sent=png,
                            timings={"generation": gen.seconds}, cpu={"generation": gen.cpu_seconds},
                            peak={"generation": gen.peak_mb} if self.profile_memory else {},
                            extra={"png_bytes": png, "jpeg_bytes": jpg, "jpeg_quality": jpeg_quality})

    def local_aigc(self, prompt: str, seed: int = 0, *, generation: Generation | None = None) -> Transmission:
        """Local AIGC: the user generates from the prompt alone with ``decode_steps`` steps.

        The source (for the distance) is the MASP's generation with ``seed``; the user's own
        generation uses :func:`user_seed` of it.

        Returns
        -------
        Transmission
            ``pixels_sent = 0``, ``bytes_sent = 0``; ``timings["decoding"]`` is the user's generation.
        """
        prompt, seed = _check_prompt(prompt), _check_seed(seed)
        gen = self._generation(prompt, seed, generation)
        h, w = self.image_shape
        prof = self._profiler()
        with prof.stage("decoding"):
            out = self.backend.pipe(
                prompt, height=h, width=w, num_inference_steps=self.config.decode_steps,
                guidance_scale=self.guidance_scale, generator=self._generator(user_seed(seed)), output_type="np",
            )
            image = _to_uint8(out.images)
        return self._result("local_aigc", gen, image, pixels_sent=0, bytes_sent=0, timings=dict(prof.seconds),
                            cpu=dict(prof.cpu_seconds), peak=dict(prof.peak_mb))

    def fully_masked(self, prompt: str, seed: int = 0, *, generation: Generation | None = None) -> Transmission:
        """Fully masked baseline: the user inpaints the whole image from the prompt only.

        Returns
        -------
        Transmission
            ``pixels_sent = 0``; ``bytes_sent`` is the size of the prompt-only packet.
        """
        prompt, seed = _check_prompt(prompt), _check_seed(seed)
        gen = self._generation(prompt, seed, generation)
        packet = self._empty_packet(prompt)
        image, prof = self._decode(packet, seed=user_seed(seed))
        return self._result("fully_masked", gen, image, pixels_sent=0, bytes_sent=packet.nbytes,
                            timings=dict(prof.seconds), cpu=dict(prof.cpu_seconds), peak=dict(prof.peak_mb))
