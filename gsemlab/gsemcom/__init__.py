"""The G-SemCom pipeline end to end: Algorithm 1 (MASP side) and Sec. IV-D (the user's decoder).

Read it in the order the data flows:

* :mod:`.results`: the records each step produces (Generation, Encoded, Reception, Transmission);
* :mod:`.encoder`: generate with attention recording, extract (Eq. 7-13), pack (Eq. 14);
* :mod:`.decoder`: fill the holes, the latent repaint mask, inpaint, fall back on a damaged packet;
* :mod:`gsemlab.gsemcom.baselines`: traditional, local AIGC and fully masked transmission;
* :mod:`.system`: the :class:`GSemCom` facade that holds a backend and its settings.

The settings are frozen dataclasses of :mod:`gsemlab.config` (``GSemComConfig``, Table III;
``GenerationOptions``; ``DecoderOptions``), each checked when it is made.
"""

from .decoder import fill_image, repaint_mask, user_seed
from .encoder import xi_per_rank
from .results import Encoded, Generation, Reception, Transmission
from .system import GSemCom

__all__ = [
    "Encoded",
    "GSemCom",
    "Generation",
    "Reception",
    "Transmission",
    "fill_image",
    "repaint_mask",
    "user_seed",
    "xi_per_rank",
]
