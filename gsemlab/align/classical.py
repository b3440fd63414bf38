"""Classical references for the learned JSCC codec: JPEG + LDPC + QAM and latents + LDPC + QAM (DeKA-g Sec. VI-B1).

Both baselines of [DeKA-g] send a *bit* payload at the same number of complex channel uses as the
codec (``n_symbols = 4096 r`` symbols per 64 x 64 image, :data:`~gsemlab.align.codec.RATES`), with the
modulation and code rate of the adaptive modulation and coding of :mod:`gsemlab.align.amc` (separate
source and channel coding):

* **JPEG-LDPC** (:func:`send_jpeg`): each image at the largest JPEG quality (PIL, 1..95) whose bits fit
  the payload, sent and decoded; a failed block (or nothing that fits) gives :data:`FALLBACK_GREY`.
* **Latent-LDPC** (:func:`send_latents`): the edge model's latent (1024 values) uniformly quantised to
  ``b = floor(payload / 1024)`` bits per value over ``[-LATENT_CLIP, LATENT_CLIP]``, sent, dequantised
  and decoded by the toy VAE; residual bit errors of a failed block stay in the values.

Choices (the paper leaves them open or its text lost them):

* **JPEG format**: only the entropy-coded scan travels, with a 7-bit quality and a byte count; the
  receiver rebuilds the header from the quality (baseline JPEG with the standard Huffman tables of
  Annex K and PIL's quantisation tables for that quality: the JPEG *abbreviated format*, tables known at
  both ends). A full JPEG file of a 64 x 64 image takes 320-740 bytes even at quality 1 (more than
  any payload here, at most 2560 bits = 320 bytes), so sending the files would make the baseline always fail.
* **Latent quantiser**: mid-rise uniform, ``2^b`` levels over ``[-3, 3]`` (the scaled latents have a
  standard deviation of about 0.85; 0.3 % of values are clipped); ``b = 0`` gives zeros (the mean of
  the quantiser's range); natural binary labels, most significant bit first.
"""

from __future__ import annotations

import functools
import io

import numpy as np
import torch

from ..checks import check_positive_float, check_positive_int
from ..diffusion.tiny import tensor_to_images
from .amc import BLER_MAX, MAX_BLOCKS, choose_mcs, send_bits
from .codec import check_condition

__all__ = ["CLASSICAL_METHODS", "FALLBACK_GREY", "LATENT_CLIP", "dequantise_latents", "evaluate_classical",
           "jpeg_fit", "jpeg_image", "quantise_latents", "send_jpeg", "send_latents"]

#: the grey level of the fallback image of a lost JPEG block
FALLBACK_GREY = 128
#: clipping range of the latent quantiser: [-LATENT_CLIP, LATENT_CLIP]
LATENT_CLIP = 3.0
#: the two baselines of :func:`evaluate_classical`
CLASSICAL_METHODS = ("jpeg-ldpc", "latent-ldpc")
#: values per latent (4 x 16 x 16)
LATENT_VALUES = 1024

_Q_RANGE = range(1, 96)
_Q_BITS = 7


