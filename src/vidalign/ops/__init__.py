"""Pure tensor kernels (``docs/methods.md``, Kernels): a readable torch reference and a CPU fast path for each.

- :func:`soft_smith_waterman` / :func:`smith_waterman` - local alignment with affine gaps (soft and exact)
- :func:`soft_dtw` / :func:`dtw` - global alignment (soft and exact with path)
- :func:`sinkhorn` - balanced / unbalanced entropic optimal transport
- :func:`fused_gw` / :func:`fgw_mirror_descent` - fused Gromov-Wasserstein by mirror descent (ASOT / VAOT)

Importing the package does not import torch: the exact ops (:func:`dtw`, :func:`smith_waterman`), their
block-wise fills, the bands (:mod:`.band`) and the compiled kernels (:mod:`._numba`) need numpy only, so that
``vidalign align`` of feature files never loads it (``docs/methods.md``, Long recordings). The torch ops import it
on their first call; the fused-GW names (:mod:`.fgw`) are loaded on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vidalign.ops.dtw import DTWResult, dtw
from vidalign.ops.sinkhorn import SinkhornOutput, sinkhorn
from vidalign.ops.smith_waterman import SmithWatermanResult, smith_waterman, soft_smith_waterman
from vidalign.ops.soft_dtw import soft_dtw

if TYPE_CHECKING:
    from vidalign.ops.fgw import FGWOutput, fgw_mirror_descent, fused_gw

_FGW_NAMES = ("FGWOutput", "fgw_mirror_descent", "fused_gw")  # in vidalign.ops.fgw, which imports torch

__all__ = [
    "DTWResult",
    "FGWOutput",
    "SinkhornOutput",
    "SmithWatermanResult",
    "dtw",
    "fgw_mirror_descent",
    "fused_gw",
    "sinkhorn",
    "smith_waterman",
    "soft_dtw",
    "soft_smith_waterman",
]


def __getattr__(name: str):
    if name in _FGW_NAMES:
        from vidalign.ops import fgw

        return getattr(fgw, name)
    raise AttributeError(f"module 'vidalign.ops' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
