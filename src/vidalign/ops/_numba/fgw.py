"""Numba CPU path of :func:`vidalign.ops.fgw.fused_gw`: the mirror-descent iterations of the torch reference
(eq. 5-7 of the VAOT paper, docs/methods.md), one batch item per thread on its real rows/columns (+ dummy, last).

The item's linear cost (prior, dummy) is built in the kernel, over the cost in place, and the plan is written
back without the dummy, so the wrapper copies no [B, N, M] tensor. Scalars arrive in an array of the cost's
dtype, keeping float32 problems in float32: p = [alpha, eps, w_x (the weight of Cx), lam_a, lam_b, step, rho,
zeta, n, m, 0.5, 1].
Inner loops index row views with plain range variables (no negative-index wrap-around), so LLVM vectorises them.

Memory of an item with ``rows x cols`` entries (the dummy included): three dense arrays - the linear cost, the
plan and the kernel Z. The structure term's rows ``T B_y`` are formed as the row sweeps reach them, a block of
``_BLOCK`` rows at a time, in a ring of ``2 R_x + 1 + 2 _BLOCK`` rows (only the rows within the ``B_x`` windows of
the current block and the block being formed are ever needed: :func:`ring_rows`), not as a fourth dense array.
:func:`solve_dense` solves one item in arrays the caller owns, the linear cost built in place over the cost
(``vidalign align --method ot``, :mod:`vidalign.ops.fgw_dense`); :func:`solve_batch` a padded batch
(:func:`vidalign.ops.fused_gw`). Numpy only: the torch wrapper is in :mod:`vidalign.ops.fgw`.
"""

from __future__ import annotations

import numba
import numpy as np

from vidalign.ops._numba.batching import run_over_batch
from vidalign.ops._numba.elementary import exp_nonpositive, maximum, out_of_line, prefer_wide_vectors
from vidalign.ops.unbalanced import MASS_FLOOR

_PEAK, _STEP, _STEP_AND_VALUE, _VALUE = 0, 1, 2, 3
_BLOCK = 4  # rows of ``T B_y`` formed, and of running windows slid, per call (:func:`_form_rows`, :func:`_advance`)
_FASTMATH = {"nnan", "reassoc", "contract", "nsz", "arcp"}  # no "ninf": -inf stays a legal sentinel


@numba.njit(cache=True, fastmath=_FASTMATH)
def _item_problem(cost, log_a, log_b, n, m, dummy, p, linear, la, lb):
    """``linear = (1 - alpha)(C + rho |i/n - j/m|)`` on the real block and ``(1 - alpha) zeta`` on the dummy
    row/column; ``la``/``lb`` the log-marginals with the dummy moved next to the real entries."""
    alpha, rho, zeta, one = p[0], p[6], p[7], p[11]
    weight = one - alpha
    rows, cols = n + dummy, m + dummy
    position_a, position_b = np.empty(n, linear.dtype), np.empty(m, linear.dtype)
    for i in range(n):
        position_a[i] = i
    for j in range(m):
        position_b[j] = j
    position_a /= p[8]
    position_b /= p[9]
    for i in range(rows):
        la[i] = log_a[i if i < n else log_a.shape[0] - 1]
    for j in range(cols):
        lb[j] = log_b[j if j < m else log_b.shape[0] - 1]
    for i in range(n):
        source, target, position = cost[i], linear[i], position_a[i]
        for j in range(m):
            target[j] = weight * (source[j] + rho * abs(position - position_b[j]))
    if dummy:
        linear[:, m] = weight * zeta
        linear[n, :] = weight * zeta


