"""Videos -> feature folder (``docs/data.md``, ``docs/cli.md``): sharded, resumable, crash-safe extraction.

Inputs
    Video files and/or directories. A directory is searched **recursively** for files whose extension (any
    case) is in ``VIDEO_EXTENSIONS``; hidden files and folders (name starting with ``.``) are skipped. Files
    named explicitly are taken whatever their extension. The video id is the file stem; two inputs with the
    same stem (e.g. ``a/x.mp4`` and ``b/x.avi``) are an error naming both, raised before any work.
Per video
    Frames are decoded with the requested sampling (``stride`` or ``target_fps``, see
    :mod:`vidalign.data.video`; neither means every frame, recorded as ``stride=1``) and embedded in batches of
    ``batch_size`` as they are decoded, so a long video's frames are never all in memory (:func:`embed_video`,
    which ``vidalign align`` uses too). The video's files are written atomically, in this order
    (:func:`vidalign.data.layout.write_video`): ``groundTruth/<id>.txt`` (only with ``labels_from``),
    ``meta/<id>.json``, ``features/<id>.npy`` float32 ``[T, D]``. Hence **"features exist" <=> "video
    finished"**: a killed run leaves at most hidden temporary files and a meta without features, which the next
    run overwrites.
Extractor identity (never two extractors in one folder)
    The run's extractor record ``{backbone, weights, dim, sampling}`` is stored in ``OUT/extractor.json`` by the
    first run (created atomically and only if absent, so concurrent shards cannot both claim the folder) and in
    every ``meta/<id>.json`` under ``"extractor"``. A run whose record differs from ``extractor.json`` stops
    with an error before any work (choose another ``--out``); a folder that holds features but no
    ``extractor.json`` is refused too.
Resume
    A video is skipped when ``features/<id>.npy`` exists and its meta's ``"extractor"`` equals the run's record
    (and, with ``labels_from``, its ``groundTruth/<id>.txt`` exists); otherwise it is (re-)extracted.
Sharding
    The videos are sorted by id and shard ``i`` of ``n`` takes every ``n``-th one starting at ``i``: the shards
    partition the inputs deterministically, so any launcher (SLURM arrays, xargs, torchrun) can run them in
    parallel into the same folder.
Failures
    A video that cannot be decoded (:class:`~vidalign.data.video.VideoError`), has fewer than 2 sampled frames,
    or lacks usable labels is recorded in :attr:`ExtractionSummary.failed` with a one-line reason and the run
    goes on with the others. Partial decodes (truncated files) are kept, and their warning is stored in the
    meta (``decode_warnings``) and listed in :attr:`ExtractionSummary.warnings`, as is that of an HDR video
    decoded without tone mapping (:class:`~vidalign.data.video.ToneMappingWarning`).
Labels (``labels_from=DIR``: a label folder such as the one :func:`vidalign.data.render.render_dataset` writes)
    ``DIR/groundTruth/<id>.txt`` holds one label per *source* frame; the label of every sampled frame is picked
    by its source frame index and written to ``OUT/groundTruth/<id>.txt``, so labels follow any sampling.
    ``DIR/mapping/mapping.txt`` and ``DIR/splits/*.txt`` (restricted to the input videos) are copied at the end
    of the run; so is ``splits/<split>.txt`` listing every input video that has features, with ``split``. A
    sharded run writes these dataset-level files from every shard; the last shard to finish (or a final
    resume run, which skips every video) leaves them complete.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from tqdm.auto import tqdm

from vidalign.atomic import claim_folder
from vidalign.data.layout import (
    EXTRACTOR_FILE,
    DatasetError,
    check_name,
    read_mapping,
    refuse_existing_features,
    write_dataset_info,
    write_mapping,
    write_planned_videos,
    write_split,
    write_video,
)
from vidalign.data.video import (
    DECODE_WARNINGS,
    VIDEO_EXTENSIONS,
    VideoError,
    VideoInfo,
    holds_videos,
    iter_frames,
    probe,
)
from vidalign.errors import DataError, InputError, one_line

if TYPE_CHECKING:
    from vidalign.models.backbones import Backbone

__all__ = [
    "EXTRACTOR_FILE",
    "EmbeddedVideo",
    "VIDEO_EXTENSIONS",
    "ExtractionError",
    "ExtractionSummary",
    "embed_video",
    "extract_videos",
    "extractor_record",
    "feature_folder_for",
    "features_rate",
    "find_videos",
    "sampled_batches",
    "sampling_record",
    "shard",
]

EXTRACTED_FOLDER = "extracted"  # feature folder written under --out when segment is given videos
MIN_FRAMES = 2


class ExtractionError(InputError):
    """A run cannot start (bad inputs, id collision, folder of another extractor); one-line message."""


@dataclass
class ExtractionSummary:
    """What a run did. ``extracted`` / ``skipped`` hold video ids, ``failed`` ``(video path, one-line reason)``,
    ``warnings`` ``(path, message)`` pairs (partial decodes, HDR videos decoded without tone mapping); ``frames``
    and ``seconds`` count the extracted videos only (decode + embed + write)."""

    out_dir: Path
    extracted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    frames: int = 0
    seconds: float = 0.0

    def format(self) -> str:
        """A one-line summary followed by one line per failure and per warning."""
        rate = f", {self.frames / self.seconds:.1f} frames/s" if self.seconds > 0 else ""
        lines = [
            f"{self.out_dir}: extracted {len(self.extracted)}, skipped {len(self.skipped)} (already done), "
            f"failed {len(self.failed)} videos; {self.frames} frames in {self.seconds:.1f} s{rate}"
        ]
        lines += [f"failed: {path}: {reason}" for path, reason in self.failed]
        lines += [f"warning: {message}" for _, message in self.warnings]
        return "\n".join(lines)


def _is_video_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS


def _scan(directory: Path) -> Iterator[Path]:
    """Video files under ``directory`` (recursive), skipping hidden files and folders."""
    for root, folders, files in os.walk(directory):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in files:
            path = Path(root) / name
            if not name.startswith(".") and _is_video_file(path):
                yield path


def find_videos(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The videos named by ``inputs`` (files, or directories searched recursively), sorted by video id (the
    file stem). Raises :class:`ExtractionError` for a missing input, an input folder without videos, an id that
    cannot name a file of the layout, or two videos with the same id."""
    videos: dict[str, Path] = {}
    for item in map(Path, inputs):
        if item.is_dir():
            found = list(_scan(item))
            if not found:
                raise ExtractionError(f"{item}: no video files (extensions: {', '.join(sorted(VIDEO_EXTENSIONS))})")
        elif item.is_file():
            found = [item]
        else:
            raise ExtractionError(f"{item}: no such file or directory")
        for path in found:
            try:
                check_name("video id", path.stem, file_name=True)
            except ValueError as error:
                raise ExtractionError(f"{path}: {error}") from None
            other = videos.setdefault(path.stem, path)
            if other.resolve() != path.resolve():
                raise ExtractionError(f"video id {path.stem!r} is given twice: {other} and {path}; rename one")
    return [videos[video_id] for video_id in sorted(videos)]


