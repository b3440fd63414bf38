"""The training of every bundled toy model, from scratch, resumably, on CPU.

Run it as ``python -m gsemlab.training all|data|shapes|vae|unet|decoder|toysim|toynima|export``
(:mod:`gsemlab.training.cli`). Nothing in the rest of gsemlab imports this package: the run-time code
loads the weights it wrote into ``gsemlab/data/``. The modules, in the order the stages run:

* :mod:`~gsemlab.training.common`: the cache folder, logs, checkpoints, the step and time
  :class:`~gsemlab.training.common.Budget`, the training loop :func:`~gsemlab.training.common.fit` and the
  rendered training scenes (``data``);
* :mod:`~gsemlab.training.metric_nets`: the shape classifier, ToySim and ToyNIMA (``shapes``,
  ``toysim``, ``toynima``) and their held-out metrics;
* :mod:`~gsemlab.training.sd`: builders of the toy text-to-image model's components;
* :mod:`~gsemlab.training.autoencoder`: the VAE and its fine-tuned decoder (``vae``, ``decoder``);
* :mod:`~gsemlab.training.attnloss`: the grounding loss on the UNet's cross-attention;
* :mod:`~gsemlab.training.unet`: the UNet and text encoder, and the exported pipeline (``unet``, ``export``).
"""
