"""Soft-DTW (Cuturi & Blondel, ICML 2017), batched and masked.

``R[i,j] = C[i,j] + softmin_gamma(R[i-1,j-1], R[i-1,j], R[i,j-1])`` with ``R[-1,-1] = 0`` and ``+inf`` elsewhere
outside the matrix, ``softmin_gamma(v) = -gamma * logsumexp(-v / gamma)``; the value is ``R[n-1, m-1]``. It equals
``-gamma * log sum exp(-cost(path) / gamma)`` over all monotone paths from ``(0, 0)`` to ``(n-1, m-1)`` with steps
(1,0), (0,1), (1,1), and its gradient w.r.t. ``C`` is the expected alignment (Cuturi & Blondel, Eq. 3 and Alg. 2).

Backends as in :mod:`.smith_waterman`: ``"numba"`` (CPU, compiled forward + E-recursion backward), ``"triton"``
(GPU kernels, ``_triton/soft_dtw.py``), ``"torch"`` (anti-diagonal reference with autograd; any device and
higher-order gradients), ``"auto"`` (the rule of :mod:`.backends`). The validated inputs are a
:class:`~vidalign.ops.dp_problems.SoftDTWProblem` that each solver reads. Torch is imported by the first call,
not by importing the module (:mod:`vidalign.ops` stays importable without it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .backends import select_backend

if TYPE_CHECKING:
    from torch import Tensor


def soft_dtw(
    cost: Tensor,
    gamma: float,
    mask_a: Tensor | None = None,
    mask_b: Tensor | None = None,
    backend: str = "auto",
) -> Tensor:
    """Soft-DTW value of each cost matrix.

    Args:
        cost: pairwise costs ``[B, N, M]`` (or ``[N, M]``: the result is then 0-d).
        gamma: smoothing ``> 0`` (a float; not differentiated).
        mask_a, mask_b: ``[B, N]`` / ``[B, M]`` bool, True = real frame, real frames first; the value is the
            soft-DTW of the cropped cost (ending at ``(n_b - 1, m_b - 1)``), padded cells get zero gradient.
        backend: ``"auto"``, ``"numba"``, ``"triton"`` or ``"torch"`` (:mod:`vidalign.ops.backends`).

    Returns:
        ``[B]`` values in the dtype of ``cost``.
    """
    from .dp_problems import as_batch, soft_dtw_problem
    from .soft_dtw_numba import SoftDTWNumba
    from .soft_dtw_reference import soft_dtw_reference

    cost, mask_a, mask_b, unbatched = as_batch(cost, mask_a, mask_b, "cost")
    problem = soft_dtw_problem(cost, gamma, mask_a, mask_b)
    chosen = select_backend(backend, cost, available=("torch", "numba", "triton"), op="soft_dtw")
    if chosen == "triton":
        from ._triton.soft_dtw import soft_dtw_triton as solve
    else:
        solve = SoftDTWNumba.apply if chosen == "numba" else soft_dtw_reference
    values = solve(*problem)
    return values[0] if unbatched else values
