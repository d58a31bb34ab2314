"""Baseline losses TCC, LAV, VAVA, SCL: float64 gradchecks, padding invariance, oracles (tslearn soft-DTW, POT
Sinkhorn, brute-force loops over the papers' formulas), hand-checkable cases and Adam sign checks."""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
import torch
import torch.nn.functional as F
from tslearn.metrics import SoftDTW

from vidalign.losses import build_loss
from vidalign.losses.lav import LAVLoss, squared_distances
from vidalign.losses.scl import SCLLoss
from vidalign.losses.tcc import TCCLoss, cycle_back
from vidalign.losses.vava import VAVALoss, annealed_phi, temporal_priors

# Small settings so tiny inputs exercise every branch (both sides of each window, a sharp softmax).
LOSSES = {
    "tcc": lambda: TCCLoss(temperature=1.0, scale_by_dim=False),
    "lav": lambda: LAVLoss(sigma=3.0),
    "vava": lambda: VAVALoss(intra_window=1, inter_weight=0.5),
    "scl": lambda: SCLLoss(variance=2.0),
}


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _embeddings(batch: int, length: int, dim: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(batch, length, dim, generator=_generator(seed), dtype=torch.float64), dim=-1)


def _prefix_mask(lengths: list[int], size: int) -> torch.Tensor:
    return torch.arange(size)[None, :] < torch.tensor(lengths)[:, None]


def _positions(batch: int, length: int, seed: int) -> torch.Tensor:
    """Increasing source positions 2-4 frames apart (fractional, like speed-augmented views)."""
    steps = 2.0 + 2.0 * torch.rand(batch, length, generator=_generator(seed), dtype=torch.float64)
    return torch.cumsum(steps, dim=1)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_registry_and_pairing(name):
    loss = build_loss(name)
    assert loss.pairing == ("two_views" if name == "scl" else "cross_video")


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradcheck_float64(name):
    loss = LOSSES[name]()
    z_a = _embeddings(2, 5, 3, seed=1).requires_grad_()
    z_b = _embeddings(2, 6, 3, seed=2).requires_grad_()
    mask_a, mask_b = _prefix_mask([5, 4], 5), _prefix_mask([6, 3], 6)
    idx_a, idx_b = _positions(2, 5, 3), _positions(2, 6, 4)

    def value(a, b):
        return loss(a, b, mask_a, mask_b, idx_a=idx_a, idx_b=idx_b).loss

    assert torch.autograd.gradcheck(value, (z_a, z_b), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_padding_changes_nothing(name):
    loss = LOSSES[name]()
    lengths_a, lengths_b = [6, 4], [5, 7]
    z_a, z_b = _embeddings(2, 6, 4, seed=5), _embeddings(2, 7, 4, seed=6)
    idx_a, idx_b = _positions(2, 6, 7), _positions(2, 7, 8)
    mask_a, mask_b = _prefix_mask(lengths_a, 6), _prefix_mask(lengths_b, 7)

    def run(garbage_seed: int):
        a = torch.where(mask_a[..., None], z_a, 5 * _embeddings(2, 6, 4, garbage_seed)).requires_grad_()
        b = torch.where(mask_b[..., None], z_b, 5 * _embeddings(2, 7, 4, garbage_seed + 1)).requires_grad_()
        ia = torch.where(mask_a, idx_a, torch.full_like(idx_a, 1e3))
        out = loss(a, b, mask_a, mask_b, idx_a=ia, idx_b=idx_b)
        return out.loss, torch.autograd.grad(out.loss, (a, b))

    (loss_1, grads_1), (loss_2, grads_2) = run(10), run(20)
    torch.testing.assert_close(loss_1, loss_2, rtol=1e-12, atol=1e-12)
    for g1, g2, mask in zip(grads_1, grads_2, (mask_a, mask_b), strict=True):
        torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-12)
        assert g1[~mask].abs().max() == 0
    # each item alone: padded to the batch width == cropped to its own length
    for item in range(2):
        na, nb = lengths_a[item], lengths_b[item]
        one = slice(item, item + 1)
        padded = loss(z_a[one], z_b[one], mask_a[one], mask_b[one], idx_a=idx_a[one], idx_b=idx_b[one]).loss
        cropped = loss(z_a[one, :na], z_b[one, :nb], idx_a=idx_a[one, :na], idx_b=idx_b[one, :nb]).loss
        torch.testing.assert_close(padded, cropped, rtol=1e-12, atol=1e-12)


