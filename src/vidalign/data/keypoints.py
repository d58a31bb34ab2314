"""2-D pose keypoints that users already have -> the Penn Action pose features (``docs/data.md``, Keypoints).

Readers (:func:`read_keypoints`), one recording per call:

- **OpenPose JSON**: a directory of per-frame ``*_keypoints.json`` files (``{"people": [{"pose_keypoints_2d":
  [x, y, c, ...]}]}``), in the order of the frame number in their names; one person is followed: the most
  confident with a joint found where people first appear, then in each frame the one nearest to the person kept
  last, if within the larger of the two's sizes (the diagonal of their joints' box) times the frames since (so a
  second person in view does not take over when the followed one is missed in a frame); a frame without them has
  no joints;
- **arrays** ``[T, J, 2]`` or ``[T, J, 3]`` (x, y and optionally a confidence / visibility) in a ``.npy`` file
  (for the converter only: ``vidalign align`` reads ``.npy`` as features), a ``.json`` file (the array itself,
  or an object with the array under ``"keypoints"`` and optionally ``"fps"`` and ``"image_size": [width,
  height]`` for coordinates normalised by the image), or a ``.csv`` file with one row per frame and ``x_0, y_0[,
  c_0], x_1, ...`` columns (a header row, a leading frame-number column such as pandas' index, a comma ending
  every row and Excel's byte-order mark are allowed; where the column count fits two layouts, the third values
  decide: confidences are at most 1).
  Coordinates are pixels: coordinates normalised by the image without its size (nearly all within ``[0, 1]``, a
  few just outside, as MediaPipe gives a landmark out of view) are refused, since one body scale would squeeze the
  body by the image's aspect, and so is a third channel with several distinct negative values (a depth, not a
  confidence; one value, such as -1, marks missing joints). Without a third channel a joint at exactly ``(0, 0)``
  is missing (what OpenPose and many exporters write for a joint not found).

The skeleton is recognised by its joint count (or given): COCO-17 (17), MediaPipe Pose (33), OpenPose BODY_25
(25) and OpenPose COCO-18 (18), Penn Action (13). Every skeleton is mapped onto Penn Action's 13 joints (head =
the nose; shoulders, elbows, wrists, hips, knees, ankles, left before right), and the features are Penn Action's
(:func:`vidalign.data.penn_action.pose_features`: centred on the frame's joints, divided by one per-video body
scale, 26-d): a model trained on Penn Action poses takes them, and so does one trained on any keypoint folder.
A joint is missing when its confidence is at most :data:`MIN_CONFIDENCE` or a coordinate is not finite.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidalign.data.layout import check_name, refuse_existing_features, write_dataset_info, write_split, write_video
from vidalign.data.penn_action import feature_description, pose_features
from vidalign.errors import DataError, InputError, one_line

__all__ = [
    "KEYPOINT_SUFFIXES",
    "MIN_CONFIDENCE",
    "SKELETONS",
    "Keypoints",
    "convert_keypoints",
    "is_keypoint_input",
    "keypoint_features",
    "keypoints_from_array",
    "read_keypoints",
    "recording_features",
]

MIN_CONFIDENCE = 0.1
MAX_CONFIDENCE = 1.001  # a third channel above this holds no confidences, where a CSV's columns fit two layouts
NORMALISED_SHARE = 0.9  # coordinates within [0, 1] that make a recording's coordinates normalised (_normalised)
KEYPOINT_SUFFIXES = (".json", ".csv")

# Index of each Penn Action joint (JOINT_NAMES order) in the skeleton's own joint order.
SKELETONS: dict[str, tuple[int, ...]] = {
    "penn13": tuple(range(13)),
    "coco17": (0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16),
    "mediapipe33": (0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28),
    "body25": (0, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11),
    "coco18": (0, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10),
}
_BY_COUNT = {13: "penn13", 17: "coco17", 18: "coco18", 25: "body25", 33: "mediapipe33"}


@dataclass(frozen=True)
class Keypoints:
    """One recording's keypoints on the Penn Action joints: ``x``, ``y`` ``[T, 13]`` and ``present`` (bool)."""

    x: np.ndarray
    y: np.ndarray
    present: np.ndarray
    skeleton: str
    fps: float | None = None