@numba.njit(cache=True, fastmath=_FASTMATH)
def _form_rows(first, plan, n, m, radius_x, radius_y, clusters, ring, prefix, row_mass, mass_prefix, band_mass):
    """Rows ``first .. first + _BLOCK - 1`` (those below ``n``) of ``right = T B_y`` (or ``T`` for clusters,
    ``Cy' = I``) into their ring slots ``k % len(ring)``, their masses into ``row_mass`` and the prefix sums
    ``mass_prefix``, and each ``band_mass_i = sum_{0 < |l - i| <= radius_x} row_mass_l`` that the rows formed so
    far complete (rows are formed in order: row ``i``'s needs rows up to ``i + radius_x``). ``T B_y`` sums over
    ``0 < |l - j| <= radius_y`` from each row's prefix sums (``prefix`` ``[_BLOCK, m + 1]``, first column 0),
    run four rows at a time to hide the latency of a running sum. No array views (each costs two atomic reference
    count updates): the middle of a row is indexed with unsigned offsets, which numba does not wrap around.
    Returns the number of rows formed so far."""
    prefer_wide_vectors()
    last = min(first + _BLOCK, n)
    zero = prefix[0, 0]
    if last - first == 4:
        first_sum, second_sum, third_sum, fourth_sum = zero, zero, zero, zero
        for j in range(m):
            first_sum += plan[first, j]
            second_sum += plan[first + 1, j]
            third_sum += plan[first + 2, j]
            fourth_sum += plan[first + 3, j]
            prefix[0, j + 1], prefix[1, j + 1] = first_sum, second_sum
            prefix[2, j + 1], prefix[3, j + 1] = third_sum, fourth_sum
    else:
        for r in range(last - first):
            total = zero
            for j in range(m):
                total += plan[first + r, j]
                prefix[r, j + 1] = total
    size = ring.shape[0]
    head, inner = min(radius_y, m), max(m - 2 * radius_y - 1, 0)
    offset, width = np.uint64(radius_y), np.uint64(2 * radius_y + 1)
    for k in range(first, last):
        r, slot = k - first, k % size
        if clusters:
            for j in range(m):
                ring[slot, j] = plan[k, j]
        else:
            for j in range(head):  # window clipped at 0
                ring[slot, j] = prefix[r, min(j + radius_y + 1, m)] - plan[k, j]
            for t in range(np.uint64(inner)):  # window inside the row: column t + radius_y
                ring[slot, t + offset] = prefix[r, t + width] - prefix[r, t] - plan[k, t + offset]
            for j in range(max(head, radius_y + inner), m):  # window clipped at m
                ring[slot, j] = prefix[r, m] - prefix[r, max(j - radius_y, 0)] - plan[k, j]
        mass = prefix[r, m]
        row_mass[k] = mass
        mass_prefix[k + 1] = mass_prefix[k] + mass
        end = n if k == n - 1 else k - radius_x + 1
        for i in range(max(k - radius_x, 0), end):
            band_mass[i] = mass_prefix[min(i + radius_x, n - 1) + 1] - mass_prefix[max(i - radius_x, 0)] - row_mass[i]
    return last


@numba.njit(cache=True, fastmath=_FASTMATH)
def _advance(first, formed, plan, n, m, radius_x, radius_y, clusters, ring, prefix, row_mass, mass_prefix,
             band_mass, windows):  # fmt: skip
    """``windows[r]`` = the running window ``sum_{|l - i| <= radius_x} right_l`` of real row ``i = first + r``
    for the block of ``_BLOCK`` rows from ``first`` (a multiple of ``_BLOCK``), sliding ``windows[_BLOCK]`` row
    by row (row ``i + radius_x + 1`` enters, then row ``i - radius_x`` leaves) and forming the rows of ``right``
    that enter (:func:`_form_rows`); ``first = 0`` starts the window at rows ``0 .. radius_x``. One call per
    block keeps the sweeps free of per-row calls. Returns the number of rows formed."""
    prefer_wide_vectors()
    size, running = ring.shape[0], _BLOCK
    if first == 0:
        for j in range(m):
            windows[running, j] = 0.0
        for k in range(min(radius_x + 1, n)):
            if k == formed:
                formed = _form_rows(formed, plan, n, m, radius_x, radius_y, clusters, ring, prefix, row_mass,
                                    mass_prefix, band_mass)  # fmt: skip
            slot = k % size
            for j in range(m):
                windows[running, j] += ring[slot, j]
    for i in range(first, min(first + _BLOCK, n)):
        r = i - first
        for j in range(m):
            windows[r, j] = windows[running, j]
        if i + radius_x + 1 < n:
            if i + radius_x + 1 == formed:
                formed = _form_rows(formed, plan, n, m, radius_x, radius_y, clusters, ring, prefix, row_mass,
                                    mass_prefix, band_mass)  # fmt: skip
            slot = (i + radius_x + 1) % size
            for j in range(m):
                windows[running, j] += ring[slot, j]
        if i >= radius_x:
            slot = (i - radius_x) % size
            for j in range(m):
                windows[running, j] -= ring[slot, j]
    return formed


