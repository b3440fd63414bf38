"""The learned modules: the VAE-style downsampler and the reparameterised upsampler, and deep JSCC.

Symbols. A 64 x 64 image has 4096 pixels; a rate ``r`` in :data:`RATES` is the number of complex
channel uses per pixel, so the packet is ``4096 r`` symbols. Both codecs emit at most
:data:`MAX_SYMBOLS` (256) symbols as 4 complex feature maps of 8 x 8; a lower rate sends the first
``4096 r / 64`` maps and the receiver fills the rest with zeros (one model serves every rate, trained
with the rate drawn at random).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..channel.fading import power_normalise

__all__ = ["IMAGE_PIXELS", "LATENT_SHAPE", "MAX_SYMBOLS", "RATES", "DeepJSCC", "Downsampler", "Upsampler",
           "check_latents", "check_rate", "n_symbols"]

#: pixels of a 64 x 64 image (the rate counts channel uses per pixel)
IMAGE_PIXELS = 64 * 64
#: the toy VAE's latent of a 64 x 64 image
LATENT_SHAPE = (4, 16, 16)
#: complex channel uses per pixel: 256, 128 and 64 symbols per image
RATES = (1 / 16, 1 / 32, 1 / 64)
#: symbols of the highest rate (4 complex maps of 8 x 8)
MAX_SYMBOLS = 256
_MAPS, _SIDE = 4, 8  # complex feature maps of 8 x 8 = 64 symbols each


def check_rate(rate) -> float:
    """``rate`` as one of :data:`RATES`, or a ValueError listing them."""
    if not isinstance(rate, bool) and isinstance(rate, (int, float)):
        for r in RATES:
            if math.isclose(float(rate), r, rel_tol=1e-9):
                return r
    raise ValueError(f"rate must be one of {tuple(f'1/{round(1 / r)}' for r in RATES)} channel uses per pixel, "
                     f"got {rate!r}")


def n_symbols(rate) -> int:
    """Complex symbols sent per 64 x 64 image at ``rate`` channel uses per pixel (256, 128 or 64)."""
    return round(check_rate(rate) * IMAGE_PIXELS)


def check_latents(z) -> torch.Tensor:
    """``z`` as a float latent batch of shape (B, 4, 16, 16), or a clear error."""
    if not isinstance(z, torch.Tensor) or not z.is_floating_point():
        raise TypeError(f"latents must be a float torch.Tensor (B, 4, 16, 16), got {type(z).__name__}")
    if z.ndim != 4 or tuple(z.shape[1:]) != LATENT_SHAPE:
        raise ValueError(f"latents must have shape (B, 4, 16, 16) (the toy VAE's), got {tuple(z.shape)}")
    return z


def _to_symbols(real: torch.Tensor, k: int) -> torch.Tensor:
    """(B, 8, 8, 8) real maps -> the first ``k`` of (B, 256) complex symbols, map by map."""
    c = torch.complex(real[:, :_MAPS], real[:, _MAPS:]).reshape(real.shape[0], -1)
    return c[:, :k]


def _from_symbols(sym: torch.Tensor) -> torch.Tensor:
    """(B, k) complex symbols -> (B, 8, 8, 8) real maps with the unsent ones zero."""
    b, k = sym.shape
    full = torch.zeros(b, MAX_SYMBOLS, dtype=sym.dtype, device=sym.device)
    full[:, :k] = sym
    full = full.reshape(b, _MAPS, _SIDE, _SIDE)
    return torch.cat([full.real, full.imag], dim=1)


def _side_info(sym: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
    """Two constant maps the receivers condition on: SNR / 20 dB and the sent fraction of symbols."""
    b, k = sym.shape
    snr = snr_db.reshape(-1, 1, 1, 1).expand(b, 1, _SIDE, _SIDE) / 20.0
    frac = torch.full((b, 1, _SIDE, _SIDE), k / MAX_SYMBOLS, device=sym.device)
    return torch.cat([snr, frac], dim=1)


def _conv(cin, cout, k=3, s=1):
    return nn.Conv2d(cin, cout, k, s, k // 2)


class Downsampler(nn.Module):
    """The sender's VAE-based downsampling: a latent ``z`` (4 x 16 x 16) to complex channel symbols.

    It predicts the mean and log-variance of a Gaussian code (4 complex maps of 8 x 8); training samples
    the code by reparameterisation (and the loss pulls it towards N(0, 1), the capacity-achieving input
    of an AWGN channel), transmission uses the mean. The code is truncated to the rate and
    power-normalised to unit average power per symbol.

    Parameters
    ----------
    width : int
        Channels of the hidden convolutions.
    """

    def __init__(self, width: int = 64):
        super().__init__()
        self.net = nn.Sequential(_conv(4, width), nn.SiLU(), _conv(width, width, 3, 2), nn.SiLU(),
                                 _conv(width, width), nn.SiLU(), _conv(width, 4 * _MAPS, 1))

    def code(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of the code, each (B, 8, 8, 8) (real and imaginary parts of 4 maps)."""
        out = self.net(check_latents(z))
        return out[:, : 2 * _MAPS], out[:, 2 * _MAPS:].clamp(-10.0, 4.0)

    def forward(self, z: torch.Tensor, rate) -> torch.Tensor:
        """Symbols of the code's mean, unit average power, shape (B, ``n_symbols(rate)``), complex64."""
        return power_normalise(_to_symbols(self.code(z)[0], n_symbols(rate)))

    def sample(self, z: torch.Tensor, rate, *, generator=None):
        """Training's draw: symbols of a reparameterised code sample, with the code's mean and log-variance.

        Returns
        -------
        symbols : torch.Tensor
            Shape (B, ``n_symbols(rate)``), complex64, unit average power.
        mean, logvar : torch.Tensor
            The code's Gaussian, each (B, 8, 8, 8), for its KL term.
        """
        mean, logvar = self.code(z)
        code = mean + torch.randn(mean.shape, generator=generator, device=mean.device) * (0.5 * logvar).exp()
        return power_normalise(_to_symbols(code, n_symbols(rate))), mean, logvar