def shard(videos: Sequence[Path], index: int, count: int) -> list[Path]:
    """Shard ``index`` of ``count``: ``videos[index::count]`` (the caller sorts ``videos``)."""
    if count < 1 or not 0 <= index < count:
        raise ExtractionError(f"need 0 <= shard index < number of shards, got index {index} of {count}")
    return list(videos[index::count])


def sampling_record(stride: int | None, target_fps: float | None) -> dict[str, Any]:
    """The run's sampling as recorded: ``{"stride": k, "fps": None}`` or ``{"stride": None, "fps": f}``."""
    if stride is not None and target_fps is not None:
        raise ExtractionError("give at most one of stride and fps")
    if stride is not None and (int(stride) != stride or stride < 1):
        raise ExtractionError(f"stride must be a positive integer, got {stride}")
    if target_fps is not None and not 0 < target_fps < math.inf:
        raise ExtractionError(f"fps must be positive and finite, got {target_fps}")
    if target_fps is not None:
        return {"stride": None, "fps": float(target_fps)}
    return {"stride": 1 if stride is None else int(stride), "fps": None}


def extractor_record(backbone: Backbone, sampling: dict[str, Any]) -> dict[str, Any]:
    """The identity of an extraction: backbone name, weights id, feature dim, sampling."""
    meta = backbone.meta()
    return {"backbone": meta["backbone"], "weights": meta["weights"], "dim": meta["dim"], "sampling": sampling}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExtractionError(f"{path}: cannot read ({one_line(error)})") from None


