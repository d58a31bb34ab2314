"""Non-prefix masks (real frames anywhere in a row): fused GW and Sinkhorn solve the problem restricted to the real
frames, in their order, on every backend, and put zeros at masked positions. The truth is each item's problem
cropped to its real frames and solved without masks (for fused GW also with dense structure matrices, POT for
Sinkhorn); the dynamic programs refuse such masks."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch

from vidalign.errors import InputError
from vidalign.ops import fgw_mirror_descent, fused_gw, sinkhorn, soft_dtw, soft_smith_waterman
from vidalign.ops.structure import dense_cx, dense_cy

MASK_A = torch.tensor([[1, 0, 1, 1, 0, 1, 1, 1, 1], [0, 1, 1, 0, 1, 1, 1, 0, 0], [1] * 9]).bool()
MASK_B = torch.tensor([[1, 1, 0, 1, 1, 1, 1], [1, 0, 1, 1, 0, 1, 1], [0, 0, 1, 1, 1, 1, 0]]).bool()
FGW = dict(alpha=0.3, eps=0.07, radius=0.2, n_iters=25)


def _costs(seed: int, batch: int = 3, n: int = 9, m: int = 7) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.normalize(torch.randn(batch, n, 6, generator=generator, dtype=torch.float64), dim=-1)
    y = torch.nn.functional.normalize(torch.randn(batch, m, 6, generator=generator, dtype=torch.float64), dim=-1)
    return 1.0 - x @ y.transpose(1, 2)


def _weights(mask: torch.Tensor, seed: int) -> torch.Tensor:
    """Positive weights summing to 1 over the real frames of each row (zero on padding)."""
    generator = torch.Generator().manual_seed(seed)
    weights = (torch.rand(mask.shape, generator=generator, dtype=torch.float64) + 0.5) * mask
    return weights / weights.sum(dim=1, keepdim=True)


def _assert_cropped(plan, item, truth, tol=1e-10):
    rows, cols = MASK_A[item], MASK_B[item]
    torch.testing.assert_close(plan[item][rows][:, cols], truth, rtol=tol, atol=1e-14)
    assert plan[item][~rows].abs().sum() == 0 and plan[item][:, ~cols].abs().sum() == 0


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(rho=0.35, dummy=0.5),
        dict(unbalanced="b", lam=0.1, structure="clusters", rho=0.2),
        dict(unbalanced="both", lam=(0.2, 0.1), dummy=0.4),
        dict(weighted=True),
    ],
)
@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_fused_gw_non_prefix_masks_solve_the_cropped_problems(backend, options):
    cost = _costs(seed=0)
    options = dict(FGW) | options
    weighted = options.pop("weighted", False)
    a, b = (_weights(MASK_A, 1), _weights(MASK_B, 2)) if weighted else (None, None)
    out = fused_gw(cost, mask_a=MASK_A, mask_b=MASK_B, a=a, b=b, backend=backend, **options)
    for item in range(3):
        rows, cols = MASK_A[item], MASK_B[item]
        crop = dict(a=a[item : item + 1, rows], b=b[item : item + 1, cols]) if weighted else {}
        alone = fused_gw(cost[item : item + 1][:, rows][:, :, cols], backend="torch", **crop, **options)
        _assert_cropped(out.plan, item, alone.plan[0])
        torch.testing.assert_close(out.objective[item], alone.objective[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_fused_gw_non_prefix_masks_against_dense_structure_matrices(backend):
    """Independent of the banded products: ``Cx``/``Cy`` built densely for the cropped lengths."""
    cost = _costs(seed=3)
    out = fused_gw(cost, mask_a=MASK_A, mask_b=MASK_B, backend=backend, **FGW)
    for item in range(3):
        rows, cols = MASK_A[item], MASK_B[item]
        n, m = int(rows.sum()), int(cols.sum())
        cx, cy = dense_cx(n, FGW["radius"]), dense_cy(m, "alignment", FGW["radius"])
        settings = {key: FGW[key] for key in ("alpha", "eps", "n_iters")}
        dense = fgw_mirror_descent(cost[item : item + 1][:, rows][:, :, cols], cx, cy, **settings)
        _assert_cropped(out.plan, item, dense.plan[0], tol=1e-9)


def test_fused_gw_non_prefix_masks_differ_from_prefix_masks():
    """The test above can fail: the same real counts as a prefix give another plan."""
    cost = _costs(seed=3)
    prefix_a = torch.arange(9)[None] < MASK_A.sum(dim=1, keepdim=True)
    prefix_b = torch.arange(7)[None] < MASK_B.sum(dim=1, keepdim=True)
    ours = fused_gw(cost, mask_a=MASK_A, mask_b=MASK_B, **FGW).plan
    other = fused_gw(cost, mask_a=prefix_a, mask_b=prefix_b, **FGW).plan
    assert (ours[0][MASK_A[0]][:, MASK_B[0]] - other[0][prefix_a[0]][:, prefix_b[0]]).abs().max() > 1e-3


@pytest.mark.parametrize(("unbalanced", "lam"), [("none", 0.05), ("b", 0.3), ("both", (0.2, 0.4))])
def test_sinkhorn_non_prefix_masks_solve_the_cropped_problems(unbalanced, lam):
    cost = _costs(seed=4)
    options = dict(eps=0.1, n_iters=300, unbalanced=unbalanced, lam=lam)
    plan = sinkhorn(cost.masked_fill(~(MASK_A[:, :, None] & MASK_B[:, None, :]), 1e6), mask_a=MASK_A, mask_b=MASK_B,
                    **options)  # fmt: skip
    for item in range(3):
        cropped = cost[item][MASK_A[item]][:, MASK_B[item]]
        _assert_cropped(plan, item, sinkhorn(cropped[None], **options)[0], tol=1e-12)
        if unbalanced == "none":
            n, m = cropped.shape
            pot = ot.sinkhorn(np.full(n, 1 / n), np.full(m, 1 / m), cropped.numpy(), 0.1, numItermax=100000,
                              stopThr=1e-14)  # fmt: skip
            _assert_cropped(plan, item, torch.from_numpy(pot), tol=1e-7)


def test_dynamic_programs_refuse_non_prefix_masks():
    cost = _costs(seed=5)
    with pytest.raises(InputError, match="prefix"):
        soft_dtw(cost, 0.1, MASK_A, MASK_B)
    with pytest.raises(InputError, match="prefix"):
        soft_smith_waterman(cost, 1.0, 0.5, 0.5, MASK_A, MASK_B)
