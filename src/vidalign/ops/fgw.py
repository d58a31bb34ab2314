"""Fused Gromov-Wasserstein plans by mirror descent: the ASOT / VAOT solver (docs/methods.md, Kernels).

Objective per batch item (ASOT, Xu et al. CVPR 2024, eqs. 3-5; VAOT uses the frame-to-frame structure):

    E(T) = alpha/2 <Cx T Cy, T> + (1 - alpha) <C, T> + KL terms - eps H(T),   H(T) = sum(-T log T + T),
    KL term of a relaxed side with marginal m and target p:  lam * sum(m log(m / p)).

METHODS and ASOT's ``asotobjective`` print ``1/2 <alpha Cx T Cy + (1 - alpha) C, T>``, but the step both use,
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
at the papers' settings. With both sides relaxed (``"both"``) no projection holds the mass and the KL terms add
their curvature to the entropy's: the cap is ``1 / (eps + lam_a + lam_b)`` (capped at ``1 / eps``, tiny problems
diverged: mass 1e30 and more after 10 iterations at eps 0.07, lam 0.1). Fixed points satisfy
``T = diag(u) exp(-(alpha Cx T Cy + (1 - alpha) C) / eps) diag(v)``: the stationary points of POT's entropic FGW
with ``C1 = Cx``, ``C2 = -Cy / 4`` (square loss; the mapping is derived in ``tests/ops/test_fgw.py``). Everything
is in log space, so float32 stays finite at eps = 0.05 where ``exp(-C / eps)`` underflows (POT's float32 torch
backend returns a zero plan there).

``fused_gw`` adds the video parts: banded structure matrices (:mod:`vidalign.ops.structure`, O(N*M) products),
the temporal prior ``rho |i/n - j/m|``, VAOT's dummy frame and masks. On CPU it runs a numba kernel
(``_numba/fgw.py``: one batch item per thread, padding dropped, the per-entry work fused into a few passes over
the plan); on CUDA the torch iterations run with their elementwise work fused into Triton kernels
(``_triton/fgw.py``); the torch path is the reference and runs on any device (the choice:
:mod:`vidalign.ops.backends`). All three read the validated :class:`~vidalign.ops.fgw_problem.FusedGWProblem`
(the torch and Triton paths through its padded dense form). ``fgw_mirror_descent`` takes
explicit dense ``Cx``/``Cy``. The plan is a constant for autograd (a pseudo-label):
no graph is built through the solver.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import Tensor

from vidalign.errors import ConfigError, InputError
from vidalign.ops._masks import permute, prefix_order
from vidalign.ops._numba.fgw import solve_batch
from vidalign.ops.backends import Backend, select_backend
from vidalign.ops.dtw import dtw
from vidalign.ops.fgw_problem import (
    FusedGWProblem,
    Problem,
    initial_step,
    kl_gradient,
    masked,
    objective_value,
    potential,
    step_curvature,
)
from vidalign.ops.structure import CxWeight, StructureKind, band_radii, cx_weights, structure_product
from vidalign.ops.unbalanced import DEFAULT_LAM, RELAXED_CODE, Unbalanced, fixed_sides, kl_weights


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


def mirror_descent_torch(problem: Problem, *, alpha, eps, relaxed, lams, n_iters, step_size, return_trace):
    """Reference iterations; returns the plan (padded layout), the objective trace and the steps."""
    rows_fixed, cols_fixed = fixed_sides(relaxed)
    kernel = masked(torch.zeros_like(problem.cost), problem.valid)
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
            trace.append(objective_value(plan, structure, problem, alpha, eps, rows_fixed, cols_fixed, lams))
        if iteration == n_iters:
            break
        gradient = alpha * structure + (1.0 - alpha) * problem.cost
        if not rows_fixed:
            gradient = gradient + kl_gradient(plan.sum(dim=2, keepdim=True), problem.log_a, lams[0])
        if not cols_fixed:
            gradient = gradient + kl_gradient(plan.sum(dim=1, keepdim=True), problem.log_b, lams[1])
        if step is None:
            curvature = step_curvature(eps, rows_fixed, cols_fixed, lams)
            step = initial_step(gradient + eps * (kernel + u + v), problem.valid, curvature)
        kernel = masked((1.0 - step * eps) * kernel - step * gradient, problem.valid)
        if rows_fixed:
            u = potential(kernel + v, problem.log_a, 2)
        if cols_fixed:
            v = potential(kernel + u, problem.log_b, 1)
        plan = (kernel + u + v).exp()
    objective = torch.stack(trace, dim=1) if return_trace else None
    return plan, objective, step.flatten()


def mirror_descent_numba(problem: FusedGWProblem, *, alpha, eps, relaxed, lams, n_iters, step_size, return_trace):
    """The numba kernel (``_numba/fgw.py``) on the CPU: returns plan ``[B, N, M]`` (no dummy, on the problem's
    device), trace, marginal errors and steps."""
    cost = problem.cost.cpu().contiguous()  # the plan below takes its layout, and the kernel writes row-major arrays
    batch, dtype = cost.shape[0], cost.dtype
    sizes = torch.stack([problem.lengths_a, problem.lengths_b, problem.radius_x, problem.radius_y], dim=1).cpu()
    log_a, log_b = problem.log_a.cpu(), problem.log_b.cpu()
    dummy = problem.dummy
    values = [alpha, eps, 0.0, lams[0], lams[1], step_size or 0.0, problem.rho, dummy or 0.0, 0.0, 0.0, 0.5, 1.0]
    params = torch.tensor(values, dtype=dtype).repeat(batch, 1)
    params[:, 2] = problem.weight_x.cpu().to(dtype)
    params[:, 8:10] = sizes[:, :2].to(dtype)
    code = RELAXED_CODE[relaxed]
    options = np.array([dummy is not None, problem.clusters, code, n_iters, return_trace], np.int64)
    plan = torch.empty_like(cost)  # the kernel writes every entry (zeros on padding)
    trace = torch.zeros(batch, n_iters + 1, dtype=torch.float64)
    error = torch.zeros(batch, 1, dtype=torch.float64)
    arrays = [x.contiguous().numpy() for x in (cost, log_a, log_b, sizes, params, plan, trace, error)]
    cost_np, log_a_np, log_b_np, sizes_np, params_np, plan_np, trace_np, error_np = arrays
    solve_batch(cost_np, log_a_np, log_b_np, sizes_np, options, params_np, plan_np, trace_np, error_np)
    objective = trace.to(dtype) if return_trace else None
    solved = plan, objective, error[:, 0].to(dtype), params[:, 5].clone()
    return tuple(None if x is None else x.to(problem.cost.device) for x in solved)


# ---------------------------------------------------------------------------------------------------------
# Public entry points.


def _options(unbalanced: str, lam, n_iters: int, **rest) -> dict:
    """The solvers' keyword options (the same for every backend), checked."""
    lams = kl_weights(unbalanced, lam)
    if n_iters < 1:
        raise ConfigError(f"n_iters must be at least 1, got {n_iters}")
    return dict(relaxed=unbalanced, lams=lams, n_iters=n_iters, **rest)


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


