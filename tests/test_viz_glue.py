"""gsemlab.viz.glue writes what MyST-NB's own glue writes, also where myst_nb is missing."""

from __future__ import annotations

import sys

import pytest

import IPython.display
import myst_nb.ext.glue as myst_glue_module

from gsemlab.viz import glue


def capture(monkeypatch, target, attr):
    calls = []
    monkeypatch.setattr(target, attr, lambda obj, **kw: calls.append((obj, kw)))
    return calls


@pytest.mark.parametrize("display", [True, False])
def test_fallback_writes_the_same_output_as_myst_nb(monkeypatch, display):
    reference = capture(monkeypatch, myst_glue_module, "ipy_display")
    myst_glue_module.glue("share", 0.25, display=display)
    ours = capture(monkeypatch, IPython.display, "display")
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import myst_nb now raises ImportError
    glue("share", 0.25, display=display)
    assert ours == reference and len(ours) == 1
    bundle, kw = ours[0]
    prefix = "" if display else "application/papermill.record/"
    assert bundle == {prefix + "text/plain": "0.25"}
    assert kw["metadata"]["scrapbook"] == {"name": "share", "mime_prefix": prefix}


def test_glue_rejects_an_empty_name():
    with pytest.raises(ValueError):
        glue("", 1)
