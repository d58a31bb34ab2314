"""LAC: Gaussian targets, gradcheck through the soft Smith-Waterman term, the sign option, padding."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vidalign.losses.lac import LACLoss, gaussian_contrastive, gaussian_kl, gaussian_targets


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


def _raw_gap_names(loss: LACLoss) -> list[str]:
    return [name for name, _ in loss.named_parameters()]


@pytest.mark.parametrize(
    "options",
    [
        dict(alignment_sign="reward"),
        dict(alignment_sign="published"),
        dict(gap_model="free"),
        dict(formulation="official", temperature=0.8, n_frames=8, alignment_sign="published"),
    ],
)
def test_gradcheck_float64_through_the_alignment_term_and_gaps(options):
    z_a, z_b, pos_a, pos_b = views()
    mask_a = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    mask_b = torch.tensor([[True] * 7, [True] * 5 + [False] * 2])
    loss = LACLoss(sw_temperature=0.5, **options).double()
    z_a.requires_grad_()
    z_b.requires_grad_()
    names = _raw_gap_names(loss)

    def f(za, zb, *raw):
        params = dict(zip(names, raw, strict=True))
        out = torch.func.functional_call(loss, params, (za, zb, mask_a, mask_b), {"idx_a": pos_a, "idx_b": pos_b})
        return out.loss

    raw = [p.detach().clone().requires_grad_() for p in loss.parameters()]
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


@pytest.mark.parametrize("gap_model", ["transitions", "free"])
def test_gaps_start_at_their_initial_values_and_stay_positive(gap_model):
    loss = LACLoss(gap_open=1.0, gap_extend=0.25, gap_model=gap_model)
    go, ge = loss.gaps
    torch.testing.assert_close(go, torch.tensor(1.0), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ge, torch.tensor(0.25), rtol=1e-5, atol=1e-5)
    for parameter in loss.parameters():
        parameter.data.fill_(-50.0)
    assert loss.gaps[0] > 0 and loss.gaps[1] > 0


def test_transition_penalties_are_the_log_probabilities_of_a_normalised_model():
    """Score units: tau log p. Match: 1 - 2 delta; open: delta then a close (1 - epsilon); extend: epsilon."""
    loss = LACLoss(sw_temperature=0.2)
    loss.raw_delta.data.fill_(torch.logit(torch.tensor(0.2)).item())  # delta = 0.5 * 0.2 = 0.1
    loss.raw_epsilon.data.fill_(torch.logit(torch.tensor(0.3)).item())
    match, gap_open, gap_extend = loss.penalties()
    torch.testing.assert_close(match, -0.2 * torch.log(torch.tensor(0.8)))
    torch.testing.assert_close(gap_open, -0.2 * torch.log(torch.tensor(0.1 * 0.7)))
    torch.testing.assert_close(gap_extend, -0.2 * torch.log(torch.tensor(0.3)))


def test_transition_gaps_have_a_finite_optimum_where_free_gaps_run_to_zero():
    """Maximising the score (the reward) over the gap parameters alone, embeddings fixed, on a pair whose best
    alignment is known: view 2 is view 1 (16 frames) with 4 unrelated frames inserted after frame 8, i.e. 16
    matches, 1 gap opening, 3 extensions. Free penalties fall without end; the transition model settles at the
    maximum-likelihood rates delta* = #open / (2 (#match + #open)) = 1/34 and epsilon* = #ext / (#open + #ext) = 3/4."""
    g = torch.Generator().manual_seed(0)
    base = F.normalize(torch.randn(1, 16, 8, generator=g), dim=-1)
    inserted = F.normalize(torch.randn(1, 4, 8, generator=g), dim=-1)
    z_a, z_b = base, torch.cat([base[:, :8], inserted, base[:, 8:]], 1)
    results = {}
    for gap_model in ("free", "transitions"):
        loss = LACLoss(gap_model=gap_model, sw_temperature=0.1)
        optimiser = torch.optim.Adam(loss.parameters(), lr=0.05)
        trace = []
        for _ in range(800):
            out = loss(z_a, z_b)
            optimiser.zero_grad()
            out.loss.backward()
            optimiser.step()
            trace.append(out.logs["gap_open"])
        results[gap_model] = (trace, loss)
    free = results["free"][0]
    assert free[-1] < 0.01 * free[0] and free[-1] < 0.8 * free[-300]  # still falling towards 0
    trace, loss = results["transitions"]
    delta, epsilon = loss.transition_probabilities()
    assert delta.item() == pytest.approx(1 / 34, rel=0.02)
    assert epsilon.item() == pytest.approx(3 / 4, rel=0.02)
    assert abs(trace[-1] - trace[-300]) < 1e-3 * trace[-1]  # converged


def test_official_formulation_matches_its_formula():
    """sum_i KL_i / (N M) + 0.01 (sw_12 + sw_21) on 1 / ||x - y||^2 with the per-position gap matrices."""
    from vidalign.ops.smith_waterman import soft_smith_waterman

    z_a, z_b, pos_a, pos_b = views()
    loss = LACLoss(formulation="official", temperature=0.8, sw_temperature=0.8, n_frames=8, alignment_sign="published")
    loss = loss.double()
    out = loss(z_a, z_b, idx_a=pos_a, idx_b=pos_b)
    kl = gaussian_kl(z_a, z_b, pos_a, pos_b, torch.ones(2, 7, dtype=torch.bool), variance=10.0, temperature=0.8)
    contrastive = (kl.sum(-1) / (6 * 7)).mean()
    inv_ab = 1.0 / torch.cdist(z_a, z_b) ** 2
    go, ge = torch.ones(6, 7, dtype=torch.float64), torch.ones(6, 7, dtype=torch.float64)
    sw_12 = soft_smith_waterman(inv_ab, go, ge, temperature=0.8)
    sw_21 = soft_smith_waterman(inv_ab.transpose(1, 2), go.T, ge.T, temperature=0.8)
    torch.testing.assert_close(out.loss, contrastive + 0.01 * (sw_12 + sw_21).mean())
    assert set(loss.param_lrs()) == set() and LACLoss(formulation="official", gap_lr=0.1).param_lrs() == {
        "gap_open_matrix": 0.1,
        "gap_extend_matrix": 0.1,
    }


@pytest.mark.parametrize("setting", [{"alpha": 0.5}, {"margin": 0.2}, {"gap_model": "free"}])
def test_official_formulation_refuses_the_settings_it_has_no_use_for(setting):
    """The published loss weighs its alignment by a constant 0.01 and has no margin or gap model: a user's
    value would be silently ignored, so it is refused."""
    with pytest.raises(ValueError, match=f"official' has no {next(iter(setting))}"):
        LACLoss(formulation="official", **setting)
    LACLoss(formulation="official", alpha=1.0)  # the defaults, as the preset's default section gives them


def test_padding_equals_cropping():
    z_a, z_b, pos_a, pos_b = views(dtype=torch.float32)
    loss = LACLoss()
    full = loss(z_a[:1, :4], z_b[:1, :5], idx_a=pos_a[:1, :4], idx_b=pos_b[:1, :5]).loss
    mask_a, mask_b = torch.arange(6)[None] < 4, torch.arange(7)[None] < 5
    padded = loss(z_a[:1], z_b[:1], mask_a, mask_b, idx_a=pos_a[:1], idx_b=pos_b[:1]).loss
    torch.testing.assert_close(padded, full)
