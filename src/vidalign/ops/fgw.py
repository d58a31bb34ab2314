"""Fused Gromov-Wasserstein plans by mirror descent: the ASOT / VAOT solver (METHODS.md §1, §2).

Objective per batch item (ASOT, Xu et al. CVPR 2024, eqs. 3-5; VAOT uses the frame-to-frame structure):

    E(T) = alpha/2 <Cx T Cy, T> + (1 - alpha) <C, T> + KL terms - eps H(T),   H(T) = sum(-T log T + T),
    KL term of a relaxed side with marginal m and target p:  lam * sum(m log(m / p)).

METHODS and ASOT's ``asot_objective`` print ``1/2 <alpha Cx T Cy + (1 - alpha) C, T>``, but the step both use,
``g = alpha Cx T Cy + (1 - alpha) C + eps log T (+ lam (log(m / p) + 1) per relaxed side)``, is the gradient
of E above (symmetric Cx, Cy); E is what the iterations minimise and what ``objective`` reports.

Mirror descent: ``log T <- log T - s g``, then a KL projection. ``log T = Z + u + v`` is kept as a kernel Z plus
the dual potentials of the constrained sides. Row/column constants do not change a projection, so the step is
applied to Z alone (``Z <- (1 - s eps) Z - s (g - eps log T)``) and the projection is ONE Sinkhorn sweep
warm-started from the previous potentials. Its fixed points are then exactly the stationary points; rescaling
``u + v`` by ``1 - s eps`` before a single sweep (the literal reading) leaves a biased fixed point (L1 marginal
error 0.2 on a 12 x 10 example). Projections:
* ``unbalanced="none"``: rows to ``a`` then columns to ``b`` (exact columns; rows exact at convergence);
* ``"b"`` (columns relaxed: ASOT's action side) / ``"a"`` (rows relaxed): renormalise the constrained side;
* ``"both"``: none (as ASOT); the KL terms alone hold the mass.

Step ``s = 4 / max(g)``, computed per item at the first iteration and then fixed (ASOT), capped at ``1 / eps``:
``s = 4 / max(max g, 4 eps)``. ``s = 1 / eps`` is the entropic-GW fixed-point iteration (Peyre et al. 2016);
larger steps flip the sign of ``1 - s eps`` and diverge when ``max g`` is small or negative. The cap is inactive
at the papers' settings. Fixed points satisfy ``T = diag(u) exp(-(alpha Cx T Cy + (1 - alpha) C) / eps) diag(v)``:
the stationary points of POT's entropic FGW with ``C1 = Cx``, ``C2 = -Cy / 4`` (square loss; the mapping is
derived in ``tests/ops/test_fgw.py``). Everything is in log space, so float32 stays finite at eps = 0.05 where
``exp(-C / eps)`` underflows (POT's float32 torch backend returns a zero plan there).

``fused_gw`` adds the video parts: banded structure matrices (:mod:`vidalign.ops.structure`, O(N*M) products),
the temporal prior ``rho |i/n - j/m|``, VAOT's dummy frame and masks. On CPU it runs a numba kernel (one batch
item per thread, padding dropped, the per-entry work fused into a few passes over the plan); on CUDA the torch
iterations run with their elementwise work fused into Triton kernels (``_triton/fgw.py``); the torch path is
the reference and runs on any device. ``fgw_mirror_descent`` takes explicit dense ``Cx``/``Cy``. The plan is a
constant for autograd (a pseudo-label): no graph is built through the solver.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from collections.abc import Callable
from typing import Literal

import numba
import numpy as np
import torch
from torch import Tensor

from vidalign.ops._numba.elementary import exp_nonpositive
from vidalign.ops._triton import use_triton
from vidalign.ops.structure import StructureKind, band_radii, structure_product

Relaxed = Literal["none", "a", "b", "both"]
Backend = Literal["auto", "torch", "numba", "triton"]
_MASS_FLOOR = 1e-30  # marginal masses are clamped here inside log(m / p)


@dataclasses.dataclass
class FGWOutput:
    """Result of the mirror descent.

    ``plan`` ``[B, N, M]`` (dummy stripped, 0 on padding); ``objective`` ``[B, n_iters + 1]``: E of the solved
    problem (dummy included) at the initial plan ``a b^T`` and after each iteration, None unless
    ``return_trace``; ``marginal_error`` ``[B]``: L1 violation of the constrained marginals of the solved plan;
    ``step_size`` ``[B]``: the step ``s`` used.
    """

    plan: Tensor
    objective: Tensor | None
    marginal_error: Tensor
    step_size: Tensor


@dataclasses.dataclass
class _Problem:
    """A batch ready for the torch solver (padded layout)."""

    cost: Tensor  # [B, N, M] linear cost C (prior and dummy included)
    product: Callable[[Tensor], Tensor]  # T -> Cx T Cy, zero where there is no structure
    log_a: Tensor  # [B, N, 1], -inf on padding
    log_b: Tensor  # [B, 1, M], -inf on padding
    valid: Tensor | None  # [B, N, M] real entries, None when nothing is padded


# ---------------------------------------------------------------------------------------------------------
# Torch reference path (any device).


def _kl_gradient(mass: Tensor, log_p: Tensor, lam: float) -> Tensor:
    """``lam (log(m / p) + 1)``, the derivative of ``lam sum(m log(m / p))`` (infinite on padding, masked)."""
    return lam * (torch.log(mass.clamp(min=_MASS_FLOOR)) - log_p + 1.0)


def _kl_value(mass: Tensor, log_p: Tensor, lam: float) -> Tensor:
    """``lam sum(m log(m / p))`` per item (``m = 0`` contributes 0)."""
    terms = torch.xlogy(mass, mass) - torch.where(mass > 0, mass * log_p, torch.zeros_like(mass))
    return lam * terms.flatten(1).sum(dim=1)


def _objective(plan, structure, problem: _Problem, alpha, eps, rows_fixed, cols_fixed, lams) -> Tensor:
    """E(T) of the module docstring per item (``xlogy``: 0 log 0 = 0 on padding)."""
    value = (plan * (0.5 * alpha * structure + (1.0 - alpha) * problem.cost)).flatten(1).sum(dim=1)
    value = value + eps * (torch.xlogy(plan, plan) - plan).flatten(1).sum(dim=1)
    if not rows_fixed:
        value = value + _kl_value(plan.sum(dim=2, keepdim=True), problem.log_a, lams[0])
    if not cols_fixed:
        value = value + _kl_value(plan.sum(dim=1, keepdim=True), problem.log_b, lams[1])
    return value


def _potential(kernel: Tensor, log_p: Tensor, dim: int) -> Tensor:
    """Sinkhorn half-step ``log p - LSE(kernel)`` along ``dim`` (-inf where ``p = 0``)."""
    total = torch.logsumexp(kernel, dim=dim, keepdim=True)
    return log_p - torch.where(torch.isfinite(total), total, torch.zeros_like(total))


def _mask(values: Tensor, valid: Tensor | None) -> Tensor:
    return values if valid is None else torch.where(valid, values, torch.full_like(values, float("-inf")))


def _initial_step(gradient: Tensor, valid: Tensor | None, eps: float) -> Tensor:
    """Per-item ``s = 4 / max(max g, 4 eps)`` over the real entries, ``[B, 1, 1]``."""
    peak = _mask(gradient, valid).flatten(1).amax(dim=1).clamp(min=4.0 * eps)
    return (4.0 / peak).view(-1, 1, 1)


def _mirror_descent_torch(problem: _Problem, *, alpha, eps, relaxed, lams, n_iters, step_size, return_trace):
    """Reference iterations; returns the plan (padded layout), the objective trace and the steps."""
    rows_fixed, cols_fixed = relaxed in ("none", "b"), relaxed in ("none", "a")
    kernel = _mask(torch.zeros_like(problem.cost), problem.valid)
    u = problem.log_a if rows_fixed else torch.zeros_like(problem.log_a)
    v = problem.log_b if cols_fixed else torch.zeros_like(problem.log_b)
    kernel = kernel + (0.0 if rows_fixed else problem.log_a) + (0.0 if cols_fixed else problem.log_b)
    plan = (kernel + u + v).exp()
    step = None
    if step_size is not None:
        step = torch.full((plan.shape[0], 1, 1), float(step_size), dtype=plan.dtype, device=plan.device)
    trace = []
    for iteration in range(n_iters + 1):
        structure = problem.product(plan)
        if return_trace:
            trace.append(_objective(plan, structure, problem, alpha, eps, rows_fixed, cols_fixed, lams))
        if iteration == n_iters:
            break
        gradient = alpha * structure + (1.0 - alpha) * problem.cost
        if not rows_fixed:
            gradient = gradient + _kl_gradient(plan.sum(dim=2, keepdim=True), problem.log_a, lams[0])
        if not cols_fixed:
            gradient = gradient + _kl_gradient(plan.sum(dim=1, keepdim=True), problem.log_b, lams[1])
        if step is None:
            step = _initial_step(gradient + eps * (kernel + u + v), problem.valid, eps)
        kernel = _mask((1.0 - step * eps) * kernel - step * gradient, problem.valid)
        if rows_fixed:
            u = _potential(kernel + v, problem.log_a, 2)
        if cols_fixed:
            v = _potential(kernel + u, problem.log_b, 1)
        plan = (kernel + u + v).exp()
    objective = torch.stack(trace, dim=1) if return_trace else None
    return plan, objective, step.flatten()


# ---------------------------------------------------------------------------------------------------------
# Numba CPU path: the same iterations, one batch item per thread on its real rows/columns (+ dummy, last).
# The item's linear cost (prior, dummy) is built in the kernel and the plan is written back without the dummy,
# so the wrapper copies no [B, N, M] tensor. Scalars arrive in an array of the cost's dtype, keeping float32
# problems in float32: p = [alpha, eps, 1/r, lam_a, lam_b, step, rho, zeta, n, m, 0.5, 1]. Inner loops index
# row views with plain range variables (no negative-index wrap-around), so LLVM vectorises them.
_PEAK, _STEP, _STEP_AND_VALUE, _VALUE = 0, 1, 2, 3
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
def _band_windows(plan, n, m, radius, clusters, window, row_mass):
    """Real block: row masses and ``window = T Cy'`` with ``Cy' = B_y`` (sums over ``0 < |l - j| <= radius`` from
    row prefix sums, four rows at a time to hide the addition latency) or ``Cy' = I`` for clusters (a copy)."""
    prefix = np.zeros((4, m + 1), plan.dtype)
    zero = prefix[0, 0]
    head, inner = min(radius, m), max(m - 2 * radius - 1, 0)
    for start in range(0, n, 4):
        count = min(4, n - start)
        first, second, third, fourth = zero, zero, zero, zero
        rows = plan[start : start + count]
        for j in range(m):
            first += rows[0, j]
            prefix[0, j + 1] = first
            if count == 4:
                second += rows[1, j]
                third += rows[2, j]
                fourth += rows[3, j]
                prefix[1, j + 1], prefix[2, j + 1], prefix[3, j + 1] = second, third, fourth
        if count < 4:
            for k in range(1, count):
                total = zero
                for j in range(m):
                    total += rows[k, j]
                    prefix[k, j + 1] = total
        for k in range(count):
            row, sums = rows[k], prefix[k]
            row_mass[start + k] = sums[m]
            out = window[start + k]
            if clusters:
                for j in range(m):
                    out[j] = row[j]
                continue
            for j in range(head):  # window clipped at 0
                out[j] = sums[min(j + radius + 1, m)] - row[j]
            upper, middle, middle_row = sums[2 * radius + 1 :], out[radius:], row[radius:]
            for j in range(inner):  # window inside the row
                middle[j] = upper[j] - sums[j] - middle_row[j]
            for j in range(max(head, radius + inner), m):  # window clipped at m
                out[j] = sums[m] - sums[max(j - radius, 0)] - row[j]


