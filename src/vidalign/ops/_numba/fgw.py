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
(:func:`vidalign.ops.fused_gw`). :func:`solve_lean` solves a balanced item in two dense arrays (linear cost and
kernel): the plan is ``exp(Z + u 1^T + 1 v^T)``, formed a row at a time into a ring of plan rows where a sweep
reads it (recordings too long for three arrays). Numpy only: the torch wrapper is in :mod:`vidalign.ops.fgw`.
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
    run four rows at a time to hide the latency of a running sum. ``plan`` is the dense plan or the lean solver's
    ring of plan rows (row ``k`` in slot ``k % len(plan)``, :func:`_sweep`; ``first`` and the ring's length are
    multiples of ``_BLOCK``, so a block's rows are consecutive in either). No array views (each costs two atomic
    reference count updates): the middle of a row is indexed with unsigned offsets, which numba does not wrap
    around. Returns the number of rows formed so far."""
    prefer_wide_vectors()
    last = min(first + _BLOCK, n)
    top = first % plan.shape[0]  # the block's first row in ``plan``: ``first``, or its slot in a ring of rows
    zero = prefix[0, 0]
    if last - first == 4:
        first_sum, second_sum, third_sum, fourth_sum = zero, zero, zero, zero
        for j in range(m):
            first_sum += plan[top, j]
            second_sum += plan[top + 1, j]
            third_sum += plan[top + 2, j]
            fourth_sum += plan[top + 3, j]
            prefix[0, j + 1], prefix[1, j + 1] = first_sum, second_sum
            prefix[2, j + 1], prefix[3, j + 1] = third_sum, fourth_sum
    else:
        for r in range(last - first):
            total = zero
            for j in range(m):
                total += plan[top + r, j]
                prefix[r, j + 1] = total
    size = ring.shape[0]
    head, inner = min(radius_y, m), max(m - 2 * radius_y - 1, 0)
    offset, width = np.uint64(radius_y), np.uint64(2 * radius_y + 1)
    for k in range(first, last):
        r, slot = k - first, k % size
        row = top + r
        if clusters:
            for j in range(m):
                ring[slot, j] = plan[row, j]
        else:
            for j in range(head):  # window clipped at 0
                ring[slot, j] = prefix[r, min(j + radius_y + 1, m)] - plan[row, j]
            for t in range(np.uint64(inner)):  # window inside the row: column t + radius_y
                ring[slot, t + offset] = prefix[r, t + width] - prefix[r, t] - plan[row, t + offset]
            for j in range(max(head, radius_y + inner), m):  # window clipped at m
                ring[slot, j] = prefix[r, m] - prefix[r, max(j - radius_y, 0)] - plan[row, j]
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
           row_mass, mass_prefix, band_mass, windows, p, lean, log_a, col_totals):  # fmt: skip
    """Rows in order, forming ``alpha P = alpha Cx T Cy = alpha w_x (B_x (T 1) 1^T - B_x right)`` on the fly
    (``right = T B_y`` or ``T``: its rows are formed into ``ring`` as they enter a running window, and leave it;
    :func:`_advance`). ``_PEAK`` returns ``max g``; ``_VALUE`` returns E(plan) without the KL terms.

    ``lean`` (balanced problems; :func:`solve_lean`): ``plan`` is a ring of plan rows (row ``k`` in slot
    ``k % len(plan)``), each written as ``exp(Z_k + u_k + v)`` (:func:`_exp_rows`) just before the windows read
    it, and the step modes end each row with Sinkhorn's row half-step on it (``u_i``) and add its share of the
    column sums to ``col_totals`` (:func:`_project_row`): the column half-step is the caller's."""
    prefer_wide_vectors()
    out_of_line()
    scale, one = p[0] * p[2], p[11]
    zero = one - one
    rows, cols = kernel.shape
    size, formed, ready = ring.shape[0], 0, 0
    empty = np.zeros(cols, kernel.dtype)
    v_real, v_dummy, kl_real, kl_dummy = v[:m], v[m:], col_kl[:m], col_kl[m:]
    result = -np.inf if mode == _PEAK else 0.0
    for i in range(rows):
        if lean and (i % _BLOCK == 0 or i == n):  # every plan row the block's windows read (lean_plan_rows)
            ready = _exp_rows(ready, min(rows, i + radius_x + 2 * _BLOCK), kernel, u, v, plan)
        z, c, t = kernel[i], linear[i], plan[i % plan.shape[0]]
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
        if lean and mode <= _STEP_AND_VALUE:
            u[i] = _project_row(z, v, log_a[i], col_totals)
        if mode == _PEAK:
            result = max(result, max(first, second))
        else:
            result += first + second
    return result