def _marginal_error(plan: Tensor, log_a: Tensor, log_b: Tensor, relaxed: Unbalanced) -> Tensor:
    """L1 violation of the constrained marginals (``log_a`` ``[B, N]``, ``log_b`` ``[B, M]``)."""
    error = torch.zeros(plan.shape[0], dtype=plan.dtype, device=plan.device)
    rows_fixed, cols_fixed = fixed_sides(relaxed)
    if rows_fixed:
        error = error + (plan.sum(dim=2) - log_a.exp()).abs().sum(dim=1)
    if cols_fixed:
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
    unbalanced: Unbalanced = "none",
    lam: float | tuple[float, float] = DEFAULT_LAM,
    n_iters: int = 25,
    step_size: float | None = None,
    return_trace: bool = True,
    backend: str = "auto",
) -> FGWOutput:
    """Mirror descent on E(T) (module docstring) with explicit symmetric structure matrices.

    ``cost`` ``[B, N, M]``, ``cx`` ``[N, N]`` or ``[B, N, N]``, ``cy`` ``[M, M]`` or ``[B, M, M]``; ``Cx T Cy``
    is a dense matmul, O(N^2 M): use :func:`fused_gw` for the banded video structures. A masked frame is absent
    from every term (its plan row/column is zero), so masks need not be prefixes. ``backend``: ``"auto"`` or
    ``"torch"``, its only solver.
    """
    options = _options(unbalanced, lam, n_iters, alpha=alpha, eps=eps, step_size=step_size, return_trace=return_trace)
    select_backend(backend, cost, available=("torch",), op="fgw_mirror_descent")
    batch, n, m = cost.shape
    cost = cost.detach()
    cx = cx.to(device=cost.device, dtype=cost.dtype)
    cy = cy.to(device=cost.device, dtype=cost.dtype)
    log_a = _log_marginal(a, mask_a, batch, n, cost)
    log_b = _log_marginal(b, mask_b, batch, m, cost)
    valid = _valid_entries(mask_a, mask_b)
    problem = Problem(cost, lambda plan: cx @ plan @ cy, log_a[:, :, None], log_b[:, None, :], valid)
    with torch.no_grad():
        plan, objective, step = mirror_descent_torch(problem, **options)
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


