"""How the sections of a packet are coded, and the whole-image files it is compared with.

* **The mask** (one bit per pixel of its bounding box): adaptive binary arithmetic coding with the
  10-pixel three-line context template of JBIG (ITU-T T.82): each bit is coded with a probability
  learnt from the earlier bits that had the same 10 neighbours (two above-left rows, two to the left),
  so a blob's interior and the empty background cost a small fraction of a bit per pixel. Lossless.
* **The sent pixels, lossy**: the bounding box of the sent pixels is cut out, every unsent pixel in
  it is filled (:func:`fill_unsent`) so that it costs the codec almost nothing, and the box's Y, Cb
  and Cr planes, side by side, are coded as one grey VP8 key frame (:func:`vp8_encode`): WebP's
  lossy bitstream, without its 20-byte RIFF container (rebuilt before decoding), with colour at full
  resolution. The user keeps the decoded values at the sent positions.
* **Whole images** for the baselines: :func:`png_bytes`, :func:`jpeg_bytes`, :func:`webp_bytes`, and
  :func:`decode_image`, the image a user gets from such a file.

The arithmetic coder is the range coder of LZMA (Pavlov) with probabilities from counts: every
context ``k`` keeps counts ``n0, n1`` (start 1, step 4, so ``p(bit) = (4 n_bit + 1) / (4 n + 2)``,
the Krichevsky-Trofimov estimator with prior 1/4), halved when their sum passes 2**16. Its first
output byte (always 0) and trailing zero bytes are not sent; the decoder reads zeros past the end.
"""

from __future__ import annotations

import io
import numbers

import numpy as np

__all__ = [
    "CODEC_ERRORS", "MASK_TEMPLATE", "as_image", "decode_image", "decode_mask", "encode_mask", "fill_unsent",
    "jpeg_bytes", "planes_width", "png_bytes", "vp8_decode", "vp8_encode", "webp_bytes",
]

#: Offsets (row, column) of the context pixels of JBIG's three-line template, most significant bit first.
MASK_TEMPLATE = ((-2, -1), (-2, 0), (-2, 1), (-1, -2), (-1, -1), (-1, 0), (-1, 1), (-1, 2), (0, -2), (0, -1))
_TOP = 1 << 24
_MAX_TOTAL = 1 << 16
_STEP = 4
#: Exceptions Pillow may raise on a damaged file (the packet decoder turns them into PacketError).
CODEC_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError, TypeError,
                ArithmeticError, MemoryError)


# ------------------------------------------------------------------------------------- the mask
def _above_contexts(rows: np.ndarray, r: int, w: int) -> list[int]:
    """The 8 template bits of rows ``r - 2`` and ``r - 1`` for every column, as ints shifted left by 2."""
    padded = np.zeros((2, w + 4), np.int64)
    for k, rr in enumerate((r - 2, r - 1)):
        if rr >= 0:
            padded[k, 2:-2] = rows[rr]
    ctx = np.zeros(w, np.int64)
    for dr, dc in MASK_TEMPLATE[:8]:
        ctx = (ctx << 1) | padded[dr + 2, 2 + dc : 2 + dc + w]
    return (ctx << 2).tolist()


def _update(c0: list[int], c1: list[int], ctx: int, bit: int) -> None:
    if bit:
        c1[ctx] += _STEP
    else:
        c0[ctx] += _STEP
    if c0[ctx] + c1[ctx] > _MAX_TOTAL:
        c0[ctx], c1[ctx] = (c0[ctx] + 1) >> 1, (c1[ctx] + 1) >> 1