def is_keypoint_input(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is read as keypoints: a ``.json`` / ``.csv`` file or a directory of OpenPose JSON."""
    path = Path(path)
    if path.is_dir():
        return any(path.glob("*_keypoints.json"))
    return path.suffix.lower() in KEYPOINT_SUFFIXES


def _openpose_people(path: Path) -> list[np.ndarray]:
    """``[J, 3]`` of every person in one OpenPose frame file."""
    try:
        people = json.loads(path.read_text(encoding="utf-8")).get("people", [])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        raise DataError(f"{path}: not an OpenPose keypoint file ({exc})") from None
    try:
        poses = [np.asarray(p.get("pose_keypoints_2d", []), dtype=np.float64).reshape(-1, 3) for p in people]
    except (ValueError, TypeError, AttributeError) as exc:  # a length not a multiple of 3, text, not an object
        raise DataError(f"{path}: pose_keypoints_2d must be numbers, x, y, c per joint ({one_line(exc)})") from None
    return [p for p in poses if len(p) and _found(p).any()]  # a person with no joint found is nobody


def _found(pose: np.ndarray) -> np.ndarray:
    """The joints of a ``[J, 3]`` OpenPose pose that were found."""
    return pose[:, 2] > MIN_CONFIDENCE


def _distance(pose: np.ndarray, previous: np.ndarray) -> float:
    """Mean distance of the joints two poses both have; of the centres of their joints when they share none
    (``inf`` when either has none)."""
    if not (_found(pose).any() and _found(previous).any()):
        return float("inf")
    both = _found(pose) & _found(previous) if len(pose) == len(previous) else np.zeros(0, bool)
    if both.any():
        return float(np.linalg.norm(pose[both, :2] - previous[both, :2], axis=1).mean())
    return float(np.linalg.norm(pose[_found(pose), :2].mean(0) - previous[_found(previous), :2].mean(0)))


def _size(pose: np.ndarray) -> float:
    """The diagonal of the box around the joints a pose has (at least 1 pixel)."""
    found = pose[_found(pose), :2]
    return max(1.0, float(np.linalg.norm(found.max(0) - found.min(0))))


def _followed_person(frames: list[list[np.ndarray]]) -> list[np.ndarray | None]:
    """One person through the frames: the most confident where first seen, then in each frame the person nearest
    to the one kept last (:func:`_distance`) if within the larger of the two's sizes (:func:`_size`: a kept pose of
    few joints is small) times the frames since it was kept; else nobody in that frame (module docstring)."""
    kept: list[np.ndarray | None] = []
    previous, since = None, 0
    for people in frames:
        since += 1
        if previous is None:
            chosen = max(people, key=lambda p: p[:, 2].sum()) if people else None
        else:
            nearest = min(people, key=lambda p: _distance(p, previous), default=None)
            reach = max(_size(previous), _size(nearest)) * since if nearest is not None else 0.0
            near = nearest is not None and _distance(nearest, previous) <= reach
            chosen = nearest if near else None
        kept.append(chosen)
        if chosen is not None:
            previous, since = chosen, 0
    return kept


def _frame_number(path: Path) -> tuple[int, str]:
    """Sort key of an OpenPose frame file: the last number in its name (``f2`` before ``f10``), then the name."""
    numbers = re.findall(r"\d+", path.name)
    return (int(numbers[-1]) if numbers else -1, path.name)


def _read_openpose(directory: Path) -> np.ndarray:
    files = sorted(directory.glob("*_keypoints.json"), key=_frame_number)
    frames = _followed_person([_openpose_people(p) for p in files])
    counts = {len(f) for f in frames if f is not None}
    if not counts:
        raise DataError(f"{directory}: no person in any of its {len(files)} keypoint files")
    if len(counts) != 1:
        raise DataError(f"{directory}: frames with {sorted(counts)} joints; expected one skeleton")
    n_joints = counts.pop()
    empty = np.zeros((n_joints, 3))
    return np.stack([empty if f is None else f for f in frames])


def _read_csv(path: Path) -> np.ndarray:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: Excel's "CSV UTF-8" starts with a BOM
            rows = [r for r in csv.reader(f) if r]
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a UTF-8 text file ({one_line(exc)})") from None
    if rows and _is_header(rows[0]):
        rows = rows[1:]
    while rows and all(len(r) == len(rows[0]) and not r[-1].strip() for r in rows):
        rows = [r[:-1] for r in rows]  # a comma at the end of every row
    if len({len(r) for r in rows}) > 1:
        raise DataError(f"{path}: rows of x, y[, c] per joint expected, of the same length; got lengths "
                        f"{sorted({len(r) for r in rows})}")  # fmt: skip
    try:
        values = np.array([[float(v) if v.strip() else np.nan for v in r] for r in rows], dtype=np.float64)
    except ValueError as exc:
        raise DataError(f"{path}: not a keypoint CSV of numbers ({exc})") from None
    if values.ndim != 2 or not values.size:
        raise DataError(f"{path}: rows of x, y[, c] per joint expected, of the same length")
    layout = _csv_layout(values)
    if layout is None:
        counts = ", ".join(map(str, sorted(_BY_COUNT)))
        raise DataError(f"{path}: {values.shape[1]} columns are neither x, y nor x, y, c of a known skeleton "
                        f"({counts} joints), with or without a frame column first")  # fmt: skip
    first, channels = layout
    return values[:, first:].reshape(len(values), -1, channels)


def _is_header(row: list[str]) -> bool:
    """Whether a CSV's first row names its columns: text and no number in it, or pandas' column numbers ``0, 1,
    2, ...`` (after the empty cell of its index column)."""
    cells = [cell.strip() for cell in row]
    numbers = [_number(cell) for cell in cells if cell]
    if numbers and not any(n is not None for n in numbers):
        return True
    named = cells[1:] if not cells[0] else cells
    return len(named) > 2 and named == [str(k) for k in range(len(named))]


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def _csv_layout(values: np.ndarray) -> tuple[int, int] | None:
    """``(first keypoint column, channels)`` of a CSV's values ``[T, columns]`` (module docstring), None when the
    columns fit no skeleton: x, y, c before x, y, and all columns before all but a first one that counts frames
    (integers rising by one); where several fit (51: COCO-17 x, y, c, or a frame column and BODY_25 x, y), x, y, c
    only if its third values can be confidences (finite ones at most :data:`MAX_CONFIDENCE`)."""
    counter = values[:, 0]
    counts_frames = bool(np.all(np.isfinite(counter)) and np.all(np.diff(counter) == 1) and counter[0] % 1 == 0)
    widths = {first: values.shape[1] - first for first in ((0, 1) if counts_frames else (0,))}
    layouts = [(first, channels) for first, width in widths.items() for channels in (3, 2)
               if width % channels == 0 and width // channels in _BY_COUNT]  # fmt: skip

    def confidences(layout: tuple[int, int]) -> bool:
        third = values[:, layout[0] + 2 :: 3]
        return layout[1] == 2 or not np.any(third[np.isfinite(third)] > MAX_CONFIDENCE)

    return next((layout for layout in layouts if len(layouts) == 1 or confidences(layout)), None)


def _read_array(path: Path) -> tuple[np.ndarray, float | None]:
    fps = None
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:  # pickled objects, not a .npy file, cut short
            raise DataError(f"{path}: not a keypoint array ({one_line(exc)})") from None
    elif path.suffix.lower() == ".csv":
        array = _read_csv(path)
    else:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"{path}: not a keypoint JSON file ({exc})") from None
        size = None
        if isinstance(data, dict):
            if "keypoints" not in data:
                raise DataError(f'{path}: a JSON object of keypoints needs its array under "keypoints"')
            fps, size = _positive(data.get("fps"), "fps", path), data.get("image_size")
            data = data.get("keypoints")
        try:
            array = np.asarray(data, dtype=np.float64)
        except (ValueError, TypeError) as exc:  # rows of different lengths, text
            raise DataError(f"{path}: keypoints must be a [T, J, 2 or 3] array of numbers ({one_line(exc)})") from None
        if size is not None:
            array = _to_pixels(array, size, path)
    return np.asarray(array, dtype=np.float64), fps


def _positive(value: object, name: str, path: Path) -> float | None:
    """``value`` as a positive finite number (None stays None)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise DataError(f"{path}: {name} must be a positive number, got {value!r}")
    return float(value)


