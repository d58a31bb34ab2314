"""VAOT, ASOT, VASOT: pseudo-label cross-entropy, padding, composition, published-bug regressions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import vidalign.losses.asot as asot_module
from vidalign.errors import ConfigError
from vidalign.evaluation.segmentation import evaluate_segmentation
from vidalign.losses import build_loss
from vidalign.losses.asot import ASOTLoss
from vidalign.losses.pseudo_labels import plan_cross_entropy
from vidalign.losses.vaot import VAOTLoss
from vidalign.losses.vasot import VASOTLoss


def warped_pair(n: int = 24, m: int = 30, dim: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two embeddings of one smooth trajectory at different speeds: frame i of X <-> frame ~i*m/n of Y."""
    g = torch.Generator().manual_seed(seed)
    basis = torch.randn(4, dim, generator=g)
    curve = lambda t: F.normalize(torch.stack([torch.cos(3 * t), torch.sin(3 * t), t, t**2], -1) @ basis, dim=-1)  # noqa: E731
    return curve(torch.linspace(0, 1, n))[None], curve(torch.linspace(0, 1, m) ** 1.3)[None]


def test_plan_cross_entropy_equals_the_formula_without_dummy_mass():
    g = torch.Generator().manual_seed(0)
    plan = torch.rand(2, 4, 5, generator=g)
    plan = plan / plan.sum(-1, keepdim=True) / 4  # rows carry 1/N each: every weight is 1
    logits = torch.randn(2, 4, 5, generator=g)
    mask_rows, mask_cols = torch.ones(2, 4, dtype=torch.bool), torch.ones(2, 5, dtype=torch.bool)
    expected = -(plan * 4 * torch.log_softmax(logits, -1)).sum(-1).mean()
    torch.testing.assert_close(plan_cross_entropy(plan, logits, mask_rows, mask_cols), expected)


def test_plan_cross_entropy_downweights_rows_sent_to_the_dummy():
    plan = torch.full((1, 2, 2), 0.25)
    plan[0, 1] = 1e-6  # row 1 sent its mass to the (stripped) dummy column
    logits = torch.tensor([[[2.0, 0.0], [0.0, 2.0]]])
    mask_rows, mask_cols = torch.ones(1, 2, dtype=torch.bool), torch.ones(1, 2, dtype=torch.bool)
    only_row0 = -(0.5 * torch.log_softmax(logits[0, 0], -1)).sum()
    torch.testing.assert_close(plan_cross_entropy(plan, logits, mask_rows, mask_cols), only_row0, atol=1e-4, rtol=0)


def test_vaot_pseudo_labels_follow_the_warp_and_the_loss_only_trains_the_prediction():
    x, y = warped_pair()
    loss = VAOTLoss(rho=0.0)  # no temporal prior: the plan must find the warp from the embeddings alone
    plan = loss.pseudo_labels(
        x @ y.transpose(1, 2), torch.ones(1, 24, dtype=torch.bool), torch.ones(1, 30, dtype=torch.bool)
    )
    target = ((torch.linspace(0, 1, 24) ** (1 / 1.3)) * 29).round()
    error = (plan[0].argmax(-1).float() - target).abs()
    assert error.max() <= 3 and error.mean() <= 1.25  # balanced marginals cannot follow the steep start exactly
    z_a, z_b = x.clone().requires_grad_(), y.clone().requires_grad_()
    out = VAOTLoss()(z_a, z_b)
    out.loss.backward()
    assert torch.isfinite(out.loss) and z_a.grad.abs().sum() > 0 and 0.5 < out.logs["matched_fraction"] <= 1.0


