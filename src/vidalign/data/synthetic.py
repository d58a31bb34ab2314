"""Seeded synthetic "videos" of one process: the embedded default dataset and the ground truth for tests.

Generative model (all draws from ``numpy.random.SeedSequence(config.seed)``; the process, the split and every
video use their own spawned child, so video ``i`` does not depend on ``n_videos``):

* **Process.** ``K`` ordered phases. Phase ``k`` follows a smooth curve in a ``latent_dim``-dimensional state
  space (the "pose"), ``c_k(s) = p_k + s (p_{k+1} - p_k) + sin(pi s) u_k + sin(2 pi s) v_k`` for progress
  ``s`` in [0, 1], through random waypoints ``p_0 .. p_K`` (steps ~ N(0, I)) with random bends ``u_k, v_k``
  ~ N(0, 0.3^2 I). Consecutive phases meet at their shared waypoint: the path is continuous, with a kink at
  each boundary. Background frames sit at a fixed rest state away from the path.
* **Time warps.** Each video draws its length ``T`` ~ U{min_frames..max_frames}, background lengths at both
  ends ~ U{background}, and splits the remaining frames among its phases in proportion to the process's mean
  phase lengths times ``exp(phase_jitter * N(0, 1))`` (at least 2 frames each). Inside a phase, progress
  follows a random monotone piecewise-linear warp (4 pieces with speeds ``exp(warp * N(0, 1))``), sampled at
  frame centres, so progress lies strictly inside (0, 1).
* **Phase order.** Each phase is dropped with probability ``p_missing_phase`` (at least one is kept) and
  performed twice in a row with probability ``p_repeated_phase`` (the state jumps back to the phase start).
* **Nuisance.** Features are ``[state, nuisance] @ Q.T + noise`` with one random orthogonal ``Q`` per
  process, so the phase state lives in an unknown ``latent_dim``-dimensional subspace of the ``dim``
  features. The ``dim - latent_dim`` nuisance coordinates hold a per-video constant offset (a fixed linear
  map of the video's appearance parameters, scaled by ``appearance``) plus a per-video slow drift (random
  low-frequency sinusoids, scaled by ``drift``); i.i.d. Gaussian noise (std ``noise``) is added everywhere.
  With the defaults the nuisance dominates raw Euclidean distances, so raw features align only moderately,
  while a projection onto the state subspace (what a good embedding learns) aligns almost perfectly.

The ground-truth correspondence between two videos is given by ``canonical_time = phase + progress``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidalign.atomic import atomic_write_text
from vidalign.data.augment import slow_waves
from vidalign.data.layout import (
    refuse_existing_features,
    write_dataset_info,
    write_mapping,
    write_split,
    write_video,
)
from vidalign.errors import ConfigError

__all__ = [
    "SyntheticConfig",
    "SyntheticVideo",
    "class_names",
    "generate_videos",
    "ground_truth_correspondence",
    "split_assignment",
    "write_synthetic_dataset",
]

BACKGROUND = "background"
SPLIT_FRACTIONS = {"val": 0.2, "test": 0.2}  # train gets the rest
_WARP_PIECES = 4
_MIN_PHASE_FRAMES = 2


@dataclass
class SyntheticConfig:
    """Parameters of :func:`generate_videos` (defaults: the embedded demo dataset).

    Attributes:
        n_videos: number of videos.
        n_phases: number of ordered phases K of the process.
        dim: feature dimension D.
        latent_dim: dimension of the phase state (the rest of D is nuisance); 1 <= latent_dim <= dim.
        min_frames, max_frames: range of the total video length T (background included).
        phase_jitter: per-video spread of phase lengths (std of the log length multiplier).
        warp: strength of the within-phase time warp (std of the log speed of each piece; 0 = uniform).
        noise: std of i.i.d. Gaussian noise added to every feature.
        appearance: scale of the per-video constant nuisance offset.
        drift: scale of the per-video slow nuisance drift.
        n_appearance: number of appearance parameters per video (uniform in [0, 1]).
        background: (min, max) background frames at each end; (0, 0) = none.
        p_missing_phase: probability that a video skips a phase.
        p_repeated_phase: probability that a video performs a phase twice in a row.
        seed: seed of everything.
    """

    n_videos: int = 24
    n_phases: int = 5
    dim: int = 32
    latent_dim: int = 6
    min_frames: int = 60
    max_frames: int = 150
    phase_jitter: float = 0.35
    warp: float = 0.5
    noise: float = 0.1
    appearance: float = 1.0
    drift: float = 1.0
    n_appearance: int = 4
    background: tuple[int, int] = (0, 0)
    p_missing_phase: float = 0.0
    p_repeated_phase: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        self.background = (int(self.background[0]), int(self.background[1]))
        checks = {
            "n_videos >= 1": self.n_videos >= 1,
            "n_phases >= 1": self.n_phases >= 1,
            "1 <= latent_dim <= dim": 1 <= self.latent_dim <= self.dim,
            "n_appearance >= 1": self.n_appearance >= 1,
            "0 <= background[0] <= background[1]": 0 <= self.background[0] <= self.background[1],
            "min_frames <= max_frames": self.min_frames <= self.max_frames,
            "min_frames - 2 * background[1] >= 4 * n_phases (2 frames per phase, every phase repeated)": (
                self.min_frames - 2 * self.background[1] >= 2 * _MIN_PHASE_FRAMES * self.n_phases
            ),
            "0 <= p_missing_phase <= 1": 0.0 <= self.p_missing_phase <= 1.0,
            "0 <= p_repeated_phase <= 1": 0.0 <= self.p_repeated_phase <= 1.0,
            "noise, appearance, drift, warp, phase_jitter >= 0": min(
                self.noise, self.appearance, self.drift, self.warp, self.phase_jitter
            )
            >= 0.0,
        }
        failed = [rule for rule, ok in checks.items() if not ok]
        if failed:
            raise ConfigError(f"invalid SyntheticConfig: need {'; '.join(failed)}")


@dataclass
class SyntheticVideo:
    """One generated video with its full ground truth.

    Attributes:
        video_id: ``video_000``, ``video_001``, ...
        features: float32 ``[T, D]`` observed features.
        labels: int64 ``[T]`` class ids: the phase, or ``K`` (``"background"``) on background frames.
        phase: int64 ``[T]`` phase id, -1 on background frames.
        progress: float64 ``[T]`` warped progress inside the phase, in (0, 1); NaN on background frames.
        canonical_time: float64 ``[T]`` ``phase + progress`` (NaN on background): the correspondence between
            any two videos of the process.
        appearance: float64 ``[n_appearance]`` per-video nuisance parameters in [0, 1] (a renderer maps them
            to colours, sizes, backgrounds; the feature offset is a fixed linear map of them).
        latent: float64 ``[T, latent_dim]`` noise-free phase state per frame (what a renderer draws).
        drift: float64 ``[T, dim - latent_dim]`` the slow nuisance drift per frame (camera/lighting drift for
            a renderer), before the constant offset and noise.
        phase_sequence: the phases performed, in order (shows missing and repeated phases).
    """

    video_id: str
    features: np.ndarray
    labels: np.ndarray
    phase: np.ndarray
    progress: np.ndarray
    canonical_time: np.ndarray
    appearance: np.ndarray
    latent: np.ndarray
    drift: np.ndarray
    phase_sequence: tuple[int, ...]


@dataclass(frozen=True)
class _Process:
    """Draws shared by all videos of one process."""

    waypoints: np.ndarray  # [K + 1, L]
    bends: np.ndarray  # [K, 2, L]: coefficients of sin(pi s) and sin(2 pi s)
    rest_state: np.ndarray  # [L]
    mean_phase_weights: np.ndarray  # [K]
    rotation: np.ndarray  # [D, D] orthogonal
    appearance_map: np.ndarray  # [D - L, n_appearance]

    def state(self, phase: int, progress: np.ndarray) -> np.ndarray:
        """Point of phase ``phase``'s curve at ``progress`` (``[n]`` -> ``[n, L]``)."""
        s = progress[:, None]
        start, end = self.waypoints[phase], self.waypoints[phase + 1]
        sin1, sin2 = np.sin(np.pi * s), np.sin(2.0 * np.pi * s)
        return start + s * (end - start) + sin1 * self.bends[phase, 0] + sin2 * self.bends[phase, 1]


