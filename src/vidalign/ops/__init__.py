"""Pure tensor kernels (``docs/methods.md``, Kernels): a readable torch reference and a CPU fast path for each.

- :func:`soft_smith_waterman` / :func:`smith_waterman` - local alignment with affine gaps (soft and exact)
- :func:`soft_dtw` / :func:`dtw` - global alignment (soft and exact with path)
- :func:`sinkhorn` - balanced / unbalanced entropic optimal transport
- :func:`fused_gw` / :func:`fgw_mirror_descent` - fused Gromov-Wasserstein by mirror descent (ASOT / VAOT)
"""

from vidalign.ops.dtw import DTWResult, dtw
from vidalign.ops.fgw import FGWOutput, fgw_mirror_descent, fused_gw
from vidalign.ops.sinkhorn import SinkhornOutput, sinkhorn
from vidalign.ops.smith_waterman import SmithWatermanResult, smith_waterman, soft_smith_waterman
from vidalign.ops.soft_dtw import soft_dtw

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
