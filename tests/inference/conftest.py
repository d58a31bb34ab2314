"""Fixtures of the inference tests: a tiny synthetic feature folder, runs trained on it, and tiny clips whose
frame ``k`` is coded in its colour (red ``RED_STEP * k``), so a decoded frame tells which source frame it is."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from vidalign.data.augment import AugmentConfig
from vidalign.data.sampling import SamplingConfig
from vidalign.data.synthetic import SyntheticConfig, write_synthetic_dataset
from vidalign.data.video import write_video
from vidalign.models.heads import EncoderConfig
from vidalign.training import TrainConfig, train

RED_STEP = 12
CLIP_HEIGHT, CLIP_WIDTH = 48, 64


def coded_frame(k: int) -> np.ndarray:
    image = np.full((CLIP_HEIGHT, CLIP_WIDTH, 3), 60, dtype=np.uint8)
    image[..., 0] = RED_STEP * k
    image[..., 2] = 255 - RED_STEP * k
    return image


def decoded_index(region: np.ndarray) -> int:
    """The source frame number shown by a decoded image region (its mean red value)."""
    return int(round(float(region[..., 0].mean()) / RED_STEP))


@pytest.fixture(scope="session")
def coded():
    return SimpleNamespace(frame=coded_frame, index=decoded_index, height=CLIP_HEIGHT, width=CLIP_WIDTH)


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> SimpleNamespace:
    """``a.mp4`` shows source frames 0..19 once each; ``b.mp4`` (30 frames) is A slowed down: frame ``j`` of B
    shows A's frame ``(2 j) // 3``, so the true match of A's frame ``k`` is B's frames ``{j: (2 j) // 3 == k}``."""
    root = tmp_path_factory.mktemp("clips")
    a_codes = list(range(20))
    b_codes = [(2 * j) // 3 for j in range(30)]
    write_video(root / "a.mp4", (coded_frame(k) for k in a_codes), fps=10.0)
    write_video(root / "b.mp4", (coded_frame(k) for k in b_codes), fps=10.0)
    return SimpleNamespace(a=root / "a.mp4", b=root / "b.mp4", a_codes=a_codes, b_codes=b_codes)


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory) -> Path:
    """A small labelled synthetic feature folder: 6 videos of 30-40 frames, 16-d, 3 phases."""
    config = SyntheticConfig(n_videos=6, n_phases=3, dim=16, latent_dim=4, min_frames=30, max_frames=40, seed=3)
    return write_synthetic_dataset(tmp_path_factory.mktemp("data") / "tiny", config)


def _train(data: Path, out: Path, method: str, epochs: int) -> Path:
    config = TrainConfig(
        method=method,
        data=str(data),
        out=str(out),
        epochs=epochs,
        encoder=EncoderConfig(kind="conv", hidden=16, n_layers=1, out_dim=8, dropout=0.0),
        sampling=SamplingConfig(batch_size=2, loss_frames=12),
        augment=AugmentConfig(noise=0.0),
    )
    return train(config, progress=False).path


@pytest.fixture(scope="session")
def asot_run(tiny_folder, tmp_path_factory) -> Path:
    """An ASOT run trained for one epoch on :func:`tiny_folder` (prototypes: one per class)."""
    return _train(tiny_folder, tmp_path_factory.mktemp("runs") / "asot", "asot", epochs=1)


@pytest.fixture(scope="session")
def vaot_run(tiny_folder, tmp_path_factory) -> Path:
    """An untrained VAOT run on :func:`tiny_folder` (an encoder without prototypes)."""
    return _train(tiny_folder, tmp_path_factory.mktemp("runs") / "vaot", "vaot", epochs=0)