def _to_pixels(array: np.ndarray, size: object, path: Path) -> np.ndarray:
    """Coordinates normalised by the image (``[0, 1]``) times ``image_size = [width, height]``."""
    if not (isinstance(size, (list, tuple)) and len(size) == 2):
        raise DataError(f"{path}: image_size must be [width, height], got {size!r}")
    width, height = (_positive(v, "image_size", path) for v in size)
    if array.ndim != 3 or array.shape[2] < 2:
        return array  # keypoints_from_array names the shape
    scaled = array.copy()
    scaled[..., 0] *= width
    scaled[..., 1] *= height
    return scaled


def read_keypoints(path: str | os.PathLike[str], *, skeleton: str | None = None) -> Keypoints:
    """The keypoints of one recording (module docstring), mapped onto the Penn Action joints."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    array, fps = (_read_openpose(path), None) if path.is_dir() else _read_array(path)
    return keypoints_from_array(array, skeleton=skeleton, fps=fps, source=str(path))


def keypoints_from_array(
    array: np.ndarray, *, skeleton: str | None = None, fps: float | None = None, source: str = "keypoints"
) -> Keypoints:
    """Keypoints ``[T, J, 2]`` or ``[T, J, 3]`` (x, y and optionally a confidence) of the skeleton ``skeleton``
    (default: recognised by ``J``) mapped onto the Penn Action joints; ``source`` names them in errors."""
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 3 or array.shape[2] not in (2, 3) or len(array) == 0:
        raise DataError(f"{source}: keypoints must be [T, J, 2] or [T, J, 3], got shape {array.shape}")
    name = skeleton or _BY_COUNT.get(array.shape[1])
    known = ", ".join(f"{k} ({n} joints)" for n, k in sorted(_BY_COUNT.items()))
    if name not in SKELETONS:
        raise InputError(f"{source}: {array.shape[1]} joints match no known skeleton; known: {known}")
    if _BY_COUNT.get(array.shape[1]) != name:  # a skeleton's joint order read from another's: wrong joints
        joints = next(count for count, known_name in _BY_COUNT.items() if known_name == name)
        raise InputError(f"{source}: {array.shape[1]} joints, but the skeleton {name} has {joints}; known: {known}")
    joints = array[:, list(SKELETONS[name])]
    x, y = joints[..., 0], joints[..., 1]
    confidence = joints[..., 2] if joints.shape[2] == 3 else np.ones_like(x)
    if np.unique(confidence[confidence < 0.0]).size > 1:  # one negative value is a "missing" mark (e.g. -1)
        raise DataError(f"{source}: the third channel has negative values: a depth (z), not a confidence; give x, y "
                        "or x, y and a visibility / confidence in [0, 1]")  # fmt: skip
    present = np.isfinite(x) & np.isfinite(y) & (np.nan_to_num(confidence) > MIN_CONFIDENCE)
    if joints.shape[2] == 2:
        present &= (x != 0.0) | (y != 0.0)  # (0, 0) without a confidence: a joint not found (module docstring)
    if _normalised(np.concatenate([x[present], y[present]])):
        raise DataError(f"{source}: the coordinates lie in [0, 1]: normalised by the image's width and height, "
                        "which squeezes the body by the image's aspect; give pixel coordinates, or a JSON object "
                        'with "image_size": [width, height] next to "keypoints"')  # fmt: skip
    return Keypoints(np.where(present, x, 0.0), np.where(present, y, 0.0), present, name, fps)


def _normalised(coordinates: np.ndarray) -> bool:
    """Whether coordinates are normalised by the image: at least :data:`NORMALISED_SHARE` of them within
    ``[0, 1]`` and all within ``[-0.5, 1.5]`` (landmarks out of view), which pixel coordinates never are."""
    if not coordinates.size:
        return False
    inside = np.mean((coordinates >= 0.0) & (coordinates <= 1.0))
    return bool(inside >= NORMALISED_SHARE and coordinates.min() >= -0.5 and coordinates.max() <= 1.5)


def keypoint_features(keypoints: Keypoints) -> np.ndarray:
    """Penn Action pose features ``[T, 26]`` of ``keypoints`` (:func:`vidalign.data.penn_action.pose_features`).
    A frame with fewer than 2 joints (no person found) takes the features of the closest earlier frame with a
    person (the first such frame for those before it), not the zero vector of a body without joints."""
    features, _ = pose_features(keypoints.x, keypoints.y, keypoints.present, annotated=keypoints.present)
    with_person = np.flatnonzero(keypoints.present.sum(axis=1) >= 2)
    earlier = np.searchsorted(with_person, np.arange(len(features)), side="right") - 1
    return features[with_person[np.maximum(earlier, 0)]]


def recording_features(path: str | os.PathLike[str], *, skeleton: str | None = None) -> tuple[Keypoints, np.ndarray]:
    """The keypoints of one recording (:func:`read_keypoints`) and their features (:func:`keypoint_features`);
    an error names ``path``."""
    try:
        keypoints = read_keypoints(path, skeleton=skeleton)
        return keypoints, keypoint_features(keypoints)
    except DataError as error:
        message = str(error)
        raise DataError(message if str(path) in message else f"{path}: {message}") from None


def _recordings(inputs: list[Path]) -> list[Path]:
    """The recordings named by ``inputs``: keypoint files and OpenPose directories, a folder's children included."""
    found = []
    for path in inputs:
        if path.is_dir() and not any(path.glob("*_keypoints.json")):
            children = sorted(
                p
                for p in path.iterdir()
                if not p.name.startswith(".")  # macOS's ._name.npy, .DS_Store: not recordings
                and (is_keypoint_input(p) or p.suffix.lower() == ".npy")
            )
            found.extend(children)
        else:
            found.append(path)
    return found


