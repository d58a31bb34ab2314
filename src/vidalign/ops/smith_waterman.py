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
gradients), ``"auto"`` (numba on CPU, torch otherwise; triton on CUDA once opted in, see ``ops._triton``).
All compute in the input dtype (float32 or float64); the numba and triton paths accumulate the final log-sum-exp
and the penalties' gradients in float64.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from vidalign.errors import ConfigError, InputError

from ._masks import lengths_from_mask
from ._numba import smith_waterman as hard_kernels
from ._numba import soft_smith_waterman as soft_kernels
from ._numba import use_numba
from ._numba.antidiagonal import sample_starts
from ._numba.batching import run_over_batch
from ._triton import use_triton
from .smith_waterman_reference import reference_gradients, soft_smith_waterman_reference

GapPenalty = float | Tensor


class SmithWatermanResult(NamedTuple):
    """An optimal local alignment: matched ``pairs`` ``[L, 2]`` (increasing), inclusive frame intervals."""

    score: float
    pairs: np.ndarray
    interval_a: tuple[int, int]
    interval_b: tuple[int, int]


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
            optimal alignment, ties broken as in :func:`smith_waterman`).
        backend: ``"auto"``, ``"numba"``, ``"triton"`` or ``"torch"`` (see the module docstring).

    Returns:
        ``[B]`` scores in the dtype of ``sim``: the best (``hard``) or the soft maximum over all non-empty local
        alignments. Unlike textbook Smith-Waterman it is not floored at 0 (the empty alignment is not counted).
    """
    unbatched = sim.dim() == 2
    if unbatched:
        sim = sim.unsqueeze(0)
        mask_a = None if mask_a is None else mask_a.reshape(1, -1)
        mask_b = None if mask_b is None else mask_b.reshape(1, -1)
    if sim.dim() != 3 or not sim.is_floating_point():
        raise InputError(f"sim must be a floating [B, N, M] or [N, M] tensor, got {sim.dtype} {tuple(sim.shape)}")
    if temperature < 0:
        raise ConfigError(f"temperature must be >= 0, got {temperature}")
    batch, rows, cols = sim.shape
    lengths_a = lengths_from_mask(mask_a, batch, rows, "mask_a")
    lengths_b = lengths_from_mask(mask_b, batch, cols, "mask_b")
    go = _gap_tensor(gap_open, sim, "gap_open")
    ge = _gap_tensor(gap_extend, sim, "gap_extend")
    tau = 0.0 if hard else float(temperature)
    if use_triton(backend, sim) and tau > 0.0:
        from ._triton.soft_smith_waterman import soft_smith_waterman_triton

        scores = soft_smith_waterman_triton(sim, go, ge, tau, lengths_a, lengths_b)
    elif backend != "triton" and use_numba(backend, sim.device.type):
        common = torch.broadcast_shapes(go.shape, ge.shape)  # the kernels read both with the same strides
        go, ge = go.expand(common), ge.expand(common)
        if tau == 0.0:
            scores = _HardSmithWatermanNumba.apply(sim, go, ge, lengths_a, lengths_b)
        else:
            scores = _SoftSmithWatermanNumba.apply(sim, go, ge, tau, lengths_a, lengths_b)
    else:
        scores = soft_smith_waterman_reference(sim, go, ge, tau, lengths_a, lengths_b)
    return scores[0] if unbatched else scores


def smith_waterman(sim: Tensor | np.ndarray, gap_open: float, gap_extend: float) -> SmithWatermanResult:
    """Exact affine-gap local alignment of one pair with traceback (inference; ``vidalign align --method sw``).

    ``sim`` ``[N, M]`` (numpy or torch, any device); same recursion and gap convention as
    :func:`soft_smith_waterman` with ``hard=True``. Memory: one byte per cell for the traceback plus two float64
    rows. The best alignment has at least one match (its score may be negative if every similarity is).
    """
    values = sim.detach().cpu().numpy() if isinstance(sim, Tensor) else np.asarray(sim)
    if values.ndim != 2 or values.size == 0:
        raise InputError(f"sim must be a non-empty [N, M] matrix, got shape {values.shape}")
    values = np.ascontiguousarray(values if values.dtype in (np.float32, np.float64) else values.astype(np.float64))
    rows, cols = values.shape
    pointers = np.empty((rows, cols), np.uint8)
    go, ge = np.array([gap_open], values.dtype), np.array([gap_extend], values.dtype)
    score, end_i, end_j = hard_kernels.fill(values, rows, cols, go, ge, 0, 0, 0, pointers)
    moves = hard_kernels.traceback(pointers, end_i, end_j)
    pairs = moves[moves[:, 0] == hard_kernels.MATCH, 1:]
    return SmithWatermanResult(
        score=float(score),
        pairs=pairs,
        interval_a=(int(pairs[0, 0]), int(pairs[-1, 0])),
        interval_b=(int(pairs[0, 1]), int(pairs[-1, 1])),
    )


def _gap_tensor(gap: GapPenalty, sim: Tensor, name: str) -> Tensor:
    """The penalty as a ``[B|1, N|1, M|1]`` tensor in the dtype/device of ``sim`` (differentiable reshape)."""
    batch, rows, cols = sim.shape
    value = gap.to(dtype=sim.dtype, device=sim.device) if isinstance(gap, Tensor) else sim.new_tensor(float(gap))
    if value.dim() == 0:
        value = value.reshape(1, 1, 1)
    elif value.dim() == 1:
        value = value.reshape(-1, 1, 1)
    elif value.dim() == 2:
        value = value.unsqueeze(0)
    if value.dim() != 3 or any(
        size not in (1, full) for size, full in zip(value.shape, (batch, rows, cols), strict=True)
    ):
        shape = tuple(gap.shape) if isinstance(gap, Tensor) else ()
        raise InputError(f"{name} of shape {shape} does not broadcast to [B, N, M] = {(batch, rows, cols)}")
    return value


def _gap_layout(gap: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Flat array of a ``[Bg, Ng, Mg]`` penalty and its element steps along (b, i, j) (0 where broadcast)."""
    b, n, m = gap.shape
    steps = np.array([n * m if b > 1 else 0, m if n > 1 else 0, 1 if m > 1 else 0], np.int64)
    return gap.detach().contiguous().reshape(-1).numpy(), steps