def _trajectory(times: torch.Tensor) -> torch.Tensor:
    """A smooth non-self-intersecting curve on the unit sphere of R^4, sampled at ``times`` in [0, 1]."""
    angle = 2.5 * times
    z = torch.stack([torch.cos(angle), torch.sin(angle), torch.cos(3 * angle), torch.sin(2 * angle)], dim=-1)
    return F.normalize(z, dim=-1)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_adam_on_embeddings_decreases_the_loss(name):
    """Optimising the embeddings themselves must lower the loss (signs and gradients point the right way)."""
    loss = build_loss(name)
    torch.manual_seed(0)
    warped = torch.linspace(0, 1, 20) ** 1.5
    start_a = _trajectory(torch.linspace(0, 1, 16))[None] + 0.3 * torch.randn(1, 16, 4)
    start_b = _trajectory(warped)[None] + 0.3 * torch.randn(1, 20, 4)
    z_a, z_b = start_a.clone().requires_grad_(), start_b.clone().requires_grad_()
    idx_a, idx_b = 3.0 * torch.arange(16.0)[None], 2.4 * torch.arange(20.0)[None]
    optimiser = torch.optim.Adam([z_a, z_b], lr=0.02)
    normalise = name in ("lav", "scl")  # their presets L2-normalise the embeddings; TCC and VAVA's do not

    def value():
        a, b = (F.normalize(z_a, dim=-1), F.normalize(z_b, dim=-1)) if normalise else (z_a, z_b)
        return loss(a, b, idx_a=idx_a, idx_b=idx_b).loss

    before = float(value().detach())
    for _ in range(20):
        optimiser.zero_grad()
        value().backward()
        optimiser.step()
    assert float(value().detach()) < before - 1e-3 * abs(before)


# ----------------------------------------------------------------------------------------------------------- TCC


def test_tcc_cycle_back_of_identical_sequences_returns_to_the_start():
    z = 3.0 * torch.eye(5, dtype=torch.float64)[None]  # well separated frames: a sharp cycle
    pos = torch.tensor([[0.0, 2.0, 5.0, 9.0, 14.0]], dtype=torch.float64)
    mask = torch.ones(1, 5, dtype=torch.bool)
    mu, variance = cycle_back(z, z, pos, mask, mask, scale=1.0 / 0.1)
    torch.testing.assert_close(mu, pos, rtol=0, atol=1e-9)
    assert variance.max() < 1e-9


def test_tcc_brute_force_and_aligned_pair_beats_unrelated_pair():
    loss = TCCLoss(scale_by_dim=False)
    times_a, times_b = torch.linspace(0, 1, 12, dtype=torch.float64), torch.linspace(0, 1, 9, dtype=torch.float64)
    z_a, z_b = _trajectory(times_a)[None], _trajectory(times_b**1.3)[None]
    pos_a, pos_b = _positions(1, 12, 0), _positions(1, 9, 1)

    expected = []  # the paper's formulas frame by frame, both directions
    for u, v, s in ((z_a[0], z_b[0], pos_a[0]), (z_b[0], z_a[0], pos_b[0])):
        for i in range(len(u)):
            alpha = torch.softmax(-((u[i] - v) ** 2).sum(-1) / 0.1, dim=0)
            beta = torch.softmax(-((alpha @ v - u) ** 2).sum(-1) / 0.1, dim=0)
            mu = (beta * s).sum()
            var = (beta * (s - mu) ** 2).sum()
            expected.append((s[i] - mu) ** 2 / var + 0.001 * torch.log(var))
    aligned = loss(z_a, z_b, idx_a=pos_a, idx_b=pos_b)
    torch.testing.assert_close(aligned.loss, torch.stack(expected).mean(), rtol=1e-10, atol=1e-12)

    unrelated = loss(z_a, _embeddings(1, 9, 4, seed=3), idx_a=pos_a, idx_b=pos_b)
    assert aligned.loss < unrelated.loss
    assert aligned.logs["cycle_error"] < unrelated.logs["cycle_error"]


