"""Spatial augmentation of a clip of frames, one draw per clip (``docs/finetune.md``, Augmentation).

The seeds train on spatio-temporally augmented videos (LAC, CARL: Chen et al. 2022 §3.2): every frame of a view
gets the *same* random resized crop, horizontal flip and colour jitter, so the view changes how the scene looks
but not how the movement goes, and the two views of a pair are drawn independently. The temporal half (crops
and speed changes) is :mod:`vidalign.data.augment`'s, applied to frame indices by
:class:`vidalign.finetuning.sampler.FramePairSampler`.

:func:`draw_clip_params` draws the parameters from a ``numpy.random.Generator`` (so runs are reproducible from
their seed); :func:`augment_clip` applies them to uint8 frames and returns floats in [0, 1].
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF


@dataclasses.dataclass
class ClipAugmentConfig:
    """Strengths of the per-clip spatial augmentation (saved with every fine-tuning run; zeros disable)."""

    crop_scale_min: float = 0.5  # the crop covers U(crop_scale_min, 1) of the frame's area
    crop_ratio_max: float = 4 / 3  # its aspect ratio is log-uniform in [1 / r, r]
    flip: float = 0.5  # probability of a horizontal flip
    brightness: float = 0.3  # factors ~ U(1 - s, 1 + s)
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.05  # shift ~ U(-h, h) of a turn


@dataclasses.dataclass(frozen=True)
class ClipParams:
    """One draw of :class:`ClipAugmentConfig`: crop box (pixels), flip, colour factors."""

    top: int
    left: int
    height: int
    width: int
    flip: bool
    brightness: float
    contrast: float
    saturation: float
    hue: float


def _crop_box(
    height: int, width: int, config: ClipAugmentConfig, rng: np.random.Generator, aspect: float
) -> tuple[int, ...]:
    """A random box of area fraction U(scale_min, 1) and aspect ratio ``aspect`` (width / height of the crops
    trained on) times a log-uniform factor that fits the frame. After 10 misses, as torchvision's
    ``RandomResizedCrop``, the largest centred box whose aspect is within that range: the whole frame when its own
    aspect is (not a 16:9 frame squashed into a square)."""
    for _ in range(10):
        area = height * width * rng.uniform(config.crop_scale_min, 1.0)
        ratio = aspect * math.exp(rng.uniform(-math.log(config.crop_ratio_max), math.log(config.crop_ratio_max)))
        w, h = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    ratio = min(max(width / height, aspect / config.crop_ratio_max), aspect * config.crop_ratio_max)
    h, w = min(height, max(1, round(width / ratio))), min(width, max(1, round(height * ratio)))
    return (height - h) // 2, (width - w) // 2, h, w


def draw_clip_params(
    height: int, width: int, config: ClipAugmentConfig, rng: np.random.Generator, aspect: float = 1.0
) -> ClipParams:
    """Parameters for one view of frames ``height x width``, to be resized to crops of width / height
    ``aspect``."""
    box = _crop_box(height, width, config, rng, aspect)

    def factor(strength: float) -> float:
        return float(rng.uniform(1 - strength, 1 + strength)) if strength > 0 else 1.0

    flip = bool(rng.random() < config.flip)
    brightness, contrast, saturation = factor(config.brightness), factor(config.contrast), factor(config.saturation)
    hue = float(rng.uniform(-config.hue, config.hue)) if config.hue > 0 else 0.0
    return ClipParams(*box, flip, brightness, contrast, saturation, hue)


def augment_clip(frames: np.ndarray, params: ClipParams, shape: tuple[int, int]) -> torch.Tensor:
    """uint8 ``[T, H, W, 3]`` -> float ``[T, 3, *shape]`` in [0, 1]: the crop resized to ``shape`` (bilinear,
    antialiased), flipped, then brightness, contrast, saturation and hue adjusted, all by ``params``."""
    clip = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0
    clip = TF.resized_crop(clip, params.top, params.left, params.height, params.width, list(shape), antialias=True)
    if params.flip:
        clip = TF.horizontal_flip(clip)
    clip = TF.adjust_brightness(clip, params.brightness)
    clip = TF.adjust_contrast(clip, params.contrast)
    clip = TF.adjust_saturation(clip, params.saturation)
    if params.hue:
        clip = TF.adjust_hue(clip, params.hue)
    return clip.clamp(0.0, 1.0)
