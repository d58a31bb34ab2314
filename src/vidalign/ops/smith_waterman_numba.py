"""The compiled (numba) solvers of :func:`vidalign.ops.soft_smith_waterman` wrapped for autograd: the soft score
with its explicit backward (``_numba/soft_smith_waterman.py``) and the exact score with its traceback
(:class:`~vidalign.ops.smith_waterman_fill.SmithWatermanFill`). Imported on the first soft call, so that the exact
alignment of :mod:`vidalign.ops.smith_waterman` does not load torch."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ._numba import smith_waterman as hard_kernels
from ._numba import soft_smith_waterman as soft_kernels
from ._numba.antidiagonal import sample_starts
from ._numba.batching import run_over_batch
from .band import full_band
from .smith_waterman_fill import SmithWatermanFill
from .smith_waterman_reference import reference_gradients


def numba_scores(sim, go, ge, tau, lengths_a, lengths_b) -> Tensor:
    """The compiled solvers on the fields of a :class:`~vidalign.ops.dp_problems.SmithWatermanProblem`."""
    common = torch.broadcast_shapes(go.shape, ge.shape)  # the kernels read both with the same strides
    go, ge = go.expand(common), ge.expand(common)
    if tau == 0.0:
        return _HardSmithWatermanNumba.apply(sim, go, ge, lengths_a, lengths_b)
    return _SoftSmithWatermanNumba.apply(sim, go, ge, tau, lengths_a, lengths_b)


def _gap_layout(gap: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Flat array of a ``[Bg, Ng, Mg]`` penalty and its element steps along (b, i, j) (0 where broadcast)."""
    b, n, m = gap.shape
    steps = np.array([n * m if b > 1 else 0, m if n > 1 else 0, 1 if m > 1 else 0], np.int64)
    return gap.detach().contiguous().reshape(-1).numpy(), steps


def _numpy_lengths(lengths: Tensor) -> np.ndarray:
    return lengths.numpy().astype(np.int64)


def _numpy_values(sim: Tensor) -> np.ndarray:
    return sim.detach().contiguous().numpy()


class _SoftSmithWatermanNumba(torch.autograd.Function):
    """Soft score with the compiled forward/backward; a double backward differentiates the torch reference."""

    @staticmethod
    def forward(ctx, sim, gap_open, gap_extend, tau, lengths_a, lengths_b):
        values = _numpy_values(sim)
        la, lb = _numpy_lengths(lengths_a), _numpy_lengths(lengths_b)
        go, steps = _gap_layout(gap_open)
        ge, _ = _gap_layout(gap_extend)
        starts = sample_starts(la, lb, soft_kernels.LANES)
        tables = np.zeros((3, starts[-1]), values.dtype)  # the padding lanes read never-written slots
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
            fill = SmithWatermanFill(full_band(n, m), go, ge, b * steps[0], (steps[1], steps[2]))
            fill.add(values[b, :n])
            score, found = fill.moves()
            scores.append(score)
            moves.append(found)
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
