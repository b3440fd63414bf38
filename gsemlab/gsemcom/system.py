"""The :class:`GSemCom` facade: one backend, its settings, and the whole system behind five verbs.

``generate`` and ``extract`` (or ``encode``, both) run the MASP side (:mod:`.encoder`), ``decode`` and
``receive`` the user side (:mod:`.decoder`), ``transmit`` one user end to end; ``traditional``,
``local_aigc`` and ``fully_masked`` are the baselines (:mod:`gsemlab.gsemcom.baselines`); ``score`` gives D, Q and J.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from .. import jpsq as _jpsq
from ..config import DecoderOptions, GenerationOptions, GSemComConfig, JPSQConfig
from ..packing import Packet
from ..profiling import Profiler
from . import baselines, decoder, encoder
from .results import Encoded, Generation, Reception, Transmission

__all__ = ["GSemCom"]

_OPTION_GROUPS = {"config": GSemComConfig, "generation_options": GenerationOptions, "decoder_options": DecoderOptions}


class GSemCom:
    """The G-SemCom system on one backend: MASP encoder, user decoder, baselines (Algorithm 1, Sec. IV-D).

    Parameters
    ----------
    backend : gsemlab.models.Backend
        Provides ``pipe``, ``inpaint``, ``generate``, ``distance``, ``quality``, ``image_size``, ``name``.
    config : GSemComConfig, optional
        Table III's ``xi``, step counts, DBSCAN settings and the pixel cost ``O``.
    generation_options, decoder_options : GenerationOptions, DecoderOptions, optional
        The MASP's and the user's options (see :mod:`gsemlab.config`).
    t_max : float, optional
        Upper distance bound of Eq. 18; default the backend's calibrated value.
    jpsq_config : JPSQConfig, optional
        ``omega0``, ``q_th``, ``t_min`` of Eq. 17-18; default Table III.
    profile_memory : bool
        Also record each stage's peak memory increase (see :class:`gsemlab.profiling.Profiler`).
    **options
        Any field of ``GSemComConfig``, ``GenerationOptions`` or ``DecoderOptions`` by name, e.g.
        ``fill="nearest"`` or ``xi=0.8``; ``guidance_scale`` sets both the MASP's and the user's.
    """

    def __init__(self, backend, config: GSemComConfig | None = None, *,
                 generation_options: GenerationOptions | None = None, decoder_options: DecoderOptions | None = None,
                 t_max: float | None = None,
                 jpsq_config: JPSQConfig | None = None, profile_memory: bool = False, **options):
        for attr in ("pipe", "inpaint", "distance", "quality"):
            if not hasattr(backend, attr):
                raise TypeError(f"backend must have a .{attr} attribute (see gsemlab.models.Backend)")
        groups = {"config": config, "generation_options": generation_options, "decoder_options": decoder_options}
        for name, cls in _OPTION_GROUPS.items():
            groups[name] = cls() if groups[name] is None else groups[name]
            if not isinstance(groups[name], cls):
                raise TypeError(f"{name} must be a {cls.__name__}, got {type(groups[name]).__name__}")
        groups = _replace(groups, options)
        jpsq_config = JPSQConfig() if jpsq_config is None else jpsq_config
        if not isinstance(jpsq_config, JPSQConfig):
            raise TypeError(f"jpsq_config must be a JPSQConfig, got {type(jpsq_config).__name__}")
        if not isinstance(profile_memory, bool):
            raise TypeError(f"profile_memory must be a bool, got {type(profile_memory).__name__}")
        if t_max is not None:
            t_max = float(t_max)
            if not math.isfinite(t_max) or t_max <= jpsq_config.t_min:
                raise ValueError(f"t_max must be a finite number > t_min ({jpsq_config.t_min}), got {t_max}")
        self.backend, self.jpsq_config, self.profile_memory, self._t_max = backend, jpsq_config, profile_memory, t_max
        self.config, self.generation_options = groups["config"], groups["generation_options"]
        self.decoder_options = decoder.resolve_options(backend, groups["decoder_options"])  # strength, background

    def __repr__(self) -> str:
        g = self.generation_options
        return (f"GSemCom(backend={getattr(self.backend, 'name', '?')!r}, xi={self.xi}, binarize={g.binarize}, "
                f"cluster={g.cluster}, steps={self.config.generation_steps}/{self.config.decode_steps})")

    def with_options(self, **changes) -> GSemCom:
        """A copy with some settings changed, e.g. ``gs.with_options(cluster=False, xi=0.8)``.

        Keys: the constructor's keyword arguments, or
        any field of the three option dataclasses (applied with ``dataclasses.replace``).
        """
        own = {"config": self.config, "generation_options": self.generation_options,
               "decoder_options": self.decoder_options, "t_max": self._t_max, "jpsq_config": self.jpsq_config, "profile_memory": self.profile_memory}
        return GSemCom(self.backend, **{**own, **changes})

    # ------------------------------------------------------------------------- settings, read-only
    xi = property(lambda self: self.config.xi, doc="Eq. 8 thresholds by importance rank (Table III).")
    binarize = property(lambda self: self.generation_options.binarize, doc="Eq. 8 on (Fig. 12a ablation off).")
    cluster = property(lambda self: self.generation_options.cluster, doc="DBSCAN on (Fig. 12c ablation off).")
    guidance_scale = property(lambda self: self.generation_options.guidance_scale, doc="Classifier-free guidance.")
    latent_mask = property(lambda self: self.decoder_options.latent_mask, doc="Pixel mask to latent grid.")
    fill = property(lambda self: self.decoder_options.fill, doc="What the missing pixels start from.")
    strength = property(lambda self: self.decoder_options.strength, doc="Share of the schedule decoded.")
    background = property(lambda self: self.decoder_options.background, doc="Prior background (RGB).")

    @property
    def ranking_xi(self) -> float:
        """Common threshold of the maps that rank the words (Eq. 10-12)."""
        r = self.generation_options.ranking_xi
        return self.config.xi[-1] if r is None else r

    @property
    def inpaint_schedule(self) -> int:
        """``num_inference_steps`` of the inpainting pipeline (:func:`.decoder.inpaint_schedule`)."""
        return decoder.inpaint_schedule(self.config.decode_steps, self.strength)

    @property
    def image_shape(self) -> tuple[int, int]:
        """(H, W) of the backend's images."""
        return (int(self.backend.image_size),) * 2

    @property
    def t_max(self) -> float:
        """Upper distance bound of Eq. 18, the value passed in or the backend's calibrated one."""
        if self._t_max is None:
            from ..calibration import load_t_max

            self._t_max = load_t_max(getattr(self.backend, "name", None))
        return self._t_max

    def _profiler(self) -> Profiler:
        return Profiler(getattr(self.backend, "device", None), memory=self.profile_memory)

    # ------------------------------------------------------------------------------------ MASP side
    def generate(self, prompt: str, seed: int = 0) -> Generation:
        """Generate the source image while recording cross-attention (Eq. 2-6): :func:`.encoder.generate`."""
        return self._generate(*encoder.check_request(self.backend, prompt, seed))

    def _generate(self, prompt: str, seed: int) -> Generation:  # prompt and seed already checked
        return encoder.generate(self.backend, prompt, seed, steps=self.config.generation_steps,
                                guidance_scale=self.guidance_scale, profiler=self._profiler())

    def extract(self, generation: Generation, budget=None) -> Encoded:
        """Extract and pack the semantics of a generation (Eq. 7-14): :func:`.encoder.extract`."""
        return encoder.extract(generation, budget, config=self.config, options=self.generation_options,
                               profiler=self._profiler())

    def encode(self, prompt: str, seed: int = 0, *, budget=None) -> Encoded:
        """MASP side of Algorithm 1: :meth:`generate` then :meth:`extract` (budget checked first)."""
        prompt, seed = encoder.check_request(self.backend, prompt, seed, budget, pixel_cost=self.config.pixel_cost)
        return self.extract(self._generate(prompt, seed), budget=budget)

    # ------------------------------------------------------------------------------------ user side
    def decode(self, packet: Packet, *, seed: int = 0):
        """The user's decoder (Sec. IV-D): :func:`.decoder.decode`; returns the uint8 (H, W, 3) image."""
        return self._decode(packet, seed)[0]

    def _decode(self, packet: Packet, seed: int):
        prof = self._profiler()
        return decoder.decode(self.backend, packet, seed=seed, steps=self.config.decode_steps,
                              options=self.decoder_options, profiler=prof), prof

    def fill_image(self, packet: Packet):
        """The image the user's decoder starts from (:func:`.decoder.fill_image` with this fill)."""
        return decoder.fill_image(packet, self.fill, self.background)

    def receive(self, data, prompt: str, *, seed: int = 0) -> Reception:
        """Parse received bytes and decode them, falling back when damaged: :func:`.decoder.receive`."""
        return decoder.receive(self.backend, data, prompt, seed=seed, steps=self.config.decode_steps,
                               options=self.decoder_options, profiler_factory=self._profiler)

    # ----------------------------------------------------------------------------------- evaluation
    def score(self, source, recovered) -> tuple[float, float, float]:
        """Distance (Eq. 15), quality (Eq. 16) and JPSQ (Eq. 17-18) of a recovered image."""
        d, q = float(self.backend.distance(source, recovered)), float(self.backend.quality(recovered))
        cfg = self.jpsq_config
        return d, q, float(_jpsq.jpsq(d, q, self.t_max, omega0=cfg.omega0, q_th=cfg.q_th, t_min=cfg.t_min))

    def _generation(self, prompt, seed, generation, budget=None) -> Generation:
        prompt, seed = encoder.check_request(self.backend, prompt, seed, budget, pixel_cost=self.config.pixel_cost)
        if generation is None:
            return self._generate(prompt, seed)
        if not isinstance(generation, Generation):
            raise TypeError(f"generation must be a Generation or None, got {type(generation).__name__}")
        if generation.prompt != prompt or generation.seed != seed:
            raise ValueError(f"generation was made for ({generation.prompt!r}, seed {generation.seed}), "
                             f"not for ({prompt!r}, seed {seed})")
        return generation

    def transmit(self, prompt: str, budget=None, *, seed: int = 0, channel: Callable | None = None,
                 generation: Generation | None = None) -> Transmission:
        """G-SemCom for one user: encode at the MASP, send, decode at the user, score.

        Parameters
        ----------
        prompt : str
            The user's prompt.
        budget : float, optional
            Bandwidth in units of O (pixels at O = 1), > 0; None sends all segment pixels.
        seed : int
            Seed of the MASP's generation; the user's noise uses :func:`.decoder.user_seed` of it.
        channel : callable, optional
            ``channel(bytes) -> bytes or None`` applied to the packet's bytes, e.g.
            ``functools.partial(gsemlab.channel.bsc, p=1e-4, rng=0)``; None is a perfect link.
        generation : Generation, optional
            A generation of the same prompt and seed to reuse (skips the generation stage).

        Returns
        -------
        Transmission
            ``method="gsemcom"``; ``fallback`` tells whether the packet was damaged.
        """
        if channel is not None and not callable(channel):
            raise TypeError(f"channel must be callable or None, got {type(channel).__name__}")
        gen = self._generation(prompt, seed, generation, budget)
        enc = self.extract(gen, budget=budget)
        received = enc.data if channel is None else channel(enc.data)
        rec = self.receive(received, gen.prompt, seed=decoder.user_seed(gen.seed))
        timings, cpu = {**enc.timings, "decoding": rec.seconds}, {**enc.cpu_timings, "decoding": rec.cpu_seconds}
        peak = {**enc.peak_mb, "decoding": rec.peak_mb} if self.profile_memory else {}
        return baselines.transmission("gsemcom", gen, rec.image, self.score, pixels_sent=enc.packet.n_pixels,
                                      bytes_sent=len(enc.data), timings=timings, cpu=cpu, peak=peak,
                                      fallback=rec.fallback, encoded=enc,
                                      extra={"error": rec.error} if rec.fallback else {})

    # ------------------------------------------------------------------------------------ baselines
    def traditional(self, prompt: str, seed: int = 0, *, jpeg_quality: int = 75,
                    generation: Generation | None = None) -> Transmission:
        """Traditional mobile AIGC, the whole image sent: :func:`.baselines.traditional`."""
        return baselines.traditional(self._generation(prompt, seed, generation), self.score,
                                     jpeg_quality=jpeg_quality, profiled=self.profile_memory)

    def local_aigc(self, prompt: str, seed: int = 0, *, generation: Generation | None = None) -> Transmission:
        """Local AIGC, nothing sent: :func:`.baselines.local_aigc` with ``decode_steps`` steps."""
        return baselines.local_aigc(self.backend, self._generation(prompt, seed, generation), self.score,
                                    steps=self.config.decode_steps,
                                    guidance_scale=self.decoder_options.guidance_scale, profiler=self._profiler())

    def fully_masked(self, prompt: str, seed: int = 0, *, generation: Generation | None = None) -> Transmission:
        """Fully masked, only the prompt sent: :func:`.baselines.fully_masked`."""
        return baselines.fully_masked(self._generation(prompt, seed, generation), self.score, self._decode,
                                      self.image_shape)


def _replace(groups: dict, options: dict) -> dict:
    """Apply keyword options to the option dataclasses that have such a field (``dataclasses.replace``)."""
    fields = {name: {f.name for f in dataclasses.fields(cls)} for name, cls in _OPTION_GROUPS.items()}
    unknown = set(options) - set().union(*fields.values())
    if unknown:
        raise TypeError(f"unknown option(s): {sorted(unknown)}; options are the fields of GSemComConfig, "
                        "GenerationOptions and DecoderOptions")
    return {name: dataclasses.replace(obj, **{k: v for k, v in options.items() if k in fields[name]})
            for name, obj in groups.items()}
