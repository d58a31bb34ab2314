"""Fixtures for the video tests: tiny videos written with PyAV directly (independent of vidalign's writer)
whose frame i has red value ``9 * i``, so a decoded frame reveals which source frame it is."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest

RED_STEP = 9
HEIGHT, WIDTH = 48, 64


def _coded_frame(index: int) -> np.ndarray:
    image = np.full((HEIGHT, WIDTH, 3), 40, dtype=np.uint8)
    image[..., 0] = RED_STEP * index
    return image


def _decoded_index(image: np.ndarray) -> int:
    return int(round(float(image[8:-8, 8:-8, 0].mean()) / RED_STEP))


def _encode(path: Path, codec: str, n_frames: int, fps: int, pts_ms: list[int] | None) -> Path:
    with av.open(str(path), "w") as container:
        quality = {"crf": "12"} if codec == "libx264" else {"flags": "+qscale", "global_quality": "236"}
        stream = container.add_stream(codec, rate=fps, options=quality)  # high quality: colours survive
        stream.width, stream.height = WIDTH, HEIGHT
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if pts_ms is not None:  # millisecond clock in the encoder too, or pts get rounded to 1 / fps
            stream.codec_context.time_base = stream.time_base = Fraction(1, 1000)
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(_coded_frame(i), format="rgb24")
            if pts_ms is not None:
                frame.pts, frame.time_base = pts_ms[i], Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.fixture
def code():
    """``code.frame(i)`` builds source frame i, ``code.index(image)`` reads i back; ``code.shape``."""
    return SimpleNamespace(frame=_coded_frame, index=_decoded_index, shape=(HEIGHT, WIDTH, 3))


@pytest.fixture
def make_video(tmp_path):
    """``make_video(name, codec, n_frames=24, fps=24, pts_ms=None)`` -> path; ``pts_ms`` sets explicit
    presentation times in milliseconds (a variable-frame-rate stream)."""

    def make(name: str, codec: str, n_frames: int = 24, fps: int = 24, pts_ms: list[int] | None = None) -> Path:
        return _encode(tmp_path / name, codec, n_frames, fps, pts_ms)

    return make


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` next to the repository root; skips when absent (e.g. on a user's machine)."""
    path = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path}")
    return path