def _numpy_lengths(lengths: Tensor) -> np.ndarray:
    return lengths.numpy().astype(np.int64)


def _numpy_values(sim: Tensor) -> np.ndarray:
    if sim.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"the numba backend supports float32/float64, got {sim.dtype}")
    return sim.detach().contiguous().numpy()


class _SoftSmithWatermanNumba(torch.autograd.Function):
    """Soft score with the compiled forward/backward; a double backward differentiates the torch reference."""

    @staticmethod
    def forward(ctx, sim, gap_open, gap_extend, tau, lengths_a, lengths_b):
        values = _numpy_values(sim)
        la, lb = _numpy_lengths(lengths_a), _numpy_lengths(lengths_b)
        go, steps = _gap_layout(gap_open)
        ge, _ = _gap_layout(gap_extend)
        starts = sample_starts(la, lb)
        tables = np.empty((3, starts[-1]), values.dtype)
        scores = np.empty((len(la), 3), np.float64)
        tau_typed = values.dtype.type(tau)
        run_over_batch(soft_kernels.forward, la * lb, values, la, lb, go, ge, steps, tau_typed, starts, tables, scores)
        ctx.save_for_backward(sim, gap_open, gap_extend, lengths_a, lengths_b)
        ctx.kernel_state = (tables, starts, scores, tau_typed, go, ge, steps)
        ctx.tau = tau
        return torch.from_numpy(scores[:, 0].copy()).to(sim.dtype)

    @staticmethod
    def backward(ctx, grad_scores):
        sim, gap_open, gap_extend, lengths_a, lengths_b = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: higher-order gradients through the torch reference
            return reference_gradients(ctx, grad_scores)
        tables, starts, scores, tau_typed, go, ge, steps = ctx.kernel_state
        batch, rows, cols = sim.shape
        la, lb = _numpy_lengths(lengths_a), _numpy_lengths(lengths_b)
        grad_sim = np.zeros((batch, rows * cols), tables.dtype)
        need_gaps = ctx.needs_input_grad[1] or ctx.needs_input_grad[2]
        gap_cells = gap_open.shape[1] * gap_open.shape[2]
        grad_go = np.zeros(batch * gap_cells if need_gaps else 0, np.float64)
        grad_ge = np.zeros_like(grad_go)
        upstream = grad_scores.detach().to(torch.float64).contiguous().numpy()
        args = (upstream, scores, tables, starts, cols, la, lb, go, ge, steps, tau_typed, grad_sim, grad_go, grad_ge)
        run_over_batch(soft_kernels.backward, la * lb, *args)
        grads_gap = [None, None]
        if need_gaps:
            for k, (grad, gap) in enumerate(((grad_go, gap_open), (grad_ge, gap_extend))):
                per_sample = torch.from_numpy(grad).reshape(batch, gap.shape[1], gap.shape[2])
                grads_gap[k] = per_sample.sum_to_size(gap.shape).to(gap.dtype)
        return torch.from_numpy(grad_sim).reshape(batch, rows, cols), *grads_gap, None, None, None


class _HardSmithWatermanNumba(torch.autograd.Function):
    """Exact score per sample with traceback; the subgradient puts the upstream gradient on the optimal
    alignment's matches (``sim``) and, negated, on its gap opens/extensions (the penalties)."""

    @staticmethod
    def forward(ctx, sim, gap_open, gap_extend, lengths_a, lengths_b):
        values = _numpy_values(sim)
        go, steps = _gap_layout(gap_open)
        ge, _ = _gap_layout(gap_extend)
        scores, moves = [], []
        for b, (n, m) in enumerate(zip(lengths_a.tolist(), lengths_b.tolist(), strict=True)):
            pointers = np.empty((n, m), np.uint8)
            score, end_i, end_j = hard_kernels.fill(values[b], n, m, go, ge, b * steps[0], steps[1], steps[2], pointers)
            scores.append(score)
            moves.append(hard_kernels.traceback(pointers, end_i, end_j))
        ctx.moves = moves
        ctx.shapes = (sim.shape, gap_open.shape, gap_extend.shape)
        return sim.new_tensor(scores)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_scores):
        sim_shape, go_shape, ge_shape = ctx.shapes
        grad_sim = grad_scores.new_zeros(sim_shape)
        grad_go, grad_ge = grad_scores.new_zeros(sim_shape), grad_scores.new_zeros(sim_shape)
        for b, moves in enumerate(ctx.moves):
            kind, i, j = (torch.from_numpy(column) for column in moves.T)
            for target, selected in (
                (grad_sim, kind == hard_kernels.MATCH),
                (grad_go, kind == hard_kernels.GAP_OPEN),
                (grad_ge, kind == hard_kernels.GAP_EXTEND),
            ):
                target[b, i[selected], j[selected]] = grad_scores[b]
        return grad_sim, -grad_go.sum_to_size(go_shape), -grad_ge.sum_to_size(ge_shape), None, None
