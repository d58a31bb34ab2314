"""Penn Action official annotations (``labels/NNNN.mat``) -> one pose-feature folder per action.

Source: Zhang, Zhu, Derpanis, "From Actemes to Action", ICCV 2013 (non-commercial research use, cite it).
Each ``.mat`` holds ``x``, ``y``, ``visibility`` ``[T, 13]``, ``bbox`` ``[T, 4]``, ``action``, ``pose``
(view), ``train`` (1 = official train video, -1 = official test video), ``nframes`` and ``dimensions``
(height, width, frames). Joints: head, shoulders, elbows, wrists, hips, knees, ankles (left before right).

Pose features (39-d per frame, ``[x_0..x_12, y_0..y_12, v_0..v_12]``; 26-d without the visibility block):

* Inspection of the official files: invisible joints do carry coordinates. 64 % of them are the annotator's
  estimate of an occluded joint (inside the image), 36 % sit at a placeholder in the image corner (both
  coordinates < 2 px, e.g. (0.75, 0.75)), i.e. no position at all. A joint is *annotated* when it is
  visible or has an estimate (:func:`annotated_joints`); unannotated joints get coordinates 0 *after*
  normalisation. The visibility block ``v`` (1 visible, 0 occluded or unannotated) keeps the official flag.
  Keeping the occluded estimates matters: Kendall tau of raw-feature nearest neighbours (stride 5, our
  ``val`` split, seed 0) is 0.32 / 0.56 / 0.26 for baseball_pitch / golf_swing / tennis_serve (26-d)
  against 0.32 / 0.31 / 0.14 with occluded joints zeroed. The visibility block costs raw nearest-neighbour
  alignment part of that (0.26 / 0.39 / 0.20 at 39-d), as views differ in which side is occluded, so the
  default is the 26-d coordinates; ``visibility_channel=True`` appends it.
* Position: coordinates minus the centroid of the frame's annotated joints (image axes, y down).
* Scale: divided by one body scale per **video**, the median over frames of the RMS distance of the
  annotated joints from their centroid (frames with at least 2 annotated joints). A per-video scale does
  not jitter with the pose as a per-frame scale would (arms stretched vs tucked), yet removes image size.
* A video with no visible joint in any frame carries no observation (the real data has one: 1516.mat, all
  joints flagged invisible at frozen coordinates); it is skipped with a warning and listed in the action
  folder's ``README.md``, as is a video whose body scale is undefined.

Splits per action folder: ``train`` / ``test`` from the official flag (a split with no video is written
empty, with a warning: the shared copy of the data holds official train videos only), and our own seeded,
disjoint carve of the official train videos into ``train_sub`` and ``val`` (``val_fraction`` of them).
Alignment evaluation uses ``--train-split train_sub --eval-split val``, so the classifier never sees a
scored video. No ``groundTruth`` is written: Penn Action has no published phase labels.
"""

from __future__ import annotations

import os
import warnings
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidalign.atomic import atomic_write_text
from vidalign.data.layout import (
    DatasetError,
    matlab_string,
    read_matlab,
    refuse_existing_features,
    write_dataset_info,
    write_split,
    write_video,
)
from vidalign.errors import ConfigError, DataError

__all__ = [
    "JOINT_NAMES",
    "PennActionVideo",
    "annotated_joints",
    "carve_validation",
    "convert_penn_action",
    "feature_description",
    "pose_features",
    "read_penn_action_mat",
]

