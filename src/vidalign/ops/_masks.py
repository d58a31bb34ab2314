"""Frame masks of padded batches and the anti-diagonal layout used by the torch references of the DP ops.

A mask ``[B, T]`` is bool with True = real frame. The DP ops need the real frames to form a prefix (padding at the
end), so that a mask is one length per sample, which is what their kernels consume; :func:`prefix_order` and
:func:`permute` bring the real frames of any mask to the front (and back), for the ops that define a non-prefix
mask as the problem restricted to the real frames in their order (:func:`vidalign.ops.fused_gw`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from vidalign.errors import InputError


def lengths_from_mask(mask: Tensor | None, batch: int, size: int, name: str) -> Tensor:
    """Real-frame count per sample (int64 ``[B]`` on the CPU) of a prefix mask ``[B, size]`` (``None``: all real).

    Raises ``ValueError`` when the mask has the wrong shape/dtype, is not a prefix, or leaves a sample empty.
    """
    if mask is None:
        return torch.full((batch,), size, dtype=torch.int64)
    if mask.dtype != torch.bool or tuple(mask.shape) != (batch, size):
        raise InputError(f"{name} must be a bool tensor of shape {(batch, size)}, got {mask.dtype} {tuple(mask.shape)}")
    mask = mask.detach().cpu()
    lengths = mask.sum(dim=1)
    prefix = torch.arange(size)[None, :] < lengths[:, None]
    if not torch.equal(mask, prefix):
        raise InputError(f"{name}: real frames must form a prefix of each row (padding at the end)")
    if bool((lengths == 0).any()):
        raise InputError(f"{name}: every sample needs at least one real frame")
    return lengths


def prefix_order(mask: Tensor | None) -> Tensor | None:
    """Per row of ``mask`` ``[B, T]``, the indices of its real frames in order, then those of its padding (int64
    ``[B, T]``); None when there is no mask or its real frames already form a prefix."""
    if mask is None:
        return None
    order = torch.sort((~mask.bool()).to(torch.uint8), dim=1, stable=True).indices
    return None if bool((order == torch.arange(mask.shape[1], device=mask.device)).all()) else order


def permute(x: Tensor | None, order: Tensor | None, dim: int) -> Tensor | None:
    """``x`` with its entries along ``dim`` (1 or 2) reordered per item, ``out[b, k] = x[b, order[b, k]]``;
    ``x`` as it is when either is None."""
    if x is None or order is None:
        return x
    shape = [order.shape[0]] + [1] * (x.dim() - 1)
    shape[dim] = order.shape[1]
    return x.gather(dim, order.view(shape).expand(*x.shape[:dim], order.shape[1], *x.shape[dim + 1 :]))


def cell_mask(lengths_a: Tensor, lengths_b: Tensor, rows: int, cols: int, device: torch.device) -> Tensor:
    """``[B, rows, cols]`` bool, True on the cells pairing two real frames."""
    real_a = torch.arange(rows, device=device)[None, :] < lengths_a.to(device)[:, None]
    real_b = torch.arange(cols, device=device)[None, :] < lengths_b.to(device)[:, None]
    return real_a[:, :, None] & real_b[:, None, :]


def antidiagonals(x: Tensor, fill: float | bool) -> Tensor:
    """Anti-diagonal layout of ``x`` ``[B, N, M]`` on the extended ``(N + 1) x (M + 1)`` grid.

    ``out[b, D, I] = x[b, I - 1, D - I - 1]`` for the cells ``(I, J = D - I)`` with ``1 <= I <= N`` and
    ``1 <= J <= M``, and ``fill`` elsewhere (row/column 0 of the grid and positions off the grid); shape
    ``[B, N + M + 1, N + 1]``. Diagonal ``D`` depends only on diagonals ``D - 1`` and ``D - 2``, so a DP over the
    grid becomes ``N + M - 1`` batched tensor steps. Differentiable (a gather).
    """
    batch, rows, cols = x.shape
    extended = x.new_full((batch, rows + 1, cols + 1), fill)
    extended[:, 1:, 1:] = x
    row = torch.arange(rows + 1, device=x.device)[None, :]
    col = torch.arange(rows + cols + 1, device=x.device)[:, None] - row
    on_grid = (col >= 0) & (col <= cols)
    flat_index = row * (cols + 1) + col.clamp(0, cols)
    gathered = extended.reshape(batch, -1)[:, flat_index]
    return torch.where(on_grid, gathered, torch.full_like(gathered, fill))


def shift_rows(diagonal: Tensor, fill: float) -> Tensor:
    """``out[..., I] = diagonal[..., I - 1]`` (``fill`` at ``I = 0``): on the previous anti-diagonal, the cell one
    row up."""
    return torch.cat([diagonal.new_full(diagonal.shape[:-1] + (1,), fill), diagonal[..., :-1]], dim=-1)
