"""The one loss signature shared by every method (``docs/methods.md``).

``loss(z_a, z_b, mask_a=None, mask_b=None, *, idx_a=None, idx_b=None) -> LossOutput``

``z_a``/``z_b`` are ``[B, T, D]`` frame embeddings of two videos of one process (cross-video methods) or two views
of one video (two-view methods); masks are ``[B, T]`` bool with True on real frames (padding at the end);
``idx_*`` are ``[B, T]`` float/int frame indices in the source video (for temporal priors and Gaussian targets).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch
from torch import nn

from vidalign.errors import InputError


@dataclasses.dataclass
class LossOutput:
    """A scalar loss to back-propagate and detached scalars to log."""

    loss: torch.Tensor
    logs: dict[str, float] = dataclasses.field(default_factory=dict)


class PairLoss(nn.Module):
    """Base class of every method's loss.

    ``pairing`` tells the sampler which frames to feed: ``"cross_video"`` (two different videos of one process:
    VAOT, VASOT, TCC, LAV, VAVA) or ``"two_views"`` (two augmented temporal crops of one video: LAC, SCL).
    ``segmentation`` is True for losses that own action prototypes (ASOT, VASOT).
    """

    pairing: ClassVar[str] = "cross_video"
    segmentation: ClassVar[bool] = False

    def param_lrs(self) -> dict[str, float]:
        """``{parameter name: learning rate}`` for parameters that train at their own rate (default: none)."""
        return {}

    def forward(  # pragma: no cover - abstract
        self,
        z_a: torch.Tensor,
        z_b: torch.Tensor,
        mask_a: torch.Tensor | None = None,
        mask_b: torch.Tensor | None = None,
        *,
        idx_a: torch.Tensor | None = None,
        idx_b: torch.Tensor | None = None,
    ) -> LossOutput:
        raise NotImplementedError


def full_mask(z: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``mask`` or an all-True ``[B, T]`` mask for ``z`` ``[B, T, D]``."""
    if mask is None:
        return torch.ones(z.shape[:2], dtype=torch.bool, device=z.device)
    if mask.shape != z.shape[:2]:
        raise InputError(f"mask shape {tuple(mask.shape)} does not match embeddings {tuple(z.shape[:2])}")
    return mask.to(device=z.device, dtype=torch.bool)


def frame_indices(z: torch.Tensor, idx: torch.Tensor | None) -> torch.Tensor:
    """``idx`` as float ``[B, T]`` or ``0..T-1`` for every item when not given."""
    if idx is None:
        return torch.arange(z.shape[1], device=z.device, dtype=z.dtype).expand(z.shape[0], -1)
    return idx.to(device=z.device, dtype=z.dtype)


def lengths(mask: torch.Tensor) -> torch.Tensor:
    """Number of real frames per item ``[B]`` (long)."""
    return mask.sum(dim=1)