@numba.njit(cache=True, fastmath=_FASTMATH)
def _neighbour_sums(values, radius, out):
    """``out_i = sum_{0 < |k - i| <= radius} values_k`` (band product of a vector, prefix sums)."""
    length = values.shape[0]
    prefix = np.zeros(length + 1, values.dtype)
    for i in range(length):
        prefix[i + 1] = prefix[i] + values[i]
    for i in range(length):
        out[i] = prefix[min(i + radius, length - 1) + 1] - prefix[max(i - radius, 0)] - values[i]


@numba.njit(cache=True, fastmath=_FASTMATH)
def _row_pass(mode, z, c, t, v, col_kl, current, window, scale, offset, row_kl, u, p):
    """One row of ``_sweep`` with ``alpha P_j = scale (current_j - window_j) + offset`` (scale = offset = 0 off
    the structure) and ``g_j = alpha P_j + c_j + row_kl + col_kl_j``."""
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
def _add_row(target, row, sign):
    for j in range(target.shape[0]):
        target[j] += sign * row[j]


@numba.njit(cache=True, fastmath=_FASTMATH)
def _sweep(mode, plan, right, kernel, linear, u, v, row_kl, col_kl, band_mass, n, m, radius_x, p):
    """Rows in order, forming ``alpha P = alpha Cx T Cy = alpha (B_x (T 1) 1^T - B_x right) / r`` on the fly
    (``right = T B_y`` or ``T``; its rows enter and leave a running window). ``_PEAK`` returns ``max g``;
    ``_STEP`` applies ``Z <- (1 - s eps) Z - s (g - eps log T)``; ``_VALUE`` returns E(plan) without the KL
    terms; ``_STEP_AND_VALUE`` both (value of the plan before the step)."""
    scale, one = p[0] * p[2], p[11]
    zero = one - one
    rows, cols = kernel.shape
    window, empty = np.zeros(m, kernel.dtype), np.zeros(cols, kernel.dtype)
    for k in range(min(radius_x + 1, n)):
        _add_row(window, right[k], one)
    v_real, v_dummy, kl_real, kl_dummy = v[:m], v[m:], col_kl[:m], col_kl[m:]
    result = -np.inf if mode == _PEAK else 0.0
    for i in range(rows):
        z, c, t = kernel[i], linear[i], plan[i]
        second = -np.inf if mode == _PEAK else 0.0
        if i < n:
            offset = scale * band_mass[i]
            first = _row_pass(mode, z[:m], c[:m], t[:m], v_real, kl_real, right[i], window, scale, offset,
                              row_kl[i], u[i], p)  # fmt: skip
            if cols > m:  # the dummy column: no structure
                second = _row_pass(mode, z[m:], c[m:], t[m:], v_dummy, kl_dummy, empty, empty, zero, zero,
                                   row_kl[i], u[i], p)  # fmt: skip
            if i + radius_x + 1 < n:
                _add_row(window, right[i + radius_x + 1], one)
            if i >= radius_x:
                _add_row(window, right[i - radius_x], -one)
        else:  # the dummy row: no structure
            first = _row_pass(mode, z, c, t, v, col_kl, empty, empty, zero, zero, row_kl[i], u[i], p)
        if mode == _PEAK:
            result = max(result, max(first, second))
        else:
            result += first + second
    return result