def class_names(config: SyntheticConfig) -> list[str]:
    """``phase_0 .. phase_{K-1}``, plus ``"background"`` (id K) when the config has background frames."""
    names = [f"phase_{k}" for k in range(config.n_phases)]
    return names + [BACKGROUND] if config.background[1] > 0 else names


def _draw_process(config: SyntheticConfig, rng: np.random.Generator) -> _Process:
    n_phases, latent_dim = config.n_phases, config.latent_dim
    steps = rng.standard_normal((n_phases, latent_dim))
    waypoints = np.concatenate([np.zeros((1, latent_dim)), np.cumsum(steps, axis=0)])
    bends = 0.3 * rng.standard_normal((n_phases, 2, latent_dim))
    direction = rng.standard_normal(latent_dim)
    rest_state = waypoints.mean(axis=0) + 3.0 * direction / np.linalg.norm(direction)
    mean_phase_weights = rng.dirichlet(np.full(n_phases, 4.0))
    q, r = np.linalg.qr(rng.standard_normal((config.dim, config.dim)))
    rotation = q * np.sign(np.diag(r))  # Haar-distributed orthogonal matrix
    appearance_map = rng.standard_normal((config.dim - latent_dim, config.n_appearance))
    appearance_map /= np.sqrt(config.n_appearance)
    return _Process(waypoints, bends, rest_state, mean_phase_weights, rotation, appearance_map)


