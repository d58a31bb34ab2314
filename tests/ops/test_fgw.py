"""Fused-GW mirror descent: POT oracle, numba == torch, masks, dummy, unbalanced, published-bug regressions.

Mapping to POT (``ot.gromov.entropic_fused_gromov_wasserstein``, square loss, float64). POT minimises
``(1 - a) <M, T> + a sum_ijkl (C1_ik - C2_jl)^2 T_ij T_kl - eps H_P(T)`` over the polytope. Expanding the square
with ``T 1 = p``, ``T^T 1 = q`` fixed, ``sum (C1_ik^2 + C2_jl^2) T_ij T_kl = p^T C1^2 p + q^T C2^2 q`` is a
constant and ``sum C1_ik C2_jl T_ij T_kl = <C1 T C2, T>`` (symmetric C1, C2), so the objective is
``const + (1 - a) <M, T> - 2 a <C1 T C2, T> - eps H_P(T)``. With ``M = C``, ``C1 = Cx``, ``C2 = -Cy / 4`` this is
``const + E(T)`` where ``E = alpha/2 <Cx T Cy, T> + (1 - alpha) <C, T> - eps H(T)`` is ours (``H`` and POT's
entropy differ by ``sum T = 1``). Same stationary points; objectives compared with E evaluated densely.
"""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch

from vidalign.ops.fgw import fgw_mirror_descent, fused_gw, path_prior, temporal_prior
from vidalign.ops.structure import band_radius, dense_cx, dense_cy

VAOT = dict(alpha=0.3, eps=0.07, radius=0.02, rho=0.35)


def _unit(generator, *shape):
    return torch.nn.functional.normalize(torch.randn(*shape, generator=generator, dtype=torch.float64), dim=-1)


def _costs(batch, n, m, seed, dim=8):
    generator = torch.Generator().manual_seed(seed)
    return 1.0 - _unit(generator, batch, n, dim) @ _unit(generator, batch, m, dim).transpose(1, 2)


def _dense_objective(plan, cost, cx, cy, alpha, eps):
    """E(T) evaluated with dense matrices (float64, no KL terms)."""
    plan = plan.double()
    structure = (plan * (cx @ plan @ cy)).sum()
    entropy = (torch.xlogy(plan, plan) - plan).sum()
    return 0.5 * alpha * structure + (1 - alpha) * (plan * cost).sum() + eps * entropy


def _masks(lengths, size):
    return torch.arange(size)[None] < torch.tensor(lengths)[:, None]


def test_balanced_fixed_point_matches_pot_entropic_fgw():
    n, m, r, alpha, eps = 12, 10, 0.15, 0.3, 0.1
    cost = _costs(1, n, m, seed=0)
    cx, cy = dense_cx(n, r), dense_cy(m, "alignment", r)
    expected = ot.gromov.entropic_fused_gromov_wasserstein(
        cost[0].numpy(), cx.numpy(), -cy.numpy() / 4, alpha=alpha, epsilon=eps, max_iter=10000, tol=1e-13
    )
    dense = fgw_mirror_descent(cost, cx, cy, alpha=alpha, eps=eps, n_iters=1500)
    banded = fused_gw(cost, alpha=alpha, eps=eps, radius=r, n_iters=1500)  # numba kernel on CPU
    for out in (dense, banded):
        np.testing.assert_allclose(out.plan[0].numpy(), expected, rtol=1e-7, atol=1e-12)
        ours = _dense_objective(out.plan[0], cost[0], cx, cy, alpha, eps)
        pot = _dense_objective(torch.from_numpy(expected), cost[0], cx, cy, alpha, eps)
        assert abs(ours.item() - pot.item()) < 1e-9  # POT's own stopping tolerance bounds the agreement
        assert abs(out.objective[0, -1].item() - ours.item()) < 1e-10
        assert out.marginal_error.item() < 1e-10
    # ASOT's step rule: s = 4 / max(g) at the first plan a b^T.
    first = torch.full((n, m), 1.0 / (n * m), dtype=torch.float64)
    gradient = alpha * cx @ first @ cy + (1 - alpha) * cost[0] + eps * first.log()
    assert banded.step_size.item() == pytest.approx(4.0 / gradient.max().item(), rel=1e-12)


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(structure="clusters"),
        dict(dummy=0.5, rho=0.35),
        dict(unbalanced="b", lam=0.05, structure="clusters", rho=0.2),
        dict(unbalanced="a", lam=0.3),
        dict(unbalanced="both", lam=(0.2, 0.1), dummy=0.4),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_numba_kernel_equals_torch_reference_on_padded_batches(options, dtype):
    cost = _costs(3, 30, 24, seed=1).to(dtype)
    masks = dict(mask_a=_masks([30, 17, 9], 30), mask_b=_masks([24, 24, 11], 24))
    settings = dict(alpha=0.3, eps=0.07, radius=0.1, n_iters=25) | options
    fast = fused_gw(cost, backend="numba", **masks, **settings)
    reference = fused_gw(cost, backend="torch", **masks, **settings)
    tolerance = dict(rtol=1e-9, atol=1e-14) if dtype == torch.float64 else dict(rtol=2e-4, atol=1e-7)
    torch.testing.assert_close(fast.plan, reference.plan, **tolerance)
    torch.testing.assert_close(fast.objective, reference.objective, rtol=tolerance["rtol"], atol=1e-5)
    torch.testing.assert_close(fast.step_size, reference.step_size, rtol=tolerance["rtol"], atol=0)
    torch.testing.assert_close(fast.marginal_error, reference.marginal_error, rtol=1e-2, atol=1e-6)


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_padded_items_equal_cropped_problems(backend):
    lengths_a, lengths_b = [26, 14, 20], [22, 22, 8]
    cost = _costs(3, 26, 22, seed=2)
    padded = fused_gw(
        cost.masked_fill(~(_masks(lengths_a, 26)[:, :, None] & _masks(lengths_b, 22)[:, None, :]), 7.0),
        mask_a=_masks(lengths_a, 26), mask_b=_masks(lengths_b, 22), dummy=0.5, backend=backend, **VAOT,
    )  # fmt: skip
    for item, (n, m) in enumerate(zip(lengths_a, lengths_b, strict=True)):
        alone = fused_gw(cost[item : item + 1, :n, :m], dummy=0.5, backend=backend, **VAOT)
        torch.testing.assert_close(padded.plan[item, :n, :m], alone.plan[0], rtol=1e-10, atol=1e-15)
        torch.testing.assert_close(padded.objective[item], alone.objective[0], rtol=1e-10, atol=1e-12)
        assert padded.plan[item, n:].sum() == 0 and padded.plan[item, :, m:].sum() == 0