@numba.njit(cache=True, fastmath=_FASTMATH)
def _rows_half_step(kernel, plan, u, v, log_a, scale):
    """``u = log a - LSE_j(Z + v)`` with one max-shifted exponential per entry: afterwards
    ``exp(Z + u + v)_ij = scale_i * plan_ij`` (the row scaling is left to the caller)."""
    rows, cols = kernel.shape
    shifted = np.empty(cols, kernel.dtype)
    for i in range(rows):
        z, t = kernel[i], plan[i]
        top = z[0] + v[0]
        for j in range(cols):
            shifted[j] = z[j] + v[j]
            top = max(top, shifted[j])
        total = top - top
        for j in range(cols):
            t[j] = exp_nonpositive(shifted[j] - top)
            total += t[j]
        u[i] = log_a[i] - top - np.log(total)
        scale[i] = np.exp(log_a[i]) / total


@numba.njit(cache=True, fastmath=_FASTMATH)
def _scale_rows(plan, scale):
    for i in range(plan.shape[0]):
        t, weight = plan[i], scale[i]
        for j in range(plan.shape[1]):
            t[j] *= weight


@numba.njit(cache=True, fastmath=_FASTMATH)
def _cols_after_rows(plan, v, log_b, scale):
    """Column half-step after ``_rows_half_step``: ``v += log b - log(col sums)``; plan scaled to
    ``exp(Z + u + v)`` (no exponentials)."""
    rows, cols = plan.shape
    total = np.zeros(cols, plan.dtype)
    for i in range(rows):
        t, weight = plan[i], scale[i]
        for j in range(cols):
            total[j] += weight * t[j]
    for j in range(cols):
        v[j] += log_b[j] - np.log(total[j])
        total[j] = np.exp(log_b[j]) / total[j]
    for i in range(rows):
        t, weight = plan[i], scale[i]
        for j in range(cols):
            t[j] *= weight * total[j]


