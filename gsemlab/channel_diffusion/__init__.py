"""The channel as the forward diffusion (seed 004, Guo et al.): SNR-matched denoising of compressed latents.

* :mod:`~gsemlab.channel_diffusion.schedule`: the channel's SNR as a (fractional) diffusion timestep.
* :mod:`~gsemlab.channel_diffusion.modules`: the downsampler, the reparameterised upsampler, deep JSCC.
* :mod:`~gsemlab.channel_diffusion.system`: the three receivers end to end, :func:`evaluate`.
"""

from .modules import MAX_SYMBOLS, RATES, DeepJSCC, Downsampler, Upsampler, check_rate, n_symbols
from .schedule import (
                       alpha_bar_at,
                       alpha_bar_for_snr,
                       grid_timestep,
                       log_snr,
                       matched_timestep,
                       timestep_mismatch_db,
                       to_diffusion_input,
)
from .system import (
                       CHANNELS,
                       METHODS,
                       VARIANTS,
                       ChannelDiffusion,
                       evaluate,
                       heldout_images,
                       lpips_metric,
                       pretrained,
                       send,
)

__all__ = ["CHANNELS", "MAX_SYMBOLS", "METHODS", "RATES", "VARIANTS", "ChannelDiffusion", "DeepJSCC", "Downsampler",
           "Upsampler", "alpha_bar_at", "alpha_bar_for_snr", "check_rate", "evaluate", "grid_timestep",
           "heldout_images", "log_snr", "lpips_metric", "matched_timestep", "n_symbols", "pretrained", "send",
           "timestep_mismatch_db", "to_diffusion_input"]
