"""Training batches for the two pairings of the loss signature (:mod:`vidalign.losses.base`).

- ``cross_video``: two *different* videos of one process (VAOT, VASOT, TCC, LAV, VAVA). The encoder sees each whole
  video (strided down to the encoder's ``max_frames`` when longer, as at inference:
  :func:`vidalign.models.heads.encoder_stride`).
- ``two_views``: two augmented temporal crops of *one* video (LAC, SCL/CARL, Chen et al. 2022 §3.2).

The encoder always runs on contiguous frames at the video's own rate, so it meets the same temporal scale in
training and at evaluation. The loss may look at a subset of each encoded sequence (``loss_frames``): one random
frame per equal chunk of the sequence (TCC's sampling, Dwibedi et al. 2019 §4), which keeps the whole video covered.
Every pair carries the source frame position of each loss frame (``idx_*`` of the loss signature).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from vidalign.data.augment import AugmentConfig, augment_view, temporal_crop
from vidalign.errors import ConfigError, DataError
from vidalign.models.heads import encoder_stride


@dataclasses.dataclass
class SamplingConfig:
    """How batches are drawn (saved with every run)."""

    batch_size: int = 8
    loss_frames: int | None = None  # frames per video passed to the loss (None = every encoded frame)


@dataclasses.dataclass
class View:
    """One encoder input and the frames of it that the loss sees."""

    features: np.ndarray  # [T, D] encoder input (fine-tuning: frames [T, 3, S, S])
    positions: np.ndarray  # [T] source frame position of each row (fractional after speed changes)
    select: np.ndarray  # [S] rows of ``features`` given to the loss


@dataclasses.dataclass
class Side:
    """A padded batch of views: encoder input + the gather indices of the loss frames."""

    x: torch.Tensor  # [B, T, D] (fine-tuning: frames [B, T, 3, S, S])
    mask: torch.Tensor  # [B, T] bool
    select: torch.Tensor  # [B, S] long, rows of x given to the loss (padded with 0)
    select_mask: torch.Tensor  # [B, S] bool
    idx: torch.Tensor  # [B, S] float source frame positions of the loss frames

    def to(self, device: torch.device | str) -> Side:
        return Side(*(t.to(device) for t in dataclasses.astuple(self)))


@dataclasses.dataclass
class PairBatch:
    a: Side
    b: Side
    video_ids: list[tuple[int, int]]  # (index of a's video, index of b's video) per item

    def to(self, device: torch.device | str) -> PairBatch:
        return PairBatch(self.a.to(device), self.b.to(device), self.video_ids)


def chunk_sample(length: int, n: int | None, rng: np.random.Generator) -> np.ndarray:
    """One uniformly random index from each of ``n`` equal chunks of ``range(length)`` (all when n is None or >=)."""
    if n is None or n >= length:
        return np.arange(length)
    edges = np.linspace(0, length, n + 1)
    lo, hi = np.floor(edges[:-1]).astype(int), np.maximum(np.floor(edges[1:]).astype(int), 1)
    return np.minimum(lo + (rng.random(n) * (hi - lo)).astype(int), length - 1)


def stride_to(length: int, max_frames: int | None, rng: np.random.Generator) -> np.ndarray:
    """Frame indices striding a video down to at most ``max_frames`` (random phase of the stride)."""
    stride = encoder_stride(length, max_frames)
    return np.arange(int(rng.integers(0, stride)) if stride > 1 else 0, length, stride)


def pad_side(views: Sequence[View]) -> Side:
    """Collate views into a padded :class:`Side` (padding at the end; rows are features ``[D]`` or frames)."""
    B, T, S = len(views), max(len(v.features) for v in views), max(len(v.select) for v in views)
    x = torch.zeros(B, T, *views[0].features.shape[1:])
    mask = torch.zeros(B, T, dtype=torch.bool)
    select = torch.zeros(B, S, dtype=torch.long)
    select_mask = torch.zeros(B, S, dtype=torch.bool)
    idx = torch.zeros(B, S)
    for i, v in enumerate(views):
        n, s = len(v.features), len(v.select)
        x[i, :n] = torch.from_numpy(np.ascontiguousarray(v.features, dtype=np.float32))
        mask[i, :n] = True
        select[i, :s] = torch.from_numpy(v.select)
        select_mask[i, :s] = True
        idx[i, :s] = torch.from_numpy(np.asarray(v.positions[v.select], dtype=np.float32))
    return Side(x, mask, select, select_mask, idx)


class PairSampler:
    """Draws :class:`PairBatch` es from a list of ``[T, D]`` feature arrays of one process.

    An epoch visits every video once as the anchor ``a`` (in a seeded random order); under DDP each rank takes
    every ``world_size``-th anchor of the same order, so ranks see disjoint anchors and identical batch counts.
    """

    def __init__(
        self,
        videos: Sequence[np.ndarray],
        pairing: str,
        sampling: SamplingConfig,
        augment: AugmentConfig,
        *,
        seed: int,
        max_frames: int | None = 512,
        rank: int = 0,
        world_size: int = 1,
    ):
        if pairing not in ("cross_video", "two_views"):
            raise ConfigError(f"unknown pairing {pairing!r}")
        if pairing == "cross_video" and len(videos) < 2:
            raise DataError("cross-video training needs at least 2 training videos")
        if not videos:
            raise DataError("no training videos")
        self.videos = list(videos)
        self.pairing = pairing
        self.sampling = sampling
        self.augment = augment
        self.max_frames = max_frames
        self.seed = seed
        self.rank = rank
        self.world_size = world_size

    def batches_per_epoch(self) -> int:
        per_rank = -(-len(self.videos) // self.world_size)
        return -(-per_rank // self.sampling.batch_size)

    def epoch(self, epoch: int) -> Iterator[PairBatch]:
        """The batches of ``epoch``; reproducible from (seed, epoch, rank) alone, so resuming is exact."""
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.videos))
        order = np.resize(order, self.batches_per_epoch() * self.sampling.batch_size * self.world_size)
        anchors = order[self.rank :: self.world_size]
        rng = np.random.default_rng([self.seed, epoch, self.rank, 1])
        for start in range(0, len(anchors), self.sampling.batch_size):
            yield self.make_batch(anchors[start : start + self.sampling.batch_size], rng)

    def make_batch(self, anchors: np.ndarray, rng: np.random.Generator) -> PairBatch:
        views_a, views_b, ids = [], [], []
        for a in anchors:
            if self.pairing == "cross_video":
                b = int(rng.integers(0, len(self.videos) - 1))
                b += b >= a
                views_a.append(self.whole_video(int(a), rng))
                views_b.append(self.whole_video(b, rng))
            else:
                b = int(a)
                views_a.append(self.crop_view(b, rng))
                views_b.append(self.crop_view(b, rng))
            ids.append((int(a), b))
        return PairBatch(pad_side(views_a), pad_side(views_b), ids)

    def whole_video(self, v: int, rng: np.random.Generator) -> View:
        return self.view(v, stride_to(len(self.videos[v]), self.max_frames, rng), rng)

    def crop_view(self, v: int, rng: np.random.Generator) -> View:
        keep = stride_to(len(self.videos[v]), self.max_frames, rng)
        crop = keep[temporal_crop(len(keep), float(rng.uniform(self.augment.crop_min, 1.0)), rng)]
        return self.view(v, crop, rng)

    def view(self, v: int, keep: np.ndarray, rng: np.random.Generator) -> View:
        """The augmented view of frames ``keep`` of video ``v`` (:func:`~vidalign.data.augment.augment_view`)."""
        out, pos = augment_view(self.videos[v][keep], keep, self.augment, rng)
        return View(out, pos, chunk_sample(len(out), self.sampling.loss_frames, rng))


def gather_frames(z: torch.Tensor, side: Side) -> torch.Tensor:
    """Embeddings of the loss frames: ``z`` ``[B, T, D]`` gathered at ``side.select`` -> ``[B, S, D]``."""
    return torch.gather(z, 1, side.select.unsqueeze(-1).expand(-1, -1, z.shape[-1]))