@numba.njit(cache=True, fastmath=_FASTMATH)
def _cols_from_kernel(kernel, plan, v, log_b):
    """``v = log b - LSE_i(Z)`` and ``plan = exp(Z + v)`` (rows relaxed, so ``u = 0``)."""
    rows, cols = kernel.shape
    top = kernel[0].copy()
    for i in range(1, rows):
        z = kernel[i]
        for j in range(cols):
            top[j] = max(top[j], z[j])
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
    top = kernel.max()
    scale = np.exp(top)
    for i in range(kernel.shape[0]):
        z, t = kernel[i], plan[i]
        for j in range(kernel.shape[1]):
            t[j] = exp_nonpositive(z[j] - top) * scale


@numba.njit(cache=True, fastmath=_FASTMATH)
def _margins(plan, rows_out, cols_out):
    """Row and column sums (numba's ``sum(axis=1)`` is an order of magnitude slower)."""
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
        log_mass = np.log(max(mass[k], _MASS_FLOOR))
        gradient[k] = lam * (log_mass - log_p[k] + 1.0)
        if mass[k] > 0:
            value += mass[k] * (log_mass - log_p[k])
    return lam * value


@numba.njit(cache=True, fastmath=_FASTMATH)
def _marginal_gap(mass, log_p):
    return np.abs(mass - np.exp(log_p)).sum()


