"""Packed anti-diagonal layout of the DP tables and the smoothed maxima, as Triton device functions.

Layout: cell ``(i, j)`` of an ``n x m`` table (frame coordinates, no boundary row/column) lies on anti-diagonal
``k = i + j``, whose rows run from ``first_row(k) = max(0, k - m + 1)`` to ``last_row(k) = min(n - 1, k)``. Tables
store diagonal after diagonal, so the cells one DP step computes in parallel are contiguous (coalesced accesses) and
a table holds exactly ``n * m`` entries: diagonal ``k`` begins at ``begin(k) = sum_{t<k} cells(t)``, ``cells(t) =
last_row(t) - first_row(t) + 1``, and cell ``(i, k - i)`` sits at ``begin(k) - first_row(k) + i``. The kernels carry
``begin`` of the diagonals they touch from one loop step to the next (``begin(n + m - 2) = n m - 1``).

Smoothed maxima (``docs/methods.md``, Kernels): ``smax_tau(v) = tau log sum exp(v / tau)`` with the largest input
factored out (its exponential is exactly 1) and their gradients, the softmax weights, computed from differences of
the inputs of one soft max, as the numba kernels do (``_numba/elementary.py``).
"""

from __future__ import annotations

import triton
import triton.language as tl

BIG = tl.constexpr(1e30)  # magnitude of the values standing for the cells outside a table (+-infinity)


@triton.jit
def first_row(k, m):
    """First row of anti-diagonal ``k`` of an ``n x m`` table."""
    return tl.maximum(k - m + 1, 0)


@triton.jit
def last_row(k, n):
    """Last row of anti-diagonal ``k`` of an ``n x m`` table."""
    return tl.minimum(k, n - 1)


@triton.jit
def cells(k, n, m):
    """Number of cells on anti-diagonal ``k`` of an ``n x m`` table."""
    return last_row(k, n) - first_row(k, m) + 1


@triton.jit
def smooth_max2(a, b, tau, inv_tau):
    """``tau log(exp(a / tau) + exp(b / tau))``."""
    top = tl.maximum(a, b)
    return top + tau * tl.log(tl.exp((a - top) * inv_tau) + tl.exp((b - top) * inv_tau))


@triton.jit
def smooth_max3(a, b, c, tau, inv_tau):
    """``tau log sum exp`` of three values."""
    top = tl.maximum(tl.maximum(a, b), c)
    total = tl.exp((a - top) * inv_tau) + tl.exp((b - top) * inv_tau) + tl.exp((c - top) * inv_tau)
    return top + tau * tl.log(total)


@triton.jit
def smooth_max4(a, b, c, d, tau, inv_tau):
    """``tau log sum exp`` of four values."""
    top = tl.maximum(tl.maximum(a, b), tl.maximum(c, d))
    total = tl.exp((a - top) * inv_tau) + tl.exp((b - top) * inv_tau)
    total += tl.exp((c - top) * inv_tau) + tl.exp((d - top) * inv_tau)
    return top + tau * tl.log(total)


@triton.jit
def softmax_weights2(a, b, inv_tau):
    """Weights of ``a, b`` in :func:`smooth_max2` (its gradient)."""
    top = tl.maximum(a, b)
    wa, wb = tl.exp((a - top) * inv_tau), tl.exp((b - top) * inv_tau)
    scale = 1.0 / (wa + wb)
    return wa * scale, wb * scale


@triton.jit
def softmax_weights3(a, b, c, inv_tau):
    """Weights of ``a, b, c`` in :func:`smooth_max3`."""
    top = tl.maximum(tl.maximum(a, b), c)
    wa, wb, wc = tl.exp((a - top) * inv_tau), tl.exp((b - top) * inv_tau), tl.exp((c - top) * inv_tau)
    scale = 1.0 / (wa + wb + wc)
    return wa * scale, wb * scale, wc * scale


@triton.jit
def softmax_weights4(a, b, c, d, inv_tau):
    """Weights of ``a, b, c, d`` in :func:`smooth_max4`."""
    top = tl.maximum(tl.maximum(a, b), tl.maximum(c, d))
    wa, wb = tl.exp((a - top) * inv_tau), tl.exp((b - top) * inv_tau)
    wc, wd = tl.exp((c - top) * inv_tau), tl.exp((d - top) * inv_tau)
    scale = 1.0 / (wa + wb + wc + wd)
    return wa * scale, wb * scale, wc * scale, wd * scale


MAX_BLOCK = 1024  # cells of one anti-diagonal handled together (longer diagonals are swept in chunks)
MAX_WARPS = 16


def launch_shape(rows: int, cols: int) -> tuple[int, int]:
    """``(BLOCK, num_warps)`` of a DP kernel on ``rows x cols`` tables: BLOCK the power of two covering the longest
    anti-diagonal (``min(rows, cols)`` cells, capped at :data:`MAX_BLOCK`), one thread per cell up to
    :data:`MAX_WARPS` warps."""
    block = min(triton.next_power_of_2(max(min(rows, cols), 1)), MAX_BLOCK)
    return block, max(1, min(MAX_WARPS, block // 32))
