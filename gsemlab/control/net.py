"""A tiny ControlNet on the bundled toy UNet: the receiver's generator of [Control] (Sec. III-B, Fig. 3).

ControlNet (Zhang et al. 2023, reference [8] of [Control]) keeps the text-to-image UNet locked and adds a
trainable copy of its encoder (down blocks and middle block) that reads a control map. The copy's
outputs enter the locked UNet's skip connections through *zero convolutions* (1 x 1 convolutions whose
weights and biases start at 0), so before training the ControlNet adds exactly nothing and the pipeline
generates what the plain pipeline generates.

:func:`build_controlnet` makes it with diffusers' :meth:`~diffusers.ControlNetModel.from_unet`. The
control map is an image of the full 64 x 64 pixels, the UNet works on 16 x 16 latents (the toy VAE's
factor 4), so the conditioning embedding has :data:`EMBEDDING_CHANNELS` = (8, 16, 32): a 3 x 3 input
convolution and two stride-2 blocks (64 -> 32 -> 16), then a zero convolution to the UNet's first
width. One ControlNet reads every method at once (:func:`control_input`: the maps of
:data:`gsemlab.control.maps.METHODS` stacked as :data:`CONTROL_CHANNELS` channels, a method that is
not sent is all zeros); :func:`training_step` drops methods at random so that the model learns to
follow any one of them alone. ``methods=("depth",)`` builds a one-method ControlNet instead.

:func:`controlnet_pipeline` wraps the bundled components and a ControlNet into diffusers'
:class:`~diffusers.StableDiffusionControlNetPipeline`.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from torch.nn import functional as F

from ..diffusion.process import as_generator, forward_noise
from ..toyworld.world import COLOURS
from .maps import IMAGE_SIDE, METHODS, check_map, check_method

__all__ = ["CONTROL_CHANNELS", "EMBEDDING_CHANNELS", "build_controlnet", "check_methods", "control_input",
           "controlnet_pipeline", "count_parameters", "drop_methods", "training_step", "unet_with_control"]

#: input channels of each method's map: Canny and depth are grey, a segmentation map is painted in its
#: palette colours (RGB), the convention of ControlNet's segmentation models
CONTROL_CHANNELS = {"canny": 1, "segmentation": 3, "depth": 1}
#: channels of the conditioning embedding: len - 1 = 2 stride-2 blocks, the toy VAE's factor 4
EMBEDDING_CHANNELS = (8, 16, 32)
_PALETTE = np.array([(0, 0, 0), *COLOURS.values()], np.float32) / 255.0  # label -> RGB in [0, 1]


def check_methods(methods) -> tuple[str, ...]:
    """Return ``methods`` as a tuple of distinct :data:`~gsemlab.control.maps.METHODS`, in that order.

    Parameters
    ----------
    methods : str or sequence of str
        One method or several (at least one).
    """
    if isinstance(methods, str):
        methods = (methods,)
    try:
        methods = tuple(methods)
    except TypeError as exc:
        raise TypeError(f"methods must be a method name or a sequence of them, got {methods!r}") from exc
    if not methods:
        raise ValueError(f"methods must name at least one of {METHODS}")
    for m in methods:
        check_method(m)
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods must be distinct, got {methods!r}")
    return tuple(m for m in METHODS if m in methods)


def control_input(maps: dict, methods=METHODS) -> torch.Tensor:
    """The ControlNet's input: the maps of ``methods`` as channels in [0, 1].

    Parameters
    ----------
    maps : dict of str -> ndarray of uint8, shape (64, 64) or (B, 64, 64)
        Full-size maps (:func:`~gsemlab.control.maps.extract`, or received and upscaled), one entry per
        method that was sent; a method of ``methods`` missing from ``maps`` is all zeros.
    methods : str or sequence of str
        The methods the ControlNet reads, in the order of :data:`~gsemlab.control.maps.METHODS`.

    Returns
    -------
    torch.Tensor of float32, shape (B, C, 64, 64)
        ``C = sum(CONTROL_CHANNELS[m] for m in methods)``; Canny ``map / 255``, depth ``map / 255``,
        segmentation the label's palette colour (RGB / 255, background black). ``B = 1`` for 2-D maps.
    """
    methods = check_methods(methods)
    if not isinstance(maps, dict) or not maps:
        raise TypeError(f"maps must be a non-empty dict method -> uint8 map, got {type(maps).__name__}")
    unknown = sorted(set(maps) - set(methods))
    if unknown:
        raise ValueError(f"maps has methods {unknown} that this ControlNet does not read "
                         f"(it reads {methods})")
    batch = None
    arrays = {}
    for m, a in maps.items():
        if not isinstance(a, np.ndarray):
            raise TypeError(f"maps[{m!r}] must be a numpy array of uint8, got {type(a).__name__}")
        a = a[None] if a.ndim == 2 else a
        if a.ndim != 3 or (batch is not None and a.shape[0] != batch):
            raise ValueError(f"maps[{m!r}] must have shape (64, 64) or (B, 64, 64) with one B for all, "
                             f"got {a.shape}")
        for one in a:
            check_map(one, m, name=f"maps[{m!r}]")
        batch, arrays[m] = a.shape[0], a
    parts = []
    for m in methods:
        if m not in arrays:
            parts.append(np.zeros((batch, CONTROL_CHANNELS[m], IMAGE_SIDE, IMAGE_SIDE), np.float32))
        elif m == "segmentation":
            parts.append(_PALETTE[arrays[m]].transpose(0, 3, 1, 2))  # (B, 3, 64, 64)
        else:
            parts.append(arrays[m][:, None].astype(np.float32) / 255.0)  # (B, 1, 64, 64)
    return torch.from_numpy(np.ascontiguousarray(np.concatenate(parts, axis=1)))


def _diffusers():
    """diffusers' classes, imported on first use, quietly (its first import logs transformers' notices)."""
    from ..models import quiet_loading

    with quiet_loading():
        from diffusers import ControlNetModel, StableDiffusionControlNetPipeline, UNet2DConditionModel
    return ControlNetModel, StableDiffusionControlNetPipeline, UNet2DConditionModel


def build_controlnet(pipe, *, methods=METHODS, embedding_channels=EMBEDDING_CHANNELS, seed: int = 0):
    """A ControlNet for the pipeline's UNet: a trainable copy of its encoder behind zero convolutions.

    Parameters
    ----------
    pipe : diffusers.StableDiffusionPipeline
        The bundled pipeline (``load_backend("toy").pipe``); its UNet's encoder weights are copied and
        its VAE's scale factor fixes the embedding's downsampling.
    methods : str or sequence of str
        The maps the ControlNet reads; ``conditioning_channels`` is the sum of their
        :data:`CONTROL_CHANNELS` (5 for all three).
    embedding_channels : sequence of int
        Channels of the conditioning embedding; ``2 ** (len - 1)`` must equal the VAE's scale factor.
    seed : int
        Seeds the random initialisation of the conditioning embedding (everything else is copied or 0).

    Returns
    -------
    diffusers.ControlNetModel
        On the UNet's device, in float32.
    """
    methods = check_methods(methods)
    ControlNetModel, _, UNet2DConditionModel = _diffusers()
    unet = getattr(pipe, "unet", None)
    if not isinstance(unet, UNet2DConditionModel):
        raise TypeError(f"pipe must be a diffusers pipeline with a UNet2DConditionModel, "
                        f"got {type(pipe).__name__}")
    emb = tuple(embedding_channels)
    if not emb or not all(isinstance(c, numbers.Integral) and not isinstance(c, bool) and c >= 1
                          for c in emb):
        raise ValueError(f"embedding_channels must be positive integers, got {embedding_channels!r}")
    factor = int(pipe.vae_scale_factor)
    if 2 ** (len(emb) - 1) != factor:
        raise ValueError(f"embedding_channels {emb} downsample by 2**{len(emb) - 1} = {2 ** (len(emb) - 1)}, "
                         f"the VAE by {factor}: give {int(np.log2(factor)) + 1} entries")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=emb,
                                        conditioning_channels=sum(CONTROL_CHANNELS[m] for m in methods))
    return net.to(unet.device)  # from_unet builds float32 parameters


def count_parameters(module: torch.nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (scalars) of a module.

    Parameters
    ----------
    module : torch.nn.Module
        A ControlNet or UNet.
    trainable_only : bool
        Count only those with ``requires_grad``.

    Returns
    -------
    int
        The number of scalars.
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def unet_with_control(unet, controlnet, latents, t, encoder_hidden_states, control, *, scale: float = 1.0):
    """The locked UNet's noise prediction with the ControlNet's residuals added to its skips.

    Parameters
    ----------
    unet : diffusers.UNet2DConditionModel
        The locked text-to-image UNet.
    controlnet : diffusers.ControlNetModel
        Its ControlNet (:func:`build_controlnet`).
    latents : torch.Tensor, shape (B, 4, 16, 16)
        Noisy latents ``z_t``.
    t : torch.Tensor of int, shape () or (B,)
        0-based timesteps.
    encoder_hidden_states : torch.Tensor, shape (B, L, D)
        The text encoder's output.
    control : torch.Tensor, shape (B, C, 64, 64)
        :func:`control_input`.
    scale : float
        ``conditioning_scale`` of the residuals (1: as trained).

    Returns
    -------
    torch.Tensor, shape (B, 4, 16, 16)
        The predicted noise.
    """
    down, mid = controlnet(latents, t, encoder_hidden_states=encoder_hidden_states, controlnet_cond=control,
                           conditioning_scale=float(scale), return_dict=False)
    return unet(latents, t, encoder_hidden_states=encoder_hidden_states, down_block_additional_residuals=down,
                mid_block_additional_residual=mid).sample


def drop_methods(control: torch.Tensor, methods, p: float, generator=None) -> torch.Tensor:
    """Zero each method's channels of each sample with probability ``p`` (method dropout for training).

    Parameters
    ----------
    control : torch.Tensor, shape (B, C, 64, 64)
        :func:`control_input` of ``methods``.
    methods : str or sequence of str
        The methods whose channels ``control`` stacks.
    p : float
        Drop probability in [0, 1].
    generator : None, int or torch.Generator
        Source of the draws.

    Returns
    -------
    torch.Tensor, shape (B, C, 64, 64)
        A copy with dropped methods' channels set to 0.
    """
    methods = check_methods(methods)
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
    widths = [CONTROL_CHANNELS[m] for m in methods]
    if control.ndim != 4 or control.shape[1] != sum(widths):
        raise ValueError(f"control must have shape (B, {sum(widths)}, H, W) for {methods}, "
                         f"got {tuple(control.shape)}")
    keep = (torch.rand((control.shape[0], len(methods)), generator=as_generator(generator)) >= p).to(control)
    mask = torch.repeat_interleave(keep, torch.tensor(widths), dim=1)  # (B, C)
    return control * mask[:, :, None, None]


def training_step(controlnet, unet, scheduler, optimizer, latents, encoder_hidden_states, control, *,
                  generator=None) -> float:
    """One optimiser step of the ControlNet on the noise-prediction loss, the UNet locked.

    Draws ``t ~ U{0, ..., T-1}`` and ``eps ~ N(0, I)`` per sample, noises the latents in closed form
    (:func:`gsemlab.diffusion.forward_noise`) and regresses ``eps`` with the UNet plus the ControlNet's
    residuals (:func:`unet_with_control`); only the ControlNet learns (the UNet's parameters are set
    to ``requires_grad=False``, the "locked copy").

    Parameters
    ----------
    controlnet : diffusers.ControlNetModel
        The ControlNet; ``optimizer`` holds its parameters.
    unet : diffusers.UNet2DConditionModel
        The locked UNet.
    scheduler : diffusers scheduler
        Supplies ``alphas_cumprod`` (the pipeline's scheduler).
    optimizer : torch.optim.Optimizer
        Over ``controlnet.parameters()``.
    latents : torch.Tensor, shape (B, 4, 16, 16)
        Clean latents ``z_0`` (the VAE's, times its scaling factor).
    encoder_hidden_states : torch.Tensor, shape (B, L, D)
        Text embeddings of the captions.
    control : torch.Tensor, shape (B, C, 64, 64)
        :func:`control_input` (after :func:`drop_methods` when training with dropout).
    generator : None, int or torch.Generator
        Source of ``t`` and ``eps``.

    Returns
    -------
    float
        The loss before the step (mean squared error, units of noise variance).
    """
    own = {id(p) for p in controlnet.parameters()}
    if not all(id(p) in own for g in optimizer.param_groups for p in g["params"]):
        raise ValueError("optimizer must hold the ControlNet's parameters only (the UNet stays locked)")
    unet.requires_grad_(False)
    g = as_generator(generator)
    n_steps = scheduler.alphas_cumprod.shape[0]
    t = torch.randint(0, n_steps, (latents.shape[0],), generator=g)  # (B,)
    eps = torch.randn(latents.shape, generator=g, dtype=latents.dtype)  # (B, 4, 16, 16)
    z_t = forward_noise(latents, t, scheduler, noise=eps)  # (B, 4, 16, 16)
    controlnet.train()
    pred = unet_with_control(unet, controlnet, z_t, t.to(latents.device), encoder_hidden_states, control)
    loss = F.mse_loss(pred, eps.to(pred))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def controlnet_pipeline(pipe, controlnet):
    """diffusers' :class:`~diffusers.StableDiffusionControlNetPipeline` on the pipeline's components.

    Parameters
    ----------
    pipe : diffusers.StableDiffusionPipeline
        The bundled text-to-image pipeline (its VAE, text encoder, tokenizer, UNet and scheduler are
        shared, not copied).
    controlnet : diffusers.ControlNetModel
        :func:`build_controlnet`.

    Returns
    -------
    diffusers.StableDiffusionControlNetPipeline
        Call it as the plain pipeline plus ``image=control_input(maps)`` (B, C, 64, 64).
    """
    ControlNetModel, StableDiffusionControlNetPipeline, _ = _diffusers()
    if not isinstance(controlnet, ControlNetModel):
        raise TypeError(f"controlnet must be a diffusers ControlNetModel, got {type(controlnet).__name__}")
    parts = {k: v for k, v in pipe.components.items()
             if k in ("vae", "text_encoder", "tokenizer", "unet", "scheduler", "safety_checker",
                      "feature_extractor", "image_encoder")}
    out = StableDiffusionControlNetPipeline(**parts, controlnet=controlnet,
                                            requires_safety_checker=parts.get("safety_checker") is not None)
    out.set_progress_bar_config(disable=True)
    return out