@numba.njit(cache=True, fastmath=_FASTMATH, nogil=True)
def _solve_item(cost, log_a, log_b, sizes, options, p, out, trace, error):
    """Mirror descent for one item. ``cost``/``out``: its ``[N, M]`` slices (no dummy); ``log_a``/``log_b``:
    padded log-marginals (dummy last); ``sizes`` = (n, m, R_x, R_y); ``options`` = (dummy, clusters, relaxed
    code, n_iters, with_trace); writes the plan, the objective trace, ``error[0]`` and the step ``p[5]``."""
    n, m, radius_x, radius_y = sizes[0], sizes[1], sizes[2], sizes[3]
    dummy, clusters, relaxed, n_iters, with_trace = options[0], options[1], options[2], options[3], options[4]
    rows_fixed, cols_fixed = relaxed == 0 or relaxed == 2, relaxed == 0 or relaxed == 1
    dtype = cost.dtype
    rows, cols = n + dummy, m + dummy
    linear, la, lb = np.empty((rows, cols), dtype), np.empty(rows, dtype), np.empty(cols, dtype)
    _item_problem(cost, log_a, log_b, n, m, dummy, p, linear, la, lb)
    weights_a, weights_b = np.exp(la), np.exp(lb)
    plan, kernel = np.empty((rows, cols), dtype), np.zeros((rows, cols), dtype)
    for i in range(rows):
        t, z = plan[i], kernel[i]
        for j in range(cols):
            t[j] = weights_a[i] * weights_b[j]
            z[j] = (0.0 if rows_fixed else la[i]) + (0.0 if cols_fixed else lb[j])
    u = la.copy() if rows_fixed else np.zeros(rows, dtype)
    v = lb.copy() if cols_fixed else np.zeros(cols, dtype)
    window, row_mass, band_mass = np.zeros((n, m), dtype), np.empty(n, dtype), np.empty(n, dtype)
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
        _band_windows(plan, n, m, radius_y, clusters, window, row_mass)
        _neighbour_sums(row_mass, radius_x, band_mass)
        if iteration == 0 and not p[5] > 0:
            peak = _sweep(_PEAK, plan, window, kernel, linear, u, v, row_kl, col_kl, band_mass, n, m, radius_x, p)
            p[5] = 4.0 / max(peak, 4.0 * p[1])
        mode = _VALUE if last else (_STEP_AND_VALUE if with_trace else _STEP)
        value = _sweep(mode, plan, window, kernel, linear, u, v, row_kl, col_kl, band_mass, n, m, radius_x, p)
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
    out[:] = 0.0
    for i in range(n):
        out[i, :m] = plan[i, :m]


_RELAXED_CODE = {"none": 0, "a": 1, "b": 2, "both": 3}