def test_structure_term_survives_short_videos():
    """VAOT's ``int(r * N)`` is 0 at N = 20, r = 0.02 and dropped the structure; here R = 1 and it acts."""
    cost = _costs(1, 20, 20, seed=4)
    assert band_radius(20, 0.02) == 1
    settings = dict(alpha=0.3, eps=0.07, n_iters=25)
    banded = fused_gw(cost, radius=0.02, **settings)
    with_band = fgw_mirror_descent(cost, dense_cx(20, 0.02), dense_cy(20, "alignment", 0.02), **settings)
    without = fgw_mirror_descent(cost, torch.zeros(20, 20, dtype=torch.float64), dense_cy(20, "alignment", 0.02),
                                 **settings)  # fmt: skip
    torch.testing.assert_close(banded.plan, with_band.plan, rtol=1e-9, atol=1e-14)
    change = (banded.plan - without.plan).abs().sum() / banded.plan.sum()
    assert change > 0.05


def test_dummy_takes_unmatched_frames_and_is_stripped_from_the_end():
    """X inserts a frame absent from Y (and Y one absent from X); every shared frame must stay on its partner.
    VASOT appended the dummy column at the end but stripped the first column, shifting every target by one."""
    generator = torch.Generator().manual_seed(5)
    shared, novel_x, novel_y = _unit(generator, 24, 16), _unit(generator, 1, 16), _unit(generator, 1, 16)
    x = torch.cat([shared[:12], novel_x, shared[12:]])
    y = torch.cat([shared[:18], novel_y, shared[18:]])
    out = fused_gw((1.0 - x @ y.T)[None], dummy=0.5, **VAOT)
    plan = out.plan[0]
    assert plan.shape == (25, 25)
    partner = [i if i < 12 else i - 1 for i in range(25)]  # row in X -> index in shared
    partner = [s if s < 18 else s + 1 for s in partner]  # index in shared -> column in Y
    for i in range(25):
        if i != 12:
            assert plan[i].argmax().item() == partner[i]
    real_mass = 1.0 / 26
    assert plan[12].sum() < 0.1 * real_mass  # the inserted frame went to the dummy column
    assert plan[:, 18].sum() < 0.1 * real_mass  # Y's extra frame was fed by the dummy row
    assert plan.sum(dim=1)[torch.arange(25) != 12].min() > 0.9 * real_mass


