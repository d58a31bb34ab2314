"""Banded structure matrices of the fused Gromov-Wasserstein solver and their O(N*M) products.

``docs/methods.md`` ("Fused Gromov-Wasserstein by mirror descent"; ASOT, Xu et al. CVPR 2024 eq. 3; VAOT):

* ``Cx[i, k] = w_x`` if ``0 < |i - k| <= R_x`` else 0  (temporal neighbours in X, diagonal excluded),
* alignment (frame-to-frame, VAOT): ``Cy[j, l] = 0`` if ``0 < |j - l| <= R_y`` else 1 (diagonal counts as 1),
* clusters (frame-to-prototype, ASOT): ``Cy = 1 - I``,

with ``R = max(1, round(r * length))`` over the *real* length of each video (round half up).

Weight of ``Cx`` (``docs/methods.md``, "Structure weight"). ASOT's filter is ``ones(2R + 1) / r`` with the
centre tap zeroed and ``R = int(r N)``: the weight ``1/r`` assumes ``R = r N``, so that every row of ``Cx`` sums to
``2N`` and ``Cx T Cy`` of a uniform plan is about 2 whatever N is. ``int(r N)`` is 0 at N = 20, r = 0.02 and
silently removes the structure term (the VAOT bug); ``R >= 1`` here, and keeping ``1/r`` with a rounded-up
``R`` would inflate the term by ``R / (r N)`` (6.25x at 8 frames). The default weight is therefore
``w_x = N / R_x`` per item ("length": equal to ``1/r`` whenever ``R = r N``); ``"fraction"`` keeps ASOT's
literal ``1/r``.

The products never form an N x N or M x M matrix. With ``B_x``/``B_y`` the 0/1 bands without diagonal,
``Cx = w_x B_x`` and ``Cy = 11^T - B_y`` (alignment) or ``11^T - I`` (clusters), hence

    Cx T Cy = w_x (B_x (T 1) 1^T - B_x (T B_y))            (alignment)
    Cx T Cy = w_x (B_x (T 1) 1^T - B_x T)                  (clusters)

and a band product ``B x = window_sum(x) - x`` is a difference of two cumulative sums: O(N*M) for any radius.
Padded frames must carry zero mass; then the windows never pick up padding and per-item radii (from the real
lengths) give exactly the products of the cropped problems.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from vidalign.errors import ConfigError

StructureKind = Literal["alignment", "clusters"]
CxWeight = Literal["length", "fraction"]
CX_WEIGHTS = ("length", "fraction")


def band_radius(length: int, r: float) -> int:
    """``R = max(1, round(r * length))`` with round-half-up (Python's ``round`` would map 0.5 to 0)."""
    return max(1, math.floor(r * length + 0.5))


def band_radii(lengths: Tensor, r: float) -> Tensor:
    """Per-item :func:`band_radius` of a ``[B]`` tensor of real lengths (int64 result, same device)."""
    return torch.clamp(torch.floor(lengths.to(torch.float64) * r + 0.5), min=1).to(torch.int64)


def cx_weights(lengths: Tensor, radii: Tensor, r: float, weight: CxWeight = "length") -> Tensor:
    """Per-item weight ``w_x`` of ``Cx`` (float64 ``[B]``): ``N / R_x`` ("length") or ``1 / r`` ("fraction")."""
    if weight == "length":
        return lengths.to(torch.float64) / radii.to(torch.float64)
    if weight == "fraction":
        if r <= 0:
            raise ConfigError("cx_weight='fraction' needs radius > 0 (its weight is 1 / r)")
        return torch.full(lengths.shape, 1.0 / r, dtype=torch.float64, device=lengths.device)
    raise ConfigError(f"cx_weight must be one of {CX_WEIGHTS}, got {weight!r}")


def window_sum(x: Tensor, radius: Tensor, dim: int) -> Tensor:
    """Inclusive window sums ``out[..., i, ...] = sum_{|k - i| <= R_b} x[..., k, ...]`` along ``dim`` (1 or 2).

    ``x`` is ``[B, N, M]``; ``radius`` is a ``[B]`` int64 tensor (one radius per batch item). Entries outside the
    tensor count as zero. Cost: one cumulative sum and two gathers, O(B*N*M) whatever the radius.
    """
    length = x.shape[dim]
    prefix = torch.nn.functional.pad(torch.cumsum(x, dim), (1, 0) if dim == 2 else (0, 0, 1, 0))
    offsets = torch.arange(length, device=x.device)
    upper = torch.clamp(offsets[None, :] + radius[:, None] + 1, max=length)
    lower = torch.clamp(offsets[None, :] - radius[:, None], min=0)
    shape = (x.shape[0], length, 1) if dim == 1 else (x.shape[0], 1, length)
    upper = upper.view(shape).expand_as(x)
    lower = lower.view(shape).expand_as(x)
    return torch.gather(prefix, dim, upper) - torch.gather(prefix, dim, lower)


def band_left(x: Tensor, radius: Tensor) -> Tensor:
    """``B_x @ x``: sum over the temporal neighbours ``0 < |k - i| <= R`` along dim 1 (no weight)."""
    return window_sum(x, radius, 1) - x


def structure_product(
    plan: Tensor, kind: StructureKind, weight_x: Tensor, radius_x: Tensor, radius_y: Tensor | None = None
) -> Tensor:
    """``Cx @ plan @ Cy`` for a batch ``plan`` ``[B, N, M]`` in O(B*N*M) (module docstring for the identities).

    ``weight_x`` ``[B]`` is the weight of ``Cx`` (:func:`cx_weights`); ``radius_x``/``radius_y`` are ``[B]``
    int64 radii (:func:`band_radii` of the real lengths); ``radius_y`` is unused for ``kind="clusters"``. Rows
    and columns of padding must hold zeros in ``plan``; the result is exact on the real block and meaningless on
    padding.
    """
    row_mass = plan.sum(dim=2, keepdim=True)
    if kind == "alignment":
        if radius_y is None:
            raise ConfigError("alignment structure needs radius_y")
        right = window_sum(plan, radius_y, 2) - plan
    elif kind == "clusters":
        right = plan
    else:
        raise ConfigError(f"unknown structure kind {kind!r}")
    weight = weight_x.to(device=plan.device, dtype=plan.dtype).view(-1, 1, 1)
    return (band_left(row_mass, radius_x) - band_left(right, radius_x)) * weight


def dense_cx(length: int, r: float, radius: int | None = None, weight: CxWeight = "length") -> Tensor:
    """Dense reference ``Cx`` (float64, ``length x length``); ``radius`` defaults to :func:`band_radius`."""
    radius = band_radius(length, r) if radius is None else radius
    gap = (torch.arange(length)[:, None] - torch.arange(length)[None, :]).abs()
    scale = cx_weights(torch.tensor([length]), torch.tensor([radius]), r, weight).item()
    return ((gap > 0) & (gap <= radius)).to(torch.float64) * scale


def dense_cy(length: int, kind: StructureKind, r: float | None = None, radius: int | None = None) -> Tensor:
    """Dense reference ``Cy`` (float64): ``1 - off-diagonal band`` (alignment) or ``1 - I`` (clusters)."""
    gap = (torch.arange(length)[:, None] - torch.arange(length)[None, :]).abs()
    if kind == "clusters":
        return (gap > 0).to(torch.float64)
    if radius is None:
        if r is None:
            raise ConfigError("alignment Cy needs r or radius")
        radius = band_radius(length, r)
    return 1.0 - ((gap > 0) & (gap <= radius)).to(torch.float64)
