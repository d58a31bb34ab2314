"""CMU mocap6 (Fox, Hughes, Sudderth, Jordan, Annals of Applied Statistics 2014) -> one feature folder.

``mocap6.mat`` holds ``DataBySeq`` (one struct per sequence: ``X`` ``[T, 12]`` joint-angle channels at
10 fps, zero-mean per channel, block-averaged from 120 fps; ``TrueZ`` ``[T, 1]`` 1-based indices into
``ActionNames``; ``filename`` such as ``13_29``), ``ActionNames`` (12 exercises) and ``ChannelNames``.

The folder keeps the 12 channels as given (no rescaling), writes per-frame action names to ``groundTruth``,
the 12 ``ActionNames`` (in file order, id = TrueZ - 1) to ``mapping``, and splits ``all`` and ``train``
(identical): unsupervised action segmentation trains and evaluates on the same videos, as in ASOT. The
companion ``truelabels/<filename>.txt`` files hold one more label than ``X`` has rows (the first label,
consumed by the autoregressive ``Xprev`` in the original work); ``TrueZ`` equals their labels ``[1:]``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vidalign.atomic import atomic_write_text
from vidalign.data.layout import (
    DatasetError,
    matlab_string,
    read_matlab,
    refuse_existing_features,
    write_dataset_info,
    write_mapping,
    write_split,
    write_video,
)

__all__ = ["FPS", "SPLITS", "convert_mocap6"]

FPS = 10.0
SPLITS = ("all", "train")
_CITATION = (
    'Fox, Hughes, Sudderth, Jordan, "Joint modeling of multiple time series via the beta process with '
    'application to motion capture segmentation", Annals of Applied Statistics 8(3), 2014; CMU mocap '
    "(mocap.cs.cmu.edu), subjects 13 and 14"
)


def _names(value: object, field: str, path: Path) -> list[str]:
    """A MATLAB cell array of strings -> list of distinct non-empty str."""
    names = [matlab_string(item) for item in np.asarray(value, dtype=object).ravel()]
    if not names or not all(names) or len(set(names)) != len(names):
        raise DatasetError(f"field {field} must be a list of distinct non-empty names", path=path)
    return names


def _sequence(entry: object, index: int, n_actions: int, path: Path) -> tuple[str, np.ndarray, np.ndarray]:
    """Validated ``(filename, X float64 [T, 12], TrueZ int64 [T] 1-based)`` of ``DataBySeq[index]``."""
    where = f"DataBySeq[{index}]"
    missing = [name for name in ("X", "TrueZ", "filename") if not hasattr(entry, name)]
    if missing:
        raise DatasetError(f"{where} lacks field(s) {', '.join(missing)}", path=path)
    features = np.asarray(entry.X)
    if features.ndim != 2 or features.dtype.kind not in "iuf":
        raise DatasetError(f"{where}.X must be a numeric [T, D] array, got shape {features.shape}", path=path)
    if features.shape[0] < 2 or not np.isfinite(features).all():
        raise DatasetError(f"{where}.X must hold >= 2 frames of finite values", path=path)
    labels = np.asarray(entry.TrueZ).ravel()
    if labels.shape != (features.shape[0],) or labels.dtype.kind not in "iuf":
        raise DatasetError(f"{where}.TrueZ must be {features.shape[0]} numbers, got shape {labels.shape}", path)
    if np.any(labels != np.round(labels)) or labels.min() < 1 or labels.max() > n_actions:
        raise DatasetError(f"{where}.TrueZ must be integers in 1..{n_actions}", path=path)
    filename = matlab_string(entry.filename) or ""
    if not filename or filename.startswith(".") or any(sep in filename for sep in "/\\"):
        raise DatasetError(f"{where}.filename {filename!r} is not a plain name", path=path)
    return filename, features.astype(np.float64), labels.astype(np.int64)


def convert_mocap6(mat_path: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Convert ``mocap6.mat`` into the feature folder ``out_dir`` (module docstring); returns ``out_dir``.

    Video ids are the sequence filenames (``13_29`` ...). Any malformed field raises :class:`DatasetError`
    naming the file; nothing is written before every sequence is validated.
    """
    mat_path, out_dir = Path(mat_path), Path(out_dir)
    mat = read_matlab(mat_path, struct_as_record=False)
    missing = [name for name in ("DataBySeq", "ActionNames") if name not in mat]
    if missing:
        raise DatasetError(f"missing field(s) {', '.join(missing)}", path=mat_path)
    action_names = _names(mat["ActionNames"], "ActionNames", mat_path)
    channel_names = _names(mat["ChannelNames"], "ChannelNames", mat_path) if "ChannelNames" in mat else None
    entries = np.asarray(mat["DataBySeq"], dtype=object).ravel()
    sequences = [_sequence(entry, i, len(action_names), mat_path) for i, entry in enumerate(entries)]
    ids = [filename for filename, _, _ in sequences]
    if len(set(ids)) != len(ids):
        raise DatasetError(f"duplicate sequence filenames in {ids}", path=mat_path)

    refuse_existing_features(out_dir)
    for filename, features, labels in sequences:
        subject, _, trial = filename.partition("_")
        meta = {
            "source": _CITATION,
            "source_file": mat_path.name,
            "subject": subject,
            "trial": trial,
            "fps": FPS,
            "channels": channel_names,
            "preprocessing": "12 channels kept, zero-mean per channel, block-averaged 120 -> 10 fps",
        }
        names = [action_names[z - 1] for z in labels]
        write_video(out_dir, filename, features, names, meta)
    write_mapping(out_dir, action_names)
    write_dataset_info(out_dir, feature_family="mocap", dataset="mocap6")
    for split in SPLITS:
        write_split(out_dir, split, ids)
    atomic_write_text(out_dir / "README.md", _readme(len(ids)))
    return out_dir


def _readme(n_videos: int) -> str:
    return (
        "# CMU mocap6\n\n"
        f"{_CITATION}.\n\n"
        f"{n_videos} sequences, 12 joint-angle channels at {FPS:g} fps (as given), per-frame labels of 12\n"
        "exercises (groundTruth, mapping). Splits `all` and `train` are identical: unsupervised action\n"
        "segmentation trains and evaluates on the same videos, as in ASOT.\n"
    )