def _is_finished(out_dir: Path, video_id: str, record: dict[str, Any], with_labels: bool) -> bool:
    """Features and meta exist, the meta's extractor is ``record`` and, ``with_labels``, the labels exist."""
    meta_path = out_dir / "meta" / f"{video_id}.json"
    required = [out_dir / "features" / f"{video_id}.npy", meta_path]
    if with_labels:
        required.append(out_dir / "groundTruth" / f"{video_id}.txt")
    if not all(path.is_file() for path in required):
        return False
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(meta, dict) and meta.get("extractor") == record


class EmbeddedVideo(NamedTuple):
    """Features of a video's sampled frames (:func:`embed_video`): ``features`` float32 ``[T, dim]``, the
    frames' ``timestamps`` (seconds) and ``source_indices`` (among all decoded frames), the file's
    ``source_fps`` and the nominal rate ``fps`` of the features (None when unknown)."""

    features: np.ndarray
    timestamps: list[float]
    source_indices: list[int]
    source_fps: float | None
    fps: float | None


def sampled_batches(path: Path, sampling: dict[str, Any], batch_size: int) -> Iterator[tuple[np.ndarray, list, list]]:
    """``(frames [B, H, W, 3], timestamps, source indices)`` batches of the sampled frames, as decoded."""
    images, timestamps, sources = [], [], []
    for frame in iter_frames(path, stride=sampling["stride"], target_fps=sampling["fps"]):
        images.append(frame.image)
        timestamps.append(frame.timestamp)
        sources.append(frame.source_index)
        if len(images) == batch_size:
            yield np.stack(images), timestamps, sources
            images, timestamps, sources = [], [], []
    if images:
        yield np.stack(images), timestamps, sources


def features_rate(source_fps: float | None, sampling: dict[str, Any]) -> float | None:
    """Nominal frame rate of the features (sampling never upsamples)."""
    if source_fps is None:
        return sampling["fps"]
    return source_fps / sampling["stride"] if sampling["fps"] is None else min(sampling["fps"], source_fps)


def _expected_frames(info: VideoInfo, sampling: dict[str, Any]) -> int | None:
    """About how many frames the sampling keeps (the length of a progress bar), None when unknown; a container
    that declares no frame count (Matroska, WebM) is estimated from its duration."""
    source_fps, n_frames = info.fps, info.n_frames
    if n_frames is None and info.duration and source_fps:
        n_frames = round(info.duration * source_fps)
    rate = features_rate(source_fps, sampling)
    if n_frames is None or rate is None or source_fps is None:
        return None
    return math.ceil(n_frames * rate / source_fps)


def embed_video(
    path: str | os.PathLike[str],
    backbone: Backbone,
    *,
    stride: int | None = None,
    target_fps: float | None = None,
    batch_size: int = 32,
    progress: bool = False,
) -> EmbeddedVideo:
    """Decode the frames of ``path`` sampled with ``stride`` or ``target_fps`` (see :mod:`vidalign.data.video`;
    neither: every frame) and embed them with ``backbone`` in batches of ``batch_size`` as they are decoded, so a
    long video is never whole in memory; ``progress`` shows a frame counter (tqdm). Raises
    :class:`~vidalign.data.video.VideoError` for an unreadable video or fewer than ``MIN_FRAMES`` sampled frames;
    partial decodes emit :class:`~vidalign.data.video.PartialDecodeWarning` and keep the decoded frames."""
    path = Path(path)
    sampling = sampling_record(stride, target_fps)
    info = probe(path)
    bar = tqdm(
        total=_expected_frames(info, sampling),
        unit="frame",
        desc=f"embed {path.name}",
        disable=not progress,
    )
    chunks, timestamps, sources = [], [], []
    backbone.start_video()
    with bar:
        for images, batch_times, batch_sources in sampled_batches(path, sampling, batch_size):
            chunks.append(backbone.embed(images, batch_size=batch_size))
            timestamps += batch_times
            sources += batch_sources
            bar.update(len(batch_sources))
    if len(sources) < MIN_FRAMES:
        raise VideoError(f"{path}: {len(sources)} sampled frame(s), at least {MIN_FRAMES} needed")
    try:
        features = backbone.video_features(np.concatenate(chunks))
    except DataError as error:
        raise VideoError(f"{path}: {one_line(error)}") from None
    return EmbeddedVideo(features, timestamps, sources, info.fps, features_rate(info.fps, sampling))


