"""gsemlab.gsemcom.examples: the running-example checks against scenes whose answer is known."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from PIL import Image

from gsemlab.gsemcom.examples import choose_example, example_checks
from gsemlab.prompt import load_nlp
from gsemlab.toyworld.world import SHAPES, Scene, SceneObject

CIRCLE = SceneObject("circle", "red", "large", 20.0, 18.0)
SQUARE = SceneObject("square", "blue", "large", 22.0, 46.0)
GOOD = "a red circle above a blue square"
#: spaCy's small English model tags "square" ADJ here (the lesson of chapter 3)
MISTAGGED = "a yellow square resting lightly above a large red triangle on a gray background"


def render(*objects, background="white"):
    return Scene(tuple(objects), background, None, "").render()[0]


class FakeGSemCom:
    """Stands in for GSemCom: the image of each seed is given, and the packet's size in bytes."""

    def __init__(self, images, packet_bytes=100):
        self.images, self.packet_bytes = images, packet_bytes
        self.generated = []

    def generate(self, caption, seed=0):
        self.generated.append((caption, seed))
        return SimpleNamespace(prompt=caption, seed=seed, source=self.images[seed])

    def extract(self, generation, budget=None):
        return SimpleNamespace(data=b"x" * self.packet_bytes)


def pil_png_size(image):
    """Independent of the package: the size of Pillow's PNG file of the image."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return len(buf.getvalue())


def spacy_nouns(caption):
    """Independent of the package: spaCy's own tags of the shape words."""
    return all(t.pos_ == "NOUN" for t in load_nlp()(caption) if t.text.lower() in SHAPES)


def test_located_both_objects_present():
    gs = FakeGSemCom({0: render(CIRCLE, SQUARE)})
    assert example_checks(gs, GOOD, 0) == {"located": True, "nouns": True}


@pytest.mark.parametrize("objects", [
    (CIRCLE,),  # the square is missing
    (SQUARE,),  # the circle is missing
    (CIRCLE, SceneObject("square", "green", "large", 22.0, 46.0)),  # square in the wrong colour
    (CIRCLE, SceneObject("circle", "blue", "large", 22.0, 46.0)),  # blue, but a circle
    (),  # an empty image
])
def test_located_fails_when_an_object_is_missing_or_wrong(objects):
    gs = FakeGSemCom({0: render(*objects)})
    assert example_checks(gs, GOOD, 0)["located"] is False


def test_located_the_failed_generation_of_the_issue():
    # the old running example: asked a yellow square and a red triangle, got one green triangle
    green = render(SceneObject("triangle", "green", "large", 32.0, 32.0))
    assert example_checks(FakeGSemCom({0: green}), MISTAGGED, 0)["located"] is False


@pytest.mark.parametrize("caption", [GOOD, MISTAGGED, "the orange square floating lightly",
                                     "one small orange circle right of a large purple star",
                                     "a large green circle resting above one large purple star"])
def test_nouns_agrees_with_spacy(caption):
    gs = FakeGSemCom({0: render(CIRCLE)})
    assert example_checks(gs, caption, 0)["nouns"] is spacy_nouns(caption)


def test_nouns_false_for_the_mistagged_caption():
    assert spacy_nouns(MISTAGGED) is False
    assert example_checks(FakeGSemCom({0: render(CIRCLE)}), MISTAGGED, 0)["nouns"] is False


@pytest.mark.parametrize(("extra", "saves"), [(-1, True), (0, False), (500, False)])
def test_saves_compares_packet_with_the_png_of_the_image(extra, saves):
    image = render(CIRCLE, SQUARE)
    gs = FakeGSemCom({0: image}, packet_bytes=pil_png_size(image) + extra)
    checks = example_checks(gs, GOOD, 0, budget=300)
    assert checks == {"located": True, "nouns": True, "saves": saves}
    assert "saves" not in example_checks(gs, GOOD, 0)


def test_choose_example_first_passing_pair():
    images = {0: render(CIRCLE), 1: render(CIRCLE, SQUARE), 2: render(CIRCLE, SQUARE)}
    gs = FakeGSemCom(images)
    caption, seed, checks = choose_example(gs, [MISTAGGED, GOOD], [0, 1, 2])
    assert (caption, seed) == (GOOD, 1)
    assert checks == {"located": True, "nouns": True}
    # the mistagged caption was rejected without generating; seed 0 of GOOD failed "located"
    assert gs.generated == [(GOOD, 0), (GOOD, 1)]


def test_choose_example_require_saves():
    images = {0: render(CIRCLE, SQUARE)}
    png = pil_png_size(images[0])
    with pytest.raises(ValueError, match="no .caption, seed. pair of 1"):
        choose_example(FakeGSemCom(images, png + 1), [GOOD], [0], require=("saves",), budget=50)
    caption, seed, checks = choose_example(FakeGSemCom(images, png // 2), [GOOD], [0],
                                           require=("located", "saves"), budget=50)
    assert (caption, seed, checks["saves"]) == (GOOD, 0, True)


def test_choose_example_none_passes():
    gs = FakeGSemCom({0: render(CIRCLE), 1: render()})
    with pytest.raises(ValueError, match="located"):
        choose_example(gs, [GOOD], [0, 1])


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"require": ("saves",)}, ValueError),  # no budget
    ({"require": ()}, ValueError),
    ({"require": ("pretty",)}, ValueError),
    ({"require": "located"}, TypeError),
    ({"budget": -1}, ValueError),
    ({"budget": "10"}, TypeError),
])
def test_choose_example_bad_arguments(kwargs, error):
    with pytest.raises(error):
        choose_example(FakeGSemCom({0: render(CIRCLE)}), [GOOD], [0], **kwargs)


def test_bad_inputs():
    gs = FakeGSemCom({0: render(CIRCLE)})
    with pytest.raises(TypeError):
        example_checks(object(), GOOD, 0)
    with pytest.raises(TypeError):
        example_checks(gs, 3, 0)
    with pytest.raises(ValueError, match="names no shape"):
        example_checks(gs, "a red thing", 0)
    with pytest.raises(TypeError):
        example_checks(gs, GOOD, 1.5)
    with pytest.raises(ValueError):
        example_checks(gs, GOOD, -1)
    with pytest.raises(ValueError):
        example_checks(gs, GOOD, 0, budget=float("nan"))
    with pytest.raises(ValueError):
        choose_example(gs, [], [0])
    with pytest.raises(ValueError):
        choose_example(gs, [GOOD], [])
    with pytest.raises(TypeError):
        choose_example(gs, GOOD, [0])
