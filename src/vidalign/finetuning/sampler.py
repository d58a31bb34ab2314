"""Training pairs of augmented frame clips for fine-tuning (``docs/finetune.md``, Batches).

:class:`FramePairSampler` is :class:`vidalign.data.sampling.PairSampler` over cached frames instead of
features: the same pairings, epoch order, DDP sharding, encoder striding, temporal crops and loss-frame
sampling, so a fine-tuning run sees its videos exactly as a feature run of the same method would. Each view then
plays its frames at a random speed (nearest frame of :func:`vidalign.data.augment.speed_grid`; frames are not
blended) and gets one spatial augmentation for all its frames (:mod:`vidalign.finetuning.clip_augment`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vidalign.data.augment import AugmentConfig, draw_speed, speed_grid
from vidalign.data.sampling import PairSampler, SamplingConfig, View, chunk_sample
from vidalign.finetuning.clip_augment import ClipAugmentConfig, augment_clip, draw_clip_params

__all__ = ["FramePairSampler"]


class FramePairSampler(PairSampler):
    """Pairs of views ``[t, 3, *input_shape]`` (floats in [0, 1]) of uint8 frame arrays ``[T, H, W, 3]``; every
    crop has the aspect of ``input_shape`` (up to the augmentation's jitter) before it is resized to it."""

    def __init__(
        self,
        videos: Sequence[np.ndarray],
        pairing: str,
        sampling: SamplingConfig,
        augment: AugmentConfig,
        clip: ClipAugmentConfig,
        *,
        input_shape: tuple[int, int],
        **options,
    ):
        super().__init__(videos, pairing, sampling, augment, **options)
        self.clip, self.input_shape = clip, tuple(input_shape)

    def view(self, v: int, keep: np.ndarray, rng: np.random.Generator) -> View:
        grid = speed_grid(len(keep), draw_speed(self.augment, rng)) if len(keep) > 1 else np.zeros(1)
        rows = keep[np.rint(grid).astype(int)]
        frames = np.asarray(self.videos[v][rows])
        aspect = self.input_shape[1] / self.input_shape[0]
        params = draw_clip_params(frames.shape[1], frames.shape[2], self.clip, rng, aspect)
        clip = augment_clip(frames, params, self.input_shape).numpy()
        return View(clip, rows.astype(np.float64), chunk_sample(len(clip), self.sampling.loss_frames, rng))
