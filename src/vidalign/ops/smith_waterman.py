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
gradients), ``"auto"`` (the rule of :mod:`.backends`). The validated inputs are a
:class:`~vidalign.ops.dp_problems.SmithWatermanProblem` that each solver reads.
All compute in the input dtype (float32 or float64); the numba and triton paths accumulate the final log-sum-exp
and the penalties' gradients in float64.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from ._numba import smith_waterman as hard_kernels
from ._numba import soft_smith_waterman as soft_kernels
from ._numba.antidiagonal import sample_starts
from ._numba.batching import run_over_batch
from .backends import select_backend
from .band import Band, full_band
from .dp_problems import GapPenalty, as_batch, cpu_matrix, smith_waterman_problem
from .smith_waterman_reference import reference_gradients, soft_smith_waterman_reference


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
            optimal alignment, ties broken as in :func:`smith_waterman`). It has no Triton kernel.
        backend: ``"auto"``, ``"numba"``, ``"triton"`` (soft score only) or ``"torch"`` (module docstring).

    Returns:
        ``[B]`` scores in the dtype of ``sim``: the best (``hard``) or the soft maximum over all non-empty local
        alignments. Unlike textbook Smith-Waterman it is not floored at 0 (the empty alignment is not counted).
    """
    sim, mask_a, mask_b, unbatched = as_batch(sim, mask_a, mask_b, "sim")
    problem = smith_waterman_problem(sim, gap_open, gap_extend, temperature, hard, mask_a, mask_b)
    # the Triton kernels compute the soft score only
    available = ("torch", "numba") if problem.tau == 0.0 else ("torch", "numba", "triton")
    chosen = select_backend(backend, sim, available=available, op="soft_smith_waterman")
    if chosen == "triton":
        from ._triton.soft_smith_waterman import soft_smith_waterman_triton as solve
    else:
        solve = _numba_scores if chosen == "numba" else soft_smith_waterman_reference
    scores = solve(*problem)
    return scores[0] if unbatched else scores


def _numba_scores(sim, go, ge, tau, lengths_a, lengths_b) -> Tensor:
    """The compiled solvers on the fields of a :class:`~vidalign.ops.dp_problems.SmithWatermanProblem`."""
    common = torch.broadcast_shapes(go.shape, ge.shape)  # the kernels read both with the same strides
    go, ge = go.expand(common), ge.expand(common)
    if tau == 0.0:
        return _HardSmithWatermanNumba.apply(sim, go, ge, lengths_a, lengths_b)
    return _SoftSmithWatermanNumba.apply(sim, go, ge, tau, lengths_a, lengths_b)


class SmithWatermanFill:
    """Exact Smith-Waterman over the cells of ``band`` (:mod:`vidalign.ops.band`), fed the similarity matrix in
    blocks of rows from the first to the last (:meth:`add`); :meth:`result` after the last row. Gap penalties
    are flat arrays read at ``gap_offset + i * s_i + j * s_j`` (``gap_steps = (s_i, s_j)``; one value: steps 0).
    Memory: one byte per banded cell and six float64 rows."""

    def __init__(self, band: Band, gap_open: np.ndarray, gap_extend: np.ndarray, gap_offset: int = 0,
                 gap_steps: tuple[int, int] = (0, 0)):  # fmt: skip
        self.band = band
        self.gaps = (gap_open, gap_extend, gap_offset, *gap_steps)
        self.rows = np.full((3, 2, band.cols), -np.inf)
        self.best = np.array([-np.inf, -1.0, -1.0])
        self.pointers = np.empty(band.cells, np.uint8)
        self.next_row = 0

    def add(self, sim_rows: np.ndarray) -> None:
        """The next rows ``[R, M]`` of the similarity matrix (only the band is read)."""
        band = self.band
        bounds = (band.lo, band.hi, band.offsets)
        hard_kernels.fill(sim_rows, self.next_row, *bounds, *self.gaps, self.rows, self.best, self.pointers)
        self.next_row += len(sim_rows)

    def moves(self) -> tuple[float, np.ndarray]:
        """The best score and the moves ``[L, 3]`` (kind, i, j) of its alignment (``_numba.smith_waterman``)."""
        score, end_i, end_j = self.best
        band = self.band
        return float(score), hard_kernels.traceback(band.lo, band.offsets, self.pointers, int(end_i), int(end_j))

    def result(self) -> SmithWatermanResult:
        score, moves = self.moves()
        pairs = moves[moves[:, 0] == hard_kernels.MATCH, 1:]
        return SmithWatermanResult(
            score=score,
            pairs=pairs,
            interval_a=(int(pairs[0, 0]), int(pairs[-1, 0])),
            interval_b=(int(pairs[0, 1]), int(pairs[-1, 1])),
        )


def smith_waterman(
    sim: Tensor | np.ndarray, gap_open: float, gap_extend: float, backend: str = "auto"
) -> SmithWatermanResult:
    """Exact affine-gap local alignment of one pair with traceback (inference; ``vidalign align --method sw``).

    ``sim`` ``[N, M]`` (numpy or torch, any device; computed on the CPU); same recursion and gap convention as
    :func:`soft_smith_waterman` with ``hard=True``. Memory: one byte per cell for the traceback plus six float64
    rows (:class:`SmithWatermanFill` takes the matrix in blocks of rows, and a band). The best alignment has at
    least one match (its score may be negative if every similarity is). ``backend``: ``"auto"`` or ``"numba"``,
    its only solver.
    """
    values = cpu_matrix(sim, "sim")
    select_backend(backend, torch.from_numpy(values), available=("numba",), op="smith_waterman")
    go, ge = np.array([gap_open], values.dtype), np.array([gap_extend], values.dtype)
    fill = SmithWatermanFill(full_band(*values.shape), go, ge)
    fill.add(values)
    return fill.result()


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