def convert_keypoints(
    inputs: list[str | os.PathLike[str]], out_dir: str | os.PathLike[str], *, skeleton: str | None = None
) -> Path:
    """Write the feature folder ``out_dir`` of the keypoint recordings ``inputs`` (files, OpenPose directories,
    or folders of them): ``features/<name>.npy`` (Penn Action pose features), ``meta/<name>.json`` (source,
    skeleton, fps), ``splits/all.txt`` and ``dataset.json`` (feature family ``pose``). Returns ``out_dir``."""
    recordings = _recordings([Path(p) for p in inputs])
    if not recordings:
        raise InputError(f"no keypoint recordings in {', '.join(map(str, inputs))}")
    names = [p.stem if p.is_file() else p.name for p in recordings]
    first: dict[str, Path] = {}
    for path, name in zip(recordings, names, strict=True):
        if (other := first.setdefault(name, path)) != path:
            raise InputError(f"{other} and {path} have the same name {name!r}; give each its own file or folder name")
        try:
            check_name("recording name", name, file_name=True)
        except DataError as error:
            raise InputError(f"{path}: {error}") from None
    refuse_existing_features(out_dir)
    # every recording first: a bad one leaves no half-written folder
    converted = [recording_features(path, skeleton=skeleton) for path in recordings]
    for path, name, (keypoints, features) in zip(recordings, names, converted, strict=True):
        meta = {"source": str(Path(path).resolve()), "skeleton": keypoints.skeleton, "fps": keypoints.fps,
                "features": feature_description()}  # fmt: skip
        write_video(out_dir, name, features, meta=meta)
    write_split(out_dir, "all", names)
    write_dataset_info(out_dir, feature_family="pose")
    return Path(out_dir)