def _sampled_labels(labels_dir: Path, video_id: str, source_indices: list[int]) -> list[str]:
    """Labels of the sampled frames, picked by source frame index from ``labels_dir/groundTruth/<id>.txt``."""
    path = labels_dir / "groundTruth" / f"{video_id}.txt"
    if not path.is_file():
        raise DatasetError("no label file for this video", path=path)
    names = path.read_text(encoding="utf-8").splitlines()
    if len(names) <= source_indices[-1]:
        raise DatasetError(f"{len(names)} labels, but the video has frame {source_indices[-1]}", path=path)
    return [names[i] for i in source_indices]


def _extract_one(
    path: Path,
    out_dir: Path,
    backbone: Backbone,
    record: dict[str, Any],
    batch_size: int,
    labels_dir: Path | None,
) -> tuple[int, list[str]]:
    """Extract one video into ``out_dir``; returns (number of frames, decoding warnings)."""
    stride, target_fps = record["sampling"]["stride"], record["sampling"]["fps"]
    with warnings.catch_warnings(record=True) as caught:
        for category in DECODE_WARNINGS:
            warnings.simplefilter("always", category)
        video = embed_video(path, backbone, stride=stride, target_fps=target_fps, batch_size=batch_size)
    decode_warnings = [one_line(w.message) for w in caught if issubclass(w.category, DECODE_WARNINGS)]
    labels = _sampled_labels(labels_dir, path.stem, video.source_indices) if labels_dir is not None else None
    meta = {
        "extractor": record,
        "source": str(path.resolve()),
        "source_fps": video.source_fps,
        "fps": video.fps,
        "n_frames": len(video.source_indices),
        "frame_timestamps": [round(t, 6) for t in video.timestamps],
        "source_frame_indices": video.source_indices,
        "decode_warnings": decode_warnings,
    }
    write_video(out_dir, path.stem, video.features, labels=labels, meta=meta)
    return len(video.source_indices), decode_warnings


def _write_dataset_files(
    out_dir: Path, video_ids: list[str], labels_dir: Path | None, split: str | None, family: str
) -> None:
    """Record the feature ``family`` (``dataset.json``), copy the label folder's mapping and splits (restricted to
    ``video_ids``); write ``split``."""
    write_dataset_info(out_dir, feature_family=family)
    if labels_dir is not None:
        mapping = labels_dir / "mapping" / "mapping.txt"
        if mapping.is_file():
            write_mapping(out_dir, read_mapping(mapping))
        wanted = set(video_ids)
        for split_file in sorted((labels_dir / "splits").glob("*.txt")):
            entries = [line.strip() for line in split_file.read_text(encoding="utf-8").splitlines()]
            write_split(out_dir, split_file.stem, [v for v in entries if v in wanted])
    if split is not None:
        done = [v for v in video_ids if (out_dir / "features" / f"{v}.npy").is_file()]
        write_split(out_dir, split, done)


