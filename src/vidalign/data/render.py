"""Render synthetic processes (:mod:`vidalign.data.synthetic`) as small real videos, so the whole pipeline
(decode -> extract -> train -> align) runs with no downloads.

Scene (2-D, one figure on a floor, drawn in NumPy with anti-aliased capsules and discs)
    The figure has 8 degrees of freedom (DOF): left / right shoulder angle, left / right elbow bend, torso lean,
    crouch depth, and the position (x, y) of a ball it plays with. They are a fixed function of the video's
    noise-free phase state ``latent`` [T, L]: ``u = tanh(latent @ P / 2)`` with one constant projection
    ``P`` [L, 8] (seeded by ``POSE_SEED``, the same for every process), then each ``u`` in (-1, 1) is mapped
    linearly onto its DOF's range. Because ``latent`` follows the process's phase curves, each phase is a
    distinct continuous motion of arms, torso, legs and ball, and frames with equal ``canonical_time`` show
    the same pose in every video. Background frames sit at the process's rest state, i.e. the rest pose.
Per-video appearance (``SyntheticVideo.appearance`` in [0, 1]; missing entries read as 0.5)
    a0: background hue; a1: figure hue (kept a third to two thirds of the hue circle away from the
    background, so the figure always contrasts); a2: figure size (0.8-1.05 of the nominal size); a3: the
    direction of a constant camera offset of 5 % of the frame size.
Slow drift (``SyntheticVideo.drift``; missing columns read as 0)
    drift[:, 0]: lighting (brightness x (1 +- 5 %)); drift[:, 1:3]: camera pan (+- 2 % of the frame size).
    The drift scales with ``SyntheticConfig.drift``: ``drift=0`` gives a static camera and light.
Speed
    The time warps of :mod:`vidalign.data.synthetic` make speeds differ per video; frame ``t`` of the
    synthetic video is frame ``t`` of the file (timestamp ``t / fps``), so ``canonical_time``, ``phase`` and
    the ground-truth correspondence carry over to the decoded frames unchanged.

:func:`render_dataset` writes ``videos/<id>.mp4`` plus, for the same frames, a label folder in the feature-folder
layout (``groundTruth/``, ``mapping/``, ``splits/``) and ``truth/<id>.json`` (phase, progress, canonical time per
frame); ``vidalign extract OUT/videos --labels-from OUT`` turns it into a labelled feature folder.
"""

from __future__ import annotations

import colorsys
import dataclasses
import math
import numbers
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from vidalign.atomic import atomic_path, atomic_write_json, atomic_write_text, claim_folder
from vidalign.data.layout import write_mapping, write_split
from vidalign.data.synthetic import (
    SyntheticConfig,
    SyntheticVideo,
    class_names,
    generate_videos,
    split_assignment,
)
from vidalign.data.video import write_video
from vidalign.errors import ConfigError

__all__ = ["POSE_SEED", "iter_rendered_frames", "pose", "render_dataset", "render_video"]

POSE_SEED = 7013  # seed of the constant latent -> pose projection
N_DOF = 8
CHUNK_FRAMES = 32  # frames rasterised at once (bounds memory for long videos)

# DOF ranges (u = -1 -> first value, u = +1 -> second), angles in radians, lengths in figure units.
_DOF_RANGES = np.array(
    [
        (0.2, 2.9),  # left shoulder: arm hanging down .. raised above the head
        (0.2, 2.9),  # right shoulder (mirrored)
        (0.0, 2.2),  # left elbow bend
        (0.0, 2.2),  # right elbow bend
        (-0.35, 0.35),  # torso lean
        (0.0, 0.14),  # crouch: how far the hip drops
        (-0.42, 0.42),  # ball x
        (-0.5, 0.05),  # ball y (image y points down)
    ]
)
# Figure geometry in figure units (1 unit = 0.62 of the frame size at figure size 1; origin = frame centre).
_FEET_X, _FEET_Y = 0.13, 0.62
_HIP_Y = 0.12
_LEG_SEGMENT = 0.26  # thigh and shin
_TORSO, _UPPER_ARM, _FOREARM = 0.36, 0.2, 0.19
_HEAD_RADIUS, _NECK = 0.085, 0.1
_LIMB_RADIUS, _TORSO_RADIUS, _BALL_RADIUS = 0.045, 0.06, 0.09
_FLOOR_Y = 0.66
_UNIT = 0.62
_CAMERA_OFFSET, _CAMERA_PAN, _LIGHTING = 0.05, 0.02, 0.05