def encode_mask(mask) -> bytes:
    """Code a 2-D boolean array losslessly with the context-adaptive arithmetic coder.

    Parameters
    ----------
    mask : ndarray of bool, shape (h, w)
        The bits, coded in raster order; each bit's context is :data:`MASK_TEMPLATE` (pixels outside
        the array count as 0).

    Returns
    -------
    bytes
        ``decode_mask(result, (h, w))`` gives ``mask`` back. Empty for an all-False mask.
    """
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.ndim != 2:
        raise ValueError(f"mask must be a 2-D boolean array, got dtype {mask.dtype} shape {mask.shape}")
    h, w = mask.shape
    bits = mask.astype(np.int64)
    c0, c1 = [1] * 1024, [1] * 1024
    low, rng, cache, pending = 0, 0xFFFFFFFF, 0, 1
    out = bytearray()

    def shift_low(low: int, cache: int, pending: int) -> tuple[int, int, int]:
        if low < 0xFF000000 or low >= 1 << 32:  # the byte in the cache can no longer change: emit it
            carry, byte = low >> 32, cache
            while pending:
                out.append((byte + carry) & 0xFF)
                byte, pending = 0xFF, pending - 1
            cache = (low >> 24) & 0xFF
        return (low & 0x00FFFFFF) << 8, cache, pending + 1

    for r in range(h):
        above, row, x2, x1 = _above_contexts(bits, r, w), bits[r].tolist(), 0, 0
        for c in range(w):
            ctx, bit = above[c] | (x2 << 1) | x1, row[c]
            bound = (rng // (c0[ctx] + c1[ctx])) * c0[ctx]
            if bit:
                low, rng = low + bound, rng - bound
            else:
                rng = bound
            _update(c0, c1, ctx, bit)
            while rng < _TOP:
                rng <<= 8
                low, cache, pending = shift_low(low, cache, pending)
            x2, x1 = x1, bit
    for k in range(32, -1, -1):  # end on the value of [low, low + rng) with the most trailing zero bits
        v = (low + (1 << k) - 1) & ~((1 << k) - 1)
        if v < low + rng:
            low = v
            break
    for _ in range(5):
        low, cache, pending = shift_low(low, cache, pending)
    return bytes(out[1:]).rstrip(b"\x00")  # out[0] is always 0; the decoder pads with zeros


def decode_mask(data: bytes, shape: tuple[int, int]) -> np.ndarray:
    """Decode :func:`encode_mask` output.

    Parameters
    ----------
    data : bytes
        The coded bits; any bytes decode to some mask (damage is caught by the packet's CRC).
    shape : (int, int)
        ``(h, w)`` of the mask.

    Returns
    -------
    ndarray of bool, shape (h, w)
    """
    h, w = (int(s) for s in shape)
    n, pos = len(data), 0
    code = 0
    for _ in range(4):
        code = (code << 8) | (data[pos] if pos < n else 0)
        pos += 1
    rng = 0xFFFFFFFF
    c0, c1 = [1] * 1024, [1] * 1024
    bits = np.zeros((h, w), np.int64)
    for r in range(h):
        above, row, x2, x1 = _above_contexts(bits, r, w), [0] * w, 0, 0
        for c in range(w):
            ctx = above[c] | (x2 << 1) | x1
            bound = (rng // (c0[ctx] + c1[ctx])) * c0[ctx]
            if code < bound:
                rng, bit = bound, 0
            else:
                code, rng, bit = code - bound, rng - bound, 1
            _update(c0, c1, ctx, bit)
            while rng < _TOP:
                rng <<= 8
                code = ((code << 8) | (data[pos] if pos < n else 0)) & 0xFFFFFFFF
                pos += 1
            row[c], x2, x1 = bit, x1, bit
        bits[r] = row
    return bits.astype(bool)


# ----------------------------------------------------------------------------- the sent pixels
def fill_unsent(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fill the unsent pixels so that a block codec spends almost nothing on them (push-pull).

    The sent pixels are averaged over aligned 2 x 2, 4 x 4, ... blocks (a pyramid of mask-weighted
    means); an unsent pixel takes the mean of the sent pixels of the smallest aligned block that holds
    one. Flat runs of the sent colours cost a DCT codec little, and no edge is drawn at the mask's
    border that would ring into the sent pixels; the aligned blocks fall on the codec's macroblocks.
    (Against other fills: ``benchmarks/results/CHOICES.md``.)

    Parameters
    ----------
    image : ndarray of uint8, shape (h, w, C)
    mask : ndarray of bool, shape (h, w)
        The sent pixels (at least one).

    Returns
    -------
    ndarray of uint8, shape (h, w, C)
        Equal to ``image`` where ``mask`` is True.
    """
    if not mask.any():
        raise ValueError("mask must hold at least one sent pixel")
    levels, value, weight = [], image.astype(np.float64) * mask[..., None], mask.astype(np.float64)
    while max(weight.shape) > 1:
        levels.append((value, weight))
        h, w = weight.shape
        hh, ww = h + h % 2, w + w % 2
        v = np.zeros((hh, ww, value.shape[2]))
        v[:h, :w] = value
        wt = np.zeros((hh, ww))
        wt[:h, :w] = weight
        value = v.reshape(hh // 2, 2, ww // 2, 2, -1).sum((1, 3))
        weight = wt.reshape(hh // 2, 2, ww // 2, 2).sum((1, 3))
    filled = value / weight[..., None]
    for value, weight in reversed(levels):
        up = np.repeat(np.repeat(filled, 2, 0), 2, 1)[: weight.shape[0], : weight.shape[1]]
        known = weight[..., None] > 0
        filled = np.where(known, value / np.where(known, weight[..., None], 1.0), up)
    out = np.clip(np.rint(filled), 0, 255).astype(np.uint8)
    out[mask] = image[mask]
    return out


def _check_quality(quality, high: int) -> int:
    if isinstance(quality, bool) or not isinstance(quality, numbers.Integral) or not 0 <= quality <= high:
        raise ValueError(f"quality must be an int in [0, {high}], got {quality!r}")
    return int(quality)


def planes_width(width: int) -> int:
    """Width of each plane in :func:`vp8_encode`'s frame: ``width`` rounded up to a macroblock (16)."""
    return -(-int(width) // 16) * 16


def _frame(plane: np.ndarray, quality: int) -> bytes:
    """One grey image (h, w) as a bare VP8 key frame (libwebp through Pillow, RIFF container dropped)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(plane)).save(buf, format="WEBP", quality=quality, method=6)
    riff = buf.getvalue()
    pos = 12  # RIFF header: b"RIFF", size, b"WEBP"; then chunks of (fourcc, u32 size, payload, pad)
    while pos + 8 <= len(riff):
        size = int.from_bytes(riff[pos + 4 : pos + 8], "little")
        if riff[pos : pos + 4] == b"VP8 ":
            return riff[pos + 8 : pos + 8 + size]
        pos += 8 + size + size % 2
    raise RuntimeError("libwebp wrote no lossy VP8 chunk")  # pragma: no cover - Pillow always does


def vp8_encode(image: np.ndarray, quality: int) -> bytes:
    """Code an image as one grey VP8 key frame (WebP's lossy bitstream) with full-resolution colour.

    A lossy WebP file stores colour at half resolution (4:2:0), which blurs saturated colour edges
    (what that costs in Eq. 16: ``benchmarks/results/CHOICES.md``). Here the image is
    converted to YCbCr (JFIF: BT.601, full range) and its three planes, each padded on the right to
    a multiple of 16 columns (:func:`planes_width`, so that no macroblock mixes two planes) by
    repeating its last column, are laid side by side and coded as one grey frame, ``(h, 3 W16)``:
    every plane at full resolution (4:4:4) for one frame header. A grey image (C = 1) is its own
    plane.

    Parameters
    ----------
    image : ndarray of uint8, shape (h, w, C), C = 1 or 3
        The frame is at most 16383 pixels a side (VP8's limit): ``3 * planes_width(w)`` for RGB.
    quality : int
        WebP quality, 0-100 (libwebp, ``method=6``, its slowest and smallest setting).

    Returns
    -------
    bytes
        The payload of the ``"VP8 "`` chunk (a WebP file less its 20-byte RIFF container);
        :func:`vp8_decode` decodes it.
    """
    from PIL import Image

    quality = _check_quality(quality, 100)
    if image.ndim != 3 or image.shape[2] not in (1, 3) or image.dtype != np.uint8:
        raise ValueError(f"VP8 codes uint8 images of 1 or 3 channels, got {image.dtype} shape {image.shape}")
    w, c = image.shape[1:]
    if c == 1:
        tile = image[:, :, 0]
    else:
        ycc = np.asarray(Image.fromarray(np.ascontiguousarray(image)).convert("YCbCr"))
        pad = planes_width(w) - w
        planes = [np.pad(ycc[:, :, k], ((0, 0), (0, pad)), mode="edge") for k in range(3)]
        tile = np.concatenate(planes, axis=1)
    if max(tile.shape) > 16383:
        raise ValueError(f"VP8 codes frames up to 16383 pixels a side; this image needs {tile.shape}")
    return _frame(tile, quality)


def vp8_decode(data: bytes, shape: tuple[int, int], channels: int = 3) -> np.ndarray:
    """Decode a :func:`vp8_encode` frame of a known size.

    Parameters
    ----------
    data : bytes
        The VP8 key frame.
    shape : (int, int)
        ``(h, w)`` of the image; the frame must be ``(h, 3 * planes_width(w))`` for RGB, ``(h, w)``
        for grey, which is checked in the frame header before anything is decoded.
    channels : {1, 3}
        Channels of the image.

    Returns
    -------
    ndarray of uint8, shape (h, w, channels)
        Each plane is the luma of the decoded grey frame (Pillow's ``convert("L")``); RGB from the
        YCbCr planes with Pillow's JFIF conversion.

    Raises
    ------
    ValueError
        Not a VP8 key frame of that size, or the decoder failed.
    """
    from PIL import Image

    h, w = shape
    fw_expected = 3 * planes_width(w) if channels == 3 else w
    if len(data) < 10 or data[0] & 1 or data[3:6] != b"\x9d\x01\x2a":
        raise ValueError("pixel section is not a VP8 key frame")
    fw, fh = int.from_bytes(data[6:8], "little") & 0x3FFF, int.from_bytes(data[8:10], "little") & 0x3FFF
    if (fh, fw) != (h, fw_expected):
        raise ValueError(f"VP8 frame is {fh}x{fw}, a {h}x{w} box needs {h}x{fw_expected}")
    chunk = b"VP8 " + len(data).to_bytes(4, "little") + data + b"\x00" * (len(data) % 2)
    riff = b"RIFF" + (4 + len(chunk)).to_bytes(4, "little") + b"WEBP" + chunk
    try:
        with Image.open(io.BytesIO(riff), formats=["WEBP"]) as im:
            im.load()
            if im.size != (fw, fh):
                raise ValueError(f"VP8 frame decoded to {im.size[1]}x{im.size[0]}, expected {fh}x{fw}")
            tile = np.asarray(im.convert("RGB").convert("L"))
    except CODEC_ERRORS as err:
        raise ValueError(f"VP8 frame does not decode: {err}") from err
    if channels == 1:
        return tile[:, :, None].copy()
    wp = planes_width(w)
    ycc = np.ascontiguousarray(np.stack([tile[:, k * wp : k * wp + w] for k in range(3)], axis=-1))
    return np.array(Image.fromarray(ycc, "YCbCr").convert("RGB"))


# ---------------------------------------------------------------------------------- whole images
def as_image(image, name: str = "image") -> np.ndarray:
    """An image as a uint8 array (H, W, C): a 2-D array gets one channel; a PIL image is converted.

    Raises
    ------
    TypeError
        Not an array (or PIL image) of dtype uint8.
    ValueError
        Not of shape (H, W) or (H, W, C) with C >= 1.
    """
    if hasattr(image, "mode") and hasattr(image, "size"):  # a PIL image
        image = np.asarray(image)
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy array (H, W) or (H, W, C), got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(f"{name} must have dtype uint8, got {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] < 1:
        raise ValueError(f"{name} must have shape (H, W) or (H, W, C), got {image.shape}")
    return image


def _to_pil(image):
    from PIL import Image

    img = as_image(image)
    if img.shape[2] not in (1, 3, 4):
        raise ValueError(f"image must have 1, 3 or 4 channels, got {img.shape[2]}")
    return Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img)


def png_bytes(image) -> bytes:
    """Lossless PNG encoding of a whole image (Pillow), the 'traditional' baseline's payload.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)

    Returns
    -------
    bytes
        The PNG file (Pillow's default compression).
    """
    buf = io.BytesIO()
    _to_pil(image).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(image, quality: int = 75) -> bytes:
    """Lossy JPEG encoding of a whole image (Pillow, 4:2:0 chroma), for size comparisons.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W), (H, W, 1) or (H, W, 3)
    quality : int, default 75
        JPEG quality, 1-95.

    Returns
    -------
    bytes
        The JPEG file.
    """
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 95:
        raise ValueError(f"quality must be an int in [1, 95], got {quality!r}")
    img = _to_pil(image)
    if img.mode not in ("L", "RGB"):
        raise ValueError(f"image must have 1 or 3 channels for JPEG, got mode {img.mode}")
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()


def webp_bytes(image, quality: int = 75) -> bytes:
    """Lossy WebP encoding of a whole image (Pillow, libwebp ``method=6``), for size comparisons.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W), (H, W, 1) or (H, W, 3)
    quality : int, default 75
        WebP quality, 0-100.

    Returns
    -------
    bytes
        The WebP file (RIFF container included, 20 bytes of it).
    """
    quality = _check_quality(quality, 100)
    img = _to_pil(image)
    if img.mode not in ("L", "RGB"):
        raise ValueError(f"image must have 1 or 3 channels for lossy WebP, got mode {img.mode}")
    buf = io.BytesIO()
    img.save(buf, format="WEBP", quality=quality, method=6)
    return buf.getvalue()


def decode_image(data: bytes) -> np.ndarray:
    """The RGB image a user gets from a PNG, JPEG or WebP file.

    Parameters
    ----------
    data : bytes

    Returns
    -------
    ndarray of uint8, shape (H, W, 3)
    """
    from PIL import Image

    with Image.open(io.BytesIO(data), formats=["PNG", "JPEG", "WEBP"]) as im:
        return np.array(im.convert("RGB"))
