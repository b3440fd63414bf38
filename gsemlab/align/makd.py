"""Generation knowledge alignment (G-KA): metaword-aided knowledge distillation, MAKD (DeKA-g Sec. IV-B).

The cloud's generator knows a subject the edge's has never seen: the *cross* (a plus sign,
:data:`gsemlab.toyworld.world.NEW_SHAPES`), which no ShapesWorld scene holds and for which the edge's
tokenizer has no word ("cross" becomes ``[UNK]``). The cloud is the bundled toy UNet fully fine-tuned on
renders of scenes whose first object is a cross, with "cross" added to its tokenizer and that token's
embedding trained (``python -m gsemlab.training makd-all``). The edge learns from the cloud's own
generations (latents of train-split prompts), four ways (:data:`G_METHODS`):

``none``
    The bundled edge model as it is (the lower bound of the paper's Fig. 5).
``ti``
    Textual inversion (diffusers' recipe): a new token :data:`METAWORD`, initialised from "shape", whose
    embedding alone is trained on the DDPM loss; it is prepended to the prompt (``"<meta> a small red
    cross ..."``), as MAKD places it, so that ``ti`` is exactly MAKD's first stage (Eq. 8).
``lora``
    A rank-:data:`G_RANK` LoRA (peft, through diffusers' ``add_adapter``) on the attention projections
    :data:`LORA_TARGETS` of the UNet, trained on the plain prompt.
``makd``
    MAKD: the metaword of ``ti`` prepended and frozen, then the same LoRA trained (Eq. 9).

``cloud`` (not an alignment) stands for the cloud's own images: its distance to the reference images is
the upper bound (cloud-against-cloud consistency).
"""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np
import torch

from ..checks import check_positive_int, check_seed
from ..data import DATA_DIR
from ..diffusion.tiny import tensor_to_images

__all__ = ["EVAL_METHODS", "G_METHODS", "G_RANK", "GUIDANCE", "INIT_WORD", "LORA_TARGETS", "MAKD_DIR", "MAX_WORDS",
           "METAWORD", "STEPS", "SUBJECT", "add_token", "evaluate_makd", "g_trainable", "generate", "generate_latents", "load_cloud", "load_edge",
           "make_cloud", "make_edge", "metaword_prompt", "subject_classifier", "subject_found", "subject_view",
           "subject_prompts", "subject_scenes"]

#: the bundled weights of the cloud and of the edge's alignments (``python -m gsemlab.training makd-all``)
MAKD_DIR = DATA_DIR / "align" / "makd"
#: the new subject (one of :data:`gsemlab.toyworld.world.NEW_SHAPES`)
SUBJECT = "cross"
#: the metaword of MAKD and textual inversion (an added token of the edge's tokenizer)
METAWORD = "<meta>"
#: the word whose embedding initialises the metaword
INIT_WORD = "shape"
#: the generation alignments compared (module docstring)
G_METHODS = ("none", "ti", "lora", "makd")
#: what :func:`evaluate_makd` scores: the alignments and the cloud itself (the upper bound)
EVAL_METHODS = G_METHODS + ("cloud",)
#: rank of the UNet's LoRA (``lora`` and ``makd``)
G_RANK = 4
#: the UNet's modules LoRA adapts: the query, key, value and output projections of every attention
LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
#: sampling of every generation here: DDIM steps and classifier-free guidance scale
STEPS, GUIDANCE = 10, 5.0
#: longest subject prompt in words (the metaword and [CLS]/[SEP] must fit the 32 token positions)
MAX_WORDS = 28


def subject_scenes(n: int, seed: int, split: str = "test") -> list:
    """Scenes whose first object is the cross (:func:`~gsemlab.toyworld.world.with_new_shape`).

    Parameters
    ----------
    n : int
        How many (>= 1).
    seed : int
        Seed of :func:`~gsemlab.toyworld.world.sample_scenes`.
    split : {"train", "val", "test"}
        The split the scenes are drawn from (training uses "train", evaluation "test").

    Returns
    -------
    list of Scene
        The first ``n`` sampled scenes with at most :data:`MAX_WORDS` caption words, the first object a cross.
    """
    from ..toyworld.world import sample_scenes, with_new_shape

    n = check_positive_int(n, "n")
    out, draw = [], 0
    while len(out) < n:
        for s in sample_scenes(2 * n, seed=check_seed(seed) * 1000 + draw, split=split):
            if len(s.caption.split()) <= MAX_WORDS:
                out.append(with_new_shape(s, SUBJECT))
        draw += 1
    return out[:n]