@numba.njit(cache=True)
def ring_rows(n, radius_x):
    """Rows of the ring of ``T B_y`` rows: those a block of rows (:func:`_advance`) reads, ``radius_x`` either
    side of it, and the block being formed (:func:`_form_rows`)."""
    return max(1, min(n, 2 * radius_x + 1 + 2 * _BLOCK))


@numba.njit(cache=True, fastmath=_FASTMATH)
def _row_pass(mode, z, c, t, v, col_kl, current, window, scale, offset, row_kl, u, p):
    """One row of ``_sweep`` with ``alpha P_j = scale (current_j - window_j) + offset`` (scale = offset = 0 off
    the structure) and ``g_j = alpha P_j + c_j + row_kl + col_kl_j``."""
    prefer_wide_vectors()
    eps, step, half, one = p[1], p[5], p[10], p[11]
    decay = one - step * eps
    result = 0.0
    if mode == _PEAK:
        result = -np.inf
        shift = offset + row_kl + eps * u
        for j in range(z.shape[0]):
            value = scale * (current[j] - window[j]) + c[j] + col_kl[j] + eps * (z[j] + v[j]) + shift
            result = max(result, value)
        return result
    if mode >= _STEP_AND_VALUE:
        shift, part = eps * (u - one), one - one
        for j in range(z.shape[0]):
            structure = scale * (current[j] - window[j]) + offset
            part += t[j] * (half * structure + c[j] + eps * (z[j] + v[j]) + shift)
        result = part
    if mode <= _STEP_AND_VALUE:
        for j in range(z.shape[0]):
            structure = scale * (current[j] - window[j]) + offset
            z[j] = decay * z[j] - step * (structure + c[j] + row_kl + col_kl[j])
    return result


@numba.njit(cache=True, fastmath=_FASTMATH)
def _sweep(mode, plan, kernel, linear, u, v, row_kl, col_kl, n, m, radius_x, radius_y, clusters, ring, prefix,
           row_mass, mass_prefix, band_mass, windows, p):  # fmt: skip
    """Rows in order, forming ``alpha P = alpha Cx T Cy = alpha w_x (B_x (T 1) 1^T - B_x right)`` on the fly
    (``right = T B_y`` or ``T``: its rows are formed into ``ring`` as they enter a running window, and leave it;
    :func:`_advance`). ``_PEAK`` returns ``max g``; ``_VALUE`` returns E(plan) without the KL terms."""
    prefer_wide_vectors()
    out_of_line()
    scale, one = p[0] * p[2], p[11]
    zero = one - one
    rows, cols = kernel.shape
    size, formed = ring.shape[0], 0
    empty = np.zeros(cols, kernel.dtype)
    v_real, v_dummy, kl_real, kl_dummy = v[:m], v[m:], col_kl[:m], col_kl[m:]
    result = -np.inf if mode == _PEAK else 0.0
    for i in range(rows):
        z, c, t = kernel[i], linear[i], plan[i]
        second = -np.inf if mode == _PEAK else 0.0
        if i < n:
            if i % _BLOCK == 0:
                formed = _advance(i, formed, plan, n, m, radius_x, radius_y, clusters, ring, prefix, row_mass,
                                  mass_prefix, band_mass, windows)  # fmt: skip
            offset = scale * band_mass[i]
            first = _row_pass(mode, z[:m], c[:m], t[:m], v_real, kl_real, ring[i % size], windows[i % _BLOCK], scale,
                              offset, row_kl[i], u[i], p)  # fmt: skip
            if cols > m:  # the dummy column: no structure
                second = _row_pass(mode, z[m:], c[m:], t[m:], v_dummy, kl_dummy, empty, empty, zero, zero,
                                   row_kl[i], u[i], p)  # fmt: skip
        else:  # the dummy row: no structure
            first = _row_pass(mode, z, c, t, v, col_kl, empty, empty, zero, zero, row_kl[i], u[i], p)
        if mode == _PEAK:
            result = max(result, max(first, second))
        else:
            result += first + second
    return result