def test_vaot_dtw_prior_follows_the_warp_where_the_diagonal_prior_pulls_off_it():
    x, y = warped_pair()  # frame i of X <-> frame ~(i/23)^(1/1.3) * 29 of Y: not the diagonal
    target = (torch.linspace(0, 1, 24) ** (1 / 1.3)) * 29
    masks = torch.ones(1, 24, dtype=torch.bool), torch.ones(1, 30, dtype=torch.bool)

    def error(**options) -> float:
        plan = VAOTLoss(**options).pseudo_labels(x @ y.transpose(1, 2), *masks)[0]
        expected_column = (plan / plan.sum(-1, keepdim=True)) @ torch.arange(30.0)
        return float((expected_column - target).abs().mean())

    without = error(rho=0.0)
    assert error(rho=0.0, prior="dtw") == without  # rho 0: no prior of either kind
    assert error(rho=1.0) > without  # the diagonal prior pulls the plan off the warp
    assert error(rho=1.0, prior="dtw") < 0.5 * without  # the path prior sharpens it along the warp
    with pytest.raises(ConfigError, match="prior"):
        VAOTLoss(prior="diagnoal")


def test_vaot_padding_equals_cropping():
    x, y = warped_pair()
    loss = VAOTLoss()
    pad = lambda z, extra: torch.cat([z, torch.randn(1, extra, z.shape[-1])], 1)  # noqa: E731
    mask_a, mask_b = torch.arange(27)[None] < 24, torch.arange(33)[None] < 30
    torch.testing.assert_close(loss(pad(x, 3), pad(y, 3), mask_a, mask_b).loss, loss(x, y).loss, atol=1e-5, rtol=1e-5)


def test_vaot_loss_decreases_when_optimising_embeddings():
    torch.manual_seed(0)
    z_a = F.normalize(torch.randn(2, 16, 8), dim=-1).requires_grad_()
    z_b = F.normalize(torch.randn(2, 20, 8), dim=-1).requires_grad_()
    loss, opt = VAOTLoss(), torch.optim.Adam([z_a, z_b], lr=0.05)
    values = []
    for _ in range(15):
        out = loss(F.normalize(z_a, dim=-1), F.normalize(z_b, dim=-1))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        values.append(float(out.loss.detach()))
    assert values[-1] < values[0]


def clustered_video(lengths=(10, 14, 8), dim=6, seed=0):
    """Embeddings of consecutive segments, each near one of three prototype directions."""
    g = torch.Generator().manual_seed(seed)
    protos = F.normalize(torch.randn(len(lengths), dim, generator=g), dim=-1)
    frames = torch.cat([protos[k] + 0.1 * torch.randn(n, dim, generator=g) for k, n in enumerate(lengths)])
    labels = torch.cat([torch.full((n,), k) for k, n in enumerate(lengths)])
    return F.normalize(frames, dim=-1), protos, labels


def test_asot_segments_a_clustered_video_and_kmeans_initialises_prototypes():
    z, protos, labels = clustered_video()
    loss = ASOTLoss(n_clusters=3, dim=6)
    loss.init_prototypes(z.numpy())
    pred = loss.segment(z).numpy()
    assert evaluate_segmentation([pred], [labels.numpy()])["mof"]["per"] == 1.0


def test_asot_segment_uses_the_evaluation_parameters(monkeypatch):
    """Regression: the published VASOT code decoded evaluation videos with the *training* OT parameters."""
    calls = []
    real = asot_module.fused_gw
    monkeypatch.setattr(asot_module, "fused_gw", lambda *a, **kw: calls.append(kw) or real(*a, **kw))
    z, _, _ = clustered_video()
    loss = ASOTLoss(n_clusters=3, dim=6)
    loss(z[None], z[None])
    train_call = calls[-1]
    loss.segment(z)
    eval_call = calls[-1]
    assert (train_call["alpha"], train_call["eps"], train_call["lam"]) == (0.3, 0.07, 0.12)
    assert (eval_call["alpha"], eval_call["eps"], eval_call["lam"]) == (0.6, 0.04, 0.01)
    assert eval_call["unbalanced"] == train_call["unbalanced"] == "b"


