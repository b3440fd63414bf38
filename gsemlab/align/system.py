"""Transmission knowledge alignment (T-KA) four ways, with the bundled weights, and their evaluation.

``no-ka``
    The codec pretrained on generic ShapesWorld latents under the pretraining conditions
    (:data:`PRETRAIN_CONDITIONS`), used as it is.
``lora``
    A rank-:data:`RANK` LoRA (peft) on every convolution of the codec, trained on the target subject's
    latents under the deployment conditions.
``cala``
    The same rank, as condition-aware LoRA (:mod:`gsemlab.align.cala`): each rank-1 component weighted
    by a gate of the condition.
``full-ft``
    Every parameter of the codec fine-tuned on the same data.

The target subject is what the edge model was never trained on: ShapesWorld's held-out colour-shape
pairs (``HELD_OUT``: purple triangles and orange stars), whose latents the edge model (the bundled toy
UNet) generates from test-split prompts. The deployment conditions (:data:`DEPLOY_CONDITIONS`) differ
from the pretraining ones in SNR (down to 0 dB) and delay spread (tens to hundreds of ns: strongly
correlated sub-carriers, where the pretraining saw microseconds).
"""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np
import torch

from ..data import DATA_DIR
from ..diffusion.tiny import tensor_to_images
from .cala import ConditionContext, apply_cala, conditions, count_trainable
from .codec import CONV_NAMES, DELAY_SPREADS_S, Condition, LatentJSCC, check_condition

__all__ = ["BUNDLE_DIR", "DEPLOY_CONDITIONS", "METHODS", "PRETRAIN_CONDITIONS", "RANK", "AlignedCodec",
           "evaluate", "load_method", "make_method", "subject_batch"]

#: the bundled weights (``python -m gsemlab.training align-all``)
BUNDLE_DIR = DATA_DIR / "align"
#: the four T-KA methods (module docstring)
METHODS = ("no-ka", "lora", "cala", "full-ft")
#: rank of the LoRA and CALA updates of every convolution
RANK = 2
#: the pretraining's condition distribution: SNR uniform in dB, delay spread log-uniform
PRETRAIN_CONDITIONS = {"snr_db": (10.0, 20.0), "delay_spread_s": (1e-6, 3e-6)}
#: the deployment's (adaptation and test): SNR uniform in dB, delay spread one of DELAY_SPREADS_S
DEPLOY_CONDITIONS = {"snr_db": (0.0, 20.0), "delay_spread_s": DELAY_SPREADS_S}


class AlignedCodec(torch.nn.Module):
    """A codec with one alignment method applied; :meth:`forward` sets the CALA conditions first.

    Parameters
    ----------
    codec : LatentJSCC
        The (wrapped) codec.
    method : str
        One of :data:`METHODS`.
    context : ConditionContext
        The CALA layers' conditions (unused by the other methods).
    """

    def __init__(self, codec: LatentJSCC, method: str, context: ConditionContext):
        super().__init__()
        self.codec, self.method, self.context = codec, method, context

    def forward(self, z: torch.Tensor, cond: Condition, *, generator=None) -> torch.Tensor:
        """Latents (B, 4, 16, 16) sent under ``cond`` and reconstructed."""
        c = torch.tensor([cond.vector()], dtype=torch.float32).expand(z.shape[0], 3)
        with conditions(self.context, c):
            return self.codec(z, cond, generator=generator)

    @property
    def trainable(self) -> int:
        """Parameters the method trains (and would send to the user)."""
        return count_trainable(self.codec)


def make_method(method: str, pretrained_state: dict | None = None) -> AlignedCodec:
    """A fresh codec (pretrained weights if given) with ``method``'s trainable parameters in place.

    The low-rank updates of the codec for T-KA, Eq. 7 of [DeKA-g] (``lora``), and their condition-aware
    form, Eq. 10 of [DeKA-g] (``cala``).

    Parameters
    ----------
    method : str
        One of :data:`METHODS`.
    pretrained_state : dict, optional
        ``state_dict`` of the pretrained :class:`LatentJSCC`.

    Returns
    -------
    AlignedCodec
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    codec = LatentJSCC()
    if pretrained_state is not None:
        codec.load_state_dict(pretrained_state)
    context = ConditionContext()
    if method == "no-ka":
        for p in codec.parameters():
            p.requires_grad_(False)
    elif method == "lora":
        from peft import LoraConfig, inject_adapter_in_model

        for p in codec.parameters():
            p.requires_grad_(False)
        codec = inject_adapter_in_model(LoraConfig(r=RANK, lora_alpha=RANK, target_modules=list(CONV_NAMES),
                                                   lora_dropout=0.0), codec)
    elif method == "cala":
        apply_cala(codec, CONV_NAMES, RANK, context)
    return AlignedCodec(codec, method, context)


@cache
def load_method(method: str) -> AlignedCodec:
    """The bundled codec with ``method``'s bundled weights (``gsemlab/data/align``), in eval mode."""
    from safetensors.torch import load_file

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    path = BUNDLE_DIR / "pretrained.safetensors"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: retrain with `python -m gsemlab.training align-all`")
    model = make_method(method, load_file(str(path)))
    if method != "no-ka":
        delta = load_file(str(BUNDLE_DIR / f"{method}.safetensors"))
        missing = model.codec.load_state_dict(delta, strict=False)
        if missing.unexpected_keys:
            raise ValueError(f"unexpected weights in {method}.safetensors: {missing.unexpected_keys[:3]}")
    return model.eval()