def _mirror_descent_numba(cost, log_a, log_b, sizes, *, rho, dummy, clusters, r, alpha, eps, relaxed, lams,
                          n_iters, step_size, return_trace):  # fmt: skip
    """Run the kernel on CPU tensors: raw ``cost`` ``[B, N, M]``, padded log-marginals (dummy last) and
    ``sizes`` ``[B, 4]`` = (n, m, R_x, R_y). Returns plan ``[B, N, M]``, trace, marginal errors and steps."""
    batch, dtype = cost.shape[0], cost.dtype
    values = [alpha, eps, 1.0 / r, lams[0], lams[1], step_size or 0.0, rho, dummy or 0.0, 0.0, 0.0, 0.5, 1.0]
    params = torch.tensor(values, dtype=dtype).repeat(batch, 1)
    params[:, 8:10] = sizes[:, :2].to(dtype)
    options = np.array([dummy is not None, clusters, _RELAXED_CODE[relaxed], n_iters, return_trace], np.int64)
    plan = torch.empty_like(cost)  # the kernel writes every entry (zeros on padding)
    trace = torch.zeros(batch, n_iters + 1, dtype=torch.float64)
    error = torch.zeros(batch, 1, dtype=torch.float64)
    arrays = [x.contiguous().numpy() for x in (cost, log_a, log_b, sizes, params, plan, trace, error)]
    cost_np, log_a_np, log_b_np, sizes_np, params_np, plan_np, trace_np, error_np = arrays

    def solve(item: int) -> None:
        _solve_item(cost_np[item], log_a_np[item], log_b_np[item], sizes_np[item], options, params_np[item],
                    plan_np[item], trace_np[item], error_np[item])  # fmt: skip

    # One item per task; the kernel releases the GIL, so the threads run in parallel.
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(batch, torch.get_num_threads())) as pool:
        list(pool.map(solve, range(batch)))
    objective = trace.to(dtype) if return_trace else None
    return plan, objective, error[:, 0].to(dtype), params[:, 5].clone()


# ---------------------------------------------------------------------------------------------------------
# Public entry points.


def _lambdas(lam: float | tuple[float, float]) -> tuple[float, float]:
    return (float(lam), float(lam)) if isinstance(lam, (int, float)) else (float(lam[0]), float(lam[1]))


def _check_options(relaxed: str, n_iters: int) -> None:
    if relaxed not in _RELAXED_CODE:
        raise ValueError(f"unbalanced must be 'none', 'a', 'b' or 'both', got {relaxed!r}")
    if n_iters < 1:
        raise ValueError(f"n_iters must be at least 1, got {n_iters}")


def _log_marginal(weights: Tensor | None, mask: Tensor | None, batch: int, length: int, like: Tensor) -> Tensor:
    """``[B, length]`` log-weights: uniform over real frames by default, -inf on padding."""
    if weights is not None:
        weights = weights.to(device=like.device, dtype=like.dtype).expand(batch, length)
        return torch.log(weights if mask is None else weights * mask)
    count = torch.full((batch, 1), float(length), dtype=like.dtype, device=like.device)
    if mask is None:
        return (-torch.log(count)).expand(batch, length)
    count = mask.sum(dim=1, keepdim=True).to(like.dtype)  # the log of [B] numbers, not of [B, length]
    return torch.where(mask.bool(), -torch.log(count), torch.full_like(count, float("-inf")))


def _valid_entries(mask_a: Tensor | None, mask_b: Tensor | None) -> Tensor | None:
    if mask_a is None and mask_b is None:
        return None
    rows = mask_a.bool()[:, :, None] if mask_a is not None else True
    cols = mask_b.bool()[:, None, :] if mask_b is not None else True
    return rows & cols


def _marginal_error(plan: Tensor, log_a: Tensor, log_b: Tensor, relaxed: Relaxed) -> Tensor:
    """L1 violation of the constrained marginals (``log_a`` ``[B, N]``, ``log_b`` ``[B, M]``)."""
    error = torch.zeros(plan.shape[0], dtype=plan.dtype, device=plan.device)
    if relaxed in ("none", "b"):
        error = error + (plan.sum(dim=2) - log_a.exp()).abs().sum(dim=1)
    if relaxed in ("none", "a"):
        error = error + (plan.sum(dim=1) - log_b.exp()).abs().sum(dim=1)
    return error