def test_one_relaxed_side_keeps_exact_rows_and_starves_an_absent_cluster():
    generator = torch.Generator().manual_seed(6)
    prototypes = _unit(generator, 3, 16)
    frames = torch.nn.functional.normalize(prototypes[[0] * 20 + [1] * 20] + 0.1 * _unit(generator, 40, 16), dim=-1)
    cost = (1.0 - frames @ prototypes.T)[None]
    absent_mass = []
    for lam in (1.0, 0.1, 0.01):
        out = fused_gw(cost, alpha=0.3, eps=0.07, radius=0.04, structure="clusters", unbalanced="b", lam=lam)
        torch.testing.assert_close(out.plan.sum(dim=2), torch.full((1, 40), 1 / 40, dtype=torch.float64))
        absent_mass.append(out.plan[0, :, 2].sum().item())
    assert absent_mass[0] > absent_mass[1] > absent_mass[2]
    assert absent_mass[2] < 0.1 * (1 / 3)
    balanced = fused_gw(cost, alpha=0.3, eps=0.07, radius=0.04, structure="clusters")
    assert balanced.plan[0, :, 2].sum().item() == pytest.approx(1 / 3, rel=1e-6)


def test_float32_long_videos_keep_a_proper_plan():
    generator = torch.Generator().manual_seed(7)
    n = 1500
    x = torch.nn.functional.normalize(torch.randn(1, n, 64, generator=generator), dim=-1)
    y = torch.nn.functional.normalize(torch.randn(1, n, 64, generator=generator), dim=-1)
    out = fused_gw(1.0 - x @ y.transpose(1, 2), alpha=0.3, eps=0.05, radius=0.02, rho=0.35)
    plan = out.plan
    assert plan.dtype == torch.float32 and torch.isfinite(plan).all() and torch.isfinite(out.objective).all()
    assert plan.min() >= 0 and plan.max() > 10 / n**2
    # The sweep ends on the columns (exact); rows converge with the iterations (25 here).
    torch.testing.assert_close(plan.sum(dim=1), torch.full((1, n), 1 / n), rtol=1e-4, atol=0)
    torch.testing.assert_close(plan.sum(dim=2), torch.full((1, n), 1 / n), rtol=0.1, atol=0)
    assert out.marginal_error.item() < 0.02


def test_float32_reference_path_at_1000_frames():
    generator = torch.Generator().manual_seed(8)
    cost = 2.0 * torch.rand(1, 1000, 1000, generator=generator)
    out = fused_gw(cost, alpha=0.3, eps=0.05, radius=0.02, n_iters=5, backend="torch")
    assert torch.isfinite(out.plan).all() and out.plan.min() >= 0
    torch.testing.assert_close(out.plan.sum(dim=1), torch.full((1, 1000), 1e-3), rtol=1e-3, atol=0)


def test_objective_trace_descends_and_matches_a_dense_evaluation():
    cost = _costs(1, 40, 30, seed=9)
    out = fused_gw(cost, rho=0.0, **{k: v for k, v in VAOT.items() if k != "rho"} | dict(radius=0.1))
    trace = out.objective[0]
    assert trace[-1] < trace[0]
    assert (trace[1:] - trace[:-1]).max() < 1e-6  # non-increasing up to rounding
    dense = _dense_objective(out.plan[0], cost[0], dense_cx(40, 0.1), dense_cy(30, "alignment", 0.1), 0.3, 0.07)
    assert trace[-1].item() == pytest.approx(dense.item(), rel=1e-10)


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_both_sides_relaxed_descends_where_the_entropy_cap_alone_diverged(backend):
    """With no projection the KL weights add to the step's curvature; capped at ``1 / eps`` alone, these tiny
    problems blew up (mass 1e30 and more after 10 iterations)."""
    torch.manual_seed(0)
    for n, m in [(1, 1), (1, 2), (2, 1), (3, 4)]:
        cost = torch.rand(4, n, m, dtype=torch.float64)
        out = fused_gw(cost, alpha=0.4, eps=0.07, radius=0.3, rho=0.2, unbalanced="both", lam=0.1, n_iters=10,
                       structure="clusters", return_trace=True, backend=backend)  # fmt: skip
        assert torch.isfinite(out.plan).all() and out.plan.sum(dim=(1, 2)).max() < 2.0
        assert (out.objective[:, 1:] - out.objective[:, :-1]).max() <= 1e-9


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_cost_requiring_grad_is_a_constant_for_the_solver(backend):
    cost = _costs(2, 12, 10, seed=10).float().requires_grad_()
    out = fused_gw(cost, dummy=0.5, backend=backend, **VAOT)
    assert not out.plan.requires_grad and torch.isfinite(out.plan).all()
    loss = -(out.plan * torch.log_softmax(-cost, dim=2)).sum()
    loss.backward()
    assert torch.isfinite(cost.grad).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    cost = _costs(2, 50, 40, seed=11).float()
    masks = dict(mask_a=_masks([50, 31], 50), mask_b=_masks([40, 22], 40))
    cpu = fused_gw(cost, dummy=0.5, **masks, **VAOT)
    gpu = fused_gw(cost.cuda(), dummy=0.5, **{k: v.cuda() for k, v in masks.items()}, **VAOT)
    assert gpu.plan.device.type == "cuda"
    torch.testing.assert_close(gpu.plan.cpu(), cpu.plan, rtol=2e-4, atol=1e-7)