def _jpeg_bytes(image: np.ndarray, quality: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _split_jpeg(data: bytes) -> tuple[bytes, bytes]:
    """(header through the SOS segment, entropy-coded scan without the EOI marker) of a baseline JPEG."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            break
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if data[i + 1] == 0xDA:
            end = i + 2 + length
            if data[-2:] != b"\xff\xd9":
                break
            return data[:end], data[end:-2]
        i += 2 + length
    raise RuntimeError("not a single-scan baseline JPEG")


@functools.lru_cache(maxsize=128)
def _jpeg_header(quality: int, shape: tuple[int, int, int]) -> bytes:
    """The header PIL writes at ``quality`` for an image of ``shape`` (independent of the pixels)."""
    return _split_jpeg(_jpeg_bytes(np.zeros(shape, np.uint8), quality))[0]


@functools.lru_cache(maxsize=256)
def _jpeg_scans(key: bytes, shape: tuple) -> tuple[bytes, ...]:
    image = np.frombuffer(key, np.uint8).reshape(shape)
    scans = []
    for q in _Q_RANGE:
        head, scan = _split_jpeg(_jpeg_bytes(image, q))
        if head != _jpeg_header(q, shape):
            raise RuntimeError(f"PIL's JPEG header at quality {q} depends on the image: the receiver "
                               "could not rebuild it")
        scans.append(scan)
    return tuple(scans)


def _check_images(images) -> np.ndarray:
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images must be a numpy array of uint8, got {type(images).__name__}")
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3 or images.shape[0] < 1:
        raise ValueError(f"images must be uint8 of shape (n, H, W, 3), got {images.dtype} {images.shape}")
    return images


def _count_bits(payload_bits: int) -> int:
    return max(1, (payload_bits // 8).bit_length())


def jpeg_fit(image: np.ndarray, payload_bits: int) -> tuple[int, np.ndarray] | None:
    """The largest JPEG quality whose bits fit ``payload_bits``, and those bits.

    The bits are a 7-bit quality, a byte count of ``max(1, bit_length(payload_bits // 8))`` bits and
    the entropy-coded scan of PIL's baseline JPEG at that quality (MSB first); the header is rebuilt
    by the receiver from the quality (module docstring).

    Parameters
    ----------
    image : numpy.ndarray of uint8, shape (H, W, 3)
    payload_bits : int
        The bit budget (>= 0).

    Returns
    -------
    (quality, bits) or None
        ``quality`` in 1..95 and ``bits``, uint8 0/1 of length <= ``payload_bits``; ``None`` when not
        even quality 1 fits.
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array of uint8, got {type(image).__name__}")
    image = _check_images(image[None])[0]
    payload_bits = check_positive_int(payload_bits, "payload_bits", minimum=0)
    scans = _jpeg_scans(np.ascontiguousarray(image).tobytes(), image.shape)
    nb = _count_bits(payload_bits)
    for q in reversed(_Q_RANGE):
        scan = scans[q - 1]
        if _Q_BITS + nb + 8 * len(scan) <= payload_bits and len(scan) < 2**nb:
            head = [(q >> (_Q_BITS - 1 - j)) & 1 for j in range(_Q_BITS)]
            head += [(len(scan) >> (nb - 1 - j)) & 1 for j in range(nb)]
            body = np.unpackbits(np.frombuffer(scan, np.uint8))
            return q, np.concatenate([np.array(head, np.uint8), body])
    return None


def jpeg_image(bits: np.ndarray, payload_bits: int, shape: tuple[int, int, int] = (64, 64, 3)) -> np.ndarray | None:
    """The image of received JPEG bits (:func:`jpeg_fit`'s format), or ``None`` when they do not decode.

    Parameters
    ----------
    bits : numpy.ndarray
        Received payload, 0/1 of length ``payload_bits`` (padding after the scan is ignored).
    payload_bits : int
        The payload size the sender used (it fixes the width of the byte count).
    shape : tuple
        ``(H, W, 3)`` of the image (known to the receiver).

    Returns
    -------
    numpy.ndarray of uint8, shape ``shape``, or None
    """
    from PIL import Image

    bits = np.asarray(bits).astype(np.uint8).ravel()
    nb = _count_bits(check_positive_int(payload_bits, "payload_bits", minimum=1))
    if bits.size < _Q_BITS + nb:
        return None
    q = int("".join(map(str, bits[:_Q_BITS])), 2)
    length = int("".join(map(str, bits[_Q_BITS:_Q_BITS + nb])), 2)
    body = bits[_Q_BITS + nb:_Q_BITS + nb + 8 * length]
    if q not in _Q_RANGE or body.size != 8 * length:
        return None
    data = _jpeg_header(q, tuple(shape)) + np.packbits(body).tobytes() + b"\xff\xd9"
    try:
        with Image.open(io.BytesIO(data)) as im:
            out = np.asarray(im.convert("RGB"))
    except Exception:  # noqa: BLE001 - any undecodable stream is a lost image
        return None
    return out if out.shape == tuple(shape) else None


def _generator(seed) -> torch.Generator:
    return torch.Generator().manual_seed(check_positive_int(seed, "seed", minimum=0))


def _mcs_for(rate, snr_db, delay_spread_s, bler_max, max_blocks, amc_seed) -> tuple:
    cond = check_condition(rate, snr_db, delay_spread_s)
    n_symbols = round(4096 * cond.rate)
    return cond, choose_mcs(cond.snr_db, cond.delay_spread_s, n_symbols, bler_max=bler_max,
                            max_blocks=max_blocks, seed=amc_seed)


def _pad(rows: list[np.ndarray], payload: int, g: np.random.Generator) -> np.ndarray:
    out = g.integers(0, 2, (len(rows), payload), dtype=np.uint8)  # random padding after the data
    for i, r in enumerate(rows):
        out[i, :r.size] = r
    return out


def _send_jpeg(images, snr_db, rate, delay_spread_s, seed, bler_max, max_blocks, amc_seed):
    images = _check_images(images)
    cond, mcs = _mcs_for(rate, snr_db, delay_spread_s, bler_max, max_blocks, amc_seed)
    seed = check_positive_int(seed, "seed", minimum=0)
    out = np.full_like(images, FALLBACK_GREY)
    fits = [jpeg_fit(im, mcs.payload_bits) for im in images] if mcs.payload_bits else [None] * len(images)
    idx = [i for i, f in enumerate(fits) if f is not None]
    ok = np.zeros(len(images), bool)
    if idx:
        sent = _pad([fits[i][1] for i in idx], mcs.payload_bits, np.random.default_rng(seed))
        got, good = send_bits(sent, mcs, snr_db=cond.snr_db, delay_spread_s=cond.delay_spread_s,
                              rng=_generator(seed))
        for j, i in enumerate(idx):
            img = jpeg_image(got[j], mcs.payload_bits, images.shape[1:]) if good[j] else None
            if img is not None:
                out[i], ok[i] = img, True
    qualities = [f[0] if f is not None else 0 for f in fits]
    return out, mcs, {"delivered": float(ok.mean()), "fits": len(idx) / len(images),
                      "quality_mean": float(np.mean(qualities))}


def send_jpeg(images: np.ndarray, *, snr_db: float, rate: float, delay_spread_s: float, seed: int = 0,
              bler_max: float = BLER_MAX, max_blocks: int = MAX_BLOCKS, amc_seed: int = 0) -> np.ndarray:
    """JPEG-LDPC: each image as JPEG at the largest quality that fits the AMC's payload, sent and decoded.

    Parameters
    ----------
    images : numpy.ndarray of uint8, shape (n, 64, 64, 3)
    snr_db : float
        Average SNR (dB).
    rate : float
        Complex channel uses per pixel, one of :data:`~gsemlab.align.codec.RATES` (``4096 r`` symbols).
    delay_spread_s : float
        Delay spread (s, >= 0).
    seed : int
        Seed of the channel draws (one gain vector per image) and of the padding bits.
    bler_max, max_blocks, amc_seed
        The AMC's constraint, Monte Carlo size and seed (:func:`choose_mcs`).

    Returns
    -------
    numpy.ndarray of uint8, shape (n, 64, 64, 3)
        The decoded images; a failed block, or an image that does not fit even at quality 1 (including
        payload 0), is the grey image :data:`FALLBACK_GREY`.
    """
    return _send_jpeg(images, snr_db, rate, delay_spread_s, seed, bler_max, max_blocks, amc_seed)[0]


# -- latents -------------------------------------------------------------------------------------------


def _check_latents(latents) -> torch.Tensor:
    if not isinstance(latents, torch.Tensor):
        raise TypeError(f"latents must be a torch.Tensor, got {type(latents).__name__}")
    if latents.ndim != 4 or tuple(latents.shape[1:]) != (4, 16, 16) or latents.shape[0] < 1:
        raise ValueError(f"latents must have shape (n, 4, 16, 16), got {tuple(latents.shape)}")
    if latents.is_complex() or not latents.is_floating_point():
        raise TypeError(f"latents must be real floating point, got {latents.dtype}")
    return latents


def quantise_latents(latents: torch.Tensor, bits: int, *, clip: float = LATENT_CLIP) -> np.ndarray:
    """Uniform mid-rise quantisation to ``bits`` bits per value over ``[-clip, clip]``: the level indices.

    Parameters
    ----------
    latents : torch.Tensor, shape (n, 4, 16, 16)
        Scaled latents.
    bits : int
        Bits per value ``b`` (0..16); level ``i`` of ``2^b`` stands for ``-clip + (i + 1/2) 2 clip / 2^b``.
    clip : float
        Half the clipping range (> 0); values beyond it take the outer levels.

    Returns
    -------
    numpy.ndarray of int64, shape (n, 1024)
        Level indices in ``0 .. 2^b - 1`` (all 0 when ``b = 0``).
    """
    z = _check_latents(latents).detach().to(torch.float64).reshape(latents.shape[0], -1).numpy()
    b = check_positive_int(bits, "bits", minimum=0)
    if b > 16:
        raise ValueError(f"bits must be at most 16, got {bits!r}")
    c = check_positive_float(clip, "clip")
    levels = 2**b
    return np.clip(np.floor((z + c) / (2 * c) * levels), 0, levels - 1).astype(np.int64)


def dequantise_latents(indices: np.ndarray, bits: int, *, clip: float = LATENT_CLIP) -> torch.Tensor:
    """Level indices of :func:`quantise_latents` back to latent values (the level centres).

    Parameters
    ----------
    indices : numpy.ndarray of int, shape (n, 1024)
    bits : int
        Bits per value ``b``; ``b = 0`` gives zeros.
    clip : float

    Returns
    -------
    torch.Tensor of float32, shape (n, 4, 16, 16)
    """
    idx = np.asarray(indices)
    if idx.ndim != 2 or idx.shape[1] != LATENT_VALUES:
        raise ValueError(f"indices must have shape (n, {LATENT_VALUES}), got {idx.shape}")
    b = check_positive_int(bits, "bits", minimum=0)
    c = check_positive_float(clip, "clip")
    if b == 0:
        return torch.zeros(idx.shape[0], 4, 16, 16)
    z = -c + (idx.astype(np.float64) + 0.5) * (2 * c / 2**b)
    return torch.from_numpy(z.astype(np.float32)).reshape(-1, 4, 16, 16)


def _to_bits(indices: np.ndarray, b: int) -> np.ndarray:
    shifts = np.arange(b - 1, -1, -1)
    return ((indices[..., None] >> shifts) & 1).reshape(indices.shape[0], -1).astype(np.uint8)


def _from_bits(bits: np.ndarray, b: int) -> np.ndarray:
    w = 2 ** np.arange(b - 1, -1, -1)
    return (bits.reshape(bits.shape[0], -1, b).astype(np.int64) * w).sum(axis=-1)


def _send_latents(latents, snr_db, rate, delay_spread_s, seed, bler_max, max_blocks, amc_seed, clip):
    latents = _check_latents(latents)
    cond, mcs = _mcs_for(rate, snr_db, delay_spread_s, bler_max, max_blocks, amc_seed)
    seed = check_positive_int(seed, "seed", minimum=0)
    b = min(mcs.payload_bits // LATENT_VALUES, 16)
    n = latents.shape[0]
    if b == 0:
        return dequantise_latents(np.zeros((n, LATENT_VALUES), np.int64), 0), mcs, {"delivered": 0.0,
                                                                                     "latent_bits": 0}
    idx = quantise_latents(latents, b, clip=clip)
    sent = _pad(list(_to_bits(idx, b)), mcs.payload_bits, np.random.default_rng(seed))
    got, good = send_bits(sent, mcs, snr_db=cond.snr_db, delay_spread_s=cond.delay_spread_s, rng=_generator(seed))
    z = dequantise_latents(_from_bits(got[:, :LATENT_VALUES * b], b), b, clip=clip)
    return z, mcs, {"delivered": float(good.mean()), "latent_bits": b}


def send_latents(latents: torch.Tensor, *, snr_db: float, rate: float, delay_spread_s: float, seed: int = 0,
                 bler_max: float = BLER_MAX, max_blocks: int = MAX_BLOCKS, amc_seed: int = 0,
                 clip: float = LATENT_CLIP) -> torch.Tensor:
    """Latent-LDPC: the latents quantised to the AMC's payload, sent, decoded and dequantised.

    Each latent's 1024 values take ``b = floor(payload_bits / 1024)`` bits (:func:`quantise_latents`);
    ``b = 0`` (including payload 0) sends nothing and gives zeros. The decoder's hard decisions are used
    as they are: the residual bit errors of a failed block stay in the values (a receiver has nothing
    better to put there).

    Parameters
    ----------
    latents : torch.Tensor, shape (n, 4, 16, 16)
        Scaled latents (:func:`gsemlab.align.system.subject_batch`).
    snr_db, rate, delay_spread_s, seed, bler_max, max_blocks, amc_seed
        As in :func:`send_jpeg`.
    clip : float
        Quantiser range ``[-clip, clip]``.

    Returns
    -------
    torch.Tensor of float32, shape (n, 4, 16, 16)
        The received latents (to be divided by the VAE's scaling factor and decoded).
    """
    return _send_latents(latents, snr_db, rate, delay_spread_s, seed, bler_max, max_blocks, amc_seed, clip)[0]


# -- evaluation ----------------------------------------------------------------------------------------


def _decode(latents: torch.Tensor) -> np.ndarray:
    from ..models import load_backend

    vae = load_backend("toy", metrics=False, device="cpu").pipe.vae
    with torch.no_grad():
        out = vae.decode(latents / vae.config.scaling_factor).sample
    return tensor_to_images(out)


def evaluate_classical(method: str, *, snr_db: float, rate: float, delay_spread_s: float, n_images: int = 64,
                       seed: int = 0, bler_max: float = BLER_MAX, max_blocks: int = MAX_BLOCKS,
                       amc_seed: int = 0) -> dict:
    """PSNR, SSIM and ToySim of a classical baseline on the target subject under one condition.

    The counterpart of :func:`gsemlab.align.system.evaluate`: the same test images (the edge model's
    images of ``subject_batch(n_images, seed + 1)``), the same metrics and the same channel model, at
    the same ``4096 r`` complex channel uses per image.

    Parameters
    ----------
    method : {"jpeg-ldpc", "latent-ldpc"}
    snr_db : float
        Average SNR in dB.
    rate : float
        Complex channel uses per pixel, one of :data:`~gsemlab.align.codec.RATES`.
    delay_spread_s : float
        Delay spread (s, >= 0).
    n_images : int
        Held-out subject images (>= 2).
    seed : int
        Seed of the test images (``seed + 1``) and of the channel.
    bler_max, max_blocks, amc_seed
        The AMC (:func:`choose_mcs`).

    Returns
    -------
    dict
        ``psnr_db``, ``ssim``, ``toysim`` with standard errors ``*_se``, the condition, ``n_images``,
        ``trainable`` (0), ``mcs`` (:meth:`~gsemlab.align.amc.MCS.as_dict`: bits per symbol, code rate, payload bits,
        estimated BLER, blocks, symbols), ``delivered`` (share of blocks decoded without error) and, for
        JPEG, ``jpeg_quality_mean`` (0 counted for images that fit nowhere) or, for latents,
        ``latent_bits`` per value.
    """
    from ..toyworld.nets import image_scores
    from .system import subject_batch

    if method not in CLASSICAL_METHODS:
        raise ValueError(f"method must be one of {CLASSICAL_METHODS}, got {method!r}")
    cond = check_condition(rate, snr_db, delay_spread_s)
    if isinstance(n_images, bool) or not isinstance(n_images, int) or n_images < 2:
        raise ValueError(f"n_images must be an int >= 2, got {n_images!r}")
    seed = check_positive_int(seed, "seed", minimum=0)
    lat, images, _ = subject_batch(n_images, seed + 1)
    if method == "jpeg-ldpc":
        out, mcs, info = _send_jpeg(images, cond.snr_db, cond.rate, cond.delay_spread_s, seed, bler_max,
                                    max_blocks, amc_seed)
        extra = {"delivered": info["delivered"], "jpeg_quality_mean": info["quality_mean"]}
    else:
        z, mcs, info = _send_latents(lat, cond.snr_db, cond.rate, cond.delay_spread_s, seed, bler_max,
                                     max_blocks, amc_seed, LATENT_CLIP)
        out = _decode(z)
        extra = {"delivered": info["delivered"], "latent_bits": info["latent_bits"]}
    return {"method": method, "rate": cond.rate, "snr_db": cond.snr_db, "delay_spread_s": cond.delay_spread_s,
            "n_images": n_images, "trainable": 0, **image_scores(images, out), "mcs": mcs.as_dict(), **extra}

