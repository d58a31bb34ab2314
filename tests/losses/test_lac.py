"""LAC: Gaussian targets, gradcheck through the soft Smith-Waterman term, the sign option, padding."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vidalign.losses.lac import LACLoss, gaussian_contrastive, gaussian_targets


def views(seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    z_a = F.normalize(torch.randn(2, 6, 4, generator=g, dtype=dtype), dim=-1)
    z_b = F.normalize(torch.randn(2, 7, 4, generator=g, dtype=dtype), dim=-1)
    pos_a = torch.cumsum(1 + torch.rand(2, 6, generator=g, dtype=dtype), 1)
    pos_b = torch.cumsum(1 + torch.rand(2, 7, generator=g, dtype=dtype), 1)
    return z_a, z_b, pos_a, pos_b


def test_gaussian_targets_match_the_formula():
    pos_a, pos_b = torch.tensor([[0.0, 3.0]]), torch.tensor([[0.0, 1.0, 5.0]])
    mask_b = torch.ones(1, 3, dtype=torch.bool)
    g = gaussian_targets(pos_a, pos_b, 10.0, mask_b)
    w = [math.exp(-((0 - s) ** 2) / 20) for s in (0, 1, 5)]
    torch.testing.assert_close(g[0, 0], torch.tensor([v / sum(w) for v in w]))
    mask_b[0, 2] = False
    assert g.shape == (1, 2, 3) and gaussian_targets(pos_a, pos_b, 10.0, mask_b)[0, :, 2].eq(0).all()


def test_contrastive_is_zero_only_when_predictions_equal_targets():
    z_a, z_b, pos_a, pos_b = views()
    masks = torch.ones(2, 6, dtype=torch.bool), torch.ones(2, 7, dtype=torch.bool)
    value = gaussian_contrastive(z_a, z_b, pos_a, pos_b, *masks, variance=10.0, temperature=0.1)
    assert value > 0


@pytest.mark.parametrize("sign", ["reward", "published"])
def test_gradcheck_float64_through_the_alignment_term_and_gaps(sign):
    z_a, z_b, pos_a, pos_b = views()
    mask_a = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    mask_b = torch.tensor([[True] * 7, [True] * 5 + [False] * 2])
    loss = LACLoss(sw_temperature=0.5, alignment_sign=sign).double()
    z_a.requires_grad_()
    z_b.requires_grad_()

    def f(za, zb, raw_open, raw_extend):
        params = {"raw_gap_open": raw_open, "raw_gap_extend": raw_extend}
        out = torch.func.functional_call(loss, params, (za, zb, mask_a, mask_b), {"idx_a": pos_a, "idx_b": pos_b})
        return out.loss

    raw = (loss.raw_gap_open.detach().clone().requires_grad_(), loss.raw_gap_extend.detach().clone().requires_grad_())
    assert torch.autograd.gradcheck(f, (z_a, z_b, *raw))


def test_sign_option_flips_only_the_alignment_term():
    z_a, z_b, pos_a, pos_b = views()
    reward = LACLoss(alignment_sign="reward").double()(z_a, z_b, idx_a=pos_a, idx_b=pos_b)
    published = LACLoss(alignment_sign="published").double()(z_a, z_b, idx_a=pos_a, idx_b=pos_b)
    assert reward.logs["contrastive"] == published.logs["contrastive"]
    aligned = reward.logs["sw_score"]
    torch.testing.assert_close(
        reward.loss + published.loss, torch.tensor(2 * reward.logs["contrastive"], dtype=torch.float64)
    )
    assert reward.loss < published.loss if aligned > 0 else reward.loss >= published.loss
    with pytest.raises(ValueError, match="alignment_sign"):
        LACLoss(alignment_sign="minus")


def test_gaps_start_at_their_initial_values_and_stay_positive():
    loss = LACLoss(gap_open=1.0, gap_extend=0.25)
    go, ge = loss.gaps
    torch.testing.assert_close(go, torch.tensor(1.0))
    torch.testing.assert_close(ge, torch.tensor(0.25))
    loss.raw_gap_open.data.fill_(-50.0)
    assert loss.gaps[0] > 0


def test_padding_equals_cropping():
    z_a, z_b, pos_a, pos_b = views(dtype=torch.float32)
    loss = LACLoss()
    full = loss(z_a[:1, :4], z_b[:1, :5], idx_a=pos_a[:1, :4], idx_b=pos_b[:1, :5]).loss
    mask_a, mask_b = torch.arange(6)[None] < 4, torch.arange(7)[None] < 5
    padded = loss(z_a[:1], z_b[:1], mask_a, mask_b, idx_a=pos_a[:1], idx_b=pos_b[:1]).loss
    torch.testing.assert_close(padded, full)
