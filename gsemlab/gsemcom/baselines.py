"""The three baselines G-SemCom is compared with (Sec. VI of [G-SemCom], Fig. 10).

* :func:`traditional`: the MASP sends the whole source image (PNG on the wire; JPEG size reported).
* :func:`local_aigc`: nothing is sent; the user generates from its own prompt with ``decode_steps``.
* :func:`fully_masked`: only the prompt is sent; the user inpaints the whole image.

Each takes the MASP's :class:`~gsemlab.gsemcom.results.Generation` (the source the distance is
measured against) and a ``score(source, recovered) -> (distance, quality, jpsq)`` function, and
returns a :class:`~gsemlab.gsemcom.results.Transmission`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..packing import jpeg_bytes, png_bytes
from ..profiling import Profiler
from .decoder import empty_packet, user_seed
from .results import Generation, Transmission

__all__ = ["fully_masked", "local_aigc", "traditional", "transmission"]


def transmission(method: str, gen: Generation, recovered: np.ndarray, score: Callable, *, pixels_sent: int,
                 bytes_sent: int, timings: dict, cpu: dict, peak: dict, fallback: bool = False,
                 encoded=None, extra: dict | None = None) -> Transmission:
    """Score a recovered image and record one user's outcome.

    Parameters
    ----------
    method : str
        ``"gsemcom"``, ``"traditional"``, ``"local_aigc"`` or ``"fully_masked"``.
    gen : Generation
        The MASP's generation (its source is ``g0``).
    recovered : ndarray of uint8, shape (H, W, 3)
        The user's image ``g1``.
    score : callable
        ``score(g0, g1) -> (distance, quality, jpsq)`` (Eq. 15-18).
    pixels_sent, bytes_sent : int
        What crossed the link.
    timings, cpu, peak : dict
        Per-stage wall seconds, CPU seconds and peak MiB.
    fallback : bool
        The packet was damaged and the user fell back to prompt-only inpainting.
    encoded : Encoded, optional
        The MASP's intermediate results (G-SemCom only).
    extra : dict, optional
        Method-specific values.

    Returns
    -------
    Transmission
    """
    d, q, j = score(gen.source, recovered)
    h, w = gen.source.shape[:2]
    return Transmission(method, gen.prompt, gen.seed, gen.source, recovered, int(pixels_sent), h * w,
                        int(bytes_sent), d, q, j, timings, cpu, peak, fallback, encoded, extra or {})


def traditional(gen: Generation, score: Callable, *, jpeg_quality: int = 75, profiled: bool = False) -> Transmission:
    """Traditional mobile AIGC: the MASP sends the whole source image.

    Parameters
    ----------
    gen : Generation
        The MASP's generation.
    score : callable
        ``score(g0, g1) -> (distance, quality, jpsq)``.
    jpeg_quality : int
        JPEG quality (1-95) of the size comparison.
    profiled : bool
        Report the generation's peak memory.

    Returns
    -------
    Transmission
        ``pixels_sent = H * W``; ``bytes_sent`` is the PNG size; ``extra`` holds ``png_bytes``,
        ``jpeg_bytes`` and ``jpeg_quality``.
    """
    png, jpg = len(png_bytes(gen.source)), len(jpeg_bytes(gen.source, quality=jpeg_quality))
    h, w = gen.source.shape[:2]
    return transmission("traditional", gen, gen.source.copy(), score, pixels_sent=h * w, bytes_sent=png,
                        timings={"generation": gen.seconds}, cpu={"generation": gen.cpu_seconds},
                        peak={"generation": gen.peak_mb} if profiled else {},
                        extra={"png_bytes": png, "jpeg_bytes": jpg, "jpeg_quality": jpeg_quality})


def local_aigc(backend, gen: Generation, score: Callable, *, steps: int = 5, guidance_scale: float = 5.0,
               profiler: Profiler | None = None) -> Transmission:
    """Local AIGC: the user generates from the prompt alone with ``steps`` steps.

    The source (for the distance) is the MASP's generation; the user's own generation uses
    :func:`~gsemlab.gsemcom.decoder.user_seed` of its seed.

    Parameters
    ----------
    backend : gsemlab.models.Backend
        The user's generator (``backend.generate``).
    gen : Generation
        The MASP's generation.
    score : callable
        ``score(g0, g1) -> (distance, quality, jpsq)``.
    steps : int
        The user's denoising steps (Sec. VI: 5, like the decoder).
    guidance_scale : float
        Classifier-free guidance of the user's generation.
    profiler : gsemlab.profiling.Profiler, optional
        Records the stage ``decoding``.

    Returns
    -------
    Transmission
        ``pixels_sent = 0``, ``bytes_sent = 0``; ``timings["decoding"]`` is the user's generation.
    """
    prof = Profiler() if profiler is None else profiler
    with prof.stage("decoding"):
        image, _ = backend.generate(gen.prompt, user_seed(gen.seed), steps=steps, guidance_scale=guidance_scale)
    return transmission("local_aigc", gen, image, score, pixels_sent=0, bytes_sent=0, timings=dict(prof.seconds),
                        cpu=dict(prof.cpu_seconds), peak=dict(prof.peak_mb))


def fully_masked(gen: Generation, score: Callable, decode: Callable, shape: tuple[int, int]) -> Transmission:
    """Fully masked baseline: the user inpaints the whole image from the prompt only.

    Parameters
    ----------
    gen : Generation
        The MASP's generation.
    score : callable
        ``score(g0, g1) -> (distance, quality, jpsq)``.
    decode : callable
        ``decode(packet, seed) -> (image, profiler)``: the user's decoder.
    shape : (int, int)
        (H, W) of the images.

    Returns
    -------
    Transmission
        ``pixels_sent = 0``; ``bytes_sent`` is the size of the prompt-only packet.
    """
    packet = empty_packet(gen.prompt, shape)
    image, prof = decode(packet, user_seed(gen.seed))
    return transmission("fully_masked", gen, image, score, pixels_sent=0, bytes_sent=packet.nbytes,
                        timings=dict(prof.seconds), cpu=dict(prof.cpu_seconds), peak=dict(prof.peak_mb))