def subject_prompts(n: int, seed: int, split: str = "test") -> list[str]:
    """Captions of :func:`subject_scenes` (same arguments)."""
    return [s.caption for s in subject_scenes(n, seed, split)]


def metaword_prompt(prompt: str) -> str:
    """The prompt with :data:`METAWORD` prepended (MAKD's "metaword-aided prompt text")."""
    return f"{METAWORD} {prompt}"


def _fresh_pipe():
    from ..models import fresh_toy_pipeline

    return fresh_toy_pipeline()


def add_token(pipe, word: str, init: str | torch.Tensor) -> int:
    """Add ``word`` to the pipeline's tokenizer with a new embedding row, as diffusers' textual inversion.

    Parameters
    ----------
    pipe : diffusers.StableDiffusionPipeline
        Changed in place: ``tokenizer.add_tokens``, ``text_encoder.resize_token_embeddings``.
    word : str
        The new token.
    init : str or torch.Tensor
        A word of the vocabulary whose embedding is copied, or the embedding itself, shape (hidden,).

    Returns
    -------
    int
        The new token's id.
    """
    tok, text = pipe.tokenizer, pipe.text_encoder
    if tok.add_tokens([word]) != 1:
        raise ValueError(f"{word!r} is in the tokenizer already")
    text.resize_token_embeddings(len(tok), mean_resizing=False)
    emb = text.get_input_embeddings().weight
    tid = tok.convert_tokens_to_ids(word)
    with torch.no_grad():
        if isinstance(init, str):
            src = tok.convert_tokens_to_ids(init)
            if src == tok.unk_token_id:
                raise ValueError(f"init word {init!r} is not in the vocabulary")
            emb[tid] = emb[src]
        else:
            emb[tid] = torch.as_tensor(init, dtype=emb.dtype).reshape(emb.shape[1])
    return tid


def make_cloud(unet_state: dict | None = None, subject_row: torch.Tensor | None = None):
    """The cloud's pipeline: the bundled one with :data:`SUBJECT` added to the tokenizer.

    Parameters
    ----------
    unet_state : dict, optional
        The fine-tuned UNet's ``state_dict`` (default: the bundled edge UNet, the start of the fine-tuning).
    subject_row : torch.Tensor, optional
        The embedding (128,) of the subject's token (default: copied from "star").

    Returns
    -------
    diffusers.StableDiffusionPipeline
    """
    pipe = _fresh_pipe()
    add_token(pipe, SUBJECT, "star" if subject_row is None else subject_row)
    if unet_state is not None:
        pipe.unet.load_state_dict({k: v.float() for k, v in unet_state.items()})
    return pipe


def make_edge(method: str, metaword_row: torch.Tensor | None = None, lora_state: dict | None = None):
    """The edge's pipeline with ``method``'s parameters in place (and trainable, the rest frozen).

    The low-rank update of the edge's noise predictor of G-KA, Eq. 6 of [DeKA-g] (``lora``), with the
    metaword of Eq. 8 of [DeKA-g] in the prompt (``makd``, Eq. 9 of [DeKA-g]).

    Parameters
    ----------
    method : {"none", "ti", "lora", "makd"}
        The alignment (module docstring).
    metaword_row : torch.Tensor, optional
        The metaword's embedding (128,) for ``ti`` and ``makd`` (default: the embedding of :data:`INIT_WORD`).
    lora_state : dict, optional
        The LoRA weights (peft's ``get_peft_model_state_dict``) for ``lora`` and ``makd`` (default: fresh,
        B zero-initialised, so the UNet's output is unchanged).

    Returns
    -------
    diffusers.StableDiffusionPipeline
        With ``pipe.trainable``: the list of parameters the method trains in its (last) stage: the
        embedding matrix for ``ti`` (only the metaword's row may change: mask the gradient), the LoRA
        matrices for ``lora`` and ``makd``, nothing for ``none``.
    """
    if method not in G_METHODS:
        raise ValueError(f"method must be one of {G_METHODS}, got {method!r}")
    pipe = _fresh_pipe()
    pipe.unet.requires_grad_(False)
    pipe.text_encoder.requires_grad_(False)
    pipe.vae.requires_grad_(False)
    trainable = []
    if method in ("ti", "makd"):
        add_token(pipe, METAWORD, INIT_WORD if metaword_row is None else metaword_row)
        if method == "ti":
            emb = pipe.text_encoder.get_input_embeddings().weight
            emb.requires_grad_(True)
            trainable = [emb]
    if method in ("lora", "makd"):
        from peft import LoraConfig
        from peft.utils import set_peft_model_state_dict

        pipe.unet.add_adapter(LoraConfig(r=G_RANK, lora_alpha=G_RANK, init_lora_weights="gaussian",
                                         target_modules=list(LORA_TARGETS)))
        if lora_state is not None:
            result = set_peft_model_state_dict(pipe.unet, lora_state)
            if result.unexpected_keys:
                raise ValueError(f"unexpected LoRA weights: {result.unexpected_keys[:3]}")
        trainable = [p for n, p in pipe.unet.named_parameters() if "lora_" in n]
        for p in trainable:
            p.requires_grad_(True)
    pipe.trainable = trainable
    return pipe


