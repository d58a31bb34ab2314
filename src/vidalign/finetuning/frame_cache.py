"""Decoded frames kept once for fine-tuning (``docs/finetune.md``, Frame cache): epochs read them instead of
decoding the videos again.

Per video, ``CACHE/<id>-<key>.npy`` holds the sampled frames as RGB uint8 ``[T, h, w, 3]``, resized (bilinear,
antialiased) so that the shorter side is ``size`` pixels, and ``CACHE/<id>-<key>.json`` records the video's path,
frame rate, each frame's source index and the decoding's warnings (a partial decode, an HDR video), which every
read of the entry gives again. ``key`` is a digest of the video file (absolute path, size,
modification time) and of the cache settings (``size``, sampling, the decoding version), so a changed video
or other settings get a new entry and a finished entry is never decoded again. Both files are written
atomically, the ``.json`` last: an entry with its ``.json`` is complete, and a crash costs at most the video
being decoded. Arrays are opened memory-mapped, so a collection larger than memory is read frame by frame.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from vidalign.atomic import atomic_save_npy, atomic_write_json
from vidalign.data.video import DECODE_WARNINGS, VideoError, probe
from vidalign.extraction import MIN_FRAMES, features_rate, sampled_batches, sampling_record
from vidalign.models.backbones import resize_frames

__all__ = ["CachedVideo", "cache_frames", "resize_shorter_side"]

_DECODE_WARNINGS = {category.__name__: category for category in DECODE_WARNINGS}

DECODE_BATCH = 32


@dataclass(frozen=True)
class CachedVideo:
    """One cached video: ``frames`` (memory-mapped uint8 ``[T, h, w, 3]``), its ``video_id``, source ``path``,
    the frames' nominal rate ``fps`` (None when unknown) and ``source_indices`` among the decoded frames."""

    video_id: str
    path: Path
    frames: np.ndarray
    fps: float | None
    source_indices: tuple[int, ...]


def resize_shorter_side(images: np.ndarray, size: int) -> np.ndarray:
    """RGB uint8 ``[B, H, W, 3]`` resized so the shorter side is ``size`` (aspect ratio kept; bilinear,
    antialiased: :func:`~vidalign.models.backbones.resize_frames`, as the backbones resize)."""
    height, width = images.shape[1:3]
    scale = size / min(height, width)
    target = (max(1, round(height * scale)), max(1, round(width * scale)))
    if target == (height, width):
        return images
    resized = resize_frames(torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2), target)
    return resized.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _entry_key(path: Path, size: int, sampling: dict) -> str:
    stat = path.stat()
    # "decoding": entries of an older decoding are not reused (2: frames as a player shows them, vidalign.data.video:
    # a phone's portrait video lay on its side before, non-square pixels were squeezed, a cover stream could be read)
    identity = {"path": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                "size": size, "sampling": sampling, "decoding": 2}  # fmt: skip
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


def _decode(path: Path, size: int, sampling: dict) -> tuple[np.ndarray, list[int], float | None, list]:
    """Frames, source indices, rate, and the decoding's warnings as ``[category name, message]`` (the entry keeps
    them, and every read of it says them again)."""
    chunks, sources = [], []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for images, _, batch_sources in sampled_batches(path, sampling, DECODE_BATCH):
            chunks.append(resize_shorter_side(images, size))
            sources += batch_sources
    said = []
    for warning in caught:
        if warning.category in _DECODE_WARNINGS.values():
            said.append([warning.category.__name__, str(warning.message)])
        else:  # not the decoding's: as it came
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if len(sources) < MIN_FRAMES:
        raise VideoError(f"{path}: {len(sources)} sampled frame(s), at least {MIN_FRAMES} needed")
    return np.concatenate(chunks), sources, features_rate(probe(path).fps, sampling), said


def _load(entry: str, cache: Path, video_id: str) -> CachedVideo:
    record = json.loads((cache / f"{entry}.json").read_text())
    for name, message in record.get("decode_warnings", []):  # entries written before they were kept have none
        warnings.warn(message, _DECODE_WARNINGS[name], stacklevel=3)
    frames = np.load(cache / f"{entry}.npy", mmap_mode="r")
    return CachedVideo(video_id, Path(record["path"]), frames, record["fps"], tuple(record["source_indices"]))


def cache_frames(
    videos: Sequence[str | os.PathLike[str]],
    cache_dir: str | os.PathLike[str],
    *,
    size: int = 256,
    stride: int | None = None,
    target_fps: float | None = None,
    progress: bool = False,
) -> list[CachedVideo]:
    """The frames of ``videos`` (sampled with ``stride`` or ``target_fps``, as ``vidalign extract``), shorter
    side ``size``, decoded into ``cache_dir`` unless already there (module docstring). The video id is the file
    stem; two videos with one stem are an error."""
    paths = [Path(v) for v in videos]
    stems = [p.stem for p in paths]
    repeated = sorted({s for s in stems if stems.count(s) > 1})
    if repeated:
        raise VideoError(f"two videos share the id {repeated[0]!r}; rename one")
    sampling = sampling_record(stride, target_fps)
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    out = []
    for path in tqdm(paths, desc="cache frames", unit="video", disable=not progress):
        if not path.is_file():
            raise VideoError(f"{path}: no such file")
        entry = f"{path.stem}-{_entry_key(path, size, sampling)}"  # names may hold dots: no with_suffix
        if not (cache / f"{entry}.json").is_file():
            frames, sources, fps, said = _decode(path, size, sampling)
            atomic_save_npy(cache / f"{entry}.npy", frames)
            atomic_write_json(cache / f"{entry}.json",
                              {"path": str(path.resolve()), "fps": fps, "size": size, "sampling": sampling,
                               "source_indices": sources, "decode_warnings": said})  # fmt: skip
        out.append(_load(entry, cache, path.stem))
    return out
