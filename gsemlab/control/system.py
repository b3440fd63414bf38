"""Control maps as the semantic message, end to end ([Control], Sec. IV, Figs. 3-4), with the bundled weights.

:func:`transmit` is the paper's generation-level system on ShapesWorld: the sender generates the
source image from the caption with the bundled toy pipeline, extracts a control map
(:func:`~gsemlab.control.maps.extract`), downscales it by the chosen factor and sends it with the
prompt in the counted wire format of :mod:`~gsemlab.control.wire`; the receiver upsamples the map
and regenerates the content with the bundled ControlNet (``gsemlab/data/control``,
``python -m gsemlab.training control-all``) through diffusers' ``StableDiffusionControlNetPipeline``.
The receiver does not know the sender's noise: it draws its own (seed ``seed + 1``), so that what
it shares with the source is what the prompt and the map carry.

Baselines: :func:`transmit_traditional` (the source as PNG or JPEG bytes) and :func:`transmit_prompt_only`
(local AIGC: the receiver generates from the prompt alone). :func:`quality_metrics` scores a recovered
image against its source: MSE, PSNR and SSIM (scikit-image), the variation of information between
the two images' segmentation maps (scikit-image) and the ToySim distance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np
import torch

from ..checks import check_prompt, check_seed
from ..data import DATA_DIR
from ..diffusion.tiny import tensor_to_images
from ..packing.codecs import decode_image, jpeg_bytes, png_bytes
from .maps import check_factor, check_method, downscale, extract, upscale
from .net import build_controlnet, control_input, controlnet_pipeline
from .wire import pack, unpack

__all__ = ["BUNDLE_DIR", "CODECS", "CONTROL_SCALE", "GUIDANCE", "METRICS", "STEPS", "ControlTransmission", "edge_f1", "generate",
           "load_controlnet", "object_iou", "quality_metrics", "regenerate", "transmit", "transmit_prompt_only",
           "transmit_traditional"]

#: the bundled ControlNet (``python -m gsemlab.training control-all``)
BUNDLE_DIR = DATA_DIR / "control"
#: sampling of every generation here: DDIM steps and classifier-free guidance scale
STEPS, GUIDANCE = 10, 5.0
#: the metrics of :func:`quality_metrics`, and whether higher is better
METRICS = {"mse": False, "psnr_db": True, "ssim": True, "voi": False, "toysim": False}
#: the traditional baseline's codecs
CODECS = ("png", "jpeg")
#: ``controlnet_conditioning_scale`` of the receiver: the weight of the ControlNet's residuals (chosen on
#: the validation split, ``benchmarks/control.py`` records the sweep)
CONTROL_SCALE = 3.0


@dataclass
class ControlTransmission:
    """One message: what was sent, what arrived, what it cost and how good the result is.

    Attributes
    ----------
    caption : str
        The prompt.
    method : str or None
        The control map's method (None for the baselines).
    factor : int or None
        The downscaling factor (None for the baselines).
    source : numpy.ndarray of uint8, shape (64, 64, 3)
        The sender's generated image.
    control : numpy.ndarray of uint8, shape (64, 64) or None
        The full-size control map extracted from the source.
    received_control : numpy.ndarray of uint8, shape (64, 64) or None
        The map the receiver upsampled from the message.
    recovered : numpy.ndarray of uint8, shape (64, 64, 3)
        The receiver's image.
    nbytes : int
        Bytes of the message (header, prompt and map; or the image file; or the prompt alone).
    metrics : dict
        :func:`quality_metrics` of ``recovered`` against ``source``.
    """

    caption: str
    method: str | None
    factor: int | None
    source: np.ndarray
    control: np.ndarray | None
    received_control: np.ndarray | None
    recovered: np.ndarray
    nbytes: int
    metrics: dict = field(default_factory=dict)


def _pipe():
    from ..models import load_backend

    return load_backend("toy", metrics=False, device="cpu").pipe


@cache
def load_controlnet():
    """The bundled ControlNet (all three methods as channels), float32, in eval mode."""
    from safetensors.torch import load_file

    path = BUNDLE_DIR / "controlnet.safetensors"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: retrain with `python -m gsemlab.training control-all`")
    net = build_controlnet(_pipe())
    net.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    return net.eval().requires_grad_(False)


@cache
def _control_pipe():
    return controlnet_pipeline(_pipe(), load_controlnet())


def _captions(captions) -> list[str]:
    if isinstance(captions, str):
        captions = [captions]
    captions = [check_prompt(c, "caption") for c in captions]
    if not captions:
        raise ValueError("captions must not be empty")
    return captions


def generate(captions, seed: int = 0) -> np.ndarray:
    """The sender's images: the bundled toy pipeline, :data:`STEPS` DDIM steps, guidance :data:`GUIDANCE`.

    Parameters
    ----------
    captions : str or list of str
        The prompts (one batch).
    seed : int
        Seed of the batch's initial noise.

    Returns
    -------
    numpy.ndarray of uint8, shape (n, 64, 64, 3)
    """
    captions = _captions(captions)
    g = torch.Generator().manual_seed(check_seed(seed))
    pipe = _pipe()
    with torch.no_grad():
        lat = pipe(captions, num_inference_steps=STEPS, guidance_scale=GUIDANCE, generator=g,
                   output_type="latent").images
        return tensor_to_images(pipe.vae.decode(lat / pipe.vae.config.scaling_factor).sample)


def regenerate(captions, maps: dict | None, seed: int = 1, *, scale: float | None = None) -> np.ndarray:
    """The receiver's images: the ControlNet pipeline on the received maps (or the plain one without maps).

    Parameters
    ----------
    captions : str or list of str
        The prompts.
    maps : dict of str -> numpy.ndarray of uint8, shape (n, 64, 64), or None
        The received, upsampled maps per method (a method not in ``maps`` reads as zeros); None or an
        empty dict generates from the prompt alone with the plain pipeline (local AIGC).
    seed : int
        Seed of the receiver's initial noise.
    scale : float, optional
        Weight of the ControlNet's residuals (default :data:`CONTROL_SCALE`; 1 is as trained).

    Returns
    -------
    numpy.ndarray of uint8, shape (n, 64, 64, 3)
    """
    captions = _captions(captions)
    if scale is None:
        scale = CONTROL_SCALE
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not np.isfinite(scale) or scale < 0:
        raise ValueError(f"scale must be a finite number >= 0, got {scale!r}")
    if not maps:
        return generate(captions, seed)
    control = control_input({m: np.asarray(a) for m, a in maps.items()})
    if control.shape[0] != len(captions):
        raise ValueError(f"maps hold {control.shape[0]} maps per method for {len(captions)} captions")
    g = torch.Generator().manual_seed(check_seed(seed))
    pipe = _control_pipe()
    with torch.no_grad():
        lat = pipe(captions, image=control, num_inference_steps=STEPS, guidance_scale=GUIDANCE, generator=g,
                   controlnet_conditioning_scale=scale, output_type="latent").images
        return tensor_to_images(pipe.vae.decode(lat / pipe.vae.config.scaling_factor).sample)


def quality_metrics(source: np.ndarray, recovered: np.ndarray, *, toysim=None) -> dict:
    """MSE, PSNR, SSIM, variation of information and ToySim of a recovered image against its source.

    The metrics [Control] pairs with its services (Sec. IV-B): MSE and PSNR (data range 255), SSIM
    (scikit-image, colour channels), the variation of information ``H(X|Y) + H(Y|X)`` (bits; scikit-image)
    between the two images' segmentation maps (:func:`~gsemlab.control.maps.extract`, "segmentation"), and
    the ToySim distance (Eq. 15 of [G-SemCom]).

    Parameters
    ----------
    source, recovered : numpy.ndarray of uint8, shape (64, 64, 3)
    toysim : ToySim, optional
        Default the bundled one.

    Returns
    -------
    dict
        ``mse``, ``psnr_db``, ``ssim``, ``voi``, ``toysim`` (floats).
    """
    from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity
    from skimage.metrics import variation_of_information

    a, b = np.asarray(source), np.asarray(recovered)
    if a.shape != (64, 64, 3) or b.shape != a.shape or a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"source and recovered must be uint8 images (64, 64, 3), got {a.dtype} {a.shape} and "
                         f"{b.dtype} {b.shape}")
    mse = float(mean_squared_error(a, b))
    psnr = float(peak_signal_noise_ratio(a, b, data_range=255)) if mse > 0 else float("inf")
    h1, h2 = variation_of_information(extract(a, "segmentation"), extract(b, "segmentation"))
    dist = (toysim or _toysim()).distance(a, b)
    return {"mse": mse, "psnr_db": psnr, "ssim": float(structural_similarity(a, b, channel_axis=2, data_range=255)),
            "voi": float(h1 + h2), "toysim": float(dist)}


@cache
def _toysim():
    from ..toyworld.nets import ToySim

    return ToySim.from_pretrained()


def transmit(caption: str, *, method: str, factor: int, seed: int = 0) -> ControlTransmission:
    """Send one caption's content as its prompt plus a downscaled control map, and regenerate it.

    Parameters
    ----------
    caption : str
        A ShapesWorld caption (the prompt the sender generates from and sends).
    method : {"canny", "segmentation", "depth"}
        The control map.
    factor : {1, 2, 4, 8}
        The downscaling factor (the map's side is ``64 / factor``).
    seed : int
        Seed of the sender's noise; the receiver uses ``seed + 1``.

    Returns
    -------
    ControlTransmission
    """
    caption = check_prompt(caption, "caption")
    method, factor, seed = check_method(method), check_factor(factor), check_seed(seed)
    source = generate(caption, seed)[0]
    control = extract(source, method)
    message = pack(caption, downscale(control, factor, method), method=method, factor=factor)
    got = unpack(message)
    received = upscale(got.control_map, got.factor, got.method)
    recovered = regenerate(got.prompt, {got.method: received[None]}, seed + 1)[0]
    return ControlTransmission(caption, method, factor, source, control, received, recovered, len(message),
                        quality_metrics(source, recovered))


def transmit_traditional(caption: str, *, codec: str = "png", quality: int = 75, seed: int = 0) -> ControlTransmission:
    """The traditional baseline: the source image itself as a PNG or JPEG file (bytes counted).

    Parameters
    ----------
    caption : str
        The caption the sender generates from (not sent).
    codec : {"png", "jpeg"}
        The image file format (PIL; PNG is lossless).
    quality : int
        JPEG quality, 1-95 (ignored for PNG).
    seed : int
        Seed of the sender's noise.

    Returns
    -------
    ControlTransmission
    """
    caption = check_prompt(caption, "caption")
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 95:
        raise ValueError(f"quality must be an int in 1..95, got {quality!r}")
    source = generate(caption, check_seed(seed))[0]
    data = png_bytes(source) if codec == "png" else jpeg_bytes(source, quality)
    recovered = decode_image(data)
    return ControlTransmission(caption, None, None, source, None, None, recovered, len(data),
                        quality_metrics(source, recovered))


def transmit_prompt_only(caption: str, *, seed: int = 0) -> ControlTransmission:
    """Local AIGC: only the prompt travels (UTF-8 bytes) and the receiver generates from it with its own noise.

    Parameters
    ----------
    caption : str
        The prompt.
    seed : int
        Seed of the sender's noise; the receiver uses ``seed + 1``.

    Returns
    -------
    ControlTransmission
    """
    caption = check_prompt(caption, "caption")
    seed = check_seed(seed)
    source = generate(caption, seed)[0]
    recovered = regenerate(caption, None, seed + 1)[0]
    return ControlTransmission(caption, None, None, source, None, None, recovered, len(caption.encode()),
                        quality_metrics(source, recovered))


def object_iou(recovered: np.ndarray, caption: str, segmentation: np.ndarray, *,
               include_absent: bool = False) -> list[float]:
    """IoU of each caption object that `locate` finds in ``recovered`` with its region in a segmentation map.

    The check of [Control]'s claim that the ControlNet follows its control: an object's region in the
    control is its colour's label, its region in the regenerated image what `locate` finds for it.

    Parameters
    ----------
    recovered : numpy.ndarray of uint8, shape (64, 64, 3)
        The regenerated image.
    caption : str
        Its caption.
    segmentation : numpy.ndarray of uint8, shape (64, 64)
        The control's label map (label ``k`` = palette colour ``k - 1``, 0 background).
    include_absent : bool
        Whether caption objects with no region in the control (the source image did not draw them, so
        there is nothing to follow) count too, with IoU 0 when the receiver draws them anywhere.

    Returns
    -------
    list of float
        One IoU per caption object with a colour (only those with a region in the control unless
        ``include_absent``), in caption order; 0 when the regions are disjoint or the receiver draws no
        object of that colour.
    """
    from ..toyworld.locate import locate, parse_caption
    from .maps import SEGMENT_COLOURS

    if not isinstance(include_absent, bool):
        raise TypeError(f"include_absent must be a bool, got {type(include_absent).__name__}")
    objs, _, _ = parse_caption(caption)
    regions = locate(recovered, caption)
    out = []
    for o in objs:
        if o.colour is None:
            continue
        want = np.asarray(segmentation) == SEGMENT_COLOURS.index(o.colour) + 1
        if not want.any() and not include_absent:
            continue
        got = regions.get(o.colour, np.zeros_like(want))
        union = (want | got).sum()
        out.append(float((want & got).sum() / union) if union else 0.0)
    return out


def edge_f1(edges: np.ndarray, reference: np.ndarray, *, tolerance: float = 2.0) -> float:
    """F1 of an edge map against a reference edge map, a pixel matching when within ``tolerance`` pixels.

    Precision: the share of ``edges`` pixels within ``tolerance`` (Euclidean) of a ``reference`` pixel;
    recall: the share of ``reference`` pixels within ``tolerance`` of an ``edges`` pixel; F1 their harmonic
    mean (1 when both maps are empty, 0 when only one is).

    Parameters
    ----------
    edges, reference : numpy.ndarray, shape (H, W)
        Edge maps (non-zero = edge).
    tolerance : float
        Matching distance in pixels (>= 0).

    Returns
    -------
    float
    """
    from scipy import ndimage

    e, r = np.asarray(edges) > 0, np.asarray(reference) > 0
    if e.shape != r.shape or e.ndim != 2:
        raise ValueError(f"edges and reference must be 2-D maps of one shape, got {e.shape} and {r.shape}")
    if not e.any() and not r.any():
        return 1.0
    if not e.any() or not r.any():
        return 0.0
    near_r = ndimage.distance_transform_edt(~r) <= tolerance
    near_e = ndimage.distance_transform_edt(~e) <= tolerance
    precision, recall = (e & near_r).sum() / e.sum(), (r & near_e).sum() / r.sum()
    return float(2 * precision * recall / (precision + recall)) if precision + recall else 0.0

