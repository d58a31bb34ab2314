"""Feature-level augmentations for self-supervised training on pre-extracted frame features.

All functions take a numpy ``[T, D]`` float32 array and a ``numpy.random.Generator`` and return a new array, so
training stays reproducible from the run's seed.

- :func:`temporal_crop` - CARL-style random temporal crop (Chen et al. 2022, "Frame-wise action representations
  for long videos via sequence contrastive learning", §3.2): a contiguous window covering a random fraction of
  the video; returns the source frame indices of the crop.
- :func:`resample_speed` - play the window at a random speed by linear interpolation between frames; returns the
  fractional source positions (used by Gaussian targets, which measure distance in source frames).
- :func:`jitter` - per-frame Gaussian noise plus a per-view random gain on each channel.
- :func:`mirror` - negate a fixed set of channels with probability 1/2 per view. For 2-D poses centred on the body
  (Penn Action) negating the x coordinates is the view from the opposite side: under orthographic projection a
  180° camera rotation about the vertical axis maps x to -x and keeps every joint's label.
- :func:`mirror_image` - with probability 1/2 per view, the mirror image of pose features: the same movement
  filmed from the person's other side or done with the other hand (:mod:`vidalign.data.mirror`).
- :func:`add_slow_drift` - a slow random change of every channel, drawn anew for each view: the feature-space
  counterpart of a light or exposure that changes during a recording. Two views of one video then no longer share
  their slow nuisance exactly, so a two-view method cannot match frames by it alone (docs/methods.md, "Two-view
  methods and a drifting nuisance").
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vidalign.data.mirror import mirror_pose_features

_SLOW_SINES = 3  # sinusoids summed per dimension by slow_waves


@dataclasses.dataclass
class AugmentConfig:
    """Augmentation strengths; zeros disable each transform (saved with every run)."""

    crop_min: float = 0.6  # two-view methods: a crop covers U(crop_min, 1) of the video
    speed_min: float = 1.0  # random playback speed in [speed_min, speed_max] (1, 1 = off)
    speed_max: float = 1.0
    noise: float = 0.0  # std of additive Gaussian noise, in units of each channel's std over the video
    gain: float = 0.0  # per-channel multiplicative gain ~ 1 + U(-gain, gain)
    mirror_channels: list[int] | None = None  # channels negated together with probability 1/2 (None = off)
    mirror_image: bool = False  # pose features: their mirror image with probability 1/2 (vidalign.data.mirror)
    drift: float = 0.0  # amplitude of a slow random change per view, in units of each channel's std over the view


def temporal_crop(length: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of a random contiguous window of ``max(2, round(fraction * length))`` frames."""
    size = min(length, max(2, int(round(fraction * length))))
    start = int(rng.integers(0, length - size + 1))
    return np.arange(start, start + size)


def speed_grid(length: int, speed: float) -> np.ndarray:
    """Fractional row positions of a ``length``-frame window played at ``speed``: ``max(2, round((length - 1) /
    speed) + 1)`` evenly spaced points from the first row to the last."""
    return np.linspace(0.0, length - 1, max(2, int(round((length - 1) / speed)) + 1))


def draw_speed(config: AugmentConfig, rng: np.random.Generator) -> float:
    """A playback speed ~ U(speed_min, speed_max); 1 (and no draw) when the range is empty."""
    return float(rng.uniform(config.speed_min, config.speed_max)) if config.speed_max > config.speed_min else 1.0


def resample_speed(features: np.ndarray, positions: np.ndarray, speed: float) -> tuple[np.ndarray, np.ndarray]:
    """Resample frames at ``speed`` (> 1 = faster, fewer frames) by linear interpolation.

    ``positions`` are the source indices of ``features``' rows; the returned positions are fractional source
    indices of the new frames.
    """
    if speed == 1.0 or len(features) < 2:
        return features, positions.astype(np.float64)
    grid = speed_grid(len(features), speed)
    lo = np.floor(grid).astype(int).clip(0, len(features) - 2)
    w = (grid - lo)[:, None]
    out = (1 - w) * features[lo] + w * features[lo + 1]
    return out.astype(features.dtype), np.interp(grid, np.arange(len(positions)), positions)


def jitter(features: np.ndarray, noise: float, gain: float, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian noise (scaled by each channel's std over the clip) and a random per-channel gain."""
    out = features
    if gain > 0:
        out = out * (1.0 + rng.uniform(-gain, gain, size=(1, features.shape[1]))).astype(features.dtype)
    if noise > 0:
        scale = features.std(axis=0, keepdims=True) + 1e-6
        out = out + (noise * scale * rng.standard_normal(features.shape)).astype(features.dtype)
    return out


def mirror(features: np.ndarray, channels: list[int] | None, rng: np.random.Generator) -> np.ndarray:
    """Negate ``channels`` with probability 1/2 (a copy; the input is never modified)."""
    if not channels or rng.random() < 0.5:
        return features
    out = features.copy()
    out[:, channels] *= -1
    return out


def mirror_image(features: np.ndarray, enabled: bool, rng: np.random.Generator) -> np.ndarray:
    """With probability 1/2 when ``enabled``, the mirror image of pose features
    (:func:`vidalign.data.mirror.mirror_pose_features`: x negated, left and right joints swapped)."""
    if not enabled or rng.random() < 0.5:
        return features
    return mirror_pose_features(features)


def slow_waves(n_frames: int, n_dims: int, rng: np.random.Generator) -> np.ndarray:
    """``[n_frames, n_dims]``: per dimension a sum of 3 random sinusoids with periods of 0.5-2 times ``n_frames``,
    random phases and standard-normal amplitudes, scaled to unit expected variance."""
    t = np.arange(n_frames)[:, None, None] / max(n_frames, 1)
    periods = rng.uniform(0.5, 2.0, (n_dims, _SLOW_SINES))
    offsets = rng.uniform(0.0, 2.0 * np.pi, (n_dims, _SLOW_SINES))
    amplitudes = rng.standard_normal((n_dims, _SLOW_SINES))
    waves = amplitudes * np.sin(2.0 * np.pi * t / periods + offsets)
    return waves.sum(axis=-1) / np.sqrt(_SLOW_SINES / 2.0)


def add_slow_drift(features: np.ndarray, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """``features`` plus :func:`slow_waves` scaled by ``amplitude`` times each channel's std over the view."""
    if amplitude <= 0:
        return features
    scale = amplitude * (features.std(axis=0, keepdims=True) + 1e-6)
    return features + (scale * slow_waves(len(features), features.shape[1], rng)).astype(features.dtype)


def augment_view(
    features: np.ndarray, positions: np.ndarray, config: AugmentConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Random speed, mirror (channels, then the image), jitter, then slow drift; returns features and their
    (fractional) source positions."""
    feats, pos = resample_speed(features, positions, draw_speed(config, rng))
    feats = mirror_image(mirror(feats, config.mirror_channels, rng), config.mirror_image, rng)
    feats = jitter(feats, config.noise, config.gain, rng)
    return add_slow_drift(feats, config.drift, rng), pos