def _brute_force_dtw_centres(cost: np.ndarray) -> np.ndarray:
    """Mean column of each row on the cheapest monotone path, found by enumerating every path."""
    n, m = cost.shape
    best: tuple[float, list] = (np.inf, [])

    def walk(i: int, j: int, total: float, path: list) -> None:
        nonlocal best
        total, path = total + cost[i, j], [*path, (i, j)]
        if (i, j) == (n - 1, m - 1):
            best = min(best, (total, path), key=lambda entry: entry[0])
            return
        for di, dj in ((1, 1), (1, 0), (0, 1)):
            if i + di < n and j + dj < m:
                walk(i + di, j + dj, total, path)

    walk(0, 0, 0.0, [])
    return np.array([np.mean([j for i, j in best[1] if i == row]) for row in range(n)])


def test_path_prior_is_the_distance_to_the_dtw_path_by_brute_force():
    cost = np.random.default_rng(0).random((5, 6))
    centres = _brute_force_dtw_centres(cost)
    expected = np.abs(np.arange(6)[None, :] - centres[:, None]) / 6
    ones_a, ones_b = torch.ones(1, 5, dtype=torch.bool), torch.ones(1, 6, dtype=torch.bool)
    prior = path_prior(torch.as_tensor(cost)[None], ones_a, ones_b)
    np.testing.assert_allclose(prior[0].numpy(), expected, atol=1e-12)


def test_path_prior_on_the_diagonal_path_is_the_diagonal_prior_and_ignores_padding():
    cost = torch.tensor([[abs(i - j) for j in range(7)] for i in range(7)], dtype=torch.float64)[None]
    ones = torch.ones(1, 7, dtype=torch.bool)
    diagonal = temporal_prior(torch.tensor([7]), torch.tensor([7]), 7, 7, cost)
    torch.testing.assert_close(path_prior(cost, ones, ones), diagonal)
    keep_a, keep_b = [0, 2, 3, 5, 6], [1, 2, 4, 5]  # real frames, not a prefix
    mask_a, mask_b = torch.zeros(1, 7, dtype=torch.bool), torch.zeros(1, 7, dtype=torch.bool)
    mask_a[0, keep_a], mask_b[0, keep_b] = True, True
    padded = cost + 100.0 * (~mask_a[:, :, None] | ~mask_b[:, None, :])  # padded cells must not steer the path
    prior = path_prior(padded, mask_a, mask_b)
    cropped = cost[:, keep_a][:, :, keep_b]
    real = torch.ones(1, 5, dtype=torch.bool), torch.ones(1, 4, dtype=torch.bool)
    torch.testing.assert_close(prior[:, keep_a][:, :, keep_b], path_prior(cropped, *real))
    assert prior[~(mask_a[:, :, None] & mask_b[:, None, :])].abs().max() == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_path_prior_on_cuda_matches_cpu():
    cost = _costs(2, 50, 40, seed=12).float()
    mask_a, mask_b = _masks([50, 31], 50), _masks([40, 22], 40)
    gpu = path_prior(cost.cuda(), mask_a.cuda(), mask_b.cuda())
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), path_prior(cost, mask_a, mask_b))


@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_a_transposed_cost_view_gives_the_plan_of_its_values(backend):
    """Aligning Y to X with ``cost.transpose(1, 2)``: the numba path handed back an uninitialised plan (it filled a
    row-major copy of a plan laid out like the transposed view)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(2, 6, 8, generator=generator, dtype=torch.float64), dim=-1)
    y = torch.nn.functional.normalize(torch.randn(2, 5, 8, generator=generator, dtype=torch.float64), dim=-1)
    view = (1 - x @ y.transpose(1, 2)).transpose(1, 2)
    assert not view.is_contiguous()
    settings = dict(alpha=0.3, eps=0.07, radius=0.1, n_iters=25, backend=backend)
    torch.testing.assert_close(fused_gw(view, **settings).plan, fused_gw(view.contiguous(), **settings).plan)
