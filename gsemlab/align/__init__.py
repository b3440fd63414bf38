"""Knowledge alignment between cloud, edge and user (DeKA-g): the JSCC codec on latents and T-KA.

* :mod:`~gsemlab.align.codec`: the codec of DeKA-g Sec. V-B with truncation to :data:`RATES`, 64-QAM and
  OFDM over correlated Rayleigh sub-carriers; the transmission conditions.
* :mod:`~gsemlab.align.cala`: condition-aware LoRA (Eq. 10 in [DeKA-g]), the gate, the parameter count.
* :mod:`~gsemlab.align.system`: No-KA, LoRA, CALA and full fine-tuning with the bundled weights,
  :func:`evaluate`.

Generation alignment (MAKD) is not built yet.
"""

from .cala import CALAConv2d, ConditionContext, Gate, apply_cala, conditions, count_trainable
from .codec import DELAY_SPREADS_S, RATES, Condition, LatentJSCC, check_condition
from .system import METHODS, RANK, evaluate, load_method, make_method, subject_batch

__all__ = ["DELAY_SPREADS_S", "METHODS", "RANK", "RATES", "CALAConv2d", "Condition", "ConditionContext", "Gate",
           "LatentJSCC", "apply_cala", "check_condition", "conditions", "count_trainable", "evaluate",
           "load_method", "make_method", "subject_batch"]