def _phase_sequence(config: SyntheticConfig, rng: np.random.Generator) -> list[int]:
    """Phases performed in order; the same uniforms are drawn whatever the probabilities."""
    u_missing, u_repeat = rng.random(config.n_phases), rng.random(config.n_phases)
    kept = [k for k in range(config.n_phases) if u_missing[k] >= config.p_missing_phase]
    if not kept:
        kept = [int(np.argmax(u_missing))]
    return [k for k in kept for _ in range(2 if u_repeat[k] < config.p_repeated_phase else 1)]


def _split_frames(total: int, weights: np.ndarray) -> np.ndarray:
    """Frame counts >= 2 summing to ``total``; the spare frames follow ``weights`` (largest remainder)."""
    spare = total - _MIN_PHASE_FRAMES * len(weights)
    share = spare * weights / weights.sum()
    counts = np.floor(share).astype(np.int64)
    leftover = spare - int(counts.sum())
    counts[np.argsort(-(share - counts), kind="stable")[:leftover]] += 1
    return counts + _MIN_PHASE_FRAMES


def _warped_progress(n_frames: int, warp: float, rng: np.random.Generator) -> np.ndarray:
    """Progress at frame centres under a random monotone piecewise-linear warp; strictly inside (0, 1)."""
    speeds = np.exp(warp * rng.standard_normal(_WARP_PIECES))
    knots = np.concatenate([[0.0], np.cumsum(speeds) / speeds.sum()])
    centres = (np.arange(n_frames) + 0.5) / n_frames
    return np.interp(centres, np.linspace(0.0, 1.0, _WARP_PIECES + 1), knots)


def _draw_video(config: SyntheticConfig, process: _Process, video_id: str, rng: np.random.Generator) -> SyntheticVideo:
    sequence = _phase_sequence(config, rng)
    n_frames = int(rng.integers(config.min_frames, config.max_frames + 1))
    bg_start, bg_end = rng.integers(config.background[0], config.background[1] + 1, size=2)
    jitter = np.exp(config.phase_jitter * rng.standard_normal(len(sequence)))
    lengths = _split_frames(n_frames - bg_start - bg_end, process.mean_phase_weights[sequence] * jitter)

    phase = np.full(n_frames, -1, dtype=np.int64)
    progress = np.full(n_frames, np.nan)
    latent = np.tile(process.rest_state, (n_frames, 1))
    start = int(bg_start)
    for k, length in zip(sequence, lengths, strict=True):
        frames = slice(start, start + int(length))
        phase[frames] = k
        progress[frames] = _warped_progress(int(length), config.warp, rng)
        latent[frames] = process.state(k, progress[frames])
        start += int(length)

    appearance = rng.random(config.n_appearance)
    offset = config.appearance * process.appearance_map @ ((appearance - 0.5) * np.sqrt(12.0))
    drift = config.drift * slow_waves(n_frames, config.dim - config.latent_dim, rng)
    clean = np.concatenate([latent, offset + drift], axis=1) @ process.rotation.T
    features = clean + config.noise * rng.standard_normal(clean.shape)
    labels = np.where(phase >= 0, phase, config.n_phases)
    return SyntheticVideo(
        video_id=video_id,
        features=features.astype(np.float32),
        labels=labels.astype(np.int64),
        phase=phase,
        progress=progress,
        canonical_time=phase + progress,
        appearance=appearance,
        latent=latent,
        drift=drift,
        phase_sequence=tuple(sequence),
    )


def _seed_children(config: SyntheticConfig) -> tuple[np.random.Generator, np.random.Generator, list]:
    """Generators for the process, the split, and each video (independent of ``n_videos``)."""
    process_seed, split_seed, *video_seeds = np.random.SeedSequence(config.seed).spawn(2 + config.n_videos)
    return np.random.default_rng(process_seed), np.random.default_rng(split_seed), video_seeds