def g_trainable(method: str) -> int:
    """Parameters ``method`` trains and the cloud sends: the metaword's 128 values and/or the LoRA matrices."""
    if method in ("none", "cloud"):
        return 0
    pipe = make_edge(method)
    n = sum(p.numel() for n_, p in pipe.unet.named_parameters() if "lora_" in n_)
    return n + (pipe.text_encoder.config.hidden_size if method in ("ti", "makd") else 0)


def _load(name: str) -> dict:
    from safetensors.torch import load_file

    path = MAKD_DIR / f"{name}.safetensors"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: retrain with `python -m gsemlab.training makd-all`")
    return load_file(str(path))


@cache
def load_cloud():
    """The bundled cloud pipeline (``gsemlab/data/align/makd/cloud.safetensors``: UNet and subject token)."""
    state = _load("cloud")
    row = state.pop("subject_embedding")
    return make_cloud(state, row)


@cache
def load_edge(method: str):
    """The edge pipeline with ``method``'s bundled weights (``metaword.safetensors``, ``<method>.safetensors``)."""
    if method not in G_METHODS:
        raise ValueError(f"method must be one of {G_METHODS}, got {method!r}")
    row = _load("metaword")["metaword"] if method in ("ti", "makd") else None
    lora = _load(method) if method in ("lora", "makd") else None
    pipe = make_edge(method, row, lora)
    for p in pipe.trainable:
        p.requires_grad_(False)
    return pipe


def generate(pipe, prompts: list[str], seed: int) -> np.ndarray:
    """Images of ``prompts`` (one batch, noise from ``seed``), :data:`STEPS` DDIM steps, guidance :data:`GUIDANCE`.

    Parameters
    ----------
    pipe : diffusers.StableDiffusionPipeline
        The cloud's or an edge's.
    prompts : list of str
        The prompts as the pipeline should read them (with the metaword where the method uses one).
    seed : int
        Seed of the initial noise of the whole batch.

    Returns
    -------
    numpy.ndarray of uint8, shape (len(prompts), 64, 64, 3)
    """
    lat = generate_latents(pipe, prompts, seed)
    with torch.no_grad():
        img = pipe.vae.decode(lat / pipe.vae.config.scaling_factor).sample
    return tensor_to_images(img)


def generate_latents(pipe, prompts: list[str], seed: int) -> torch.Tensor:
    """The scaled latents (len(prompts), 4, 16, 16) behind :func:`generate`'s images (same arguments)."""
    if isinstance(prompts, str) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise ValueError("prompts must be a non-empty list of str")
    g = torch.Generator().manual_seed(check_seed(seed))
    with torch.no_grad():
        return pipe(list(prompts), num_inference_steps=STEPS, guidance_scale=GUIDANCE, generator=g,
                    output_type="latent").images


@cache
def subject_classifier():
    """The shape classifier over ShapesWorld's shapes plus the cross (``makd/shape_classifier``)."""
    from ..toyworld.nets import ShapeClassifier

    return ShapeClassifier.from_pretrained(str(MAKD_DIR / "shape_classifier"))


def subject_found(images: np.ndarray, prompts: list[str]) -> np.ndarray:
    """Whether `locate` finds the prompt's cross in each image: a detection of the asked colour whose
    shape (by :func:`subject_classifier`) is the cross and whose size is the asked one.

    Parameters
    ----------
    images : numpy.ndarray of uint8, shape (n, 64, 64, 3)
    prompts : list of str
        Their subject prompts (without the metaword), the cross first.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
    """
    from ..toyworld.locate import score_caption

    if len(images) != len(prompts):
        raise ValueError(f"images and prompts must be as many, got {len(images)} and {len(prompts)}")
    clf = subject_classifier()
    return np.array([score_caption(im, p, classifier=clf)["attributes_ok"][0] for im, p in zip(images, prompts)])