def extract_videos(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    backbone: str,
    weights: str | os.PathLike[str] = "default",
    stride: int | None = None,
    target_fps: float | None = None,
    batch_size: int = 32,
    device: str = "cpu",
    shard_index: int = 0,
    num_shards: int = 1,
    labels_from: str | os.PathLike[str] | None = None,
    split: str | None = None,
    progress: bool = True,
) -> ExtractionSummary:
    """Extract frame features of the videos named by ``inputs`` into the feature folder ``out_dir`` with the
    backbone ``backbone`` (:func:`vidalign.models.backbones.build_backbone`). See the module docstring for the
    input search, sampling, atomic write order, resume, sharding, failures and labels. Raises
    :class:`ExtractionError` (or ``BackboneError``) before any work when the run cannot start."""
    if batch_size < 1:
        raise ExtractionError(f"batch size must be >= 1, got {batch_size}")
    if split is not None:
        check_name("split name", split, file_name=True)
    labels_dir = None if labels_from is None else Path(labels_from)
    if labels_dir is not None and not (labels_dir / "groundTruth").is_dir():
        raise ExtractionError(f"{labels_dir}: no groundTruth/ folder to take labels from")
    sampling = sampling_record(stride, target_fps)
    all_videos = find_videos(inputs)
    videos = shard(all_videos, shard_index, num_shards)
    from vidalign.models.backbones import build_backbone  # torch: loaded when a backbone is built

    model = build_backbone(backbone, weights, device)
    record = extractor_record(model, sampling)
    out = Path(out_dir)
    claim_folder(
        out, EXTRACTOR_FILE, record, what="features", error=ExtractionError,
        before_claim=lambda: refuse_existing_features(out),
    )  # fmt: skip
    write_planned_videos(out, [path.stem for path in all_videos])  # every shard's, so a missing one shows
    write_dataset_info(out, feature_family=model.feature_family)  # now, not at the end: a stopped run keeps it too
    summary = ExtractionSummary(out_dir=out)
    bar = tqdm(videos, unit="video", disable=not progress, desc=f"extract {backbone}")
    for path in bar:
        bar.set_postfix_str(path.stem, refresh=False)
        if _is_finished(out, path.stem, record, labels_dir is not None):
            summary.skipped.append(path.stem)
            continue
        start = time.perf_counter()
        try:
            n_frames, decode_warnings = _extract_one(path, out, model, record, batch_size, labels_dir)
        except (VideoError, DatasetError) as error:
            summary.failed.append((str(path), one_line(error).removeprefix(f"{path}: ")))
            continue
        summary.seconds += time.perf_counter() - start
        summary.frames += n_frames
        summary.extracted.append(path.stem)
        summary.warnings += [(str(path), message) for message in decode_warnings]
    bar.close()
    if num_shards == 1:  # what failed is said now, in the summary, and not again by every reader of the folder
        failed = {Path(path).stem for path, _ in summary.failed}
        write_planned_videos(out, [path.stem for path in all_videos if path.stem not in failed])
    _write_dataset_files(out, [path.stem for path in all_videos], labels_dir, split, model.feature_family)
    return summary


def feature_folder_for(
    data: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    backbone: str = "efficientnet_lite0",
    weights: str | os.PathLike[str] = "default",
    stride: int | None = None,
    target_fps: float | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> Path:
    """``data`` itself when it is a feature folder (has ``features/``); for a folder of videos, the feature folder
    ``OUT/extracted`` extracted from them with ``backbone`` (:func:`vidalign.extraction.extract_videos`: re-running
    resumes; labels are taken from ``data/groundTruth`` when present, as ``vidalign render`` writes them)."""
    data = Path(data)
    if (data / "features").is_dir():
        return data
    if not holds_videos(data):
        raise InputError(f"{data}: neither a feature folder (no features/) nor a folder of videos")
    target = Path(out_dir) / EXTRACTED_FOLDER
    labels = data if (data / "groundTruth").is_dir() else None
    summary = extract_videos(
        [data], target, backbone=backbone, weights=weights, stride=stride, target_fps=target_fps, device=device,
        labels_from=labels, progress=progress,
    )  # fmt: skip
    if summary.failed:
        path, reason = summary.failed[0]
        raise InputError(f"{path}: {reason} ({len(summary.failed)} video(s) failed)")
    return target
