"""ShapesWorld and the training of the bundled toy model family.

``sample_scenes``, ``Scene.render`` and ``locate`` are cheap (numpy/scipy); the networks
(``nets``) and the training code (``train``) import torch when used.
"""
from __future__ import annotations

from .locate import detect_objects, locate, score_caption
from .world import (BACKGROUNDS, COLOURS, HELD_OUT, RELATIONS, SHAPES, SIZES, Scene, SceneObject, relation_holds,
                    render_batch, sample_scenes)

__all__ = ["BACKGROUNDS", "COLOURS", "HELD_OUT", "RELATIONS", "SHAPES", "SIZES", "Scene", "SceneObject",
           "detect_objects", "locate", "relation_holds", "render_batch", "sample_scenes", "score_caption"]
