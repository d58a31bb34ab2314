"""Fused-GW mirror descent on the GPU: the per-iteration elementwise work fused into two Triton kernels.

The iterations of :func:`vidalign.ops.fgw.mirror_descent_torch` (module docstring of :mod:`vidalign.ops.fgw`;
ASOT, Xu et al. CVPR 2024, eqs. 3-5) on the same padded problem (prior and dummy in the cost, ``log a``/``log b``
``-inf`` on padding, which is how the kernels recognise the real entries):

1. ``P = Cx T Cy``: torch, :func:`vidalign.ops.structure.structure_product` (cumulative sums and gathers, O(N M)),
   with the KL gradients of relaxed sides (row/column sums of ``T``);
2. ``_step_rows`` (grid: pairs x row blocks): ``g = alpha P + (1 - alpha) C + KL gradients``,
   ``Z <- (1 - s eps) Z - s g`` on the real entries (``-inf`` elsewhere) and, when the rows are constrained, the
   row half-step of the Sinkhorn sweep ``u = log a - LSE_j(Z + v)``, an online log-sum-exp over column chunks;
3. ``_columns_and_plan`` (grid: pairs x column blocks): when the columns are constrained, the column half-step
   ``v = log b - LSE_i(Z + u)`` (online over row tiles), then ``T = exp(Z + u + v)``.

``Z`` is updated in place; the first iteration's step ``s = 4 / max(max g, 4 eps)`` and the objective trace use the
reference's torch helpers. Per iteration this is the ~10 torch ops of the band product plus 2 launches, against
~40 elementwise torch ops in the reference. Fusing the band product's cumulative sums into ``_step_rows`` (window
sums along ``j`` as a ``tl.cumsum`` of shifted loads, along ``i`` from a per-pair scratch of ``T B_y``) is the next
step if GPU profiles show those torch ops dominating (``vidalign bench --suite gpu``).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from vidalign.ops.fgw_problem import (
    Problem,
    initial_step,
    kl_gradient,
    masked,
    objective_value,
    step_curvature,
)

STEP_TILE = 4096  # entries of Z per tile of _step_rows (rows x column chunk)
STEP_MAX_COLUMNS = 1024  # column chunk of _step_rows (longer rows are swept in chunks)
COLUMN_TILE = (64, 32)  # (rows, columns) per tile of _columns_and_plan
NUM_WARPS = 4


@triton.jit
def _step_rows(kernel_ptr, cost_ptr, structure_ptr, log_a_ptr, log_b_ptr, row_kl_ptr, col_kl_ptr, u_ptr, v_ptr,
               step_ptr, params_ptr, rows, cols, ROWS_FIXED: tl.constexpr, BLOCK_R: tl.constexpr,
               BLOCK_C: tl.constexpr):  # fmt: skip
    """Mirror step of rows ``[BLOCK_R * program_id(1), ...)`` of pair ``program_id(0)``; with ``ROWS_FIXED`` also
    ``u`` of those rows. ``params`` = (alpha, 1 - alpha, eps); ``[B, rows, cols]``/``[B, rows]``/``[B, cols]``
    contiguous tensors, ``step`` ``[B]``."""
    b = tl.program_id(0)
    i = tl.program_id(1) * BLOCK_R + tl.arange(0, BLOCK_R)
    in_rows = i < rows
    item = b.to(tl.int64) * rows * cols
    alpha, linear_weight, eps = tl.load(params_ptr), tl.load(params_ptr + 1), tl.load(params_ptr + 2)
    step = tl.load(step_ptr + b)
    decay = 1.0 - step * eps
    log_a = tl.load(log_a_ptr + b * rows + i, mask=in_rows, other=float("-inf"))
    row_kl = tl.load(row_kl_ptr + b * rows + i, mask=in_rows, other=0.0)
    top = tl.full([BLOCK_R], float("-inf"), dtype=log_a.dtype)  # online LSE_j(Z + v) per row
    total = tl.zeros([BLOCK_R], dtype=log_a.dtype)
    for start in range(0, cols, BLOCK_C):
        j = start + tl.arange(0, BLOCK_C)
        in_cols = j < cols
        log_b = tl.load(log_b_ptr + b * cols + j, mask=in_cols, other=float("-inf"))
        col_kl = tl.load(col_kl_ptr + b * cols + j, mask=in_cols, other=0.0)
        at = item + i[:, None] * cols + j[None, :]
        inside = in_rows[:, None] & in_cols[None, :]
        z = tl.load(kernel_ptr + at, mask=inside, other=0.0)
        gradient = alpha * tl.load(structure_ptr + at, mask=inside, other=0.0)
        gradient += linear_weight * tl.load(cost_ptr + at, mask=inside, other=0.0)
        gradient = gradient + row_kl[:, None] + col_kl[None, :]
        real = (log_a[:, None] > float("-inf")) & (log_b[None, :] > float("-inf"))
        z = tl.where(real, decay * z - step * gradient, float("-inf"))
        tl.store(kernel_ptr + at, z, mask=inside)
        if ROWS_FIXED:
            v = tl.load(v_ptr + b * cols + j, mask=in_cols, other=float("-inf"))
            shifted = z + v[None, :]
            new_top = tl.maximum(top, tl.max(shifted, axis=1))
            anchor = tl.where(new_top > float("-inf"), new_top, 0.0)  # an empty row keeps total = 0
            total = total * tl.exp(top - anchor) + tl.sum(tl.exp(shifted - anchor[:, None]), axis=1)
            top = new_top
    if ROWS_FIXED:  # a row without real entries (top = -inf, total = 0) keeps u = log a (-inf)
        lse = tl.where(top > float("-inf"), top + tl.log(tl.where(total > 0, total, 1.0)), 0.0)
        tl.store(u_ptr + b * rows + i, log_a - lse, mask=in_rows)


@triton.jit
def _columns_and_plan(kernel_ptr, plan_ptr, log_b_ptr, u_ptr, v_ptr, rows, cols, COLS_FIXED: tl.constexpr,
                      BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):  # fmt: skip
    """Columns ``[BLOCK_C * program_id(1), ...)`` of pair ``program_id(0)``: with ``COLS_FIXED`` the potentials
    ``v = log b - LSE_i(Z + u)``, then the plan ``T = exp(Z + u + v)``."""
    b = tl.program_id(0)
    j = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    in_cols = j < cols
    item = b.to(tl.int64) * rows * cols
    if COLS_FIXED:
        log_b = tl.load(log_b_ptr + b * cols + j, mask=in_cols, other=float("-inf"))
        top = tl.full([BLOCK_C], float("-inf"), dtype=log_b.dtype)  # online LSE_i(Z + u) per column
        total = tl.zeros([BLOCK_C], dtype=log_b.dtype)
        for start in range(0, rows, BLOCK_R):
            i = start + tl.arange(0, BLOCK_R)
            u = tl.load(u_ptr + b * rows + i, mask=i < rows, other=float("-inf"))
            inside = (i[:, None] < rows) & in_cols[None, :]
            shifted = tl.load(kernel_ptr + item + i[:, None] * cols + j[None, :], mask=inside, other=float("-inf"))
            shifted = shifted + u[:, None]
            new_top = tl.maximum(top, tl.max(shifted, axis=0))
            anchor = tl.where(new_top > float("-inf"), new_top, 0.0)
            total = total * tl.exp(top - anchor) + tl.sum(tl.exp(shifted - anchor[None, :]), axis=0)
            top = new_top
        lse = tl.where(top > float("-inf"), top + tl.log(tl.where(total > 0, total, 1.0)), 0.0)
        v = log_b - lse
        tl.store(v_ptr + b * cols + j, v, mask=in_cols)
    else:
        v = tl.load(v_ptr + b * cols + j, mask=in_cols, other=0.0)
    for start in range(0, rows, BLOCK_R):
        i = start + tl.arange(0, BLOCK_R)
        u = tl.load(u_ptr + b * rows + i, mask=i < rows, other=0.0)
        at = item + i[:, None] * cols + j[None, :]
        inside = (i[:, None] < rows) & in_cols[None, :]
        z = tl.load(kernel_ptr + at, mask=inside, other=float("-inf"))
        tl.store(plan_ptr + at, tl.exp(z + u[:, None] + v[None, :]), mask=inside)


def mirror_descent(problem: Problem, *, alpha, eps, relaxed, lams, n_iters, step_size, return_trace):
    """Drop-in for :func:`vidalign.ops.fgw.mirror_descent_torch` (same arguments, same results up to rounding):
    returns the plan (padded layout), the objective trace (or None) and the steps ``[B]``."""
    rows_fixed, cols_fixed = relaxed in ("none", "b"), relaxed in ("none", "a")
    cost = problem.cost.contiguous()
    batch, rows, cols = cost.shape
    log_a, log_b = problem.log_a[:, :, 0].contiguous(), problem.log_b[:, 0, :].contiguous()
    zeros_a, zeros_b = torch.zeros_like(log_a), torch.zeros_like(log_b)
    kernel = masked(torch.zeros_like(cost), problem.valid)
    kernel = kernel + (0.0 if rows_fixed else log_a[:, :, None]) + (0.0 if cols_fixed else log_b[:, None, :])
    u = log_a.clone() if rows_fixed else zeros_a.clone()
    v = log_b.clone() if cols_fixed else zeros_b.clone()
    plan = (kernel + u[:, :, None] + v[:, None, :]).exp()
    params = torch.tensor([alpha, 1.0 - alpha, eps], dtype=cost.dtype, device=cost.device)
    step = None if step_size is None else torch.full((batch,), float(step_size), dtype=cost.dtype, device=cost.device)
    step_columns = min(triton.next_power_of_2(cols), STEP_MAX_COLUMNS)
    step_rows = max(1, STEP_TILE // step_columns)
    tile_rows, tile_cols = COLUMN_TILE
    trace = []
    for iteration in range(n_iters + 1):
        structure = problem.product(plan)
        if return_trace:
            trace.append(objective_value(plan, structure, problem, alpha, eps, rows_fixed, cols_fixed, lams))
        if iteration == n_iters:
            break
        row_kl = zeros_a if rows_fixed else kl_gradient(plan.sum(dim=2), log_a, lams[0])
        col_kl = zeros_b if cols_fixed else kl_gradient(plan.sum(dim=1), log_b, lams[1])
        if step is None:
            gradient = alpha * structure + (1.0 - alpha) * cost + row_kl[:, :, None] + col_kl[:, None, :]
            log_plan = kernel + u[:, :, None] + v[:, None, :]
            curvature = step_curvature(eps, rows_fixed, cols_fixed, lams)
            step = initial_step(gradient + eps * log_plan, problem.valid, curvature).flatten()
        _step_rows[(batch, triton.cdiv(rows, step_rows))](
            kernel, cost, structure.contiguous(), log_a, log_b, row_kl.contiguous(), col_kl.contiguous(), u, v, step,
            params, rows, cols, ROWS_FIXED=rows_fixed, BLOCK_R=step_rows, BLOCK_C=step_columns, num_warps=NUM_WARPS,
        )  # fmt: skip
        _columns_and_plan[(batch, triton.cdiv(cols, tile_cols))](
            kernel, plan, log_b, u, v, rows, cols, COLS_FIXED=cols_fixed, BLOCK_R=tile_rows, BLOCK_C=tile_cols,
            num_warps=NUM_WARPS,
        )  # fmt: skip
    objective = torch.stack(trace, dim=1) if return_trace else None
    return plan, objective, step
