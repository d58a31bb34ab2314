"""Log-domain Sinkhorn against POT (float64 oracle), float32 stability, masks and gradients."""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
import torch

from vidalign.ops.sinkhorn import sinkhorn


def _costs(batch: int, n: int, m: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    """``1 - cos`` of random unit vectors: costs in [0, 2] as in the losses."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.normalize(torch.randn(batch, n, 8, generator=generator, dtype=torch.float64), dim=-1)
    y = torch.nn.functional.normalize(torch.randn(batch, m, 8, generator=generator, dtype=torch.float64), dim=-1)
    return (1.0 - x @ y.transpose(1, 2)).to(dtype)


def _weights(batch: int, length: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    weights = torch.rand(batch, length, generator=generator, dtype=torch.float64) + 0.5
    return weights / weights.sum(dim=1, keepdim=True)


def test_balanced_matches_pot():
    cost, a, b = _costs(2, 7, 9, seed=0), _weights(2, 7, 1), _weights(2, 9, 2)
    out = sinkhorn(cost, a, b, eps=0.05, n_iters=2000, log=True)
    for item in range(2):
        expected = ot.sinkhorn(
            a[item].numpy(), b[item].numpy(), cost[item].numpy(), 0.05, numItermax=100000, stopThr=1e-14
        )
        np.testing.assert_allclose(out.plan[item].numpy(), expected, rtol=1e-7, atol=1e-12)
    torch.testing.assert_close(out.plan.sum(dim=2), a, rtol=0, atol=1e-12)
    torch.testing.assert_close(out.plan.sum(dim=1), b, rtol=0, atol=1e-12)
    assert out.marginal_error_a.max() < 1e-12 and out.marginal_error_b.max() < 1e-12


@pytest.mark.filterwarnings("ignore:If reg_type = entropy")
@pytest.mark.parametrize(
    ("unbalanced", "lam_a", "lam_b"), [("both", 0.5, 0.2), ("b", math.inf, 0.1), ("a", 0.3, math.inf)]
)
def test_unbalanced_matches_pot_entropy_regularisation(unbalanced, lam_a, lam_b):
    """KL weight ``lam`` <-> POT ``reg_m = lam`` with ``reg_type="entropy"`` (inf = exact side)."""
    eps = 0.1
    cost, a, b = _costs(1, 6, 8, seed=3), _weights(1, 6, 4), _weights(1, 8, 5)
    plan = sinkhorn(cost, a, b, eps=eps, n_iters=3000, unbalanced=unbalanced, lam=(lam_a, lam_b))
    expected = ot.unbalanced.sinkhorn_unbalanced(
        a[0].numpy(), b[0].numpy(), cost[0].numpy(), eps, (lam_a, lam_b), method="sinkhorn",
        reg_type="entropy", numItermax=100000, stopThr=1e-15,
    )  # fmt: skip
    np.testing.assert_allclose(plan[0].numpy(), expected, rtol=1e-6, atol=1e-12)
    if math.isinf(lam_a):
        torch.testing.assert_close(plan.sum(dim=2), a, rtol=0, atol=1e-10)


def test_float32_is_stable_at_small_eps():
    cost = _costs(2, 40, 30, seed=6)
    reference = sinkhorn(cost, eps=0.01, n_iters=300)
    plan = sinkhorn(cost.float(), eps=0.01, n_iters=300)
    assert torch.isfinite(plan).all() and plan.sum(dim=(1, 2)).min() > 0.99
    torch.testing.assert_close(plan.sum(dim=1), torch.full((2, 30), 1 / 30), rtol=1e-4, atol=0)
    assert (plan.double() - reference).abs().max() < 1e-5 * reference.max()


def test_masks_equal_cropped_problems():
    cost = _costs(3, 10, 12, seed=7)
    lengths_a, lengths_b = [10, 6, 3], [12, 12, 5]
    mask_a = torch.arange(10)[None] < torch.tensor(lengths_a)[:, None]
    mask_b = torch.arange(12)[None] < torch.tensor(lengths_b)[:, None]
    cost = cost.masked_fill(~(mask_a[:, :, None] & mask_b[:, None, :]), 1e6)  # padding content is irrelevant
    for unbalanced in ("none", "b"):
        plan = sinkhorn(cost, eps=0.1, n_iters=200, unbalanced=unbalanced, lam=0.23, mask_a=mask_a, mask_b=mask_b)
        for item, (n, m) in enumerate(zip(lengths_a, lengths_b, strict=True)):
            alone = sinkhorn(cost[item : item + 1, :n, :m], eps=0.1, n_iters=200, unbalanced=unbalanced, lam=0.23)
            torch.testing.assert_close(plan[item, :n, :m], alone[0], rtol=1e-12, atol=1e-15)
            assert plan[item, n:].abs().sum() == 0 and plan[item, :, m:].abs().sum() == 0


def test_gradients_through_iterations_with_padding():
    cost = _costs(1, 3, 4, seed=8).requires_grad_()
    weights = _costs(1, 3, 4, seed=9)
    mask_a = torch.tensor([[True, True, False]])
    mask_b = torch.tensor([[True, True, True, False]])

    def weighted_plan(c):
        plan = sinkhorn(c, eps=0.5, n_iters=20, unbalanced="b", lam=2.0, mask_a=mask_a, mask_b=mask_b)
        return (plan * weights).sum()

    assert torch.autograd.gradcheck(weighted_plan, (cost,))


def test_zero_weights_on_padding_give_finite_gradients():
    """Marginals from masked softmax logits are 0 on padded frames; ``where(mask, log(a), 0)`` sent log(0)'s
    infinite derivative times 0 (NaN) into every logit."""
    cost = torch.rand(1, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    mask_a = torch.tensor([[True, True, False]])
    logits = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    a = torch.softmax(logits.masked_fill(~mask_a, float("-inf")), dim=1)
    (gradient,) = torch.autograd.grad((sinkhorn(cost, a, eps=0.3, n_iters=20, mask_a=mask_a) * cost).sum(), logits)
    assert torch.isfinite(gradient).all() and gradient[0, 2] == 0
    real = logits[:, :2].detach().requires_grad_()  # the same problem without the padded frame
    (expected,) = torch.autograd.grad((sinkhorn(cost[:, :2], torch.softmax(real, 1), eps=0.3, n_iters=20)
                                       * cost[:, :2]).sum(), real)  # fmt: skip
    torch.testing.assert_close(gradient[:, :2], expected)