def subject_captions(n: int, seed: int) -> list[str]:
    """Test-split prompts whose scene holds a held-out colour-shape pair (the target subject)."""
    from ..toyworld.world import HELD_OUT, sample_scenes

    out, draw = [], 0
    while len(out) < n:
        for s in sample_scenes(4 * n, seed=seed * 1000 + draw, split="test"):
            if any((o.colour, o.shape) in HELD_OUT for o in s.objects):
                out.append(s.caption)
        draw += 1
    return out[:n]


@lru_cache(maxsize=4)
def subject_batch(n_images: int, seed: int) -> tuple[torch.Tensor, np.ndarray, tuple]:
    """The edge model's latents of the target subject and their decoded images (the targets to deliver).

    Parameters
    ----------
    n_images : int
        How many (one prompt each, :func:`subject_captions`).
    seed : int
        Seed of the prompts and of the generation.

    Returns
    -------
    latents : torch.Tensor
        Scaled latents (n_images, 4, 16, 16) of the bundled toy UNet (10 DDIM steps, guidance 5).
    images : numpy.ndarray of uint8, shape (n_images, 64, 64, 3)
        Their VAE decodings.
    captions : tuple of str
    """
    from ..models import load_backend

    pipe = load_backend("toy", metrics=False, device="cpu").pipe
    captions = subject_captions(n_images, seed)
    g = torch.Generator().manual_seed(10_000 + seed)
    with torch.no_grad():
        lat = pipe(captions, num_inference_steps=10, guidance_scale=5.0, generator=g, output_type="latent").images
        img = pipe.vae.decode(lat / pipe.vae.config.scaling_factor).sample
    return lat, tensor_to_images(img), tuple(captions)


def evaluate(method: str, *, snr_db: float, rate: float, delay_spread_s: float, n_images: int = 64,
             seed: int = 0) -> dict:
    """PSNR, SSIM and ToySim of one T-KA method on the target subject under one condition.

    Parameters
    ----------
    method : {"no-ka", "lora", "cala", "full-ft"}
        The alignment (module docstring).
    snr_db : float
        Average SNR in dB.
    rate : float
        Complex channel uses per pixel, one of :data:`~gsemlab.align.codec.RATES`.
    delay_spread_s : float
        Delay spread of the power delay profile (s, >= 0).
    n_images : int
        Held-out subject images (prompts and generation seeded by ``seed + 1``; adaptation used seed 0).
    seed : int
        Seed of the test images and of the channel.

    Returns
    -------
    dict
        ``psnr_db``, ``ssim``, ``toysim`` (means against the edge model's own images) with standard
        errors ``*_se``, ``trainable`` parameters and the condition.
    """
    from ..models import load_backend
    from ..toyworld.nets import image_scores

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    cond = check_condition(rate, snr_db, delay_spread_s)
    if isinstance(n_images, bool) or not isinstance(n_images, int) or n_images < 2:
        raise ValueError(f"n_images must be an int >= 2, got {n_images!r}")
    model = load_method(method)
    lat, images, _ = subject_batch(n_images, seed + 1)
    vae = load_backend("toy", metrics=False, device="cpu").pipe.vae
    with torch.no_grad():
        z_hat = model(lat, cond, generator=torch.Generator().manual_seed(seed))
        out = vae.decode(z_hat / vae.config.scaling_factor).sample
    return {"method": method, "rate": cond.rate, "snr_db": cond.snr_db, "delay_spread_s": cond.delay_spread_s,
            "n_images": n_images, "trainable": model.trainable, **image_scores(images, tensor_to_images(out))}
