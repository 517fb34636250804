"""Inpainting with a trained generator (see `strategies`, which holds all of it for now).

A step of turning the former `tfinpaint/inference.py` into a package with one module per job:
the file moved here whole, so its history follows; the next commit splits it.
"""

from tfinpaint.inference.strategies import *  # noqa: F403
from tfinpaint.inference.strategies import (  # noqa: F401 (names the tools and tests use)
    ENSEMBLE_FLAG_HELP,
    SelfEnsemble,
    __all__,
)
