"""Seeded synthetic features of a repeated exercise filmed by different people: the collapse setting of VAOT.

Models what ``efficientnet_lite0`` pooled features of real exercise clips look like (``docs/methods.md``, "Collapse
of VAOT"): the person and the room dominate every frame, the movement shows only as a faint periodic signal, and
each clip holds several repetitions at its own tempo. All draws come from ``numpy.random.default_rng(seed)`` (the
process) and from the ``v``-th child of ``SeedSequence(seed)`` (video ``v``, as ``SeedSequence.spawn`` makes it), so
video ``v`` does not depend on ``n_videos`` and no video shares the process's stream (``default_rng([seed, 0])``
would: a trailing 0 of a seed adds no entropy).

Features of frame ``t`` of video ``v`` (``D = dim`` channels):

``x_t = mu + (a_v + m(psi_t) + d_v(t)) L^T * s + noise * s * N(0, I)``

* ``mu``: a positive mean shared by all videos (pooled post-activation features are positive, which is why raw
  clips of different people still have cosine similarity ~0.5);
* ``L`` ``[D, n_factors]``: every component enters through the same random factor loading, so channels are
  correlated as CNN channels are; ``s`` gives channels different scales and ``constant_fraction`` of them nearly
  none (the nearly constant channels of real features);
* ``a_v``: the per-video appearance (person, clothes, room), a constant draw in an ``n_appearance``-dimensional
  factor subspace; ``d_v(t)``: a slow drift of the appearance (camera, lighting) over the clip;
* ``m(psi)``: the movement, a smooth periodic curve of the phase ``psi`` in [0, 1) of the current repetition
  (harmonics 1..``harmonics`` with 1/k amplitudes, mixed into the factors by one process-wide map);
* every clip has ``U{reps}`` repetitions of jittered durations (``tempo_jitter``: std of the log duration; where a
  repetition would get fewer than 4 frames, the durations are blended toward equal ones just enough that none does)
  and rest frames at the top position at both ends (``U{rest}`` each). A frame belongs to the repetition its centre
  falls in, a centre on a boundary to the later one, so ``psi`` is in [0, 1).

``appearance``, ``motion`` and ``noise`` are the root-mean-square sizes of the three parts relative to ``|mu|``;
the defaults give raw clips a within-clip cosine similarity of ~0.92 and across clips ~0.2-0.75 (mean ~0.54), as
measured on the real clips (0.86-0.90 within, 0.40-0.56 across). Labels: the quarter of the repetition,
``top`` / ``down`` / ``bottom`` / ``up`` (rest frames are ``top``); ``meta`` keeps ``psi`` and the repetition index.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidalign.data.layout import (
    refuse_existing_features,
    write_dataset_info,
    write_mapping,
    write_split,
    write_video,
)
from vidalign.errors import ConfigError

__all__ = ["EXERCISE_PHASES", "ExerciseConfig", "ExerciseVideo", "generate_exercise", "write_exercise_dataset"]

EXERCISE_PHASES = ("top", "down", "bottom", "up")
_REFERENCE_FRAMES = 256  # frames of the process-wide draws that fix the scale of each part


@dataclass
class ExerciseConfig:
    """Parameters of :func:`generate_exercise` (module docstring); defaults reproduce the VAOT collapse."""

    n_videos: int = 10
    dim: int = 64
    n_factors: int = 32
    n_appearance: int = 24
    harmonics: int = 4
    appearance: float = 0.9
    motion: float = 0.3
    noise: float = 0.2
    drift: float = 0.3
    reps: tuple[int, int] = (3, 8)
    frames: tuple[int, int] = (90, 180)
    rest: tuple[int, int] = (0, 10)
    tempo_jitter: float = 0.25
    constant_fraction: float = 0.1
    val_fraction: float = 0.3
    seed: int = 0

    def __post_init__(self) -> None:
        self.reps, self.frames, self.rest = tuple(self.reps), tuple(self.frames), tuple(self.rest)
        checks = {
            "0 <= val_fraction < 1": 0 <= self.val_fraction < 1,
            "n_videos >= 3, and at least one clip outside the val split": self.n_videos >= 3
            and 0 <= self.val_fraction < 1  # (n_val of an infinite or NaN fraction raises)
            and self.n_videos > self.n_val,
            "1 <= reps[0] <= reps[1]": 1 <= self.reps[0] <= self.reps[1],
            "0 <= rest[0] <= rest[1]": 0 <= self.rest[0] <= self.rest[1],
            "frames[0] - 2 rest[1] >= 4 reps[1] (4 frames per repetition)": (
                self.frames[0] <= self.frames[1] and self.frames[0] - 2 * self.rest[1] >= 4 * self.reps[1]
            ),
            "appearance, motion, noise, drift, tempo_jitter >= 0": min(
                self.appearance, self.motion, self.noise, self.drift, self.tempo_jitter
            )
            >= 0,
            "0 <= constant_fraction < 1": 0 <= self.constant_fraction < 1,
        }
        failed = [rule for rule, ok in checks.items() if not ok]
        if failed:
            raise ConfigError(f"invalid ExerciseConfig: need {'; '.join(failed)}")

    @property
    def n_val(self) -> int:
        """Clips of the ``val`` split: ``val_fraction`` of them, rounded, at least 2."""
        return max(2, int(round(self.val_fraction * self.n_videos)))


@dataclass
class ExerciseVideo:
    """One clip: ``features`` float32 ``[T, D]``, ``labels`` (phase names), ``psi`` (phase in the repetition),
    ``rep`` (repetition index, -1 on rest frames), ``n_reps``."""

    video_id: str
    features: np.ndarray
    labels: list[str]
    psi: np.ndarray
    rep: np.ndarray
    n_reps: int


def _harmonics(psi: np.ndarray, count: int) -> np.ndarray:
    """``[cos 2 pi k psi / k, sin 2 pi k psi / k]`` for k = 1..count -> ``[T, 2 count]``."""
    cols = [f(2 * np.pi * k * psi) / k for k in range(1, count + 1) for f in (np.cos, np.sin)]
    return np.stack(cols, axis=1)


def _at_least(shares: np.ndarray, floor: float) -> np.ndarray:
    """``shares`` (summing to 1) blended toward equal shares just enough that none is below ``floor``
    (``floor <= 1 / len(shares)``); unchanged where none is."""
    low, equal = shares.min(), 1.0 / len(shares)
    if low >= floor:
        return shares
    weight = (floor - low) / (equal - low)
    return (1.0 - weight) * shares + weight * equal


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt((x**2).sum(-1).mean()))


def generate_exercise(config: ExerciseConfig) -> list[ExerciseVideo]:
    """The clips of one exercise (module docstring); fully seeded."""
    rng = np.random.default_rng(config.seed)
    dim, factors = config.dim, config.n_factors
    loading = rng.standard_normal((dim, factors)) / np.sqrt(factors)
    scale = np.exp(rng.normal(0.0, 0.7, dim))
    scale[rng.random(dim) < config.constant_fraction] = 0.01
    mu = np.abs(rng.standard_normal(dim)) * 2.0 + 1.0
    appearance_map = rng.standard_normal((factors, config.n_appearance))
    motion_map = rng.standard_normal((factors, 2 * config.harmonics))

    def channels(f: np.ndarray) -> np.ndarray:
        return (f @ loading.T) * scale

    # each part is scaled so that its RMS norm relative to |mu| is the configured size
    norm = np.linalg.norm(mu)
    ref_app = _rms(channels(rng.standard_normal((_REFERENCE_FRAMES, config.n_appearance)) @ appearance_map.T))
    grid = np.arange(_REFERENCE_FRAMES) / _REFERENCE_FRAMES
    ref_motion = _rms(channels(_harmonics(grid, config.harmonics) @ motion_map.T))
    ref_noise = _rms(scale * rng.standard_normal((_REFERENCE_FRAMES, dim)))

    videos = []
    for v in range(config.n_videos):
        r = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(v,)))
        n_frames = int(r.integers(config.frames[0], config.frames[1] + 1))
        n_reps = int(r.integers(config.reps[0], config.reps[1] + 1))
        rest = r.integers(config.rest[0], config.rest[1] + 1, size=2)
        active = n_frames - int(rest.sum())
        durations = np.exp(config.tempo_jitter * r.standard_normal(n_reps))
        edges = np.concatenate([[0.0], np.cumsum(_at_least(durations / durations.sum(), 4 / active))]) * active
        t = np.arange(active) + 0.5
        rep = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, n_reps - 1)
        psi = (t - edges[rep]) / (edges[rep + 1] - edges[rep])
        psi = np.concatenate([np.zeros(rest[0]), psi, np.zeros(rest[1])])
        rep = np.concatenate([np.full(rest[0], -1), rep, np.full(rest[1], -1)])

        look = r.standard_normal(config.n_appearance) @ appearance_map.T
        wave = np.sin(np.linspace(0.0, np.pi * r.uniform(0.5, 2.0), n_frames) + r.uniform(0.0, 2 * np.pi))
        drift = np.outer(wave, r.standard_normal(config.n_appearance) @ appearance_map.T)
        motion = _harmonics(psi, config.harmonics) @ motion_map.T
        features = (
            mu
            + channels(look[None, :] + config.drift * drift) * (config.appearance * norm / ref_app)
            + channels(motion) * (config.motion * norm / ref_motion)
            + scale * r.standard_normal((n_frames, dim)) * (config.noise * norm / ref_noise)
        )
        labels = [EXERCISE_PHASES[int(p * 4) % 4] for p in psi]
        videos.append(ExerciseVideo(f"clip_{v:02d}", features.astype(np.float32), labels, psi, rep, n_reps))
    return videos


def write_exercise_dataset(out_dir: str | Path, config: ExerciseConfig) -> Path:
    """Write the clips as a feature folder of family ``video`` (``dataset.json``) with splits ``all``, ``train``
    and ``val`` (the last ``val_fraction`` of the clips, at least 2); returns ``out_dir``."""
    out_dir = Path(out_dir)
    refuse_existing_features(out_dir)
    videos = generate_exercise(config)
    config_json = dataclasses.asdict(config)
    for video in videos:
        meta = {
            "source": "vidalign.data.exercise",
            "config": config_json,
            "n_reps": video.n_reps,
            "psi": [round(float(p), 6) for p in video.psi],
            "rep": video.rep.tolist(),
        }
        write_video(out_dir, video.video_id, video.features, video.labels, meta)
    write_mapping(out_dir, list(EXERCISE_PHASES))
    write_dataset_info(out_dir, feature_family="video")
    ids = [video.video_id for video in videos]
    n_val = config.n_val
    write_split(out_dir, "all", ids)
    write_split(out_dir, "train", ids[:-n_val])
    write_split(out_dir, "val", ids[-n_val:])
    return out_dir