def path_prior(cost: Tensor, mask_a: Tensor, mask_b: Tensor) -> Tensor:
    """``|j - c_i| / m_b`` ``[B, n, m]``: the temporal prior centred on the monotone alignment of the cost instead
    of the diagonal (``docs/methods.md``, "VAOT on video features"). ``c_i`` is the mean column that the exact DTW
    path of ``cost`` (:func:`vidalign.ops.dtw.dtw`, over each item's real frames in their order) matches to real
    row ``i``; with ``c_i = i m_b / n_a`` it is :func:`temporal_prior`. Like VAVA's optimality prior it follows the
    data, but stays ordered. Cells of padded frames are 0."""
    prior = torch.zeros_like(cost)
    for item in range(cost.shape[0]):
        rows, cols = mask_a[item].nonzero()[:, 0], mask_b[item].nonzero()[:, 0]
        path = dtw(cost[item][rows][:, cols]).path
        centres = np.bincount(path[:, 0], weights=path[:, 1]) / np.bincount(path[:, 0])
        distance = np.abs(np.arange(len(cols))[None, :] - centres[:, None]) / len(cols)
        prior[item, rows[:, None], cols[None, :]] = torch.as_tensor(distance, dtype=cost.dtype, device=cost.device)
    return prior


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
    unbalanced: Unbalanced = "none",
    lam: float | tuple[float, float] = DEFAULT_LAM,
    n_iters: int = 25,
    mask_a: Tensor | None = None,
    mask_b: Tensor | None = None,
    structure: StructureKind = "alignment",
    a: Tensor | None = None,
    b: Tensor | None = None,
    step_size: float | None = None,
    return_trace: bool = True,
    backend: Backend = "auto",
    cx_weight: CxWeight = "length",
) -> FGWOutput:
    """Fused-GW plan between the frames of X (rows) and the frames of Y or K prototypes (columns).

    ``cost`` ``[B, N, M]`` (e.g. ``1 - x_i . y_j``). ``radius`` is the fraction r of ASOT / VAOT:
    ``R = max(1, round(r * real length))`` and ``Cx = w_x band`` with ``w_x = N / R`` (``cx_weight="length"``,
    the scale of ``Cx T Cy`` does not depend on N) or ASOT's literal ``1 / r`` (``"fraction"``; see
    :mod:`vidalign.ops.structure`). ``structure``: "alignment" (VAOT, banded Cy) or
    "clusters" (ASOT, ``Cy = 1 - I``). ``rho`` adds ``rho |i/n - j/m|``. ``unbalanced`` relaxes the rows ("a"),
    the columns ("b") or both with KL weight ``lam`` (float or ``(lam_a, lam_b)``), as in
    :func:`vidalign.ops.sinkhorn` (:mod:`vidalign.ops.unbalanced`). ``a``/``b``: positive weights
    ``[B, N]``/``[B, M]`` over the real frames summing to 1 (default uniform). Masks ``[B, N]``/``[B, M]`` (True =
    real frame): each item is solved as the problem restricted to its real frames, in their order (positions in
    the band, the prior and the dummy are counted among the real frames only), on every backend; the plan is
    zero at masked positions. ``backend``: "auto", "torch", "numba" or "triton" (:mod:`vidalign.ops.backends`).

    ``dummy=zeta`` (VAOT) appends one row and one column of constant cost ``zeta`` at the END (index N / M,
    after any padding) where unmatched frames can send their mass; marginals are uniform over ``n + 1`` and
    ``m + 1`` (given weights scaled by ``n / (n + 1)``). The dummy has no structure coupling (zero rows and
    columns in Cx, Cy): a frame sent to the dummy neither rewards nor penalises its neighbours. It is stripped
    from the END of the returned plan, so column j stays frame j of Y (VASOT stripped it from the front).
    """
    if cost.dim() != 3:
        raise InputError(f"cost must be [B, N, M], got {tuple(cost.shape)}")
    options = _options(unbalanced, lam, n_iters, alpha=alpha, eps=eps, step_size=step_size, return_trace=return_trace)
    if structure not in ("alignment", "clusters"):
        raise ConfigError(f"unknown structure {structure!r}")
    chosen = select_backend(backend, cost, available=("torch", "numba", "triton"), op="fused_gw")
    # Real frames first (a permutation per item when a mask is not a prefix); undone on the plan at the end.
    batch, n, m = cost.shape
    a = None if a is None else a.to(cost.device).expand(batch, n)
    b = None if b is None else b.to(cost.device).expand(batch, m)
    order_a, order_b = prefix_order(mask_a), prefix_order(mask_b)
    cost, mask_a, a = permute(cost.detach(), order_a, 1), permute(mask_a, order_a, 1), permute(a, order_a, 1)
    cost, mask_b, b = permute(cost, order_b, 2), permute(mask_b, order_b, 1), permute(b, order_b, 1)
    problem = _video_problem(cost, radius, rho, dummy, mask_a, mask_b, structure, a, b, cx_weight)
    if chosen == "numba":
        plan, objective, error, step = mirror_descent_numba(problem, **options)
    else:
        plan, objective, error, step = _solve_padded(problem, chosen, mask_a, mask_b, **options)
    plan = permute(permute(plan, _inverse(order_a), 1), _inverse(order_b), 2)
    return FGWOutput(plan=plan, objective=objective, marginal_error=error, step_size=step)


