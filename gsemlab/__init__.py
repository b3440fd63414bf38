"""gsemlab: the companion package of the gsem-course (generative semantic communication for mobile AIGC).

One module per idea, in the order the course teaches them; see DESIGN.md. Importing the package is
cheap: heavy modules (torch, diffusers, spaCy) load only when their module is imported.
"""

__version__ = "0.1.0"