@numba.njit(cache=True, fastmath=_FASTMATH)
def _step_sweep(with_value, plan, kernel, linear, u, v, row_kl, col_kl, n, m, radius_x, radius_y, clusters, ring,
                prefix, row_mass, mass_prefix, band_mass, windows, p):  # fmt: skip
    """``Z <- (1 - s eps) Z - s (g - eps log T)`` over the rows (mode ``_STEP``; with ``with_value``
    ``_STEP_AND_VALUE``: also E of the plan before the step, without the KL terms), indexing the 2-D arrays
    directly (no per-row views or calls): the same arithmetic per entry as :func:`_row_pass`, the rows of
    ``right`` and the windows formed a block of rows at a time as in :func:`_sweep`."""
    prefer_wide_vectors()
    scale, eps, step, half, one = p[0] * p[2], p[1], p[5], p[10], p[11]
    decay = one - step * eps
    zero = one - one
    rows, cols = kernel.shape
    size, formed = ring.shape[0], 0
    result = 0.0
    for i in range(rows):
        kl, shift, part = row_kl[i], eps * (u[i] - one), zero
        first = 0
        if i < n:
            if i % _BLOCK == 0:
                formed = _advance(i, formed, plan, n, m, radius_x, radius_y, clusters, ring, prefix, row_mass,
                                  mass_prefix, band_mass, windows)  # fmt: skip
            offset = scale * band_mass[i]
            slot, block = i % size, i % _BLOCK
            if with_value:
                for j in range(m):
                    structure = scale * (ring[slot, j] - windows[block, j]) + offset
                    part += plan[i, j] * (half * structure + linear[i, j] + eps * (kernel[i, j] + v[j]) + shift)
            for j in range(m):
                structure = scale * (ring[slot, j] - windows[block, j]) + offset
                kernel[i, j] = decay * kernel[i, j] - step * (structure + linear[i, j] + kl + col_kl[j])
            first = m
        # no structure: the dummy column of a real row, or the whole dummy row
        rest = zero
        if with_value:
            for j in range(first, cols):
                rest += plan[i, j] * (linear[i, j] + eps * (kernel[i, j] + v[j]) + shift)
        for j in range(first, cols):
            kernel[i, j] = decay * kernel[i, j] - step * (linear[i, j] + kl + col_kl[j])
        result += part + rest
    return result


@numba.njit(cache=True, fastmath=_FASTMATH)
def _rows_half_step(kernel, plan, u, v, log_a, scale):
    """``u = log a - LSE_j(Z + v)`` with one max-shifted exponential per entry: afterwards
    ``exp(Z + u + v)_ij = scale_i * plan_ij`` (the row scaling is left to the caller)."""
    prefer_wide_vectors()
    rows, cols = kernel.shape
    for i in range(rows):
        top = kernel[i, 0] + v[0]
        for j in range(cols):
            top = maximum(top, kernel[i, j] + v[j])
        total = top - top
        for j in range(cols):
            plan[i, j] = exp_nonpositive(kernel[i, j] + v[j] - top)
            total += plan[i, j]
        u[i] = log_a[i] - top - np.log(total)
        scale[i] = np.exp(log_a[i]) / total


@numba.njit(cache=True, fastmath=_FASTMATH)
def _scale_rows(plan, scale):
    for i in range(plan.shape[0]):
        weight = scale[i]
        for j in range(plan.shape[1]):
            plan[i, j] *= weight


@numba.njit(cache=True, fastmath=_FASTMATH)
def _cols_after_rows(plan, v, log_b, scale):
    """Column half-step after ``_rows_half_step``: ``v += log b - log(col sums)``; plan scaled to
    ``exp(Z + u + v)`` (no exponentials)."""
    prefer_wide_vectors()
    rows, cols = plan.shape
    total = np.zeros(cols, plan.dtype)
    for i in range(rows):
        weight = scale[i]
        for j in range(cols):
            total[j] += weight * plan[i, j]
    for j in range(cols):
        v[j] += log_b[j] - np.log(total[j])
        total[j] = np.exp(log_b[j]) / total[j]
    for i in range(rows):
        weight = scale[i]
        for j in range(cols):
            plan[i, j] *= weight * total[j]


@numba.njit(cache=True, fastmath=_FASTMATH)
def _cols_from_kernel(kernel, plan, v, log_b):
    """``v = log b - LSE_i(Z)`` and ``plan = exp(Z + v)`` (rows relaxed, so ``u = 0``)."""
    prefer_wide_vectors()
    rows, cols = kernel.shape
    top = kernel[0].copy()
    for i in range(1, rows):
        z = kernel[i]
        for j in range(cols):
            top[j] = maximum(top[j], z[j])
    total = np.zeros(cols, kernel.dtype)
    for i in range(rows):
        z, t = kernel[i], plan[i]
        for j in range(cols):
            t[j] = exp_nonpositive(z[j] - top[j])
            total[j] += t[j]
    for j in range(cols):
        v[j] = log_b[j] - top[j] - np.log(total[j])
        total[j] = np.exp(log_b[j]) / total[j]
    for i in range(rows):
        t = plan[i]
        for j in range(cols):
            t[j] *= total[j]