class Upsampler(nn.Module):
    """The receiver's upsampling with reparameterisation: received symbols to a Gaussian over latents.

    From the (equalised) symbols, zero-filled to 256, and two maps of side information (the SNR and the
    sent fraction) it predicts a mean ``mu`` and a log-variance of the latent, each 4 x 16 x 16; the
    receiver samples ``z_hat = mu + sigma eps``. Trained so that ``z_hat`` is distributed as the latent
    plus noise of the channel's variance ``1 / SNR`` (:mod:`gsemlab.channel_diffusion.system`), the
    sample is what the forward diffusion would have made of ``z``.

    Parameters
    ----------
    width : int
        Channels of the hidden convolutions.
    """

    def __init__(self, width: int = 64):
        super().__init__()
        self.net = nn.Sequential(_conv(2 * _MAPS + 2, width), nn.SiLU(), _conv(width, width), nn.SiLU(),
                                 nn.ConvTranspose2d(width, width, 4, 2, 1), nn.SiLU(), _conv(width, width),
                                 nn.SiLU(), _conv(width, 8))

    def forward(self, sym: torch.Tensor, snr_db: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``mu`` and log-variance, each (B, 4, 16, 16), from symbols (B, k) and SNRs (B,) in dB."""
        out = self.net(torch.cat([_from_symbols(sym), _side_info(sym, snr_db)], dim=1))
        return out[:, :4], out[:, 4:].clamp(-12.0, 4.0)


class DeepJSCC(nn.Module):
    """Deep joint source-channel coding on pixels: a convolutional autoencoder with the channel inside.

    The encoder maps a 64 x 64 image in [-1, 1] to 4 complex maps of 8 x 8 (truncated to the rate and
    power-normalised like :class:`Downsampler`); the decoder sees the received symbols, zero-filled,
    with the SNR and the sent fraction, and returns the image.

    Parameters
    ----------
    width : int
        Channels of the hidden convolutions.
    """

    def __init__(self, width: int = 64):
        super().__init__()
        w = width
        self.enc = nn.Sequential(_conv(3, w // 2, 3, 2), nn.PReLU(), _conv(w // 2, w, 3, 2), nn.PReLU(),
                                 _conv(w, w, 3, 2), nn.PReLU(), _conv(w, w), nn.PReLU(), _conv(w, 2 * _MAPS, 1))
        self.dec = nn.Sequential(_conv(2 * _MAPS + 2, w), nn.PReLU(), _conv(w, w), nn.PReLU(),
                                 nn.ConvTranspose2d(w, w, 4, 2, 1), nn.PReLU(),
                                 nn.ConvTranspose2d(w, w // 2, 4, 2, 1), nn.PReLU(),
                                 nn.ConvTranspose2d(w // 2, w // 4, 4, 2, 1), nn.PReLU(), _conv(w // 4, 3),
                                 nn.Tanh())

    def encode(self, x: torch.Tensor, rate) -> torch.Tensor:
        """Images (B, 3, 64, 64) in [-1, 1] -> symbols (B, ``n_symbols(rate)``) of unit average power."""
        return power_normalise(_to_symbols(self.enc(x), n_symbols(rate)))

    def decode(self, sym: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        """Received symbols (B, k) and SNRs (B,) in dB -> images (B, 3, 64, 64) in [-1, 1]."""
        return self.dec(torch.cat([_from_symbols(sym), _side_info(sym, snr_db)], dim=1))
