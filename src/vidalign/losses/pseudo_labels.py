"""Cross-entropy against an optimal-transport plan used as a soft pseudo-label (ASOT/VAOT/VASOT, docs/methods.md).

``loss = - sum_i w_i sum_j Tbar_ij log P_ij / sum_i w_i`` with ``P = softmax_j(logits)`` over the real columns,
``Tbar`` the plan's rows renormalised over the real columns, and ``w_i`` the mass row ``i`` keeps on real columns
relative to a uniform row (1 for a fully matched frame). Frames whose mass went to VAOT's dummy column therefore
contribute little instead of having their leftover crumbs of mass blown up by the renormalisation (ours; with no
dummy every ``w_i = 1`` and this is the papers' ``-mean_i sum_j T*_ij log P_ij``). ``clamp_weights=False`` keeps
``w_i`` unclamped: every row weighs by its mass, which is the official VAOT code's ``-(T* log P).sum(-1).mean()``
for a plan whose rows are not exact.
"""

from __future__ import annotations

import torch

_TINY = 1e-12


def plan_cross_entropy(
    plan: torch.Tensor, logits: torch.Tensor, mask_rows: torch.Tensor, mask_cols: torch.Tensor, *,
    clamp_weights: bool = True,
) -> torch.Tensor:  # fmt: skip
    """Soft cross-entropy of ``softmax(logits)`` rows against the renormalised rows of ``plan`` (all ``[B, N, M]``).

    ``plan`` is a constant (no gradient); masks ``[B, N]``/``[B, M]`` are True on real frames.
    """
    plan = plan.detach()
    log_p = torch.log_softmax(logits.masked_fill(~mask_cols[:, None, :], float("-inf")), dim=-1)
    log_p = log_p.masked_fill(~mask_cols[:, None, :], 0.0)
    row_mass = plan.sum(-1)  # [B, N]
    n_rows = mask_rows.sum(-1, keepdim=True).clamp_min(1)
    weight = row_mass * n_rows  # ~1 for a matched frame, ~0 for a dummy-bound one
    weight = (weight.clamp(max=1.0) if clamp_weights else weight) * mask_rows
    target = plan / row_mass.clamp_min(_TINY).unsqueeze(-1)
    per_row = -(target * log_p).sum(-1)
    return (weight * per_row).sum() / weight.sum().clamp_min(_TINY)
