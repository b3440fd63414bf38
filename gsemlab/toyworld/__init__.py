"""ShapesWorld at run time: scenes, renderer, `locate`, degradations and the toy metric nets.

``sample_scenes``, ``Scene.render``, ``edit_scene`` and ``locate`` are cheap (numpy/scipy); the
submodules ``nets`` (inference of ToySim, ToyNIMA and the shape classifier) and ``scoring`` (attention
maps against located objects) import torch when imported. The training of every bundled model lives in
:mod:`gsemlab.training` (``python -m gsemlab.training ...``), which nothing here imports.
"""
from __future__ import annotations

from .locate import detect_objects, locate, score_caption
from .world import (
                    BACKGROUNDS,
                    COLOURS,
                    HELD_OUT,
                    MAX_LENGTH,
                    NEW_SHAPES,
                    RELATIONS,
                    SHAPES,
                    SIZES,
                    Scene,
                    SceneObject,
                    edit_scene,
                    relation_holds,
                    render_batch,
                    sample_scenes,
                    with_new_shape,
)

__all__ = ["BACKGROUNDS", "COLOURS", "HELD_OUT", "MAX_LENGTH", "NEW_SHAPES", "RELATIONS", "SHAPES", "SIZES", "Scene",
           "SceneObject", "detect_objects", "edit_scene", "locate", "relation_holds", "render_batch",
           "sample_scenes", "score_caption", "with_new_shape"]