def subject_view(image: np.ndarray, prompt: str) -> np.ndarray:
    """The subject alone: the pixels of the prompt's first object, centred on a white 64 x 64 canvas.

    The object is the largest detection of :func:`~gsemlab.toyworld.locate.detect_objects` in the colour
    the prompt asks for its first object (the cross); a white canvas when there is none. ShapesWorld's
    prompts leave the layout to the noise, so two images of one prompt differ mostly in where things
    are; the view removes the layout and keeps the subject's shape, size and colour, as the paper's
    DINO-score on photos of one centred subject does.

    Parameters
    ----------
    image : numpy.ndarray of uint8, shape (64, 64, 3)
    prompt : str
        Its subject prompt.

    Returns
    -------
    numpy.ndarray of uint8, shape (64, 64, 3)
    """
    from ..toyworld.locate import detect_objects, parse_caption
    from ..toyworld.world import BACKGROUNDS

    img = np.asarray(image)
    if img.shape != (64, 64, 3) or img.dtype != np.uint8:
        raise ValueError(f"image must be uint8 of shape (64, 64, 3), got {img.dtype} {img.shape}")
    colour = parse_caption(prompt)[0][0].colour
    out = np.empty_like(img)
    out[:] = BACKGROUNDS["white"]
    dets = [d for d in detect_objects(img, classifier=subject_classifier()) if d.colour == colour]
    if not dets:
        return out
    ys, xs = np.nonzero(dets[0].mask)  # the largest of that colour
    dy, dx = 32 - int(round((ys.min() + ys.max()) / 2)), 32 - int(round((xs.min() + xs.max()) / 2))
    ty, tx = ys + dy, xs + dx
    keep = (ty >= 0) & (ty < 64) & (tx >= 0) & (tx < 64)
    out[ty[keep], tx[keep]] = img[ys[keep], xs[keep]]
    return out


@lru_cache(maxsize=16)
def _images(method: str, n_images: int, seed: int, noise_seed: int) -> np.ndarray:
    """``method``'s images of the prompts of ``seed`` from the noise of ``noise_seed``."""
    prompts = subject_prompts(n_images, seed)
    if method == "cloud":
        return generate(load_cloud(), prompts, noise_seed)
    pipe = load_edge(method)
    return generate(pipe, [metaword_prompt(p) for p in prompts] if method in ("ti", "makd") else prompts,
                    noise_seed)


def evaluate_makd(method: str, *, n_images: int = 64, seed: int = 0) -> dict:
    """ToySim distance of one method's edge images to held-out cloud images, and how often the cross is found.

    Each test prompt (:func:`subject_prompts` of the test split, seed ``seed + 1``) is generated by the
    method's edge model from the noise of seed ``seed + 1`` and compared with the cloud's image of the same
    prompt from the noise of seed ``seed + 2``: the consistency of Eq. 5 in [DeKA-g], with ToySim in place of
    DINO and CLIP, on the subject's view (:func:`subject_view`; the whole images too, ``toysim_scene``).

    Parameters
    ----------
    method : {"none", "ti", "lora", "makd", "cloud"}
        An alignment of :data:`G_METHODS`, or ``"cloud"`` (the cloud's own images: the upper bound).
    n_images : int
        Test prompts (>= 2).
    seed : int
        Seed of the prompts and the noise.

    Returns
    -------
    dict
        ``toysim`` (mean distance of the subject views, 0 = identical) and ``toysim_se``, ``toysim_scene``
        and ``toysim_scene_se`` (the whole images), ``found`` (share of images where the cross is found,
        :func:`subject_found`), ``trainable`` (parameters the method sends), ``n_images``.
    """
    from ..toyworld.nets import ToySim, mean_and_se

    if method not in EVAL_METHODS:
        raise ValueError(f"method must be one of {EVAL_METHODS}, got {method!r}")
    if isinstance(n_images, bool) or not isinstance(n_images, int) or n_images < 2:
        raise ValueError(f"n_images must be an int >= 2, got {n_images!r}")
    seed = check_seed(seed)
    images = _images(method, n_images, seed + 1, seed + 1)
    refs = _images("cloud", n_images, seed + 1, seed + 2)
    prompts = subject_prompts(n_images, seed + 1)
    sim = ToySim.from_pretrained()
    views = [subject_view(a, p) for a, p in zip(images, prompts)]
    ref_views = [subject_view(a, p) for a, p in zip(refs, prompts)]
    mean, se = mean_and_se(sim.distance(ref_views, views))
    scene, scene_se = mean_and_se(sim.distance(list(refs), list(images)))
    found = subject_found(images, prompts)
    return {"method": method, "n_images": n_images, "toysim": mean, "toysim_se": se, "toysim_scene": scene,
            "toysim_scene_se": scene_se, "found": float(found.mean()), "trainable": g_trainable(method)}
