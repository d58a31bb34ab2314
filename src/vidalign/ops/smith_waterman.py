"""Smith-Waterman local alignment with affine gaps (Gotoh): the soft, differentiable score and the exact alignment.

Recursion (``docs/methods.md``, Kernels; ``smax_tau(v) = tau * logsumexp(v / tau)``, ``max`` when ``tau = 0``), for
the pair of frames ``(i, j)`` (``S = sim[b]``)::

    H[i,j] = S[i,j] + smax(0, H[i-1,j-1], E[i-1,j-1], F[i-1,j-1])    match (0: a new local alignment starts)
    E[i,j] = smax(H[i,j-1] - go[i,j], E[i,j-1] - ge[i,j])            gap in X: y_j unmatched, alignment at x_i
    F[i,j] = smax(H[i-1,j] - go[i,j], E[i-1,j] - go[i,j], F[i-1,j] - ge[i,j])   gap in Y: x_i unmatched, at y_j
    score  = smax over all H[i,j]                                     (the alignment may end anywhere)

with ``-inf`` outside the matrix. An alignment is a non-empty chain of matched pairs increasing in both indices;
between two matches the skipped ``y`` frames come first (E), then the skipped ``x`` frames (F: the ``E -> F``
transition exists, ``F -> E`` does not), so each alignment is one path and the soft score is
``tau * log sum exp(score(alignment) / tau)`` over all alignments; its gradient w.r.t. ``sim`` is the expected
local alignment (match marginals) of the Gibbs distribution ``p(a) ∝ exp(score(a) / tau)``. A gap of ``L`` frames
costs ``go + (L - 1) * ge``; per-position penalties are charged at the cell each gap step lands on: the step
leaving ``y_j`` unmatched while at ``x_i`` costs ``go[i, j]`` (first) or ``ge[i, j]``, and the one leaving ``x_i``
unmatched while at ``y_j`` likewise.

Backends: ``"numba"`` (CPU: compiled kernels with an explicit backward, see ``_numba/soft_smith_waterman.py``),
``"triton"`` (GPU: the soft score's kernels in ``_triton/soft_smith_waterman.py``; the exact score runs the torch
reference), ``"torch"`` (the readable reference: anti-diagonal loop with autograd; any device, higher-order
gradients), ``"auto"`` (the rule of :mod:`.backends`). The validated inputs are a
:class:`~vidalign.ops.dp_problems.SmithWatermanProblem` that each solver reads.
All compute in the input dtype (float32 or float64); the numba and triton paths accumulate the final log-sum-exp
and the penalties' gradients in float64.

The exact alignment (:func:`smith_waterman`, :class:`SmithWatermanFill`) needs numpy only; torch is imported by the
soft score's first call (``smith_waterman_numba.py``, ``smith_waterman_reference.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .backends import cpu_matrix, select_backend
from .band import full_band
from .smith_waterman_fill import SmithWatermanFill, SmithWatermanResult

if TYPE_CHECKING:
    from torch import Tensor

    from .dp_problems import GapPenalty

__all__ = ["SmithWatermanFill", "SmithWatermanResult", "smith_waterman", "soft_smith_waterman"]


def soft_smith_waterman(
    sim: Tensor,
    gap_open: GapPenalty,
    gap_extend: GapPenalty,
    temperature: float = 1.0,
    mask_a: Tensor | None = None,
    mask_b: Tensor | None = None,
    hard: bool = False,
    backend: str = "auto",
) -> Tensor:
    """Soft (``temperature > 0``) or exact (``hard=True`` or ``temperature == 0``) Smith-Waterman score.

    Args:
        sim: similarities ``[B, N, M]`` (or ``[N, M]``: the result is then 0-d).
        gap_open, gap_extend: penalties (subtracted) as a float, a 0-d tensor, a ``[B]`` tensor (one per sample;
            a 1-d tensor always means per sample), or a tensor of >= 2 dims broadcastable to ``[B, N, M]``
            (per position, see the module docstring for the cell convention). Tensors receive gradients.
        temperature: ``tau`` of ``smax``; 0 means ``hard``.
        mask_a, mask_b: ``[B, N]`` / ``[B, M]`` bool, True = real frame, real frames first. Padded rows/columns
            take no part: the score equals that of the cropped matrix, their gradient is 0.
        hard: exact max recursion; the (sub)gradient is the optimal alignment's match indicator (numba path: one
            optimal alignment, ties broken as in :func:`smith_waterman`). It has no Triton kernel.
        backend: ``"auto"``, ``"numba"``, ``"triton"`` (soft score only) or ``"torch"`` (module docstring).

    Returns:
        ``[B]`` scores in the dtype of ``sim``: the best (``hard``) or the soft maximum over all non-empty local
        alignments. Unlike textbook Smith-Waterman it is not floored at 0 (the empty alignment is not counted).
    """
    from .dp_problems import as_batch, smith_waterman_problem
    from .smith_waterman_numba import numba_scores
    from .smith_waterman_reference import soft_smith_waterman_reference

    sim, mask_a, mask_b, unbatched = as_batch(sim, mask_a, mask_b, "sim")
    problem = smith_waterman_problem(sim, gap_open, gap_extend, temperature, hard, mask_a, mask_b)
    # the Triton kernels compute the soft score only
    available = ("torch", "numba") if problem.tau == 0.0 else ("torch", "numba", "triton")
    chosen = select_backend(backend, sim, available=available, op="soft_smith_waterman")
    if chosen == "triton":
        from ._triton.soft_smith_waterman import soft_smith_waterman_triton as solve
    else:
        solve = numba_scores if chosen == "numba" else soft_smith_waterman_reference
    scores = solve(*problem)
    return scores[0] if unbatched else scores


def smith_waterman(
    sim: Tensor | np.ndarray, gap_open: float, gap_extend: float, backend: str = "auto"
) -> SmithWatermanResult:
    """Exact affine-gap local alignment of one pair with traceback (inference; ``vidalign align --method sw``).

    ``sim`` ``[N, M]`` (numpy or torch, any device; computed on the CPU); same recursion and gap convention as
    :func:`soft_smith_waterman` with ``hard=True``. Memory: one byte per cell for the traceback plus six float64
    rows (:class:`SmithWatermanFill` takes the matrix in blocks of rows, and a band). The best alignment has at
    least one match (its score may be negative if every similarity is). ``backend``: ``"auto"`` or ``"numba"``,
    its only solver.
    """
    values = cpu_matrix(sim, "sim")
    select_backend(backend, values, available=("numba",), op="smith_waterman")
    go, ge = np.array([gap_open], values.dtype), np.array([gap_extend], values.dtype)
    fill = SmithWatermanFill(full_band(*values.shape), go, ge)
    fill.add(values)
    return fill.result()
