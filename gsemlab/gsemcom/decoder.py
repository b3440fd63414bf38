"""The user side of G-SemCom (Sec. IV-D): inpaint every pixel that was not received.

The user runs the inpainting pipeline for ``decode_steps`` (5) steps with the packet's prompt as the
condition, the received pixels as the known image and the missing ones as the mask, then keeps the
received pixels as they are (:func:`decode`); a damaged or lost packet falls back to prompt-only
inpainting (:func:`receive`).

Readings of the paper where it is silent (chapter 7 discusses them)
-------------------------------------------------------------------
* **Known pixels.** The user received them exactly, so they are pasted back into the decoded image
  (the VAE round trip would blur them otherwise). The mask given to diffusers marks a latent cell
  for repainting when any pixel of its ``f x f`` block (``f`` = the VAE's scale factor) is missing
  (``latent_mask="cover"``, default: :func:`repaint_mask`), so that no known latent is a block of
  fill values; with ``latent_mask="nearest"`` the pixel mask goes to diffusers unchanged and
  diffusers samples it with nearest-neighbour interpolation (one pixel per block decides).
* **What the missing pixels start from** (:func:`fill_image`). Each hole of the received image is
  filled with one colour, the median of the received pixels around it; the hole around the objects
  is background and takes the colour of the received border pixels, or the backend's prior
  background when none arrived (``fill="ring"``). The decoder then runs its 5 steps from 5/6 of the
  way down the noise schedule (``strength=0.9``) instead of from pure noise, so the fill decides the
  colour of what is regenerated and the prompt its content.
* **Seeds.** The MASP generates with ``seed``; the user's sampler noise (inpainting and the local
  AIGC baseline) uses :func:`user_seed` of it, a different stream, as a real user would.
* **Damaged packets.** The user sent the prompt to the MASP, so it still knows the prompt when the
  packet is lost or fails its CRC: :func:`receive` then falls back to prompt-only inpainting (the
  fully masked baseline) and flags the result.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

from ..checks import check_prompt, check_seed, to_uint8
from ..config import DecoderOptions
from ..packing import Packet, PacketError
from ..profiling import Profiler
from .results import Reception

__all__ = [
    "border_pixels",
    "cover_blocks",
    "decode",
    "empty_packet",
    "fill_image",
    "inpaint_schedule",
    "receive",
    "repaint_mask",
    "resolve_options",
    "user_seed",
]


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
    seed = check_seed(seed)
    return int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])


def border_pixels(a: np.ndarray) -> np.ndarray:
    """The outermost rows and columns of an (H, W, ...) array, each pixel once.

    Parameters
    ----------
    a : ndarray, shape (H, W, ...)

    Returns
    -------
    ndarray, shape (2 W + 2 (H - 2), ...)
        Top row, bottom row, then the left and right columns without the corners.
    """
    return np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])


def cover_blocks(marked: np.ndarray, f: int) -> np.ndarray:
    """Mark every pixel of an ``f x f`` block when any pixel of the block is marked (block max-pool).

    Parameters
    ----------
    marked : ndarray of bool, shape (H, W)
    f : int
        Block side in pixels (the VAE's scale factor), >= 1.

    Returns
    -------
    ndarray of bool, shape (H, W)
    """
    h, w = marked.shape
    hb, wb = -(-h // f), -(-w // f)
    padded = np.zeros((hb * f, wb * f), dtype=bool)
    padded[:h, :w] = marked
    blocks = padded.reshape(hb, f, wb, f).any(axis=(1, 3))  # (hb, wb)
    return np.repeat(np.repeat(blocks, f, axis=0), f, axis=1)[:h, :w]


def repaint_mask(known: np.ndarray, factor: int, latent_mask: str = "cover") -> np.ndarray:
    """The inpainting mask (True = regenerate) of a received pixel mask.

    Parameters
    ----------
    known : ndarray of bool, shape (H, W)
        True where a pixel was received.
    factor : int
        The VAE's scale factor (pixels per latent cell along a side).
    latent_mask : {"cover", "nearest"}
        ``"cover"``: a whole ``factor x factor`` block is repainted when any of its pixels is missing
        (:func:`cover_blocks`); ``"nearest"``: the missing pixels, left to diffusers' resampling.

    Returns
    -------
    ndarray of bool, shape (H, W)
    """
    repaint = ~np.asarray(known, dtype=bool)
    return cover_blocks(repaint, int(factor)) if latent_mask == "cover" else repaint


def fill_image(packet: Packet, fill="ring", background=None) -> np.ndarray:
    """The received image with its missing pixels filled: what the user's decoder starts from.

    Parameters
    ----------
    packet : Packet
        The received packet.
    fill : {"ring", "nearest"} or int
        ``"ring"``: each 4-connected hole takes one colour, the per-channel median of the received
        pixels that share an edge with it; a hole that touches the image's border is background, and
        takes the median of the received pixels on the border, or ``background`` when none was
        received (the ring median when ``background`` is None too). ``"nearest"``: the nearest
        received pixel (Euclidean distance transform). An int: that grey level.
    background : sequence of 3 ints, optional
        RGB guess of the background for ``"ring"``.

    Returns
    -------
    ndarray of uint8, shape (H, W, C)
        Equal to the packet's pixels where ``packet.mask`` is True. With nothing received:
        ``background`` for ``"ring"`` when given, else grey 128.
    """
    if not isinstance(packet, Packet):
        raise TypeError(f"packet must be a gsemlab.packing.Packet, got {type(packet).__name__}")
    if fill not in ("nearest", "ring"):
        return packet.image(fill=fill)
    known = packet.mask
    if not known.any():
        return packet.image(fill=background if fill == "ring" and background is not None else 128)
    img = packet.image(fill=0)
    if fill == "nearest":
        _, (iy, ix) = ndimage.distance_transform_edt(~known, return_indices=True)
        return img[iy, ix]
    holes, n = ndimage.label(~known)  # 4-connected holes
    edge_known = border_pixels(known)
    # one background colour for every hole that reaches the border
    edge_colour = np.median(border_pixels(img)[edge_known], axis=0) if edge_known.any() else background
    on_edge = set(np.unique(border_pixels(holes)).tolist()) - {0}
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


def inpaint_schedule(decode_steps: int, strength: float) -> int:
    """``num_inference_steps`` given to the inpainting pipeline: ``ceil(decode_steps / strength)``.

    Diffusers skips the first ``1 - strength`` of the schedule, so the decoder runs
    ``int(inpaint_schedule * strength) == decode_steps`` UNet steps whatever the strength.

    Parameters
    ----------
    decode_steps : int
        UNet steps the decoder must run (Sec. VI: 5).
    strength : float in (0, 1]
        Share of the schedule that is run.

    Returns
    -------
    int
    """
    return decode_steps if strength == 1.0 else int(np.ceil(decode_steps / strength - 1e-9))


def resolve_options(backend, options: DecoderOptions | None = None) -> DecoderOptions:
    """Decoder options with the backend-dependent defaults filled in: strength and background.

    Parameters
    ----------
    backend : gsemlab.models.Backend
        Its inpainting UNet's input channels decide the strength (9, a dedicated inpainting UNet
        trained from pure noise: 1.0; otherwise 0.9), and its ``background`` the prior background.
    options : DecoderOptions, optional
        Options whose ``strength`` or ``background`` may be None; default ``DecoderOptions()``.

    Returns
    -------
    DecoderOptions
        With ``strength`` a number and ``background`` the backend's when it was None.
    """
    options = DecoderOptions() if options is None else options
    if not isinstance(options, DecoderOptions):
        raise TypeError(f"options must be a DecoderOptions, got {type(options).__name__}")
    changes = {}
    if options.strength is None:
        unet = getattr(getattr(backend, "inpaint", None), "unet", None)
        channels = getattr(getattr(unet, "config", None), "in_channels", 4)
        changes["strength"] = 1.0 if channels == 9 else 0.9
    if options.background is None and getattr(backend, "background", None) is not None:
        changes["background"] = backend.background
    return dataclasses.replace(options, **changes) if changes else options


def empty_packet(prompt: str, shape: tuple[int, int]) -> Packet:
    """A packet with no pixel, only the prompt: what prompt-only inpainting receives.

    Parameters
    ----------
    prompt : str
    shape : (int, int)
        (H, W) of the image.
    """
    return Packet(mask=np.zeros(shape, bool), pixels=np.zeros((0, 3), np.uint8), prompt=prompt)


def decode(backend, packet: Packet, *, seed: int = 0, steps: int = 5, options: DecoderOptions | None = None,
           prompt: str | None = None, profiler: Profiler | None = None) -> np.ndarray:
    """The user's generative decoder (Sec. IV-D): inpaint the pixels that were not received.

    Parameters
    ----------
    backend : gsemlab.models.Backend
        Provides ``inpaint`` (a diffusers inpainting pipeline) and ``image_size``.
    packet : Packet
        The received packet (RGB, the backend's image size).
    seed : int
        Seed of the user's sampler noise.
    steps : int
        UNet steps of the decoder (Sec. VI: 5).
    options : DecoderOptions, optional
        Fill, latent mask, strength, background and guidance; defaults filled in by
        :func:`resolve_options`.
    prompt : str, optional
        The condition; default the packet's prompt.
    profiler : gsemlab.profiling.Profiler, optional
        Records the stage ``decoding``.

    Returns
    -------
    ndarray of uint8, shape (H, W, 3)
        The recovered image ``g1``; equal to the packet's pixels where ``packet.mask`` is True.
    """
    import PIL.Image
    import torch

    if not isinstance(packet, Packet):
        raise TypeError(f"packet must be a gsemlab.packing.Packet, got {type(packet).__name__}")
    seed = check_seed(seed)
    prompt = check_prompt(packet.prompt if prompt is None else prompt)
    h, w, c = packet.shape
    if c != 3:
        raise ValueError(f"packet must carry RGB pixels (3 channels), got {c}")
    size = (backend.image_size, backend.image_size)
    if (h, w) != size:
        raise ValueError(f"packet must be {size} pixels for this backend, got {(h, w)}")
    options = resolve_options(backend, options)
    known = packet.mask
    repaint = repaint_mask(known, int(backend.inpaint.vae_scale_factor), options.latent_mask)
    prof = Profiler() if profiler is None else profiler
    with prof.stage("decoding"):
        out = backend.inpaint(
            prompt=prompt,
            image=PIL.Image.fromarray(fill_image(packet, options.fill, options.background)),
            mask_image=PIL.Image.fromarray(repaint.astype(np.uint8) * 255),  # 2-D uint8: mode "L"
            height=h, width=w, strength=options.strength,
            num_inference_steps=inpaint_schedule(steps, options.strength),
            guidance_scale=options.guidance_scale, generator=torch.Generator(device="cpu").manual_seed(seed),
            output_type="np",
        )
        image = to_uint8(out.images)
        image[known] = packet.pixels  # the user keeps what it received
    return image


def receive(backend, data, prompt: str, *, seed: int = 0, steps: int = 5, options: DecoderOptions | None = None,
            profiler_factory=Profiler) -> Reception:
    """Parse received bytes and decode them; fall back to prompt-only inpainting when damaged.

    Parameters
    ----------
    backend : gsemlab.models.Backend
    data : bytes-like or None
        What arrived: ``Packet.to_bytes()`` after the channel, or None when nothing arrived.
    prompt : str
        The user's own copy of the prompt it sent to the MASP (used when the packet is lost).
    seed : int
        Seed of the user's sampler noise.
    steps : int
        UNet steps of the decoder.
    options : DecoderOptions, optional
        The decoder's options (see :func:`decode`).
    profiler_factory : callable
        Makes the :class:`~gsemlab.profiling.Profiler` of the decoding stage.

    Returns
    -------
    Reception
        ``fallback`` is True, and ``error`` says why, when the packet was lost or failed its
        checks (CRC-32, structure): the image is then the fully masked baseline, never garbage.
    """
    prompt = check_prompt(prompt)
    size = (backend.image_size, backend.image_size)
    error, packet = None, None
    if data is None:
        error = "packet lost"
    else:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes-like or None, got {type(data).__name__}")
        try:
            packet = Packet.from_bytes(data)
            h, w, c = packet.shape
            if c != 3 or (h, w) != size or not packet.prompt.strip():
                raise PacketError(f"packet of shape {packet.shape} with prompt {packet.prompt!r} does not fit "
                                  f"this backend's {size} RGB images")
        except PacketError as err:
            error, packet = str(err), None
    fallback = packet is None
    if fallback:
        packet = empty_packet(prompt, size)
    prof = profiler_factory()
    image = decode(backend, packet, seed=seed, steps=steps, options=options, profiler=prof)
    return Reception(image, None if fallback else packet, fallback, error, prof.seconds["decoding"],
                     prof.cpu_seconds["decoding"], prof.peak_mb.get("decoding"))