@numba.njit(cache=True, fastmath=_FASTMATH)
def _exp_kernel(kernel, plan):
    """``plan = exp(Z)`` (both sides relaxed: no projection), shifted by the global maximum."""
    prefer_wide_vectors()
    top = kernel.max()
    scale = np.exp(top)
    for i in range(kernel.shape[0]):
        z, t = kernel[i], plan[i]
        for j in range(kernel.shape[1]):
            t[j] = exp_nonpositive(z[j] - top) * scale


@numba.njit(cache=True, fastmath=_FASTMATH)
def _margins(plan, rows_out, cols_out):
    """Row and column sums (numba's ``sum(axis=1)`` is an order of magnitude slower)."""
    prefer_wide_vectors()
    cols_out[:] = 0.0
    for i in range(plan.shape[0]):
        t, total = plan[i], plan[i, 0] - plan[i, 0]
        for j in range(plan.shape[1]):
            total += t[j]
            cols_out[j] += t[j]
        rows_out[i] = total


@numba.njit(cache=True, fastmath=_FASTMATH)
def _kl_terms(mass, log_p, lam, gradient):
    """``gradient = lam (log(m / p) + 1)``; returns ``lam sum(m log(m / p))``."""
    value = 0.0
    for k in range(mass.shape[0]):
        log_mass = np.log(max(mass[k], MASS_FLOOR))
        gradient[k] = lam * (log_mass - log_p[k] + 1.0)
        if mass[k] > 0:
            value += mass[k] * (log_mass - log_p[k])
    return lam * value


@numba.njit(cache=True, fastmath=_FASTMATH)
def _marginal_gap(mass, log_p):
    return np.abs(mass - np.exp(log_p)).sum()


@numba.njit(cache=True, fastmath=_FASTMATH, nogil=True)
def _iterate(linear, la, lb, n, m, radius_x, radius_y, options, p, plan, kernel, trace, error):
    """Mirror descent on a built item (``linear``, ``la``, ``lb``: :func:`_item_problem`) in the caller's ``plan``
    and ``kernel`` (``[rows, cols]``, any contents); writes the plan, the trace, ``error[0]`` and the step ``p[5]``."""
    clusters, relaxed, n_iters, with_trace = options[1], options[2], options[3], options[4]
    rows_fixed, cols_fixed = relaxed == 0 or relaxed == 2, relaxed == 0 or relaxed == 1
    dtype = linear.dtype
    rows, cols = linear.shape
    weights_a, weights_b = np.exp(la), np.exp(lb)
    for i in range(rows):
        t, z = plan[i], kernel[i]
        for j in range(cols):
            t[j] = weights_a[i] * weights_b[j]
            z[j] = (0.0 if rows_fixed else la[i]) + (0.0 if cols_fixed else lb[j])
    u = la.copy() if rows_fixed else np.zeros(rows, dtype)
    v = lb.copy() if cols_fixed else np.zeros(cols, dtype)
    ring, prefix = np.empty((ring_rows(n, radius_x), m), dtype), np.zeros((_BLOCK, m + 1), dtype)
    windows = np.empty((_BLOCK + 1, m), dtype)
    row_mass, mass_prefix, band_mass = np.empty(n, dtype), np.zeros(n + 1, dtype), np.empty(n, dtype)
    row_kl, col_kl, scale = np.zeros(rows, dtype), np.zeros(cols, dtype), np.empty(rows, dtype)
    row_sums, col_sums = np.empty(rows, dtype), np.empty(cols, dtype)
    for iteration in range(n_iters + 1):
        last = iteration == n_iters
        if last and not with_trace:
            break
        kl_value = 0.0
        if not (rows_fixed and cols_fixed):
            _margins(plan, row_sums, col_sums)
        if not rows_fixed:
            kl_value += _kl_terms(row_sums, la, p[3], row_kl)
        if not cols_fixed:
            kl_value += _kl_terms(col_sums, lb, p[4], col_kl)
        if iteration == 0 and not p[5] > 0:
            peak = _sweep(_PEAK, plan, kernel, linear, u, v, row_kl, col_kl, n, m, radius_x, radius_y, clusters, ring,
                          prefix, row_mass, mass_prefix, band_mass, windows, p)  # fmt: skip
            p[5] = 4.0 / max(peak, 4.0 * p[1])
        if last:
            value = _sweep(_VALUE, plan, kernel, linear, u, v, row_kl, col_kl, n, m, radius_x, radius_y, clusters,
                           ring, prefix, row_mass, mass_prefix, band_mass, windows, p)  # fmt: skip
        else:
            value = _step_sweep(with_trace != 0, plan, kernel, linear, u, v, row_kl, col_kl, n, m, radius_x,
                                radius_y, clusters, ring, prefix, row_mass, mass_prefix, band_mass, windows,
                                p)  # fmt: skip
        trace[iteration] = value + kl_value
        if last:
            break
        if rows_fixed:
            _rows_half_step(kernel, plan, u, v, la, scale)
            if cols_fixed:
                _cols_after_rows(plan, v, lb, scale)
            else:
                _scale_rows(plan, scale)
        elif cols_fixed:
            _cols_from_kernel(kernel, plan, v, lb)
        else:
            _exp_kernel(kernel, plan)
    _margins(plan, row_sums, col_sums)
    error[0] = 0.0
    if rows_fixed:
        error[0] += _marginal_gap(row_sums, la)
    if cols_fixed:
        error[0] += _marginal_gap(col_sums, lb)


