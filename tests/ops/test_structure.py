"""Banded structure matrices and their O(N*M) products against dense matrices built entry by entry."""

from __future__ import annotations

import pytest
import torch

from vidalign.ops.structure import (
    band_radii,
    band_radius,
    cx_weights,
    dense_cx,
    dense_cy,
    structure_product,
    window_sum,
)


def _brute_cx(n: int, radius: int, weight: float) -> torch.Tensor:
    rows = [[weight if 0 < abs(i - k) <= radius else 0.0 for k in range(n)] for i in range(n)]
    return torch.tensor(rows, dtype=torch.float64)


def _brute_cy(m: int, kind: str, radius: int) -> torch.Tensor:
    if kind == "clusters":
        return torch.tensor([[0.0 if j == k else 1.0 for k in range(m)] for j in range(m)])
    return torch.tensor([[0.0 if 0 < abs(j - k) <= radius else 1.0 for k in range(m)] for j in range(m)])


@pytest.mark.parametrize(
    ("length", "r", "expected"),
    [
        (20, 0.02, 1),  # VAOT: int(0.4) = 0 removed the structure term
        (25, 0.02, 1),  # 0.5 rounds up (Python's round gives 0)
        (75, 0.02, 2),  # 1.5 -> 2
        (125, 0.02, 3),  # 2.5 -> 3 (Python's round gives 2)
        (256, 0.02, 5),
        (300, 0.02, 6),
        (300, 0.04, 12),
        (5, 0.0, 1),
    ],
)
def test_band_radius_rounds_half_up_and_is_at_least_one(length, r, expected):
    assert band_radius(length, r) == expected
    assert band_radii(torch.tensor([length]), r).tolist() == [expected]


def test_dense_references_match_the_definition():
    for n, r in [(1, 0.3), (7, 0.3), (20, 0.02), (33, 0.1)]:
        radius = band_radius(n, r)
        assert torch.equal(dense_cx(n, r), _brute_cx(n, radius, n / radius))
        assert torch.equal(dense_cx(n, r, weight="fraction"), _brute_cx(n, radius, 1.0 / r))
        assert torch.equal(dense_cy(n, "alignment", r), _brute_cy(n, "alignment", radius).double())
        assert torch.equal(dense_cy(n, "clusters"), _brute_cy(n, "clusters", radius).double())


@pytest.mark.parametrize("dim", [1, 2])
def test_window_sum_matches_loops(dim):
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(3, 9, 11, generator=generator, dtype=torch.float64)
    radius = torch.tensor([0, 2, 20])
    out = window_sum(x, radius, dim)
    for b in range(3):
        for i in range(9):
            for j in range(11):
                if dim == 1:
                    lo, hi = max(0, i - radius[b]), min(8, i + radius[b])
                    expected = x[b, lo : hi + 1, j].sum()
                else:
                    lo, hi = max(0, j - radius[b]), min(10, j + radius[b])
                    expected = x[b, i, lo : hi + 1].sum()
                assert torch.allclose(out[b, i, j], expected, atol=1e-12)


@pytest.mark.parametrize("kind", ["alignment", "clusters"])
@pytest.mark.parametrize(("n", "m", "r"), [(1, 1, 0.1), (5, 8, 0.3), (20, 20, 0.02), (31, 17, 0.1), (64, 40, 0.04)])
def test_structure_product_equals_dense_product(kind, n, m, r):
    generator = torch.Generator().manual_seed(n * 100 + m)
    plan = torch.rand(2, n, m, generator=generator, dtype=torch.float64)
    radius_x = band_radii(torch.tensor([n, n]), r)
    radius_y = band_radii(torch.tensor([m, m]), r)
    weight_x = cx_weights(torch.tensor([n, n]), radius_x, r)
    expected = dense_cx(n, r) @ plan @ dense_cy(m, kind, r)
    assert torch.allclose(structure_product(plan, kind, weight_x, radius_x, radius_y), expected, atol=1e-10)


@pytest.mark.parametrize("kind", ["alignment", "clusters"])
def test_padded_items_equal_cropped_products(kind):
    """Per-item radii from the real lengths; zero-mass padding never enters a window."""
    generator = torch.Generator().manual_seed(3)
    lengths_a, lengths_b, r = [40, 23, 7], [35, 35, 12], 0.1
    plan = torch.zeros(3, 40, 35, dtype=torch.float64)
    for b, (n, m) in enumerate(zip(lengths_a, lengths_b, strict=True)):
        plan[b, :n, :m] = torch.rand(n, m, generator=generator, dtype=torch.float64)
    radius_x = band_radii(torch.tensor(lengths_a), r)
    weight_x = cx_weights(torch.tensor(lengths_a), radius_x, r)
    out = structure_product(plan, kind, weight_x, radius_x, band_radii(torch.tensor(lengths_b), r))
    for b, (n, m) in enumerate(zip(lengths_a, lengths_b, strict=True)):
        expected = dense_cx(n, r) @ plan[b, :n, :m] @ dense_cy(m, kind, r)
        assert torch.allclose(out[b, :n, :m], expected, atol=1e-10)


def test_float32_product_is_accurate_at_2000_frames():
    generator = torch.Generator().manual_seed(1)
    plan = torch.rand(1, 2000, 300, generator=generator)
    plan /= plan.sum()
    radius_x, radius_y = band_radii(torch.tensor([2000]), 0.02), band_radii(torch.tensor([300]), 0.02)
    weight_x = cx_weights(torch.tensor([2000]), radius_x, 0.02)
    expected = structure_product(plan.double(), "alignment", weight_x, radius_x, radius_y)
    out = structure_product(plan, "alignment", weight_x, radius_x, radius_y)
    assert torch.allclose(out.double(), expected, rtol=1e-4, atol=1e-6 * expected.abs().max().item())


@pytest.mark.parametrize("m", [20, 100])
def test_structure_term_of_a_uniform_plan_has_one_scale_at_every_length(m):
    """The weight N / R keeps ``alpha Cx T Cy`` of a uniform plan at one magnitude for N = 8 ... 300 (rows away
    from the ends), where ASOT's literal 1 / r inflates it by R / (r N): 6.25x at 8 frames, 2.5x at 20."""
    r, alpha = 0.02, 0.3
    magnitudes, literal = [], []
    for n in (8, 20, 100, 300):
        plan = torch.full((1, n, m), 1.0 / (n * m), dtype=torch.float64)
        radius_x, radius_y = band_radii(torch.tensor([n]), r), band_radii(torch.tensor([m]), r)
        inner = slice(int(radius_x), n - int(radius_x))  # rows whose band lies inside the video
        for weight, out in (("length", magnitudes), ("fraction", literal)):
            w_x = cx_weights(torch.tensor([n]), radius_x, r, weight)
            product = alpha * structure_product(plan, "alignment", w_x, radius_x, radius_y)[0, inner]
            out.append(product.mean().item())
    assert max(magnitudes) / min(magnitudes) < 1.10
    assert literal[0] / literal[-1] == pytest.approx(6.25, rel=0.01)
    assert literal[1] / literal[-1] == pytest.approx(2.5, rel=0.01)
