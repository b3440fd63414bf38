"""Train the bundled ShapesWorld model family from scratch, resumably, on CPU.

Usage::

    python -m gsemlab.training all   # shapes, vae, unet, decoder, toysim, toynima, export
    python -m gsemlab.training unet --minutes 60 --steps 6000
    GSEMLAB_TOY_CACHE=/tmp/toy python -m gsemlab.training vae

Every stage checkpoints to the cache folder (``--cache-dir``, else ``$GSEMLAB_TOY_CACHE``, else
``~/.cache/gsemlab/toy``) every few minutes and resumes from there when re-run; a stage whose
checkpoint says "done" is skipped.  Each stage stops at its step budget or its time budget
(whichever comes first; the time already spent is stored in the checkpoint).  ``export`` writes
the final weights into ``gsemlab/data/`` (or ``--out``).  The UNet stage adds a grounding loss on
the cross-attention maps (`gsemlab.training.attnloss`, ``--attn-weight``, 0 turns it off).
"""
from __future__ import annotations

import argparse
import functools
import json
import os

import torch

from ..data import DATA_DIR
from . import align, channel_diffusion, control, makd, metric_nets
from .autoencoder import stage_decoder, stage_vae
from .common import cache_dir, load_ckpt, stage_data
from .unet import export_pipeline, stage_unet, unet_history

__all__ = ["DEFAULTS", "STAGES", "STAGE_CHOICES", "export", "main"]

DEFAULTS = {  # stage -> (steps, minutes, batch)
    "shapes": (1500, 4.0, 64),
    "vae": (6000, 12.0, 8),
    "unet": (20000, 70.0, 16),
    "decoder": (6000, 25.0, 8),
    "toysim": (3000, 10.0, 32),
    "toynima": (3000, 10.0, 64),
}
STAGES = ("data", "shapes", "vae", "unet", "decoder", "toysim", "toynima", "export")
#: chapter 9's modules (gsemlab.training.channel_diffusion); ``cdiff-all`` runs the three and exports them
CDIFF_STAGES = ("cdiff", "cdiff-random", "djscc", "cdiff-export")
#: the knowledge-alignment codec (gsemlab.training.align); ``align-all`` runs them and exports them
ALIGN_STAGES = ("align-pretrain", "align-subject", "align-lora", "align-cala", "align-full-ft", "align-export")
#: generation alignment, MAKD (gsemlab.training.makd); ``makd-all`` runs them and exports them
MAKD_STAGES = ("makd-data", "makd-cloud", "makd-distil", "makd-ti", "makd-lora", "makd-makd", "makd-shapes",
               "makd-export")
#: the control-map chapter (gsemlab.training.control); ``control-all`` trains and exports the ControlNet;
#: ``control-dqn`` needs the curves of ``benchmarks/control.py`` (``make train-control`` runs all of it)
CONTROL_STAGES = ("control-data", "control", "control-dqn", "control-export")
#: every stage name the command accepts (each family's stages, then its ``-all``)
STAGE_CHOICES = (STAGES + ("all",) + CDIFF_STAGES + ("cdiff-all",) + ALIGN_STAGES + ("align-all",) + MAKD_STAGES
                 + ("makd-all",) + CONTROL_STAGES + ("control-all",))
#: stages an ``-all`` command leaves out
_NOT_IN_ALL = ("control-dqn",)
#: the stages of the chapter systems: name -> f(cache, steps, minutes, batch)
_CHAPTER_STAGES = {
    "cdiff": lambda c, s, m, b: channel_diffusion.stage_latent(c, s, m, b, variant="matched"),
    "cdiff-random": lambda c, s, m, b: channel_diffusion.stage_latent(c, s, m, b, variant="random"),
    "djscc": channel_diffusion.stage_djscc,
    "align-pretrain": align.stage_pretrain,
    **{st: functools.partial(align.stage_adapt, stage=st) for st in align.ADAPT_STAGES},
    "makd-cloud": makd.stage_cloud,
    **{st: functools.partial(makd.stage_edge, stage=st) for st in makd.EDGE_STAGES},
    "makd-shapes": makd.stage_shapes,
    "control": control.stage_control,
    "control-dqn": control.stage_dqn,
}
#: stages without a training budget: name -> f(cache)
_ONCE = {"align-subject": align.stage_subject, "makd-data": makd.stage_data, "makd-distil": makd.stage_distil,
         "control-data": control.stage_data}