JOINT_NAMES = (
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
REQUIRED_FIELDS = ("x", "y", "visibility", "action", "train")
PLACEHOLDER_PX = 2.0
_TRAIN_FLAGS = {1.0: True, -1.0: False, 0.0: False}


@dataclass(frozen=True)
class PennActionVideo:
    """Validated contents of one official annotation file (``x``, ``y`` float64, ``visibility`` bool
    ``[T, 13]``); ``pose``, ``dimensions`` ((height, width, frames)), ``bbox_frames`` None if absent."""

    video_id: str
    source: Path
    action: str
    train: bool
    x: np.ndarray
    y: np.ndarray
    visibility: np.ndarray
    pose: str | None
    dimensions: tuple[int, int, int] | None
    bbox_frames: int | None


def read_penn_action_mat(path: str | os.PathLike[str]) -> PennActionVideo:
    """Read and validate one ``labels/NNNN.mat``; any problem raises :class:`DatasetError` naming the file."""
    path = Path(path)
    mat = read_matlab(path)
    missing = [name for name in REQUIRED_FIELDS if name not in mat]
    if missing:
        raise DatasetError(f"missing field(s) {', '.join(missing)}", path=path)

    coords = {}
    for name in ("x", "y", "visibility"):
        array = np.asarray(mat[name])
        if array.ndim != 2 or array.shape[1] != len(JOINT_NAMES) or array.dtype.kind not in "biuf":
            raise DatasetError(f"field {name} must be a numeric [T, 13] array, got {array.dtype} {array.shape}", path)
        coords[name] = array
    shapes = {name: array.shape for name, array in coords.items()}
    if len(set(shapes.values())) != 1:
        raise DatasetError(f"x, y, visibility shapes differ: {shapes}", path=path)
    if not (np.isfinite(coords["x"]).all() and np.isfinite(coords["y"]).all()):
        raise DatasetError("x or y holds NaN/inf", path=path)
    if not np.isin(coords["visibility"], (0, 1)).all():
        raise DatasetError("visibility must hold only 0 and 1", path=path)
    n_frames = shapes["x"][0]
    if "nframes" in mat and np.asarray(mat["nframes"]).size == 1 and int(mat["nframes"].ravel()[0]) != n_frames:
        raise DatasetError(f"nframes {int(mat['nframes'].ravel()[0])} but x has {n_frames} rows", path=path)

    action = matlab_string(mat["action"])
    if not action or action.startswith(".") or "/" in action or "\\" in action:
        raise DatasetError(f"field action must be a plain name, got {mat['action']!r}", path=path)
    flag = np.asarray(mat["train"]).ravel()
    if flag.size != 1 or flag.dtype.kind not in "iuf" or float(flag[0]) not in _TRAIN_FLAGS:
        raise DatasetError(f"field train must be 1 (train) or -1/0 (test), got {flag.tolist()}", path=path)

    dims = np.asarray(mat.get("dimensions", [])).ravel()
    bbox = np.asarray(mat["bbox"]) if "bbox" in mat else None
    return PennActionVideo(
        video_id=path.stem,
        source=path,
        action=action,
        train=_TRAIN_FLAGS[float(flag[0])],
        x=coords["x"].astype(np.float64),
        y=coords["y"].astype(np.float64),
        visibility=coords["visibility"].astype(bool),
        pose=matlab_string(mat["pose"]) if "pose" in mat else None,
        dimensions=tuple(int(v) for v in dims) if dims.size == 3 else None,
        bbox_frames=int(bbox.shape[0]) if bbox is not None and bbox.ndim == 2 else None,
    )


def annotated_joints(x: np.ndarray, y: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """bool ``[T, 13]``: joints with a position, i.e. visible, or occluded but not at the corner placeholder
    (both coordinates < ``PLACEHOLDER_PX``) that the official files use for joints without an estimate."""
    return np.asarray(visibility, dtype=bool) | ~((x < PLACEHOLDER_PX) & (y < PLACEHOLDER_PX))


def feature_description(visibility_channel: bool = False) -> str:
    """One-line description of :func:`pose_features` (stored in every video's meta)."""
    blocks = "[x_0..x_12, y_0..y_12, v_0..v_12]" if visibility_channel else "[x_0..x_12, y_0..y_12]"
    return (
        f"Penn Action 2-D pose, {39 if visibility_channel else 26}-d {blocks}, joints "
        + ", ".join(JOINT_NAMES)
        + "; x, y of annotated joints (visible, or occluded with the annotator's estimate) minus the"
        " frame's annotated-joint centroid, divided by one per-video body scale (median over frames of"
        " the RMS distance of annotated joints to their centroid), image axes (y down); unannotated joints"
        " (corner placeholder) 0" + ("; v = official visibility (1 visible, 0 not)" if visibility_channel else "")
    )


def pose_features(
    x: np.ndarray,
    y: np.ndarray,
    visibility: np.ndarray,
    *,
    visibility_channel: bool = False,
    annotated: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Normalised pose features (module docstring): float32 ``[T, 39]`` (``[T, 26]`` without the visibility
    block) and the per-video body scale in pixels. ``annotated``: the joints with a position (default: Penn
    Action's rule, :func:`annotated_joints`). Raises ``DataError`` for a video with no visible joint or an
    undefined body scale."""
    visibility = np.asarray(visibility, dtype=bool)
    if not visibility.any():
        raise DataError("no visible joint in any frame")
    annotated = annotated_joints(x, y, visibility) if annotated is None else np.asarray(annotated, dtype=bool)
    counts = annotated.sum(axis=1, keepdims=True)
    centre_x = np.where(annotated, x, 0.0).sum(axis=1, keepdims=True) / np.maximum(counts, 1)
    centre_y = np.where(annotated, y, 0.0).sum(axis=1, keepdims=True) / np.maximum(counts, 1)
    centred_x = np.where(annotated, x - centre_x, 0.0)
    centred_y = np.where(annotated, y - centre_y, 0.0)
    usable = counts[:, 0] >= 2
    if not usable.any():
        raise DataError("no frame with at least 2 annotated joints (body scale undefined)")
    radius = np.sqrt((centred_x**2 + centred_y**2).sum(axis=1)[usable] / counts[usable, 0])
    scale = float(np.median(radius))
    if scale <= 0.0:
        raise DataError("annotated joints coincide (body scale 0)")
    blocks = [centred_x / scale, centred_y / scale] + ([visibility] if visibility_channel else [])
    return np.concatenate(blocks, axis=1).astype(np.float32), scale


def carve_validation(
    train_ids: Iterable[str], val_fraction: float, seed: int, action: str
) -> tuple[list[str], list[str]]:
    """Split official train ids into disjoint ``(train_sub, val)``, both sorted.

    ``round(val_fraction * n)`` videos go to ``val``, clamped to ``1..n-1`` when ``val_fraction > 0`` and
    ``n >= 2`` (nothing is carved from fewer than 2 videos). The draw is seeded by
    ``(seed, crc32(action))`` on the sorted ids: independent of file order and of the other actions.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
    ids = sorted(train_ids)
    n_val = int(round(val_fraction * len(ids)))
    if val_fraction > 0.0 and len(ids) >= 2:
        n_val = min(max(n_val, 1), len(ids) - 1)
    elif len(ids) < 2:
        n_val = 0
    rng = np.random.default_rng([seed, zlib.crc32(action.encode("utf-8"))])
    chosen = set(rng.permutation(len(ids))[:n_val].tolist())
    val = [video_id for i, video_id in enumerate(ids) if i in chosen]
    train_sub = [video_id for i, video_id in enumerate(ids) if i not in chosen]
    return train_sub, val


def _video_meta(video: PennActionVideo, scale: float, visibility_channel: bool) -> dict:
    height, width, frames = video.dimensions if video.dimensions else (None, None, None)
    return {
        "source": "Penn Action (Zhang, Zhu, Derpanis, ICCV 2013)",
        "source_file": video.source.name,
        "action": video.action,
        "pose": video.pose,
        "official_split": "train" if video.train else "test",
        "dimensions": {"height": height, "width": width, "frames": frames},
        "n_frames": int(video.x.shape[0]),
        "bbox_frames": video.bbox_frames,
        "frames_without_visible_joints": int((~video.visibility.any(axis=1)).sum()),
        "unannotated_joints": int((~annotated_joints(video.x, video.y, video.visibility)).sum()),
        "body_scale_px": round(scale, 4),
        "features": feature_description(visibility_channel),
    }


def _write_action(
    folder: Path, videos: list[PennActionVideo], visibility_channel: bool
) -> tuple[dict[str, list[str]], list[str]]:
    """Write the videos of one action; returns the official split ids and the skipped files (with reasons)."""
    official: dict[str, list[str]] = {"train": [], "test": []}
    skipped: list[str] = []
    for video in videos:
        try:
            features, scale = pose_features(video.x, video.y, video.visibility, visibility_channel=visibility_channel)
        except ValueError as exc:
            warnings.warn(f"{video.source}: skipped ({exc})", stacklevel=3)
            skipped.append(f"{video.source.name}: {exc}")
            continue
        write_video(folder, video.video_id, features, meta=_video_meta(video, scale, visibility_channel))
        official["train" if video.train else "test"].append(video.video_id)
    return official, skipped


def _readme(action: str, splits: dict[str, list[str]], skipped: list[str], seed: int, features: str) -> str:
    counts = {name: len(ids) for name, ids in splits.items()}
    lines = [
        f"# Penn Action: {action}",
        "",
        'Zhang, Zhu, Derpanis, "From Actemes to Action", ICCV 2013 (non-commercial research use; cite it).',
        f"Features: {features}.",
        "",
        f"Splits: train ({counts['train']}) and test ({counts['test']}) from the official flag;",
        f"train_sub ({counts['train_sub']}) and val ({counts['val']}): seeded (seed {seed}), disjoint carve",
        "of the official train videos. Alignment evaluation: `--train-split train_sub --eval-split val`.",
        "No groundTruth: Penn Action has no published phase labels.",
    ]
    if skipped:
        lines += ["", "Skipped videos:"] + [f"- {item}" for item in skipped]
    return "\n".join(lines) + "\n"


def _read_by_action(labels_dir: Path) -> dict[str, list[PennActionVideo]]:
    if not labels_dir.is_dir():
        raise DatasetError("not a directory", path=labels_dir)
    files = sorted(p for p in labels_dir.glob("*.mat") if not p.name.startswith("."))
    if not files:
        raise DatasetError("no .mat files", path=labels_dir)
    by_action: dict[str, list[PennActionVideo]] = {}
    for path in files:
        video = read_penn_action_mat(path)
        by_action.setdefault(video.action, []).append(video)
    return by_action


def convert_penn_action(
    labels_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    actions: Iterable[str] | None = None,
    visibility_channel: bool = False,
) -> dict[str, Path]:
    """Convert every ``labels_dir/*.mat`` into ``out_dir/<action>/`` feature folders (module docstring).

    ``actions`` restricts the conversion (an action without videos raises :class:`DatasetError`);
    ``visibility_channel=False`` writes 26-d coordinates only. Every file is read and validated, and every
    target folder checked to hold no features yet, before anything is written; a malformed file raises
    :class:`DatasetError` naming it. Returns ``{action: folder}``.
    """
    labels_dir, out_dir = Path(labels_dir), Path(out_dir)
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
    by_action = _read_by_action(labels_dir)
    selected = sorted(by_action) if actions is None else sorted(set(actions))
    unknown = [action for action in selected if action not in by_action]
    if unknown:
        raise DatasetError(
            f"no videos of action(s) {', '.join(unknown)} (available: {', '.join(sorted(by_action))})",
            path=labels_dir,
        )
    folders = {action: out_dir / action for action in selected}
    for folder in folders.values():
        refuse_existing_features(folder)
    for action, folder in folders.items():
        splits, skipped = _write_action(folder, by_action[action], visibility_channel)
        splits["train_sub"], splits["val"] = carve_validation(splits["train"], val_fraction, seed, action)
        for split, ids in splits.items():
            if split in ("train", "test") and not ids:
                warnings.warn(f"{folder}: no official {split} videos; splits/{split}.txt is empty", stacklevel=2)
            write_split(folder, split, ids)
        write_dataset_info(folder, feature_family="pose", dataset="penn_action")
        readme = _readme(action, splits, skipped, seed, feature_description(visibility_channel))
        atomic_write_text(folder / "README.md", readme)
    return folders
