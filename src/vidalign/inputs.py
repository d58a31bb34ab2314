"""Inputs of ``align``: a video (decoded with a frame backbone and embedded) or a ``.npy`` feature file.

A ``.npy`` file holds ``[T, D]`` features (``layout="dt"``: MS-TCN's ``[D, T]``); one inside a feature folder
(``features/<id>.npy`` next to ``meta/``) is read through :class:`~vidalign.data.layout.FeatureFolder`, so its
fps and frame timestamps come with it. A video is sampled (``stride`` or ``target_fps``) and embedded by a
backbone (:func:`vidalign.extraction.embed_video`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidalign.data.keypoints import is_keypoint_input, recording_features
from vidalign.data.layout import FeatureFolder, read_dataset_info, validate_features
from vidalign.data.mirror import is_pose_width, mirror_pose_features
from vidalign.errors import InputError, one_line
from vidalign.extraction import embed_video
from vidalign.orientation import MirrorChoice

if TYPE_CHECKING:
    from vidalign.models.backbones import Backbone

FEATURE_SUFFIX = ".npy"
VIDEO_OR_POSE_FAMILIES = ("video", "pose")  # of vidalign.data.layout.FEATURE_FAMILIES


@dataclass(frozen=True)
class AlignInput:
    """One input of ``align``: its features, when known the sampled frames' rate and times and the features' family
    (``"pose"`` for keypoints and videos embedded as poses; :data:`vidalign.data.layout.FEATURE_FAMILIES`), for a
    video the sampling it was decoded with (``stride`` / ``target_fps``: the side-by-side video decodes it again),
    and whether it was checked for being the other's mirror image (``mirror``: :mod:`vidalign.orientation`; when
    ``mirror.mirrored``, ``features`` are the mirrored ones)."""

    path: Path
    features: np.ndarray
    is_video: bool
    fps: float | None = None
    timestamps: list[float] | None = None
    sampling: dict[str, Any] = field(default_factory=dict)
    family: str | None = None
    mirror: MirrorChoice | None = None

    @property
    def is_pose(self) -> bool:
        """Whether the features are known to be Penn Action pose features (which can be mirrored)."""
        return self.family == "pose" and is_pose_width(self.features)

    def with_mirror_choice(self, choice: MirrorChoice) -> AlignInput:
        """This input with ``choice`` recorded, and its features mirrored when the choice says so."""
        features = mirror_pose_features(self.features) if choice.mirrored else self.features
        return replace(self, features=features, mirror=choice)

    def describe(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "kind": "video" if self.is_video else "features",
            "n_frames": len(self.features),
            "fps": self.fps,
            "timestamps": self.timestamps,
        } | ({} if self.mirror is None else {"mirror": self.mirror.to_json()})


def meta_timestamps(meta: dict[str, Any], n_frames: int) -> list[float] | None:
    """A recording's frame times in seconds from its feature-folder meta: the ``frame_timestamps`` that ``vidalign
    extract`` records, else ``i / fps`` when only the rate is known (converted folders), else None."""
    times = meta.get("frame_timestamps")
    if isinstance(times, list) and len(times) == n_frames:
        return times
    fps = meta.get("fps")
    return [i / fps for i in range(n_frames)] if isinstance(fps, (int, float)) and fps > 0 else None


def _load_features(path: Path, layout: str | None) -> AlignInput:
    """A ``.npy`` file; one of a feature folder (``features/<id>.npy`` next to ``meta/``) is read through
    :class:`~vidalign.data.layout.FeatureFolder` to get its fps and frame timestamps too. ``layout`` None: the
    folder's recorded layout (``dataset.json``), else ``"td"``."""
    root = path.parent.parent
    in_folder = path.parent.name == "features"
    if in_folder and (root / "meta").is_dir():
        folder = FeatureFolder(root, layout=layout)
        record = folder.load(path.stem)
        fps, timestamps = record.meta.get("fps"), meta_timestamps(record.meta, len(record.features))
        return AlignInput(path, record.features, False, fps, timestamps, family=folder.feature_family)
    layout = layout or (read_dataset_info(root).get("layout") if in_folder else None) or "td"
    try:
        array = np.load(path, allow_pickle=False)
        if not isinstance(array, np.ndarray):
            raise InputError("not a .npy array (an .npz archive?)")
        features = validate_features(array.T if layout == "dt" and array.ndim == 2 else array)
    except (OSError, ValueError, EOFError) as error:
        raise InputError(f"{path}: {one_line(error)} (layout={layout!r})") from None
    return AlignInput(path, features, is_video=False)


def video_or_pose_input(source: str | os.PathLike[str] | np.ndarray) -> bool:
    """Whether an input holds frames of a video or body poses by its kind alone: a video file, pose keypoints, or
    a ``.npy`` file of a feature folder whose ``dataset.json`` records the video or pose family; not an array or
    any other ``.npy`` file, whose kind is unknown."""
    if isinstance(source, np.ndarray):
        return False
    path = Path(source)
    if path.suffix.lower() != FEATURE_SUFFIX:
        return True  # a video or keypoints (needs_backbone / is_keypoint_input)
    in_folder = path.parent.name == "features" and path.is_file()  # its folder's dataset.json says what it is
    return in_folder and FeatureFolder(path.parent.parent).feature_family in VIDEO_OR_POSE_FAMILIES


def needs_backbone(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a video (neither a feature file nor keypoints), embedded by a frame backbone."""
    return Path(path).suffix.lower() != FEATURE_SUFFIX and not is_keypoint_input(path)


def refuse_folder(path: Path) -> None:
    """One-line InputError for a folder that is not OpenPose keypoints: a recording is a file."""
    if path.is_dir() and not is_keypoint_input(path):
        raise InputError(f"{path}: a folder, neither a recording nor OpenPose keypoints (*_keypoints.json); give one "
                         "video, keypoint or .npy file")  # fmt: skip


def load_input(
    path: str | os.PathLike[str],
    backbone: Backbone | None,
    *,
    layout: str | None = None,
    stride: int | None = None,
    target_fps: float | None = None,
    progress: bool = False,
) -> AlignInput:
    """A ``.npy`` feature file ``[T, D]`` (``layout="dt"``: ``[D, T]``; None: as its feature folder's
    ``dataset.json`` records, else ``[T, D]``; the fps and timestamps of a feature folder's ``meta/`` when it has
    one), a pose keypoint file or OpenPose directory (:mod:`vidalign.data.keypoints`: Penn Action pose features),
    or a video decoded with the sampling and embedded by ``backbone``."""
    path = Path(path)
    if path.suffix.lower() == FEATURE_SUFFIX:
        return _load_features(path, layout)
    if is_keypoint_input(path):
        keypoints, features = recording_features(path)
        timestamps = None if not keypoints.fps else [t / keypoints.fps for t in range(len(keypoints.x))]
        return AlignInput(path, features, False, keypoints.fps, timestamps, family="pose")
    refuse_folder(path)
    if backbone is None:
        raise InputError(f"{path}: a video input needs a backbone")
    video = embed_video(path, backbone, stride=stride, target_fps=target_fps, progress=progress)
    sampling = {"stride": stride, "target_fps": target_fps}
    return AlignInput(path, video.features, True, video.fps, video.timestamps, sampling, backbone.feature_family)