@numba.njit(cache=True, fastmath=_FASTMATH)
def _exp_rows(first, last, kernel, u, v, plan):
    """Rows ``first .. last - 1`` of the plan ``exp(Z + u 1^T + 1 v^T)`` into the ring ``plan`` (row ``k`` in
    slot ``k % len(plan)``). Returns ``max(first, last)``: the rows written so far."""
    prefer_wide_vectors()
    size = plan.shape[0]
    for k in range(first, last):
        z, t, shift = kernel[k], plan[k % size], u[k]
        for j in range(z.shape[0]):
            t[j] = exp_nonpositive(z[j] + shift + v[j])
    return max(first, last)


@numba.njit(cache=True, fastmath=_FASTMATH)
def _project_row(z, v, log_a, col_totals):
    """Sinkhorn's row half-step on one row of the kernel, ``u = log a - LSE_j(z_j + v_j)`` (max-shifted), and the
    row's share ``exp(z_j + u + v_j)`` of the column sums added to ``col_totals`` (float64). Returns ``u``."""
    prefer_wide_vectors()
    top = z[0] + v[0]
    for j in range(z.shape[0]):
        top = maximum(top, z[j] + v[j])
    total = top - top
    for j in range(z.shape[0]):
        total += exp_nonpositive(z[j] + v[j] - top)
    u = log_a - top - np.log(total)
    for j in range(z.shape[0]):
        col_totals[j] += exp_nonpositive(z[j] + u + v[j])
    return u


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
    unused = np.zeros(1)  # the column sums of lean sweeps
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
                          prefix, row_mass, mass_prefix, band_mass, windows, p, False, la, unused)  # fmt: skip
            curvature = p[1] + (p[3] + p[4] if relaxed == 3 else 0.0)  # fgw_problem.step_curvature
            p[5] = 4.0 / max(peak, 4.0 * curvature)
        if last:
            value = _sweep(_VALUE, plan, kernel, linear, u, v, row_kl, col_kl, n, m, radius_x, radius_y, clusters,
                           ring, prefix, row_mass, mass_prefix, band_mass, windows, p, False, la, unused)  # fmt: skip
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


def batch_item_floats(n, m, radius_x, dummy=0):
    """Floats :func:`solve_batch` allocates for one item while it solves: the item's linear cost, plan and kernel
    (``[n + dummy, m + dummy]`` each), :func:`solve_dense`'s ring of ``T B_y`` rows, its block's prefix sums and
    windows, and its vectors (kept here, beside those allocations, for ``vidalign bench``'s memory column)."""
    rows, cols = n + dummy, m + dummy
    arrays = 3 * rows * cols + ring_rows(n, radius_x) * m + _BLOCK * (m + 1) + (_BLOCK + 1) * m
    vectors = (n + m) + 5 * (rows + cols) + rows + (3 * n + 1) + 1
    return arrays + vectors