# ----------------------------------------------------------------------------------------------------------- LAV


def _idm_oracle(x: np.ndarray, s: np.ndarray, sigma: float, margin: float) -> float:
    """Contrastive-IDM by its definition, pair by pair (LAV, official ``Contrastive_IDM``)."""
    length = s.max() + 1
    total = 0.0
    for i in range(len(x)):
        for k in range(len(x)):
            d = float(((x[i] - x[k]) ** 2).sum())
            if abs(s[i] - s[k]) > sigma:
                total += (((s[i] - s[k]) / length) ** 2 + 1.0) * max(0.0, margin - d)
            else:
                total += d
    return total


def test_lav_matches_tslearn_soft_dtw_and_brute_force_idm():
    loss = LAVLoss(gamma=0.1, alpha=0.5, sigma=5.0, margin=2.0)
    z_a, z_b = _embeddings(1, 7, 5, seed=11), _embeddings(1, 9, 5, seed=12)
    pos_a, pos_b = _positions(1, 7, 13), _positions(1, 9, 14)
    out = loss(z_a, z_b, idx_a=pos_a, idx_b=pos_b)

    x, y = z_a[0].numpy(), z_b[0].numpy()
    cost = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    sdtw = SoftDTW(cost, gamma=0.1).compute()
    assert out.logs["soft_dtw"] == pytest.approx(sdtw, rel=1e-10)
    idm = _idm_oracle(x, pos_a[0].numpy(), 5.0, 2.0) + _idm_oracle(y, pos_b[0].numpy(), 5.0, 2.0)
    assert out.logs["idm"] == pytest.approx(idm, rel=1e-10)
    assert float(out.loss) == pytest.approx((sdtw + 0.5 * idm) / 8.0, rel=1e-10)


