"""Feature-folder dataset format (``docs/data.md``, MS-TCN / ASOT compatible): reader and writer.

::

    DATASET/
      features/<video_id>.npy      float32 [T, D] (MS-TCN's [D, T]: "layout": "dt" in dataset.json, or
                                   layout="dt"; never guessed)
      groundTruth/<video_id>.txt   optional; one label name per line, T lines (extension-less file accepted)
      mapping/mapping.txt          optional; "<id> <name>" per line, ids exactly 0..K-1
      splits/<split>.txt           optional; one video_id per line (may be empty)
      meta/<video_id>.json         optional; a JSON object (fps, source, extractor, ...)
      dataset.json                 optional; {"feature_family": ..., "dataset": ..., "layout": ...}: what kind of
                                   features these are ("layout": "dt" for MS-TCN's [D, T] files)
                                   (written by the converters and ``vidalign extract``; training picks its preset
                                   from it, ``docs/data.md``)
      extractor.json, planned_videos.json   ``vidalign extract``'s record and the videos it was last given, less
                                   those it failed on (one listed without features: the extraction was stopped)

Every problem raises :class:`DatasetError` with a one-line message that starts with the offending file.
Nothing is silently dropped: with ``strict=True`` the first bad video raises; with ``strict=False`` bad
videos (and split entries naming unknown videos) are skipped and listed in :attr:`FeatureFolder.skipped`.
The writer refuses what the reader would reject, writes every file atomically, and writes a video's features
last, so an interrupted export never leaves a video that has features but lacks its labels.
"""

from __future__ import annotations

import functools
import json
import os
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidalign.atomic import atomic_save_npy, atomic_write_json, atomic_write_text
from vidalign.errors import ConfigError, DataError, UnfinishedExtractionWarning, one_line, user_stacklevel

__all__ = [
    "ALL_SPLIT",
    "TRAIN_SPLIT",
    "DatasetError",
    "FeatureFolder",
    "FEATURE_FAMILIES",
    "check_name",
    "matlab_string",
    "VideoRecord",
    "read_dataset_info",
    "read_mapping",
    "read_matlab",
    "refuse_existing_features",
    "write_mapping",
    "write_planned_videos",
    "validate_features",
    "write_dataset_info",
    "write_split",
    "write_video",
]

LAYOUTS = ("td", "dt")
DATASET_INFO = "dataset.json"
EXTRACTOR_FILE = "extractor.json"  # what `vidalign extract` made the features with (vidalign.extraction)
PLANNED_VIDEOS = "planned_videos.json"  # the videos `vidalign extract` was last given, written before it starts
ALL_SPLIT = "all"  # names every video of a folder that has no splits/all.txt
TRAIN_SPLIT = "train"  # the split a model is trained (and a classifier fitted) on unless told otherwise
# Kinds of frame features; each has a section in ``vidalign/presets/_families.yaml`` (a test keeps them equal).
FEATURE_FAMILIES = ("video", "pose", "mocap", "synthetic", "fisher")
MIN_FRAMES = 2
MAX_NAME_BYTES = 200  # a video id's UTF-8 bytes: its files' temporary names add ~20 to the 255 a file system allows


class DatasetError(DataError):
    """Invalid or missing dataset file; ``str(error)`` is one line, ``"<file>: <problem>"`` given a file."""

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else Path(path)
        super().__init__(message if path is None else f"{path}: {message}")


@dataclass(frozen=True, eq=False)
class VideoRecord:
    """One validated video of a feature folder.

    ``features`` float32 ``[T, D]`` (T >= 2, finite); ``labels`` int64 ``[T]`` indices into
    :attr:`FeatureFolder.class_names`, or ``None`` when the folder has no ``groundTruth/``; ``meta`` the
    parsed ``meta/<video_id>.json`` or ``{}``.
    """

    video_id: str
    features: np.ndarray
    labels: np.ndarray | None
    meta: dict = field(default_factory=dict)


