"""Browser copies of recordings for the viewer (``docs/viewer.md``, Media).

A recording's *sampled* frames (the ones its features were computed from: :class:`vidalign.frames.FrameSource`)
are encoded as H.264 (yuv420p, ``.mp4``) at the features' frame rate, so that frame ``i`` of the copy is feature
row ``i`` and plays at ``[i / fps, (i + 1) / fps)``; at most :data:`PLAYER_HEIGHT` pixels high, with a keyframe
every :data:`KEYFRAME_SECONDS` so that seeking stays quick. In the same decoding pass every ``every``-th frame
goes into a JPEG sprite of thumbnails (at most :data:`MAX_THUMBNAILS`, :data:`SPRITE_COLUMNS` a row) for hover
previews.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from vidalign.atomic import atomic_path
from vidalign.data.video import write_video
from vidalign.frames import FrameSource

__all__ = ["PLAYER_HEIGHT", "write_browser_copy"]

PLAYER_HEIGHT = 360
THUMBNAIL_WIDTH = 160
MAX_THUMBNAILS = 120
SPRITE_COLUMNS = 10
KEYFRAME_SECONDS = 0.5
CRF = 28  # x264 quality for a preview (23 is x264's default; higher is smaller)


def _fit_height(image: np.ndarray, height: int) -> np.ndarray:
    if image.shape[0] <= height:
        return image
    width = max(2, round(image.shape[1] * height / image.shape[0]))
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))


def write_browser_copy(
    source: FrameSource,
    n_frames: int,
    fps: float,
    media_dir: str | Path,
    name: str,
    *,
    progress: bool = False,
) -> dict[str, Any]:
    """Write ``MEDIA/<name>.mp4`` (the first ``n_frames`` sampled frames of ``source`` at ``fps``) and
    ``MEDIA/<name>.jpg`` (their preview sprite); returns the page's description of both, paths relative to the
    viewer folder (module docstring)."""
    media = Path(media_dir)
    media.mkdir(parents=True, exist_ok=True)
    every = max(1, math.ceil(n_frames / MAX_THUMBNAILS))
    thumbnails: list[np.ndarray] = []

    def frames() -> Iterator[np.ndarray]:
        images = itertools.islice(source.iter_images(), n_frames)
        bar = tqdm(images, total=n_frames, unit="frame", desc=f"viewer copy of {Path(source.video).name}",
                   disable=not progress)  # fmt: skip
        for index, image in enumerate(bar):
            if index % every == 0:
                thumbnails.append(_fit_height(image, round(image.shape[0] * THUMBNAIL_WIDTH / image.shape[1])))
            yield _fit_height(image, PLAYER_HEIGHT)

    keyframes = max(1, round(KEYFRAME_SECONDS * fps))
    with atomic_path(media / f"{name}.mp4") as path:
        write_video(path, frames(), fps, crf=CRF, keyframe_interval=keyframes)
    height, width = thumbnails[0].shape[:2]
    rows = math.ceil(len(thumbnails) / SPRITE_COLUMNS)
    sprite = np.zeros((rows * height, min(len(thumbnails), SPRITE_COLUMNS) * width, 3), np.uint8)
    for index, thumbnail in enumerate(thumbnails):
        row, column = divmod(index, SPRITE_COLUMNS)
        sprite[row * height : (row + 1) * height, column * width : (column + 1) * width] = thumbnail[:height, :width]
    with atomic_path(media / f"{name}.jpg") as path:
        Image.fromarray(sprite).save(path, format="JPEG", quality=80)
    return {
        "video": f"media/{name}.mp4",
        "sprite": {
            "src": f"media/{name}.jpg",
            "every": every,
            "count": len(thumbnails),
            "columns": SPRITE_COLUMNS,
            "width": width,
            "height": height,
        },
    }