def test_squared_distances_matches_scipy():
    from scipy.spatial.distance import cdist

    x, y = _embeddings(1, 4, 6, seed=0), 3 * _embeddings(1, 5, 6, seed=1)
    expected = cdist(x[0].numpy(), y[0].numpy(), "sqeuclidean")
    np.testing.assert_allclose(squared_distances(x, y)[0].numpy(), expected, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------------------- VAVA


def _vava_plan_oracle(dist: np.ndarray, phi: float, delta=2.0, zeta=0.5, virtual_distance=5.0) -> np.ndarray:
    """The official ``vava_loss`` kernel built cell by cell (1-based, virtual frame first; optimality prior centred
    on the nearest neighbour's own column), solved to convergence with POT."""
    n, m = dist.shape
    lambda1, lambda2 = 1.0 * (n + m), 0.1 * n * m / 4.0
    nearest = dist.argmin(axis=1)
    N, M = n + 1, m + 1
    mid = math.sqrt(1.0 / N**2 + 1.0 / M**2)
    threshold = 2.0 * virtual_distance / (N + M)
    gauss = lambda d: math.exp(-((d / mid) ** 2) / (2 * delta**2))  # noqa: E731
    kernel = np.zeros((N, M))
    for i in range(1, N + 1):
        for j in range(1, M + 1):
            d_c = abs(i / N - j / M)
            d_o = abs(j / M - ((nearest[i - 2] + 2) / M if i > 1 else 1.0 / M))
            prior = phi * gauss(d_c) + (1 - phi) * gauss(d_o)
            reward = lambda1 * (phi / (d_c**2 + 1) + (1 - phi) / (d_o**2 + 1))
            if (i == 1) != (j == 1):
                prior, reward = gauss(1.5 * threshold), lambda1 / ((1.5 * threshold) ** 2 + 1)
            cost = zeta if i == 1 or j == 1 else dist[i - 2, j - 2]
            kernel[i - 1, j - 1] = prior * math.exp((reward - cost) / lambda2)
    a, b = np.full(N, 1.0 / N), np.full(M, 1.0 / M)
    return ot.sinkhorn(a, b, -np.log(kernel), reg=1.0, numItermax=100000, stopThr=1e-14)


@pytest.mark.parametrize("progress", [0.0, 1.0])
def test_vava_plan_matches_pot_on_the_official_kernel(progress):
    loss = VAVALoss(n_iters=3000, anneal_steps=10**8)  # progress 1 -> phi at its floor: the NN prior dominates
    loss.set_progress(progress)
    z_a, z_b = 2 * _embeddings(2, 5, 3, seed=21), 2 * _embeddings(2, 6, 3, seed=22)
    mask_a, mask_b = _prefix_mask([5, 4], 5), _prefix_mask([6, 5], 6)
    plan = loss.plan(squared_distances(z_a, z_b), mask_a, mask_b)
    for item, (n, m) in enumerate(((5, 6), (4, 5))):
        dist = squared_distances(z_a[item : item + 1, :n], z_b[item : item + 1, :m])[0].numpy()
        expected = _vava_plan_oracle(dist, loss.phi)
        np.testing.assert_allclose(plan[item, : n + 1, : m + 1].numpy(), expected, rtol=1e-6, atol=1e-12)
        assert plan[item, n + 1 :].abs().sum() == 0 and plan[item, :, m + 1 :].abs().sum() == 0


def test_vava_optimality_prior_peaks_on_the_nearest_neighbour_column():
    """Regression: the official code centres the optimality prior one column before the nearest neighbour."""
    nearest = torch.tensor([[3, 0, 4, 1]])
    lengths_a, lengths_b = torch.tensor([4]), torch.tensor([5])
    reward = torch.tensor([9.0], dtype=torch.float64)
    options = {"delta": 2.0, "reward": reward, "virtual_distance": 5.0}
    log_prior, _ = temporal_priors(nearest, lengths_a, lengths_b, 5, phi=0.001, **options)
    assert log_prior[0, 1:, 1:].argmax(dim=1).tolist() == nearest[0].tolist()
    log_prior, _ = temporal_priors(nearest, lengths_a, lengths_b, 5, phi=0.999, **options)
    grid_a, grid_b = torch.arange(2, 6) / 5.0, torch.arange(2, 7) / 6.0  # p and q of the real frames (index 1..)
    diagonal = (grid_a[:, None] - grid_b[None, :]).abs().argmin(dim=1)
    assert log_prior[0, 1:, 1:].argmax(dim=1).tolist() == diagonal.tolist()


def test_vava_virtual_frame_takes_an_outlier_and_phi_anneals():
    times = torch.linspace(0, 1, 8, dtype=torch.float64)
    z_b = 3 * _trajectory(times)[None]
    z_a = z_b.clone()
    z_a[0, 3] = 20.0  # a frame with no counterpart in the other video
    loss = VAVALoss()
    mask = torch.ones(1, 8, dtype=torch.bool)
    plan = loss.plan(squared_distances(z_a, z_b), mask, mask)[0] * 9  # rows scaled to mass 1
    assert plan[4, 0] > 0.8  # the outlier (row 4 = frame 3) goes to the virtual column
    assert torch.cat([plan[1:4, 0], plan[5:, 0]]).max() < 0.05
    ones = torch.ones(9, dtype=torch.float64)
    torch.testing.assert_close(plan.sum(dim=0), ones, rtol=0, atol=1e-10)  # Sinkhorn ends on the column update
    torch.testing.assert_close(plan.sum(dim=1), ones, rtol=0, atol=0.1)  # 20 iterations: rows near 1

    assert loss.phi == 0.999 and annealed_phi(0.0) == 0.999
    loss.set_progress(1.0)
    assert loss.phi == pytest.approx(0.999 ** math.floor(math.sqrt(150_001)))
    phis = [annealed_phi(s) for s in (0, 10, 1e3, 1e5, 1e9)]
    assert phis == sorted(phis, reverse=True) and phis[-1] == 0.001


def test_vava_intra_term_matches_its_definition():
    loss = VAVALoss(intra_window=2, intra_margin=0.3)
    z = 0.5 * _embeddings(1, 6, 4, seed=31) * torch.arange(1.0, 7.0, dtype=torch.float64)[None, :, None]
    x = z[0].numpy()
    terms = []
    for i in range(6):
        for k in range(6):
            d = float(((x[i] - x[k]) ** 2).mean())
            terms.append(max(0.0, 0.3 - d) if abs(i - k) > 2 else d / ((i - k) ** 2 + 1))
    assert float(loss.intra(z, torch.ones(1, 6, dtype=torch.bool))[0]) == pytest.approx(np.mean(terms), rel=1e-12)


# ----------------------------------------------------------------------------------------------------------- SCL


def _scl_oracle(e1: np.ndarray, e2: np.ndarray, s1: np.ndarray, s2: np.ndarray, variance: float, tau: float):
    """CARL's loss for one video, frame by frame: Gaussian targets vs softmax of cosine / tau, both directions."""
    total, targets = 0.0, []
    for u, v, su, sv in ((e1, e2, s1, s2), (e2, e1, s2, s1)):
        for i in range(len(u)):
            g = np.exp(-((su[i] - sv) ** 2) / (2 * variance))
            g /= g.sum()
            logits = v @ u[i] / tau
            log_p = logits - logits.max() - np.log(np.exp(logits - logits.max()).sum())
            total += float((g * (np.log(g + 1e-300) - log_p)).sum())
            targets.append(g)
    return total / (len(e1) + len(e2)), targets


def test_scl_matches_carl_formula_and_rewards_aligned_views():
    z_a, z_b = _embeddings(1, 6, 5, seed=41), _embeddings(1, 8, 5, seed=42)
    pos_a, pos_b = _positions(1, 6, 43), _positions(1, 8, 44)
    out = SCLLoss(variance=10.0, temperature=0.1)(z_a, z_b, idx_a=pos_a, idx_b=pos_b)
    expected, _ = _scl_oracle(z_a[0].numpy(), z_b[0].numpy(), pos_a[0].numpy(), pos_b[0].numpy(), 10.0, 0.1)
    assert float(out.loss) == pytest.approx(expected, rel=1e-10)

    # identical views at identical positions: the targets peak on the diagonal, and (with targets sharper than
    # the frame spacing) the closer the embeddings of the two views, the lower the loss
    pos = _positions(1, 7, 45)
    view = _embeddings(1, 7, 5, seed=46)
    _, targets = _scl_oracle(view[0].numpy(), view[0].numpy(), pos[0].numpy(), pos[0].numpy(), 10.0, 0.1)
    assert [int(np.argmax(t)) for t in targets[:7]] == list(range(7))
    other = _embeddings(1, 7, 5, seed=47)
    losses = []
    for t in (0.0, 0.5, 1.0):
        mixed = F.normalize((1 - t) * other + t * view, dim=-1)
        losses.append(float(SCLLoss(variance=1.0)(view, mixed, idx_a=pos, idx_b=pos).loss))
    assert losses[0] > losses[1] > losses[2]
