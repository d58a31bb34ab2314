"""A plain compiled soft Smith-Waterman: the ``dp`` bench's "plain numba" reference.

What a careful first implementation looks like: full ``(N + 1) x (M + 1)`` float32 tables filled row by row,
cell by cell (``math.exp``/``math.log``, each soft max shifted by its largest input), the normalised weights of
the three soft maxes stored during the forward (8 floats per cell), and an explicit backward that runs the
adjoint recursion over the stored weights (no exp but the one of ``p``). Same recursion, boundary and float64
final sum as :mod:`vidalign.ops._numba.soft_smith_waterman`; the batch is split over threads the same way
(:func:`vidalign.ops._numba.batching.run_over_batch`). Scalar gap penalties only (the bench's setting).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit

from vidalign.ops._numba.batching import run_over_batch

BIG = 1e30


@njit(cache=True, nogil=True, error_model="numpy")
def forward(sim, gap_open, gap_extend, tau, h, e, f, weights, scores, first, last):
    """``sim`` ``[B, N, M]``; tables ``h, e, f`` ``[B, N + 2, M + 2]`` and ``weights`` ``[B, N + 2, M + 2, 8]``
    (zeros; row/column ``N + 1``/``M + 1`` stay 0 for the backward); ``scores[b] = (score, max H, total)``."""
    n, m = sim.shape[1], sim.shape[2]
    for b in range(first, last):
        hb, eb, fb, wb = h[b], e[b], f[b], weights[b]
        for j in range(m + 1):
            hb[0, j] = eb[0, j] = fb[0, j] = -BIG
        for i in range(n + 1):
            hb[i, 0] = eb[i, 0] = fb[i, 0] = -BIG
        top = hb[0, 0]  # -BIG
        for i in range(1, n + 1):
            for j in range(1, m + 1):
                # match: smax(0, H, E, F) of (i - 1, j - 1)
                a1, a2, a3 = hb[i - 1, j - 1], eb[i - 1, j - 1], fb[i - 1, j - 1]
                peak = max(max(np.float32(0.0), a1), max(a2, a3))
                x0 = math.exp(-peak / tau)
                x1, x2, x3 = math.exp((a1 - peak) / tau), math.exp((a2 - peak) / tau), math.exp((a3 - peak) / tau)
                total = x0 + x1 + x2 + x3
                hb[i, j] = sim[b, i - 1, j - 1] + peak + tau * math.log(total)
                wb[i, j, 0], wb[i, j, 1], wb[i, j, 2] = x1 / total, x2 / total, x3 / total
                # gap in X: smax(H - go, E - ge) of (i, j - 1)
                a1, a2 = hb[i, j - 1] - gap_open, eb[i, j - 1] - gap_extend
                peak = max(a1, a2)
                x1, x2 = math.exp((a1 - peak) / tau), math.exp((a2 - peak) / tau)
                total = x1 + x2
                eb[i, j] = peak + tau * math.log(total)
                wb[i, j, 3], wb[i, j, 4] = x1 / total, x2 / total
                # gap in Y: smax(H - go, E - go, F - ge) of (i - 1, j)
                a1, a2, a3 = hb[i - 1, j] - gap_open, eb[i - 1, j] - gap_open, fb[i - 1, j] - gap_extend
                peak = max(max(a1, a2), a3)
                x1, x2, x3 = math.exp((a1 - peak) / tau), math.exp((a2 - peak) / tau), math.exp((a3 - peak) / tau)
                total = x1 + x2 + x3
                fb[i, j] = peak + tau * math.log(total)
                wb[i, j, 5], wb[i, j, 6], wb[i, j, 7] = x1 / total, x2 / total, x3 / total
                top = max(top, hb[i, j])
        total = 0.0
        for i in range(1, n + 1):
            for j in range(1, m + 1):
                total += math.exp((hb[i, j] - top) / tau)
        scores[b, 0] = top + tau * math.log(total)
        scores[b, 1] = top
        scores[b, 2] = total


@njit(cache=True, nogil=True, error_model="numpy")
def backward(grad_scores, scores, h, weights, tau, grad_sim, first, last):
    """``grad_sim[b] = grad_scores[b] * d score / d sim`` by the adjoint recursion over the stored weights."""
    n, m = grad_sim.shape[1], grad_sim.shape[2]
    for b in range(first, last):
        hb, wb = h[b], weights[b]
        adj = np.zeros((3, n + 2, m + 2), h.dtype)
        dh, de, df = adj[0], adj[1], adj[2]
        top, seed = h.dtype.type(scores[b, 1]), h.dtype.type(grad_scores[b] / scores[b, 2])
        for i in range(n, 0, -1):
            for j in range(m, 0, -1):
                diag, right, down = dh[i + 1, j + 1], de[i, j + 1], df[i + 1, j]
                w_diag, w_right, w_down = wb[i + 1, j + 1], wb[i, j + 1], wb[i + 1, j]
                p = seed * math.exp((hb[i, j] - top) / tau)
                dh[i, j] = p + diag * w_diag[0] + right * w_right[3] + down * w_down[5]
                de[i, j] = diag * w_diag[1] + right * w_right[4] + down * w_down[6]
                df[i, j] = diag * w_diag[2] + down * w_down[7]
                grad_sim[b, i - 1, j - 1] = dh[i, j]


class PlainSoftSmithWaterman(torch.autograd.Function):
    """``[B]`` soft scores of ``sim`` ``[B, N, M]`` (float32 or float64, scalar gaps) with the plain kernels."""

    @staticmethod
    def forward(ctx, sim, gap_open: float, gap_extend: float, tau: float):
        values = sim.detach().contiguous().numpy()
        batch, n, m = values.shape
        dtype = values.dtype.type
        h, e, f = (np.zeros((batch, n + 2, m + 2), values.dtype) for _ in range(3))
        weights = np.zeros((batch, n + 2, m + 2, 8), values.dtype)
        scores = np.empty((batch, 3))
        work = np.full(batch, n * m)
        run_over_batch(forward, work, values, dtype(gap_open), dtype(gap_extend), dtype(tau), h, e, f, weights,
                       scores)  # fmt: skip
        ctx.state = (h, weights, scores, dtype(tau))
        return torch.from_numpy(scores[:, 0].copy()).to(sim.dtype)

    @staticmethod
    def backward(ctx, grad_scores):
        h, weights, scores, tau = ctx.state
        batch, rows, cols = h.shape[0], h.shape[1] - 2, h.shape[2] - 2
        grad_sim = np.empty((batch, rows, cols), h.dtype)
        upstream = grad_scores.detach().to(torch.float64).contiguous().numpy()
        run_over_batch(backward, np.full(batch, rows * cols), upstream, scores, h, weights, tau, grad_sim)
        return torch.from_numpy(grad_sim), None, None, None


def plain_soft_smith_waterman(sim: torch.Tensor, gap_open: float, gap_extend: float, tau: float) -> torch.Tensor:
    return PlainSoftSmithWaterman.apply(sim, gap_open, gap_extend, tau)