def fgw_mirror_descent(
    cost: Tensor,
    cx: Tensor,
    cy: Tensor,
    *,
    alpha: float,
    eps: float,
    a: Tensor | None = None,
    b: Tensor | None = None,
    mask_a: Tensor | None = None,
    mask_b: Tensor | None = None,
    unbalanced: Relaxed = "none",
    lam: float | tuple[float, float] = 0.05,
    n_iters: int = 25,
    step_size: float | None = None,
    return_trace: bool = True,
) -> FGWOutput:
    """Mirror descent on E(T) (module docstring) with explicit symmetric structure matrices (torch path).

    ``cost`` ``[B, N, M]``, ``cx`` ``[N, N]`` or ``[B, N, N]``, ``cy`` ``[M, M]`` or ``[B, M, M]``; ``Cx T Cy``
    is a dense matmul, O(N^2 M): use :func:`fused_gw` for the banded video structures.
    """
    _check_options(unbalanced, n_iters)
    batch, n, m = cost.shape
    cost = cost.detach()
    cx = cx.to(device=cost.device, dtype=cost.dtype)
    cy = cy.to(device=cost.device, dtype=cost.dtype)
    log_a = _log_marginal(a, mask_a, batch, n, cost)
    log_b = _log_marginal(b, mask_b, batch, m, cost)
    valid = _valid_entries(mask_a, mask_b)
    problem = _Problem(cost, lambda plan: cx @ plan @ cy, log_a[:, :, None], log_b[:, None, :], valid)
    with torch.no_grad():
        plan, objective, step = _mirror_descent_torch(
            problem,
            alpha=alpha,
            eps=eps,
            relaxed=unbalanced,
            lams=_lambdas(lam),
            n_iters=n_iters,
            step_size=step_size,
            return_trace=return_trace,
        )
    error = _marginal_error(plan, log_a, log_b, unbalanced)
    return FGWOutput(plan=plan, objective=objective, marginal_error=error, step_size=step)


def _lengths(mask: Tensor | None, batch: int, length: int, device: torch.device) -> Tensor:
    if mask is None:
        return torch.full((batch,), length, dtype=torch.int64, device=device)
    return mask.sum(dim=1).to(torch.int64)


def temporal_prior(lengths_a: Tensor, lengths_b: Tensor, n: int, m: int, like: Tensor) -> Tensor:
    """``|i / n_b - j / m_b|`` ``[B, n, m]`` over each item's real lengths (METHODS §1; ASOT: ``j / K``)."""
    rows = torch.arange(n, device=like.device, dtype=like.dtype)[None, :, None]
    cols = torch.arange(m, device=like.device, dtype=like.dtype)[None, None, :]
    rows = rows / lengths_a.to(like.dtype)[:, None, None]
    cols = cols / lengths_b.to(like.dtype)[:, None, None]
    return (rows - cols).abs()


def _append_dummy(log_weights: Tensor, lengths: Tensor) -> Tensor:
    """Append the dummy's log-weight ``-log(n + 1)``; real weights are scaled by ``n / (n + 1)``."""
    count = (lengths.to(log_weights.dtype) + 1.0)[:, None]
    return torch.cat([log_weights + torch.log1p(-1.0 / count), -torch.log(count)], dim=1)


def _append_real(mask: Tensor | None) -> Tensor | None:
    return None if mask is None else torch.nn.functional.pad(mask.bool(), (0, 1), value=True)