def _projection(latent_dim: int) -> np.ndarray:
    """The constant ``[L, 8]`` map from phase state to pose (unit-variance DOFs for unit-variance states)."""
    return np.random.default_rng(POSE_SEED).standard_normal((latent_dim, N_DOF)) / np.sqrt(latent_dim)


def pose(latent: np.ndarray) -> np.ndarray:
    """DOF values ``[T, 8]`` of phase states ``[T, L]`` (see the module docstring for the order and ranges)."""
    u = np.tanh(latent @ _projection(latent.shape[1]) / 2.0)
    low, high = _DOF_RANGES[:, 0], _DOF_RANGES[:, 1]
    return low + (u + 1.0) / 2.0 * (high - low)


def _padded(values: np.ndarray, n: int, fill: float) -> np.ndarray:
    """The first ``n`` columns of ``values`` (last axis), padded with ``fill`` where it has fewer."""
    out = np.full((*values.shape[:-1], n), fill, dtype=np.float64)
    k = min(n, values.shape[-1])
    out[..., :k] = values[..., :k]
    return out


def _hsv(hue: float, saturation: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value))


def _direction(angle: np.ndarray) -> np.ndarray:
    """Unit vectors ``[..., 2]`` (x, y; image y points down) at ``angle`` from straight down: 0 points down,
    pi / 2 along +x, pi up."""
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1)


def _knee(hip: np.ndarray, foot: np.ndarray, outward: float) -> np.ndarray:
    """Knee ``[T, 2]`` of a leg of two ``_LEG_SEGMENT`` segments from ``hip`` to ``foot``, bent towards
    ``outward`` (+1: +x)."""
    middle = (hip + foot) / 2.0
    half = np.linalg.norm(foot - hip, axis=-1, keepdims=True) / 2.0
    along = (foot - hip) / (2.0 * half)
    normal = np.stack([-along[:, 1], along[:, 0]], axis=-1)
    normal *= np.sign(normal[:, :1] * outward + 1e-12)
    bend = np.sqrt(np.clip(_LEG_SEGMENT**2 - half**2, 0.0, None))
    return middle + bend * normal


def _skeleton(dof: np.ndarray) -> tuple[list[tuple[np.ndarray, np.ndarray, float]], np.ndarray]:
    """Capsules ``(start [T, 2], end [T, 2], radius)`` in figure units, painter's order, and the ball ``[T, 2]``."""
    n = len(dof)
    left_shoulder, right_shoulder, left_elbow, right_elbow, lean, crouch, ball_x, ball_y = dof.T
    hip = np.stack([np.zeros(n), _HIP_Y + crouch], axis=-1)
    neck = hip + _TORSO * _direction(np.pi + lean)
    capsules = []
    for side in (-1.0, 1.0):
        foot = np.tile([side * _FEET_X, _FEET_Y], (n, 1))
        knee = _knee(hip, foot, side)
        capsules += [(hip, knee, _LIMB_RADIUS), (knee, foot, _LIMB_RADIUS)]
    capsules.append((hip, neck, _TORSO_RADIUS))
    for side, shoulder, elbow in ((-1.0, left_shoulder, left_elbow), (1.0, right_shoulder, right_elbow)):
        arm_angle = side * shoulder + lean
        elbow_point = neck + _UPPER_ARM * _direction(arm_angle)
        hand = elbow_point + _FOREARM * _direction(arm_angle + side * elbow)
        capsules += [(neck, elbow_point, _LIMB_RADIUS), (elbow_point, hand, _LIMB_RADIUS)]
    head = neck + (_NECK + _HEAD_RADIUS) * _direction(np.pi + lean)
    capsules.append((head, head, _HEAD_RADIUS))  # a zero-length capsule is a disc
    return capsules, np.stack([ball_x, ball_y], axis=-1)


