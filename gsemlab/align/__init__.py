"""Knowledge alignment between cloud, edge and user (DeKA-g): the JSCC codec on latents and T-KA.

* :mod:`~gsemlab.align.codec`: the codec of DeKA-g Sec. V-B with truncation to :data:`RATES`, 64-QAM and
  OFDM over correlated Rayleigh sub-carriers; the transmission conditions.
* :mod:`~gsemlab.align.cala`: condition-aware LoRA (Eq. 10 in [DeKA-g]), the gate, the parameter count.
* :mod:`~gsemlab.align.system`: No-KA, LoRA, CALA and full fine-tuning with the bundled weights,
  :func:`evaluate`.
* :mod:`~gsemlab.align.amc`: adaptive modulation and coding (QAM, 5G LDPC, a BLER constraint).
* :mod:`~gsemlab.align.classical`: the classical references JPEG + LDPC + QAM and latents + LDPC + QAM,
  :func:`evaluate_classical`.

* :mod:`~gsemlab.align.makd`: generation alignment (MAKD, textual inversion, LoRA) of the edge's
  generator to a subject only the cloud knows, :func:`~gsemlab.align.makd.evaluate_makd`.
"""

from .amc import MCS, amc_table, choose_mcs
from .cala import CALAConv2d, ConditionContext, Gate, apply_cala, conditions, count_trainable
from .classical import CLASSICAL_METHODS, evaluate_classical
from .codec import DELAY_SPREADS_S, RATES, Condition, LatentJSCC, check_condition
from .system import METHODS, RANK, evaluate, load_method, make_method, subject_batch

__all__ = ["CLASSICAL_METHODS", "DELAY_SPREADS_S", "MCS", "METHODS", "RANK", "RATES", "CALAConv2d",
           "Condition", "ConditionContext", "Gate", "LatentJSCC", "amc_table", "apply_cala", "check_condition",
           "choose_mcs", "conditions", "count_trainable", "evaluate", "evaluate_classical", "load_method",
           "make_method", "subject_batch"]
