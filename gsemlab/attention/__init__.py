"""Cross-attention maps of a text-to-image diffusion model (Eq. 5-8).

While Stable Diffusion denoises, every spatial transformer of the UNet lets the image attend to the
prompt's token embeddings ``w``. For a layer ``i``, a step ``t`` and a head ``l`` the cross-attention
probabilities are (Eq. 6)

.. math:: F_t^{(i)} = \\mathrm{softmax}\\big((W_q v)(W_k w)^T / \\sqrt{d}\\big),

one row per latent position and one column per token, so column ``z`` reshaped to the layer's grid is a
map of where token ``z`` acts in the image. G-SemCom reads these maps as a by-product of generation:

* :class:`AttentionStore` swaps the UNet's cross-attention processors for recording ones that compute the
  same output and keep the probabilities of the conditional half of a classifier-free-guidance batch,
  per step, layer and head (or only their sum over steps, all Eq. 7 needs); the probabilities of a step
  are computed for all its layers at a time, a handful of tensor operations per step, so that recording
  costs little beside the generation (``benchmarks/attention_overhead.py`` measures it);
* :meth:`AttentionStore.word_maps` aggregates them into one map per word (Eq. 7): each layer's map is
  upsampled bicubically to the image size, clamped at 0, and summed over steps, layers and heads; a word
  split into several tokens sums its tokens;
* :func:`binarize` thresholds a map (Eq. 8) after normalising it to [0, 1].

Modules: :mod:`.processor` (the recording processor, Eq. 6), :mod:`.tokens` (words to token positions),
:mod:`.store` (the store, Eq. 7, and Eq. 8); every name is re-exported here.

The aggregation follows daam (Tang et al., 2023, the paper's reference [16]), which the tests use as an
independent oracle: on the same pipeline both give the same maps up to a constant factor.
"""

from .processor import RecordingProcessor, output, probabilities, project
from .store import AttentionStore, LayerInfo, binarize
from .tokens import align_tokens, bytes_to_unicode, word_tokens

__all__ = [
    "AttentionStore",
    "LayerInfo",
    "RecordingProcessor",
    "align_tokens",
    "binarize",
    "bytes_to_unicode",
    "output",
    "probabilities",
    "project",
    "word_tokens",
]