def _coverage(xs: np.ndarray, ys: np.ndarray, start: np.ndarray, end: np.ndarray, radius: float) -> np.ndarray:
    """Anti-aliased coverage ``[T, H, W]`` in [0, 1] of capsules: the segments ``start``-``end`` ([T, 2] pixel
    coordinates) thickened by ``radius`` pixels; 1 inside, 0 beyond half a pixel outside, linear in between.
    ``xs`` / ``ys`` are the pixel-centre coordinates ``[H, W]``."""
    dx, dy = [(end - start)[:, k, None, None] for k in (0, 1)]
    ox, oy = xs[None] - start[:, 0, None, None], ys[None] - start[:, 1, None, None]
    t = np.clip((ox * dx + oy * dy) / np.maximum(dx * dx + dy * dy, 1e-12), 0.0, 1.0)
    distance = np.hypot(ox - t * dx, oy - t * dy)
    return np.clip(radius + 0.5 - distance, 0.0, 1.0)


def _palette(appearance: np.ndarray) -> dict[str, np.ndarray]:
    background_hue = appearance[0]
    figure_hue = background_hue + 1.0 / 3.0 + appearance[1] / 3.0
    return {
        "sky": _hsv(background_hue, 0.35, 0.88),
        "floor": _hsv(background_hue, 0.45, 0.62),
        "figure": _hsv(figure_hue, 0.75, 0.35),
        "ball": _hsv(figure_hue + 0.5, 0.85, 0.95),
    }


def iter_rendered_frames(video: SyntheticVideo, *, size: int = 96) -> Iterator[np.ndarray]:
    """Yield the RGB uint8 frames ``[size, size, 3]`` of ``video`` (one per synthetic frame), rasterising
    ``CHUNK_FRAMES`` at a time. Deterministic: a pure function of the video's arrays."""
    appearance = _padded(video.appearance, 4, 0.5)
    drift = _padded(video.drift, 3, 0.0)
    colours = _palette(appearance)
    scale = size * _UNIT * (0.8 + 0.25 * appearance[2])
    camera = size / 2.0 + _CAMERA_OFFSET * size * _direction(2.0 * np.pi * appearance[3])
    ys, xs = np.mgrid[0:size, 0:size] + 0.5  # pixel centres
    dof = pose(video.latent)
    for first in range(0, len(dof), CHUNK_FRAMES):
        chunk = slice(first, first + CHUNK_FRAMES)
        origin = camera + _CAMERA_PAN * size * np.tanh(drift[chunk, 1:3])  # [n, 2]
        floor_row = origin[:, 1] + _FLOOR_Y * scale
        below = (ys[None] >= floor_row[:, None, None])[..., None]
        image = np.where(below, colours["floor"], colours["sky"])  # [n, H, W, 3]
        capsules, ball = _skeleton(dof[chunk])
        figure = np.zeros(image.shape[:3])
        for start, end, radius in capsules:  # one colour: the union's coverage is the maximum
            cover = _coverage(xs, ys, origin + scale * start, origin + scale * end, radius * scale)
            np.maximum(figure, cover, out=figure)
        ball_px = origin + scale * ball
        ball_cover = _coverage(xs, ys, ball_px, ball_px, _BALL_RADIUS * scale)
        for colour, cover in ((colours["figure"], figure), (colours["ball"], ball_cover)):
            image = image * (1.0 - cover[..., None]) + colour * cover[..., None]
        light = 1.0 + _LIGHTING * np.tanh(drift[chunk, 0])[:, None, None, None]
        yield from np.clip(np.rint(255.0 * image * light), 0, 255).astype(np.uint8)


