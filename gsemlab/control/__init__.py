"""Control maps as the semantic message, a tiny ControlNet, and the link shared among services ([Control]).

The system of [Control] (Liu et al., "Semantic Communications for AIGC Toward Effective Content
Creation"; chapter 11): the sender extracts a control map from an image, downscales it and sends it with
the prompt; the receiver upscales it and regenerates the image with a ControlNet; a DQN chooses the
downscaling factors of several services on one link.

* :mod:`~gsemlab.control.maps`: :func:`~gsemlab.control.maps.extract` (Canny edges, segmentation
  from ``locate``'s detections, a depth-like map), :func:`~gsemlab.control.maps.downscale` and
  :func:`~gsemlab.control.maps.upscale` by the factors 1, 2, 4, 8 (Sec. IV-A, Fig. 3).
* :mod:`~gsemlab.control.wire`: the message's bytes, :func:`~gsemlab.control.wire.pack` and
  :func:`~gsemlab.control.wire.unpack`.
* :mod:`~gsemlab.control.net`: the ControlNet on the bundled UNet
  (:func:`~gsemlab.control.net.build_controlnet`), its input (:func:`~gsemlab.control.net.control_input`),
  :func:`~gsemlab.control.net.controlnet_pipeline` and one training step.
* :mod:`~gsemlab.control.env`: :class:`~gsemlab.control.env.ServiceAllocationEnv`, the joint choice of
  factors with its exact optimum (Sec. IV-C, Fig. 4-5).

* :mod:`~gsemlab.control.system`: :func:`~gsemlab.control.system.transmit` end to end with the bundled
  ControlNet, the baselines (PNG/JPEG, the prompt alone) and the metrics (Sec. IV-B).
* :mod:`~gsemlab.control.allocation`: the environment on the measured curves, the bundled DQN
  (:func:`~gsemlab.control.allocation.pretrained`) and its grading against the optimum.
"""

from .allocation import allocation_env, greedy_ratio, pretrained
from .env import ServiceAllocationEnv, default_costs
from .maps import FACTORS, METHODS, downscale, extract, upscale
from .net import (
    CONTROL_CHANNELS,
    EMBEDDING_CHANNELS,
    build_controlnet,
    control_input,
    controlnet_pipeline,
    count_parameters,
    drop_methods,
    training_step,
    unet_with_control,
)
from .system import ControlTransmission, quality_metrics, transmit, transmit_prompt_only, transmit_traditional
from .wire import ControlMessage, nbytes, pack, unpack

__all__ = ["CONTROL_CHANNELS", "EMBEDDING_CHANNELS", "FACTORS", "METHODS", "ControlMessage",
           "ServiceAllocationEnv", "ControlTransmission", "allocation_env", "build_controlnet", "control_input",
           "controlnet_pipeline", "count_parameters", "default_costs", "downscale", "drop_methods", "extract",
           "greedy_ratio", "nbytes", "pack", "pretrained", "quality_metrics", "training_step", "transmit",
           "transmit_prompt_only", "transmit_traditional", "unet_with_control", "unpack", "upscale"]
