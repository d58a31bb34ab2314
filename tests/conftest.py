"""Fixtures shared by every test directory.

- ``shared_data``: the read-only real data in ``../shared/data`` (skips where it is absent, e.g. on a user's
  machine);
- coded frames: frame ``k`` of a test video is coded in its colour (red ``RED_STEP * k``, blue the complement), so
  a decoded frame tells which source frame it shows (``code`` / ``coded``), and tiny videos written with PyAV
  directly, independently of vidalign's writer (``make_video``), or clips written by vidalign (``clips``);
- small synthetic feature folders (``tiny_folder``, ``tiny_dataset``) and runs trained on one (``asot_run``,
  ``vaot_run``);
- ``repetitions``: feature arrays of a movement repeated at an even tempo; ``repeated_pair``: two of them;
- ``tagged_video``: a tiny video tagged as HDR (or not).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest

from vidalign.data.augment import AugmentConfig
from vidalign.data.sampling import SamplingConfig
from vidalign.data.synthetic import SyntheticConfig, write_synthetic_dataset
from vidalign.data.video import write_video
from vidalign.models.heads import EncoderConfig
from vidalign.training import TrainConfig, train

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RED_STEP = 9
HEIGHT, WIDTH = 48, 64


@pytest.fixture
def tagged_video():
    """``write(path, transfer)``: three frames of a 32 x 32 H.264 video tagged with the colour transfer ``transfer``
    (AVCOL_TRC_*) and BT.2020 colours, as a phone's HDR video (HLG, 18) or an HDR10 one (PQ, 16) is; None:
    untagged. Returns ``path``."""

    def write(path: Path, transfer: int | None) -> Path:
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=10)
            stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
            if transfer is not None:
                context = stream.codec_context
                context.color_trc, context.color_primaries, context.colorspace = transfer, 9, 9
            black = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            for _ in range(3):
                container.mux(stream.encode(black))
            container.mux(stream.encode())
        return path

    return write


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real data folder; skips the test where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available at {SHARED_DATA}")
    return SHARED_DATA


def coded_frame(k: int) -> np.ndarray:
    """Source frame ``k``: RGB uint8 ``[HEIGHT, WIDTH, 3]``, red ``RED_STEP * k``, blue ``255 - RED_STEP * k``."""
    image = np.full((HEIGHT, WIDTH, 3), 40, dtype=np.uint8)
    image[..., 0] = RED_STEP * k
    image[..., 2] = 255 - RED_STEP * k
    return image


def decoded_index(region: np.ndarray) -> int:
    """The source frame number a decoded image region shows (its mean red value, borders left out)."""
    inner = region[4:-4, 4:-4] if min(region.shape[:2]) > 12 else region
    return int(round(float(inner[..., 0].mean()) / RED_STEP))


@pytest.fixture(scope="session")
def coded():
    """``coded.frame(k)`` builds source frame k, ``coded.index(region)`` reads k back; ``height``, ``width``,
    ``shape``."""
    return SimpleNamespace(frame=coded_frame, index=decoded_index, height=HEIGHT, width=WIDTH, shape=(HEIGHT, WIDTH, 3))


@pytest.fixture(scope="session")
def code(coded):
    return coded


def _encode(path: Path, codec: str, n_frames: int, fps: int, pts_ms: list[int] | None) -> Path:
    with av.open(str(path), "w") as container:
        quality = {"crf": "12"} if codec == "libx264" else {"flags": "+qscale", "global_quality": "236"}
        stream = container.add_stream(codec, rate=fps, options=quality)  # high quality: colours survive
        stream.width, stream.height = WIDTH, HEIGHT
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if pts_ms is not None:  # millisecond clock in the encoder too, or pts get rounded to 1 / fps
            stream.codec_context.time_base = stream.time_base = Fraction(1, 1000)
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(coded_frame(i), format="rgb24")
            if pts_ms is not None:
                frame.pts, frame.time_base = pts_ms[i], Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.fixture
def make_video(tmp_path):
    """``make_video(name, codec, n_frames=24, fps=24, pts_ms=None)`` -> path, written with PyAV directly;
    ``pts_ms`` sets explicit presentation times in milliseconds (a variable-frame-rate stream)."""

    def make(name: str, codec: str, n_frames: int = 24, fps: int = 24, pts_ms: list[int] | None = None) -> Path:
        return _encode(tmp_path / name, codec, n_frames, fps, pts_ms)

    return make


@pytest.fixture(scope="session")
def repetitions():
    """``make(n_frames, n_reps, basis, rng)``: ``n_reps`` repetitions of one movement at an even tempo, two
    harmonics of its phase in the rows of ``basis [4, D]``, plus a little frame noise -> ``[n_frames, D]``."""

    def make(n_frames: int, n_reps: int, basis: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        phase = 2 * np.pi * (np.arange(n_frames) * n_reps / n_frames)
        harmonics = np.stack([np.cos(phase), np.sin(phase), np.cos(2 * phase) / 2, np.sin(2 * phase) / 2], axis=1)
        return harmonics @ basis + 0.05 * rng.normal(size=(n_frames, basis.shape[1]))

    return make


@pytest.fixture(scope="session")
def repeated_pair(repetitions) -> tuple[np.ndarray, np.ndarray]:
    """Two recordings of one movement in 16-d features: 5 repetitions of 18 frames, and 4 of 30."""
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(16, 4)))[0].T
    return repetitions(90, 5, basis, rng), repetitions(120, 4, basis, rng)


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


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """A small synthetic feature folder (8 videos of 30-45 frames, 16-d, 3 phases) shared by training tests."""
    config = SyntheticConfig(n_videos=8, n_phases=3, dim=16, latent_dim=4, min_frames=30, max_frames=45, seed=1)
    return write_synthetic_dataset(tmp_path_factory.mktemp("data") / "tiny8", config)


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
