"""Diffusion basics (Eq. 2-4 of [G-SemCom]): forward noising, the DDPM loss, a tiny noise predictor,
its training loop and the reverse (sampling) loop, on top of diffusers' schedulers.

Notation follows Sec. IV.A of the paper: ``beta_t`` is the noise schedule of Eq. 3,
``alpha_t = 1 - beta_t`` and ``alpha_bar_t = prod_{i<=t} alpha_i`` (Eq. 4b), ``eps_theta(x_t, t)`` the
noise predicted by the network, and Eq. 4a the mean of the reverse step.

Timesteps are diffusers' **0-based** indices ``t = 0, ..., T-1`` into ``scheduler.alphas_cumprod``;
index ``t`` is step ``t + 1`` of the paper's ``1, ..., T``. Images live in "model space": float32
tensors of shape ``(batch, channels, height, width)`` with pixel values scaled to [-1, 1]
(:func:`images_to_tensor` and :func:`tensor_to_images` convert from and to uint8 images).

Modules: :mod:`.process` (the maths) and :mod:`.tiny` (a tiny model, its data, its training).
Every name is re-exported here (``from gsemlab import diffusion as D; D.sample(...)``).

Functions
---------
alpha_bars                 alpha_bar_t for every t (Eq. 4b).
forward_noise              x_t ~ q(x_t | x_0) in closed form (Eq. 2-3).
ddpm_loss                  the noise-prediction loss that trains eps_theta of Eq. 4a.
TinyUNet, tiny_unet        a small three-level U-Net noise predictor for 16 x 16 images.
shapes_icons               one-object ShapesWorld scenes cropped around the object: the training data.
train_ddpm                 Adam on ddpm_loss; returns the loss history.
sample                     the reverse process written out by hand (Eq. 4, 4a plus sigma_t z).
sample_with_scheduler      the same loop through a diffusers scheduler's ``step`` (DDPM, DDIM, ...).
"""

from .process import (
    SCHEDULES,
    alpha_bars,
    ddpm_loss,
    forward_noise,
    make_scheduler,
    sample,
    sample_with_scheduler,
)
from .tiny import TinyUNet, images_to_tensor, shapes_icons, tensor_to_images, tiny_unet, train_ddpm

__all__ = [
    "SCHEDULES",
    "TinyUNet",
    "alpha_bars",
    "ddpm_loss",
    "forward_noise",
    "images_to_tensor",
    "make_scheduler",
    "sample",
    "sample_with_scheduler",
    "shapes_icons",
    "tensor_to_images",
    "tiny_unet",
    "train_ddpm",
]
