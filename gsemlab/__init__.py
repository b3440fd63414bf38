"""gsemlab: the companion package of the gsem-course (generative semantic communication for mobile AIGC).

One module or subpackage per idea, in the order the course teaches them. Importing the package is
cheap: heavy modules (torch, diffusers, spaCy) load only when their module is imported.

Layers, lowest first (``tests/test_layers.py`` reads every import and enforces them):

1. ``config`` (Table III as frozen dataclasses) and ``checks`` (input checks), with ``data`` (paths of
   the bundled weights, :func:`gsemlab.data.load_result`), ``profiling`` (stage timer) and ``progress``
   (progress bars, shown only at a terminal): they import nothing of gsemlab.
2. Pure maths: ``prompt`` (Table II, Eq. 9-12), ``segment`` (Eq. 13), ``packing`` (Eq. 14), ``jpsq``
   (Eq. 15-18), ``channel`` (Eq. 1; bits over a noisy link): numpy, scipy, scikit-learn, spaCy and
   Pillow only, no torch.
3. Models: ``diffusion`` (Eq. 2-4), ``attention`` (Eq. 5-8), ``guidance``, ``models`` (the toy and hub
   backends), ``toyworld`` (ShapesWorld at run time), ``testing`` (tiny random pipelines): these add
   torch and diffusers.
4. Systems: ``gsemcom`` (Algorithm 1 and the user's decoder), ``calibration``.
5. Chapter systems (``rl``, ``control``, ``channel_diffusion``, ``align``): they never import each other.

``viz`` (a subpackage, one module per kind of figure or chapter topic) draws; nothing in the package imports them. ``training`` retrains every
bundled model (``python -m gsemlab.training all``); nothing in the package imports it, and no module
imports a chapter or ``benchmarks``. ``cli`` is the ``gsemlab`` command (``gsemlab --help``): it stands
above every layer, may import ``training`` for ``gsemlab train``, and nothing imports it. No module
imports another module's ``_private`` names.

Public names: each module's ``__all__``; the README lists the main ones.
"""

__version__ = "0.1.0"