def fused_gw(
    cost: Tensor,
    *,
    alpha: float,
    eps: float,
    radius: float,
    rho: float = 0.0,
    dummy: float | None = None,
    unbalanced: Relaxed = "none",
    lam: float | tuple[float, float] = 0.05,
    n_iters: int = 25,
    mask_a: Tensor | None = None,
    mask_b: Tensor | None = None,
    structure: StructureKind = "alignment",
    a: Tensor | None = None,
    b: Tensor | None = None,
    step_size: float | None = None,
    return_trace: bool = True,
    backend: Backend = "auto",
) -> FGWOutput:
    """Fused-GW plan between the frames of X (rows) and the frames of Y or K prototypes (columns).

    ``cost`` ``[B, N, M]`` (e.g. ``1 - x_i . y_j``). ``radius`` is METHODS' fraction r:
    ``R = max(1, round(r * real length))``, ``Cx = band / r``. ``structure``: "alignment" (VAOT, banded Cy) or
    "clusters" (ASOT, ``Cy = 1 - I``). ``rho`` adds ``rho |i/n - j/m|``. ``unbalanced`` relaxes the rows ("a"),
    the columns ("b") or both with KL weight ``lam`` (float or ``(lam_a, lam_b)``). ``a``/``b``: positive
    weights ``[B, N]``/``[B, M]`` over the real frames summing to 1 (default uniform). Masks ``[B, N]``/``[B, M]``
    (True = real frame, padding at the end): each item is solved as its cropped problem. ``backend``: "auto"
    (the numba kernel for float32/float64 CPU tensors, the Triton kernels for float32/float64 CUDA tensors, the
    torch path otherwise), "torch", "numba" or "triton".

    ``dummy=zeta`` (VAOT) appends one row and one column of constant cost ``zeta`` at the END (index N / M,
    after any padding) where unmatched frames can send their mass; marginals are uniform over ``n + 1`` and
    ``m + 1`` (given weights scaled by ``n / (n + 1)``). The dummy has no structure coupling (zero rows and
    columns in Cx, Cy): a frame sent to the dummy neither rewards nor penalises its neighbours. It is stripped
    from the END of the returned plan, so column j stays frame j of Y (VASOT stripped it from the front).
    """
    if cost.dim() != 3:
        raise ValueError(f"cost must be [B, N, M], got {tuple(cost.shape)}")
    _check_options(unbalanced, n_iters)
    if structure not in ("alignment", "clusters"):
        raise ValueError(f"unknown structure {structure!r}")
    cost = cost.detach()
    batch, n, m = cost.shape
    lengths_a = _lengths(mask_a, batch, n, cost.device)
    lengths_b = _lengths(mask_b, batch, m, cost.device)
    radius_x, radius_y = band_radii(lengths_a, radius), band_radii(lengths_b, radius)
    log_a = _log_marginal(a, mask_a, batch, n, cost)
    log_b = _log_marginal(b, mask_b, batch, m, cost)
    if dummy is not None:
        log_a, log_b = _append_dummy(log_a, lengths_a), _append_dummy(log_b, lengths_b)
    options = dict(alpha=alpha, eps=eps, relaxed=unbalanced, lams=_lambdas(lam), n_iters=n_iters,
                   step_size=step_size, return_trace=return_trace)  # fmt: skip
    compiled = cost.device.type == "cpu" and cost.dtype in (torch.float32, torch.float64)
    if backend == "numba" or (backend == "auto" and compiled):
        sizes = torch.stack([lengths_a, lengths_b, radius_x, radius_y], dim=1).cpu()
        solved = _mirror_descent_numba(
            cost.cpu(), log_a.cpu(), log_b.cpu(), sizes, rho=rho, dummy=dummy, clusters=structure == "clusters",
            r=radius, **options,
        )  # fmt: skip
        plan, objective, error, step = (None if x is None else x.to(cost.device) for x in solved)
        return FGWOutput(plan=plan, objective=objective, marginal_error=error, step_size=step)

    if rho:
        cost = cost + rho * temporal_prior(lengths_a, lengths_b, n, m, cost)
    if dummy is not None:  # appended after any padding; zero structure rows/columns
        cost = torch.nn.functional.pad(cost, (0, 1, 0, 1), value=float(dummy))
        mask_a, mask_b = _append_real(mask_a), _append_real(mask_b)

    def product(plan: Tensor) -> Tensor:
        real = structure_product(plan[:, :n, :m], structure, radius, radius_x, radius_y)
        return real if dummy is None else torch.nn.functional.pad(real, (0, 1, 0, 1))

    problem = _Problem(cost, product, log_a[:, :, None], log_b[:, None, :], _valid_entries(mask_a, mask_b))
    solve = _mirror_descent_torch
    if use_triton(backend, cost):
        from vidalign.ops._triton.fgw import mirror_descent as solve
    with torch.no_grad():
        plan, objective, step = solve(problem, **options)
    error = _marginal_error(plan, log_a, log_b, unbalanced)
    if dummy is not None:
        plan = plan[:, :n, :m].contiguous()
    return FGWOutput(plan=plan, objective=objective, marginal_error=error, step_size=step)