def lean_plan_rows(rows, radius_x):
    """Rows of the lean solver's ring of plan rows: what a block of ``_BLOCK`` rows and its windows read
    (:func:`_sweep`), a multiple of ``_BLOCK`` so that a block's rows never wrap, at most ``rows`` rounded up."""
    return -(-min(rows, radius_x + 2 * _BLOCK) // _BLOCK) * _BLOCK


def solve_lean(linear, log_a, log_b, sizes, p, kernel, trace, on_iteration=None):
    """:func:`solve_dense` for a balanced item without the dense plan: two arrays ``[n + dummy, m + dummy]`` -
    ``linear`` (the cost in its ``[:n, :m]`` block, made the linear cost in place) and ``kernel`` (work space,
    returned holding ``Z``) - hold the problem, and the plan is ``exp(Z + u 1^T + 1 v^T)``, formed a row at a
    time where a sweep needs it (``lean`` in :func:`_sweep`; three exponentials per entry and iteration instead of
    one, and a third less memory). ``sizes`` = (n, m, R_x, R_y, dummy, n_iters); ``p`` as :func:`solve_dense`
    (the step is written to ``p[5]``); ``on_iteration()`` is called after each iteration (a progress bar).
    Returns the log-scalings ``u``, ``v`` of the final plan; ``trace`` receives E before each iteration and at
    the end, as :func:`solve_dense`'s."""
    n, m, radius_x, radius_y, dummy, n_iters = (int(value) for value in sizes)
    dtype = linear.dtype
    rows, cols = linear.shape
    la, lb = np.empty(rows, dtype), np.empty(cols, dtype)
    _item_problem(linear[:n, :m], log_a, log_b, n, m, dummy, p, linear, la, lb)
    kernel.fill(0.0)
    u, v = la.copy(), lb.copy()  # the plan exp(la_i + lb_j) = a_i b_j, as solve_dense starts
    plan = np.empty((lean_plan_rows(rows, radius_x), cols), dtype)
    ring, prefix = np.empty((ring_rows(n, radius_x), m), dtype), np.zeros((_BLOCK, m + 1), dtype)
    windows = np.empty((_BLOCK + 1, m), dtype)
    row_mass, mass_prefix, band_mass = np.empty(n, dtype), np.zeros(n + 1, dtype), np.empty(n, dtype)
    row_kl, col_kl, col_totals = np.zeros(rows, dtype), np.zeros(cols, dtype), np.zeros(cols)

    def sweep(mode):
        return _sweep(mode, plan, kernel, linear, u, v, row_kl, col_kl, n, m, radius_x, radius_y, False, ring,
                      prefix, row_mass, mass_prefix, band_mass, windows, p, True, la, col_totals)  # fmt: skip

    if not p[5] > 0:
        p[5] = 4.0 / max(sweep(_PEAK), 4.0 * p[1])
    for iteration in range(n_iters):
        col_totals.fill(0.0)
        trace[iteration] = sweep(_STEP_AND_VALUE)
        v += (lb - np.log(col_totals)).astype(dtype)  # the column half-step
        if on_iteration is not None:
            on_iteration()
    trace[n_iters] = sweep(_VALUE)
    return u, v


@numba.njit(cache=True, fastmath=_FASTMATH, nogil=True)
def lean_summary(kernel, u, v, n, m, row_best, row_mass, col_best, col_mass, row_sums, col_sums):
    """What is read of the lean solver's plan ``exp(Z + u 1^T + 1 v^T)`` (:func:`solve_lean`) in one pass: the
    argmax (first of ties) and the mass of every row of its real ``[:n, :m]`` block and of every column, and the
    sums of every row and column of the whole plan (the dummy's included; float64 outputs)."""
    rows, cols = kernel.shape
    col_top = np.full(m, -np.inf)
    col_mass[:] = 0.0
    col_sums[:] = 0.0
    for i in range(rows):
        z, shift = kernel[i], u[i]
        best, top, real, whole = 0, -np.inf, 0.0, 0.0
        for j in range(cols):
            value = exp_nonpositive(z[j] + shift + v[j])
            col_sums[j] += value
            whole += value
            if i < n and j < m:
                real += value
                if value > top:
                    best, top = j, value
                col_mass[j] += value
                if value > col_top[j]:
                    col_top[j], col_best[j] = value, i
        row_sums[i] = whole
        if i < n:
            row_best[i], row_mass[i] = best, real