def _video_ids(n_videos: int) -> list[str]:
    width = max(3, len(str(n_videos - 1)))
    return [f"video_{i:0{width}d}" for i in range(n_videos)]


def generate_videos(config: SyntheticConfig) -> list[SyntheticVideo]:
    """Generate ``config.n_videos`` videos of one process (see the module docstring); fully seeded."""
    process_rng, _, video_seeds = _seed_children(config)
    process = _draw_process(config, process_rng)
    return [
        _draw_video(config, process, video_id, np.random.default_rng(seed))
        for video_id, seed in zip(_video_ids(config.n_videos), video_seeds, strict=True)
    ]


def split_assignment(config: SyntheticConfig) -> dict[str, list[str]]:
    """Seeded disjoint train/val/test split (val and test 20 % each, rounded; train the rest)."""
    _, split_rng, _ = _seed_children(config)
    ids = _video_ids(config.n_videos)
    order = [ids[i] for i in split_rng.permutation(len(ids))]
    splits, start = {}, 0
    for name, fraction in SPLIT_FRACTIONS.items():
        count = int(round(fraction * len(ids)))
        splits[name] = sorted(order[start : start + count])
        start += count
    splits["train"] = sorted(order[start:])
    return splits


def _json_times(values: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else round(float(v), 6) for v in values]


def write_synthetic_dataset(out_dir: str | Path, config: SyntheticConfig) -> Path:
    """Generate the videos and write them as a feature folder (``vidalign.data.layout``); returns ``out_dir``.

    Writes features, groundTruth (``phase_k`` / ``background`` per frame), mapping (:func:`class_names`),
    meta (config, phase sequence, appearance, ``canonical_time`` per frame with ``null`` on background) and
    splits ``train`` / ``val`` / ``test`` (60/20/20, seeded, disjoint). Refuses a directory that already holds
    features (:func:`~vidalign.data.layout.refuse_existing_features`).
    """
    out_dir = Path(out_dir)
    refuse_existing_features(out_dir)
    names = class_names(config)
    config_json = dataclasses.asdict(config)
    for video in generate_videos(config):
        meta = {
            "source": "vidalign.data.synthetic",
            "config": config_json,
            "phase_sequence": list(video.phase_sequence),
            "appearance": video.appearance.round(6).tolist(),
            "canonical_time": _json_times(video.canonical_time),
        }
        write_video(out_dir, video.video_id, video.features, [names[c] for c in video.labels], meta)
    write_mapping(out_dir, names)
    write_dataset_info(out_dir, feature_family="synthetic")
    for split, ids in split_assignment(config).items():
        write_split(out_dir, split, ids)
    atomic_write_text(out_dir / "README.md", _readme(config))
    return out_dir


def _readme(config: SyntheticConfig) -> str:
    return (
        "# Synthetic process (vidalign.data.synthetic)\n\n"
        f"{config.n_videos} videos, {config.n_phases} phases, {config.dim}-d features, seed {config.seed}.\n"
        "Generated by `vidalign.data.synthetic.write_synthetic_dataset`; the full config is in every\n"
        "`meta/<video_id>.json`, with `canonical_time` (phase + progress, null on background) per frame:\n"
        "frames of two videos with equal canonical time correspond.\n"
        "Splits: train / val / test (60 / 20 / 20 %, seeded, disjoint); alignment evaluation fits on\n"
        "`train` and scores `val`.\n"
    )


def ground_truth_correspondence(a: SyntheticVideo, b: SyntheticVideo) -> np.ndarray:
    """For each frame of ``a``, the frame of ``b`` in the same phase with the nearest canonical time.

    Returns int64 ``[T_a]``; -1 where ``a``'s frame is background or its phase does not occur in ``b``. Equal
    distances resolve to the frame with the smaller canonical time (then the earlier frame).
    """
    matches = np.full(len(a.phase), -1, dtype=np.int64)
    for k in np.unique(a.phase[a.phase >= 0]):
        b_frames = np.flatnonzero(b.phase == k)
        if b_frames.size == 0:
            continue
        order = np.argsort(b.canonical_time[b_frames], kind="stable")
        b_frames = b_frames[order]
        b_times = b.canonical_time[b_frames]
        a_frames = np.flatnonzero(a.phase == k)
        a_times = a.canonical_time[a_frames]
        right = np.clip(np.searchsorted(b_times, a_times), 0, len(b_times) - 1)
        left = np.clip(right - 1, 0, None)
        use_right = np.abs(b_times[right] - a_times) < np.abs(b_times[left] - a_times)
        matches[a_frames] = b_frames[np.where(use_right, right, left)]
    return matches