def render_video(video: SyntheticVideo, path: str | os.PathLike[str], *, size: int = 96, fps: float = 12.0) -> Path:
    """Encode ``video`` at ``fps`` (frame ``t`` at time ``t / fps``) into ``path`` (container from the
    extension) with :func:`vidalign.data.video.write_video`, atomically (:func:`vidalign.atomic.atomic_path`), so
    a killed run never leaves a partial video under ``path``.

    The encoding is lossless (x264 at ``crf`` 0): decoded, the video is exactly the rendered frames in yuv420p, on
    every run. Lossy x264 does not give the same bitstream each time (one differing packet of 130 frames changed
    117 decoded frames by up to 55 levels), so the demo's and the benchmarks' numbers moved from run to run. The
    ``mpeg4`` fallback of an FFmpeg without H.264 stays lossy."""
    with atomic_path(path) as partial:
        write_video(partial, iter_rendered_frames(video, size=size), fps, crf=0)
    return Path(path)


def _json_floats(values: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else round(float(v), 6) for v in values]


def render_dataset(
    config: SyntheticConfig,
    out_dir: str | os.PathLike[str],
    *,
    size: int = 96,
    fps: float = 12.0,
    progress: bool = False,
) -> Path:
    """Render every video of ``config`` and write, per video, its labels first and its video last::

        OUT/videos/<id>.mp4         the rendered video (``size`` x ``size``, ``fps``)
        OUT/groundTruth/<id>.txt    one label per video frame (``phase_k`` / ``background``)
        OUT/truth/<id>.json         phase, progress, canonical_time per frame (null on background), phase
                                    sequence, appearance, fps, size, the config
        OUT/mapping/mapping.txt     :func:`vidalign.data.synthetic.class_names`
        OUT/splits/<split>.txt      train / val / test, the same seeded split as the feature-folder generator

    ``OUT/render.json`` records ``config``, ``size`` and ``fps``. A re-run with the same record resumes: a video
    whose file exists is complete (its labels were written before it, the file atomically), so only the missing
    ones are rendered. A different record raises :class:`~vidalign.errors.ConfigError` naming what differs, and an
    unrecorded ``out_dir`` whose ``videos/`` already holds files raises ``FileExistsError``. Returns ``out_dir``.
    ``progress``: a bar over the videos.
    """
    if not (isinstance(size, numbers.Integral) and size >= 16) or not 0 < fps < math.inf:
        raise ConfigError(f"render needs an integer size >= 16 pixels and a finite fps > 0, got size {size}, fps {fps}")
    out_dir = Path(out_dir)
    videos_dir = out_dir / "videos"

    def refuse_unrecorded_videos() -> None:
        if videos_dir.is_dir() and any(videos_dir.iterdir()):
            raise FileExistsError(f"{videos_dir}: already holds videos; choose a new directory or delete it")

    out_dir.mkdir(parents=True, exist_ok=True)
    record = {"config": dataclasses.asdict(config), "size": size, "fps": fps}
    claim_folder(out_dir, "render.json", record, what="rendered videos", before_claim=refuse_unrecorded_videos)
    names = class_names(config)
    config_json = record["config"]
    bar = tqdm(generate_videos(config), total=config.n_videos, desc="render", unit="video", disable=not progress)
    for video in bar:
        path = videos_dir / f"{video.video_id}.mp4"
        if path.exists():
            continue
        labels = "".join(f"{names[c]}\n" for c in video.labels)
        atomic_write_text(out_dir / "groundTruth" / f"{video.video_id}.txt", labels)
        truth = {
            "video_id": video.video_id,
            "fps": fps,
            "size": size,
            "phase_sequence": list(video.phase_sequence),
            "appearance": video.appearance.round(6).tolist(),
            "phase": video.phase.tolist(),
            "progress": _json_floats(video.progress),
            "canonical_time": _json_floats(video.canonical_time),
            "config": config_json,
        }
        atomic_write_json(out_dir / "truth" / f"{video.video_id}.json", truth)
        render_video(video, path, size=size, fps=fps)
    write_mapping(out_dir, names)
    for split, ids in split_assignment(config).items():
        write_split(out_dir, split, ids)
    return out_dir