_TRAIN = {"shapes": metric_nets.train_shapes, "vae": stage_vae, "unet": stage_unet, "decoder": stage_decoder,
          "toysim": metric_nets.train_toysim, "toynima": metric_nets.train_toynima}


def export(cache: str, out: str) -> dict:
    """Write the pipeline and the metric nets to ``out`` and their training record to ``toy_training.json``.

    Returns
    -------
    dict
        Per model: steps, minutes and its held-out metrics (validation PSNR for the VAE and decoder);
        for the UNet also its runs (:func:`gsemlab.training.unet.unet_history`).
    """
    export_pipeline(cache, out)
    info = metric_nets.export_all(cache, out)
    for name in ("vae", "unet", "decoder"):
        ck = load_ckpt(os.path.join(cache, f"{name}.pt"))
        if ck is not None:
            info[name] = {"steps": ck["step"], "minutes": round(ck["elapsed"] / 60, 2),
                          **({"val_psnr_db": round(ck["val_psnr"], 2)} if "val_psnr" in ck else {})}
    info["unet"]["runs"] = unet_history(cache)
    with open(os.path.join(out, "toy_training.json"), "w") as f:
        json.dump(info, f, indent=2)
    return info


def main(argv: list[str] | None = None) -> int:
    """Run the stage named on the command line (``argv``, default ``sys.argv[1:]``); returns 0."""
    p = argparse.ArgumentParser(prog="python -m gsemlab.training", description=__doc__.split("\n")[0])
    p.add_argument("stage", choices=STAGE_CHOICES)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--out", default=str(DATA_DIR), help="where export writes the final weights")
    p.add_argument("--steps", type=int, default=None, help="step budget of the stage")
    p.add_argument("--minutes", type=float, default=None, help="wall-time budget of the stage")
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--attn-weight", type=float, default=0.02,
                   help="weight of the UNet stage's grounding loss on cross-attention (0: off)")
    p.add_argument("--pixel-weight", type=float, default=0.5,
                   help="weight of the grounding loss's pixel term against its token term")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    cache = cache_dir(a.cache_dir)
    stages = [s for s in STAGES if s != "data"] if a.stage == "all" else [a.stage]
    out = None if a.out == str(DATA_DIR) else a.out
    for family, everything, module in ((ALIGN_STAGES, "align-all", align), (CDIFF_STAGES, "cdiff-all", channel_diffusion),
                                       (MAKD_STAGES, "makd-all", makd), (CONTROL_STAGES, "control-all", control)):
        if a.stage not in family + (everything,):
            continue
        for st in [s for s in family if s not in _NOT_IN_ALL] if a.stage == everything else [a.stage]:
            if st.endswith("-export"):
                print(json.dumps(module.export(cache, out)))
            elif st in _ONCE:
                _ONCE[st](cache)
            else:
                steps, minutes, batch = module.DEFAULTS[st]
                if a.stage != everything:
                    steps, minutes, batch = a.steps or steps, a.minutes or minutes, a.batch or batch
                _CHAPTER_STAGES[st](cache, steps, minutes, batch)
        return 0
    for st in stages:
        if st == "data":
            stage_data(cache)
            continue
        if st == "export":
            export(cache, a.out)
            continue
        steps, minutes, batch = DEFAULTS[st]
        if a.stage != "all":
            steps, minutes, batch = a.steps or steps, a.minutes or minutes, a.batch or batch
        extra = {"attn_weight": a.attn_weight, "pixel_weight": a.pixel_weight} if st == "unet" else {}
        _TRAIN[st](cache, steps=steps, minutes=minutes, batch=batch, **extra)
    return 0