def check_name(kind: str, name: object, *, file_name: bool = False) -> None:
    """Raise ``ValueError`` unless ``name`` can be stored one per line (and, with ``file_name``, used as a
    file name: no path separator, no leading dot)."""
    if not isinstance(name, str) or not name:
        raise DataError(f"{kind} must be a non-empty string, got {name!r}")
    if name != name.strip() or any(ch in name for ch in "\r\n"):
        raise DataError(f"{kind} {name!r} has leading/trailing whitespace or a line break")
    if file_name and (name.startswith(".") or "/" in name or "\\" in name):
        raise DataError(f"{kind} {name!r} must not start with '.' or contain a path separator")
    if file_name and len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise DataError(f"{kind} {name[:40]!r}... is {len(name.encode('utf-8'))} bytes long; at most {MAX_NAME_BYTES} "
                        "fit the file names written for it (a file system allows 255): rename it")  # fmt: skip


def validate_features(array: np.ndarray) -> np.ndarray:
    """Validate a ``[T, D]`` array (2-D, floating, T >= 2, D >= 1, finite as float32) and return it as
    contiguous float32; raises ``ValueError`` naming the problem."""
    if array.ndim != 2:
        raise DataError(f"expected a 2-D array [T, D], got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise DataError(f"expected floating-point features, got dtype {array.dtype}")
    n_frames, dim = array.shape
    if n_frames < MIN_FRAMES:
        raise DataError(f"{n_frames} frame(s) in shape {array.shape} read as [T, D] (at least {MIN_FRAMES} needed)")
    if dim < 1:
        raise DataError(f"feature dimension is 0 in shape {array.shape}")
    with np.errstate(over="ignore"):  # an overflowing float64 becomes inf, reported just below
        features = np.ascontiguousarray(array, dtype=np.float32)
    finite = np.isfinite(features)
    if not finite.all():
        first_frame = int(np.argwhere(~finite)[0, 0])
        raise DataError(f"{int((~finite).sum())} NaN/inf value(s) as float32, first at frame {first_frame}")
    return features


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read ({one_line(exc)})", path=path) from exc


def _read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object file as a dict ({} when the file is absent); anything else raises DatasetError."""
    if not path.is_file():
        return {}
    try:
        value = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"invalid JSON ({one_line(exc)})", path=path) from exc
    if not isinstance(value, dict):
        raise DatasetError(f"expected a JSON object, got {type(value).__name__}", path=path)
    return value


def read_mapping(path: str | os.PathLike[str]) -> list[str]:
    """Parse a ``mapping.txt`` (``"<int id> <name>"`` per line, blank lines ignored) into names ordered by id.

    Ids must be exactly ``0..K-1`` (any line order) and names unique; a name may contain inner spaces.
    """
    path = Path(path)
    names_by_id: dict[int, str] = {}
    for lineno, raw in enumerate(_read_text(path).splitlines(), start=1):
        parts = raw.strip().split(maxsplit=1)
        if not parts:
            continue
        try:
            class_id = int(parts[0])
        except ValueError:
            class_id = None
        if class_id is None or len(parts) != 2:
            raise DatasetError(f"line {lineno}: expected '<int id> <name>', got {raw!r}", path=path)
        if class_id in names_by_id:
            raise DatasetError(f"line {lineno}: duplicate class id {class_id}", path=path)
        if parts[1] in names_by_id.values():
            raise DatasetError(f"line {lineno}: duplicate class name {parts[1]!r}", path=path)
        names_by_id[class_id] = parts[1]
    if not names_by_id:
        raise DatasetError("no classes", path=path)
    ids = sorted(names_by_id)
    if ids != list(range(len(ids))):
        shown = ", ".join(map(str, ids[:12])) + (", ..." if len(ids) > 12 else "")
        raise DatasetError(f"class ids must be exactly 0..{len(ids) - 1}, got {shown}", path=path)
    return [names_by_id[i] for i in ids]


def _read_label_names(path: Path) -> list[str]:
    """One stripped label name per line; trailing blank lines are ignored, inner blank lines are an error."""
    names = [line.strip() for line in _read_text(path).splitlines()]
    while names and not names[-1]:
        names.pop()
    if "" in names:
        raise DatasetError(f"line {names.index('') + 1}: empty label", path=path)
    return names


class FeatureFolder:
    """Validated reader of a feature folder (see the module docstring for the layout).

    Parameters
    ----------
    root: the dataset directory (must contain ``features/``).
    layout: ``"td"`` (files hold ``[T, D]``) or ``"dt"`` (MS-TCN ``[D, T]``, transposed on load); ``None`` (the
        default): the ``"layout"`` that ``dataset.json`` records, else ``"td"``. Never inferred from shapes.
    strict: ``True`` raises on the first bad video; ``False`` skips bad videos in :meth:`load_split` and
        unknown or duplicate split entries in :meth:`video_ids`, recording ``(video_id, reason)`` in
        :attr:`skipped` (filled as videos are read). :meth:`load` raises for a bad video in both modes.

    Attributes
    ----------
    class_names: names indexed by class id, from ``mapping/mapping.txt``, or derived (sorted set of all
        names in ``groundTruth/``) when the mapping file is absent; ``None`` without either.
    mapping_source: ``"file"``, ``"derived"`` or ``None`` (how ``class_names`` was obtained).
    has_labels: whether ``groundTruth/`` holds files; then every loaded video must have its label file.
    """

    def __init__(self, root: str | os.PathLike[str], *, layout: str | None = None, strict: bool = True) -> None:
        if layout is not None and layout not in LAYOUTS:
            raise ConfigError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        self.root = Path(root)
        self.strict = strict
        self.skipped: list[tuple[str, str]] = []
        self._features_dir = self.root / "features"
        self._labels_dir = self.root / "groundTruth"
        if not self._features_dir.is_dir():
            from vidalign.data.video import holds_videos  # PyAV only on this error's path

            videos = holds_videos(self.root)
            hint = " (it holds videos: extract their features first, `vidalign extract`)" if videos else ""
            raise DatasetError("missing features/ directory" + hint, path=self.root)
        self._ids = sorted(p.stem for p in self._features_dir.glob("*.npy") if not p.name.startswith("."))
        self._id_set = frozenset(self._ids)
        self.has_labels = self._labels_dir.is_dir() and any(
            not p.name.startswith(".") for p in self._labels_dir.iterdir()
        )
        mapping_path = self.root / "mapping" / "mapping.txt"
        self.mapping_source: str | None
        if mapping_path.is_file():
            self.class_names: list[str] | None = read_mapping(mapping_path)
            self.mapping_source = "file"
        elif self.has_labels:
            self.class_names = self._derive_class_names()
            self.mapping_source = "derived"
        else:
            self.class_names = None
            self.mapping_source = None
        self._class_index = {name: i for i, name in enumerate(self.class_names or [])}
        self.info = read_dataset_info(self.root)
        self.layout = layout or self.info.get("layout", "td")
        planned = _read_json_object(self.root / PLANNED_VIDEOS).get("videos") or []
        self.unextracted = [v for v in planned if isinstance(v, str) and v not in self._id_set]
        if self.unextracted:
            shown = ", ".join(self.unextracted[:3]) + (", ..." if len(self.unextracted) > 3 else "")
            warnings.warn(
                f"{self.root}: {len(self.unextracted)} of the {len(planned)} videos `vidalign extract` was given have "
                f"no features ({shown}): it was stopped before them; run it again to finish the folder",
                UnfinishedExtractionWarning,
                stacklevel=user_stacklevel(),
            )

    @property
    def feature_family(self) -> str | None:
        """The kind of features recorded in ``dataset.json`` (one of ``FEATURE_FAMILIES``), or None."""
        return self.info.get("feature_family")

    def __repr__(self) -> str:
        return (
            f"FeatureFolder({str(self.root)!r}, layout={self.layout!r}, strict={self.strict}, "
            f"videos={len(self._ids)}, classes={len(self._class_index)}, "
            f"mapping_source={self.mapping_source!r})"
        )

    def video_ids(self, split: str | None = None) -> list[str]:
        """Video ids of ``split`` in file order, or all ``features/*.npy`` stems (sorted) for ``split=None`` and
        for ``"all"`` in a folder without ``splits/all.txt``.

        A split entry must name a video with features (an MS-TCN style ``<id>.txt`` / ``<id>.npy`` entry is
        read as ``<id>``); an unknown or repeated entry raises in strict mode, is skipped and recorded
        otherwise.
        """
        if split is None or (split == ALL_SPLIT and not (self.root / "splits" / f"{ALL_SPLIT}.txt").is_file()):
            return list(self._ids)
        path = self._split_path(split)
        ids: list[str] = []
        seen: set[str] = set()
        for lineno, entry in enumerate(_read_text(path).splitlines(), start=1):
            entry = entry.strip()
            if not entry:
                continue
            video_id = self._resolve_split_entry(entry)
            if video_id is None:
                what = f"unknown video {entry!r} (no features/{entry}.npy)"
                if entry in self.unextracted:
                    what = f"video {entry!r} not extracted yet (no features/{entry}.npy; run `vidalign extract` again)"
                self._reject(entry, f"line {lineno}: {what}", path)
            elif video_id in seen:
                self._reject(video_id, f"line {lineno}: duplicate video {video_id!r}", path)
            else:
                ids.append(video_id)
                seen.add(video_id)
        return ids

    def splits(self) -> list[str]:
        """Names of the ``splits/*.txt`` files, sorted."""
        splits_dir = self.root / "splits"
        if not splits_dir.is_dir():
            return []
        return sorted(p.stem for p in splits_dir.glob("*.txt") if not p.name.startswith("."))

    def load(self, video_id: str) -> VideoRecord:
        """Read and validate one video; raises :class:`DatasetError` if it is bad (in lenient mode too)."""
        if video_id not in self._id_set:
            raise DatasetError(f"unknown video {video_id!r} (no features/{video_id}.npy)", path=self.root)
        features = self._read_features(video_id)
        labels = self._read_labels(video_id, len(features)) if self.has_labels else None
        return VideoRecord(video_id, features, labels, self._read_meta(video_id))

    def load_split(self, split: str | None = None) -> list[VideoRecord]:
        """Load every video of ``split`` (all videos when None); all must share the feature dimension."""
        records: list[VideoRecord] = []
        for video_id in self.video_ids(split):
            try:
                record = self.load(video_id)
                if records and record.features.shape[1] != records[0].features.shape[1]:
                    raise DatasetError(
                        f"feature dimension {record.features.shape[1]} differs from "
                        f"{records[0].features.shape[1]} of video {records[0].video_id!r}",
                        path=self._features_dir / f"{video_id}.npy",
                    )
            except DatasetError as exc:
                if self.strict:
                    raise
                self._record_skip(video_id, str(exc))
                continue
            records.append(record)
        return records

    def _record_skip(self, video_id: str, reason: str) -> None:
        if (video_id, reason) not in self.skipped:
            self.skipped.append((video_id, reason))

    def _reject(self, video_id: str, problem: str, path: Path) -> None:
        """Raise (strict) or record (lenient) a problem of one split entry."""
        error = DatasetError(problem, path=path)
        if self.strict:
            raise error
        self._record_skip(video_id, str(error))

    def _split_path(self, split: str) -> Path:
        check_name("split name", split, file_name=True)
        path = self.root / "splits" / f"{split}.txt"
        if not path.is_file():
            available = ", ".join(self.splits()) or "none"
            raise DatasetError(f"split {split!r} not found (available: {available}; {ALL_SPLIT!r}: every video)",
                               path=path)  # fmt: skip
        return path

    def _resolve_split_entry(self, entry: str) -> str | None:
        """The video id a split line names: itself, without a .txt / .npy suffix, or the one id that is the same
        text in another Unicode normal form (macOS writes names decomposed: a split typed by hand is composed)."""
        stem, suffix = os.path.splitext(entry)
        for candidate in (entry, stem if suffix in (".txt", ".npy") else None):
            if candidate is None:
                continue
            if candidate in self._id_set:
                return candidate
            same = self._ids_by_composed_form.get(unicodedata.normalize("NFC", candidate), [])
            if len(same) == 1:
                return same[0]
        return None

    @functools.cached_property
    def _ids_by_composed_form(self) -> dict[str, list[str]]:
        by_form: dict[str, list[str]] = {}
        for video_id in self._ids:
            by_form.setdefault(unicodedata.normalize("NFC", video_id), []).append(video_id)
        return by_form

    def _read_features(self, video_id: str) -> np.ndarray:
        path = self._features_dir / f"{video_id}.npy"
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise DatasetError(f"cannot read .npy ({one_line(exc)})", path=path) from exc
        if not isinstance(array, np.ndarray):
            raise DatasetError("not a .npy array (an .npz archive?)", path=path)
        if self.layout == "dt" and array.ndim == 2:
            array = array.T
        try:
            return validate_features(array)
        except ValueError as exc:
            raise DatasetError(f"{exc} (layout={self.layout!r})", path=path) from None

    def _label_path(self, video_id: str) -> Path | None:
        options = (self._labels_dir / f"{video_id}.txt", self._labels_dir / video_id)
        candidates = [path for path in options if path.is_file()]
        if len(candidates) == 2:
            raise DatasetError(f"both {video_id}.txt and {video_id} exist (ambiguous)", path=self._labels_dir)
        return candidates[0] if candidates else None

    def _derive_class_names(self) -> list[str]:
        names: set[str] = set()
        for video_id in self._ids:
            try:
                path = self._label_path(video_id)
                if path is not None:
                    names.update(_read_label_names(path))
            except DatasetError:
                if self.strict:
                    raise
        return sorted(names)

    def _read_labels(self, video_id: str, n_frames: int) -> np.ndarray:
        path = self._label_path(video_id)
        if path is None:
            raise DatasetError("missing groundTruth file", path=self._labels_dir / f"{video_id}.txt")
        names = _read_label_names(path)
        if len(names) != n_frames:
            raise DatasetError(f"{len(names)} labels but features/{video_id}.npy has {n_frames} frames", path=path)
        unique, inverse = np.unique(np.asarray(names, dtype=str), return_inverse=True)
        unknown = [str(name) for name in unique if name not in self._class_index]
        if unknown:
            lineno = names.index(unknown[0]) + 1
            source = "mapping/mapping.txt" if self.mapping_source == "file" else "the derived class names"
            raise DatasetError(f"line {lineno}: label {unknown[0]!r} is not in {source}", path=path)
        lookup = np.array([self._class_index[str(name)] for name in unique], dtype=np.int64)
        return lookup[inverse.reshape(-1)]

    def _read_meta(self, video_id: str) -> dict[str, Any]:
        return _read_json_object(self.root / "meta" / f"{video_id}.json")


def write_video(
    root: str | os.PathLike[str],
    video_id: str,
    features: np.ndarray,
    labels: Sequence[str] | None = None,
    meta: dict[str, Any] | None = None,
) -> None:
    """Write ``features/<id>.npy`` (float32 ``[T, D]``), ``groundTruth/<id>.txt`` (one name per frame) and
    ``meta/<id>.json``, each atomically, the features last. Raises ``ValueError`` for anything the reader
    would reject (not 2-D, not floating, < 2 frames, NaN/inf as float32, wrong label count, bad names)."""
    root = Path(root)
    check_name("video id", video_id, file_name=True)
    try:
        array = validate_features(np.asarray(features))
    except ValueError as exc:
        raise DataError(f"video {video_id!r}: {exc}") from None
    if labels is not None:
        names = list(labels)
        for name in names:
            check_name(f"video {video_id!r}: label", name)
        if len(names) != len(array):
            raise DataError(f"video {video_id!r}: {len(names)} labels for {len(array)} frames")
        atomic_write_text(root / "groundTruth" / f"{video_id}.txt", "".join(f"{name}\n" for name in names))
    if meta is not None:
        if not isinstance(meta, dict):
            raise DataError(f"video {video_id!r}: meta must be a dict, got {type(meta).__name__}")
        atomic_write_json(root / "meta" / f"{video_id}.json", meta)
    atomic_save_npy(root / "features" / f"{video_id}.npy", array)


def write_dataset_info(root: str | os.PathLike[str], *, feature_family: str, dataset: str | None = None) -> None:
    """Write ``dataset.json``: the feature family (one of ``FEATURE_FAMILIES``) and optionally the dataset name
    (e.g. ``"penn_action"``; a method preset with that name is then picked too)."""
    if feature_family not in FEATURE_FAMILIES:
        raise ConfigError(f"feature family must be one of {FEATURE_FAMILIES}, got {feature_family!r}")
    info = {"feature_family": feature_family} | ({} if dataset is None else {"dataset": dataset})
    atomic_write_json(Path(root) / DATASET_INFO, info)


def write_planned_videos(root: str | os.PathLike[str], video_ids: Sequence[str]) -> None:
    """Record the videos an extraction into ``root`` was given (``planned_videos.json``), before it starts: a
    reader of the folder then knows which have no features yet (:attr:`FeatureFolder.unextracted`)."""
    atomic_write_json(Path(root) / PLANNED_VIDEOS, {"videos": list(video_ids)})


def read_extractor_record(root: str | os.PathLike[str]) -> dict[str, Any]:
    """``extractor.json`` of a feature folder (backbone, weights, dim, sampling; ``vidalign extract``) as a dict,
    empty when the folder was not extracted from videos; a bad file raises DatasetError."""
    return _read_json_object(Path(root) / EXTRACTOR_FILE)


def read_dataset_info(root: str | os.PathLike[str]) -> dict[str, Any]:
    """``dataset.json`` of a feature folder as a dict (empty when absent); a bad file raises DatasetError."""
    path = Path(root) / DATASET_INFO
    info = _read_json_object(path)
    family = info.get("feature_family")
    if family is not None and family not in FEATURE_FAMILIES:
        raise DatasetError(f"unknown feature_family {family!r}; expected one of {FEATURE_FAMILIES}", path=path)
    if info.get("layout", "td") not in LAYOUTS:
        raise DatasetError(f"unknown layout {info['layout']!r}; expected one of {LAYOUTS}", path=path)
    return info


def write_mapping(root: str | os.PathLike[str], class_names: Sequence[str]) -> None:
    """Write ``mapping/mapping.txt`` (``"<id> <name>"``, ids 0..K-1 in the given order) atomically."""
    names = list(class_names)
    if not names:
        raise DataError("class_names is empty")
    for name in names:
        check_name("class name", name)
    if len(set(names)) != len(names):
        raise DataError(f"duplicate class names in {names}")
    text = "".join(f"{class_id} {name}\n" for class_id, name in enumerate(names))
    atomic_write_text(Path(root) / "mapping" / "mapping.txt", text)


def write_split(root: str | os.PathLike[str], split: str, video_ids: Sequence[str]) -> None:
    """Write ``splits/<split>.txt`` (one id per line; an empty list gives an empty file) atomically."""
    check_name("split name", split, file_name=True)
    ids = list(video_ids)
    for video_id in ids:
        check_name("video id", video_id, file_name=True)
    if len(set(ids)) != len(ids):
        raise DataError(f"split {split!r}: duplicate video ids")
    atomic_write_text(Path(root) / "splits" / f"{split}.txt", "".join(f"{v}\n" for v in ids))


def refuse_existing_features(root: str | os.PathLike[str]) -> None:
    """Raise ``FileExistsError`` if ``root/features`` already holds ``.npy`` files.

    Dataset generators and converters call it first, so a new dataset is never mixed with stale videos of an
    older one written to the same place.
    """
    features_dir = Path(root) / "features"
    if features_dir.is_dir() and any(features_dir.glob("*.npy")):
        raise FileExistsError(f"{root}: already holds a feature folder; choose a new directory or delete it")


def read_matlab(path: str | os.PathLike[str], **options: Any) -> dict[str, Any]:
    """``scipy.io.loadmat(path, **options)`` for dataset converters: an unreadable file (missing, truncated,
    not a MAT file, MATLAB v7.3/HDF5) raises :class:`DatasetError` naming it."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        return loadmat(path, **options)
    except (
        OSError,
        ValueError,
        TypeError,
        NotImplementedError,
        IndexError,
        MatReadError,
    ) as exc:  # IndexError: scipy < 1.15 on a short file
        raise DatasetError(f"cannot read .mat ({one_line(exc)})", path=path) from exc


def matlab_string(value: object) -> str | None:
    """A MATLAB string as loaded by ``read_matlab``, possibly wrapped in cells (``array(['name'])``,
    ``array([[array(['name'])]], dtype=object)``) -> ``'name'`` (stripped); None if not a single string."""
    while isinstance(value, np.ndarray) and value.size == 1:
        value = value.ravel()[0]
    return value.strip() if isinstance(value, str) else None
