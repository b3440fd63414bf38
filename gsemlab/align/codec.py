"""The JSCC codec on the edge model's latents (DeKA-g Sec. V-B), its channel and its conditions.

The encoder maps the toy VAE's latent (4 x 16 x 16) through one downsampling layer to 8 complex maps of
8 x 8 (512 symbols); a rate ``r`` (complex channel uses per pixel of the 64 x 64 image, :data:`RATES`)
keeps the first ``4096 r / 64`` maps and drops the rest (truncation), the symbols are power-normalised
and quantised to the nearest 64-QAM point with a straight-through gradient
(:func:`gsemlab.channel.fading.qam_quantise`), then sent by OFDM over correlated Rayleigh sub-carriers
(Eq. 2-3 in [DeKA-g], :func:`gsemlab.channel.fading.ofdm_fading`, one gain vector per image) and equalised
by MMSE with known gains. The latent reconstructor zero-pads the received maps back to 8 and returns a
latent, which the bundled VAE decodes.

The codec is *not* told the conditions: adapting to them is the alignment's job (:mod:`.cala`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..channel.fading import equalise, ofdm_fading, power_normalise, qam_quantise

__all__ = ["CONV_NAMES", "DELAY_SPREADS_S", "N_SUBCARRIERS", "RATES", "SUBCARRIER_SPACING_HZ", "Condition",
           "LatentJSCC", "check_condition"]

#: complex channel uses per pixel: 512, 256 and 128 symbols per image
RATES = (1 / 8, 1 / 16, 1 / 32)
#: sub-carriers of the OFDM link (one 8 x 8 map per OFDM symbol)
N_SUBCARRIERS = 64
#: sub-carrier spacing (Hz; 5G NR numerology 1)
SUBCARRIER_SPACING_HZ = 30e3
#: the deployment's delay spreads (s): strongly correlated sub-carriers
DELAY_SPREADS_S = (30e-9, 100e-9, 300e-9)
_MAPS, _SIDE = 8, 8
#: the Conv2d layers that LoRA, CALA and full fine-tuning adapt (all of the codec's convolutions)
CONV_NAMES = ("enc.0", "enc.2", "enc.4", "enc.6", "rec.0", "rec.2", "rec.6", "rec.8")


@dataclass(frozen=True)
class Condition:
    """A transmission condition ``c = (r, SNR, tau)`` of DeKA-g.

    Attributes
    ----------
    rate : float
        Complex channel uses per pixel, one of :data:`RATES`.
    snr_db : float
        Average SNR (dB).
    delay_spread_s : float
        Delay spread ``tau`` of the power delay profile (s, >= 0).
    """

    rate: float
    snr_db: float
    delay_spread_s: float

    def vector(self) -> list[float]:
        """The normalised conditions the gates read: ``log2(64 r) / 3``, ``SNR / 20``, ``(log10 tau + 8) / 2``."""
        return [math.log2(64 * self.rate) / 3, self.snr_db / 20.0,
                (math.log10(max(self.delay_spread_s, 1e-9)) + 8.0) / 2.0]


def check_condition(rate, snr_db, delay_spread_s) -> Condition:
    """A :class:`Condition` from its parts, or a clear error (unsupported rate, NaN SNR, negative spread)."""
    ok_rate = not isinstance(rate, bool) and isinstance(rate, (int, float)) and any(
        math.isclose(float(rate), r, rel_tol=1e-9) for r in RATES)
    if not ok_rate:
        raise ValueError(f"rate must be one of {tuple(f'1/{round(1 / r)}' for r in RATES)} channel uses per "
                         f"pixel, got {rate!r}")
    rate = next(r for r in RATES if math.isclose(float(rate), r, rel_tol=1e-9))
    if isinstance(snr_db, bool) or not isinstance(snr_db, (int, float, np.integer, np.floating)):
        raise TypeError(f"snr_db must be a number of dB, got {snr_db!r}")
    if not math.isfinite(float(snr_db)):
        raise ValueError(f"snr_db must be finite (dB), got {snr_db!r}")
    if isinstance(delay_spread_s, bool) or not isinstance(delay_spread_s, (int, float, np.integer, np.floating)):
        raise TypeError(f"delay_spread_s must be a number of seconds, got {delay_spread_s!r}")
    if not math.isfinite(float(delay_spread_s)) or delay_spread_s < 0:
        raise ValueError(f"delay_spread_s must be a finite number of seconds >= 0, got {delay_spread_s!r}")
    return Condition(rate, float(snr_db), float(delay_spread_s))


def _conv(cin, cout, k=3, s=1):
    return nn.Conv2d(cin, cout, k, s, k // 2)


class LatentJSCC(nn.Module):
    """JSCC encoder and latent reconstructor of DeKA-g Sec. V-B, on 4 x 16 x 16 latents.

    :meth:`forward` is one pass of the codec through the channel of Eq. 2 of [DeKA-g].

    Parameters
    ----------
    width : int
        Channels of the hidden convolutions.
    """

    def __init__(self, width: int = 64):
        super().__init__()
        w = width
        self.enc = nn.Sequential(_conv(4, w), nn.SiLU(), _conv(w, w, 3, 2), nn.SiLU(), _conv(w, w), nn.SiLU(),
                                 _conv(w, 2 * _MAPS, 1))
        self.rec = nn.Sequential(_conv(2 * _MAPS, w), nn.SiLU(), _conv(w, w), nn.SiLU(),
                                 nn.ConvTranspose2d(w, w, 4, 2, 1), nn.SiLU(), _conv(w, w), nn.SiLU(),
                                 _conv(w, 4))

    def encode(self, z: torch.Tensor, rate: float, *, quantise: bool = True) -> torch.Tensor:
        """Latents (B, 4, 16, 16) -> symbols (B, 4096 r), unit power, on the 64-QAM grid when ``quantise``."""
        if not isinstance(z, torch.Tensor) or z.ndim != 4 or tuple(z.shape[1:]) != (4, 16, 16):
            raise ValueError(f"latents must have shape (B, 4, 16, 16), got {tuple(getattr(z, 'shape', ()))}")
        out = self.enc(z)
        k = round(rate * 4096)
        sym = torch.complex(out[:, :_MAPS], out[:, _MAPS:]).reshape(z.shape[0], -1)[:, :k]
        sym = power_normalise(sym)
        return qam_quantise(sym) if quantise else sym

    def reconstruct(self, sym: torch.Tensor) -> torch.Tensor:
        """Received symbols (B, k), zero-padded to 512 -> latents (B, 4, 16, 16)."""
        b, k = sym.shape
        full = torch.zeros(b, _MAPS * _SIDE * _SIDE, dtype=sym.dtype, device=sym.device)
        full[:, :k] = sym
        full = full.reshape(b, _MAPS, _SIDE, _SIDE)
        return self.rec(torch.cat([full.real, full.imag], dim=1))

    def forward(self, z: torch.Tensor, cond: Condition, *, generator=None) -> torch.Tensor:
        """Encode, send over the condition's channel, equalise and reconstruct: latents (B, 4, 16, 16)."""
        sym = self.encode(z, cond.rate)
        y, h = ofdm_fading(sym, cond.snr_db, n_subcarriers=N_SUBCARRIERS, delay_spread_s=cond.delay_spread_s,
                           subcarrier_spacing_hz=SUBCARRIER_SPACING_HZ, rng=generator)
        return self.reconstruct(equalise(y, h, cond.snr_db, method="mmse"))