def test_vasot_is_the_sum_of_its_parts():
    x, y = warped_pair()
    vasot = VASOTLoss(n_clusters=3, dim=8, beta=0.7)
    out = vasot(x, y)
    asot = ASOTLoss(3, 8)
    asot.prototypes.data.copy_(vasot.asot.prototypes.data)
    mask_x, mask_y = torch.ones(1, 24, dtype=torch.bool), torch.ones(1, 30, dtype=torch.bool)
    shared = VAOTLoss(alpha=asot.alpha, eps=asot.eps, radius=asot.radius, rho=asot.rho)  # the published sharing
    expected = asot.video_loss(x, mask_x) + asot.video_loss(y, mask_y) + 0.7 * shared(x, y).loss
    torch.testing.assert_close(out.loss, expected)
    assert vasot.segment(x[0]).shape == (24,)


def test_vasot_regulariser_window_counts_what_idm_unit_says():
    """VASOT passes the sampled frames' source indices on (it once dropped them): with ``idm_unit="source_frames"``
    the Contrastive-IDM window counts frames of the recording, with ``"loss_frames"`` (VASOT's preset) the ranks of
    the loss frames, whatever the indices."""
    x, y = warped_pair()
    idx_x, idx_y = torch.arange(24)[None] * 5, torch.arange(30)[None] * 4  # every 5th / 4th source frame
    ones_x, ones_y = torch.ones(1, 24, dtype=torch.bool), torch.ones(1, 30, dtype=torch.bool)
    losses = {}
    for unit in ("source_frames", "loss_frames"):
        vasot = VASOTLoss(n_clusters=3, dim=8, vaot={"idm": 0.5, "idm_unit": unit})
        seg = vasot.asot.video_loss(x, ones_x) + vasot.asot.video_loss(y, ones_y)
        shared = {key: getattr(vasot.asot, key) for key in ("alpha", "eps", "radius", "rho")}
        align = VAOTLoss(**shared, idm=0.5)
        positions = (idx_x, idx_y) if unit == "source_frames" else (None, None)
        losses[unit] = vasot(x, y, idx_a=idx_x, idx_b=idx_y).loss
        expected = seg + align(x, y, idx_a=positions[0], idx_b=positions[1]).loss
        torch.testing.assert_close(losses[unit], expected)
    assert not torch.allclose(losses["source_frames"], losses["loss_frames"])
    with pytest.raises(ValueError, match="idm_unit"):
        VAOTLoss(idm_unit="seconds")


def test_vasot_alignment_half_shares_the_segmentation_ot_values_unless_asked_otherwise():
    """The published VASOT passes one rho / radius / alpha / eps to both solvers; align_ot='vaot' keeps VAOT's."""
    shared = VASOTLoss(n_clusters=3, dim=8, asot={"rho": 0.2, "radius": 0.05, "alpha": 0.4})
    assert (shared.vaot.rho, shared.vaot.radius, shared.vaot.alpha, shared.vaot.eps) == (0.2, 0.05, 0.4, 0.07)
    own = VASOTLoss(n_clusters=3, dim=8, asot={"rho": 0.2}, align_ot="vaot", vaot={"rho": 0.35})
    assert (own.vaot.rho, own.vaot.radius) == (0.35, 0.02)
    with pytest.raises(ValueError, match="asot values"):
        VASOTLoss(n_clusters=3, dim=8, vaot={"rho": 0.35})


def test_registry_builds_every_ot_method():
    assert isinstance(build_loss("vaot"), VAOTLoss)
    assert build_loss("asot", n_clusters=4).segmentation and build_loss("vasot", n_clusters=4).segmentation


def test_asot_decoding_of_real_affinities_is_temporally_consistent(shared_data):
    """On a real Desktop Assembly frame-to-action affinity matrix from a trained ASOT model (745 x 22), decoding
    with the evaluation OT parameters yields far better segments (F1@50) than the per-frame argmax."""
    root = shared_data / "asot_examples"
    names = [line.split(maxsplit=1)[1].strip() for line in (root / "mapping_da.txt").read_text().splitlines()]
    gt = np.array([names.index(line.strip()) for line in (root / "2020-04-19_14-03-25").read_text().splitlines()])
    affinity = torch.from_numpy(np.load(root / "2020-04-19_14-03-25.npy"))
    loss = ASOTLoss(n_clusters=22, dim=1, rho=0.0)
    plan = loss.decode(1.0 - affinity[None], torch.ones(1, len(gt), dtype=torch.bool), evaluation=True)
    ours = evaluate_segmentation([plan[0].argmax(-1).numpy()], [gt])
    argmax = evaluate_segmentation([affinity.argmax(-1).numpy()], [gt])
    assert ours["f1@50"]["per"] > argmax["f1@50"]["per"] + 0.1
    assert ours["mof"]["per"] > 0.6


