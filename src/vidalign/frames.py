"""Where the frames of a recording come from (``docs/data.md``, Outputs): the video file a recording's features
were computed from and which of its frames each feature row is, so that outputs (contact sheets, the viewer's
browser copies and previews) show the very frames that were aligned.

A video input knows the sampling it was decoded with (``stride`` / ``target_fps``); a feature file inside a
feature folder knows its source video and, per sampled frame, the video's frame index (``meta/<id>.json``:
``source``, ``source_frame_indices``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from vidalign.inputs import AlignInput

__all__ = ["FrameSource", "frame_source_of", "sampled_fps"]


@dataclass(frozen=True)
class FrameSource:
    """A recording's video file and either, per sampled frame, the video's frame index (what a feature folder's
    ``meta/`` records) or the sampling it was decoded with (a video input)."""

    video: Path
    frame_indices: list[int] | None = None
    sampling: dict[str, Any] = field(default_factory=dict)

    def images(self, frames: list[int]) -> list[np.ndarray]:
        """RGB uint8 ``[H, W, 3]`` of the sampled frames ``frames``, decoded in one forward pass."""
        from vidalign.data.video import SampledFrames

        if self.frame_indices is not None:
            decoder, wanted = SampledFrames(self.video), [int(self.frame_indices[f]) for f in frames]
        else:
            decoder, wanted = SampledFrames(self.video, **self.sampling), list(frames)
        decoded = {index: decoder[index] for index in sorted(set(wanted))}
        return [decoded[index] for index in wanted]

    def iter_images(self) -> Iterator[np.ndarray]:
        """Every sampled frame in order (RGB uint8 ``[H, W, 3]``), decoding the video once."""
        from vidalign.data.video import SampledFrames, iter_frames

        if self.frame_indices is None:
            return (frame.image for frame in iter_frames(self.video, **self.sampling))
        decoder = SampledFrames(self.video)
        return (decoder[int(index)] for index in self.frame_indices)

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> FrameSource | None:
        """The source a feature folder's ``meta/<id>.json`` records, or None when it records none that exists."""
        source, indices = meta.get("source"), meta.get("source_frame_indices")
        if not source or not Path(source).is_file() or not isinstance(indices, list):
            return None
        return cls(Path(source), indices)


def frame_source_of(source: AlignInput) -> FrameSource | None:
    """The frames of a loaded input: the video itself (sampled as it was for the features), a feature file's
    recorded source video, or None (a bare feature file, a pose file)."""
    path = Path(source.path)
    if source.is_video:
        return FrameSource(path, sampling=source.sampling)
    meta = path.parent.parent / "meta" / f"{path.stem}.json"
    if path.suffix == ".npy" and path.parent.name == "features" and meta.is_file():
        return FrameSource.from_meta(json.loads(meta.read_text(encoding="utf-8")))
    return None


def sampled_fps(fps: float | None, timestamps: list[float] | None) -> float:
    """Frame rate of a recording's sampled frames: the features' rate, else the one its timestamps show (their
    median step), else 1."""
    if fps:
        return float(fps)
    steps = np.diff(timestamps or [])
    steps = steps[steps > 0]
    return float(1.0 / np.median(steps)) if steps.size else 1.0
