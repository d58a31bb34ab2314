"""The validated inputs of the dynamic-programming ops (``docs/methods.md``, Kernels): one problem object per op
family, built once by the public op and read by each of its solvers (torch reference, numba, Triton), which all
take the problem's fields in this order (``solver(*problem)``).

Masks follow :mod:`._masks`: real frames form a prefix of each row, so a sample is its top-left
``lengths_a[b] x lengths_b[b]`` block.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from vidalign.errors import ConfigError, InputError

from ._masks import lengths_from_mask

GapPenalty = float | Tensor


class SoftDTWProblem(NamedTuple):
    """Soft-DTW of ``cost`` ``[B, N, M]`` with smoothing ``gamma > 0``; lengths: int64 ``[B]`` on the CPU."""

    cost: Tensor
    gamma: float
    lengths_a: Tensor
    lengths_b: Tensor


class SmithWatermanProblem(NamedTuple):
    """Smith-Waterman of ``sim`` ``[B, N, M]``; penalties ``[B|1, N|1, M|1]`` in the dtype/device of ``sim``;
    ``tau = 0`` is the exact max; lengths: int64 ``[B]`` on the CPU."""

    sim: Tensor
    gap_open: Tensor
    gap_extend: Tensor
    tau: float
    lengths_a: Tensor
    lengths_b: Tensor


def as_batch(x: Tensor, mask_a: Tensor | None, mask_b: Tensor | None, name: str):
    """``(x, mask_a, mask_b, unbatched)`` with a ``[N, M]`` input (and its ``[N]``/``[M]`` masks) given a batch
    dimension of 1; ``x`` must then be a floating ``[B, N, M]`` tensor."""
    unbatched = x.dim() == 2
    if unbatched:
        x = x.unsqueeze(0)
        mask_a = None if mask_a is None else mask_a.reshape(1, -1)
        mask_b = None if mask_b is None else mask_b.reshape(1, -1)
    if x.dim() != 3 or not x.is_floating_point():
        raise InputError(f"{name} must be a floating [B, N, M] or [N, M] tensor, got {x.dtype} {tuple(x.shape)}")
    return x, mask_a, mask_b, unbatched


def soft_dtw_problem(cost: Tensor, gamma: float, mask_a: Tensor | None, mask_b: Tensor | None) -> SoftDTWProblem:
    """Check the inputs of :func:`vidalign.ops.soft_dtw` (batched ``cost``)."""
    gamma = float(gamma)
    if gamma <= 0:
        raise ConfigError(f"gamma must be > 0, got {gamma}")
    batch, rows, cols = cost.shape
    lengths_a = lengths_from_mask(mask_a, batch, rows, "mask_a")
    lengths_b = lengths_from_mask(mask_b, batch, cols, "mask_b")
    return SoftDTWProblem(cost, gamma, lengths_a, lengths_b)


def smith_waterman_problem(
    sim: Tensor,
    gap_open: GapPenalty,
    gap_extend: GapPenalty,
    temperature: float,
    hard: bool,
    mask_a: Tensor | None,
    mask_b: Tensor | None,
) -> SmithWatermanProblem:
    """Check the inputs of :func:`vidalign.ops.soft_smith_waterman` (batched ``sim``; ``tau = 0`` when hard)."""
    if temperature < 0:
        raise ConfigError(f"temperature must be >= 0, got {temperature}")
    batch, rows, cols = sim.shape
    lengths_a = lengths_from_mask(mask_a, batch, rows, "mask_a")
    lengths_b = lengths_from_mask(mask_b, batch, cols, "mask_b")
    go, ge = gap_tensor(gap_open, sim, "gap_open"), gap_tensor(gap_extend, sim, "gap_extend")
    return SmithWatermanProblem(sim, go, ge, 0.0 if hard else float(temperature), lengths_a, lengths_b)


def gap_tensor(gap: GapPenalty, sim: Tensor, name: str) -> Tensor:
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
