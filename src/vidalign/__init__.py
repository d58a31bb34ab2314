"""vidalign: self-supervised video alignment and unsupervised action segmentation.

The front door (``docs/api.md``): ``import vidalign as va``, then ``va.align``, ``va.Aligner``, ``va.segment``,
``va.train``, ``va.evaluate``, ``va.extract``, ``va.load_features``, ``va.synthetic_dataset``,
``va.render_videos`` (:mod:`vidalign.api`). They are imported on first use, so ``import vidalign`` stays light.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"


def __getattr__(name: str):
    api = importlib.import_module("vidalign.api")
    if name in api.__all__:
        return getattr(api, name)
    raise AttributeError(f"module 'vidalign' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(["__version__", *importlib.import_module("vidalign.api").__all__])