def _inverse(order: Tensor | None) -> Tensor | None:
    return None if order is None else order.argsort(dim=1)


def _video_problem(cost, radius, rho, dummy, mask_a, mask_b, structure, a, b, cx_weight) -> FusedGWProblem:
    """The :class:`FusedGWProblem` of a batch whose real frames come first."""
    batch, n, m = cost.shape
    lengths_a = _lengths(mask_a, batch, n, cost.device)
    lengths_b = _lengths(mask_b, batch, m, cost.device)
    radius_x, radius_y = band_radii(lengths_a, radius), band_radii(lengths_b, radius)
    log_a = _log_marginal(a, mask_a, batch, n, cost)
    log_b = _log_marginal(b, mask_b, batch, m, cost)
    if dummy is not None:
        log_a, log_b = _append_dummy(log_a, lengths_a), _append_dummy(log_b, lengths_b)
    weight_x = cx_weights(lengths_a, radius_x, radius, cx_weight)
    return FusedGWProblem(cost, log_a, log_b, lengths_a, lengths_b, radius_x, radius_y, weight_x, float(rho),
                          dummy, structure == "clusters")  # fmt: skip


def _solve_padded(video: FusedGWProblem, backend: str, mask_a, mask_b, **options):
    """The torch reference or the Triton kernels on the padded dense :class:`Problem` of ``video``: plan
    (dummy stripped), objective, marginal error, steps."""
    cost, dummy = video.cost, video.dummy
    batch, n, m = cost.shape
    if video.rho:
        cost = cost + video.rho * temporal_prior(video.lengths_a, video.lengths_b, n, m, cost)
    if dummy is not None:  # appended after any padding; zero structure rows/columns
        cost = torch.nn.functional.pad(cost, (0, 1, 0, 1), value=float(dummy))
        mask_a, mask_b = _append_real(mask_a), _append_real(mask_b)
    kind = "clusters" if video.clusters else "alignment"

    def product(plan: Tensor) -> Tensor:
        real = structure_product(plan[:, :n, :m], kind, video.weight_x, video.radius_x, video.radius_y)
        return real if dummy is None else torch.nn.functional.pad(real, (0, 1, 0, 1))

    log_a, log_b = video.log_a, video.log_b
    problem = Problem(cost, product, log_a[:, :, None], log_b[:, None, :], _valid_entries(mask_a, mask_b))
    solve = mirror_descent_torch
    if backend == "triton":
        from vidalign.ops._triton.fgw import mirror_descent as solve
    with torch.no_grad():
        plan, objective, step = solve(problem, **options)
    error = _marginal_error(plan, log_a, log_b, options["relaxed"])
    if dummy is not None:
        plan = plan[:, :n, :m].contiguous()
    return plan, objective, error, step