@numba.njit(cache=True, fastmath=_FASTMATH, nogil=True)
def solve_dense(linear, log_a, log_b, sizes, options, p, plan, kernel, trace, error):
    """Mirror descent for one item in the caller's arrays, ``[n + dummy, m + dummy]`` each: ``linear`` holds the
    cost ``C`` in its ``[:n, :m]`` block and becomes the item's linear cost (in place); ``plan`` receives the plan
    (the dummy's row and column included), ``kernel`` is work space. ``log_a``/``log_b``: the log-marginals (at
    least ``n``/``m`` entries, the dummy's last); ``sizes`` = (n, m, R_x, R_y); ``options`` = (dummy, clusters,
    relaxed code, n_iters, with_trace); writes the objective trace, ``error[0]`` and the step ``p[5]``."""
    n, m, radius_x, radius_y, dummy = sizes[0], sizes[1], sizes[2], sizes[3], options[0]
    dtype = linear.dtype
    la, lb = np.empty(n + dummy, dtype), np.empty(m + dummy, dtype)
    _item_problem(linear[:n, :m], log_a, log_b, n, m, dummy, p, linear, la, lb)
    _iterate(linear, la, lb, n, m, radius_x, radius_y, options, p, plan, kernel, trace, error)


def solve_batch(cost, log_a, log_b, sizes, options, params, plan, trace, error) -> None:
    """Every item of a padded batch (numpy arrays: ``cost``/``plan`` ``[B, N, M]``, the log-marginals
    ``[B, N (+ 1)]`` / ``[B, M (+ 1)]``, ``sizes`` int64 ``[B, 4]``, ``params`` ``[B, 12]``, ``trace``
    ``[B, n_iters + 1]``, ``error`` ``[B, 1]``), spread over the threads of :func:`run_over_batch` (the kernel
    releases the GIL). Each item runs :func:`solve_dense` - the one compiled solver of both entry points, so that
    the batch and ``vidalign align`` give the same plan bit for bit whatever numba compiled or loaded from its
    cache - on its real block, copied in (padding dropped) and the plan copied back (zeros on padding)."""

    extra = int(options[0])

    def solve_range(first: int, last: int) -> None:
        for item in range(first, last):
            n, m = int(sizes[item, 0]), int(sizes[item, 1])
            linear = np.empty((n + extra, m + extra), cost.dtype)
            linear[:n, :m] = cost[item, :n, :m]
            solved, kernel = np.empty_like(linear), np.empty_like(linear)
            solve_dense(linear, log_a[item], log_b[item], sizes[item], options, params[item], solved, kernel,
                        trace[item], error[item])  # fmt: skip
            plan[item] = 0.0
            plan[item, :n, :m] = solved[:n, :m]

    run_over_batch(solve_range, sizes[:, 0] * sizes[:, 1])