def test_published_vaot_solver_is_one_sinkhorn_sweep_of_the_linear_cost():
    """solver='published' (the official balanced branch): K = exp(-(1 - alpha) C^ / eps) with the dummy row and
    column, a = p / (K 1), b = q / (K^T a) from b = 1, T = diag(a) K diag(b) - computed here by hand in float64."""
    x, y = warped_pair()
    x, y = x.double(), y.double()
    loss = VAOTLoss(solver="published")
    plan = loss.pseudo_labels(
        x @ y.transpose(1, 2), torch.ones(1, 24, dtype=torch.bool), torch.ones(1, 30, dtype=torch.bool)
    )
    n, m = 24, 30
    prior = (
        torch.arange(n, dtype=torch.float64)[:, None] / n - torch.arange(m, dtype=torch.float64)[None, :] / m
    ).abs()
    cost = torch.full((n + 1, m + 1), 0.5, dtype=torch.float64)
    cost[:n, :m] = 1.0 - x[0] @ y[0].T + 0.35 * prior
    kernel = torch.exp(-(1.0 - 0.3) * cost / 0.07)
    a = (1.0 / (n + 1)) / kernel.sum(1)
    b = (1.0 / (m + 1)) / (kernel.T @ a)
    expected = (a[:, None] * kernel * b[None, :])[:n, :m]
    torch.testing.assert_close(plan[0], expected, rtol=1e-10, atol=1e-14)
    rows = plan[0].sum(1) * (n + 1)
    assert rows.max() > 1.05 or rows.min() < 0.95  # rows are not projected: only the columns are exact
    mirror = VAOTLoss().pseudo_labels(x @ y.transpose(1, 2), *(torch.ones(1, k, dtype=torch.bool) for k in (n, m)))
    assert (mirror[0] - plan[0]).abs().sum() > 0.1 * plan[0].sum()  # the two solvers give different labels


def test_published_vaot_loss_weighs_rows_by_their_mass_and_pads_like_it_crops():
    x, y = warped_pair()
    loss = VAOTLoss(solver="published")
    pad = lambda z, extra: torch.cat([z, torch.randn(1, extra, z.shape[-1])], 1)  # noqa: E731
    mask_a, mask_b = torch.arange(27)[None] < 24, torch.arange(33)[None] < 30
    torch.testing.assert_close(loss(pad(x, 3), pad(y, 3), mask_a, mask_b).loss, loss(x, y).loss, atol=1e-5, rtol=1e-5)
    sim = x @ y.transpose(1, 2)
    plan = loss.pseudo_labels(sim, torch.ones(1, 24, dtype=torch.bool), torch.ones(1, 30, dtype=torch.bool))
    log_p = torch.log_softmax(sim / 0.1, dim=-1)
    mass = plan.sum(-1)
    expected = -(plan * log_p).sum() / mass.sum()  # sum_i m_i CE_i / sum_i m_i, the official mean up to a constant
    torch.testing.assert_close(loss(x, y).loss, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="balanced"):
        VAOTLoss(solver="published", unbalanced="b")


def test_published_solver_warns_where_the_official_code_would_have_a_structure_term():
    """Its radius int(r (N + 1)) is 0 below 49 loss frames at r = 0.02; from there on the plan is no longer the
    official one, and the user is told."""
    loss = VAOTLoss(solver="published")
    short, long = (F.normalize(torch.randn(1, n, 4), dim=-1) for n in (48, 49))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss(short, short)
    with pytest.warns(UserWarning, match="structure term"):
        loss(long, long)
